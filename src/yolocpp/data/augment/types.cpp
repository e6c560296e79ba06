#include "yolocpp/data/augment/types.hpp"

#include <algorithm>

namespace yolocpp::augment {

void Instances::append(const Instances& o) {
  boxes.insert(boxes.end(), o.boxes.begin(), o.boxes.end());
  cls.insert(cls.end(), o.cls.begin(), o.cls.end());
}

void Instances::filter(const std::vector<bool>& mask) {
  size_t k = 0;
  for (size_t j = 0; j < boxes.size(); ++j) {
    if (!mask[j]) continue;
    boxes[k] = boxes[j];
    cls[k] = cls[j];
    ++k;
  }
  boxes.resize(k);
  cls.resize(k);
}

void Instances::clip(float w, float h) {
  for (auto& b : boxes) {
    b[0] = std::clamp(b[0], 0.f, w);
    b[1] = std::clamp(b[1], 0.f, h);
    b[2] = std::clamp(b[2], 0.f, w);
    b[3] = std::clamp(b[3], 0.f, h);
  }
}

void Instances::remove_zero_area() {
  std::vector<bool> keep(boxes.size());
  for (size_t j = 0; j < boxes.size(); ++j)
    keep[j] = (boxes[j][2] - boxes[j][0]) > 0.f && (boxes[j][3] - boxes[j][1]) > 0.f;
  filter(keep);
}

Box xywhn_to_xyxy(const std::array<float, 4>& v, int img_w, int img_h) {
  const float hw = v[2] / 2.f, hh = v[3] / 2.f;
  const float W = static_cast<float>(img_w), H = static_cast<float>(img_h);
  return {(v[0] - hw) * W, (v[1] - hh) * H, (v[0] + hw) * W, (v[1] + hh) * H};
}

std::array<float, 4> xyxy_to_xywhn(const Box& b, int img_w, int img_h) {
  const float W = static_cast<float>(img_w), H = static_cast<float>(img_h);
  return {(b[0] + b[2]) / 2.f / W, (b[1] + b[3]) / 2.f / H, (b[2] - b[0]) / W, (b[3] - b[1]) / H};
}

Instances from_xywhn(const std::vector<std::array<float, 4>>& xywhn, const std::vector<int>& cls, int img_w,
                     int img_h) {
  Instances out;
  for (size_t j = 0; j < xywhn.size(); ++j) out.push(xywhn_to_xyxy(xywhn[j], img_w, img_h), cls.at(j));
  return out;
}

}  // namespace yolocpp::augment
