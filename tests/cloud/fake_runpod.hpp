// A local stand-in for RunPod's REST v2 API (https://api.runpod.io/v2, OpenAPI "Runpod REST API" 2.0.0), served
// by cpp-httplib on 127.0.0.1. It follows that API including its inconvenient parts: bare JSON bodies with
// wrapped lists, RFC 9457 problem objects without any machine-readable code (no capacity is a plain 400 with
// RunPod's observed detail text), strict request bodies (an unknown field is a 422 naming it), a create without
// gpu.count failing like the live service did, IETF RateLimit headers and 429 + Retry-After, the status walk
// PROVISIONING -> STARTING -> RUNNING with the 22/tcp mapping published only some time after RUNNING, DELETE
// answering 204 and deleted pods answering 404. At RUNNING it does what the official images' /start.sh does with
// env PUBLIC_KEY: appends it to the "pod's" authorized_keys (the sshd fixture's), so SSH works only through the
// key the client injected. Every pod is kept in a ledger (per-second billing), so tests can assert that none is
// left running.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace yolocpp::test {

struct FakePod {
  std::string id, name, status, gpu, data_center, image;
  int gpu_count = 0;
  double cost_per_hr = 0;  // USD for the whole pod
  nlohmann::json env, ports;
  double created_at = 0, running_at = 0, ports_at = 0, terminated_at = -1;  // seconds since the fake started
};

class FakeRunPod {
 public:
  struct Options {
    std::string api_key = "rpa_FAKE0RUNPOD0KEY0c0ffee1234567890";
    int ssh_port = 22;            // the public port 22/tcp maps to (the sshd fixture's)
    double provision_s = 0.3;     // PROVISIONING -> STARTING
    double start_s = 0.3;         // STARTING -> RUNNING
    double ports_s = 0.6;         // RUNNING -> 22/tcp mapping published (ssh.direct, runtime.ports)
    std::string authorized_keys;  // where /start.sh's PUBLIC_KEY goes ("" = nowhere)
    int quota_per_minute = 600;   // RateLimit "minute" window
  };
  FakeRunPod();
  explicit FakeRunPod(Options o);
  ~FakeRunPod();
  FakeRunPod(const FakeRunPod&) = delete;
  FakeRunPod& operator=(const FakeRunPod&) = delete;

  std::string base_url() const;  // http://127.0.0.1:PORT/v2
  const std::string& api_key() const { return opt_.api_key; }

  // ---- catalogue and faults ------------------------------------------------------------------------------------
  // Data centers with stock for a GPU id (default: RTX 4090 in EU-RO-1 HIGH, US-TX-3 MEDIUM; A40 in EU-SE-1).
  void set_stock(const std::string& gpu, const std::vector<std::string>& data_centers);
  // Creates in `dc` answer the no-capacity 400 although the catalog lists stock there.
  void refuse_capacity(const std::string& dc);
  // The next `n` requests whose path (after /v2) starts with `prefix` answer 429 with Retry-After.
  void fail_429(int n, const std::string& prefix, int retry_after);
  // The next `n` creates make the pod (it bills) and then answer 500.
  void fail_create_after_creating(int n);
  // The next `n` DELETE /pods/{id} answer 500 and delete nothing.
  void fail_terminate(int n);

  // ---- inspection ----------------------------------------------------------------------------------------------
  std::vector<FakePod> pods();         // all, terminated ones included
  std::vector<FakePod> active_pods();  // not TERMINATED
  std::vector<nlohmann::json> create_bodies();
  std::vector<std::string> request_lines();   // "METHOD /path STATUS"
  std::vector<std::string> request_bodies();  // every body received (to check nothing secret was sent)
  int count(const std::string& event);        // create, capacity, 429, create-500, delete, delete-fail, start.sh
  double billed_usd(const std::string& id);   // per second, create -> terminate (or now)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Options opt_;
  int port_ = 0;
};

}  // namespace yolocpp::test
