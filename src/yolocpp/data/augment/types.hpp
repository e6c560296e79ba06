// Plain values passed between the training transforms. Boxes are always xyxy pixels of the image they travel
// with; conversions to and from the label files' normalised xywh are explicit helpers, never implicit.
#pragma once
#include <array>
#include <cstddef>
#include <optional>
#include <vector>

#include <opencv2/core.hpp>

namespace yolocpp::augment {

using Box = std::array<float, 4>;  // x1, y1, x2, y2 in pixels (float32 like Ultralytics' Instances)

struct Instances {
  std::vector<Box> boxes;
  std::vector<int> cls;

  size_t size() const { return boxes.size(); }
  bool empty() const { return boxes.empty(); }
  void push(const Box& b, int c) { boxes.push_back(b); cls.push_back(c); }
  void append(const Instances& o);
  // Keeps entries whose mask value is true (mask.size() must equal size()).
  void filter(const std::vector<bool>& mask);
  // Clips every box to [0, w] x [0, h].
  void clip(float w, float h);
  // Drops boxes with zero (or negative) width or height.
  void remove_zero_area();
};

// Label file boxes (normalised cx, cy, w, h) -> xyxy pixels of a w x h image, in float32 arithmetic in the
// same order as Ultralytics (convert on normalised values first, then denormalise).
Box xywhn_to_xyxy(const std::array<float, 4>& xywhn, int img_w, int img_h);
// xyxy pixels -> normalised cx, cy, w, h (the Format step at the end of the pipeline).
std::array<float, 4> xyxy_to_xywhn(const Box& b, int img_w, int img_h);
Instances from_xywhn(const std::vector<std::array<float, 4>>& xywhn, const std::vector<int>& cls, int img_w,
                     int img_h);

// One image and its labels on their way through the pipeline.
struct Sample {
  cv::Mat img;                  // HWC uint8 BGR
  Instances inst;               // xyxy pixels of img
  int index = -1;               // dataset index (for debugging / plots)
  cv::Size ori_shape;           // (w0, h0) as decoded
  cv::Size resized_shape;       // (w, h) after load_image's long-side resize
  // ratio_pad as the validator needs it: ((h/h0, w/w0), (left, top)).
  std::array<double, 2> ratio_hw{1.0, 1.0};
  std::array<double, 2> pad_lt{0.0, 0.0};
  std::optional<cv::Size> rect_shape;  // (w, h) letterbox target of this image's rect batch, if rect
  std::optional<int> mosaic_border;    // set by Mosaic: -imgsz/2 (floored), consumed by RandomPerspective
  bool keep_bgr = false;               // Format: feed BGR instead of RGB (the `bgr` hyperparameter draw)
};

}  // namespace yolocpp::augment
