// The log sink: every line reaches it with its level, set_verbose(false) drops info lines only, and the
// default (no sink set) writes to stderr, not stdout.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/test_util.hpp"
#include "yolocpp/log.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"

namespace {

using namespace yolocpp;
using Lines = std::vector<std::pair<log::Level, std::string>>;

// Installs a recording sink for one test and restores the default and verbosity afterwards.
class LogSink : public ::testing::Test {
 protected:
  void SetUp() override {
    log::set_sink([this](log::Level l, const std::string& line) { lines.emplace_back(l, line); });
  }
  void TearDown() override {
    log::set_sink({});
    log::set_verbose(true);
  }
  Lines lines;
};

TEST_F(LogSink, EveryLevelReachesTheSinkFormatted) {
  log::info("epoch {}/{}", 1, 3);
  log::warn("cache {} MB", 12);
  log::error("bad {}", "file.yaml");
  log::write(log::Level::Info, "plain");
  const Lines want = {{log::Level::Info, "epoch 1/3"},
                      {log::Level::Warn, "cache 12 MB"},
                      {log::Level::Error, "bad file.yaml"},
                      {log::Level::Info, "plain"}};
  EXPECT_EQ(lines, want);
}

TEST_F(LogSink, NotVerboseDropsInfoLinesOnly) {
  log::set_verbose(false);
  EXPECT_FALSE(log::verbose());
  log::info("progress {}", 1);
  log::write(log::Level::Info, "written directly");
  log::warn("still shown");
  log::error("also shown");
  const Lines want = {{log::Level::Warn, "still shown"}, {log::Level::Error, "also shown"}};
  EXPECT_EQ(lines, want);
  log::set_verbose(true);
  log::info("back");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines.back().second, "back");
}

TEST_F(LogSink, DebugLinesOnlyWhenEnabled) {
  const bool was = log::debug_enabled();
  log::set_debug(false);
  log::debug("hidden {}", 1);
  log::set_debug(true);
  log::debug("shown {}", 2);
  log::set_debug(was);
  const Lines want = {{log::Level::Debug, "shown 2"}};
  EXPECT_EQ(lines, want);
}

TEST_F(LogSink, LinesFromManyThreadsArriveWhole) {
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([t] {
      for (int i = 0; i < 200; ++i) log::info("thread {} line {}", t, i);
    });
  for (auto& t : ts) t.join();
  ASSERT_EQ(lines.size(), 800u);
  std::vector<int> next(4, 0);
  for (const auto& [lvl, s] : lines) {
    int t = -1, i = -1;
    ASSERT_EQ(std::sscanf(s.c_str(), "thread %d line %d", &t, &i), 2) << s;
    EXPECT_EQ(i, next[static_cast<size_t>(t)]++) << s;  // per thread in order, none torn
  }
}

// Runs `f` with fd `fd` redirected into a file; returns what was written there.
template <class F>
std::string capture_fd(int fd, F&& f) {
  test::TempDir d;
  const auto path = d / "out.txt";
  std::fflush(nullptr);
  const int saved = ::dup(fd);
  const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::dup2(file, fd);
  ::close(file);
  f();
  std::fflush(nullptr);
  ::dup2(saved, fd);
  ::close(saved);
  return util::read_file(path);
}

TEST(LogDefaultSink, WritesToStderrNotStdout) {
  log::set_sink({});
  std::string err;
  const std::string out = capture_fd(STDOUT_FILENO, [&] {
    err = capture_fd(STDERR_FILENO, [] {
      log::info("an info line");
      log::warn("a warning");
    });
  });
  EXPECT_EQ(out, "");
  EXPECT_EQ(err, "an info line\nWARNING a warning\n");  // not a terminal: no colour codes
}

TEST(LogDefaultSink, ConsoleSinkPutsInfoOnStdout) {
  log::set_sink(log::console_sink);
  std::string err;
  const std::string out = capture_fd(STDOUT_FILENO, [&] {
    err = capture_fd(STDERR_FILENO, [] {
      log::info("result line");
      log::error("it broke");
    });
  });
  log::set_sink({});
  EXPECT_EQ(out, "result line\n");
  EXPECT_EQ(err, "error: it broke\n");
}

}  // namespace
