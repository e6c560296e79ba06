// The Detect head with Distribution Focal Loss box regression (ultralytics 8.3.58 nn/modules/head.py Detect).
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
  // legacy = YOLOv8 class branch (3x3 Convs); YOLO11 uses depthwise + pointwise pairs.
  DetectImpl(int64_t nc, const std::vector<int64_t>& ch, bool legacy);
  // Per level cat[box (4*reg_max), cls (nc)] maps, [B, no, H_i, W_i].
  std::vector<torch::Tensor> forward_raw(const std::vector<torch::Tensor>& xs);
  // Decoded [B, 4 + nc, A]: xywh in input pixels, then sigmoid scores.
  torch::Tensor decode(const std::vector<torch::Tensor>& raw);
  // Class/box prior biases, once strides are known (Detect.bias_init).
  void bias_init();
  // MACs of the final 1x1 convs for the last profiled forward (the Conv blocks count themselves).
  double profiled_macs() const;

  int64_t nc, nl, reg_max = 16, no;
  bool legacy;
  std::vector<int64_t> ch;
  torch::Tensor stride;  // float [nl]; not a buffer (Ultralytics keeps it out of the state dict)
  std::vector<torch::nn::ModuleList> cv2_levels, cv3_levels;
  torch::nn::ModuleList cv2{nullptr}, cv3{nullptr};
  DFL dfl{nullptr};
  ProfileStats profile;
  std::vector<int64_t> profiled_hw;  // H*W per level of the last profiled forward

 private:
  torch::Tensor run_branch(const torch::nn::ModuleList& seq, torch::Tensor x) const;
  // Anchor points [2, A] and strides [1, A] for one set of level shapes, cached per shape/device/dtype.
  std::pair<torch::Tensor, torch::Tensor> anchors_for(const std::vector<torch::Tensor>& raw);
  std::mutex anchors_mu_;
  std::map<std::vector<int64_t>, std::pair<torch::Tensor, torch::Tensor>> anchors_cache_;
};
TORCH_MODULE(Detect);

// Anchor centres (x + offset, y + offset) per level in grid units, row-major per level, and the stride of
// each anchor: [A, 2] and [A, 1] (the loss and the head share this).
std::pair<torch::Tensor, torch::Tensor> make_anchors(const std::vector<torch::Tensor>& feats,
                                                     const torch::Tensor& strides, double offset = 0.5);

}  // namespace yolocpp::nn
