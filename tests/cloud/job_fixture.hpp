// The CloudJob fixture shared by the cloud job tests: a real sshd on loopback (the "instance", whose user logs
// in through bash unless a test asks for another shell), the fake Lambda API (which runs a launch's user_data
// on that same machine, as cloud-init would), a tiny synthetic dataset, and the yolocpp CLI run as a child.
// Every test ends with the fake's ledger showing no instance left running, and the API key nowhere but its
// key files.
#pragma once
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "cloud/fake_lambda.hpp"
#include "cloud/sshd_fixture.hpp"
#include "common/test_util.hpp"
#include "yolocpp/cloud/quote.hpp"
#include "yolocpp/cloud/secrets.hpp"

namespace yolocpp::test {

using cloud::quote::sh;

// A child process whose merged output is read line by line, so a test can act at a given point.
struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;
  std::string text;
  explicit Child(const std::string& cmd) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    pid = ::fork();
    if (pid == 0) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::close(fds[0]);
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
      ::_exit(127);
    }
    ::close(fds[1]);
    out = ::fdopen(fds[0], "r");
  }
  // Reads until `needle` appears (true) or EOF (false).
  bool wait_for(const std::string& needle) {
    char buf[4096];
    while (text.find(needle) == std::string::npos) {
      if (!std::fgets(buf, sizeof buf, out)) return false;
      text += buf;
    }
    return true;
  }
  int finish() {
    wait_for("\x01never");
    std::fclose(out);
    int st = 0;
    ::waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
};

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

inline bool exists_nonempty(const fs::path& p) { return fs::exists(p) && fs::file_size(p) > 0; }

class CloudJob : public ::testing::Test {
 protected:
  void SetUp() override {
    YOLOCPP_REQUIRE_SSHD();
    if (!fs::exists(YOLOCPP_BIN)) GTEST_SKIP() << "the yolocpp binary is not built: " << YOLOCPP_BIN;
    if (yolocpp("train help").rc != 0) GTEST_SKIP() << "this build has no `yolocpp train`";
    sshd = std::make_unique<SshdFixture>(login_shell());
    FakeLambda::Options o;
    o.ssh_port = sshd->port();
    o.user_home = sshd->home().string();
    o.user_path = sshd->bin_dir().string() + ":/usr/local/bin:/usr/bin:/bin";
    fake_options(o);
    fake = std::make_unique<FakeLambda>(o);
    // `exec env`: the CLI itself is the child (signals reach it, not a shell).
    env = "cd " + sh(work.path().string()) + " && exec env YOLOCPP_CONFIG_DIR=" + sh((work / "config").string()) +
          " YOLOCPP_CACHE_DIR=" + sh((work / "cache").string()) + " YOLOCPP_CLOUD_USER=" + sh(sshd->user()) + " ";
    ::setenv("YOLOCPP_CONFIG_DIR", (work / "config").c_str(), 1);
    cloud::save_api_key(fake->api_key(), work / "config" / "lambda_api_key");
    ::unsetenv("YOLOCPP_CONFIG_DIR");
    auto r = run_cmd(env + YOLOCPP_BIN + " synth out=demo images=12 imgsz=64 val_fraction=0.25 seed=3");
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  void TearDown() override {
    if (!fake) return;
    // Nothing may be left billing, whatever the test did.
    EXPECT_TRUE(fake->active_instances().empty()) << fake->active_instances().size() << " instance(s) still running";
    // The key is in its key file only: not in any other file we or the remote wrote.
    for (const fs::path& root : {work.path(), sshd->home()}) {
      for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (!e.is_regular_file() || e.path().filename() == "lambda_api_key") continue;
        std::ifstream in(e.path(), std::ios::binary);
        std::string data((std::istreambuf_iterator<char>(in)), {});
        EXPECT_EQ(data.find(fake->api_key()), std::string::npos) << "API key leaked into " << e.path();
      }
    }
  }
  std::string cloud_args(const std::string& name, int epochs) const {
    return "data=demo/dataset.yaml model=yolo11n.yaml epochs=" + std::to_string(epochs) +
           " imgsz=64 batch=4 workers=0 plots=False name=" + name + " api_url=" + fake->base_url() +
           " ssh_port=" + std::to_string(sshd->port()) + " ssh_key=" + sh(sshd->client_key().string()) +
           " bootstrap=upload";
  }
  std::string cli(const std::string& args) const { return env + YOLOCPP_BIN + " " + args; }
  virtual std::string login_shell() const { return ""; }  // "" = the fixture's default (bash)
  virtual void fake_options(FakeLambda::Options&) const {}  // a test's own settings for the fake
  // Waits until the fake has no instance left running (the watchdog's work), up to `seconds`.
  bool wait_no_active(double seconds) {
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (fake->active_instances().empty()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return fake->active_instances().empty();
  }

  TempDir work;
  std::unique_ptr<SshdFixture> sshd;
  std::unique_ptr<FakeLambda> fake;
  std::string env;
};


}  // namespace yolocpp::test
