#include "yolocpp/data/augment/flip.hpp"

#include <opencv2/core.hpp>

namespace yolocpp::augment {

void flip_lr(Sample& s) {
  cv::Mat out;
  cv::flip(s.img, out, 1);
  s.img = out;
  const float W = static_cast<float>(s.img.cols);
  for (auto& b : s.inst.boxes) {
    const float x1 = W - b[2], x2 = W - b[0];
    b[0] = x1, b[2] = x2;
  }
}

void flip_ud(Sample& s) {
  cv::Mat out;
  cv::flip(s.img, out, 0);
  s.img = out;
  const float H = static_cast<float>(s.img.rows);
  for (auto& b : s.inst.boxes) {
    const float y1 = H - b[3], y2 = H - b[1];
    b[1] = y1, b[3] = y2;
  }
}

void random_flip(Sample& s, double flipud, double fliplr, Rng& rng) {
  if (rng.random() < flipud) flip_ud(s);
  if (rng.random() < fliplr) flip_lr(s);
}

}  // namespace yolocpp::augment
