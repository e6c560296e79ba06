#include "yolocpp/cloud/job.hpp"

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "yolocpp/cloud/autodown.hpp"
#include "yolocpp/cloud/bootstrap.hpp"
#include "yolocpp/cloud/cloud_provider.hpp"
#include "yolocpp/cloud/estimate.hpp"
#include "yolocpp/cloud/lambda_api.hpp"
#include "yolocpp/cloud/lambda_provider.hpp"
#include "yolocpp/cloud/ledger.hpp"
#include "yolocpp/cloud/provider.hpp"
#include "yolocpp/cloud/quote.hpp"
#include "yolocpp/cloud/registry.hpp"
#include "yolocpp/cloud/remote.hpp"
#include "yolocpp/cloud/secrets.hpp"
#include "yolocpp/cloud/sftp.hpp"
#include "yolocpp/cloud/ssh.hpp"
#include "yolocpp/config/device.hpp"
#include "yolocpp/data/dataset.hpp"
#include "yolocpp/data/pack.hpp"
#include "yolocpp/data/scan.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cloud {

namespace {

using config::Settings;

// ---- signals and the terminal ------------------------------------------------------------------------------
// SIGINT/SIGTERM: stop the job (teardown terminates). SIGHUP (terminal closed) and a reader that went away
// (`| head`, `| tee` killed by the same Ctrl-C): the client is detached from its terminal, not killed: it keeps
// driving the job to its end (download, terminate) without printing. SIGPIPE is ignored, so a write to a closed
// pipe is an error return (EPIPE) instead of a silent death that would leave the instance billing.
std::atomic<bool> g_hup{false};
std::atomic<bool> g_out_gone{false};

extern "C" void on_stop_signal(int) { stop_flag().store(true); }
extern "C" void on_hup_signal(int) { g_hup.store(true); }

void note_detached() {
  static std::atomic<bool> said{false};
  if ((g_hup.load() || g_out_gone.load()) && !said.exchange(true))
    log::warn("{}: the job goes on without output; its results still land in the run folder and the instance is "
              "still terminated at the end", g_hup.load() ? "terminal closed (SIGHUP)" : "the output reader went away");
}

// Remote output to stdout; once nobody reads it, the job goes on silently.
void print_out(std::string_view d) {
  if (g_out_gone.load() || g_hup.load()) return note_detached();
  if (std::fwrite(d.data(), 1, d.size(), stdout) != d.size() || std::fflush(stdout) != 0) {
    g_out_gone.store(true);
    std::clearerr(stdout);
    note_detached();
  }
}

// Settings that steer the cloud job itself, or that the job sets for the remote run: never forwarded.
const std::set<std::string>& local_only() {
  static const std::set<std::string> k = {"mode", "api_url", "gpu", "region", "budget", "host", "ssh_port",
                                          "ssh_key", "keep", "bootstrap", "instance", "export", "max_hours",
                                          "autodown", "filesystem", "filesystem_create", "data", "model", "project", "name", "exist_ok", "cfg",
                                          "provider", "gpu_count", "pod_image", "pod_disk"};
  return k;
}

std::string run_name(const Settings& s) { return s.is_none("name") ? "train" : s.str("name"); }

fs::path local_run_dir(const Settings& s) {
  fs::path project = s.is_none("project") ? fs::path("runs/detect") : fs::path(s.str("project"));
  return project / run_name(s);
}

// Minutes, or 0 for off. autodown=True means the default 30.
double parse_autodown(const Settings& s) {
  if (s.is_none("autodown")) return 30;
  std::string v = s.str("autodown");
  std::string l = v;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return (char)std::tolower(c); });
  if (l == "false" || l == "off" || l == "no") return 0;
  if (l == "true" || l == "on" || l == "yes") return 30;
  char* end = nullptr;
  double m = std::strtod(v.c_str(), &end);
  if (!end || *end != '\0' || !std::isfinite(m) || m < 0 || m > 7 * 24 * 60)
    throw ConfigError("autodown=" + v + " is not valid: give minutes (e.g. autodown=30, autodown=0.5) or "
                      "autodown=False to turn the instance's own watchdog off");
  return m;
}

}  // namespace

void validate_job_name(const std::string& name) {
  // The name becomes a local folder (runs/detect/NAME) and a remote one ($HOME/yolocpp/jobs/NAME, removed
  // and recreated by each job): only a plain, bounded file name may get there.
  auto bad = [&](const std::string& why) {
    return ConfigError("name=" + name + " is not a valid job name (" + why + "): use letters, digits, '.', '_' "
                       "and '-', at most 64 characters, e.g. name=aoe2_v2");
  };
  if (name.empty()) throw bad("empty");
  if (name.size() > 64) throw bad("longer than 64 characters");
  if (name == "." || name == ".." || name.find("..") != std::string::npos) throw bad("contains '..'");
  if (name[0] == '.' || name[0] == '-') throw bad("starts with '" + std::string(1, name[0]) + "'");
  for (unsigned char c : name)
    if (!std::isalnum(c) && c != '.' && c != '_' && c != '-')
      throw bad(c == '/' ? "contains '/'" : c < 32 ? "contains a control character" : "contains '" + std::string(1, (char)c) + "'");
}

