#include "yolocpp/data/augment/mixup.hpp"

#include "yolocpp/util/error.hpp"

namespace yolocpp::augment {

void mixup(Sample& a, const Sample& b, double r) {
  if (a.img.size() != b.img.size() || a.img.type() != CV_8UC3 || b.img.type() != CV_8UC3)
    throw DataError("mixup: both images must be uint8 BGR of the same size (got " + std::to_string(a.img.cols) +
                    "x" + std::to_string(a.img.rows) + " and " + std::to_string(b.img.cols) + "x" +
                    std::to_string(b.img.rows) + ")");
  // cv::addWeighted rounds; upstream truncates, so blend by hand.
  cv::Mat out(a.img.size(), CV_8UC3);
  const double q = 1.0 - r;
  for (int y = 0; y < out.rows; ++y) {
    const uint8_t* pa = a.img.ptr<uint8_t>(y);
    const uint8_t* pb = b.img.ptr<uint8_t>(y);
    uint8_t* po = out.ptr<uint8_t>(y);
    for (int x = 0; x < out.cols * 3; ++x) po[x] = static_cast<uint8_t>(pa[x] * r + pb[x] * q);
  }
  a.img = out;
  a.inst.append(b.inst);
}

double draw_mixup_ratio(Rng& rng) { return rng.beta(32.0, 32.0); }

}  // namespace yolocpp::augment
