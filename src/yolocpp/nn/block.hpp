// Composite blocks of YOLO11 / YOLOv8 (ultralytics 8.3.58 nn/modules/block.py). Containers are ModuleLists so the
// children are named "m.0", "m.1", ... exactly as Ultralytics' Sequential/ModuleList children.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "yolocpp/nn/conv.hpp"

namespace yolocpp::nn {

// A ModuleList of blocks that also keeps typed pointers, so forward needs no casts.
struct BlockList {
  torch::nn::ModuleList list;
  std::vector<std::shared_ptr<BlockImpl>> items;
  void push_back(std::shared_ptr<BlockImpl> b) {
    list->push_back(b);
    items.push_back(std::move(b));
  }
  torch::Tensor run(torch::Tensor x) const {
    for (const auto& b : items) x = b->forward(x);
    return x;
  }
};

// x + cv2(cv1(x)) when shortcut and c1 == c2, else cv2(cv1(x)).
class BottleneckImpl : public BlockImpl {
 public:
  BottleneckImpl(int64_t c1, int64_t c2, bool shortcut = true, int64_t g = 1, int64_t k1 = 3, int64_t k2 = 3,
                 double e = 0.5);
  torch::Tensor forward(torch::Tensor x) override;
  std::string type_name() const override { return "Bottleneck"; }
  Conv cv1{nullptr}, cv2{nullptr};
  bool add;
};
TORCH_MODULE(Bottleneck);

// CSP block with 3 convs: cv3(cat[m(cv1(x)), cv2(x)]); C3k2 uses it with n = 2 and k = 3.
class C3kImpl : public BlockImpl {
 public:
  C3kImpl(int64_t c1, int64_t c2, int64_t n = 1, bool shortcut = true, int64_t g = 1, double e = 0.5, int64_t k = 3);
  torch::Tensor forward(torch::Tensor x) override;
  std::string type_name() const override { return "C3k"; }
  Conv cv1{nullptr}, cv2{nullptr}, cv3{nullptr};
  BlockList m;
};
TORCH_MODULE(C3k);

// C2f (YOLOv8) and C3k2 (YOLO11): split cv1(x) into halves, chain n blocks on the second half, and
// cv2 the concatenation of every intermediate. C3k2 only swaps the block type (block.py C3k2).
class C2fImpl : public BlockImpl {
 public:
  enum class Kind { C2f, C3k2 };
  // For Kind::C2f the blocks are Bottleneck(c, c, shortcut, g, 3, 3, e=1.0); for C3k2 they are C3k
  // (c3k = true) or Bottleneck(c, c, shortcut, g, 3, 3, e=0.5). attn (YOLO26, ultralytics 8.4.27
  // ultralytics/nn/modules/block.py C3k2): each block is the pair Bottleneck then PSABlock, named "m.<j>.0" /
  // "m.<j>.1"; it takes precedence over c3k.
  C2fImpl(Kind kind, int64_t c1, int64_t c2, int64_t n, bool shortcut, double e, bool c3k = false, int64_t g = 1,
          bool attn = false);
  torch::Tensor forward(torch::Tensor x) override;
  std::string type_name() const override { return kind == Kind::C2f ? "C2f" : "C3k2"; }
  Kind kind;
  int64_t c;
  Conv cv1{nullptr}, cv2{nullptr};
  BlockList m;
};
TORCH_MODULE(C2f);

// Spatial pyramid pooling, fast: n chained k x k max-pools, concatenated with their input. The 8.4 form
// (ultralytics 8.4.27 ultralytics/nn/modules/block.py SPPF, used by YOLO26) has no SiLU after cv1 and adds the
// input back when shortcut and c1 == c2; the 8.3 form (YOLO11 as 8.3.58 builds it) keeps SiLU and no residual.
class SPPFImpl : public BlockImpl {
 public:
  SPPFImpl(int64_t c1, int64_t c2, int64_t k = 5, int64_t n = 3, bool shortcut = false, bool cv1_act = true);
  torch::Tensor forward(torch::Tensor x) override;
  std::string type_name() const override { return "SPPF"; }
  Conv cv1{nullptr}, cv2{nullptr};
  torch::nn::MaxPool2d m{nullptr};
  int64_t n;
  bool add;
};

// Two blocks run one after the other, named "0" and "1" like a two-element nn.Sequential.
class SequentialPairImpl : public BlockImpl {
 public:
  SequentialPairImpl(std::shared_ptr<BlockImpl> a, std::shared_ptr<BlockImpl> b);
  torch::Tensor forward(torch::Tensor x) override { return b_->forward(a_->forward(x)); }
  std::string type_name() const override { return "Sequential"; }

 private:
  std::shared_ptr<BlockImpl> a_, b_;
};
TORCH_MODULE(SequentialPair);
TORCH_MODULE(SPPF);

// Multi-head self-attention over all H*W positions with a depthwise positional-encoding conv on v.
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t dim, int64_t num_heads = 8, double attn_ratio = 0.5);
  torch::Tensor forward(torch::Tensor x);
  int64_t num_heads, head_dim, key_dim;
  double scale;
  Conv qkv{nullptr}, proj{nullptr}, pe{nullptr};
};
TORCH_MODULE(Attention);

// x + attn(x), then x + ffn(x).
class PSABlockImpl : public BlockImpl {
 public:
  PSABlockImpl(int64_t c, double attn_ratio = 0.5, int64_t num_heads = 4, bool shortcut = true);
  torch::Tensor forward(torch::Tensor x) override;
  std::string type_name() const override { return "PSABlock"; }
  Attention attn{nullptr};
  BlockList ffn;
  bool add;
};
TORCH_MODULE(PSABlock);

// cv2(cat[a, m(b)]) where (a, b) are the two halves of cv1(x).
class C2PSAImpl : public BlockImpl {
 public:
  C2PSAImpl(int64_t c1, int64_t c2, int64_t n = 1, double e = 0.5);
  torch::Tensor forward(torch::Tensor x) override;
  std::string type_name() const override { return "C2PSA"; }
  int64_t c;
  Conv cv1{nullptr}, cv2{nullptr};
  BlockList m;
};
TORCH_MODULE(C2PSA);

}  // namespace yolocpp::nn
