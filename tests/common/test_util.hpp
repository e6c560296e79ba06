// Helpers shared by all test folders: where the test data lives, temporary folders, running the CLI.
#pragma once
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sys/wait.h>
#include <string>

namespace yolocpp::test {

namespace fs = std::filesystem;

// Test data lives in two places (tests/fixtures/README.md):
// - tests/fixtures/ in the repository: the small Ultralytics cases (.json, .safetensors, images) and the
//   state-dict key list. Tests that need only these run on any clone and never skip.
// - ../shared beside the checkout (or $YOLOCPP_SHARED): the .pt/.onnx models and the datasets. Tests that need
//   it call YOLOCPP_REQUIRE_SHARED(): they skip where it is absent, and FAIL under CI=true, so a CI run can
//   never pass with its parity tests silently skipped. YOLOCPP_SHARED=off acts as a clone without it.
inline fs::path repo_fixtures_dir() { return fs::path(YOLOCPP_SOURCE_DIR) / "tests" / "fixtures" / "ultralytics"; }
inline fs::path repo_spec_dir() { return fs::path(YOLOCPP_SOURCE_DIR) / "tests" / "fixtures" / "spec"; }

// Empty path when absent.
inline fs::path shared_dir() {
  if (const char* e = std::getenv("YOLOCPP_SHARED"); e && *e) return std::string(e) == "off" ? fs::path() : fs::path(e);
  fs::path p = fs::path(YOLOCPP_SOURCE_DIR).parent_path() / "shared";
  return fs::exists(p / "fixtures") ? p : fs::path();
}
inline fs::path fixtures_dir() { auto s = shared_dir(); return s.empty() ? s : s / "fixtures" / "ultralytics"; }
inline fs::path datasets_dir() { auto s = shared_dir(); return s.empty() ? s : s / "datasets"; }

inline bool under_ci() {
  const char* e = std::getenv("CI");
  return e && std::string(e) == "true";
}

#define YOLOCPP_REQUIRE_SHARED()                                                                              \
  do {                                                                                                      \
    if (::yolocpp::test::shared_dir().empty()) {                                                            \
      if (::yolocpp::test::under_ci())                                                                      \
        GTEST_FAIL() << "CI=true but ../shared (Ultralytics models and datasets) is not beside this checkout; " \
                        "set YOLOCPP_SHARED to its path (a CI run must not pass with this test skipped)";   \
      GTEST_SKIP() << "../shared (Ultralytics models and datasets) is not beside this checkout; "           \
                      "set YOLOCPP_SHARED to its path to run this parity test";                             \
    }                                                                                                       \
  } while (0)

// A fresh temporary folder removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("yolocpp-test-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& s) const { return path_ / s; }

 private:
  fs::path path_;
};

struct CmdResult {
  int rc;
  std::string out;  // stdout and stderr together
};

// Runs a shell command line and captures its output.
inline CmdResult run_cmd(const std::string& cmd) {
  CmdResult r{-1, {}};
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// Runs the built `yolocpp` binary with the given arguments.
inline CmdResult yolocpp(const std::string& args) { return run_cmd(std::string(YOLOCPP_BIN) + " " + args); }

}  // namespace yolocpp::test
