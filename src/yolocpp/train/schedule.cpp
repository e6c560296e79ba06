#include "yolocpp/train/schedule.hpp"

#include <algorithm>
#include <cfenv>
#include <cmath>

namespace yolocpp::engine {


double lr_lambda(int epoch, int epochs, double lrf, bool cos_lr) {
  const double e = epoch, n = std::max(epochs, 1);
  if (cos_lr) return ((1.0 - std::cos(e * M_PI / n)) / 2.0) * (lrf - 1.0) + 1.0;
  return std::max(1.0 - e / n, 0.0) * (1.0 - lrf) + lrf;
}

int accumulate_steps(int nbs, int batch) {
  return std::max(static_cast<int>(round_half_even(static_cast<double>(nbs) / std::max(batch, 1))), 1);
}

double scaled_weight_decay(double weight_decay, int batch, int accumulate, int nbs) {
  return weight_decay * batch * accumulate / nbs;
}

int64_t warmup_iterations(double warmup_epochs, int64_t nb) {
  if (warmup_epochs <= 0) return -1;
  return std::max<int64_t>(static_cast<int64_t>(round_half_even(warmup_epochs * static_cast<double>(nb))), 100);
}

double interp2(double x, double x0, double x1, double y0, double y1) {
  if (x <= x0) return y0;
  if (x >= x1) return y1;
  return y0 + (x - x0) * (y1 - y0) / (x1 - x0);
}

WarmupValues warmup_values(int64_t ni, int64_t nw, int nbs, int batch, double warmup_bias_lr, double initial_lr,
                           double lf_epoch, double warmup_momentum, double momentum) {
  WarmupValues v;
  const double x = static_cast<double>(ni), x1 = static_cast<double>(nw);
  v.accumulate = std::max(1, static_cast<int>(round_half_even(interp2(x, 0, x1, 1.0, static_cast<double>(nbs) / batch))));
  const double target = initial_lr * lf_epoch;
  v.bias_lr = interp2(x, 0, x1, warmup_bias_lr, target);
  v.lr = interp2(x, 0, x1, 0.0, target);
  v.momentum = interp2(x, 0, x1, warmup_momentum, momentum);
  return v;
}

}  // namespace yolocpp::engine
