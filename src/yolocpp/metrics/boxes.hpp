// Box geometry shared by NMS, matching and the validator: the exact float32 op order Ultralytics uses,
// because matching thresholds and NMS decisions are compared bit for bit against the fixtures.
#pragma once
#include "yolocpp/util/pymath.hpp"
#include <torch/torch.h>

#include <array>
#include <optional>

namespace yolocpp::metrics {

// (h, w) of an image, as Ultralytics passes shapes.
using HW = std::array<int64_t, 2>;

// Letterbox ratio and padding recorded with a validation sample: ((gain_h, gain_w), (pad_left, pad_top)).
struct RatioPad {
  double gain_h = 1.0;
  double gain_w = 1.0;
  double pad_left = 0.0;
  double pad_top = 0.0;
};

// [..., 4] centre-x, centre-y, w, h -> x1, y1, x2, y2 (computed as c -/+ wh/2 in the input dtype).
torch::Tensor xywh2xyxy(const torch::Tensor& x);

// Pairwise IoU of a [N,4] and b [M,4] (xyxy) -> [N,M] float32, with eps added to the union.
torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b, double eps = 1e-7);

// Clamps the first four columns in place: x to [0, w0], y to [0, h0] (inclusive bounds). Returns boxes.
torch::Tensor clip_boxes(torch::Tensor boxes, HW img0_hw);

// Maps xyxy boxes (first four columns; extra columns such as conf/cls are left alone) from the network input
// `img1_hw` back to the original image `img0_hw`, then clips. Without ratio_pad the gain/pad are derived as
// the predictor's letterbox would have made them (Python rounding). Returns a new tensor.
torch::Tensor scale_boxes(HW img1_hw, const torch::Tensor& boxes, HW img0_hw,
                          const std::optional<RatioPad>& ratio_pad = std::nullopt);

// Python's round() on a double: half to even.
using util::round_half_even;  // Python round (util/pymath.hpp)

}  // namespace yolocpp::metrics
