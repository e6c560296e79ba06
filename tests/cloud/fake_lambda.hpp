// A local stand-in for the Lambda Cloud API v1 (spec /work/shared/spec/lambda-cloud.md §1), served by
// cpp-httplib on 127.0.0.1 with an ephemeral port. It follows the spec field by field (paths, {"data": ...}
// and {"error": {code, message, suggestion}} envelopes, Bearer/Basic auth check, instance lifecycle
// booting -> active -> terminating -> terminated) and keeps a ledger of every instance with timestamps, so tests
// can assert that nothing is left running. Its instances get ip 127.0.0.1; the SSH port is the test's
// (the remote-job tests start a real sshd there). Fault switches reproduce the failures the client must survive.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace yolocpp::test {

struct FakeInstance {
  std::string id, name, region, type, ssh_key_name, hostname;
  std::string status;           // as of the last read (see FakeLambda::instances)
  std::string user_data;        // as sent with the launch (write-only in the API)
  int64_t cents_per_hour = 0;
  double launched_at = 0;       // seconds since the fake started
  double active_at = 0;         // launched_at + boot_s
  double terminate_requested_at = -1, terminated_at = -1;
  std::vector<std::string> file_systems;  // names attached at launch
};

struct FakeFilesystem {
  std::string id, name, region, mount_point;
  double created_at = 0;
};

struct FakeEvent {
  double t;                // seconds since the fake started
  std::string what;        // "launch", "terminate", "active", "429", "5xx", "hang", "capacity", ...
  std::string detail;      // instance id, region, path
};

class FakeLambda {
 public:
  struct Options {
    std::string api_key = "fake-lambda-key-7f3a9c21d4e8b605";
    int ssh_port = 22;          // reported nowhere by the API (Lambda always uses 22); kept for the tests
    double boot_s = 0.3;        // booting -> active
    double terminate_s = 0.3;   // terminating -> terminated
    // user_data (cloud-init): like Lambda's images, the fake runs a launch's user_data when the instance
    // becomes active, as a script (`bash -s`, on stdin) of the "instance" user: the current user with this
    // HOME and PATH (the sshd fixture's), so an armed watchdog lives on the same machine the SSH tests reach.
    std::string user_home;      // "" = do not run user_data (it is still recorded)
    std::string user_path = "/usr/local/bin:/usr/bin:/bin";
    // Persistent filesystems (NFS). Lambda mounts one at /lambda/nfs/<name>, only on instances that attached it
    // at launch, and only while they run. The fake keeps each filesystem's files in <nfs_dir>/.store/<id> and
    // "mounts" it as the link <nfs_dir>/<name> while such an instance is active; the API reports that path as
    // mount_point (the client must use what the API says). "" = filesystems have no files behind them.
    std::string nfs_dir;
    // The instance's local disk is lost on terminate: every file under user_home goes when an instance
    // terminates (only for tests that say so: the loopback "instances" share one home).
    bool wipe_home_on_terminate = false;
  };
  FakeLambda();
  explicit FakeLambda(Options o);
  ~FakeLambda();
  FakeLambda(const FakeLambda&) = delete;
  FakeLambda& operator=(const FakeLambda&) = delete;

  std::string base_url() const;  // http://127.0.0.1:PORT/api/v1
  int port() const { return port_; }
  const std::string& api_key() const { return opt_.api_key; }
  int ssh_port() const { return opt_.ssh_port; }

  // ---- catalogue -------------------------------------------------------------------------------------------
  // Regions listed as having capacity for `type` in GET /instance-types (default: gpu_1x_a100_sxm4 in
  // us-west-2, us-east-1, us-south-1; gpu_1x_a10 in us-east-1; H100 types sold out).
  void set_capacity(const std::string& type, const std::vector<std::string>& regions);

  // ---- fault switches --------------------------------------------------------------------------------------
  // Launches in `region` answer 400 insufficient-capacity although /instance-types still lists the region
  // (capacity vanished between the check and the launch).
  void refuse_capacity(const std::string& region);
  // The next `n` launches create the instance, then hold the answer for `seconds` (longer than the client's
  // timeout): the client sees a timeout although the instance exists and bills.
  void hang_launches(int n, double seconds);
  // The next `n` requests whose path starts with `path_prefix` ("" = any) answer 429 (with Retry-After when
  // retry_after >= 0) / 503 provider/internal-unavailable, before doing any work.
  void fail_429(int n, const std::string& path_prefix = "", int retry_after = -1);
  void fail_5xx(int n, const std::string& path_prefix = "");
  // The next `n` terminate calls answer 500 global/unknown without terminating anything.
  void fail_terminate(int n);
  // New instances appear in GET /instances (and /instances/{id}) only `seconds` after their creation.
  void delay_listing(double seconds);
  // The next `n` launches create the instance, then answer 200 with `body` (an unexpected JSON shape).
  void odd_launch_answers(int n, const std::string& body);
  // An extra instance type (price in cents per hour for the whole instance), offered in `regions`.
  void add_type(const std::string& name, int64_t cents_per_hour, int gpus, const std::vector<std::string>& regions);

  // ---- direct manipulation ---------------------------------------------------------------------------------
  // An instance that exists without a launch through the API (e.g. left by a crashed earlier run).
  std::string add_instance(const std::string& name, const std::string& region = "us-west-2",
                           const std::string& type = "gpu_1x_a100_sxm4");
  void add_ssh_key(const std::string& name, const std::string& public_key);
  // A filesystem made outside the client (e.g. in the Lambda console). Returns its id.
  std::string add_filesystem(const std::string& name, const std::string& region);

  // ---- inspection ------------------------------------------------------------------------------------------
  std::vector<FakeInstance> instances();         // all, terminated ones included
  std::vector<FakeInstance> active_instances();  // every instance not yet 'terminated'
  std::vector<FakeEvent> events();
  std::vector<FakeFilesystem> filesystems();
  int count(const std::string& what);            // events with that `what`
  int launch_posts();                            // launch POSTs that reached the handler (faults included)
  std::vector<std::string> request_lines();      // "METHOD /path STATUS"
  std::vector<std::string> auth_headers_seen();  // raw Authorization values (to check what the client sends)
  // What Lambda bills for an instance: every started minute from launch to terminated (or now), in USD.
  double billed_usd(const std::string& id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Options opt_;
  int port_ = 0;
};

}  // namespace yolocpp::test
