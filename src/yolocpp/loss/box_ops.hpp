// Box geometry shared by the assigner and the loss (ultralytics 8.3.58 utils/tal.py dist2bbox, utils/metrics.py
// bbox_iou). Every function is a plain sequence of ATen ops in a fixed order: parity with the reference is
// bit-exact only when the float operations happen in the same order on the same tensor layouts.
#pragma once
#include <torch/torch.h>

#include <utility>
#include <vector>

namespace yolocpp::loss {

// Anchor centres in grid units (x + offset, y + offset), P3 first and row-major within a level,
// plus the matching per-anchor stride. `shapes` holds (H, W) per level. Returns {[A,2], [A,1]} float32.
std::pair<torch::Tensor, torch::Tensor> make_anchors(const std::vector<std::pair<int64_t, int64_t>>& shapes,
                                                     const std::vector<double>& strides, double offset = 0.5,
                                                     torch::Device device = torch::kCPU);
// Same, reading (H, W) from per-level feature maps [B, C, H, W].
std::pair<torch::Tensor, torch::Tensor> make_anchors(const std::vector<torch::Tensor>& feats,
                                                     const std::vector<double>& strides, double offset = 0.5);

// (l, t, r, b) distances from anchor points -> boxes (xyxy, or xywh when `xywh`), along the last dim.
torch::Tensor dist2bbox(const torch::Tensor& distance, const torch::Tensor& anchor_points, bool xywh = false);

// xyxy boxes -> (l, t, r, b) distances from anchor points, clamped to [0, reg_max - 0.01].
// The loss passes reg_max - 1 (= 15), so targets stay strictly below the last DFL bin.
torch::Tensor bbox2dist(const torch::Tensor& anchor_points, const torch::Tensor& bbox, double reg_max);

enum class IouKind { IoU, GIoU, DIoU, CIoU };

// Element-wise IoU of box1 [..., 4] and box2 [..., 4] (broadcastable); returns [..., 1].
// For xyxy input eps is added to heights; always to the union (and to c² for DIoU/CIoU) exactly as bbox_iou; CIoU's
// alpha is computed without gradient so it acts as a constant weight in backward.
torch::Tensor bbox_iou(const torch::Tensor& box1, const torch::Tensor& box2, bool xywh = true,
                       IouKind kind = IouKind::IoU, double eps = 1e-7);

// Normalised xywh -> xyxy (any leading dims).
torch::Tensor xywh2xyxy(const torch::Tensor& x);

}  // namespace yolocpp::loss
