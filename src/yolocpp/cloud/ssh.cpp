#include "yolocpp/cloud/ssh.hpp"

#include <fcntl.h>
#include <libssh/libssh.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "yolocpp/cloud/secrets.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cloud {

namespace {

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string where(const SshTarget& t) { return t.user + "@" + t.host + ":" + std::to_string(t.port); }

}  // namespace

std::atomic<bool>& stop_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

void throw_if_stopped(const char* what) {
  if (stop_flag().load()) throw Cancelled(std::string("interrupted during ") + what);
}

SshTarget parse_host(const std::string& spec, int default_port) {
  SshTarget t;
  t.port = default_port;
  std::string rest = spec;
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    t.user = rest.substr(0, at);
    rest = rest.substr(at + 1);
  } else {
    const char* u = std::getenv("USER");
    t.user = u && *u ? u : "root";
  }
  if (!rest.empty() && rest[0] == '[') {  // [v6]:port
    auto close = rest.find(']');
    if (close == std::string::npos) throw ConfigError("host=" + spec + ": missing ']' after the IPv6 address");
    t.host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest[0] == ':') rest = rest.substr(1);
    else rest.clear();
  } else if (auto colon = rest.find(':'); colon != std::string::npos && rest.find(':', colon + 1) == std::string::npos) {
    t.host = rest.substr(0, colon);
    rest = rest.substr(colon + 1);
  } else {
    t.host = rest;
    rest.clear();
  }
  if (!rest.empty()) {
    try {
      size_t used = 0;
      t.port = std::stoi(rest, &used);
      if (used != rest.size() || t.port <= 0 || t.port > 65535) throw std::invalid_argument("port");
    } catch (const std::exception&) {
      throw ConfigError("host=" + spec + ": '" + rest + "' is not a port number (use host=user@addr:port)");
    }
  }
  if (t.host.empty() || t.user.empty())
    throw ConfigError("host=" + spec + ": expected user@addr[:port], e.g. host=ubuntu@192.0.2.7");
  t.host_id = t.host + ":" + std::to_string(t.port);
  return t;
}

fs::path default_known_hosts() { return config_dir() / "known_hosts"; }

fs::path ensure_default_key() {
  fs::path key = config_dir() / "id_ed25519";
  if (fs::exists(key)) return key;
  fs::create_directories(key.parent_path());
  ssh_key k = nullptr;
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &k) != SSH_OK) throw CloudError("could not generate an ed25519 key");
  // Create the file 0600 before any key byte is written (libssh fopen()s an existing file without chmod).
  fs::path tmp = key.string() + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
  if (fd < 0) {
    ssh_key_free(k);
    throw CloudError("cannot create " + tmp.string() + ": check that " + key.parent_path().string() + " is writable");
  }
  ::close(fd);
  int rc = ssh_pki_export_privkey_file(k, nullptr, nullptr, nullptr, tmp.c_str());
  char* b64 = nullptr;
  ssh_pki_export_pubkey_base64(k, &b64);
  std::string pub = std::string("ssh-ed25519 ") + (b64 ? b64 : "") + " yolocpp\n";
  ssh_string_free_char(b64);
  ssh_key_free(k);
  if (rc != SSH_OK) {
    fs::remove(tmp);
    throw CloudError("could not write the generated key to " + tmp.string());
  }
  fs::rename(tmp, key);
  util::atomic_write(key.string() + ".pub", pub);
  log::info("generated the SSH key {} (used for cloud instances)", key.string());
  return key;
}

std::string public_key_of(const fs::path& private_key) {
  ssh_key k = nullptr;
  if (ssh_pki_import_privkey_file(private_key.c_str(), nullptr, nullptr, nullptr, &k) != SSH_OK)
    throw CloudError("ssh_key=" + private_key.string() +
                     ": cannot read this private key (missing, passphrase-protected or not an OpenSSH key)");
  char* b64 = nullptr;
  ssh_pki_export_pubkey_base64(k, &b64);
  std::string line = std::string(ssh_key_type_to_char(ssh_key_type(k))) + " " + (b64 ? b64 : "");
  ssh_string_free_char(b64);
  ssh_key_free(k);
  return line;
}

