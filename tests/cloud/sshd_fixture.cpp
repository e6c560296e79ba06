#include "cloud/sshd_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "yolocpp/util/net.hpp"

namespace yolocpp::test {

namespace {


bool accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

void keygen(const fs::path& file) {
  fs::remove(file);
  fs::remove(file.string() + ".pub");
  auto r = run_cmd("ssh-keygen -q -t ed25519 -N '' -C yolocpp-test -f '" + file.string() + "'");
  if (r.rc != 0) throw std::runtime_error("ssh-keygen failed: " + r.out);
}

// Children of `pid` (from /proc), recursively: the per-connection sshd processes and their shells.
void descendants(pid_t pid, std::vector<pid_t>& out) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream st(e.path() / "stat");
    std::string line;
    if (!std::getline(st, line)) continue;
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    char state;
    int ppid = 0;
    if (std::sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) != 2) continue;
    if (ppid == pid) {
      pid_t child = std::stoi(name);
      out.push_back(child);
      descendants(child, out);
    }
  }
}

}  // namespace

bool SshdFixture::available() { return fs::exists("/usr/sbin/sshd") && run_cmd("command -v ssh-keygen").rc == 0; }

SshdFixture::SshdFixture(std::string login_shell) : shell_(std::move(login_shell)) {
  if (shell_.empty()) {
    const char* e = std::getenv("YOLOCPP_TEST_LOGIN_SHELL");
    shell_ = e && *e ? e : "/bin/bash";
  }
  const passwd* pw = ::getpwuid(::getuid());
  user_ = pw ? pw->pw_name : "root";
  fs::create_directories(home());
  fs::create_directories(bin_dir());
  keygen(tmp_ / "host_ed25519");
  keygen(client_key());
  fs::copy_file(client_key().string() + ".pub", tmp_ / "authorized_keys");
  port_ = util::free_loopback_port();
  std::ofstream cfg(tmp_ / "sshd_config");
  cfg << "Port " << port_ << "\nListenAddress 127.0.0.1\n"
      << "HostKey " << (tmp_ / "host_ed25519").string() << "\n"
      << "PidFile " << (tmp_ / "sshd.pid").string() << "\n"
      << "AuthorizedKeysFile " << (tmp_ / "authorized_keys").string() << "\n"
      << "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
      << "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nPrintMotd no\nMaxStartups 100\n"
      << "MaxSessions 100\nLogLevel ERROR\nSubsystem sftp /usr/lib/openssh/sftp-server\n"
      << "ForceCommand " << (tmp_ / "login_shell").string() << "\n"
      << "Include " << (tmp_ / "sshd_env").string() << "\n";
  cfg.close();
  write_env();
  // The stand-in for the user's login shell: sshd hands every exec string to it (`SHELL -c CMD`), and the
  // sftp subsystem to sftp-server, exactly like a real login whose shell is `shell_`.
  std::ofstream ls(tmp_ / "login_shell");
  // A test can take SFTP away (a file NO_SFTP in the remote home) to make downloads fail.
  ls << "#!/bin/sh\ncase \"$SSH_ORIGINAL_COMMAND\" in\n  */sftp-server) [ -e \"$HOME/NO_SFTP\" ] && exit 1; "
        "exec /usr/lib/openssh/sftp-server ;;\nesac\n"
     << "exec " << shell_ << " -c \"$SSH_ORIGINAL_COMMAND\"\n";
  ls.close();
  fs::permissions(tmp_ / "login_shell", fs::perms::owner_all);
  // Privilege separation directory sshd insists on when started as root.
  if (::getuid() == 0) fs::create_directories("/run/sshd");
  start();
}

SshdFixture::~SshdFixture() {
  stop();
  // Remote jobs detach with setsid (they outlive the connection by design): end the ones this fixture's
  // sessions started, recognised by the fixture folder in their command line.
  const std::string mark = tmp_.path().string();
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = std::stoi(name);
    if (pid == ::getpid()) continue;
    std::ifstream in(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), {});
    if (cmd.find(mark) != std::string::npos) ::kill(pid, SIGKILL);
  }
}

void SshdFixture::start() {
  if (pid_ > 0) return;
  pid_t pid = ::fork();
  if (pid == 0) {
    std::string cfg = (tmp_ / "sshd_config").string(), log = (tmp_ / "sshd.log").string();
    ::execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-f", cfg.c_str(), "-E", log.c_str(), (char*)nullptr);
    ::_exit(127);
  }
  pid_ = pid;
  for (int i = 0; i < 100; ++i) {
    if (accepts(port_)) return;
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      std::ifstream in(tmp_ / "sshd.log");
      std::string log((std::istreambuf_iterator<char>(in)), {});
      throw std::runtime_error("sshd exited at start: " + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("sshd did not accept connections on port " + std::to_string(port_));
}

void SshdFixture::stop() {
  if (pid_ <= 0) return;
  std::vector<pid_t> kids;
  descendants(pid_, kids);
  ::kill(pid_, SIGKILL);
  for (pid_t k : kids) ::kill(k, SIGKILL);
  int st;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
  for (int i = 0; i < 100 && accepts(port_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

void SshdFixture::add_command(const std::string& name, const std::string& script) const {
  fs::path f = bin_dir() / name;
  std::ofstream(f) << script;
  fs::permissions(f, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
}

void SshdFixture::write_env() {
  std::ofstream env(tmp_ / "sshd_env");
  env << "SetEnv HOME=" << home().string() << " PATH=" << bin_dir().string()
      << ":/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin" << extra_env_ << "\n";
}

void SshdFixture::add_env(const std::string& kv) {
  extra_env_ += " " + kv;
  write_env();
  stop();
  start();
}

void SshdFixture::new_host_key() { keygen(tmp_ / "host_ed25519"); }

std::string SshdFixture::host_spec() const { return user_ + "@127.0.0.1:" + std::to_string(port_); }

cloud::SshTarget SshdFixture::target() const {
  cloud::SshTarget t = cloud::parse_host(host_spec(), 22);
  t.key_file = client_key();
  t.known_hosts = known_hosts();
  t.timeout_s = 10;
  return t;
}

}  // namespace yolocpp::test
