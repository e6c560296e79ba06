// Helpers shared by all test folders: where ../shared lives, temporary folders, running the CLI.
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

// ../shared beside the checkout (or $YOLOCPP_SHARED). Empty path when absent.
inline fs::path shared_dir() {
  if (const char* e = std::getenv("YOLOCPP_SHARED"); e && *e) return e;
  fs::path p = fs::path(YOLOCPP_SOURCE_DIR).parent_path() / "shared";
  return fs::exists(p / "fixtures") ? p : fs::path();
}
inline fs::path fixtures_dir() { auto s = shared_dir(); return s.empty() ? s : s / "fixtures" / "ultralytics"; }
inline fs::path datasets_dir() { auto s = shared_dir(); return s.empty() ? s : s / "datasets"; }

#define YOLOCPP_REQUIRE_SHARED()                                                                     \
  do {                                                                                             \
    if (::yolocpp::test::shared_dir().empty())                                                     \
      GTEST_SKIP() << "../shared (Ultralytics fixtures and datasets) is not beside this checkout; " \
                      "set YOLOCPP_SHARED to its path to run this parity test";                    \
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