bool check_and_pin_host_key(const fs::path& known_hosts, const std::string& host_id, const std::string& type,
                            const std::string& base64) {
  std::string text;
  if (fs::exists(known_hosts)) text = util::read_file(known_hosts);
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, t, b;
    if (!(ls >> id >> t >> b) || id != host_id) continue;
    if (t == type && b == base64) return false;
    throw HostKeyError("the SSH host key of " + host_id + " changed (pinned " + t + " key in " +
                       known_hosts.string() + ", server now offers a different " + type +
                       " key): refusing to connect. If the machine was really reinstalled, remove the line for " +
                       host_id + " from that file; otherwise someone may be intercepting the connection");
  }
  fs::create_directories(known_hosts.parent_path());
  if (!text.empty() && text.back() != '\n') text += '\n';
  text += host_id + " " + type + " " + base64 + "\n";
  util::atomic_write(known_hosts, text);
  return true;
}

void forget_host_key(const fs::path& known_hosts, const std::string& host_id) {
  if (!fs::exists(known_hosts)) return;
  std::istringstream in(util::read_file(known_hosts));
  std::string line, out;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id;
    ls >> id;
    if (id != host_id) out += line + "\n";
  }
  util::atomic_write(known_hosts, out);
}

struct SshSession::Impl {
  ssh_session s = nullptr;
  bool up = false;
  double last_io = 0;
  // The stall watchdog (see SshTarget::stall_s). Atomics: the guard thread reads them while libssh blocks.
  std::atomic<double> last_alive{0};
  std::atomic<double> stall_s{0};    // > 0 while a Busy operation is open
  std::atomic<int> fd{-1};
  std::atomic<bool> cut{false};
  std::mutex m;
  std::condition_variable cv;
  bool quit = false;
  std::thread guard;

  void start_guard() {
    guard = std::thread([this] {
      std::unique_lock<std::mutex> lk(m);
      while (!cv.wait_for(lk, std::chrono::milliseconds(200), [this] { return quit; })) {
        double stall = stall_s.load();
        int f = fd.load();
        if (stall <= 0 || f < 0 || cut.load()) continue;
        // shutdown() (not close()) makes every pending and later read/write on the socket fail at once,
        // while libssh still owns the descriptor and frees it normally.
        if (stop_flag().load() || now_s() - last_alive.load() > stall) {
          cut.store(true);
          ::shutdown(f, SHUT_RDWR);
        }
      }
    });
  }
  void stop_guard() {
    {
      std::lock_guard<std::mutex> lk(m);
      quit = true;
    }
    cv.notify_all();
    if (guard.joinable()) guard.join();
  }
  void close() {
    fd.store(-1);
    if (s) {
      if (up) ssh_disconnect(s);
      ssh_free(s);
    }
    s = nullptr;
    up = false;
  }
};

SshSession::SshSession(SshTarget t) : t_(std::move(t)), impl_(std::make_unique<Impl>()) {
  if (t_.known_hosts.empty()) t_.known_hosts = default_known_hosts();
  if (t_.host_id.empty()) t_.host_id = t_.host + ":" + std::to_string(t_.port);
  impl_->start_guard();
}

SshSession::~SshSession() {
  impl_->stop_guard();
  impl_->close();
}

SshSession::Busy::Busy(SshSession& s, double stall_s) : s_(s), prev_(s.impl_->stall_s.load()) {
  s_.impl_->last_alive.store(now_s());
  s_.impl_->stall_s.store(stall_s > 0 ? stall_s : s.t_.stall_s);
}

SshSession::Busy::~Busy() { s_.impl_->stall_s.store(prev_); }

void SshSession::alive() { impl_->last_alive.store(now_s()); }

bool SshSession::cut_by_watchdog() const { return impl_->cut.load(); }

bool SshSession::connected() const { return impl_->up && impl_->s && ssh_is_connected(impl_->s); }
void SshSession::disconnect() { impl_->close(); }
void* SshSession::raw_session() { return impl_->s; }

