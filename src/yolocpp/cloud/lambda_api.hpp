// Lambda Cloud API v1 client (spec: /work/shared/spec/lambda-cloud.md §1). Every call goes through one
// request path that adds the Bearer key, unwraps the {"data": ...} envelope, turns {"error": {code, message,
// suggestion}} into ApiError, and retries only where a retry cannot create a second billable machine:
// GETs, terminate and SSH-key deletion on 429 / 5xx / timeouts; launch only on 429 (rejected before any work).
// An ambiguous launch (timeout, 5xx, lost connection) is resolved by listing instances and matching the unique
// name the caller chose (spec §1.8.1), never by launching again blindly.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "yolocpp/cloud/http.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::config { class Settings; }

namespace yolocpp::cloud {

struct Region {
  std::string name;         // code, e.g. us-west-2 (a free string: new codes appear)
  std::string description;  // e.g. "Virginia, USA"
};

struct InstanceType {
  std::string name;             // e.g. gpu_1x_a100_sxm4
  std::string description;      // e.g. "1x A100 (40 GB SXM4)"
  std::string gpu_description;  // "N/A" for CPU types
  int64_t price_cents_per_hour = 0;  // whole instance, not per GPU
  int vcpus = 0, memory_gib = 0, storage_gib = 0, gpus = 0;
};

struct InstanceTypeOffer {
  InstanceType type;
  std::vector<Region> regions_with_capacity;  // empty: sold out everywhere
};

struct Instance {
  std::string id;      // 32 hex
  std::string name;    // optional in the API: "" when absent
  std::string status;  // booting active unhealthy terminating terminated preempted
  std::string ip;      // "" while booting
  std::string private_ip, hostname;
  Region region;
  InstanceType type;
  std::vector<std::string> ssh_key_names, file_system_names;
  bool terminate_available = true;  // actions.terminate.available
  bool ready() const { return status == "active" && !ip.empty(); }
  bool gone() const { return status == "terminating" || status == "terminated"; }
};

// A persistent filesystem (NFS): region-locked, attached only at launch, billed per GiB used per month even
// when no instance mounts it. mount_point as the API reports it (default /lambda/nfs/<name>).
struct Filesystem {
  std::string id, name, mount_point, region;
  bool in_use = false;
  int64_t bytes_used = -1;  // optional in the API (refreshed every few hours): -1 when absent
};

// Lambda's rule for filesystem names: a letter first, then letters, digits and '-', at most 60 characters.
bool valid_filesystem_name(const std::string& name);

struct SshKey {
  std::string id, name, public_key;
  std::string private_key;  // only when Lambda generated the pair (shown once); registered as a secret
};

struct LaunchRequest {
  std::string region;         // a region code (not "auto": see launch_auto)
  std::string instance_type;  // e.g. gpu_1x_a100_sxm4
  std::string ssh_key_name;   // exactly one key per launch (spec)
  std::string name;           // unique per job (yolocpp-<job id>): how an ambiguous launch is resolved
  std::string hostname;       // optional
  std::string user_data;      // optional cloud-init; write-only, never logged
  std::vector<std::string> file_system_names;  // optional
};

struct LaunchResult {
  std::string instance_id;
  std::string region;
  bool adopted = false;  // the launch call failed ambiguously and the instance was found by name
  int attempts = 0;      // launch POSTs sent
  std::vector<std::string> regions_tried;
};

// An API (or transport) failure. `code` is the envelope's error.code ("global/invalid-api-key", ...) or a
// local one: "http/timeout", "http/transport", "http/edge-blocked", "http/<status>".
struct ApiError : CloudError {
  ApiError(const std::string& what, long http_status, std::string code, std::string suggestion = {})
      : CloudError(what), http_status(http_status), code(std::move(code)), suggestion(std::move(suggestion)) {}
  long http_status;
  std::string code;
  std::string suggestion;
  bool capacity() const { return code == "instance-operations/launch/insufficient-capacity"; }
  bool not_found() const { return http_status == 404 || code == "global/object-does-not-exist"; }
  bool transient() const;  // 429, 5xx, timeouts, transport errors
};

struct RetryPolicy {
  int max_attempts = 6;
  double base_delay_s = 2;    // exponential backoff: base, 2*base, 4*base, ...
  double max_delay_s = 60;    // also caps Retry-After
  double launch_interval_s = 12;  // Lambda allows one launch per 12 s (spec §1.4)
};

struct LambdaApiOptions {
  std::string base_url = "https://cloud.lambdalabs.com/api/v1";
  std::string api_key;
  std::string user_agent;        // default yolocpp/<version>
  double timeout_s = 30;         // GETs and terminate
  double launch_timeout_s = 60;  // the launch POST
  double connect_timeout_s = 10;
  // After an ambiguous launch answer, how long the instance list is searched for the launch's name before
  // the launch counts as not having happened (instances can appear late).
  double ambiguous_wait_s = 90;
  RetryPolicy retry;
  // Injected for tests; default: std::this_thread::sleep_for.
  std::function<void(double seconds)> sleep;
  std::shared_ptr<HttpClient> http;  // default: a libcurl client
};

// ConfigError unless `url` is https://, or http:// to this machine (where the key may go unencrypted).
void check_api_url(const std::string& url);

class LambdaApi {
 public:
  explicit LambdaApi(LambdaApiOptions opt);
  // api_url from the settings, key from LAMBDA_API_KEY or the key file (secrets.hpp).
  static LambdaApi from_settings(const config::Settings& s);

