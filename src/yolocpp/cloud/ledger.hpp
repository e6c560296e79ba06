// Cost ledger of one cloud job: wall time per phase and what it cost at the instance's price.
// Lambda bills on-demand instances per hour in one-minute increments, from launch (after health checks) until
// terminate (spec §2.4, §4.5). The API does not expose the billing start, so the meter here runs from the
// launch request (an upper bound, the safe side for a budget); first-active is recorded as the lower bound.
// Per-phase costs are pro rata per second; the total rounds the billed time up to whole minutes, and the
// table shows that rounding as its own line so the column adds up. The unit is the provider's
// (CloudProvider::billing): RunPod bills pods per second (docs.runpod.io/pods/pricing), so there it is 1 s.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace yolocpp::cloud {

// The phases of a job, in order. "estimate" happens before launch and is never billed. "boot" is the wait for
// the instance to become active, "ssh" the wait until it accepts a login. Whatever billed time falls between
// the spans (a dead client, reconnects, the time before an attach) is reported as "unattended", so the rows
// add up to the whole launch-request -> confirmed-terminate lifetime.
inline const std::vector<std::string>& ledger_phases() {
  static const std::vector<std::string> p = {"estimate", "launch", "boot",     "ssh",       "bootstrap",
                                             "upload",   "train",  "download", "terminate", "unattended"};
  return p;
}

struct PhaseRecord {
  std::string name;
  double seconds = 0;   // wall time, summed over every span of the phase (a re-attach adds a span)
  bool billed = true;   // false for work done while no instance exists (estimate)
  double cost_usd = 0;  // price * seconds / 3600 (pro rata)
};

class Ledger {
 public:
  using Clock = std::chrono::system_clock;

  explicit Ledger(std::string job_id = {});

  // The instance whose price bills every phase after "estimate". Call at launch (price from /instance-types,
  // never hard-coded: spec §2.5).
  void set_instance(const std::string& id, const std::string& type, const std::string& region,
                    int64_t price_cents_per_hour);
  int64_t price_cents_per_hour() const { return cents_per_hour_; }
  // The provider's billing unit (CloudProvider::billing): totals round up to it. Default: Lambda's minute.
  void set_billing(int granularity_s, std::string text);
  int billing_granularity_s() const { return granularity_s_; }

  // Phases: begin/end pairs (nested or unknown names throw CloudError), or add() a measured duration.
  void begin(const std::string& phase, Clock::time_point at = Clock::now());
  void end(const std::string& phase, Clock::time_point at = Clock::now());
  void add(const std::string& phase, double seconds);
  // RAII span: begin now, end at scope exit (also on exceptions, so a failed phase is still billed).
  class Span {
   public:
    Span(Ledger& l, std::string phase) : l_(l), phase_(std::move(phase)) { l_.begin(phase_); }
    ~Span() {
      try {
        l_.end(phase_);
      } catch (...) {
      }
    }
    Span(const Span&) = delete;
    Span& operator=(const Span&) = delete;

   private:
    Ledger& l_;
    std::string phase_;
  };
  Span span(const std::string& phase) { return Span(*this, phase); }

  // Lifecycle marks (unix seconds). launch_requested: meter start; first_active: lower bound; terminated:
  // meter stop (the terminate call or the first 'terminating' seen).
  void mark_launch_requested(Clock::time_point at = Clock::now());
  void mark_first_active(Clock::time_point at = Clock::now());
  void mark_terminated(Clock::time_point at = Clock::now(), const std::string& final_status = "terminated");

  std::vector<PhaseRecord> phases() const;  // in ledger_phases() order, only phases that ran (+ unattended)
  // Launch request -> terminated (or now) when the launch was requested; else the sum of billed phases.
  double billed_seconds() const;
  int64_t billed_minutes() const;           // ceil(billed_seconds / 60): per-minute billing
  double phases_cost_usd() const;           // sum of pro-rata phase costs
  double total_cost_usd() const;            // price * billed_minutes / 60
  // Cost of the instance's lifetime between the lifecycle marks (both bounds); -1 when a mark is missing.
  double upper_bound_cost_usd() const;      // launch_requested -> terminated, per-minute rounding
  double lower_bound_cost_usd() const;      // first_active -> terminated, per-minute rounding
  // Cost so far of an instance still running (for `cloud ls`), from launch_requested to `now`.
  double running_cost_usd(Clock::time_point now = Clock::now()) const;

  nlohmann::json to_json() const;
  static Ledger from_json(const nlohmann::json& j);
  // cost.json, written atomically (util::AtomicFile).
  void write(const std::filesystem::path& path) const;
  static Ledger load(const std::filesystem::path& path);
  // "phase | duration | cost" rows, the rounding line and the total.
  std::string table() const;

 private:
  struct Phase {
    double seconds = 0;
    bool open = false;
    Clock::time_point started;
  };
  Phase& at(const std::string& phase);
  double lifetime_seconds() const;  // launch request -> terminated (or now); 0 before a launch request

  std::string job_id_, instance_id_, instance_type_, region_, final_status_;
  int64_t cents_per_hour_ = 0;
  int granularity_s_ = 60;
  std::string billing_text_ = "per-minute increments (Lambda on-demand); meter from the launch request (upper bound)";
  std::vector<Phase> phases_ = std::vector<Phase>(ledger_phases().size());
  double launch_requested_ = -1, first_active_ = -1, terminated_ = -1;  // unix seconds
};

// Money for `seconds` at `cents_per_hour`, rounded up to whole billing units (default: Lambda's minute).
double billed_cost_usd(int64_t cents_per_hour, double seconds, int granularity_s = 60);
// "1h 02m 03s" / "2m 05s" / "7s".
std::string format_duration(double seconds);

}  // namespace yolocpp::cloud
