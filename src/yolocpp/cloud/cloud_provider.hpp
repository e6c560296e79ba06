// The provider interface the cloud job drives: everything `yolocpp cloud train/attach/ls/down/gc` needs from a
// GPU rental API, with Lambda Cloud (lambda_provider.cpp on top of LambdaApi) and RunPod (runpod_api.cpp) behind
// it. It is deliberately the small set of operations that decide money: a price for the machine asked for, a
// launch under a unique name that never makes two machines (an ambiguous create is resolved by listing and
// matching that name), the SSH endpoint once the machine answers, a terminate that is confirmed through the API,
// the shell functions the machine's own watchdog uses to terminate itself, and the billing granularity the
// cost ledger rounds to.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "yolocpp/cloud/ssh.hpp"

namespace yolocpp::config {
class Settings;
}

namespace yolocpp::cloud {

// A machine type and its price: Lambda's instance type, or RunPod's GPU type times gpu_count.
struct Offer {
  std::string type;  // the name the user gives as gpu= (gpu_1x_a100_sxm4, NVIDIA GeForce RTX 4090)
  std::string description;
  int gpus = 0;                      // GPUs of the machine
  int64_t price_cents_per_hour = 0;  // whole machine
  std::vector<std::string> regions;  // regions / data centers with capacity now (empty: sold out)
};

// One machine as the provider reports it, in provider-neutral words.
struct Machine {
  std::string id, name;
  std::string status;  // the provider's own word (booting, active / PROVISIONING, RUNNING, ...)
  std::string region, type;
  int gpus = 0;
  int64_t price_cents_per_hour = 0;
  std::string ssh_host;  // "" until SSH can be tried
  int ssh_port = 0;      // 0: the provider does not say (Lambda: always 22, setting ssh_port)
  bool ready = false;    // running and reachable: SSH may be tried
  bool gone = false;     // terminating or terminated: no longer billing (or about to stop)
  bool failed = false;   // will never become ready (unhealthy, ERROR, preempted)
};

struct LaunchSpec {
  std::string type;             // gpu=
  int gpu_count = 1;            // RunPod's gpu.count (Lambda: the type carries it)
  std::string region = "auto";  // a region / data center id, or auto
  std::string name;             // yolocpp-<job id>: unique, how an ambiguous create is resolved
  std::string public_key;       // the job's OpenSSH public key line
  std::string user_data;        // Lambda: cloud-init script (autodown); ignored where unsupported
  std::vector<std::string> file_system_names;  // Lambda: persistent filesystems attached at launch (same region)
};

struct LaunchOutcome {
  std::string id, region;
  bool adopted = false;  // the create answered ambiguously and the machine was found by name
  int attempts = 0;
};

// A persistent storage volume (Lambda filesystem, RunPod network volume): survives machines, bills until deleted.
struct Volume {
  std::string id, name, region;
  int64_t size_gb = 0;  // 0 where the provider does not size volumes (Lambda)
};

// Billing rules the ledger applies.
struct Billing {
  int granularity_s = 60;  // Lambda: per started minute; RunPod: per second
  std::string text;        // one line for cost.json ("per-minute increments (Lambda on-demand) ...")
};

// How the machine's own watchdog (autodown.cpp) talks to the provider: shell functions `my_id` (prints the
// machine's id, found by $NAME when the client has not written it yet) and `terminate REASON`, both using the
// script's `api METHOD PATH [BODY]` helper, which reads the key from the 0600 key file for each call.
struct WatchdogApi {
  std::string key_file_name;    // under ~/.config/yolocpp/ on the machine (lambda_api_key, runpod_api_key)
  std::string shell_functions;  // sh text defining my_id() and terminate()
};

class CloudProvider {
 public:
  virtual ~CloudProvider() = default;
  virtual std::string name() const = 0;     // "lambda", "runpod" (stored in the job record)
  virtual std::string display() const = 0;  // "Lambda", "RunPod" (messages)
  virtual std::string base_url() const = 0;
  virtual const std::string& api_key() const = 0;  // for the machine's watchdog only; never printed
  virtual std::string login_user() const = 0;      // ubuntu / root (YOLOCPP_CLOUD_USER overrides)
  virtual std::string boot_hint() const = 0;       // "Lambda takes ~3-5 min"
  virtual bool runs_user_data() const = 0;         // the watchdog can be armed at first boot (cloud-init)
  virtual Billing billing() const = 0;
  virtual WatchdogApi watchdog_api() const = 0;

  // Types and prices. CloudError naming the known types when `type` does not exist.
  virtual Offer offer(const std::string& type, int gpu_count = 1) = 0;
  // Launch with region fall-through; never two machines for one name (see the file comment).
  virtual LaunchOutcome launch(const LaunchSpec& spec) = 0;
  virtual std::vector<Machine> list() = 0;                                 // every machine of the account
  virtual std::vector<Machine> find_by_name(const std::string& name) = 0;  // not gone
  virtual std::optional<Machine> find(const std::string& id) = 0;          // nullopt: does not exist (any more)
  virtual Machine get(const std::string& id) = 0;
  // Polls until ready; failed / gone / timeout -> CloudError. on_poll sees every read (progress, Ctrl-C).
  virtual Machine wait_ready(const std::string& id, double timeout_s, double poll_s,
                             const std::function<void(const Machine&)>& on_poll) = 0;
  // Terminate, retried on transient errors, then polled until the provider confirms the machine is gone.
  virtual void terminate_and_confirm(const std::string& id, double timeout_s = 600, double poll_s = 5) = 0;

  // Persistent storage (Lambda filesystems, RunPod network volumes).
  virtual std::vector<Volume> volumes() = 0;
  virtual Volume create_volume(const std::string& name, int64_t size_gb, const std::string& region) = 0;
  virtual void delete_volume(const std::string& id) = 0;

  // The SSH target of a ready machine: its address and port, the login user, pinned under the machine id.
  SshTarget ssh_target(const Machine& m, int default_port, const fs::path& key) const;
};

// provider= values: "lambda" (default) and "runpod". ConfigError for anything else.
std::string provider_name(const config::Settings& s);
// The provider for `name`, with api_url from the settings when given (else that provider's default) and the
// key from its environment variable or 0600 key file.
std::unique_ptr<CloudProvider> make_provider(const std::string& name, const config::Settings& s);
// Providers whose key is available (for `cloud ls`/`gc` across providers); `name` set: only that one.
std::vector<std::unique_ptr<CloudProvider>> available_providers(const config::Settings& s);

}  // namespace yolocpp::cloud
