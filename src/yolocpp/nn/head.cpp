#include "yolocpp/nn/head.hpp"

#include <algorithm>
#include <cmath>

namespace yolocpp::nn {

DFLImpl::DFLImpl(int64_t c1_) : c1(c1_) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(c1, 1, 1).bias(false)));
  torch::NoGradGuard no_grad;
  conv->weight.copy_(torch::arange(c1, torch::kFloat).view({1, c1, 1, 1}));
  conv->weight.set_requires_grad(false);  // fixed expectation weights, never trained
}

torch::Tensor DFLImpl::forward(torch::Tensor x) {
  const auto b = x.size(0), a = x.size(2);
  return conv->forward(x.view({b, 4, c1, a}).transpose(2, 1).softmax(1)).view({b, 4, a});
}

DetectImpl::DetectImpl(int64_t nc_, const std::vector<int64_t>& ch_, bool legacy_)
    : nc(nc_), nl(static_cast<int64_t>(ch_.size())), no(nc_ + 4 * 16), legacy(legacy_), ch(ch_) {
  const int64_t c2 = std::max<int64_t>({16, ch[0] / 4, reg_max * 4});
  const int64_t c3 = std::max<int64_t>(ch[0], std::min<int64_t>(nc, 100));
  cv2 = register_module("cv2", torch::nn::ModuleList());
  cv3 = register_module("cv3", torch::nn::ModuleList());
  for (int64_t x : ch) {
    torch::nn::ModuleList box;
    box->push_back(Conv(x, c2, 3));
    box->push_back(Conv(c2, c2, 3));
    box->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(c2, 4 * reg_max, 1)));
    cv2->push_back(box);
    cv2_levels.push_back(box);

    torch::nn::ModuleList cls;
    if (legacy) {
      cls->push_back(Conv(x, c3, 3));
      cls->push_back(Conv(c3, c3, 3));
    } else {
      torch::nn::ModuleList a, b;
      a->push_back(DWConv(x, x, 3));
      a->push_back(Conv(x, c3, 1));
      b->push_back(DWConv(c3, c3, 3));
      b->push_back(Conv(c3, c3, 1));
      cls->push_back(a);
      cls->push_back(b);
    }
    cls->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(c3, nc, 1)));
    cv3->push_back(cls);
    cv3_levels.push_back(cls);
  }
  dfl = register_module("dfl", DFL(reg_max));
  stride = torch::zeros({nl}, torch::kFloat);
}

torch::Tensor DetectImpl::run_branch(const torch::nn::ModuleList& seq, torch::Tensor x) const {
  for (const auto& m : *seq) {
    if (auto c = std::dynamic_pointer_cast<ConvImpl>(m)) {
      x = c->forward(x);
    } else if (auto c2d = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(m)) {
      x = c2d->forward(x);
    } else if (auto sub = std::dynamic_pointer_cast<torch::nn::ModuleListImpl>(m)) {
      x = run_branch(torch::nn::ModuleList(sub), x);
    }
  }
  return x;
}

std::vector<torch::Tensor> DetectImpl::forward_raw(const std::vector<torch::Tensor>& xs) {
  std::vector<torch::Tensor> out;
  out.reserve(xs.size());
  if (profile.enabled) profiled_hw.clear();
  for (int64_t i = 0; i < nl; ++i) {
    out.push_back(torch::cat({run_branch(cv2_levels[i], xs[i]), run_branch(cv3_levels[i], xs[i])}, 1));
    if (profile.enabled) profiled_hw.push_back(xs[i].size(2) * xs[i].size(3) * xs[i].size(0));
  }
  return out;
}

std::pair<torch::Tensor, torch::Tensor> make_anchors(const std::vector<torch::Tensor>& feats,
                                                     const torch::Tensor& strides, double offset) {
  std::vector<torch::Tensor> points, stride_t;
  auto s_cpu = strides.to(torch::kCPU, torch::kDouble);
  for (size_t i = 0; i < feats.size(); ++i) {
    const auto h = feats[i].size(2), w = feats[i].size(3);
    auto opts = feats[i].options();
    auto sx = torch::arange(w, opts) + offset;
    auto sy = torch::arange(h, opts) + offset;
    auto grid = torch::meshgrid({sy, sx}, "ij");
    points.push_back(torch::stack({grid[1], grid[0]}, -1).view({-1, 2}));
    stride_t.push_back(torch::full({h * w, 1}, s_cpu[i].item<double>(), opts));
  }
  return {torch::cat(points), torch::cat(stride_t)};
}

std::pair<torch::Tensor, torch::Tensor> DetectImpl::anchors_for(const std::vector<torch::Tensor>& raw) {
  std::vector<int64_t> key;
  for (const auto& r : raw) {
    key.push_back(r.size(2));
    key.push_back(r.size(3));
  }
  key.push_back(static_cast<int64_t>(raw[0].scalar_type()));
  key.push_back(static_cast<int64_t>(raw[0].device().type()));
  key.push_back(raw[0].device().index());
  std::lock_guard<std::mutex> lock(anchors_mu_);
  auto it = anchors_cache_.find(key);
  if (it != anchors_cache_.end()) return it->second;
  torch::NoGradGuard no_grad;
  auto [a, s] = make_anchors(raw, stride, 0.5);
  auto v = std::make_pair(a.transpose(0, 1).contiguous(), s.transpose(0, 1).contiguous());
  anchors_cache_.emplace(key, v);
  return v;
}

torch::Tensor DetectImpl::decode(const std::vector<torch::Tensor>& raw) {
  const auto B = raw[0].size(0);
  std::vector<torch::Tensor> flat;
  for (const auto& r : raw) flat.push_back(r.view({B, no, -1}));
  auto x_cat = torch::cat(flat, 2);
  auto [anchors, strides] = anchors_for(raw);
  auto parts = x_cat.split_with_sizes({reg_max * 4, nc}, 1);
  // Corners first, then centre/size, then x stride: the order that reproduces Ultralytics' rounding.
  auto dist = dfl->forward(parts[0]);
  auto lt_rb = dist.chunk(2, 1);
  auto a = anchors.unsqueeze(0);
  auto x1y1 = a - lt_rb[0];
  auto x2y2 = a + lt_rb[1];
  auto dbox = torch::cat({(x1y1 + x2y2) / 2, x2y2 - x1y1}, 1) * strides;
  return torch::cat({dbox, parts[1].sigmoid()}, 1);
}

void DetectImpl::bias_init() {
  torch::NoGradGuard no_grad;
  for (int64_t i = 0; i < nl; ++i) {
    const double s = stride[i].item<double>();
    auto box = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(cv2_levels[i]->ptr(2));
    auto cls = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(cv3_levels[i]->ptr(2));
    box->bias.fill_(1.0);
    // About 5 objects per 640x640 image spread over nc classes.
    cls->bias.slice(0, 0, nc).fill_(std::log(5.0 / static_cast<double>(nc) / std::pow(640.0 / s, 2)));
  }
}

double DetectImpl::profiled_macs() const {
  double macs = 0;
  for (int64_t i = 0; i < nl && i < static_cast<int64_t>(profiled_hw.size()); ++i) {
    for (const auto* lv : {&cv2_levels[i], &cv3_levels[i]}) {
      auto c = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>((*lv)->ptr(2));
      const auto& o = c->options;
      macs += static_cast<double>(profiled_hw[i]) * o.out_channels() * (o.in_channels() + (o.bias() ? 1 : 0));
    }
  }
  return macs;
}

}  // namespace yolocpp::nn
