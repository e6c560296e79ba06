// bootstrap=source from an INSTALLED yolocpp, run from inside some other project's git checkout: the job must
// ship yolocpp's own source of exactly the running version (never the current directory's repository, never
// its install script), build it on the loopback "instance" against that machine's LibTorch, train, and reuse
// the build on the next job.
#include "cloud/job_fixture.hpp"

namespace yolocpp::test {
namespace {

class BootstrapSource : public CloudJob {
 protected:
  void SetUp() override {
    CloudJob::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // The installed yolocpp (binary + share/yolocpp/src), as a user's `cmake --install` leaves it.
    inst = work / "inst";
    auto r = run_cmd("cmake --install " + sh(YOLOCPP_BINARY_DIR) + " --prefix " + sh(inst.string()));
    ASSERT_EQ(r.rc, 0) << r.out;
    ASSERT_TRUE(fs::exists(inst / "share/yolocpp/src/yolocpp-src.tar.gz")) << r.out;
    // Another project's checkout, with a secret and an install script of its own.
    other = work / "other-project";
    fs::create_directories(other / "scripts");
    std::ofstream(other / ".env.production") << "DATABASE_PASSWORD=hunter2-do-not-ship\n";
    std::ofstream(other / "scripts/install-deps") << "#!/bin/sh\ntouch \"$HOME/OTHER_PROJECT_SCRIPT_RAN\"\n";
    fs::permissions(other / "scripts/install-deps", fs::perms::owner_all);
    ASSERT_EQ(run_cmd("cd " + sh(other.string()) + " && git init -q && git add -A && git -c user.email=a@b -c "
                      "user.name=t commit -qm x").rc, 0);
    fs::copy(work / "demo", other / "demo", fs::copy_options::recursive);
    // The "instance" compiles with this machine's compiler cache, as a warm persistent build would.
    auto dir = run_cmd("ccache --get-config cache_dir 2>/dev/null");
    if (dir.rc == 0 && !dir.out.empty()) {
      std::string d = dir.out.substr(0, dir.out.find('\n'));
      sshd->add_env("CCACHE_DIR=" + d);
    }
  }
  std::string installed_cli(const std::string& args) const {
    std::string e = env;
    e.replace(e.find(sh(work.path().string())), sh(work.path().string()).size(), sh(other.string()));
    return e + sh((inst / "bin/yolocpp").string()) + " " + args;
  }
  fs::path inst, other;
};

TEST_F(BootstrapSource, InstalledYolocppShipsItsOwnSourceBuildsThereAndReusesTheBuild) {
  std::string args = "cloud train data=demo/dataset.yaml model=yolo11n.yaml epochs=1 imgsz=64 batch=4 workers=0 "
                     "plots=False name=bs bootstrap=source host=" + sshd->host_spec() + " ssh_key=" +
                     sh(sshd->client_key().string());
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_cmd(installed_cli(args));
  double first = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.rc, 0) << r.out.substr(r.out.size() > 6000 ? r.out.size() - 6000 : 0);
  EXPECT_NE(r.out.find("remote: building yolocpp "), std::string::npos) << r.out.substr(0, 3000);
  EXPECT_TRUE(fs::exists(other / "runs/detect/bs/weights/best.pt"));
  // What was unpacked there is yolocpp's tree of this version, and nothing of the other project went along.
  bool found_marker = false;
  for (const auto& e : fs::recursive_directory_iterator(sshd->home())) {
    if (e.path().filename() == "YOLOCPP_SOURCE") found_marker = read_text(e.path()).rfind("yolocpp ", 0) == 0;
    if (e.is_regular_file() && e.path().filename() != "lambda_api_key") {
      EXPECT_NE(e.path().filename(), ".env.production") << e.path();
      if (e.file_size() < (1 << 20)) EXPECT_EQ(read_text(e.path()).find("hunter2-do-not-ship"), std::string::npos) << e.path();
    }
  }
  EXPECT_TRUE(found_marker);
  EXPECT_FALSE(fs::exists(sshd->home() / "OTHER_PROJECT_SCRIPT_RAN"));

  // The second job finds the build (same source, same LibTorch) and does not build again.
  t0 = std::chrono::steady_clock::now();
  auto again = run_cmd(installed_cli(args + " name=bs2"));
  double second = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(again.rc, 0) << again.out;
  EXPECT_NE(again.out.find("reusing the yolocpp build"), std::string::npos) << again.out;
  EXPECT_EQ(again.out.find("remote: building"), std::string::npos) << again.out;
  std::printf("[ info ] bootstrap=source on loopback: first job %.0f s (with the build), second %.0f s\n", first, second);
}

TEST_F(BootstrapSource, ABinaryWithoutItsSourceArchiveRefusesClearly) {
  fs::remove(inst / "share/yolocpp/src/yolocpp-src.tar.gz");
  auto r = run_cmd(installed_cli("cloud train data=demo/dataset.yaml model=yolo11n.yaml epochs=1 imgsz=64 name=ns "
                                 "bootstrap=source host=" + sshd->host_spec() + " ssh_key=" +
                                 sh(sshd->client_key().string())));
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("has no source archive of its own"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bootstrap=upload"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace yolocpp::test
