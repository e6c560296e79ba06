// Exponential moving average of the model weights (ultralytics 8.3.58 utils/torch_utils.py ModelEMA). Validation and
// checkpoints use it.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "yolocpp/nn/model.hpp"

namespace yolocpp::engine {

class ModelEMA {
 public:
  // A copy of `model` (same yaml, nc, names, weights, device) in eval mode without gradients.
  explicit ModelEMA(nn::DetectionModel& model, double decay = 0.9999, double tau = 2000.0, int64_t updates = 0);

  // d(updates) = decay * (1 - exp(-updates / tau)): near 0 at first so early weights are forgotten fast.
  static double decay_at(int64_t updates, double decay = 0.9999, double tau = 2000.0);

  // After an optimizer step: updates += 1, then ema = d * ema + (1 - d) * model for every floating-point
  // parameter and buffer (BN running statistics included; num_batches_tracked is not averaged).
  void update(nn::DetectionModel& model);

  nn::DetectionModel& model() { return ema_; }
  int64_t updates() const { return updates_; }
  void set_updates(int64_t u) { updates_ = u; }

 private:
  nn::DetectionModel ema_{nullptr};
  double decay_, tau_;
  int64_t updates_;
  std::vector<std::pair<std::string, torch::Tensor>> ema_tensors_;  // floating-point state entries, by name
};

// Every parameter and buffer of `m` by its state_dict name.
std::vector<std::pair<std::string, torch::Tensor>> state_entries(torch::nn::Module& m);

}  // namespace yolocpp::engine
