#include "yolocpp/nn/block.hpp"

#include <algorithm>
#include <cmath>

#include "yolocpp/util/error.hpp"

namespace yolocpp::nn {

BottleneckImpl::BottleneckImpl(int64_t c1, int64_t c2, bool shortcut, int64_t g, int64_t k1, int64_t k2, double e) {
  const auto c_ = static_cast<int64_t>(c2 * e);
  cv1 = register_module("cv1", Conv(c1, c_, k1, 1));
  cv2 = register_module("cv2", Conv(c_, c2, k2, 1, g));
  add = shortcut && c1 == c2;
}

torch::Tensor BottleneckImpl::forward(torch::Tensor x) {
  auto y = cv2->forward(cv1->forward(x));
  return add ? x + y : y;
}

C3kImpl::C3kImpl(int64_t c1, int64_t c2, int64_t n, bool shortcut, int64_t g, double e, int64_t k) {
  const auto c_ = static_cast<int64_t>(c2 * e);
  cv1 = register_module("cv1", Conv(c1, c_, 1, 1));
  cv2 = register_module("cv2", Conv(c1, c_, 1, 1));
  cv3 = register_module("cv3", Conv(2 * c_, c2, 1));
  m.list = register_module("m", torch::nn::ModuleList());
  for (int64_t i = 0; i < n; ++i) m.push_back(Bottleneck(c_, c_, shortcut, g, k, k, 1.0).ptr());
}

torch::Tensor C3kImpl::forward(torch::Tensor x) {
  return cv3->forward(torch::cat({m.run(cv1->forward(x)), cv2->forward(x)}, 1));
}

C2fImpl::C2fImpl(Kind kind_, int64_t c1, int64_t c2, int64_t n, bool shortcut, double e, bool c3k, int64_t g,
                 bool attn)
    : kind(kind_) {
  c = static_cast<int64_t>(c2 * e);
  cv1 = register_module("cv1", Conv(c1, 2 * c, 1, 1));
  cv2 = register_module("cv2", Conv((2 + n) * c, c2, 1));
  m.list = register_module("m", torch::nn::ModuleList());
  for (int64_t i = 0; i < n; ++i) {
    if (kind == Kind::C2f) {
      m.push_back(Bottleneck(c, c, shortcut, g, 3, 3, 1.0).ptr());
    } else if (attn) {
      m.push_back(SequentialPair(Bottleneck(c, c, shortcut, g, 3, 3, 0.5).ptr(),
                                 PSABlock(c, 0.5, std::max<int64_t>(c / 64, 1)).ptr())
                      .ptr());
    } else if (c3k) {
      m.push_back(C3k(c, c, 2, shortcut, g).ptr());
    } else {
      m.push_back(Bottleneck(c, c, shortcut, g, 3, 3, 0.5).ptr());
    }
  }
}

torch::Tensor C2fImpl::forward(torch::Tensor x) {
  auto halves = cv1->forward(x).chunk(2, 1);
  std::vector<torch::Tensor> ys(halves.begin(), halves.end());
  for (const auto& b : m.items) ys.push_back(b->forward(ys.back()));
  return cv2->forward(torch::cat(ys, 1));
}

SPPFImpl::SPPFImpl(int64_t c1, int64_t c2, int64_t k, int64_t n_, bool shortcut, bool cv1_act) : n(n_) {
  if (n < 1 || n > 16) throw ModelError("SPPF: the number of pools must be 1..16, got " + std::to_string(n));
  const int64_t c_ = c1 / 2;
  cv1 = register_module("cv1", Conv(c1, c_, 1, 1, 1, 1, cv1_act));
  cv2 = register_module("cv2", Conv(c_ * (n + 1), c2, 1, 1));
  m = register_module("m", torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(k).stride(1).padding(k / 2)));
  add = shortcut && c1 == c2;
}

