#include "yolocpp/util/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <mutex>

namespace yolocpp::log {

namespace {
std::atomic<bool> g_verbose{true};
std::atomic<bool> g_debug{[] {
  const char* e = std::getenv("YOLOCPP_DEBUG");
  return e != nullptr && *e != '\0' && std::string(e) != "0";
}()};
std::mutex g_mu;
}  // namespace

void set_verbose(bool v) { g_verbose = v; }
bool verbose() { return g_verbose; }
void set_debug(bool v) { g_debug = v; }
bool debug_enabled() { return g_debug; }
bool stdout_is_tty() { return ::isatty(STDOUT_FILENO) != 0; }

void write(Level lvl, const std::string& msg) {
  std::lock_guard<std::mutex> lock(g_mu);
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  switch (lvl) {
    case Level::Info: std::fprintf(stdout, "%s\n", msg.c_str()); std::fflush(stdout); break;
    case Level::Debug: std::fprintf(stderr, "%s\n", msg.c_str()); break;
    case Level::Warn: std::fprintf(stderr, tty ? "\033[33mWARNING\033[0m %s\n" : "WARNING %s\n", msg.c_str()); break;
    case Level::Error: std::fprintf(stderr, tty ? "\033[31merror:\033[0m %s\n" : "error: %s\n", msg.c_str()); break;
  }
}

}  // namespace yolocpp::log
