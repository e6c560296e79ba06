// The dataset yaml reader (names/nc/channels/splits) on arbitrary text, in a folder holding a tiny dataset.
// Inputs naming absolute or parent paths are skipped: walking the host's file system is not parsing.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdint>
#include <string>

#include "fuzz/common.hpp"
#include "yolocpp/data/dataset.hpp"
#include "yolocpp/util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace yolocpp;
  static const bool ready = [] {
    for (const char* split : {"train", "val"}) {
      auto d = fuzz::scratch() / "images" / split;
      std::filesystem::create_directories(d);
      cv::imwrite((d / "a.jpg").string(), cv::Mat(32, 32, CV_8UC3, cv::Scalar::all(90)));
    }
    return true;
  }();
  (void)ready;
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (text.find('/') != std::string::npos || text.find("..") != std::string::npos || text.find('~') != std::string::npos)
    return -1;
  try {
    data::DatasetInfo ds = data::load_dataset_yaml(fuzz::write_input("data.yaml", data, size));
    if (ds.nc != static_cast<int>(ds.names.size())) __builtin_trap();
  } catch (const yolocpp::Error&) {
  }
  return 0;
}