torch::Tensor SPPFImpl::forward(torch::Tensor x) {
  std::vector<torch::Tensor> ys{cv1->forward(x)};
  for (int64_t i = 0; i < n; ++i) ys.push_back(m->forward(ys.back()));
  auto z = cv2->forward(torch::cat(ys, 1));
  return add ? z + x : z;
}

SequentialPairImpl::SequentialPairImpl(std::shared_ptr<BlockImpl> a, std::shared_ptr<BlockImpl> b)
    : a_(register_module("0", std::move(a))), b_(register_module("1", std::move(b))) {}

AttentionImpl::AttentionImpl(int64_t dim, int64_t num_heads_, double attn_ratio) : num_heads(num_heads_) {
  if (num_heads <= 0 || dim % num_heads != 0)
    throw ModelError("Attention: dim " + std::to_string(dim) + " is not divisible into " +
                     std::to_string(num_heads) + " heads (C2PSA needs c1*e >= 64 and a multiple of 64)");
  head_dim = dim / num_heads;
  key_dim = static_cast<int64_t>(head_dim * attn_ratio);
  scale = std::pow(static_cast<double>(key_dim), -0.5);
  const int64_t h = dim + 2 * key_dim * num_heads;
  qkv = register_module("qkv", Conv(dim, h, 1, 1, 1, 1, false));
  proj = register_module("proj", Conv(dim, dim, 1, 1, 1, 1, false));
  pe = register_module("pe", Conv(dim, dim, 3, 1, dim, 1, false));
}

torch::Tensor AttentionImpl::forward(torch::Tensor x) {
  const auto B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const auto N = H * W;
  // Channels are grouped per head as [q (key_dim), k (key_dim), v (head_dim)].
  auto parts = qkv->forward(x).view({B, num_heads, 2 * key_dim + head_dim, N}).split_with_sizes({key_dim, key_dim, head_dim}, 2);
  auto& q = parts[0];
  auto& k = parts[1];
  auto& v = parts[2];
  auto attn = (q.transpose(-2, -1).matmul(k) * scale).softmax(-1);
  auto o = v.matmul(attn.transpose(-2, -1)).view({B, C, H, W}) + pe->forward(v.reshape({B, C, H, W}));
  return proj->forward(o);
}

PSABlockImpl::PSABlockImpl(int64_t c, double attn_ratio, int64_t num_heads, bool shortcut) : add(shortcut) {
  attn = register_module("attn", Attention(c, num_heads, attn_ratio));
  ffn.list = register_module("ffn", torch::nn::ModuleList());
  ffn.push_back(Conv(c, c * 2, 1).ptr());
  ffn.push_back(Conv(c * 2, c, 1, 1, 1, 1, false).ptr());
}

torch::Tensor PSABlockImpl::forward(torch::Tensor x) {
  x = add ? x + attn->forward(x) : attn->forward(x);
  x = add ? x + ffn.run(x) : ffn.run(x);
  return x;
}

C2PSAImpl::C2PSAImpl(int64_t c1, int64_t c2, int64_t n, double e) {
  if (c1 != c2)
    throw ModelError("C2PSA needs equal input and output channels, got " + std::to_string(c1) + " -> " +
                     std::to_string(c2) + " (place it after a layer with the same width)");
  c = static_cast<int64_t>(c1 * e);
  cv1 = register_module("cv1", Conv(c1, 2 * c, 1, 1));
  cv2 = register_module("cv2", Conv(2 * c, c1, 1));
  m.list = register_module("m", torch::nn::ModuleList());
  for (int64_t i = 0; i < n; ++i) m.push_back(PSABlock(c, 0.5, c / 64).ptr());
}

torch::Tensor C2PSAImpl::forward(torch::Tensor x) {
  auto ab = cv1->forward(x).split_with_sizes({c, c}, 1);
  return cv2->forward(torch::cat({ab[0], m.run(ab[1])}, 1));
}

}  // namespace yolocpp::nn
