// Optimizer construction as Ultralytics does it (ultralytics 8.3.58 engine/trainer.py BaseTrainer.build_optimizer):
// three parameter groups (biases, decayed weights, BatchNorm weights), the `optimizer=auto` rule, per-group lr /
// momentum access for warmup, and a small GradScaler for CUDA mixed precision (LibTorch 1.13's C++ API has autocast but
// no GradScaler).
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "yolocpp/io/ultralytics_pt.hpp"

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

// The optimizer state in torch's Python state_dict layout (the `optimizer` key of an Ultralytics last.pt):
// SGD momentum buffers or Adam/AdamW moments, parameters numbered across the groups in order, group
// hyperparameters by their Python names. nullopt for RMSProp (not written).
std::optional<io::OptimizerState> export_torch_optimizer_state(torch::optim::Optimizer& opt);
// The reverse, to resume an Ultralytics last.pt. Throws ConfigError naming `label` when the groups or shapes do
// not match this optimizer (another model or optimizer).
void import_torch_optimizer_state(torch::optim::Optimizer& opt, const io::OptimizerState& st, const std::string& label);

// Optimizer state to bytes and back (torch::serialize archives), for checkpoints.
std::string save_optimizer_state(torch::optim::Optimizer& opt);
void load_optimizer_state(torch::optim::Optimizer& opt, const std::string& bytes);

// Global L2 norm of the gradients, clipped to max_norm, with the same arithmetic as
// torch::nn::utils::clip_grad_norm_ (per-tensor norms, stacked norm, coefficient max_norm / (norm + 1e-6)
// clamped to 1) but returning the norm as a device tensor: LibTorch's returns a host double, which is a
// device->host sync every optimizer step on CUDA.
torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

// How a training run uses mixed precision (the amp and amp_dtype settings on a device).
struct AmpPlan {
  bool autocast = false;                // forward under autocast
  at::ScalarType dtype = at::kFloat;    // autocast's lower-precision type (kHalf or kBFloat16)
  bool scaled = false;                  // dynamic loss scaling (fp16 only: bf16 has fp32's exponent range)
  std::string line;                     // the one log line naming the mode
};

// amp_dtype text: float16 | fp16 | half -> kHalf, bfloat16 | bf16 -> kBFloat16 (any case). ConfigError otherwise.
at::ScalarType parse_amp_dtype(const std::string& value);

// CUDA + amp: autocast in amp_dtype (fp16 scaled, bf16 unscaled). CPU: amp is off as upstream unless
// amp_dtype=bfloat16 was given explicitly (dtype_given), which enables CPU bf16 autocast. amp=False: fp32.
AmpPlan plan_amp(bool amp, const std::string& amp_dtype, bool dtype_given, const torch::Device& device);

// Dynamic loss scaling with PyTorch's defaults, kept on the gradients' device so that a step costs one
// device->host read (the skip decision in grads_finite()), as torch.cuda.amp.GradScaler: the loss is
// multiplied by `scale` before backward; unscale_ divides the gradients back and records any inf/nan in a
// device flag; a non-finite step is skipped and halves the scale; `growth_interval` clean steps in a row double
// it. CUDA uses PyTorch's fused kernels (_amp_foreach_non_finite_check_and_unscale_, _amp_update_scale_);
// CPU, where LibTorch 1.13 has no kernels for them, runs the same rule with plain tensor ops.
// Disabled (amp=False, bf16, CPU) it is the identity and never skips. Not stored in checkpoints (as
// Ultralytics 8.3): a resumed run starts again at init_scale.
class GradScaler {
 public:
  explicit GradScaler(bool enabled, double init_scale = 65536.0, double growth_factor = 2.0,
                      double backoff_factor = 0.5, int64_t growth_interval = 2000);
  // loss * scale (a 0-dim tensor on the loss's device); the loss itself when disabled.
  torch::Tensor scale(const torch::Tensor& loss);
  // Divides every defined gradient by the scale and records in the device flag whether any is inf or nan.
  void unscale_(const std::vector<torch::Tensor>& params);
  // The skip-step decision: false when the last unscale_ saw an inf/nan gradient. One host read; disabled: true.
  bool grads_finite() const;
  // Backoff on inf, growth after growth_interval clean steps; clears the flag for the next step.
  void update();
  // Host reads, for logs and tests.
  double get_scale() const;
  int64_t growth_tracker() const;
  bool enabled() const { return enabled_; }

 private:
  void ensure_state(const torch::Device& device);
  bool enabled_;
  double init_scale_, growth_, backoff_;
  int64_t interval_;
  torch::Tensor scale_;      // float32 [1]
  torch::Tensor tracker_;    // int32 [1]: clean steps since the last change
  torch::Tensor found_inf_;  // float32 [1]: 1 when the last unscale_ saw inf/nan
};

}  // namespace yolocpp::engine
