#include "yolocpp/cloud/ledger.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

namespace yolocpp::cloud {

namespace {

double unix_s(Ledger::Clock::time_point t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

size_t phase_index(const std::string& phase) {
  const auto& p = ledger_phases();
  auto it = std::find(p.begin(), p.end(), phase);
  if (it == p.end()) {
    std::string all;
    for (const auto& n : p) all += (all.empty() ? "" : ", ") + n;
    throw CloudError("unknown ledger phase '" + phase + "' (phases: " + all + ")");
  }
  return it - p.begin();
}

// Billing rounds each instance's time up to whole minutes; 1e-9 keeps an exact 60 s from becoming 2 minutes
// through floating-point noise.
int64_t minutes_up(double seconds) { return seconds <= 0 ? 0 : (int64_t)std::ceil(seconds / 60.0 - 1e-9); }

}  // namespace

// Whole billing units of `granularity_s`, rounded up (the same noise guard).
static int64_t units_up(double seconds, int granularity_s) {
  const double g = std::max(1, granularity_s);
  return seconds <= 0 ? 0 : (int64_t)std::ceil(seconds / g - 1e-9);
}

double billed_cost_usd(int64_t cents_per_hour, double seconds, int granularity_s) {
  if (granularity_s == 60) return cents_per_hour / 100.0 * minutes_up(seconds) / 60.0;
  return cents_per_hour / 100.0 * units_up(seconds, granularity_s) * std::max(1, granularity_s) / 3600.0;
}

std::string format_duration(double seconds) {
  int64_t s = (int64_t)std::llround(std::max(0.0, seconds));
  if (s >= 3600) return fmt::format("{}h {:02}m {:02}s", s / 3600, s / 60 % 60, s % 60);
  if (s >= 60) return fmt::format("{}m {:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

Ledger::Ledger(std::string job_id) : job_id_(std::move(job_id)) {}

void Ledger::set_billing(int granularity_s, std::string text) {
  granularity_s_ = std::max(1, granularity_s);
  billing_text_ = std::move(text);
}

void Ledger::set_instance(const std::string& id, const std::string& type, const std::string& region,
                          int64_t price_cents_per_hour) {
  instance_id_ = id;
  instance_type_ = type;
  region_ = region;
  cents_per_hour_ = price_cents_per_hour;
}

Ledger::Phase& Ledger::at(const std::string& phase) { return phases_[phase_index(phase)]; }

void Ledger::begin(const std::string& phase, Clock::time_point t) {
  Phase& p = at(phase);
  if (p.open) throw CloudError("ledger phase '" + phase + "' begun twice without end");
  p.open = true;
  p.started = t;
}

void Ledger::end(const std::string& phase, Clock::time_point t) {
  Phase& p = at(phase);
  if (!p.open) throw CloudError("ledger phase '" + phase + "' ended without begin");
  p.open = false;
  p.seconds += std::max(0.0, std::chrono::duration<double>(t - p.started).count());
}

void Ledger::add(const std::string& phase, double seconds) { at(phase).seconds += std::max(0.0, seconds); }

void Ledger::mark_launch_requested(Clock::time_point t) { launch_requested_ = unix_s(t); }
void Ledger::mark_first_active(Clock::time_point t) {
  if (first_active_ < 0) first_active_ = unix_s(t);
}
void Ledger::mark_terminated(Clock::time_point t, const std::string& final_status) {
  terminated_ = unix_s(t);
  final_status_ = final_status;
}

std::vector<PhaseRecord> Ledger::phases() const {
  std::vector<PhaseRecord> out;
  double spans = 0;
  const size_t unattended = phases_.size() - 1;
  for (size_t i = 0; i < unattended; ++i) {
    double s = phases_[i].seconds;
    if (phases_[i].open) s += std::chrono::duration<double>(Clock::now() - phases_[i].started).count();
    if (s <= 0 && !phases_[i].open) continue;
    PhaseRecord r;
    r.name = ledger_phases()[i];
    r.seconds = s;
    r.billed = r.name != "estimate";
    r.cost_usd = r.billed ? cents_per_hour_ / 100.0 * s / 3600.0 : 0.0;
    if (r.billed) spans += s;
    out.push_back(r);
  }
  // Every billed second belongs to a row: the gaps between spans are shown, not dropped.
  double gap = lifetime_seconds() - spans + phases_[unattended].seconds;
  if (gap >= 1) {
    PhaseRecord r;
    r.name = "unattended";
    r.seconds = gap;
    r.cost_usd = cents_per_hour_ / 100.0 * gap / 3600.0;
    out.push_back(r);
  }
  return out;
}

double Ledger::lifetime_seconds() const {
  if (launch_requested_ < 0) return 0;
  double end = terminated_ >= 0 ? terminated_ : unix_s(Clock::now());
  return std::max(0.0, end - launch_requested_);
}

double Ledger::billed_seconds() const {
  double s = 0;
  for (const auto& p : phases()) s += p.billed ? p.seconds : 0;
  return std::max(s, lifetime_seconds());
}
int64_t Ledger::billed_minutes() const { return minutes_up(billed_seconds()); }
double Ledger::phases_cost_usd() const {
  double c = 0;
  for (const auto& p : phases()) c += p.cost_usd;
  return c;
}
double Ledger::total_cost_usd() const { return billed_cost_usd(cents_per_hour_, billed_seconds(), granularity_s_); }

double Ledger::upper_bound_cost_usd() const {
  if (launch_requested_ < 0 || terminated_ < 0) return -1;
  return billed_cost_usd(cents_per_hour_, terminated_ - launch_requested_, granularity_s_);
}
double Ledger::lower_bound_cost_usd() const {
  if (first_active_ < 0 || terminated_ < 0) return -1;
  return billed_cost_usd(cents_per_hour_, terminated_ - first_active_, granularity_s_);
}
double Ledger::running_cost_usd(Clock::time_point now) const {
  if (launch_requested_ < 0) return 0;
  double end = terminated_ >= 0 ? terminated_ : unix_s(now);
  return billed_cost_usd(cents_per_hour_, end - launch_requested_, granularity_s_);
}

nlohmann::json Ledger::to_json() const {
  nlohmann::json ph = nlohmann::json::array();
  for (const auto& p : phases())
    ph.push_back({{"phase", p.name}, {"seconds", p.seconds}, {"billed", p.billed}, {"cost_usd", p.cost_usd}});
  auto opt = [](double v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); };
  return {{"job_id", job_id_},
          {"instance", {{"id", instance_id_}, {"type", instance_type_}, {"region", region_},
                        {"price_cents_per_hour", cents_per_hour_}}},
          {"billing", billing_text_},
          {"billing_granularity_s", granularity_s_},
          {"phases", ph},
          {"billed_seconds", billed_seconds()},
          {"billed_minutes", billed_minutes()},
          {"phases_cost_usd", phases_cost_usd()},
          {"total_cost_usd", total_cost_usd()},
          {"launch_requested_at", opt(launch_requested_)},
          {"first_active_at", opt(first_active_)},
          {"terminated_at", opt(terminated_)},
          {"final_status", final_status_},
          {"upper_bound_cost_usd", opt(upper_bound_cost_usd())},
          {"lower_bound_cost_usd", opt(lower_bound_cost_usd())}};
}

Ledger Ledger::from_json(const nlohmann::json& j) {
  Ledger l(j.value("job_id", ""));
  if (j.contains("billing_granularity_s") && j["billing_granularity_s"].is_number_integer())
    l.set_billing(j["billing_granularity_s"].get<int>(), j.value("billing", std::string()));
  if (auto it = j.find("instance"); it != j.end() && it->is_object())
    l.set_instance(it->value("id", ""), it->value("type", ""), it->value("region", ""),
                   it->value("price_cents_per_hour", (int64_t)0));
  if (auto it = j.find("phases"); it != j.end() && it->is_array())
    for (const auto& p : *it) l.add(p.at("phase").get<std::string>(), p.value("seconds", 0.0));
  auto num = [&](const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : -1.0; };
  l.launch_requested_ = num("launch_requested_at");
  l.first_active_ = num("first_active_at");
  l.terminated_ = num("terminated_at");
  l.final_status_ = j.value("final_status", "");
  return l;
}

void Ledger::write(const std::filesystem::path& path) const {
  util::atomic_write(path, to_json().dump(2) + "\n");
}

Ledger Ledger::load(const std::filesystem::path& path) {
  auto j = nlohmann::json::parse(util::read_file(path), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw CloudError(path.string() + " is not a cost ledger (invalid JSON); delete it to start a new one");
  return from_json(j);
}

std::string Ledger::table() const {
  std::string out = fmt::format("{:<12} | {:>12} | {:>9}\n", "phase", "duration", "cost");
  out += std::string(12, '-') + "-+-" + std::string(12, '-') + "-+-" + std::string(9, '-') + "\n";
  for (const auto& p : phases())
    out += fmt::format("{:<12} | {:>12} | {:>9}\n", p.name, format_duration(p.seconds),
                       p.billed ? fmt::format("${:.2f}", p.cost_usd) : "-");
  double rounding = total_cost_usd() - phases_cost_usd();
  const std::string billed = granularity_s_ == 60 ? fmt::format("{} min billed", billed_minutes())
                             : granularity_s_ == 1 ? fmt::format("{} s billed", units_up(billed_seconds(), 1))
                                                   : fmt::format("{} x {} s billed", units_up(billed_seconds(), granularity_s_), granularity_s_);
  out += fmt::format("{:<12} | {:>12} | {:>9}\n", "rounding", billed,
                     fmt::format("${:.2f}", rounding));
  double all_s = 0;
  for (const auto& p : phases()) all_s += p.seconds;
  out += fmt::format("{:<12} | {:>12} | {:>9}\n", "total", format_duration(all_s), fmt::format("${:.2f}", total_cost_usd()));
  if (cents_per_hour_ > 0)
    out += fmt::format("({} at ${:.2f}/h, billed per {})\n", instance_type_.empty() ? "instance" : instance_type_,
                       cents_per_hour_ / 100.0, granularity_s_ == 60 ? "minute" : granularity_s_ == 1 ? "second"
                                                : std::to_string(granularity_s_) + " s");
  return out;
}

}  // namespace yolocpp::cloud
