// A real OpenSSH server on 127.0.0.1 for the cloud tests: its own host key, authorized key, port and config
// in a temporary folder, running as the current user. Sessions get HOME=<dir>/home (sshd SetEnv), so remote
// jobs write under the fixture's folder, never into the real home directory, and PATH=<dir>/bin:<system>, so a
// test can put fake remote commands (a recording `yolocpp`, an `nvidia-smi` listing GPUs) in bin_dir().
// Every command runs through a chosen login shell, as sshd runs it through the user's shell: bash by
// default (Lambda's Ubuntu images log in `ubuntu` with bash), or dash/any other via the constructor or
// YOLOCPP_TEST_LOGIN_SHELL. SFTP is offered as on those images (OpenSSH's sftp-server).
#pragma once
#include <sys/types.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/test_util.hpp"
#include "yolocpp/cloud/ssh.hpp"

namespace yolocpp::test {

class SshdFixture {
 public:
  // creates keys and config, starts sshd; `login_shell` "" = $YOLOCPP_TEST_LOGIN_SHELL or /bin/bash
  explicit SshdFixture(std::string login_shell = "");
  ~SshdFixture();  // stops sshd and every process it started
  SshdFixture(const SshdFixture&) = delete;
  SshdFixture& operator=(const SshdFixture&) = delete;

  static bool available();  // /usr/sbin/sshd and ssh-keygen are installed

  void start();              // same port; waits until it accepts connections
  void stop();               // kills the listener and its per-connection children (drops live sessions)
  void new_host_key();       // replaces the host key (takes effect at the next start())
  void add_env(const std::string& kv);  // one more NAME=value for remote sessions (restarts sshd)
  bool running() const { return pid_ > 0; }

  int port() const { return port_; }
  const std::string& user() const { return user_; }
  fs::path dir() const { return tmp_.path(); }
  fs::path home() const { return tmp_.path() / "home"; }         // the remote $HOME
  fs::path bin_dir() const { return tmp_.path() / "bin"; }       // first on the remote PATH (empty at start)
  // Writes an executable shell script `name` into bin_dir().
  void add_command(const std::string& name, const std::string& script) const;
  fs::path client_key() const { return tmp_.path() / "client_ed25519"; }
  fs::path known_hosts() const { return tmp_.path() / "known_hosts"; }  // the client's pin file
  std::string host_spec() const;  // user@127.0.0.1:port
  const std::string& login_shell() const { return shell_; }
  cloud::SshTarget target() const;

 private:
  void write_env();
  TempDir tmp_;
  std::string shell_;
  std::string extra_env_;
  std::string user_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Skips without sshd, except under CI=true, where a missing sshd is a failure (CI installs it).
#define YOLOCPP_REQUIRE_SSHD()                                                                          \
  do {                                                                                                  \
    if (!::yolocpp::test::SshdFixture::available()) {                                                   \
      const char* ci_ = std::getenv("CI");                                                              \
      if (ci_ && std::string(ci_) == "true") FAIL() << "CI=true but /usr/sbin/sshd is not installed";   \
      GTEST_SKIP() << "OpenSSH server (/usr/sbin/sshd) is not installed: apt install openssh-server";   \
    }                                                                                                   \
  } while (0)

}  // namespace yolocpp::test
