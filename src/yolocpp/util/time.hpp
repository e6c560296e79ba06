// Local wall-clock time as Ultralytics writes it into checkpoints and ONNX metadata ("2026-09-21T14:30:15").
#pragma once
#include <chrono>
#include <ctime>
#include <string>

namespace yolocpp::util {

inline std::string local_iso_time() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

}  // namespace yolocpp::util
