// Optimizer construction as Ultralytics does it (spec yolo11.md §4.3): three parameter groups (biases, decayed
// weights, BatchNorm weights), the `optimizer=auto` rule, per-group lr / momentum access for warmup, and a
// small GradScaler for CUDA mixed precision (LibTorch 1.13's C++ API has autocast but no GradScaler).
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace yolocpp::engine {

// Group order of Ultralytics 8.3: pg0 = biases (no decay), pg1 = weights (scaled decay), pg2 = BN weights.
struct ParamGroups {
  std::array<std::vector<std::string>, 3> names;
  std::array<std::vector<torch::Tensor>, 3> params;
  size_t total() const { return params[0].size() + params[1].size() + params[2].size(); }
};

// Walks modules in pre-order and each module's own parameters (frozen ones included, as upstream).
ParamGroups split_param_groups(torch::nn::Module& model);

struct OptimizerChoice {
  std::string name;       // SGD, Adam, AdamW, RMSProp
  double lr = 0.01;
  double momentum = 0.937;
  bool automatic = false; // chosen by optimizer=auto (then warmup_bias_lr is forced to 0)
  int64_t iterations = 0; // the auto rule's iteration estimate (0 when not auto)
};

// `requested` is the optimizer setting. auto: ceil(n_images / max(batch, nbs)) * epochs iterations;
// > 10000 -> SGD(0.01, 0.9), else AdamW(round(0.002 * 5 / (4 + nc), 6), 0.9). Throws ConfigError for an
// optimizer name this build does not have.
OptimizerChoice choose_optimizer(const std::string& requested, double lr0, double momentum, int nc,
                                 int64_t n_images, int batch, int nbs, int epochs);

// The optimizer over the three groups (pg1 gets `decay`). SGD is Nesterov; Adam-family betas (momentum, 0.999).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerChoice& c, const ParamGroups& g, double decay);

// "optimizer: AdamW(lr=0.000385, momentum=0.9) with parameter groups 81 weight(decay=0.0), 88 weight(decay=0.0005),
// 87 bias(decay=0.0)" (counts in bn, weight, bias order, as upstream prints them).
std::string optimizer_line(const OptimizerChoice& c, const ParamGroups& g, double decay);
// The line printed before it under auto.
std::string auto_optimizer_line(double lr0, double momentum);

// Python repr() of a float as upstream's messages show it ("0.0", "0.000385", "1e-05").
std::string py_float(double v);

double group_lr(torch::optim::Optimizer& opt, size_t group);
void set_group_lr(torch::optim::Optimizer& opt, size_t group, double lr);
// False for Adam-family groups, which have no `momentum` entry (warmup leaves them alone).
bool has_momentum(torch::optim::Optimizer& opt, size_t group);
void set_group_momentum(torch::optim::Optimizer& opt, size_t group, double momentum);

// Optimizer state to bytes and back (torch::serialize archives), for checkpoints.
std::string save_optimizer_state(torch::optim::Optimizer& opt);
void load_optimizer_state(torch::optim::Optimizer& opt, const std::string& bytes);

// Dynamic loss scaling with PyTorch's defaults: the loss is multiplied by `scale` before backward; before the
// step the gradients are divided back and checked; a non-finite gradient skips the step and halves the scale;
// `growth_interval` good steps in a row double it. Disabled (CPU / amp=False) it is the identity.
class GradScaler {
 public:
  explicit GradScaler(bool enabled, double init_scale = 65536.0, double growth_factor = 2.0,
                      double backoff_factor = 0.5, int64_t growth_interval = 2000);
  torch::Tensor scale(const torch::Tensor& loss) const;
  // Divides every defined gradient by the scale; returns true when any gradient is inf or nan.
  bool unscale(const std::vector<torch::Tensor>& params) const;
  // After a step attempt: backoff on inf, growth after growth_interval clean steps.
  void update(bool found_inf);
  double get_scale() const { return scale_; }
  int64_t growth_tracker() const { return tracker_; }
  bool enabled() const { return enabled_; }

 private:
  bool enabled_;
  double scale_, growth_, backoff_;
  int64_t interval_, tracker_ = 0;
};

}  // namespace yolocpp::engine
