// SSH transport on libssh 0.10: key authentication, host keys pinned trust-on-first-use in yolocpp's own
// known_hosts file (never the user's ~/.ssh/known_hosts: cloud IPs are reused by other machines, spec §4.1),
// keepalives, reconnect with backoff, and exec with streamed stdout/stderr and the exit status.
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "yolocpp/util/error.hpp"

namespace yolocpp::cloud {

namespace fs = std::filesystem;

// The server presented a key different from the one pinned for this machine: possibly a different machine
// behind a reused IP, possibly an attack. Never retried.
struct HostKeyError : CloudError { using CloudError::CloudError; };
// The server refused our key: retrying will not help; the message names the user, host and key file.
struct AuthError : CloudError { using CloudError::CloudError; };
// The user (SIGINT/SIGTERM) or the job asked to stop: every blocking loop checks the flag and throws this.
struct Cancelled : CloudError { using CloudError::CloudError; };

// A process-wide stop flag, set by the CLI's signal handler (async-signal-safe: a lock-free atomic).
std::atomic<bool>& stop_flag();
void throw_if_stopped(const char* what);

struct SshTarget {
  std::string user;          // login user (Lambda images: ubuntu)
  std::string host;          // address
  int port = 22;
  fs::path key_file;         // private key; empty: ssh-agent / ~/.ssh default keys
  fs::path known_hosts;      // yolocpp's pin file; empty: config_dir()/known_hosts
  std::string host_id;       // pin name: the instance id for launched machines, else "host:port"
  double timeout_s = 30;     // connect and per-operation timeout
  double keepalive_s = 15;   // send an SSH ignore packet when a stream was idle this long
  // While a blocking operation runs, a link that delivers nothing (no byte read, no byte accepted) for this
  // long is cut, so the operation fails like a dropped connection and the caller reconnects: a blackholed
  // link (no FIN, no RST) is noticed in under a minute instead of hanging for as long as it stays silent.
  double stall_s = 45;
};

// "user@addr[:port]" (user defaults to $USER, port to `default_port`); "[v6addr]:port" works too.
SshTarget parse_host(const std::string& spec, int default_port);

// The yolocpp-generated ed25519 key (config_dir()/id_ed25519), created 0600 from the start if missing.
fs::path ensure_default_key();
// "ssh-ed25519 AAAA..." public key line for a private key file (for registering it with the provider).
std::string public_key_of(const fs::path& private_key);

// Looks up / pins host keys in the yolocpp known_hosts file ("<host_id> <type> <base64>" per line).
// Returns true when the key was newly pinned; throws HostKeyError when `host_id` is pinned to another key.
bool check_and_pin_host_key(const fs::path& known_hosts, const std::string& host_id, const std::string& type,
                            const std::string& base64);
// Forgets a pin (after `cloud down`: the instance id will never come back).
void forget_host_key(const fs::path& known_hosts, const std::string& host_id);
fs::path default_known_hosts();

struct ExecResult {
  int status = -1;   // remote exit status (-1: killed by a signal / unknown)
  std::string out, err;
};

class SshSession {
 public:
  explicit SshSession(SshTarget t);
  ~SshSession();
  SshSession(const SshSession&) = delete;
  SshSession& operator=(const SshSession&) = delete;

  const SshTarget& target() const { return t_; }
  // One attempt: TCP connect, host key check/pin, authentication. Throws CloudError / HostKeyError.
  void connect();
  // Tries connect() until it works or `timeout_s` passes, with exponential backoff (1 s .. 10 s). A host-key
  // mismatch or an authentication refusal is not retried (it will not fix itself). Honors stop_flag().
  void connect_retry(double timeout_s, const std::function<void(const std::string&)>& on_retry = {});
  bool connected() const;
  void disconnect();

  using Sink = std::function<void(std::string_view)>;
  // Runs `cmd` (already quoted with quote::sh) and streams its output; returns the exit status. `input` is
  // written to its stdin, then EOF. A dropped connection throws CloudError; stop_flag() throws Cancelled.
  int exec(const std::string& cmd, const Sink& on_out, const Sink& on_err, std::string_view input = {});
  // Same, capturing both streams.
  ExecResult run(const std::string& cmd, std::string_view input = {});
  // run() that throws CloudError with the command's stderr when the exit status is not 0.
  std::string check(const std::string& cmd, std::string_view input = {});

  // Streams `total` bytes produced by `source` (fills the buffer, returns bytes written, 0 at end) into the
  // stdin of `cmd`; `progress(bytes_sent)`. Returns the exit status. Used for uploads (see sftp.hpp).
  int exec_upload(const std::string& cmd, const std::function<size_t(char*, size_t)>& source,
                  const std::function<void(uint64_t)>& progress, std::string* err_out = nullptr);

  void* raw_session();  // ssh_session, for sftp.cpp

  // Marks one blocking operation (sftp.cpp's reads; stream() uses it itself). While one is open, a watchdog
  // thread cuts the connection when nothing moved for the stall time, or at once when stop_flag() is set, so
  // no libssh call can block past a dead link or a Ctrl-C. `stall_s` <= 0: the target's stall_s.
  class Busy {
   public:
    explicit Busy(SshSession& s, double stall_s = 0);
    ~Busy();
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

   private:
    SshSession& s_;
    double prev_;
  };
  // Data moved (read from or accepted by the server): resets the stall timer.
  void alive();
  // True when the last drop was the watchdog's doing (stall or stop), for the error message.
  bool cut_by_watchdog() const;

 private:
  // The one exec loop: input from `source` (may be empty), then output until EOF, keepalives while idle.
  int stream(const std::string& cmd, const std::function<size_t(char*, size_t)>& source,
             const std::function<void(uint64_t)>& progress, const Sink& on_out, const Sink& on_err);
  // Closes the session (freeing `*channel` with it, which is then nulled) and throws CloudError.
  [[noreturn]] void dropped(const std::string& cmd, const char* during, void** channel = nullptr);
  struct Impl;
  SshTarget t_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace yolocpp::cloud
