// The label-row parser (verify_image_labels on a fixed valid image): it must never throw, whatever the text.
// The first byte picks nc (1..256).
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdint>

#include "fuzz/common.hpp"
#include "yolocpp/data/scan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace yolocpp;
  static const std::filesystem::path image = [] {
    auto p = fuzz::scratch() / "im.png";
    cv::imwrite(p.string(), cv::Mat(32, 48, CV_8UC3, cv::Scalar(10, 200, 30)));
    return p;
  }();
  if (size == 0) return 0;
  const int nc = 1 + data[0];
  const auto label = fuzz::write_input("im.txt", data + 1, size - 1);
  data::ImageLabels r = data::verify_image_labels(image, label, nc);
  for (const auto& b : r.boxes)
    if (b.cls < 0 || b.cls >= nc) __builtin_trap();  // a kept box must have a valid class
  return 0;
}
