// The restricted unpickler on arbitrary bytes, with a persistent_load that hands out a small float storage
// (as a .pt's records would), then the expanding walk an Ultralytics import does (to_yaml).
#include <cstdint>

#include "yolocpp/io/pickle.hpp"
#include "yolocpp/io/ultralytics_pt.hpp"
#include "yolocpp/util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace yolocpp::io;
  static const PersistentLoad storage = [](const PValuePtr&) {
    auto v = std::make_shared<PValue>();
    v->kind = PValue::Kind::Storage;
    v->tensor = torch::arange(16, torch::kFloat);
    return v;
  };
  try {
    PValuePtr v = unpickle(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.pkl", storage);
    to_yaml(*v);
  } catch (const yolocpp::Error&) {
  }
  return 0;
}
