#include "yolocpp/cloud/provider.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <map>

#include "yolocpp/cloud/lambda_provider.hpp"
#include "yolocpp/cloud/ledger.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cloud {

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A job owns its instance while it is live AND its client still runs: a live-state job whose client died
// (SIGKILL, a closed laptop) owns nothing any more; the instance's own watchdog will end it, and `cloud gc`
// ends it now. kept and download-failed jobs are the user's on purpose (results still on the instance).
bool owns_instance(const JobRecord& j) {
  if (!is_live_state(j.state)) return false;
  if (j.state == "kept" || j.state == "download-failed") return true;
  if (j.pid > 0 && !driver_alive(j)) return false;
  return true;
}

std::string orphan_reason(const JobRecord& j) {
  if (j.state == "terminate-failed") return "its terminate was never confirmed";
  if (is_live_state(j.state) && j.pid > 0 && !driver_alive(j)) return "its client (pid " + std::to_string(j.pid) + ") is gone";
  return "its job ended (" + j.state + ")";
}

}  // namespace

LaunchResult launch_for_job(LambdaApi& api, Registry& reg, JobRecord& job, const JobLaunch& how) {
  if (job.id.empty()) job.id = Registry::new_job_id();
  InstanceRecord rec;
  rec.name = Registry::instance_name(job.id);
  rec.type = how.gpu;
  rec.region = how.region;
  rec.price_cents_per_hour = api.instance_type(how.gpu).type.price_cents_per_hour;
  rec.launched_at = unix_now();
  rec.status = "launching";
  job.instance = rec;
  job.state = "launching";
  job.pid = (int)::getpid();
  job.pid_start = process_start_token(job.pid);
  reg.save(job);  // the claim: written before the request, so a crash right after it is still traceable

  LaunchRequest req;
  req.region = how.region;
  req.instance_type = how.gpu;
  req.ssh_key_name = how.ssh_key_name;
  req.name = rec.name;
  req.user_data = how.user_data;
  req.file_system_names = how.file_system_names;
  try {
    LaunchResult r = api.launch_auto(req);
    job.instance->id = r.instance_id;
    job.instance->region = r.region;
    job.instance->status = "booting";
    job.state = "starting";
    reg.save(job);
    return r;
  } catch (...) {
    job.state = "failed";
    job.instance->status = "not launched";
    job.extra["error"] = "launch failed";
    reg.save(job);
    throw;
  }
}

LaunchOutcome launch_for_job(CloudProvider& p, Registry& reg, JobRecord& job, const LaunchSpec& spec,
                             int64_t price_cents_per_hour) {
  // The same claim-before-request discipline as the Lambda launch above, for any provider.
  if (job.id.empty()) job.id = Registry::new_job_id();
  InstanceRecord rec;
  rec.name = spec.name.empty() ? Registry::instance_name(job.id) : spec.name;
  rec.type = spec.type;
  rec.region = spec.region;
  rec.price_cents_per_hour = price_cents_per_hour;
  rec.launched_at = unix_now();
  rec.status = "launching";
  job.provider = p.name();
  job.instance = rec;
  job.state = "launching";
  job.pid = (int)::getpid();
  job.pid_start = process_start_token(job.pid);
  reg.save(job);
  LaunchSpec s = spec;
  s.name = rec.name;
  try {
    LaunchOutcome r = p.launch(s);
    job.instance->id = r.id;
    job.instance->region = r.region;
    job.instance->status = "booting";
    job.state = "starting";
    reg.save(job);
    return r;
  } catch (...) {
    job.state = "failed";
    job.instance->status = "not launched";
    job.extra["error"] = "launch failed";
    reg.save(job);
    throw;
  }
}

std::vector<FleetRow> fleet(LambdaApi* api, const Registry& reg) {
  if (!api) return fleet(std::vector<CloudProvider*>{}, reg);
  LambdaProvider p(*api);
  return fleet(std::vector<CloudProvider*>{&p}, reg);
}