void SshSession::connect() {
  impl_->close();
  ssh_session s = ssh_new();
  if (!s) throw CloudError("libssh: out of memory");
  impl_->s = s;
  long timeout = static_cast<long>(t_.timeout_s);
  int no = 0;
  ssh_options_set(s, SSH_OPTIONS_HOST, t_.host.c_str());
  ssh_options_set(s, SSH_OPTIONS_PORT, &t_.port);
  ssh_options_set(s, SSH_OPTIONS_USER, t_.user.c_str());
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
  // Our own pin file decides trust; the user's ~/.ssh/config and known_hosts must not change behaviour.
  ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
  ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
  ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
  if (ssh_connect(s) != SSH_OK) {
    std::string e = ssh_get_error(s);
    impl_->close();
    throw CloudError("cannot connect to " + where(t_) + ": " + e);
  }
  impl_->up = true;

  ssh_key srv = nullptr;
  if (ssh_get_server_publickey(s, &srv) != SSH_OK) {
    impl_->close();
    throw CloudError("no host key from " + where(t_));
  }
  char* b64 = nullptr;
  ssh_pki_export_pubkey_base64(srv, &b64);
  std::string type = ssh_key_type_to_char(ssh_key_type(srv));
  std::string key = b64 ? b64 : "";
  ssh_string_free_char(b64);
  ssh_key_free(srv);
  try {
    if (check_and_pin_host_key(t_.known_hosts, t_.host_id, type, key))
      log::info("pinned the {} host key of {} in {}", type, t_.host_id, t_.known_hosts.string());
  } catch (...) {
    impl_->close();
    throw;
  }

  int rc;
  if (!t_.key_file.empty()) {
    ssh_key k = nullptr;
    if (ssh_pki_import_privkey_file(t_.key_file.c_str(), nullptr, nullptr, nullptr, &k) != SSH_OK) {
      impl_->close();
      throw AuthError("ssh_key=" + t_.key_file.string() +
                      ": cannot read this private key (missing, passphrase-protected or not an OpenSSH key)");
    }
    rc = ssh_userauth_publickey(s, nullptr, k);
    ssh_key_free(k);
  } else {
    rc = ssh_userauth_publickey_auto(s, nullptr, nullptr);
  }
  if (rc != SSH_AUTH_SUCCESS) {
    std::string e = ssh_get_error(s);
    impl_->close();
    throw AuthError("SSH login to " + where(t_) + " refused for key " +
                    (t_.key_file.empty() ? std::string("(ssh-agent / ~/.ssh defaults)") : t_.key_file.string()) +
                    (e.empty() ? "" : ": " + e) + "; pass the right key with ssh_key=FILE");
  }
  // TCP keepalive as a second line of defence for silent network drops (SSH ignore packets are the first).
  int one = 1;
  socket_t fd = ssh_get_fd(s);
  if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  impl_->last_io = now_s();
  impl_->cut.store(false);
  impl_->fd.store(fd);
}

