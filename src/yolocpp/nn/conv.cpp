#include "yolocpp/nn/conv.hpp"

#include <numeric>

#include "yolocpp/util/error.hpp"

namespace yolocpp::nn {

ConvImpl::ConvImpl(int64_t c1, int64_t c2, int64_t k, int64_t s, int64_t g, int64_t d, bool act_)
    : act(act_) {
  // "same" padding for odd kernels; with dilation the effective kernel size decides (nn/modules/conv.py autopad).
  const int64_t keff = d > 1 ? d * (k - 1) + 1 : k;
  conv = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(c1, c2, k).stride(s).padding(keff / 2).groups(g).dilation(d).bias(false)));
  bn = register_module("bn", torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(c2).eps(1e-3).momentum(0.03)));
}

torch::Tensor ConvImpl::forward(torch::Tensor x) {
  x = conv->forward(x);
  if (!bn.is_empty()) x = bn_train_fn && bn->is_training() ? (*bn_train_fn)(*bn, x) : bn->forward(x);
  if (act) x = torch::silu(x);
  if (profile.enabled) profile.out_numel = x.numel();
  return x;
}

void ConvImpl::fuse() {
  if (bn.is_empty()) return;
  torch::NoGradGuard no_grad;
  const auto& co = conv->options;
  auto fused = torch::nn::Conv2d(torch::nn::Conv2dOptions(co.in_channels(), co.out_channels(), co.kernel_size())
                                     .stride(co.stride())
                                     .padding(co.padding())
                                     .groups(co.groups())
                                     .dilation(co.dilation())
                                     .bias(true));
  auto w = conv->weight.detach();
  // Per output channel: W' = W * gamma / sqrt(var + eps); b' = beta - gamma * mean / sqrt(var + eps).
  auto scale = bn->weight.detach() / torch::sqrt(bn->running_var + bn->options.eps());
  auto new_w = (w.reshape({w.size(0), -1}) * scale.unsqueeze(1)).reshape(w.sizes());
  auto new_b = bn->bias.detach() - bn->weight.detach() * bn->running_mean / torch::sqrt(bn->running_var + bn->options.eps());
  if (conv->options.bias()) new_b = new_b + conv->bias.detach() * scale;
  fused->to(w.device(), w.scalar_type());
  fused->weight.copy_(new_w);
  fused->bias.copy_(new_b);
  fused->train(is_training());
  conv = replace_module("conv", fused);
  unregister_module("bn");
  bn = nullptr;
}

double ConvImpl::profiled_macs() const {
  const auto& co = conv->options;
  const double per_out = static_cast<double>(co.in_channels() / co.groups()) * (*co.kernel_size())[0] *
                             (*co.kernel_size())[1] + (co.bias() ? 1.0 : 0.0);
  double macs = per_out * static_cast<double>(profile.out_numel);
  if (!bn.is_empty()) macs += 4.0 * static_cast<double>(profile.out_numel);
  return macs;
}

Conv DWConv(int64_t c1, int64_t c2, int64_t k, int64_t s, int64_t d, bool act) {
  Conv c(c1, c2, k, s, std::gcd(c1, c2), d, act);
  c->depthwise_name_ = true;
  return c;
}

UpsampleImpl::UpsampleImpl(double scale_, std::string mode_) : scale(scale_), mode(std::move(mode_)) {
  if (mode != "nearest" && mode != "bilinear")
    throw ModelError("nn.Upsample mode '" + mode + "' is not supported; use \"nearest\" or \"bilinear\"");
  if (!(scale > 0)) throw ModelError("nn.Upsample scale_factor must be > 0, got " + std::to_string(scale));
}

torch::Tensor UpsampleImpl::forward(torch::Tensor x) {
  namespace F = torch::nn::functional;
  auto opts = F::InterpolateFuncOptions().scale_factor(std::vector<double>{scale, scale});
  if (mode == "bilinear") {
    opts.mode(torch::kBilinear).align_corners(false);
  } else {
    opts.mode(torch::kNearest);
  }
  auto y = F::interpolate(x, opts);
  if (profile.enabled) profile.out_numel = y.numel();
  return y;
}

}  // namespace yolocpp::nn
