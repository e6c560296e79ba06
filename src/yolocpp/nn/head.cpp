#include "yolocpp/nn/head.hpp"

#include <algorithm>
#include <cmath>

#include "yolocpp/util/error.hpp"

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

namespace {

// One head (box and class branches for every level) appended to the given lists.
void build_head(const std::vector<int64_t>& ch, int64_t nc, int64_t reg_max, bool legacy, torch::nn::ModuleList& box_all,
                torch::nn::ModuleList& cls_all, std::vector<torch::nn::ModuleList>& box_levels,
                std::vector<torch::nn::ModuleList>& cls_levels) {
  const int64_t c2 = std::max<int64_t>({16, ch[0] / 4, reg_max * 4});
  const int64_t c3 = std::max<int64_t>(ch[0], std::min<int64_t>(nc, 100));
  for (int64_t x : ch) {
    torch::nn::ModuleList box;
    box->push_back(Conv(x, c2, 3));
    box->push_back(Conv(c2, c2, 3));
    box->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(c2, 4 * reg_max, 1)));
    box_all->push_back(box);
    box_levels.push_back(box);

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
    cls_all->push_back(cls);
    cls_levels.push_back(cls);
  }
}

// dst's parameters and buffers := src's (same structure, same registration order).
void copy_module_state(const torch::nn::Module& src, torch::nn::Module& dst) {
  torch::NoGradGuard no_grad;
  auto sp = src.named_parameters(true), dp = dst.named_parameters(true);
  for (const auto& p : sp) dp[p.key()].copy_(p.value());
  auto sb = src.named_buffers(true), db = dst.named_buffers(true);
  for (const auto& b : sb) db[b.key()].copy_(b.value());
}

}  // namespace

DetectImpl::DetectImpl(int64_t nc_, const std::vector<int64_t>& ch_, bool legacy_, int64_t reg_max_, bool has_one2one)
    : nc(nc_), nl(static_cast<int64_t>(ch_.size())), reg_max(reg_max_), no(nc_ + 4 * reg_max_), legacy(legacy_),
      end2end(has_one2one), ch(ch_) {
  if (reg_max < 1 || reg_max > 64)
    throw ModelError("Detect: reg_max must be 1..64, got " + std::to_string(reg_max) + "; fix the model yaml");
  cv2 = register_module("cv2", torch::nn::ModuleList());
  cv3 = register_module("cv3", torch::nn::ModuleList());
  build_head(ch, nc, reg_max, legacy, cv2, cv3, cv2_levels, cv3_levels);
  if (reg_max > 1) {
    dfl = register_module("dfl", DFL(reg_max));
  } else {
    register_module("dfl", torch::nn::Identity());  // Ultralytics keeps an nn.Identity child (counted as a module)
  }
  if (has_one2one) {
    one2one_cv2 = register_module("one2one_cv2", torch::nn::ModuleList());
    one2one_cv3 = register_module("one2one_cv3", torch::nn::ModuleList());
    build_head(ch, nc, reg_max, legacy, one2one_cv2, one2one_cv3, o2o_cv2_levels, o2o_cv3_levels);
    // A deep copy, not a second random init: both heads start from the same point (ultralytics 8.4.27
    // ultralytics/nn/modules/head.py Detect.__init__ copy.deepcopy(self.cv2)).
    copy_module_state(*cv2, *one2one_cv2);
    copy_module_state(*cv3, *one2one_cv3);
  }
  stride = torch::zeros({nl}, torch::kFloat);
}

