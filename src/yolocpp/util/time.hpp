// Local wall-clock time in ISO form, as Ultralytics writes it: "2026-09-21T14:30:15" (checkpoints), or with
// microseconds, "2026-09-21T14:30:15.123456" (ONNX metadata, Python's datetime.isoformat()).
#pragma once
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace yolocpp::util {

inline std::string local_iso_time(bool microseconds = false) {
  const auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (microseconds) {
    const long long us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
    std::snprintf(buf + n, sizeof buf - n, ".%06lld", us);
  }
  return buf;
}

}  // namespace yolocpp::util
