#include "yolocpp/cloud/job.hpp"

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "yolocpp/cloud/bootstrap.hpp"
#include "yolocpp/cloud/estimate.hpp"
#include "yolocpp/cloud/lambda_api.hpp"
#include "yolocpp/cloud/ledger.hpp"
#include "yolocpp/cloud/provider.hpp"
#include "yolocpp/cloud/quote.hpp"
#include "yolocpp/cloud/registry.hpp"
#include "yolocpp/cloud/remote.hpp"
#include "yolocpp/cloud/sftp.hpp"
#include "yolocpp/cloud/ssh.hpp"
#include "yolocpp/config/device.hpp"
#include "yolocpp/data/dataset.hpp"
#include "yolocpp/data/pack.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cloud {

namespace {

using config::Settings;

extern "C" void on_stop_signal(int) { stop_flag().store(true); }

// Settings that steer the cloud job itself, or that the job sets for the remote run: never forwarded.
const std::set<std::string>& local_only() {
  static const std::set<std::string> k = {"mode", "api_url", "gpu", "region", "budget", "host", "ssh_port",
                                          "ssh_key", "keep", "bootstrap", "instance", "export", "max_hours",
                                          "data", "model", "project", "name", "exist_ok", "cfg"};
  return k;
}

std::string run_name(const Settings& s) { return s.is_none("name") ? "train" : s.str("name"); }

fs::path local_run_dir(const Settings& s) {
  fs::path project = s.is_none("project") ? fs::path("runs/detect") : fs::path(s.str("project"));
  return project / run_name(s);
}

// Everything a later process (attach/logs) needs to reach the job again; no secrets.
struct Conn {
  SshTarget target;
  RemoteLayout layout;
  std::string bin;
  uint64_t log_offset = 0;
  fs::path local_dir;
  std::string export_format;
  double budget = 0;
};

nlohmann::json conn_json(const Conn& c) {
  return {{"user", c.target.user}, {"host", c.target.host}, {"port", c.target.port},
          {"key_file", c.target.key_file.string()}, {"known_hosts", c.target.known_hosts.string()},
          {"host_id", c.target.host_id}, {"home", c.layout.home}, {"name", c.layout.name}, {"bin", c.bin},
          {"log_offset", c.log_offset}, {"local_dir", fs::absolute(c.local_dir).string()},
          {"export", c.export_format}, {"budget", c.budget}};
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
  c.bin = j.value("bin", "");
  c.log_offset = j.value("log_offset", uint64_t{0});
  c.local_dir = j.value("local_dir", "");
  c.export_format = j.value("export", "");
  c.budget = j.value("budget", 0.0);
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

// The state shared by train and attach: the API (absent for host= jobs), the record, the ledger.
struct Ctx {
  Registry reg;
  JobRecord job;
  Ledger ledger;
  std::unique_ptr<LambdaApi> api;
  Conn conn;
  bool own_instance = false;  // launched by us or instance= given: terminate unless keep
  bool keep = false;

  void save() {
    job.extra["conn"] = conn_json(conn);
    job.extra["ledger"] = ledger.to_json();
    reg.save(job);
  }
};

bool loopback(const std::string& host) { return host.rfind("127.", 0) == 0 || host == "localhost" || host == "::1"; }

// Terminates (and confirms) the instance when we own it and keep=False; records the end in ledger/registry.
void teardown(Ctx& c, const std::string& final_state) {
  if (c.own_instance && c.api && c.job.instance && !c.job.instance->id.empty()) {
    if (c.keep) {
      log::info("keep=True: instance {} keeps running (and billing); end it with `yolocpp cloud down {}`",
                c.job.instance->id, c.job.name);
      c.job.state = "kept";
    } else {
      c.job.state = "terminating";
      c.save();
      Ledger::Span span(c.ledger, "terminate");
      c.api->terminate_and_confirm(c.job.instance->id);
      c.ledger.mark_terminated();
      c.job.instance->status = "terminated";
      c.job.instance->terminated_at = std::chrono::duration<double>(
          std::chrono::system_clock::now().time_since_epoch()).count();
      forget_host_key(c.conn.target.known_hosts, c.conn.target.host_id);
      log::info("terminated instance {} (confirmed through the API)", c.job.instance->id);
      c.job.state = final_state;
    }
  } else {
    c.job.state = final_state;
  }
  c.save();
  if (!c.conn.local_dir.empty() && c.api) {
    fs::create_directories(c.conn.local_dir);
    c.ledger.write(c.conn.local_dir / "cost.json");
    std::printf("%s\n", c.ledger.table().c_str());
  }
}

void download_results(Ctx& c, SshSession& ssh, bool partial) {
  Ledger::Span span(c.ledger, "download");
  fs::path w = c.conn.local_dir / "weights";
  std::vector<std::pair<std::string, fs::path>> files;
  if (!partial) files.push_back({c.conn.layout.weights("best.pt"), w / "best.pt"});
  files.push_back({c.conn.layout.weights("last.pt"), w / "last.pt"});
  files.push_back({c.conn.layout.run_dir() + "/results.csv", c.conn.local_dir / "results.csv"});
  files.push_back({c.conn.layout.run_dir() + "/args.yaml", c.conn.local_dir / "args.yaml"});
  if (!partial && c.conn.export_format == "onnx") files.push_back({c.conn.layout.weights("best.onnx"), w / "best.onnx"});
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
}

// Follows the log to the end (reconnecting on drops), enforcing the budget; then downloads. Returns exit code.
int follow_and_finish(Ctx& c, SshSession& ssh) {
  int64_t cents = c.ledger.price_cents_per_hour();
  {
    Ledger::Span span(c.ledger, "train");
    int drops = 0;
    while (true) {
      throw_if_stopped("training");
      if (c.conn.budget > 0 && cents > 0 && c.api) {
        // Leave room for the download and the terminate (a few minutes) inside the budget.
        double projected = c.ledger.running_cost_usd() + cents / 100.0 * 5 / 60;
        if (projected >= c.conn.budget) {
          log::warn("budget={} USD is about to be reached (cost so far {:.2f} USD): stopping the job, saving last.pt",
                    c.conn.budget, c.ledger.running_cost_usd());
          kill_job(ssh, c.conn.layout);
          throw CloudError("budget reached");
        }
      }
      try {
        if (!ssh.connected()) ssh.connect_retry(300, [](const std::string& e) { log::warn("reconnecting: {}", e); });
        auto r = follow_log(ssh, c.conn.layout, c.conn.log_offset, [](std::string_view d) {
          std::fwrite(d.data(), 1, d.size(), stdout);
          std::fflush(stdout);
        });
        c.save();  // the offset: an attach continues without repeating lines
        if (r.finished) break;
      } catch (const Cancelled&) {
        throw;
      } catch (const HostKeyError&) {
        throw;
      } catch (const CloudError& e) {
        if (ssh.connected() || ++drops > 20) throw;
        log::warn("log stream interrupted ({}); reconnecting", e.what());
      }
    }
  }
  RemoteStatus st = job_status(ssh, c.conn.layout);
  int code = st.exit_code.value_or(1);
  if (code != 0) {
    log::error("remote `yolocpp train` failed with exit code {} (log above; `yolocpp cloud logs {}`)", code, c.job.name);
    return code;
  }
  c.job.state = "downloading";
  c.save();
  download_results(c, ssh, false);
  return 0;
}

// The guard around every job step: any exception, signal or budget stop ends in teardown.
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
  } catch (const Error& e) {
    log::error("{}", e.what());
    if (std::string(e.what()) == "budget reached" && ssh) {
      try {
        download_results(c, *ssh, true);
      } catch (const Error& d) {
        log::warn("could not save last.pt: {}", d.what());
      }
    }
    code = 1;
  }
  // Teardown must run even after a signal: clear the flag so the API calls are not interrupted themselves.
  stop_flag().store(false);
  teardown(c, final_state);
  return code;
}

