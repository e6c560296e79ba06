// Learning-rate schedule, warmup and batch accumulation (ultralytics 8.3.58 engine/trainer.py BaseTrainer._setup_train,
// _do_train). Pure functions of the iteration and epoch counters, so a resumed run lands on exactly the values the
// first run would have used.
#pragma once
#include "yolocpp/util/pymath.hpp"
#include <cstdint>

namespace yolocpp::engine {

// Python's round (half-to-even), used wherever Ultralytics calls round() / np.round().
using util::round_half_even;  // Python round (util/pymath.hpp)

// lf(e), the LambdaLR factor for epoch e (0-based): linear by default, cosine with cos_lr.
double lr_lambda(int epoch, int epochs, double lrf, bool cos_lr);

// max(round(nbs / batch), 1): batches whose gradients are summed before one optimizer step.
int accumulate_steps(int nbs, int batch);
// weight_decay scaled so the decay per image matches the nominal batch: wd * batch * accumulate / nbs.
double scaled_weight_decay(double weight_decay, int batch, int accumulate, int nbs);

// Warmup length in iterations: max(round(warmup_epochs * nb), 100), or -1 when warmup_epochs <= 0.
int64_t warmup_iterations(double warmup_epochs, int64_t nb);

// The values warmup writes at global iteration ni (valid while ni <= nw).
struct WarmupValues {
  int accumulate = 1;
  double bias_lr = 0;   // param group 0 (biases)
  double lr = 0;        // the other groups
  double momentum = 0;  // SGD / RMSProp only
};
// np.interp(ni, [0, nw], [from, to]) for each value; target lr = initial_lr * lf(epoch).
WarmupValues warmup_values(int64_t ni, int64_t nw, int nbs, int batch, double warmup_bias_lr,
                           double initial_lr, double lf_epoch, double warmup_momentum, double momentum);

// np.interp on two points, clamped at both ends as NumPy does.
double interp2(double x, double x0, double x1, double y0, double y1);

}  // namespace yolocpp::engine