void DetectImpl::drop_one2many() {
  if (!has_one2one() || !has_one2many()) return;
  unregister_module("cv2");
  unregister_module("cv3");
  cv2 = torch::nn::ModuleList(nullptr);
  cv3 = torch::nn::ModuleList(nullptr);
  cv2_levels.clear();
  cv3_levels.clear();
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

std::vector<torch::Tensor> DetectImpl::run_head(const std::vector<torch::nn::ModuleList>& box,
                                                 const std::vector<torch::nn::ModuleList>& cls,
                                                 const std::vector<torch::Tensor>& xs, bool detach) {
  if (static_cast<int64_t>(xs.size()) != nl)
    throw ModelError("Detect: expected " + std::to_string(nl) + " feature maps, got " + std::to_string(xs.size()));
  std::vector<torch::Tensor> out;
  out.reserve(xs.size());
  if (profile.enabled) profiled_hw.clear();
  for (int64_t i = 0; i < nl; ++i) {
    auto x = detach ? xs[i].detach() : xs[i];
    out.push_back(torch::cat({run_branch(box[i], x), run_branch(cls[i], x)}, 1));
    if (profile.enabled) profiled_hw.push_back(xs[i].size(2) * xs[i].size(3) * xs[i].size(0));
  }
  return out;
}

std::vector<torch::Tensor> DetectImpl::forward_raw(const std::vector<torch::Tensor>& xs) {
  if (!has_one2many())
    throw ModelError("Detect: the one-to-many head was removed by fuse() with end2end on; fuse with end2end=False "
                     "to keep it");
  return run_head(cv2_levels, cv3_levels, xs, false);
}

std::vector<torch::Tensor> DetectImpl::forward_raw_one2one(const std::vector<torch::Tensor>& xs) {
  if (!has_one2one()) throw ModelError("Detect: this model has no one-to-one (end-to-end) head");
  return run_head(o2o_cv2_levels, o2o_cv3_levels, xs, true);
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

torch::Tensor DetectImpl::decode(const std::vector<torch::Tensor>& raw, bool xyxy) {
  const auto B = raw[0].size(0);
  std::vector<torch::Tensor> flat;
  for (const auto& r : raw) flat.push_back(r.view({B, no, -1}));
  auto x_cat = torch::cat(flat, 2);
  auto [anchors, strides] = anchors_for(raw);
  auto parts = x_cat.split_with_sizes({reg_max * 4, nc}, 1);
  // Corners first, then centre/size, then x stride: the order that reproduces Ultralytics' rounding.
  auto dist = dfl.is_empty() ? parts[0] : dfl->forward(parts[0]);
  auto lt_rb = dist.chunk(2, 1);
  auto a = anchors.unsqueeze(0);
  auto x1y1 = a - lt_rb[0];
  auto x2y2 = a + lt_rb[1];
  auto dbox = (xyxy ? torch::cat({x1y1, x2y2}, 1) : torch::cat({(x1y1 + x2y2) / 2, x2y2 - x1y1}, 1)) * strides;
  return torch::cat({dbox, parts[1].sigmoid()}, 1);
}

void DetectImpl::bias_init() {
  torch::NoGradGuard no_grad;
  // 8.3.58 (YOLO11's fixtures) sets the box bias to 1.0; 8.4.27 sets 2.0, which the YOLO26 head is built with.
  const double box_bias = has_one2one() ? 2.0 : 1.0;
  for (auto* heads : {&cv2_levels, &o2o_cv2_levels}) {
    const auto& clsv = heads == &cv2_levels ? cv3_levels : o2o_cv3_levels;
    for (size_t i = 0; i < heads->size(); ++i) {
      const double s = stride[static_cast<int64_t>(i)].item<double>();
      auto box = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>((*heads)[i]->ptr(2));
      auto cls = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(clsv[i]->ptr(2));
      box->bias.fill_(box_bias);
      // About 5 objects per 640x640 image spread over nc classes.
      cls->bias.slice(0, 0, nc).fill_(std::log(5.0 / static_cast<double>(nc) / std::pow(640.0 / s, 2)));
    }
  }
}

torch::Tensor topk_select(const torch::Tensor& y, int64_t max_det, bool agnostic, torch::Tensor* anchor_idx) {
  const auto B = y.size(0), A = y.size(2), nc = y.size(1) - 4;
  const int64_t k = std::min(max_det, A);
  auto yt = y.transpose(1, 2);  // [B, A, 4 + nc]
  auto boxes = yt.slice(2, 0, 4);
  auto scores = yt.slice(2, 4);
  torch::Tensor idx, out_scores, out_cls;
  if (agnostic) {
    auto [best, best_cls] = scores.max(-1);  // [B, A]
    auto [s, i] = best.topk(k, 1);
    idx = i;
    out_scores = s;
    out_cls = best_cls.gather(1, i).to(y.scalar_type());
  } else {
    auto [ignored, cand] = scores.amax(-1).topk(k, 1);  // [B, k] anchors of largest max score
    (void)ignored;
    auto cand_scores = scores.gather(1, cand.unsqueeze(-1).expand({B, k, nc}));  // [B, k, nc]
    auto [s, flat] = cand_scores.flatten(1).topk(k, 1);
    out_scores = s;
    idx = cand.gather(1, torch::div(flat, nc, "floor"));
    out_cls = torch::remainder(flat, nc).to(y.scalar_type());
  }
  auto out_boxes = boxes.gather(1, idx.unsqueeze(-1).expand({B, k, 4}));
  if (anchor_idx) *anchor_idx = idx;
  return torch::cat({out_boxes, out_scores.unsqueeze(-1), out_cls.unsqueeze(-1)}, -1);
}

double DetectImpl::profiled_macs() const {
  double macs = 0;
  for (const auto* head : {&cv2_levels, &cv3_levels, &o2o_cv2_levels, &o2o_cv3_levels}) {
    // The one-to-one head runs only while end2end is on (as in Ultralytics' forward).
    if (!end2end && (head == &o2o_cv2_levels || head == &o2o_cv3_levels)) continue;
    for (size_t i = 0; i < head->size() && i < profiled_hw.size(); ++i) {
      auto c = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>((*head)[i]->ptr(2));
      const auto& o = c->options;
      macs += static_cast<double>(profiled_hw[i]) * o.out_channels() * (o.in_channels() + (o.bias() ? 1 : 0));
    }
  }
  return macs;
}

}  // namespace yolocpp::nn
