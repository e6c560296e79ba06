#include "yolocpp/util/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>

namespace yolocpp::log {

namespace {
std::atomic<bool> g_verbose{true};
std::atomic<bool> g_debug{[] {
  const char* e = std::getenv("YOLOCPP_DEBUG");
  return e != nullptr && *e != '\0' && std::string(e) != "0";
}()};
// One lock for the sink and its calls: lines from several threads never interleave, and set_sink never swaps
// the function out from under a call in flight.
std::mutex g_mu;
Sink g_sink;  // empty: stderr_sink
}  // namespace

void set_verbose(bool v) { g_verbose = v; }
bool verbose() { return g_verbose; }
void set_debug(bool v) { g_debug = v; }
bool debug_enabled() { return g_debug; }
bool stdout_is_tty() { return ::isatty(STDOUT_FILENO) != 0; }

void set_sink(Sink sink) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_sink = std::move(sink);
}

void stderr_sink(Level lvl, const std::string& line) {
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  switch (lvl) {
    case Level::Info:
    case Level::Debug: std::fprintf(stderr, "%s\n", line.c_str()); break;
    case Level::Warn: std::fprintf(stderr, tty ? "\033[33mWARNING\033[0m %s\n" : "WARNING %s\n", line.c_str()); break;
    case Level::Error: std::fprintf(stderr, tty ? "\033[31merror:\033[0m %s\n" : "error: %s\n", line.c_str()); break;
  }
}

void console_sink(Level lvl, const std::string& line) {
  if (lvl != Level::Info) return stderr_sink(lvl, line);
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

void write(Level lvl, const std::string& line) {
  // Checked here too, so lines written without the fmt helpers obey set_verbose as well.
  if (lvl == Level::Info && !verbose()) return;
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_sink)
    g_sink(lvl, line);
  else
    stderr_sink(lvl, line);
}

}  // namespace yolocpp::log
