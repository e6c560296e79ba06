// Dataset archives: unpack (libarchive reading, name checks, size/ratio limits) plus the manifest check, on
// arbitrary bytes. Odd first byte: the rest is a MANIFEST.sha256 checked against a folder of one file.
#include <cstdint>
#include <fstream>
#include <string>

#include "fuzz/common.hpp"
#include "yolocpp/data/pack.hpp"
#include "yolocpp/util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace yolocpp;
  if (size == 0) return 0;
  const auto dest = fuzz::scratch() / "out";
  std::error_code ec;
  std::filesystem::remove_all(dest, ec);
  try {
    if (data[0] & 1) {
      std::filesystem::create_directories(dest / "images");
      std::ofstream(dest / "images" / "a.jpg", std::ios::binary) << "not really an image";
      std::ofstream(dest / "MANIFEST.sha256", std::ios::binary)
          .write(reinterpret_cast<const char*>(data) + 1, static_cast<std::streamsize>(size - 1));
      data::verify_manifest(dest, "fuzz.tar.gz");
    } else {
      data::unpack(fuzz::write_input("in.tar.gz", data + 1, size - 1), dest);
    }
  } catch (const yolocpp::Error&) {
  }
  std::filesystem::remove_all(dest, ec);
  return 0;
}
