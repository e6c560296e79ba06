// The ZIP reader (central directory, ZIP64 records, local headers, inflate, CRC) on arbitrary bytes.
#include <cstdint>
#include <string>

#include "yolocpp/io/zip.hpp"
#include "yolocpp/util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    yolocpp::io::ZipReader z(std::string(reinterpret_cast<const char*>(data), size), "fuzz.zip");
    for (const auto& e : z.entries()) {
      try {
        z.read(e);
      } catch (const yolocpp::Error&) {
      }
    }
  } catch (const yolocpp::Error&) {
  }
  return 0;
}
