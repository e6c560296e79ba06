#include "yolocpp/dist/sync_bn.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <vector>

#include "yolocpp/nn/conv.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::engine {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

const std::vector<int64_t> kReduceDims{0, 2, 3};  // every axis but the channel (NCHW)

torch::Tensor per_channel(const torch::Tensor& v) { return v.view({1, -1, 1, 1}); }

// The dtype the arithmetic runs in: fp32 for fp32/half/bf16 inputs (autocast), fp64 for fp64.
torch::ScalarType compute_type(const torch::Tensor& x) {
  return x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

// y = (x - mean) * invstd * weight + bias with the global statistics (computed by the caller under no-grad);
// the backward all-reduces its two per-channel sums so the input gradient sees the whole global batch.
struct SyncBNFunction : torch::autograd::Function<SyncBNFunction> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, torch::Tensor weight, torch::Tensor bias,
                               torch::Tensor mean, torch::Tensor invstd, torch::Tensor count, Distributed* dist) {
    ctx->save_for_backward({x, weight, mean, invstd, count});
    ctx->saved_data["dist"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(dist));
    const auto ct = compute_type(x);
    const auto scale = invstd * weight.to(ct);
    const auto shift = bias.to(ct) - mean * scale;
    return (x.to(ct) * per_channel(scale) + per_channel(shift)).to(x.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto* dist = reinterpret_cast<Distributed*>(static_cast<intptr_t>(ctx->saved_data["dist"].toInt()));
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& weight = saved[1];
    const auto& mean = saved[2];
    const auto& invstd = saved[3];
    const auto& count = saved[4];
    const auto ct = compute_type(x);
    const auto dy = grads[0].to(ct);
    const auto xhat = (x.to(ct) - per_channel(mean)) * per_channel(invstd);
    const auto sum_dy = dy.sum(kReduceDims);
    const auto sum_dy_xhat = (dy * xhat).sum(kReduceDims);
    // Every rank joins this all-reduce (same layers, same order), whether or not it needs dx itself.
    auto global = torch::cat({sum_dy, sum_dy_xhat});
    dist->allreduce_sum({global});
    const int64_t c = sum_dy.size(0);
    const auto mean_dy = global.narrow(0, 0, c) / count;
    const auto mean_dy_xhat = global.narrow(0, c, c) / count;
    const auto dx = (dy - per_channel(mean_dy) - xhat * per_channel(mean_dy_xhat)) *
                    per_channel(invstd * weight.to(ct));
    // Weight and bias: this rank's own sums; the GradReducer averages them over ranks with the rest.
    return {dx.to(x.scalar_type()), sum_dy_xhat.to(weight.scalar_type()), sum_dy.to(weight.scalar_type()),
            torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

namespace detail {

torch::Tensor sync_batch_norm_train(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, Distributed& dist) {
  const int64_t c = bn.options.num_features();
  if (x.dim() != 4 || x.size(1) != c)
    throw ModelError(fmt::format("SyncBatchNorm: expected an input of shape (N, {}, H, W), got {}", c,
                                 fmt::join(x.sizes(), "x")));
  if (!bn.options.affine())
    throw ModelError("SyncBatchNorm: a BatchNorm2d without affine parameters is not supported");
  torch::Tensor mean, invstd, count, unbiased_var;
  {
    torch::NoGradGuard ng;
    // Local mean/var by a two-pass fp32 reduction, turned into count, sum and sum of squares in fp64 so the
    // global E[x^2] - E[x]^2 does not cancel away the variance of channels with a large mean.
    const auto ct = compute_type(x);
    const auto xf = x.detach().to(ct);
    auto [var_l, mean_l] = torch::var_mean(xf, at::IntArrayRef(kReduceDims), /*unbiased=*/false, /*keepdim=*/false);
    const double n_local = static_cast<double>(x.numel() / c);
    const auto md = mean_l.to(torch::kFloat64);
    auto flat = torch::cat({md * n_local, (var_l.to(torch::kFloat64) + md * md) * n_local,
                            torch::full({1}, n_local, md.options())});
    dist.allreduce_sum({flat});
    const auto n = flat.narrow(0, 2 * c, 1);  // stays a tensor: no host synchronisation per layer
    const auto gmean = flat.narrow(0, 0, c) / n;
    const auto gvar = (flat.narrow(0, c, c) / n - gmean * gmean).clamp_min(0.0);
    mean = gmean.to(ct);
    invstd = torch::rsqrt(gvar + bn.options.eps()).to(ct);
    count = n.to(ct);
    unbiased_var = gvar * n / (n - 1.0).clamp_min(1.0);
    if (bn.options.track_running_stats() && bn.running_mean.defined()) {
      // As BatchNorm2d: momentum, or a cumulative average when momentum is None.
      double f = bn.options.momentum().value_or(0.0);
      if (bn.num_batches_tracked.defined()) {
        bn.num_batches_tracked += 1;
        if (!bn.options.momentum()) f = 1.0 / bn.num_batches_tracked.item<double>();
      }
      bn.running_mean.mul_(1.0 - f).add_(gmean.to(bn.running_mean.scalar_type()), f);
      bn.running_var.mul_(1.0 - f).add_(unbiased_var.to(bn.running_var.scalar_type()), f);
    }
  }
  return SyncBNFunction::apply(x, bn.weight, bn.bias, mean, invstd, count, &dist);
}

}  // namespace detail

torch::Tensor sync_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, Distributed& dist) {
  if (!bn.is_training() || dist.world_size() == 1) return bn.forward(x);
  return detail::sync_batch_norm_train(bn, x, dist);
}

int enable_sync_batchnorm(torch::nn::Module& model, Distributed& dist) {
  Distributed* d = &dist;
  auto fn = std::make_shared<const nn::BatchNormTrainFn>(
      [d](torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) { return sync_batch_norm(bn, x, *d); });
  int n = 0;
  for (const auto& m : model.modules(/*include_self=*/true))
    if (auto conv = std::dynamic_pointer_cast<nn::ConvImpl>(m); conv && !conv->bn.is_empty()) {
      conv->bn_train_fn = fn;
      ++n;
    }
  return n;
}

int disable_sync_batchnorm(torch::nn::Module& model) {
  int n = 0;
  for (const auto& m : model.modules(/*include_self=*/true))
    if (auto conv = std::dynamic_pointer_cast<nn::ConvImpl>(m); conv && conv->bn_train_fn) {
      conv->bn_train_fn.reset();
      ++n;
    }
  return n;
}

}  // namespace yolocpp::engine