namespace {

// Everything a later process (attach/logs) needs to reach the job again; no secrets.
struct Conn {
  SshTarget target;
  RemoteLayout layout;
  std::string bin;
  uint64_t log_offset = 0;
  fs::path local_dir;
  std::string export_format;
  double budget = 0;
  double max_hours = 0;
  double autodown_minutes = 30;
  bool host_mode = false;
};

nlohmann::json conn_json(const Conn& c) {
  return {{"user", c.target.user}, {"host", c.target.host}, {"port", c.target.port},
          {"key_file", c.target.key_file.string()}, {"known_hosts", c.target.known_hosts.string()},
          {"host_id", c.target.host_id}, {"home", c.layout.home}, {"persist", c.layout.persist}, {"name", c.layout.name}, {"bin", c.bin},
          {"log_offset", c.log_offset}, {"local_dir", fs::absolute(c.local_dir).string()},
          {"export", c.export_format}, {"budget", c.budget}, {"max_hours", c.max_hours},
          {"autodown", c.autodown_minutes}, {"host_mode", c.host_mode}};
}

Conn conn_from(const nlohmann::json& j) {
  Conn c;
  c.target.user = j.value("user", "");
  c.target.host = j.value("host", "");
  c.target.port = j.value("port", 22);
  c.target.key_file = j.value("key_file", "");
  c.target.known_hosts = j.value("known_hosts", "");
  c.target.host_id = j.value("host_id", "");
  c.layout.home = j.value("home", "");
  c.layout.name = j.value("name", "");
  c.layout.persist = j.value("persist", "");
  c.bin = j.value("bin", "");
  c.log_offset = j.value("log_offset", uint64_t{0});
  c.local_dir = j.value("local_dir", "");
  c.export_format = j.value("export", "");
  c.budget = j.value("budget", 0.0);
  c.max_hours = j.value("max_hours", 0.0);
  c.autodown_minutes = j.value("autodown", 30.0);
  c.host_mode = j.value("host_mode", false);
  return c;
}

Progress progress_line(const std::string& what) {
  auto last = std::make_shared<double>(-1);
  return [what, last](uint64_t done, uint64_t total, double secs) {
    if (secs - *last < 1 && done != total) return;
    *last = secs;
    double rate = secs > 0 ? done / secs : 0;
    std::fprintf(stderr, "%s: %s / %s  %.1f MiB/s%s", what.c_str(), human_bytes(done).c_str(),
                 human_bytes(total).c_str(), rate / (1024 * 1024), log::stdout_is_tty() ? "\r" : "\n");
    if (done == total && log::stdout_is_tty()) std::fprintf(stderr, "\n");
  };
}

// Why a job stops before its training ends on its own.
enum class CapReason { Budget, MaxHours };

// The cap was reached while training: the remote trainer was stopped; results are fetched, then teardown.
struct CapReached : CloudError {
  CapReached(const std::string& what, CapReason r) : CloudError(what), reason(r) {}
  CapReason reason;
};

// The download failed: the results exist only on the instance, which is therefore kept.
struct DownloadFailed : CloudError { using CloudError::CloudError; };

// The state shared by train and attach: the API (absent for host= jobs), the record, the ledger.
struct Ctx {
  Registry reg;
  JobRecord job;
  Ledger ledger;
  std::unique_ptr<CloudProvider> api;  // Lambda or RunPod (cloud_provider.hpp)
  Conn conn;
  bool own_instance = false;  // launched by us or instance= given: terminate unless keep
  bool keep = false;
  bool job_started = false;   // the remote trainer was started (host= + Ctrl-C must stop it)
  std::optional<AutodownPlan> autodown;

