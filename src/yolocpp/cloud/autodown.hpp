// The instance's own dead-man's switch ("autodown", after SkyPilot's autostop/autodown): a small shell
// watchdog that terminates the instance THROUGH THE PROVIDER'S API (Lambda, RunPod), so it works whether or not
// the laptop that launched the job is still alive. Shutting the machine down would not do: Lambda bills a halted
// instance until it is terminated (docs.lambda.ai/public-cloud/billing), and a stopped RunPod pod still bills
// its disk (docs.runpod.io/pods/pricing).
//
// RunPod pods are containers without cloud-init: there the watchdog is armed over SSH as the first remote
// action, so until SSH answers only the client (and `cloud gc`) guards the pod.
//
// It is armed at boot by the launch request's `user_data` (cloud-init runs it as root before SSH is up, so a
// client killed between launch and SSH is covered too), and re-armed over SSH when user_data was not applied
// (host= machines never get one; `instance=` machines were launched by someone else). Every `every_s` it
// terminates the instance when
//   - max_hours since the launch request is reached, or
//   - the billed cost (price x started minutes since the launch request) would pass `budget` before its next
//     check, or
//   - no training runs and nothing happened for `idle_minutes` (the client's heartbeat, the end of the last
//     training, the watchdog's own start): training ended and nobody collected the results.
// The API key has no narrower scope on Lambda (spec §1.2), so it is on the instance while the job runs: in
// ~/.config/yolocpp/lambda_api_key, mode 0600, owned by the login user, read by the watchdog into a shell
// variable and handed to curl on stdin (`curl -K -`), never on a command line or in a log. The client deletes
// the file at normal teardown (the watchdog then exits). autodown=False turns all of this off (with a warning).
#pragma once
#include <cstdint>
#include <string>

#include "yolocpp/cloud/ssh.hpp"

namespace yolocpp::cloud {

struct AutodownPlan {
  std::string api_url;          // the API the watchdog calls (the job's api_url)
  std::string api_key;          // goes into the 0600 key file on the instance only
  std::string instance_name;    // yolocpp-<job id>: how the watchdog finds its own id before the client says
  std::string login_user = "ubuntu";  // whose home holds the files when cloud-init runs the script as root
  double launch_epoch = 0;      // unix seconds of the launch request: the meter's start
  int64_t price_cents_per_hour = 0;
  double budget_usd = 0;        // 0: no budget
  double max_hours = 0;         // 0: no limit
  double idle_minutes = 30;     // the autodown setting
  int billing_granularity_s = 60;  // the provider's billing unit (Lambda 60, RunPod 1): the budget rule rounds to it
  std::string key_file_name = "lambda_api_key";  // under ~/.config/yolocpp/ (CloudProvider::watchdog_api)
  std::string shell_functions;  // the provider's my_id() and terminate() (CloudProvider::watchdog_api)
  double every_s() const;       // check interval: min(30 s, idle/4), at least 1 s
};

// A bash script for the launch's user_data: writes the key file, the watchdog and its settings, starts it
// detached. Contains the API key (user_data is write-only in the API; cloud-init keeps a root-only copy).
std::string autodown_user_data(const AutodownPlan& p);

// Remote files (relative to the login user's $HOME).
inline const char* kAutodownDir = "yolocpp/autodown";

// Over SSH: tells the watchdog its instance id, and arms it (the user_data script piped to `bash -s`, so the
// key travels on stdin) when it is not running. Returns true when a watchdog runs afterwards.
bool ensure_autodown(SshSession& ssh, const AutodownPlan& p, const std::string& instance_id);
// The client is alive: touches the heartbeat the idle rule reads.
std::string autodown_heartbeat_cmd();
// Normal teardown: stops the watchdog and deletes the key file from the instance (best effort).
void disarm_autodown(SshSession& ssh, const std::string& key_file_name = "lambda_api_key");

}  // namespace yolocpp::cloud
