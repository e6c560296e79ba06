// Convolution building blocks of YOLO11 / YOLOv8 (ultralytics 8.3.58 nn/modules/conv.py).
// Child and tensor names follow Ultralytics' state-dict keys (`conv.weight`, `bn.running_var`, ...), so
// weights from a .pt import load by name.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace yolocpp::nn {

// A replacement for BatchNorm2d's training-mode forward (engine's SyncBatchNorm under DDP). It lives in nn as
// a plain function so nn need not know about process groups; it must normalise with `bn`'s affine
// parameters and update its running statistics exactly as BatchNorm2d would.
using BatchNormTrainFn = std::function<torch::Tensor(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x)>;

// Shape statistics recorded during a profiling forward (FLOP counting for `info`): only when a model
// enables profiling, so ordinary (possibly concurrent) forwards never write to the modules.
struct ProfileStats {
  bool enabled = false;
  int64_t out_numel = 0;  // output elements of the last profiled forward
};

// A module that can sit in the model's layer list and maps one tensor to one tensor.
class BlockImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  // The short type name printed by `info` ("Conv", "C3k2", ...).
  virtual std::string type_name() const = 0;
};

// Conv2d(bias=False) -> BatchNorm2d(eps 1e-3, momentum 0.03) -> SiLU (or identity when act=false).
class ConvImpl : public BlockImpl {
 public:
  ConvImpl(int64_t c1, int64_t c2, int64_t k = 1, int64_t s = 1, int64_t g = 1, int64_t d = 1,
           bool act = true);
  torch::Tensor forward(torch::Tensor x) override;
  std::string type_name() const override { return depthwise_name_ ? "DWConv" : "Conv"; }
  // Folds the BatchNorm into the conv weight and a new bias, then drops `bn` (as Ultralytics' fuse).
  void fuse();
  bool fused() const { return bn.is_empty(); }

  // MACs of the last profiled forward: conv (+bias) and, unfused, Ultralytics' 4 ops per BN element.
  double profiled_macs() const;

  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  // Used instead of bn->forward while bn is training (null: ordinary per-process BatchNorm). Not part of the
  // state dict; eval, fuse() and checkpoints never see it.
  std::shared_ptr<const BatchNormTrainFn> bn_train_fn;
  bool act;
  ProfileStats profile;
  bool depthwise_name_ = false;
};
TORCH_MODULE(Conv);

// DWConv(c1, c2, k, s, d, act): a Conv with groups = gcd(c1, c2).
Conv DWConv(int64_t c1, int64_t c2, int64_t k = 1, int64_t s = 1, int64_t d = 1, bool act = true);

// Nearest-neighbour x2 upsampling (nn.Upsample(None, 2, "nearest")).
class UpsampleImpl : public BlockImpl {
 public:
  UpsampleImpl(double scale, std::string mode);
  torch::Tensor forward(torch::Tensor x) override;
  std::string type_name() const override { return "nn.Upsample"; }
  double scale;
  std::string mode;
  ProfileStats profile;
};
TORCH_MODULE(Upsample);

// Concatenation of several earlier layer outputs along one dimension.
class ConcatImpl : public torch::nn::Module {
 public:
  explicit ConcatImpl(int64_t dim = 1) : dim(dim) {}
  torch::Tensor forward(const std::vector<torch::Tensor>& xs) { return torch::cat(xs, dim); }
  int64_t dim;
};
TORCH_MODULE(Concat);

}  // namespace yolocpp::nn
