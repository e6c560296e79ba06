#include "yolocpp/cloud/lambda_provider.hpp"

#include <cstdlib>

#include "yolocpp/util/log.hpp"

namespace yolocpp::cloud {

Machine machine_of(const Instance& i) {
  Machine m;
  m.id = i.id;
  m.name = i.name;
  m.status = i.status;
  m.region = i.region.name;
  m.type = i.type.name;
  m.gpus = i.type.gpus;
  m.price_cents_per_hour = i.type.price_cents_per_hour;
  m.ssh_host = i.ip;
  m.ready = i.ready();
  m.gone = i.gone();
  m.failed = i.status == "unhealthy" || i.status == "preempted";
  return m;
}

Billing LambdaProvider::billing() const {
  // On-demand instances bill in one-minute increments (docs.lambda.ai/public-cloud/billing).
  return {60, "per-minute increments (Lambda on-demand); meter from the launch request (upper bound)"};
}

WatchdogApi LambdaProvider::watchdog_api() const {
  // The instance finds its id by its unique name in GET /instances ({"data": [...]}) and terminates through
  // POST /instance-operations/terminate (an OS shutdown would not end Lambda's billing).
  WatchdogApi w;
  w.key_file_name = "lambda_api_key";
  w.shell_functions = R"SH(my_id() {
  if [ -s "$D/instance_id" ]; then cat "$D/instance_id"; return 0; fi
  api GET /instances | python3 -c '
import json, sys
try:
    data = json.load(sys.stdin)["data"]
except Exception:
    sys.exit(1)
for i in data:
    if isinstance(i, dict) and i.get("name") == sys.argv[1] and i.get("status") != "terminated":
        print(i.get("id", ""))
        break
' "$NAME" 2>/dev/null
}
terminate() {
  id=$(my_id)
  if [ -z "$id" ]; then log "cannot find the id of instance $NAME yet ($1)"; return 1; fi
  log "terminating instance $id through the API: $1"
  out=$(api POST /instance-operations/terminate "{\"instance_ids\": [\"$id\"]}" 2>&1)
  case "$out" in
    *terminated_instances*) log "terminate accepted"; return 0 ;;
  esac
  log "terminate not accepted: $(printf '%s' "$out" | head -c 300)"
  return 1
}
)SH";
  return w;
}

Offer LambdaProvider::offer(const std::string& type, int gpu_count) {
  (void)gpu_count;  // a Lambda type name carries its GPU count (gpu_8x_a100)
  InstanceTypeOffer o = api_.instance_type(type);
  Offer r;
  r.type = o.type.name;
  r.description = o.type.description;
  r.gpus = o.type.gpus;
  r.price_cents_per_hour = o.type.price_cents_per_hour;
  for (const auto& reg : o.regions_with_capacity) r.regions.push_back(reg.name);
  return r;
}

LaunchOutcome LambdaProvider::launch(const LaunchSpec& spec) {
  // Moved from launch_for_job/cloud_train: the key is registered with the account (Lambda launches name one
  // account key), then the launch with region fall-through.
  LaunchRequest req;
  req.region = spec.region;
  req.instance_type = spec.type;
  req.ssh_key_name = api_.ensure_ssh_key(spec.public_key);
  req.name = spec.name;
  req.user_data = spec.user_data;
  req.file_system_names = spec.file_system_names;
  LaunchResult r = api_.launch_auto(req);
  return {r.instance_id, r.region, r.adopted, r.attempts};
}

std::vector<Machine> LambdaProvider::list() {
  std::vector<Machine> out;
  for (const auto& i : api_.list_instances()) out.push_back(machine_of(i));
  return out;
}

std::vector<Machine> LambdaProvider::find_by_name(const std::string& name) {
  std::vector<Machine> out;
  for (const auto& i : api_.find_by_name(name)) out.push_back(machine_of(i));
  return out;
}

std::optional<Machine> LambdaProvider::find(const std::string& id) {
  auto i = api_.find_instance(id);
  if (!i) return std::nullopt;
  return machine_of(*i);
}

Machine LambdaProvider::get(const std::string& id) { return machine_of(api_.get_instance(id)); }

Machine LambdaProvider::wait_ready(const std::string& id, double timeout_s, double poll_s,
                                   const std::function<void(const Machine&)>& on_poll) {
  return machine_of(api_.wait_active(id, timeout_s, poll_s, [&](const Instance& i) {
    if (on_poll) on_poll(machine_of(i));
  }));
}

void LambdaProvider::terminate_and_confirm(const std::string& id, double timeout_s, double poll_s) {
  api_.terminate_and_confirm(id, timeout_s, poll_s);
}

// Lambda persistent filesystems (GET /file-systems, POST /filesystems, DELETE /filesystems/{id}) belong to
// LambdaApi, where the filesystem= work adds them; until that lands here the hook says so plainly.
// Lambda filesystems as volumes: not sized (billed per GiB used), region-locked, attached only at launch.
std::vector<Volume> LambdaProvider::volumes() {
  std::vector<Volume> out;
  for (const auto& f : api_.list_filesystems()) out.push_back({f.id, f.name, f.region, 0});
  return out;
}
Volume LambdaProvider::create_volume(const std::string& name, int64_t, const std::string& region) {
  Filesystem f = api_.create_filesystem(name, region);
  return {f.id, f.name, f.region, 0};
}
void LambdaProvider::delete_volume(const std::string& id) {
  throw CloudError("yolocpp does not delete Lambda filesystem " + id + ": delete it in the Lambda console "
                   "(it holds the data of every job that used it)");
}

}  // namespace yolocpp::cloud
