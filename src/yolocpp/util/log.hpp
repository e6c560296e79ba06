// Console output. Messages go to stderr (warnings, errors) or stdout (results); colour only on a terminal.
#pragma once
#include <fmt/format.h>

#include <string>

namespace yolocpp::log {

enum class Level { Debug, Info, Warn, Error };
void set_verbose(bool v);
bool verbose();
// Debug lines (HTTP requests, SSH steps...) only with YOLOCPP_DEBUG=1 in the environment or set_debug(true).
void set_debug(bool v);
bool debug_enabled();
bool stdout_is_tty();
void write(Level lvl, const std::string& msg);

template <typename... A> void info(fmt::format_string<A...> f, A&&... a) { write(Level::Info, fmt::format(f, std::forward<A>(a)...)); }
template <typename... A> void warn(fmt::format_string<A...> f, A&&... a) { write(Level::Warn, fmt::format(f, std::forward<A>(a)...)); }
template <typename... A> void error(fmt::format_string<A...> f, A&&... a) { write(Level::Error, fmt::format(f, std::forward<A>(a)...)); }
template <typename... A> void debug(fmt::format_string<A...> f, A&&... a) { if (debug_enabled()) write(Level::Debug, fmt::format(f, std::forward<A>(a)...)); }

}  // namespace yolocpp::log