  void save() {
    job.extra["conn"] = conn_json(conn);
    job.extra["ledger"] = ledger.to_json();
    reg.save(job);
  }
  std::string instance_id() const { return job.instance ? job.instance->id : ""; }
};

bool loopback(const std::string& host) { return host.rfind("127.", 0) == 0 || host == "localhost" || host == "::1"; }

double terminate_timeout_s() {
  // How long teardown keeps trying to terminate before it gives up and hands the job to `cloud gc`.
  const char* v = std::getenv("YOLOCPP_CLOUD_TERMINATE_TIMEOUT");
  double t = v && *v ? std::strtod(v, nullptr) : 300;
  return t > 0 ? t : 300;
}

// A session for teardown work, reconnecting when the job's own one is gone (best effort, bounded).
SshSession* teardown_ssh(Ctx& c, std::unique_ptr<SshSession>& ssh) {
  if (c.conn.target.host.empty()) return nullptr;
  try {
    if (!ssh) ssh = std::make_unique<SshSession>(c.conn.target);
    if (ssh->cut_by_watchdog() || !ssh->connected()) {
      ssh->disconnect();
      ssh->connect_retry(30);
    }
    return ssh.get();
  } catch (const std::exception& e) {
    log::warn("teardown could not reach {} over SSH: {}", c.conn.target.host_id, e.what());
    return nullptr;
  }
}

void write_costs(Ctx& c) {
  if (c.conn.local_dir.empty() || !c.api) return;
  try {
    fs::create_directories(c.conn.local_dir);
    c.ledger.write(c.conn.local_dir / "cost.json");
    print_out(c.ledger.table() + "\n");
  } catch (const std::exception& e) {
    log::warn("could not write {}: {}", (c.conn.local_dir / "cost.json").string(), e.what());
  }
}

// Terminates (and confirms) the instance when we own it and keep=False; also every other instance carrying
// the job's unique name (a duplicate of an ambiguous launch). Records the end in ledger and registry, writes
// cost.json on every path. A terminate that cannot be confirmed leaves the job "terminate-failed" for gc.
void teardown(Ctx& c, const std::string& final_state, std::unique_ptr<SshSession>& ssh) {
  if (c.conn.host_mode && c.job_started && final_state == "cancelled") {
    // A host= machine is not terminated, so the trainer itself must be stopped.
    if (SshSession* s = teardown_ssh(c, ssh)) {
      try {
        kill_job(*s, c.conn.layout);
        log::info("stopped the remote trainer on {}", c.conn.target.host_id);
      } catch (const std::exception& e) {
        log::warn("could not stop the remote trainer on {}: {}", c.conn.target.host_id, e.what());
      }
    }
  }
  const bool have_instance = c.own_instance && c.api && c.job.instance;
  if (!have_instance) {
    c.job.state = final_state;
    c.save();
    write_costs(c);
    return;
  }
  if (c.keep || final_state == "download-failed") {
    if (c.keep)
      log::info("keep=True: instance {} keeps running (and billing); end it with `yolocpp cloud down name={}`",
                c.instance_id(), c.job.name);
    c.job.state = c.keep ? "kept" : final_state;
    c.save();
    write_costs(c);
    return;
  }
  c.job.state = "terminating";
  c.save();
  // Normal teardown: the key leaves the instance first (the watchdog stops with it).
  if (c.autodown && !c.conn.target.host.empty()) {
    if (SshSession* s = teardown_ssh(c, ssh)) {
      try {
        disarm_autodown(*s, c.autodown->key_file_name);
      } catch (const std::exception& e) {
        log::debug("autodown disarm: {}", e.what());
      }
    }
  }
  bool confirmed = false;
  {
    Ledger::Span span(c.ledger, "terminate");
    const std::string name = c.job.instance->name;
    try {
      std::vector<std::string> ids;
      if (!c.instance_id().empty()) ids.push_back(c.instance_id());
      if (!name.empty())
        for (const auto& i : c.api->find_by_name(name))
          if (std::find(ids.begin(), ids.end(), i.id) == ids.end()) {
            if (!ids.empty()) log::warn("terminating {} too: another instance named {} (a duplicate launch)", i.id, name);
            ids.push_back(i.id);
          }
      for (const auto& id : ids) c.api->terminate_and_confirm(id, terminate_timeout_s(), 3);
      if (c.instance_id().empty() && !ids.empty()) c.job.instance->id = ids.front();
      confirmed = true;
      if (!ids.empty()) log::info("terminated instance {} (confirmed through the API)", ids.front());
    } catch (const std::exception& e) {
      log::error("could not confirm that instance {} was terminated: {}. It may still be billing: run "
                 "`yolocpp cloud gc` (or `yolocpp cloud down name={}`) to finish it", c.instance_id(), e.what(),
                 c.job.name);
    }
  }
  if (confirmed) {
    c.ledger.mark_terminated();
    c.job.instance->status = "terminated";
    c.job.instance->terminated_at =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    forget_host_key(c.conn.target.known_hosts, c.conn.target.host_id);
    c.job.state = final_state;
  } else {
    c.ledger.mark_terminated(Ledger::Clock::now(), "terminate not confirmed");
    c.job.state = "terminate-failed";
  }
  c.save();
  write_costs(c);
}

void download_results(Ctx& c, SshSession& ssh, bool partial) {
  Ledger::Span span(c.ledger, "download");
  c.job.state = "downloading";
  c.save();
  fs::path w = c.conn.local_dir / "weights";
  std::vector<std::pair<std::string, fs::path>> files;
  files.push_back({c.conn.layout.weights("best.pt"), w / "best.pt"});
  files.push_back({c.conn.layout.weights("last.pt"), w / "last.pt"});
  files.push_back({c.conn.layout.run_dir() + "/results.csv", c.conn.local_dir / "results.csv"});
  files.push_back({c.conn.layout.run_dir() + "/args.yaml", c.conn.local_dir / "args.yaml"});
  files.push_back({c.conn.layout.log(), c.conn.local_dir / "train.log"});
  try {
    for (auto& [remote, local] : files) {
      if (remote_sha256(ssh, remote).empty()) {
        if (partial || local.extension() != ".pt" || local.filename() == "last.pt") {
          log::warn("remote {} is missing; not downloaded", remote);
          continue;
        }
        throw CloudError("training finished but " + remote + " is missing on the remote");
      }
      auto st = download(ssh, remote, local);
      log::info("downloaded {} ({}, sha256 {} verified)", local.string(), human_bytes(st.bytes), st.sha256.substr(0, 12));
    }
  } catch (const Cancelled&) {
    throw;
  } catch (const std::exception& e) {
    throw DownloadFailed(e.what());
  }
  // Collected: the instance's idle timer starts from here, whatever happens to this client next.
  ssh.run(autodown_heartbeat_cmd());
}

// The caps, checked while training runs: the billed cost so far (every started minute) plus what the rest of
// the job needs (stop, download, terminate: kHeadroom) against the budget; the time since launch against
// max_hours. The instance's watchdog enforces the same caps without headroom, should this process be gone.
constexpr int kHeadroomS = 90;
void check_caps(Ctx& c) {
  if (!c.api) return;
  const int64_t cents = c.ledger.price_cents_per_hour();
  const double per_min = cents / 100.0 / 60;
  if (c.conn.budget > 0 && cents > 0) {
    const auto soon = Ledger::Clock::now() + std::chrono::seconds(kHeadroomS);
    const double projected = c.ledger.running_cost_usd(soon);
    if (projected > c.conn.budget)
      throw CapReached(fmt::format("budget={:.2f} USD would be passed within {} s (billed so far {:.2f} USD at "
                                   "{:.2f} USD/min)", c.conn.budget, kHeadroomS, c.ledger.running_cost_usd(), per_min),
                       CapReason::Budget);
  }
  if (c.conn.max_hours > 0) {
    const auto t = c.ledger.to_json()["launch_requested_at"];
    if (t.is_number()) {
      double since = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() -
                     t.get<double>();
      if (since + kHeadroomS >= c.conn.max_hours * 3600)
        throw CapReached(fmt::format("max_hours={} is reached within {} s ({} since the launch request)",
                                     c.conn.max_hours, kHeadroomS, format_duration(since)),
                         CapReason::MaxHours);
    }
  }
}

// Follows the log to the end (reconnecting on drops, never tearing down for one), enforcing the caps; then
// downloads. Returns the exit code.
int follow_and_finish(Ctx& c, SshSession& ssh) {
  {
    Ledger::Span span(c.ledger, "train");
    int drops = 0;
    while (true) {
      throw_if_stopped("training");
      check_caps(c);
      try {
        if (!ssh.connected() || ssh.cut_by_watchdog()) {
          ssh.disconnect();
          ssh.connect_retry(600, [](const std::string& e) { log::warn("reconnecting: {}", e); });
          log::info("reconnected to {}; the remote training went on meanwhile", ssh.target().host_id);
        }
        ssh.run(autodown_heartbeat_cmd());
        auto r = follow_log(ssh, c.conn.layout, c.conn.log_offset, print_out, 20);
        c.save();  // the offset: an attach continues without repeating lines
        if (r.finished) break;
        drops = 0;
      } catch (const Cancelled&) {
        throw;
      } catch (const HostKeyError&) {
        throw;
      } catch (const AuthError&) {
        throw;
      } catch (const CloudError& e) {
        if ((ssh.connected() && !ssh.cut_by_watchdog()) || ++drops > 30) throw;
        log::warn("log stream interrupted ({}); reconnecting, training goes on", e.what());
      }
    }
  }
  RemoteStatus st = job_status(ssh, c.conn.layout);
  int code = st.exit_code.value_or(1);
  if (code != 0) {
    log::error("remote `yolocpp train` failed with exit code {} (log above; `yolocpp cloud logs name={}`)", code,
               c.job.name);
    return code;
  }
  download_results(c, ssh, false);
  return 0;
}

// The guard around every job step: any exception (of any type), signal or cap ends in teardown.
int guarded(Ctx& c, const std::function<int(std::unique_ptr<SshSession>&)>& body) {
  std::unique_ptr<SshSession> ssh;
  int code = 1;
  std::string final_state = "failed";
  try {
    code = body(ssh);
    final_state = code == 0 ? "done" : "failed";
  } catch (const Cancelled& e) {
    log::warn("{}: stopping the job", e.what());
    final_state = "cancelled";
    code = 130;
  } catch (const CapReached& e) {
    log::warn("{}: stopping the remote trainer, fetching best.pt and last.pt, then terminating", e.what());
    final_state = "stopped";
    code = 3;
    stop_flag().store(false);
    if (SshSession* s = teardown_ssh(c, ssh)) {
      try {
        kill_job(*s, c.conn.layout);
        download_results(c, *s, true);
      } catch (const DownloadFailed& d) {
        log::error("{}", d.what());
        final_state = "download-failed";
      } catch (const std::exception& d) {
        log::warn("could not fetch the results after the stop: {}", d.what());
      }
    }
  } catch (const DownloadFailed& e) {
    final_state = "download-failed";
    code = 1;
    log::error("the download of the results failed ({}). They exist only on the instance, so it is KEPT and "
               "BILLING: retry with `yolocpp cloud attach name={}`, or end it with `yolocpp cloud down name={}`{}",
               e.what(), c.job.name, c.job.name,
               c.autodown ? fmt::format(" (its watchdog terminates it {:g} min after the last activity)",
                                        c.conn.autodown_minutes)
                          : "");
  } catch (const std::exception& e) {
    log::error("{}", e.what());
    code = 1;
  } catch (...) {
    log::error("cloud job {}: unexpected failure", c.job.name);
    code = 1;
  }
  // Teardown must run even after a signal: clear the flag so its own calls are not interrupted.
  stop_flag().store(false);
  try {
    teardown(c, final_state, ssh);
  } catch (const std::exception& e) {
    log::error("teardown of job {} failed: {}; run `yolocpp cloud gc`", c.job.name, e.what());
    if (code == 0) code = 1;
  }
  if (c.job.state == "terminate-failed" && code == 0) code = 1;
  return code;
}

// The watchdog's settings for this job: the meter starts now (the launch request, or adoption of instance=).
AutodownPlan autodown_plan(const Ctx& c, const Offer& type, const std::string& instance_name) {
  AutodownPlan p;
  p.api_url = c.api->base_url();
  p.api_key = c.api->api_key();
  p.instance_name = instance_name;
  const char* u = std::getenv("YOLOCPP_CLOUD_USER");
  p.login_user = u && *u ? u : c.api->login_user();
  p.launch_epoch = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  p.price_cents_per_hour = type.price_cents_per_hour;
  p.billing_granularity_s = c.api->billing().granularity_s;
  const WatchdogApi w = c.api->watchdog_api();
  p.key_file_name = w.key_file_name;
  p.shell_functions = w.shell_functions;
  p.budget_usd = c.conn.budget;
  p.max_hours = c.conn.max_hours;
  p.idle_minutes = c.conn.autodown_minutes;
  return p;
}

std::string join_ids(const std::vector<int>& ids, bool abbreviate) {
  if (abbreviate && ids.size() > 3) return fmt::format("{},...,{}", ids.front(), ids.back());
  std::string out;
  for (int id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

// The global batch split across `k` GPUs: refused (ConfigError naming batch) when it cannot be, warned about
// when each GPU gets so few images that it mostly waits. Returns the global batch.
int check_ddp_batch(const Settings& s, int k, const std::string& machine, bool device_given, GpuPlan& plan) {
  const double b = s.number("batch");
  const std::string fix = device_given ? fmt::format("set batch={} ({} GPUs x 16) or list fewer GPUs in device=", k * 16, k)
                                       : fmt::format("set batch={} ({} GPUs x 16), or device=0 to train on one GPU", k * 16, k);
  if (b < 1)
    throw ConfigError(fmt::format(
        "batch={} is AutoBatch, which sizes the batch for one GPU and cannot be used with DDP on the {} GPUs of {}: "
        "{} (nothing was launched or uploaded)", s.str("batch"), k, machine, fix));
  const int batch = static_cast<int>(b);
  if (batch < k)
    throw ConfigError(fmt::format(
        "batch={} is smaller than the {} GPUs of {} it is split across (batch is the global batch, each GPU gets "
        "batch/{}): {} (nothing was launched or uploaded)", batch, k, machine, k, fix));
  if (batch / k < 8)
    plan.warnings.push_back(fmt::format(
        "batch={} on {} GPUs is {} images per GPU: per-GPU batches that small waste the GPUs (and give noisy "
        "BatchNorm statistics); set batch={} for 16 per GPU", batch, k, batch / k, k * 16));
  return batch;
}

}  // namespace

GpuPlan plan_gpus(const Settings& s, int gpus, const std::string& machine) {
  GpuPlan plan;
  plan.gpus = gpus;
  const bool given = s.was_set("device") && !s.is_none("device");
  if (given) {
    // The user's device= is forwarded untouched (it is not local-only); here it is only checked, so a typo
    // fails now and not after the instance has booted and billed.
    const std::vector<int> ids = config::parse_device_list(s.str("device"));
    if (gpus >= 0) {
      for (int id : ids)
        if (id >= gpus)
          throw ConfigError(gpus == 0
              ? fmt::format("device={} but {} has no GPU: use device=cpu or a GPU type (gpu=)", s.str("device"), machine)
              : fmt::format("device={} names GPU {} but {} has {} GPU{} (0..{}): use indices below {}, or leave "
                            "device unset to train on all of them", s.str("device"), id, machine, gpus,
                            gpus == 1 ? "" : "s", gpus - 1, gpus));
    }
    plan.used = std::max<int>(1, static_cast<int>(ids.size()));
    if (ids.size() > 1) {
      int batch = check_ddp_batch(s, static_cast<int>(ids.size()), machine, true, plan);
      plan.message = fmt::format("training on {} GPUs of {} with DDP: device={} (as given), global batch {} = {} per GPU",
                                 gpus > 0 ? fmt::format("{} of the {}", ids.size(), gpus) : std::to_string(ids.size()),
                                 machine, join_ids(ids, true), batch, batch / static_cast<int>(ids.size()));
    }
    if (ids.empty() && gpus > 0)
      plan.warnings.push_back(fmt::format("device={} trains on the CPU of {}, which has {} GPU{} (and bills for them)",
                                          s.str("device"), machine, gpus, gpus == 1 ? "" : "s"));
    else if (gpus > plan.used)
      plan.warnings.push_back(fmt::format("device={} uses {} of the {} GPUs of {}; the instance bills for all of "
                                          "them (leave device unset to use every GPU)", s.str("device"), plan.used,
                                          gpus, machine));
    return plan;
  }
  if (gpus <= 1) return plan;  // today's behaviour: the trainer picks the first GPU (or the CPU)
  std::vector<int> ids(static_cast<size_t>(gpus));
  for (int i = 0; i < gpus; ++i) ids[static_cast<size_t>(i)] = i;
  int batch = check_ddp_batch(s, gpus, machine, false, plan);
  plan.used = gpus;
  plan.device = join_ids(ids, false);
  plan.message = fmt::format("training on {} GPUs of {} with DDP: device={}, global batch {} = {} per GPU", gpus,
                             machine, join_ids(ids, true), batch, batch / gpus);
  return plan;
}

int count_nvidia_smi_gpus(const std::string& out) {
  // "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-...)"; MIG slices are indented "  MIG 1g.5gb Device 0: ...".
  int n = 0;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("GPU ", 0) == 0 && line.size() > 4 && std::isdigit(static_cast<unsigned char>(line[4]))) ++n;
  return n;
}

namespace {

void log_plan(const GpuPlan& p) {
  for (const auto& w : p.warnings) log::warn("{}", w);
  if (!p.message.empty()) log::info("{}", p.message);
}

}  // namespace


void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  struct sigaction hup {};
  hup.sa_handler = on_hup_signal;
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

namespace {

// Every setting is checked, and the dataset verified, before anything costs money.
struct Checked {
  fs::path archive;
  std::string data_sha;
  data::DatasetInfo ds;
  BootstrapMode boot = BootstrapMode::Source;
  std::string boot_arg;
  std::string filesystem;  // filesystem= ("" = none)
};

// filesystem=NAME on Lambda: the filesystem (created when asked), checked against the region, the type's
// capacity and instance= before anything is launched. Lambda attaches filesystems only at launch and only in
// their own region, so the filesystem decides the region.
Filesystem resolve_filesystem(LambdaApi& api, const Settings& s, const std::string& type_name,
                              const std::optional<Instance>& given) {
  const std::string name = s.str("filesystem");
  const std::string region = s.str("region");
  std::optional<Filesystem> f = api.find_filesystem(name);
  if (given) {
    const auto& names = given->file_system_names;
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw ConfigError("instance=" + given->id + " was launched without filesystem " + name + ", and Lambda attaches "
                        "filesystems only at launch: drop instance= to launch a new instance with it, or drop "
                        "filesystem= (nothing was launched)");
    if (!f) throw CloudError("instance " + given->id + " names filesystem " + name + ", which the API does not list");
    return *f;
  }
  InstanceTypeOffer offer = api.instance_type(type_name);
  std::string with_capacity;
  for (const auto& r : offer.regions_with_capacity) with_capacity += (with_capacity.empty() ? "" : ", ") + r.name;
  if (!f) {
    if (!s.boolean("filesystem_create")) {
      std::string have;
      for (const auto& x : api.list_filesystems()) have += (have.empty() ? "" : ", ") + x.name + " (" + x.region + ")";
      throw ConfigError("filesystem=" + name + ": this Lambda account has no filesystem of that name (it has: " +
                        (have.empty() ? "none" : have) + "); add filesystem_create=True to create it (Lambda bills "
                        "it per GiB used per month, also while no instance mounts it) (nothing was launched)");
    }
    std::string where = region;
    if (where.empty() || where == "auto") {
      if (offer.regions_with_capacity.empty())
        throw CloudError("no capacity for " + type_name + " in any region now, so there is no region to create "
                         "filesystem " + name + " in; try later or another gpu= (nothing was launched)");
      where = offer.regions_with_capacity.front().name;
    }
    f = api.create_filesystem(name, where);
    log::info("created filesystem {} in {} (mounted at {}); Lambda bills it per GiB used per month until it is "
              "deleted in the Lambda console", f->name, f->region, f->mount_point);
  }
  if (!region.empty() && region != "auto" && region != f->region)
    throw ConfigError("filesystem " + name + " is in region " + f->region + ", and Lambda mounts a filesystem only "
                      "on instances in its region: use region=" + f->region + " (or region=auto) (nothing was "
                      "launched)");
  bool has = false;
  for (const auto& r : offer.regions_with_capacity) has |= r.name == f->region;
  if (!has)
    throw CloudError("no capacity for " + type_name + " in " + f->region + " now, where filesystem " + name +
                     " lives (regions with capacity: " + (with_capacity.empty() ? "none" : with_capacity) +
                     "); try again later or another gpu= (nothing was launched)");
  return *f;
}

std::string first_line(const std::string& t) {
  std::string l = t.substr(0, t.find('\n'));
  return l.empty() ? "no output" : l;
}

// The filesystem's mount on the instance: cloud-init mounts it during boot, possibly after sshd answers, so
// it is waited for (up to 2 min). The yolocpp folder on it is made writable for the login user.
void prepare_filesystem(SshSession& ssh, const Filesystem& f) {
  const std::string mp = quote::sh(f.mount_point);
  const std::string dir = quote::sh(f.mount_point + "/yolocpp");
  auto t0 = std::chrono::steady_clock::now();
  while (ssh.run("test -d " + mp).status != 0) {
    throw_if_stopped("waiting for the filesystem mount");
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(120))
      throw CloudError("filesystem " + f.name + " is not mounted at " + f.mount_point + " on the instance after 2 "
                       "min (the API lists it as attached); the job cannot keep its data there");
    std::this_thread::sleep_for(std::chrono::seconds(3));
  }
  auto r = ssh.run("mkdir -p " + dir + " 2>/dev/null || { sudo -n mkdir -p " + dir + " && sudo -n chown \"$(id -u):$(id -g)\" " +
                   dir + "; }; test -w " + dir);
  if (r.status != 0)
    throw CloudError("filesystem " + f.name + ": cannot write " + f.mount_point + "/yolocpp on the instance: " +
                     first_line(r.err.empty() ? r.out : r.err));
  log::info("filesystem {} at {}: the dataset archives and the yolocpp build are kept there for later jobs",
            f.name, f.mount_point);
}

void verify_dataset_locally(const data::DatasetInfo& ds) {
  // The same verification the remote trainer runs at its start, so a broken dataset fails here, for free.
  for (const auto& sp : ds.splits) {
    if (sp.name != "train" && sp.name != "val") continue;
    auto r = data::scan_split(ds, sp.name);
    if (r.counts.corrupt > 0) {
      log::warn("dataset {} split: {} of {} images are corrupt and would be skipped by the trainer, e.g. {}: {}",
                sp.name, r.counts.corrupt, r.counts.images, r.corrupt.front().image.string(),
                r.corrupt.front().message);
    }
    if (r.items.empty())
      throw DataError("dataset " + ds.yaml.string() + ": the " + sp.name + " split has no usable image (" +
                      std::to_string(r.counts.images) + " listed, " + std::to_string(r.counts.corrupt) +
                      " corrupt); `yolocpp check data=" + ds.yaml.string() +
                      "` lists the problems (nothing was launched)");
  }
}

Checked check_before_paying(const Settings& s, Ctx& c) {
  Checked k;
  validate_job_name(c.job.name);
  c.conn.export_format = s.str("export");
  std::transform(c.conn.export_format.begin(), c.conn.export_format.end(), c.conn.export_format.begin(),
                 [](unsigned char ch) { return (char)std::tolower(ch); });
  if (!c.conn.export_format.empty() && c.conn.export_format != "onnx")
    throw ConfigError("export=" + s.str("export") + " is not supported by cloud train: use export=onnx, or export "
                      "best.pt locally afterwards (nothing was launched)");
  c.conn.budget = s.is_none("budget") ? 0 : s.number("budget");
  c.conn.max_hours = s.is_none("max_hours") ? 0 : s.number("max_hours");
  if (!s.is_none("max_hours") && c.conn.max_hours <= 0)
    throw ConfigError("max_hours=" + s.str("max_hours") + " must be above 0 hours (or unset)");
  c.conn.autodown_minutes = parse_autodown(s);
  // bootstrap=none reads as None on the command line (a None-text): it means "none", not "the default".
  k.boot_arg = s.is_none("bootstrap") ? "none" : s.str("bootstrap");
  k.boot = parse_bootstrap(k.boot_arg);
  if (!s.is_none("filesystem")) {
    k.filesystem = s.str("filesystem");
    if (!s.is_none("host"))
      throw ConfigError("filesystem=" + k.filesystem + " is a Lambda persistent filesystem; a host= machine keeps "
                        "its own disk between jobs: drop filesystem= (nothing was uploaded)");
    if (!valid_filesystem_name(k.filesystem))
      throw ConfigError("filesystem=" + k.filesystem + " is not a valid Lambda filesystem name: a letter first, then "
                        "letters, digits and '-', at most 60 characters (nothing was launched)");
  }
  if (s.is_none("data")) throw ConfigError("cloud train needs data=DATASET.yaml (or a `yolocpp pack` .tar.gz)");
  // A path (not a released name like yolo11n.pt) must exist here: it is uploaded.
  if (!s.is_none("model") && s.str("model").find('/') != std::string::npos && !fs::exists(s.str("model")))
    throw ConfigError("model=" + s.str("model") + ": no such file (nothing was launched)");
  std::string data_arg = s.str("data");
  if (data_arg.size() > 7 && data_arg.substr(data_arg.size() - 7) == ".tar.gz") {
    if (!fs::is_regular_file(data_arg)) throw DataError("data=" + data_arg + ": no such archive (nothing was launched)");
    k.archive = data_arg;
  } else {
    k.ds = data::load_dataset(data_arg);
    verify_dataset_locally(k.ds);
    k.archive = util::cache_dir() / "packs" / (c.job.name + "-" + c.job.id + ".tar.gz");
    fs::create_directories(k.archive.parent_path());
    auto pr = data::pack_dataset(k.ds, k.archive);
    log::info("packed {} ({} files, {})", data_arg, pr.files, human_bytes(static_cast<double>(pr.bytes)));
  }
  k.data_sha = util::sha256_file(k.archive);
  return k;
}

}  // namespace