std::vector<FleetRow> fleet(const std::vector<CloudProvider*>& providers, const Registry& reg) {
  std::vector<FleetRow> rows;
  std::vector<Machine> live;
  std::vector<std::string> live_provider;  // parallel to live
  std::map<std::string, bool> listed;      // providers whose machines were listed
  for (CloudProvider* p : providers) {
    for (auto& m : p->list()) {
      live.push_back(std::move(m));
      live_provider.push_back(p->name());
    }
    listed[p->name()] = true;
  }
  std::map<std::string, const Machine*> by_id, by_name;
  for (const auto& i : live) {
    by_id[i.id] = &i;
    if (!i.name.empty()) by_name[i.name] = &i;
  }
  std::map<std::string, bool> shown;
  double now = unix_now();

  auto jobs = reg.list();
  for (const auto& j : jobs) {
    FleetRow r;
    r.job_id = j.id;
    r.job_name = j.name;
    r.job_state = j.state;
    r.provider = j.instance ? j.provider : "host";
    r.ours = true;
    if (j.instance) {
      const auto& i = *j.instance;
      const bool api = listed.count(j.provider) > 0;
      r.instance_id = i.id;
      r.instance_name = i.name;
      r.region = i.region;
      r.type = i.type;
      r.status = i.status;
      r.price_cents_per_hour = i.price_cents_per_hour;
      // No id: the launch never answered (crash, ambiguous failure); the unique name still finds it.
      const Machine* match = nullptr;
      if (i.id.empty()) {
        if (auto f = by_name.find(i.name); f != by_name.end()) match = f->second;
      } else if (auto f = by_id.find(i.id); f != by_id.end()) {
        match = f->second;
      }
      if (match) {
        r.instance_id = match->id;
        r.status = match->status;
        shown[match->id] = true;
      } else if (api && !i.id.empty() && i.terminated_at == 0) {
        r.status = "gone";  // not listed any more: terminated (by us or elsewhere)
      }
      double end = i.terminated_at > 0 ? i.terminated_at : (r.status == "gone" ? j.updated_at : now);
      if (i.launched_at > 0 && !r.instance_id.empty()) {
        r.running_s = std::max(0.0, end - i.launched_at);
        const int gran = j.extra.contains("ledger") ? j.extra["ledger"].value("billing_granularity_s", 60) : 60;
        r.running_cost_usd = billed_cost_usd(i.price_cents_per_hour, r.running_s, gran);
      }
      r.orphan = !owns_instance(j) && match && !match->gone;
      if (r.orphan) r.why = orphan_reason(j);
    }
    rows.push_back(r);
  }
  for (size_t k = 0; k < live.size(); ++k) {
    const Machine& i = live[k];
    if (shown.count(i.id)) continue;
    FleetRow r;
    r.provider = live_provider[k];
    r.instance_id = i.id;
    r.instance_name = i.name;
    r.region = i.region;
    r.type = i.type;
    r.status = i.status;
    r.price_cents_per_hour = i.price_cents_per_hour;
    r.ours = Registry::job_id_from_instance_name(i.name).has_value();
    r.orphan = r.ours && !i.gone;
    if (r.orphan) r.why = "no job record";
    if (r.ours) r.job_id = *Registry::job_id_from_instance_name(i.name);
    r.job_state = r.ours ? "unknown (not in this registry)" : "not yolocpp's";
    rows.push_back(r);
  }
  return rows;
}

std::string format_fleet(const std::vector<FleetRow>& rows) {
  if (rows.empty()) return "no cloud jobs or instances\n";
  std::string out = fmt::format("{:<24} {:<14} {:<12} {:<8} {:<18} {:<12} {:<12} {:>10} {:>9}\n", "job", "name",
                                "state", "provider", "instance", "region", "status", "running", "cost");
  double total = 0;
  for (const auto& r : rows) {
    std::string inst = r.instance_id.empty() ? "-" : r.instance_id.substr(0, 12) + "..";
    out += fmt::format("{:<24} {:<14} {:<12} {:<8} {:<18} {:<12} {:<12} {:>10} {:>9}{}\n",
                       r.job_id.empty() ? "-" : r.job_id, r.job_name.empty() ? "-" : r.job_name, r.job_state,
                       r.provider.empty() ? "-" : r.provider, inst, r.region.empty() ? "-" : r.region,
                       r.status.empty() ? "-" : r.status, r.running_s > 0 ? format_duration(r.running_s) : "-",
                       r.running_s > 0 ? fmt::format("${:.2f}", r.running_cost_usd) : "-",
                       r.orphan ? "  <- orphan (" + r.why + "): `yolocpp cloud gc` terminates it" : "");
    total += r.running_cost_usd;
  }
  out += fmt::format("total so far: ${:.2f}\n", total);
  return out;
}

