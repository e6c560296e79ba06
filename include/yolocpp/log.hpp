// Where yolocpp's log lines go. Every line — progress, warnings, errors, debug — passes through one sink:
// by default the console's stderr (a library should not write into its application's stdout; the yolocpp
// CLI installs console_sink, which prints info lines on stdout as Ultralytics does). An application routes
// them into its own logger with set_sink. Only the standard library here.
//
//   yolocpp::log::set_sink([](yolocpp::log::Level l, const std::string& line) { my_logger(l, line); });
//   yolocpp::log::set_verbose(false);  // drop info lines; warnings and errors still arrive
#pragma once
#include <functional>
#include <string>

namespace yolocpp::log {

enum class Level { Debug, Info, Warn, Error };
using Sink = std::function<void(Level, const std::string& line)>;

// Replaces the sink; an empty function restores the default (stderr_sink). The sink is called under a lock,
// one line at a time, from whichever thread logged; it must not log through yolocpp itself.
void set_sink(Sink sink);
// The default: every line on stderr, warnings and errors prefixed (coloured on a terminal).
void stderr_sink(Level lvl, const std::string& line);
// The CLI's: info lines on stdout, the rest as stderr_sink.
void console_sink(Level lvl, const std::string& line);

// false: info lines are dropped before they reach the sink (warnings, errors and debug lines are not).
void set_verbose(bool v);
bool verbose();
// Debug lines (HTTP requests, SSH steps...) only with YOLOCPP_DEBUG=1 in the environment or set_debug(true).
void set_debug(bool v);
bool debug_enabled();

// Sends one line to the sink (the formatting helpers inside yolocpp all end here).
void write(Level lvl, const std::string& line);

}  // namespace yolocpp::log
