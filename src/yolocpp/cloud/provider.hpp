// Fleet operations on top of LambdaApi + Registry: the launch of a job's instance with its registry claim,
// and the `cloud ls`, `cloud down NAME|ID` and `cloud gc` commands. These are the places where money leaks
// if done wrong, so each one ends by confirming through the API, not by trusting a 200.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "yolocpp/cloud/cloud_provider.hpp"
#include "yolocpp/cloud/lambda_api.hpp"
#include "yolocpp/cloud/registry.hpp"

namespace yolocpp::cloud {

struct JobLaunch {
  std::string gpu = "gpu_1x_a100_sxm4";
  std::string region = "auto";
  std::string ssh_key_name;  // from LambdaApi::ensure_ssh_key
  std::string user_data;     // optional cloud-init (never logged)
  std::vector<std::string> file_system_names;  // attached at launch (same region only)
};

// Writes the job's claim (state "launching", instance name yolocpp-<job id>, price) to the registry before
// the launch request, launches with region fall-through, then records the instance id and region (state
// "starting"). On a launch error the job is saved as "failed" with no instance id (nothing was created:
// LambdaApi::launch resolves ambiguous answers by name). Returns the launch result.
LaunchResult launch_for_job(LambdaApi& api, Registry& reg, JobRecord& job, const JobLaunch& how);
// The same for any provider (what cloud train uses): claim, launch (spec.name is set to yolocpp-<job id>),
// record. `price_cents_per_hour` from CloudProvider::offer.
LaunchOutcome launch_for_job(CloudProvider& p, Registry& reg, JobRecord& job, const LaunchSpec& spec,
                             int64_t price_cents_per_hour);

// One line of `cloud ls`: a registry job (with or without instance) or an instance seen through the API.
struct FleetRow {
  std::string job_id, job_name, job_state;
  std::string provider;          // lambda, runpod, host
  std::string instance_id, instance_name, region, type, status;  // status: API's, else last recorded
  int64_t price_cents_per_hour = 0;
  double running_s = 0;        // launch request -> terminated or now
  double running_cost_usd = 0; // per-minute billing
  bool ours = false;           // name has the yolocpp- prefix or the registry knows it
  bool orphan = false;         // ours, running, and no live job owns it (what gc would terminate)
  std::string why;             // why it is an orphan (client gone, job ended, terminate never confirmed)
};

// Jobs from the registry joined with the API's instance list (api may be null: registry only).
std::vector<FleetRow> fleet(LambdaApi* api, const Registry& reg);
// Across providers: each job is matched against its own provider's machines (JobRecord::provider).
std::vector<FleetRow> fleet(const std::vector<CloudProvider*>& providers, const Registry& reg);
std::string format_fleet(const std::vector<FleetRow>& rows);

// `cloud down NAME|ID`: the job (by id / run name / instance id / instance name) or a bare instance id or
// yolocpp- name; terminates and confirms via GET until 'terminated', then marks the job "terminated".
// Returns the instance id. CloudError when nothing matches.
std::string down(LambdaApi& api, Registry& reg, const std::string& name_or_id, double timeout_s = 600,
                 double poll_s = 5);
std::string down(CloudProvider& api, Registry& reg, const std::string& name_or_id, double timeout_s = 600,
                 double poll_s = 5);

// `cloud gc`: terminates (and confirms) every running instance whose name carries the yolocpp- prefix and
// that no live job owns — jobs that finished, failed, are unknown to this registry, or whose launching process
// died before the launch completed. keep=True jobs ("kept") are left alone. Returns the instance ids it
// terminated (dry_run: would terminate).
std::vector<std::string> gc(LambdaApi& api, Registry& reg, bool dry_run = false, double poll_s = 5);
std::vector<std::string> gc(CloudProvider& api, Registry& reg, bool dry_run = false, double poll_s = 5);

// Closes the ledger stored in a job record at "now" and writes cost.json into the job's local run folder
// (down and gc end jobs whose client could not).
void finish_cost_file(JobRecord& job);

}  // namespace yolocpp::cloud
