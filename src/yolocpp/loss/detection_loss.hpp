// The YOLO11 detection loss (ultralytics 8.3.58 utils/loss.py v8DetectionLoss): CIoU box loss,
// BCE classification against task-aligned soft targets, and distribution focal loss (DFL).
#pragma once
#include <torch/torch.h>

#include <array>
#include <optional>
#include <vector>

#include "yolocpp/loss/assigner.hpp"

namespace yolocpp::loss {

// A batch's boxes as the dataloader delivers them: one row per box.
struct Targets {
  torch::Tensor batch_idx;  // [n]    image index within the batch (float or int)
  torch::Tensor cls;        // [n, 1] class id (float or int)
  torch::Tensor bboxes;     // [n, 4] normalised xywh
};

// Targets padded per image (v8DetectionLoss.preprocess): [B, M, ...] with M = most boxes in one image; padding rows are
// zero.
struct PaddedTargets {
  torch::Tensor gt_labels;  // float [B, M, 1]
  torch::Tensor gt_bboxes;  // float [B, M, 4] pixels xyxy
  torch::Tensor mask_gt;    // bool  [B, M, 1]
};

struct LossHyp {
  int64_t nc = 80;
  int64_t reg_max = 16;
  std::vector<double> strides{8.0, 16.0, 32.0};
  double box = 7.5;
  double cls = 0.5;
  double dfl = 1.5;
  int64_t tal_topk = 10;
};

struct LossOutput {
  torch::Tensor total;  // scalar, (box + cls + dfl) * batch_size: what backward() uses
  torch::Tensor items;  // [3] detached: box*gain, cls*gain, dfl*gain (not * batch_size), for logging
  // Diagnostics (detached): the assignment and decoded boxes this call used.
  AssignResult assign;
  PaddedTargets targets;
  torch::Tensor anchor_points, stride_tensor, pred_bboxes;  // pred_bboxes: grid units xyxy [B, A, 4]
  torch::Tensor target_scores_sum;                          // scalar, max(sum target_scores, 1)
  int64_t num_fg = 0;
};

// Pads and scales targets: xywh * (w, h, w, h) then xyxy, in order of appearance per image.
PaddedTargets preprocess_targets(const Targets& t, int64_t batch_size, std::array<int64_t, 2> imgsz_hw,
                                 torch::Device device = torch::kCPU);

// DFL logits [..., 4 * reg_max] -> xyxy boxes in grid units: softmax over bins, expectation as a
// matmul with [0 .. reg_max-1] (an elementwise multiply-sum rounds differently; v8DetectionLoss.bbox_decode).
torch::Tensor bbox_decode(const torch::Tensor& anchor_points, const torch::Tensor& pred_dist, int64_t reg_max = 16);

// Per-anchor DFL (mean over the 4 sides) of logits [K, 4*reg_max] vs target distances [K, 4]: [K, 1].
torch::Tensor dfl_loss(const torch::Tensor& pred_dist, const torch::Tensor& target, int64_t reg_max = 16);

class DetectionLoss {
 public:
  explicit DetectionLoss(LossHyp hyp = {});

  // preds: per level [B, 4*reg_max + nc, H, W] (train-mode head output). imgsz (h, w) in pixels; when
  // not given it is the first level's size times the first stride. Assigner and loss run in float32.
  LossOutput operator()(const std::vector<torch::Tensor>& preds, const Targets& t,
                        std::optional<std::array<int64_t, 2>> imgsz_hw = std::nullopt) const;

  const LossHyp& hyp() const { return hyp_; }

 private:
  LossHyp hyp_;
  TaskAlignedAssigner assigner_;
};

}  // namespace yolocpp::loss
