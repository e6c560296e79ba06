// TaskAlignedAssigner (ultralytics 8.3.58 utils/tal.py): picks, per ground-truth box, the anchors whose predictions
// are both well classified and well localised, and builds soft classification targets from them.
// Runs without gradient, in float32, in pixel space (as the detection loss calls it).
#pragma once
#include <torch/torch.h>

namespace yolocpp::loss {

struct AssignResult {
  torch::Tensor target_labels;   // int64 [B, A]     (background: label of GT row 0, clamped >= 0)
  torch::Tensor target_bboxes;   // float [B, A, 4]  pixels xyxy
  torch::Tensor target_scores;   // float [B, A, nc] one-hot * normalised alignment, zero on background
  torch::Tensor fg_mask;         // bool  [B, A]
  torch::Tensor target_gt_idx;   // int64 [B, A]     (0 for background)
  // Intermediates, exposed for parity tests. Undefined when the batch has no boxes (M = 0).
  torch::Tensor align_metric;    // float [B, M, A]  score^alpha * CIoU^beta on valid in-box pairs, else 0
  torch::Tensor overlaps;        // float [B, M, A]  CIoU clamped >= 0 on valid in-box pairs, else 0
  torch::Tensor mask_in_gts;     // bool  [B, M, A]  anchor centre strictly inside the GT box
  torch::Tensor mask_pos_topk;   // bool  [B, M, A]  top-k & in-box & valid GT
  torch::Tensor mask_pos;        // bool  [B, M, A]  the same after giving each anchor to one GT
};

class TaskAlignedAssigner {
 public:
  TaskAlignedAssigner(int64_t num_classes, int64_t topk = 10, double alpha = 0.5, double beta = 6.0,
                      double eps = 1e-9);

  // pd_scores [B, A, nc] probabilities; pd_bboxes [B, A, 4] pixels xyxy; anc_points [A, 2] pixels;
  // gt_labels [B, M, 1] float class ids; gt_bboxes [B, M, 4] pixels xyxy; mask_gt [B, M, 1] (bool or 0/1).
  AssignResult operator()(const torch::Tensor& pd_scores, const torch::Tensor& pd_bboxes,
                          const torch::Tensor& anc_points, const torch::Tensor& gt_labels,
                          const torch::Tensor& gt_bboxes, const torch::Tensor& mask_gt) const;

  int64_t num_classes() const { return nc_; }
  int64_t topk() const { return topk_; }

 private:
  int64_t nc_;
  int64_t topk_;
  double alpha_, beta_, eps_;
};

// Anchor centres strictly inside each GT box: [B, M, A] bool (TaskAlignedAssigner.select_candidates_in_gts).
torch::Tensor select_candidates_in_gts(const torch::Tensor& anc_points, const torch::Tensor& gt_bboxes,
                                       double eps = 1e-9);

}  // namespace yolocpp::loss