void finish_cost_file(JobRecord& job) {
  // The ledger a dead or failed client left in the record, closed now, and cost.json in its run folder.
  if (!job.extra.contains("ledger") || !job.extra.contains("conn")) return;
  try {
    Ledger l = Ledger::from_json(job.extra["ledger"]);
    l.mark_terminated(Ledger::Clock::now(), "terminated by gc/down");
    job.extra["ledger"] = l.to_json();
    std::string dir = job.extra["conn"].value("local_dir", "");
    if (!dir.empty()) {
      std::filesystem::create_directories(dir);
      l.write(std::filesystem::path(dir) / "cost.json");
      log::info("wrote {}/cost.json (${:.2f})", dir, l.total_cost_usd());
    }
  } catch (const std::exception& e) {
    log::warn("could not write the cost file of job {}: {}", job.name, e.what());
  }
}

std::string down(LambdaApi& api, Registry& reg, const std::string& key, double timeout_s, double poll_s) {
  LambdaProvider p(api);
  return down(p, reg, key, timeout_s, poll_s);
}

std::string down(CloudProvider& api, Registry& reg, const std::string& key, double timeout_s, double poll_s) {
  std::optional<JobRecord> job = reg.find(key);
  std::string id;
  if (job && job->instance && !job->instance->id.empty()) {
    id = job->instance->id;
  } else if (job && job->instance) {
    // The launch never answered with an id: find the instance by its name.
    auto found = api.find_by_name(job->instance->name);
    if (!found.empty()) id = found[0].id;
  }
  if (id.empty()) {
    // A bare id (Lambda: 32 hex; RunPod: short alphanumerics) that the provider knows.
    bool id_like = !key.empty() && key.size() <= 64 && key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") == std::string::npos;
    if (id_like)
      if (auto i = api.find(key); i && !i->gone) id = i->id;
  }
  if (id.empty()) {
    auto found = api.find_by_name(key);
    if (!found.empty()) id = found[0].id;
  }
  if (id.empty())
    throw CloudError("`yolocpp cloud down name=" + key + "`: no job, run name, instance id or instance name matches; "
                     "`yolocpp cloud ls` lists them");
  if (!job) job = reg.owner_of(id);
  log::info("terminating instance {}", id);
  api.terminate_and_confirm(id, timeout_s, poll_s);
  if (job) {
    if (job->instance) {
      job->instance->id = id;
      job->instance->terminated_at = unix_now();
      job->instance->status = "terminated";
    }
    if (is_live_state(job->state) || job->state == "terminate-failed") job->state = "terminated";
    finish_cost_file(*job);
    reg.save(*job);
  }
  return id;
}

std::vector<std::string> gc(LambdaApi& api, Registry& reg, bool dry_run, double poll_s) {
  LambdaProvider p(api);
  return gc(p, reg, dry_run, poll_s);
}

std::vector<std::string> gc(CloudProvider& api, Registry& reg, bool dry_run, double poll_s) {
  std::vector<std::string> done;
  for (const auto& i : api.list()) {
    auto job_id = Registry::job_id_from_instance_name(i.name);
    if (!job_id || i.gone) continue;  // not ours, or already going
    std::optional<JobRecord> owner = reg.owner_of(i.id);
    if (!owner) owner = reg.owner_of(i.name);
    if (!owner) owner = reg.load(*job_id);
    if (owner && owns_instance(*owner)) continue;
    log::warn("{} {} instance {} ({}, {}){}", dry_run ? "would terminate orphaned" : "terminating orphaned",
              api.display(), i.id, i.name, i.type,
              owner ? " of job " + owner->name + " [" + owner->id + "]: " + orphan_reason(*owner) : " (no job record)");
    done.push_back(i.id);
    if (dry_run) continue;
    api.terminate_and_confirm(i.id, 600, poll_s);
    if (owner) {
      if (!owner->instance) owner->instance = InstanceRecord{};
      owner->instance->id = i.id;
      owner->instance->name = i.name;
      owner->instance->terminated_at = unix_now();
      owner->instance->status = "terminated";
      if (is_live_state(owner->state) || owner->state == "terminate-failed") owner->state = "terminated";
      finish_cost_file(*owner);
      reg.save(*owner);
    }
  }
  return done;
}

}  // namespace yolocpp::cloud