LambdaApi make_api(const Settings& s) { return LambdaApi::from_settings(s); }

SshTarget target_for_instance(const Instance& inst, const Settings& s, const fs::path& key) {
  SshTarget t;
  const char* u = std::getenv("YOLOCPP_CLOUD_USER");  // Lambda images log in as ubuntu; other images differ
  t.user = u && *u ? u : "ubuntu";
  t.host = inst.ip;
  t.port = static_cast<int>(s.integer("ssh_port"));
  t.key_file = key;
  t.host_id = inst.id;  // pinned per instance: IPs are reused, instance ids are not
  t.known_hosts = default_known_hosts();
  return t;
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
}

int cloud_train(const Settings& s) {
  Ctx c;
  c.job.id = Registry::new_job_id();
  c.job.name = run_name(s);
  c.job.state = "estimate";
  c.job.keep = c.keep = s.boolean("keep");
  c.ledger = Ledger(c.job.id);
  c.conn.local_dir = local_run_dir(s);
  c.conn.export_format = s.str("export");
  c.conn.budget = s.is_none("budget") ? 0 : s.number("budget");
  c.conn.layout.name = c.job.name;
  // bootstrap=none reads as None on the command line (a None-text): it means "none", not "the default".
  const std::string boot_arg = s.is_none("bootstrap") ? "none" : s.str("bootstrap");
  BootstrapMode boot = parse_bootstrap(boot_arg);
  if (s.is_none("data")) throw ConfigError("cloud train needs data=DATASET.yaml (or a `yolocpp pack` .tar.gz)");

  // Dataset archive first: a bad dataset fails here, before anything costs money.
  fs::path archive;
  std::string data_arg = s.str("data");
  data::DatasetInfo ds;
  if (data_arg.size() > 7 && data_arg.substr(data_arg.size() - 7) == ".tar.gz") {
    archive = data_arg;
  } else {
    ds = data::load_dataset(data_arg);
    archive = util::cache_dir() / "packs" / (c.job.name + "-" + c.job.id + ".tar.gz");
    fs::create_directories(archive.parent_path());
    auto pr = data::pack_dataset(ds, archive);
    log::info("packed {} ({} files, {})", data_arg, pr.files, human_bytes(static_cast<double>(pr.bytes)));
  }
  std::string data_sha = util::sha256_file(archive);

  fs::path key = s.is_none("ssh_key") ? fs::path() : fs::path(s.str("ssh_key"));
  const bool host_mode = !s.is_none("host");
  if (host_mode) {
    c.conn.target = parse_host(s.str("host"), static_cast<int>(s.integer("ssh_port")));
    c.conn.target.key_file = key;
    c.job.host = s.str("host");
  }
  GpuPlan plan;  // API mode: decided here from specs.gpus; host mode: after connecting (nvidia-smi -L)
  std::optional<Instance> given_instance;
  if (!host_mode) {
    c.api = std::make_unique<LambdaApi>(make_api(s));
    // instance= runs on that machine, whatever gpu= says: its type decides the GPUs and the estimate.
    InstanceType type;
    if (!s.is_none("instance")) {
      given_instance = c.api->get_instance(s.str("instance"));
      type = given_instance->type;
    } else {
      type = c.api->instance_type(s.str("gpu")).type;
    }
    plan = plan_gpus(s, type.gpus, type.name);  // a ConfigError here: nothing launched yet
    log_plan(plan);
    EstimateInput in;
    in.gpu_type = type.name;
    in.price_cents_per_hour = type.price_cents_per_hour;
    in.gpus = std::max(1, type.gpus);
    in.used_gpus = plan.used;
    in.model = s.str("model");
    in.imgsz = static_cast<int>(s.int_list("imgsz").front());
    in.epochs = static_cast<int>(s.integer("epochs"));
    for (const auto& sp : ds.splits)
      (sp.name == "train" ? in.train_images : in.val_images) += static_cast<int64_t>(sp.images.size());
    in.dataset_bytes = static_cast<double>(fs::file_size(archive));
    in.bootstrap = boot_arg;
    Estimate est;
    try {
      est = estimate(in);
    } catch (const CloudError& e) {
      log::warn("no estimate ({}); the budget is enforced while running", e.what());
    }
    if (!est.phases.empty()) {
      std::printf("%s\n", est.table().c_str());
      check_budget(est, c.conn.budget);
    }
  }

  return guarded(c, [&](std::unique_ptr<SshSession>& ssh) -> int {
    install_stop_handlers();
    if (!host_mode) {
      if (key.empty()) key = ensure_default_key();
      c.own_instance = true;
      Ledger::Span span(c.ledger, "launch");
      if (given_instance) {
        const Instance& inst = *given_instance;
        c.job.instance = InstanceRecord{inst.id, inst.name, inst.region.name, inst.type.name,
                                        inst.type.price_cents_per_hour, 0, 0, inst.status};
        c.ledger.set_instance(inst.id, inst.type.name, inst.region.name, inst.type.price_cents_per_hour);
        c.ledger.mark_launch_requested();
      } else {
        JobLaunch how;
        how.gpu = s.str("gpu");
        how.region = s.str("region");
        how.ssh_key_name = c.api->ensure_ssh_key(public_key_of(key));
        c.ledger.mark_launch_requested();
        auto lr = launch_for_job(*c.api, c.reg, c.job, how);
        c.ledger.set_instance(lr.instance_id, how.gpu, lr.region,
                              c.job.instance ? c.job.instance->price_cents_per_hour : 0);
        log::info("launched instance {} ({}, {})", lr.instance_id, how.gpu, lr.region);
      }
      c.save();
      Instance inst = c.api->wait_active(c.job.instance->id, 1800, 2, [](const Instance&) {
        throw_if_stopped("waiting for the instance");
      });
      c.ledger.mark_first_active();
      c.conn.target = target_for_instance(inst, s, key);
    }
    c.job.state = "starting";
    c.save();
    ssh = std::make_unique<SshSession>(c.conn.target);
    ssh->connect_retry(600, [](const std::string& e) { log::info("waiting for SSH: {}", e); });
    if (c.own_instance && !s.is_none("max_hours") && !loopback(c.conn.target.host))
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

    c.job.state = "bootstrapping";
    c.save();
    {
      Ledger::Span span(c.ledger, "bootstrap");
      c.conn.bin = bootstrap(*ssh, c.conn.layout, boot, progress_line("upload yolocpp"));
    }

    c.job.state = "uploading";
    c.save();
    // A fresh job folder (a rerun with the same name must not see the old exit_code / log).
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
    for (const auto& k : s.keys())
      if (s.was_set(k) && !local_only().count(k)) argv.push_back(k + "=" + s.str(k));
    if (!plan.device.empty()) argv.push_back("device=" + plan.device);  // only when the user gave none
    std::vector<std::string> after;
    if (c.conn.export_format == "onnx")
      after = {c.conn.bin, "export", "model=" + c.conn.layout.weights("best.pt"), "format=onnx"};
    else if (!c.conn.export_format.empty())
      throw ConfigError("export=" + c.conn.export_format + " is not supported by cloud train: use export=onnx");
    start_job(*ssh, c.conn.layout, make_run_script(c.conn.layout, argv, after));
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
    c.api = std::make_unique<LambdaApi>(make_api(s));
    c.own_instance = true;
  }
  return c;
}

}  // namespace

int cloud_attach(const Settings& s) {
  Ctx c = load_ctx(s);
  if (!is_live_state(c.job.state) || c.job.state == "kept")
    log::info("job {} is in state '{}'", c.job.name, c.job.state);
  return guarded(c, [&](std::unique_ptr<SshSession>& ssh) -> int {
    install_stop_handlers();
    ssh = std::make_unique<SshSession>(c.conn.target);
    ssh->connect_retry(120);
    log::info("attached to job {} on {} (log from byte {})", c.job.name, c.conn.target.host_id, c.conn.log_offset);
    c.job.state = "training";
    c.save();
    return follow_and_finish(c, *ssh);
  });
}

int cloud_logs(const Settings& s) {
  Ctx c = load_ctx(s);
  SshSession ssh(c.conn.target);
  ssh.connect_retry(60);
  auto r = ssh.run("cat " + quote::sh(c.conn.layout.log()));
  std::fwrite(r.out.data(), 1, r.out.size(), stdout);
  return r.status == 0 ? 0 : 1;
}

}  // namespace yolocpp::cloud