void SshSession::connect_retry(double timeout_s, const std::function<void(const std::string&)>& on_retry) {
  double deadline = now_s() + timeout_s, delay = 1;
  for (int attempt = 1;; ++attempt) {
    throw_if_stopped("SSH connect");
    try {
      connect();
      return;
    } catch (const HostKeyError&) {
      throw;
    } catch (const AuthError&) {
      throw;
    } catch (const CloudError& e) {
      if (now_s() + delay > deadline)
        throw CloudError(std::string(e.what()) + " (gave up after " + std::to_string(attempt) + " attempts)");
      if (on_retry) on_retry(e.what());
    }
    for (double slept = 0; slept < delay; slept += 0.1) {
      throw_if_stopped("SSH connect");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    delay = std::min(delay * 2, 10.0);
  }
}

namespace {

struct Channel {
  ssh_channel ch = nullptr;
  ~Channel() {
    if (ch) {
      ssh_channel_close(ch);
      ssh_channel_free(ch);
    }
  }
};

}  // namespace

void SshSession::dropped(const std::string& cmd, const char* during, void** channel) {
  std::string e = impl_->s ? ssh_get_error(impl_->s) : "not connected";
  // ssh_free() frees the session's channels: the caller's handle must not be closed afterwards.
  if (channel) *channel = nullptr;
  bool cut = impl_->cut.load();
  impl_->close();
  throw_if_stopped(during);
  if (cut)
    throw CloudError("SSH connection to " + where(t_) + " went silent " + during + " (nothing moved for " +
                     std::to_string(static_cast<int>(t_.stall_s)) + " s); cut it to reconnect");
  throw CloudError("SSH connection to " + where(t_) + " lost " + during + " (" + e + ")");
}

int SshSession::stream(const std::string& cmd, const std::function<size_t(char*, size_t)>& source,
                       const std::function<void(uint64_t)>& progress, const Sink& on_out, const Sink& on_err) {
  if (!connected()) dropped(cmd, "before a command");
  ssh_session s = impl_->s;
  Busy busy(*this, impl_->stall_s.load() > 0 ? impl_->stall_s.load() : 0);
  Channel c;
  c.ch = ssh_channel_new(s);
  if (!c.ch || ssh_channel_open_session(c.ch) != SSH_OK) dropped(cmd, "opening a channel", reinterpret_cast<void**>(&c.ch));
  if (ssh_channel_request_exec(c.ch, cmd.c_str()) != SSH_OK) dropped(cmd, "starting a command", reinterpret_cast<void**>(&c.ch));

  std::vector<char> out(64 * 1024);
  auto drain_nonblocking = [&] {
    for (int is_err = 0; is_err < 2; ++is_err) {
      int n = ssh_channel_read_nonblocking(c.ch, out.data(), out.size(), is_err);
      if (n == SSH_ERROR) dropped(cmd, "reading output", reinterpret_cast<void**>(&c.ch));
      if (n > 0) {
        const Sink& sink = is_err ? on_err : on_out;
        if (sink) sink(std::string_view(out.data(), n));
        impl_->last_io = now_s();
        alive();
      }
    }
  };

  // Input: big writes keep the channel window full (the throughput of uploads, spec §4.2).
  std::vector<char> in(256 * 1024);
  uint64_t sent = 0;
  while (true) {
    throw_if_stopped("a remote command");
    size_t n = source ? source(in.data(), in.size()) : 0;
    if (n == 0) break;
    for (size_t off = 0; off < n;) {
      int w = ssh_channel_write(c.ch, in.data() + off, static_cast<uint32_t>(n - off));
      if (w == SSH_ERROR || ssh_channel_is_closed(c.ch)) dropped(cmd, "sending data", reinterpret_cast<void**>(&c.ch));
      off += static_cast<size_t>(w);
      alive();
    }
    sent += n;
    impl_->last_io = now_s();
    if (progress) progress(sent);
    drain_nonblocking();
  }
  if (ssh_channel_send_eof(c.ch) == SSH_ERROR && !ssh_channel_is_closed(c.ch)) dropped(cmd, "closing input", reinterpret_cast<void**>(&c.ch));

  // Output until the remote closes its side.
  while (true) {
    throw_if_stopped("a remote command");
    int n = ssh_channel_read_timeout(c.ch, out.data(), out.size(), 0, 200);
    if (n == SSH_ERROR) dropped(cmd, "reading output", reinterpret_cast<void**>(&c.ch));
    if (n > 0) {
      if (on_out) on_out(std::string_view(out.data(), n));
      impl_->last_io = now_s();
      alive();
    }
    int m = ssh_channel_read_nonblocking(c.ch, out.data(), out.size(), 1);
    if (m == SSH_ERROR) dropped(cmd, "reading output", reinterpret_cast<void**>(&c.ch));
    if (m > 0) {
      if (on_err) on_err(std::string_view(out.data(), m));
      impl_->last_io = now_s();
      alive();
    }
    if (n <= 0 && m <= 0 && (ssh_channel_is_eof(c.ch) || ssh_channel_is_closed(c.ch))) break;
    if (now_s() - impl_->last_io > t_.keepalive_s) {
      // An ignore packet every idle interval keeps NAT/firewall state alive while a log is quiet.
      if (ssh_send_ignore(s, "yolocpp-keepalive") != SSH_OK) dropped(cmd, "sending a keepalive", reinterpret_cast<void**>(&c.ch));
      impl_->last_io = now_s();
    }
  }
  return ssh_channel_get_exit_status(c.ch);
}

int SshSession::exec(const std::string& cmd, const Sink& on_out, const Sink& on_err, std::string_view input) {
  return stream(
      cmd,
      [&](char* buf, size_t cap) -> size_t {
        size_t n = std::min(cap, input.size());
        std::memcpy(buf, input.data(), n);
        input.remove_prefix(n);
        return n;
      },
      {}, on_out, on_err);
}

ExecResult SshSession::run(const std::string& cmd, std::string_view input) {
  ExecResult r;
  r.status = exec(cmd, [&](std::string_view d) { r.out.append(d); }, [&](std::string_view d) { r.err.append(d); },
                  input);
  return r;
}

std::string SshSession::check(const std::string& cmd, std::string_view input) {
  ExecResult r = run(cmd, input);
  if (r.status != 0) {
    std::string err = r.err.empty() ? r.out : r.err;
    while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
    throw CloudError("remote command failed on " + t_.host_id + " (exit " + std::to_string(r.status) +
                     "): " + cmd.substr(0, 200) + (err.empty() ? "" : ": " + redact(err)));
  }
  return r.out;
}

int SshSession::exec_upload(const std::string& cmd, const std::function<size_t(char*, size_t)>& source,
                            const std::function<void(uint64_t)>& progress, std::string* err_out) {
  return stream(cmd, source, progress, {}, [&](std::string_view d) {
    if (err_out) err_out->append(d);
  });
}

}  // namespace yolocpp::cloud
