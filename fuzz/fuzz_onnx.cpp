// The OpenCV backend's ONNX reader (protobuf wire format: metadata_props, graph inputs/outputs) and its
// Python-literal `names` parser, on arbitrary bytes. Odd first byte: the bytes are a names literal.
#include <cstdint>
#include <string>

#include "fuzz/common.hpp"
#include "yolocpp/predict/backend_ocv.hpp"
#include "yolocpp/util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace yolocpp::engine;
  try {
    if (size > 0 && (data[0] & 1)) {
      parse_names_literal(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
      return 0;
    }
    OnnxInfo info = read_onnx_info(yolocpp::fuzz::write_input("in.onnx", data, size).string());
    if (const auto* n = info.meta("names")) parse_names_literal(*n);
  } catch (const yolocpp::Error&) {
  }
  return 0;
}
