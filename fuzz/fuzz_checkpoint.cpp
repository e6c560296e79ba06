// load_checkpoint on an arbitrary file: the native reader (header.json, tensor records) and the Ultralytics
// .pt importer (zip + pickle + module walk) behind the same entry point the CLI uses.
#include <cstdint>

#include "fuzz/common.hpp"
#include "yolocpp/io/checkpoint.hpp"
#include "yolocpp/util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto p = yolocpp::fuzz::write_input("in.pt", data, size);
  try {
    yolocpp::io::load_checkpoint(p.string());
  } catch (const yolocpp::Error&) {
  }
  return 0;
}
