// Console output inside yolocpp: fmt-formatting helpers over the public sink of yolocpp/log.hpp.
#pragma once
#include <fmt/format.h>

#include <string>

#include "yolocpp/log.hpp"

namespace yolocpp::log {

bool stdout_is_tty();

template <typename... A> void info(fmt::format_string<A...> f, A&&... a) { if (verbose()) write(Level::Info, fmt::format(f, std::forward<A>(a)...)); }
template <typename... A> void warn(fmt::format_string<A...> f, A&&... a) { write(Level::Warn, fmt::format(f, std::forward<A>(a)...)); }
template <typename... A> void error(fmt::format_string<A...> f, A&&... a) { write(Level::Error, fmt::format(f, std::forward<A>(a)...)); }
template <typename... A> void debug(fmt::format_string<A...> f, A&&... a) { if (debug_enabled()) write(Level::Debug, fmt::format(f, std::forward<A>(a)...)); }

}  // namespace yolocpp::log
