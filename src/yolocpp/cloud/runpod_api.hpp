// RunPod REST v2 client (https://api.runpod.io/v2; RunPod's OpenAPI "Runpod REST API" 2.0.0) behind the provider
// interface. What it follows, because getting any of it wrong costs money or hangs a job:
//  - bare JSON bodies, lists wrapped ({"pods": [...]}), errors as RFC 9457 problem objects {title, status,
//    detail, errors?} with no machine-readable code: decisions branch on the HTTP status only;
//  - "no capacity" is a plain 400 (detail "There are no longer any instances available ..."): next data center;
//  - 429 carries Retry-After (integer seconds; 5 s when absent, as RunPod's own sample code assumes) and every
//    answer may carry the IETF draft RateLimit header, whose exhausted windows are waited out;
//  - POST /pods has no idempotency key and has answered 500 after creating a billed pod (transformerlab PR
//    #2305): a 5xx / timeout / odd answer is resolved by listing pods and matching the unique name, never by
//    creating blindly again;
//  - gpu.count is always sent (omitting it made every create fail, runpod-mcp PR #77), ports include 22/tcp
//    (direct SSH: the ssh.runpod.io proxy is PTY-only, no SFTP), the job's public key goes in env PUBLIC_KEY
//    (the official images' /start.sh installs it for root and starts sshd);
//  - a pod is ready when RUNNING *and* its 22/tcp mapping is published (ssh.direct, or runtime.ports), which
//    comes some seconds after RUNNING; ERROR is terminal;
//  - DELETE /pods/{id} answers 204; gone = 404, TERMINATED or absent from the list.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "yolocpp/cloud/cloud_provider.hpp"
#include "yolocpp/cloud/http.hpp"
#include "yolocpp/cloud/lambda_api.hpp"  // ApiError, RetryPolicy, check_api_url

namespace yolocpp::cloud {

struct RunPodOptions {
  std::string base_url = "https://api.runpod.io/v2";  // also https://v2-rest.runpod.io/v2
  std::string api_key;
  std::string user_agent;  // default yolocpp/<version> (linux; x86_64): the v2 edge rejects generic clients
  double timeout_s = 30;
  double create_timeout_s = 60;
  double connect_timeout_s = 10;
  double ambiguous_wait_s = 90;  // how long a create with no clear answer is searched for by name
  RetryPolicy retry;
  // An official RunPod PyTorch image (runpod/containers): sshd from /start.sh, torch from the cu128 wheel.
  std::string image = "runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2204";
  int disk_gb = 50;              // container disk; v2 documents no default, so it is always sent
  std::string cloud = "SECURE";  // Secure Cloud pods always have a public IP (direct SSH)
  std::string volume_id;         // optional network volume, mounted at /workspace
  std::function<void(double seconds)> sleep;
  std::shared_ptr<HttpClient> http;
};

// "runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2204" -> "12.8" (the host's CUDA must be at least the image's,
// else "OCI runtime create failed"); "" when the tag does not say.
std::string image_cuda_version(const std::string& image);

class RunPodApi : public CloudProvider {
 public:
  explicit RunPodApi(RunPodOptions opt);
  // api_url (if given) and the pod settings from `s`, key from RUNPOD_API_KEY or the 0600 key file.
  static std::unique_ptr<RunPodApi> from_settings(const config::Settings& s);

  std::string name() const override { return "runpod"; }
  std::string display() const override { return "RunPod"; }
  std::string base_url() const override { return opt_.base_url; }
  const std::string& api_key() const override { return opt_.api_key; }
  std::string login_user() const override { return "root"; }
  std::string boot_hint() const override { return "RunPod takes ~1-3 min, longer on a cold image pull"; }
  bool runs_user_data() const override { return false; }  // a container: no cloud-init
  Billing billing() const override;
  WatchdogApi watchdog_api() const override;

  Offer offer(const std::string& type, int gpu_count) override;
  LaunchOutcome launch(const LaunchSpec& spec) override;
  std::vector<Machine> list() override;
  std::vector<Machine> find_by_name(const std::string& name) override;
  std::optional<Machine> find(const std::string& id) override;
  Machine get(const std::string& id) override;
  Machine wait_ready(const std::string& id, double timeout_s, double poll_s,
                     const std::function<void(const Machine&)>& on_poll) override;
  void terminate_and_confirm(const std::string& id, double timeout_s, double poll_s) override;

  std::vector<Volume> volumes() override;
  Volume create_volume(const std::string& name, int64_t size_gb, const std::string& region) override;
  void delete_volume(const std::string& id) override;

  // DELETE /pods/{id}: true once accepted (204) or the pod is already gone (404). Transient errors retried.
  void terminate(const std::string& id, double deadline_s = 0);
  // The create body for one data center (exposed for tests).
  nlohmann::json create_body(const LaunchSpec& spec, const std::string& data_center) const;

 private:
  enum class Retry { Transient, RateLimitOnly };
  nlohmann::json call(const std::string& method, const std::string& path, const std::string& body, Retry retry,
                      double timeout_s);
  HttpResponse send(const std::string& method, const std::string& path, const std::string& body, double timeout_s);
  ApiError error_of(const std::string& method, const std::string& path, const HttpResponse& r) const;
  double backoff(int attempt, const HttpResponse& r) const;
  void pace(const HttpResponse& r);  // waits out an exhausted RateLimit window
  void sleep(double s);

  RunPodOptions opt_;
};

}  // namespace yolocpp::cloud
