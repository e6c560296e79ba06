// The remote side of a cloud job: a folder per job under $HOME/yolocpp/jobs/<name>/ holding run.sh, train.log,
// pid and exit_code (spec §3.4). The trainer runs detached (setsid nohup, all three std streams redirected so
// the exec channel returns at once, SkyPilot #3803/#8945), so a dropped SSH connection or a killed local client
// never stops training; following the log is a separate, resumable `tail` by byte offset.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "yolocpp/cloud/ssh.hpp"

namespace yolocpp::cloud {

struct RemoteLayout {
  std::string home;  // absolute remote $HOME (resolved once, so SFTP and shell paths agree)
  std::string name;  // job name
  // A persistent filesystem's mount point ("" = none): what should outlive the instance (dataset archives,
  // the uploaded binary, the source build) goes under it, the per-job folders stay on the local disk.
  std::string persist;
  std::string root() const { return home + "/yolocpp"; }
  std::string store() const { return persist.empty() ? root() : persist + "/yolocpp"; }
  // The source build's folder for a build key: the machine's cache, or the filesystem when there is one.
  std::string build_dir(const std::string& key) const {
    return (persist.empty() ? home + "/.cache/yolocpp" : store() + "/builds") + "/yolocpp-" + key;
  }
  std::string job_dir() const { return root() + "/jobs/" + name; }
  std::string log() const { return job_dir() + "/train.log"; }
  std::string run_dir() const { return job_dir() + "/runs/" + name; }  // project=<job>/runs name=<name>
  std::string weights(const std::string& file) const { return run_dir() + "/weights/" + file; }
  std::string data_archive(const std::string& sha256) const { return store() + "/data/" + sha256.substr(0, 16) + ".tar.gz"; }
};

// The remote $HOME (printf "$HOME").
std::string remote_home(SshSession& ssh);

struct RemoteStatus {
  bool started = false;            // run.sh launched (pid file present)
  bool running = false;            // its process is alive
  std::optional<int> exit_code;    // written by run.sh when the trainer (and export) finished
  uint64_t log_bytes = 0;
};

// run.sh for `argv` (the full remote `yolocpp train ...` command line, then optionally an export command).
// Each element is shell-quoted; the script records its pid and writes exit_code atomically at the end.
std::string make_run_script(const RemoteLayout& l, const std::vector<std::string>& train_argv,
                            const std::vector<std::string>& after_argv = {});

// Uploads run.sh and starts it detached. Throws CloudError when it does not come up.
void start_job(SshSession& ssh, const RemoteLayout& l, const std::string& script);

RemoteStatus job_status(SshSession& ssh, const RemoteLayout& l);

// Kills the detached job (its process group) if it is still running.
void kill_job(SshSession& ssh, const RemoteLayout& l);

// Streams train.log from byte `offset` to `sink` until the job has exited and the whole log was delivered.
// Returns at least every `slice_s` seconds with `finished=false` so the caller can check budget and signals;
// call again with the returned offset. Survives nothing by itself: a dropped connection throws CloudError with
// `offset` advanced to what was delivered, and the caller reconnects and continues (no duplicate lines).
struct FollowResult {
  bool finished = false;
  uint64_t offset = 0;
};
FollowResult follow_log(SshSession& ssh, const RemoteLayout& l, uint64_t& offset,
                        const std::function<void(std::string_view)>& sink, int slice_s = 30);

// Arms a dead-man's switch on a machine we launched: `sudo -n shutdown -h +MINUTES`. Lambda bills a shut-down
// instance until it is terminated through the API (spec §5 q5), so this limits damage only where the provider
// stops billing on power-off; the local terminate remains the real guard. Returns false (with a warning) when
// sudo is not available without a password.
bool arm_watchdog(SshSession& ssh, double max_hours);

}  // namespace yolocpp::cloud