int cloud_train(const Settings& s) {
  install_stop_handlers();
  Ctx c;
  c.job.id = Registry::new_job_id();
  c.job.name = run_name(s);
  c.job.state = "estimate";
  c.job.keep = c.keep = s.boolean("keep");
  c.job.pid = static_cast<int>(::getpid());
  c.job.pid_start = process_start_token(c.job.pid);
  c.ledger = Ledger(c.job.id);
  c.conn.local_dir = local_run_dir(s);
  c.conn.layout.name = c.job.name;

  Checked k = check_before_paying(s, c);
  const fs::path archive = k.archive;
  const std::string data_sha = k.data_sha;

  fs::path key = s.is_none("ssh_key") ? fs::path() : fs::path(s.str("ssh_key"));
  const bool host_mode = !s.is_none("host");
  c.conn.host_mode = host_mode;
  if (host_mode) {
    c.conn.target = parse_host(s.str("host"), static_cast<int>(s.integer("ssh_port")));
    c.conn.target.key_file = key;
    c.job.host = s.str("host");
  }
  GpuPlan plan;  // API mode: decided here from specs.gpus; host mode: after connecting (nvidia-smi -L)
  std::optional<Machine> given_instance;
  Offer type;
  std::optional<Filesystem> fsys;
  const std::string provider = host_mode ? std::string() : provider_name(s);
  // gpu= is "what to rent" in the provider's own words: a Lambda instance type (which carries its GPU count,
  // gpu_8x_a100) or a RunPod GPU type id with gpu_count GPUs. The default is Lambda's type; RunPod's default
  // is an RTX 4090, the card most RunPod hobbyists rent.
  std::string gpu = s.str("gpu");
  int gpu_count = 1;
  if (provider == "runpod") {
    if (!s.was_set("gpu")) gpu = "NVIDIA GeForce RTX 4090";
    gpu_count = static_cast<int>(s.integer("gpu_count"));
    if (gpu_count < 1 || gpu_count > 64) throw ConfigError("gpu_count=" + s.str("gpu_count") + " must be 1..64");
  } else if (provider == "lambda" && s.was_set("gpu_count") && s.integer("gpu_count") != 1) {
    throw ConfigError("gpu_count=" + s.str("gpu_count") + " applies to provider=runpod; a Lambda type name carries "
                      "its GPU count: pick e.g. gpu=gpu_8x_a100 (nothing was launched)");
  }
  if (!host_mode) {
    c.api = make_provider(provider, s);
    c.job.provider = provider;
    c.ledger.set_billing(c.api->billing().granularity_s, c.api->billing().text);
    // instance= runs on that machine, whatever gpu= says: its type decides the GPUs and the estimate.
    if (!s.is_none("instance")) {
      given_instance = c.api->get(s.str("instance"));
      type.type = given_instance->type;
      type.gpus = given_instance->gpus;
      type.price_cents_per_hour = given_instance->price_cents_per_hour;
    } else {
      type = c.api->offer(gpu, gpu_count);
    }
    plan = plan_gpus(s, type.gpus, type.type);  // a ConfigError here: nothing launched yet
    if (!k.filesystem.empty()) {
      auto* lambda = dynamic_cast<LambdaProvider*>(c.api.get());
      if (!lambda)
        throw ConfigError("filesystem=" + k.filesystem + " is a Lambda persistent filesystem; provider=" + provider +
                          " has no filesystem= support yet: drop filesystem= (nothing was launched)");
      std::optional<Instance> given;
      if (given_instance) given = lambda->api().get_instance(given_instance->id);
      fsys = resolve_filesystem(lambda->api(), s, type.type, given);
    }
    log_plan(plan);
    EstimateInput in;
    in.gpu_type = type.type;
    in.price_cents_per_hour = type.price_cents_per_hour;
    in.gpus = std::max(1, type.gpus);
    in.used_gpus = plan.used;
    in.model = s.str("model");
    in.imgsz = static_cast<int>(s.int_list("imgsz").front());
    in.epochs = static_cast<int>(s.integer("epochs"));
    for (const auto& sp : k.ds.splits)
      (sp.name == "train" ? in.train_images : in.val_images) += static_cast<int64_t>(sp.images.size());
    in.dataset_bytes = static_cast<double>(fs::file_size(archive));
    in.bootstrap = k.boot_arg;
    Estimate est;
    try {
      est = estimate(in);
    } catch (const CloudError& e) {
      log::warn("no estimate ({}); the budget is enforced while running", e.what());
    }
    if (!est.phases.empty()) {
      print_out(est.table() + "\n");
      check_budget(est, c.conn.budget);
    }
    if (c.conn.autodown_minutes <= 0)
      log::warn("autodown=False: the instance has NO watchdog of its own. If this process dies (laptop closed, "
                "killed), the instance keeps billing until `yolocpp cloud gc` or `yolocpp cloud down name={}`",
                c.job.name);
  }

  return guarded(c, [&](std::unique_ptr<SshSession>& ssh) -> int {
    if (!host_mode) {
      if (key.empty()) key = ensure_default_key();
      c.own_instance = true;
      if (given_instance) {
        const Machine& inst = *given_instance;
        c.job.instance = InstanceRecord{inst.id, inst.name, inst.region, inst.type, inst.price_cents_per_hour, 0, 0,
                                        inst.status};
        c.ledger.set_instance(inst.id, inst.type, inst.region, inst.price_cents_per_hour);
        c.ledger.mark_launch_requested();
      } else {
        Ledger::Span span(c.ledger, "launch");
        LaunchSpec how;
        how.type = type.type;
        how.gpu_count = gpu_count;
        how.region = s.str("region");
        if (fsys) {
          how.region = fsys->region;
          how.file_system_names = {fsys->name};
        }
        how.public_key = public_key_of(key);
        c.ledger.mark_launch_requested();
        if (c.conn.autodown_minutes > 0) {
          AutodownPlan p = autodown_plan(c, type, Registry::instance_name(c.job.id));
          // Lambda: armed at first boot by cloud-init; RunPod (a container): over SSH, first thing.
          if (c.api->runs_user_data()) how.user_data = autodown_user_data(p);
          c.autodown = p;
        }
        auto lr = launch_for_job(*c.api, c.reg, c.job, how, type.price_cents_per_hour);
        c.ledger.set_instance(lr.id, how.type, lr.region, c.job.instance ? c.job.instance->price_cents_per_hour : 0);
        log::info("launched instance {} ({}, {})", lr.id, how.type, lr.region);
      }
      c.save();
      {
        Ledger::Span span(c.ledger, "boot");
        auto t0 = std::chrono::steady_clock::now();
        auto last = std::make_shared<double>(0);
        Machine inst = c.api->wait_ready(c.job.instance->id, 1800, 2, [&, last, t0](const Machine& i) {
          throw_if_stopped("waiting for the instance");
          double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          if (el - *last >= 15) {
            *last = el;
            log::info("instance {} is {} ({} so far; {})", i.id, i.status.empty() ? "booting" : i.status,
                      format_duration(el), c.api->boot_hint());
          }
        });
        c.ledger.mark_first_active();
        c.conn.target = c.api->ssh_target(inst, static_cast<int>(s.integer("ssh_port")), key);
      }
    }
    c.job.state = "starting";
    c.save();
    ssh = std::make_unique<SshSession>(c.conn.target);
    {
      Ledger::Span span(c.ledger, c.api ? "ssh" : "launch");
      ssh->connect_retry(600, [](const std::string& e) { log::info("waiting for SSH: {}", e); });
    }
    if (c.own_instance && !s.is_none("max_hours") && !loopback(c.conn.target.host) && !c.autodown)
      arm_watchdog(*ssh, s.number("max_hours"));
    if (host_mode) {
      // The GPU count of a host= machine is known only now. Without nvidia-smi (a CPU host) nothing changes;
      // the checks still come before anything is uploaded or started.
      int gpus = -1;
      if (s.is_none("device")) {
        auto r = ssh->run("nvidia-smi -L 2>/dev/null");
        if (r.status == 0) gpus = count_nvidia_smi_gpus(r.out);
      }
      plan = plan_gpus(s, gpus, c.conn.target.host_id);
      log_plan(plan);
    }
    c.conn.layout.home = remote_home(*ssh);
    c.job.remote_dir = c.conn.layout.job_dir();
    if (fsys) {
      prepare_filesystem(*ssh, *fsys);
      c.conn.layout.persist = fsys->mount_point;
    }
    if (c.own_instance && c.conn.autodown_minutes > 0) {
      if (!c.autodown) {
        // instance=: no user_data of ours ran there; the same watchdog is armed over SSH.
        AutodownPlan p = autodown_plan(c, type, c.job.instance->name);
        c.autodown = p;
      }
      ensure_autodown(*ssh, *c.autodown, c.instance_id());
    }

    c.job.state = "bootstrapping";
    c.save();
    {
      Ledger::Span span(c.ledger, "bootstrap");
      c.conn.bin = bootstrap(*ssh, c.conn.layout, k.boot, progress_line("upload yolocpp"), c.own_instance);
    }

    c.job.state = "uploading";
    c.save();
    // A fresh job folder (a rerun with the same name must not see the old exit_code / log). The name was
    // validated (validate_job_name), so this stays inside $HOME/yolocpp/jobs.
    ssh->check("rm -rf " + quote::sh(c.conn.layout.job_dir()) + " && mkdir -p " + quote::sh(c.conn.layout.job_dir()));
    std::string remote_data = c.conn.layout.data_archive(data_sha);
    std::string model = s.str("model");
    {
      Ledger::Span span(c.ledger, "upload");
      auto st = upload_resumable(*ssh, archive, remote_data, progress_line("upload dataset"));
      if (st.skipped) log::info("dataset already on the remote (sha256 {}), not uploaded again", data_sha.substr(0, 12));
      else log::info("uploaded dataset: {} in {:.1f} s ({:.1f} MiB/s)", human_bytes(st.bytes), st.seconds, st.mib_per_s());
      if (!model.empty() && fs::is_regular_file(model)) {
        std::string remote_model = c.conn.layout.job_dir() + "/" + fs::path(model).filename().string();
        upload_resumable(*ssh, model, remote_model, progress_line("upload model"));
        model = remote_model;
      }
    }

    std::vector<std::string> argv = {c.conn.bin, "train", "data=" + remote_data, "model=" + model,
                                     "project=" + c.conn.layout.job_dir() + "/runs", "name=" + c.job.name,
                                     "exist_ok=True"};
    for (const auto& key_name : s.keys())
      if (s.was_set(key_name) && !local_only().count(key_name)) argv.push_back(key_name + "=" + s.str(key_name));
    if (!plan.device.empty()) argv.push_back("device=" + plan.device);  // only when the user gave none
    // export=onnx runs on this machine after the download (the CLI does it): the instance's train-only build
    // has no exporter.
    start_job(*ssh, c.conn.layout, make_run_script(c.conn.layout, argv));
    c.job_started = true;
    c.job.state = "training";
    c.save();
    log::info("training on {} (job {}); Ctrl-C stops and terminates; `yolocpp cloud attach name={}` reconnects",
              c.conn.target.host_id, c.job.id, c.job.name);
    return follow_and_finish(c, *ssh);
  });
}

