// Shared by the harnesses: a private scratch folder per fuzzing process (file-based parsers read paths).
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace yolocpp::fuzz {

inline const std::filesystem::path& scratch() {
  static const std::filesystem::path p = [] {
    const char* t = std::getenv("TMPDIR");
    std::filesystem::path d = std::filesystem::path(t && *t ? t : "/tmp") / ("yolocpp-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch(), ec);
    });
    return d;
  }();
  return p;
}

inline std::filesystem::path write_input(const std::string& name, const uint8_t* data, size_t size) {
  std::filesystem::path p = scratch() / name;
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return p;
}

}  // namespace yolocpp::fuzz
