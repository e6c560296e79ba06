// The Detect head: YOLO11 / YOLOv8 with Distribution Focal Loss box regression (reg_max 16), and YOLO26
// (ultralytics 8.4.27 ultralytics/nn/modules/head.py Detect with reg_max=1, end2end=True): raw distances, and
// a second, one-to-one head on detached features whose output is selected by top-k instead of NMS.
#pragma once
#include <torch/torch.h>

#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "yolocpp/nn/conv.hpp"

namespace yolocpp::nn {

// Expectation over reg_max bins as a fixed 1x1 conv with weights 0..reg_max-1 (kept as a conv, not a
// hand-written sum, so results round exactly like Ultralytics').
class DFLImpl : public torch::nn::Module {
 public:
  explicit DFLImpl(int64_t c1 = 16);
  // [B, 4*c1, A] raw box logits -> [B, 4, A] distances in grid units.
  torch::Tensor forward(torch::Tensor x);
  int64_t c1;
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(DFL);

class DetectImpl : public torch::nn::Module {
 public:
  // legacy = YOLOv8 class branch (3x3 Convs); YOLO11 uses depthwise + pointwise pairs. reg_max 1 has no
  // DFL (the 4 box channels are the distances); has_one2one adds the one-to-one branches one2one_cv2/cv3,
  // made as exact copies of cv2/cv3 (Ultralytics deep-copies them in the constructor).
  DetectImpl(int64_t nc, const std::vector<int64_t>& ch, bool legacy, int64_t reg_max = 16, bool has_one2one = false);
  // Per level cat[box (4*reg_max), cls (nc)] maps of the one-to-many head, [B, no, H_i, W_i].
  std::vector<torch::Tensor> forward_raw(const std::vector<torch::Tensor>& xs);
  // The same for the one-to-one head, run on detached inputs (its loss must not reach the neck).
  std::vector<torch::Tensor> forward_raw_one2one(const std::vector<torch::Tensor>& xs);
  // Decoded [B, 4 + nc, A]: boxes in input pixels (xywh, or xyxy as the end-to-end path uses), then sigmoid
  // scores.
  torch::Tensor decode(const std::vector<torch::Tensor>& raw, bool xyxy = false);
  // Class/box prior biases, once strides are known (Detect.bias_init); both heads get the same values.
  void bias_init();
  // Drops the one-to-many branches (what Ultralytics' fuse() does while end2end is on).
  void drop_one2many();
  bool has_one2many() const { return !cv2_levels.empty(); }
  bool has_one2one() const { return !o2o_cv2_levels.empty(); }
  // MACs of the final 1x1 convs for the last profiled forward (the Conv blocks count themselves).
  double profiled_macs() const;

  int64_t nc, nl, reg_max = 16, no;
  bool legacy;
  // Inference path: one-to-one head + top-k (true) or one-to-many head + NMS afterwards (false). Only
  // meaningful with has_one2one(); the yaml's `end2end` sets it, `end2end=False` overrides it.
  bool end2end = false;
  int64_t max_det = 300;
  bool agnostic = false;
  std::vector<int64_t> ch;
  torch::Tensor stride;  // float [nl]; not a buffer (Ultralytics keeps it out of the state dict)
  std::vector<torch::nn::ModuleList> cv2_levels, cv3_levels, o2o_cv2_levels, o2o_cv3_levels;
  torch::nn::ModuleList cv2{nullptr}, cv3{nullptr}, one2one_cv2{nullptr}, one2one_cv3{nullptr};
  DFL dfl{nullptr};  // null when reg_max == 1 (an Identity module stands in its place)
  ProfileStats profile;
  std::vector<int64_t> profiled_hw;  // H*W per level of the last profiled forward

 private:
  torch::Tensor run_branch(const torch::nn::ModuleList& seq, torch::Tensor x) const;
  std::vector<torch::Tensor> run_head(const std::vector<torch::nn::ModuleList>& box,
                                      const std::vector<torch::nn::ModuleList>& cls, const std::vector<torch::Tensor>& xs,
                                      bool detach);
  // Anchor points [2, A] and strides [1, A] for one set of level shapes, cached per shape/device/dtype.
  std::pair<torch::Tensor, torch::Tensor> anchors_for(const std::vector<torch::Tensor>& raw);
  std::mutex anchors_mu_;
  std::map<std::vector<int64_t>, std::pair<torch::Tensor, torch::Tensor>> anchors_cache_;
};
TORCH_MODULE(Detect);

// End-to-end selection without NMS (ultralytics 8.4.27 Detect.postprocess): y [B, 4 + nc, A] decoded xyxy
// boxes + sigmoid scores -> [B, k, 6] rows (x1, y1, x2, y2, score, class) by descending score, k = min(max_det, A).
// Non-agnostic: the k anchors of largest max score, then the top k of their k*nc (anchor, class) scores, so one
// anchor may give several rows. Agnostic: one row per anchor with its best class. anchor_idx (optional) gets the
// [B, k] anchor of each row.
torch::Tensor topk_select(const torch::Tensor& y, int64_t max_det, bool agnostic, torch::Tensor* anchor_idx = nullptr);

// Anchor centres (x + offset, y + offset) per level in grid units, row-major per level, and the stride of
// each anchor: [A, 2] and [A, 1] (the loss and the head share this).
std::pair<torch::Tensor, torch::Tensor> make_anchors(const std::vector<torch::Tensor>& feats,
                                                     const torch::Tensor& strides, double offset = 0.5);

}  // namespace yolocpp::nn