namespace {

Ctx load_ctx(const Settings& s) {
  std::string key = !s.is_none("instance") ? s.str("instance") : run_name(s);
  Ctx c;
  auto job = c.reg.find(key);
  if (!job) throw CloudError("no cloud job named '" + key + "' in " + c.reg.dir().string() + " (see `yolocpp cloud ls`)");
  c.job = *job;
  if (!c.job.extra.contains("conn"))
    throw CloudError("cloud job '" + key + "' never reached its machine (state " + c.job.state + "); nothing to attach to");
  c.conn = conn_from(c.job.extra["conn"]);
  if (c.job.extra.contains("ledger")) c.ledger = Ledger::from_json(c.job.extra["ledger"]);
  c.keep = c.job.keep;
  if (c.job.instance) {
    c.api = make_provider(c.job.provider.empty() ? "lambda" : c.job.provider, s);
    c.own_instance = true;
    if (c.conn.autodown_minutes > 0) {
      AutodownPlan p;  // only what teardown needs (disarm): the watchdog itself runs on the instance
      p.instance_name = c.job.instance->name;
      p.key_file_name = c.api->watchdog_api().key_file_name;
      c.autodown = p;
    }
  }
  c.job_started = true;
  return c;
}

}  // namespace

int cloud_attach(const Settings& s) {
  install_stop_handlers();
  Ctx c = load_ctx(s);
  if (!is_live_state(c.job.state) || c.job.state == "kept")
    log::info("job {} is in state '{}'", c.job.name, c.job.state);
  // This process drives the job now (gc must not take it for an orphan).
  c.job.pid = static_cast<int>(::getpid());
  c.job.pid_start = process_start_token(c.job.pid);
  return guarded(c, [&](std::unique_ptr<SshSession>& ssh) -> int {
    ssh = std::make_unique<SshSession>(c.conn.target);
    ssh->connect_retry(120);
    log::info("attached to job {} on {} (log from byte {})", c.job.name, c.conn.target.host_id, c.conn.log_offset);
    c.job.state = "training";
    c.save();
    return follow_and_finish(c, *ssh);
  });
}

int cloud_logs(const Settings& s) {
  std::signal(SIGPIPE, SIG_IGN);
  Ctx c = load_ctx(s);
  SshSession ssh(c.conn.target);
  ssh.connect_retry(60);
  auto r = ssh.run("cat " + quote::sh(c.conn.layout.log()));
  print_out(r.out);
  return r.status == 0 ? 0 : 1;
}

}  // namespace yolocpp::cloud