  const std::string& base_url() const { return opt_.base_url; }
  // The key this client sends (for the instance's autodown watchdog only; never printed).
  const std::string& api_key() const { return opt_.api_key; }

  // GET /instance-types: keyed by type name.
  std::map<std::string, InstanceTypeOffer> instance_types();
  // One type; CloudError listing the known names when it does not exist.
  InstanceTypeOffer instance_type(const std::string& name);

  // GET /instances, GET /instances/{id}. find_instance: nullopt on 404.
  std::vector<Instance> list_instances();
  Instance get_instance(const std::string& id);
  std::optional<Instance> find_instance(const std::string& id);
  std::vector<Instance> find_by_name(const std::string& name);  // non-terminated instances with that name

  // POST /instance-operations/launch, made safe: 429 -> wait and retry; capacity -> ApiError (capacity());
  // timeout / 5xx / transport -> list instances by req.name: adopt the one found, else report that no instance
  // exists and retry the launch (at most retry.max_attempts POSTs in all). Never two instances for one name.
  LaunchResult launch(const LaunchRequest& req);
  // region "auto": regions with capacity for the type from /instance-types, tried in turn, capacity errors
  // -> next region (capacity changes between the check and the launch, spec §1.8.2); a named region: only it.
  LaunchResult launch_auto(LaunchRequest req);

  // POST /instance-operations/terminate, retried on transient errors; an error for an instance that is
  // already terminating/terminated/404 counts as success (spec §1.7). Returns the reported instances.
  // `deadline_s` (steady-clock seconds, 0 = none): no retry starts after it.
  std::vector<Instance> terminate(const std::vector<std::string>& ids, double deadline_s = 0);
  // terminate(), then poll GET until 'terminated' or 404 (re-sending terminate every few polls while the
  // instance still claims to be running). Throws CloudError naming the id after `timeout_s`.
  void terminate_and_confirm(const std::string& id, double timeout_s = 600, double poll_s = 5);
  // POST /instance-operations/restart.
  std::vector<Instance> restart(const std::vector<std::string>& ids);

  // Polls GET /instances/{id} until active with an ip. unhealthy/terminated/preempted or timeout -> CloudError.
  Instance wait_active(const std::string& id, double timeout_s = 1800, double poll_s = 5,
                       const std::function<void(const Instance&)>& on_poll = {});

  // Filesystems: GET /file-systems (the list path has a hyphen), POST /filesystems (create has none).
  // create_filesystem is retried on transient errors; a retry that meets the name it just took
  // (global/duplicate) returns that filesystem.
  std::vector<Filesystem> list_filesystems();
  std::optional<Filesystem> find_filesystem(const std::string& name);
  Filesystem create_filesystem(const std::string& name, const std::string& region);

  // SSH keys: GET /ssh-keys, POST /ssh-keys (with a public key, or without one: Lambda generates the pair
  // and returns the private key once), DELETE /ssh-keys/{id} (404 after a retry counts as deleted).
  std::vector<SshKey> list_ssh_keys();
  SshKey add_ssh_key(const std::string& name, const std::string& public_key);
  SshKey generate_ssh_key(const std::string& name);
  void delete_ssh_key(const std::string& id);
  // The name of an account key whose public key equals `public_key` (whitespace-trimmed, comment ignored),
  // else adds it as "yolocpp-<sha256 prefix>" (spec §1.8.3). Returns the key name to launch with.
  std::string ensure_ssh_key(const std::string& public_key);

 private:
  enum class Retry { Transient, RateLimitOnly, Never };
  // Sends with auth + envelope handling; returns the "data" member. Throws ApiError (redacted).
  nlohmann::json call(const std::string& method, const std::string& path, const std::string& body, Retry retry,
                   double timeout_s);
  HttpResponse send(const std::string& method, const std::string& path, const std::string& body, double timeout_s);
  ApiError error_of(const std::string& method, const std::string& path, const HttpResponse& r) const;
  void sleep(double s);
  double backoff(int attempt, const HttpResponse& r) const;

  LambdaApiOptions opt_;
  double last_launch_ = -1e18;  // steady-clock seconds of the last launch POST
};

}  // namespace yolocpp::cloud
