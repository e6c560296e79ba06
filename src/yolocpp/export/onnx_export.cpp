#include "yolocpp/export/onnx_export.hpp"

#include "yolocpp/util/time.hpp"

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <type_traits>

#include "yolocpp/nn/block.hpp"
#include "yolocpp/nn/conv.hpp"
#include "yolocpp/nn/head.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/version.hpp"

namespace yolocpp::io {
namespace {

using Module = torch::nn::Module;

// A graph value and its shape as far as it is known statically (-1 = symbolic axis).
struct Val {
  std::string name;
  std::vector<int64_t> shape;
};

// IR version that goes with an opset (onnx/helper.py's table): 12-14 -> 7, 15-17 -> 8.
int ir_version_for(int opset) { return opset <= 14 ? 7 : 8; }

std::string scope_of(const std::string& path) {
  std::string s = "/" + path;
  for (auto& c : s)
    if (c == '.') c = '/';
  return s;
}

int64_t mul_or_unknown(int64_t a, int64_t b) { return a < 0 || b < 0 ? -1 : a * b; }

class GraphWriter {
 public:
  GraphWriter(onnx::GraphProto* g, int opset, bool half, bool dynamic)
      : g_(g), opset_(opset), half_(half), dynamic_(dynamic) {}

  int opset() const { return opset_; }
  bool dynamic() const { return dynamic_; }
  int32_t float_type() const { return half_ ? onnx::TensorProto::FLOAT16 : onnx::TensorProto::FLOAT; }

  // Appends a node named after the module path ("/model.2/cv1/conv/Conv", suffixed when repeated) and
  // returns its output names. `outs` overrides the generated output names (graph outputs).
  onnx::NodeProto& add(const std::string& path, const std::string& op, const std::vector<std::string>& inputs,
                       int n_out = 1, const std::vector<std::string>& outs = {}) {
    std::string name = scope_of(path) + "/" + op;
    if (int n = name_count_[name]++; n > 0) name += "_" + std::to_string(n);
    auto* node = g_->add_node();
    node->set_op_type(op);
    node->set_name(name);
    for (const auto& in : inputs) node->add_input(in);
    for (int i = 0; i < n_out; ++i)
      node->add_output(i < static_cast<int>(outs.size()) ? outs[i] : name + "_output_" + std::to_string(i));
    return *node;
  }
  std::string add1(const std::string& path, const std::string& op, const std::vector<std::string>& inputs) {
    return add(path, op, inputs).output(0);
  }

  // Initializer from a tensor: floating point tensors are stored in the graph's float type.
  std::string init(const std::string& name, const torch::Tensor& t) {
    auto c = t.detach().to(torch::kCPU);
    auto* tp = g_->add_initializer();
    tp->set_name(name);
    for (auto d : c.sizes()) tp->add_dims(d);
    if (c.is_floating_point()) {
      c = c.to(half_ ? torch::kHalf : torch::kFloat).contiguous();
      tp->set_data_type(float_type());
    } else if (c.scalar_type() == torch::kLong) {
      c = c.contiguous();
      tp->set_data_type(onnx::TensorProto::INT64);
    } else {
      throw ModelError(fmt::format("ONNX export: unsupported tensor dtype for '{}'", name));
    }
    tp->set_raw_data(std::string(static_cast<const char*>(c.data_ptr()), c.nbytes()));
    return name;
  }

  // Shared constants (shape vectors, slice bounds, scalars), one initializer per distinct value.
  std::string i64(const std::vector<int64_t>& v, bool scalar = false) {
    std::string key = fmt::format("i64{}:{}", scalar ? "s" : "", fmt::join(v, ","));
    auto it = consts_.find(key);
    if (it != consts_.end()) return it->second;
    auto t = torch::tensor(v, torch::kLong);
    if (scalar) t = t.reshape({});
    return consts_[key] = init(fmt::format("const_i64_{}", consts_.size()), t);
  }
  std::string f(float v) {  // 0-d scalar in the graph's float type
    std::string key = fmt::format("f:{:a}", v);
    auto it = consts_.find(key);
    if (it != consts_.end()) return it->second;
    return consts_[key] = init(fmt::format("const_f_{}", consts_.size()), torch::tensor(v).reshape({}));
  }
  // Resize takes float32 roi/scales whatever the data type.
  std::string f32_1d(const std::vector<float>& v) {
    std::string key = fmt::format("f32:{}", fmt::join(v, ","));
    auto it = consts_.find(key);
    if (it != consts_.end()) return it->second;
    auto* tp = g_->add_initializer();
    tp->set_name(fmt::format("const_f32_{}", consts_.size()));
    tp->set_data_type(onnx::TensorProto::FLOAT);
    tp->add_dims(static_cast<int64_t>(v.size()));
    tp->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    return consts_[key] = tp->name();
  }

 private:
  onnx::GraphProto* g_;
  int opset_;
  bool half_, dynamic_;
  std::map<std::string, int> name_count_;
  std::map<std::string, std::string> consts_;
};

void attr(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void attr(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}
void attr(onnx::NodeProto& n, const std::string& name, const std::string& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

class ModelEmitter {
 public:
  explicit ModelEmitter(GraphWriter& w) : w_(w) {}

  // Shape constant for a Reshape: the full static shape when known, else `fallback` (0 = keep, -1 = infer).
  std::string shape_const(const std::vector<int64_t>& shape, const std::vector<int64_t>& fallback) {
    for (auto d : shape)
      if (d < 0) return w_.i64(fallback);
    return w_.i64(shape);
  }

  Val conv2d(const std::string& path, torch::nn::Conv2dImpl& c, const Val& x) {
    const auto& o = c.options;
    // Unqualified visit: the options' variants are c10::variant in LibTorch 1.13 and std::variant in 2.x,
    // and argument-dependent lookup picks the matching visit.
    bool zeros = false;
    visit([&](const auto& m) { zeros = std::is_same_v<std::decay_t<decltype(m)>, torch::enumtype::kZeros>; },
          o.padding_mode());
    if (!zeros) throw ModelError(fmt::format("ONNX export: {} uses a padding mode other than zeros", path));
    std::vector<int64_t> p;
    visit([&](const auto& v) {
      if constexpr (std::is_same_v<std::decay_t<decltype(v)>, torch::ExpandingArray<2>>) p = {(*v)[0], (*v)[1]};
    }, o.padding());
    if (p.empty()) throw ModelError(fmt::format("ONNX export: {} uses 'same'/'valid' padding", path));
    const auto k = *o.kernel_size(), s = *o.stride(), d = *o.dilation();
    std::vector<std::string> in{x.name, w_.init(path + ".weight", c.weight)};
    if (c.bias.defined()) in.push_back(w_.init(path + ".bias", c.bias));
    auto& n = w_.add(path, "Conv", in);
    attr(n, "dilations", std::vector<int64_t>{d[0], d[1]});
    attr(n, "group", o.groups());
    attr(n, "kernel_shape", std::vector<int64_t>{k[0], k[1]});
    attr(n, "pads", std::vector<int64_t>{p[0], p[1], p[0], p[1]});
    attr(n, "strides", std::vector<int64_t>{s[0], s[1]});
    auto out_dim = [](int64_t v, int64_t k_, int64_t s_, int64_t p_, int64_t d_) {
      return v < 0 ? -1 : (v + 2 * p_ - d_ * (k_ - 1) - 1) / s_ + 1;
    };
    return {n.output(0),
            {x.shape[0], o.out_channels(), out_dim(x.shape[2], k[0], s[0], p[0], d[0]),
             out_dim(x.shape[3], k[1], s[1], p[1], d[1])}};
  }

  // Conv(+fused BN)(+SiLU as x * sigmoid(x), which is how torch 1.13 exports SiLU).
  Val conv_block(const std::string& path, nn::ConvImpl& c, const Val& x) {
    if (!c.bn.is_empty()) throw ModelError(fmt::format("ONNX export: {} is not fused (call fuse() first)", path));
    auto y = conv2d(path + ".conv", *c.conv, x);
    if (!c.act) return y;
    auto s = w_.add1(path + ".act", "Sigmoid", {y.name});
    return {w_.add1(path + ".act", "Mul", {y.name, s}), y.shape};
  }

  Val binary(const std::string& path, const std::string& op, const Val& a, const Val& b) {
    return {w_.add1(path, op, {a.name, b.name}), a.shape};
  }

  Val concat(const std::string& path, const std::vector<Val>& xs, int64_t axis) {
    std::vector<std::string> names;
    auto shape = xs[0].shape;
    shape[axis] = 0;
    for (const auto& x : xs) {
      names.push_back(x.name);
      shape[axis] = (shape[axis] < 0 || x.shape[axis] < 0) ? -1 : shape[axis] + x.shape[axis];
    }
    auto& n = w_.add(path, "Concat", names);
    attr(n, "axis", axis);
    return {n.output(0), shape};
  }

  // Two equal channel halves (C2f/C3k2/C2PSA). No sizes input: equal split means the same in opsets
  // 12-17, and OpenCV's importer handles it.
  std::pair<Val, Val> halves(const std::string& path, const Val& x) {
    auto& n = w_.add(path, "Split", {x.name}, 2);
    attr(n, "axis", int64_t{1});
    auto shape = x.shape;
    shape[1] = shape[1] < 0 ? -1 : shape[1] / 2;
    return {{n.output(0), shape}, {n.output(1), shape}};
  }

  // Unequal channel ranges use Slice: OpenCV 4.6 cannot import Split with unequal sizes.
  Val slice(const std::string& path, const Val& x, int64_t begin, int64_t end, int64_t axis) {
    auto name = w_.add1(path, "Slice", {x.name, w_.i64({begin}), w_.i64({end}), w_.i64({axis})});
    auto shape = x.shape;
    shape[axis] = end - begin;
    return {name, shape};
  }

  Val reshape(const std::string& path, const Val& x, const std::vector<int64_t>& shape,
              const std::vector<int64_t>& dynamic_shape) {
    return {w_.add1(path, "Reshape", {x.name, shape_const(shape, dynamic_shape)}), shape};
  }

  Val transpose(const std::string& path, const Val& x, const std::vector<int64_t>& perm) {
    auto& n = w_.add(path, "Transpose", {x.name});
    attr(n, "perm", perm);
    std::vector<int64_t> shape;
    for (auto p : perm) shape.push_back(x.shape[p]);
    return {n.output(0), shape};
  }

  Val softmax(const std::string& path, const Val& x, int64_t axis) {
    auto& n = w_.add(path, "Softmax", {x.name});
    attr(n, "axis", axis);
    return {n.output(0), x.shape};
  }

  Val chain(const std::string& path, const std::vector<std::shared_ptr<nn::BlockImpl>>& items, Val x) {
    for (size_t i = 0; i < items.size(); ++i) x = block(path + "." + std::to_string(i), items[i], x);
    return x;
  }

  Val attention(const std::string& path, nn::AttentionImpl& a, const Val& x) {
    const auto B = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    const auto nh = a.num_heads, kd = a.key_dim, hd = a.head_dim;
    auto qkv = conv_block(path + ".qkv", *a.qkv, x);
    auto r = reshape(path, qkv, {B, nh, 2 * kd + hd, mul_or_unknown(H, W)}, {0, nh, 2 * kd + hd, -1});
    auto q = slice(path, r, 0, kd, 2);
    auto k = slice(path, r, kd, 2 * kd, 2);
    auto v = slice(path, r, 2 * kd, 2 * kd + hd, 2);
    // The scale multiplies q before the product, not the product: OpenCV 4.6's default layer fusion folds a
    // constant Mul that follows a MatMul into it wrongly (off by ~65 in the logits), a Mul on a slice it leaves.
    q = {w_.add1(path, "Mul", {q.name, w_.f(static_cast<float>(a.scale))}), q.shape};
    auto qt = transpose(path, q, {0, 1, 3, 2});
    Val att{w_.add1(path, "MatMul", {qt.name, k.name}), {B, nh, r.shape[3], r.shape[3]}};
    att = softmax(path, att, -1);  // last axis: the same in the pre-13 (2-D coercing) Softmax
    auto att_t = transpose(path, att, {0, 1, 3, 2});
    Val o{w_.add1(path, "MatMul", {v.name, att_t.name}), v.shape};
    // Back to [B, C, H, W]: constant when static; the input's own shape when dynamic (C is the same).
    const bool known = B >= 0 && H >= 0 && W >= 0;
    std::string bchw = known ? w_.i64({B, C, H, W}) : w_.add1(path, "Shape", {x.name});
    o = {w_.add1(path, "Reshape", {o.name, bchw}), x.shape};
    Val vr{w_.add1(path, "Reshape", {v.name, bchw}), x.shape};
    auto pe = conv_block(path + ".pe", *a.pe, vr);
    o = binary(path, "Add", o, pe);
    return conv_block(path + ".proj", *a.proj, o);
  }

  Val block(const std::string& path, const std::shared_ptr<Module>& m, const Val& x) {
    if (auto c = std::dynamic_pointer_cast<nn::ConvImpl>(m)) return conv_block(path, *c, x);
    if (auto b = std::dynamic_pointer_cast<nn::BottleneckImpl>(m)) {
      auto y = conv_block(path + ".cv2", *b->cv2, conv_block(path + ".cv1", *b->cv1, x));
      return b->add ? binary(path, "Add", x, y) : y;
    }
    if (auto c = std::dynamic_pointer_cast<nn::C3kImpl>(m)) {
      auto a = chain(path + ".m", c->m.items, conv_block(path + ".cv1", *c->cv1, x));
      auto b = conv_block(path + ".cv2", *c->cv2, x);
      return conv_block(path + ".cv3", *c->cv3, concat(path, {a, b}, 1));
    }
    if (auto c = std::dynamic_pointer_cast<nn::C2fImpl>(m)) {
      auto [a, b] = halves(path, conv_block(path + ".cv1", *c->cv1, x));
      std::vector<Val> ys{a, b};
      for (size_t i = 0; i < c->m.items.size(); ++i)
        ys.push_back(block(path + ".m." + std::to_string(i), c->m.items[i], ys.back()));
      return conv_block(path + ".cv2", *c->cv2, concat(path, ys, 1));
    }
    if (auto s = std::dynamic_pointer_cast<nn::SPPFImpl>(m)) {
      std::vector<Val> ys{conv_block(path + ".cv1", *s->cv1, x)};
      const auto& o = s->m->options;
      const auto k = *o.kernel_size(), st = *o.stride(), p = *o.padding();
      if ((*o.dilation())[0] != 1 || o.ceil_mode())
        throw ModelError(fmt::format("ONNX export: {} max-pool uses dilation or ceil_mode", path));
      for (int i = 0; i < 3; ++i) {
        auto& n = w_.add(path + ".m", "MaxPool", {ys.back().name});
        attr(n, "ceil_mode", int64_t{0});
        attr(n, "kernel_shape", std::vector<int64_t>{k[0], k[1]});
        attr(n, "pads", std::vector<int64_t>{p[0], p[1], p[0], p[1]});
        attr(n, "strides", std::vector<int64_t>{st[0], st[1]});
        ys.push_back({n.output(0), ys.back().shape});
      }
      return conv_block(path + ".cv2", *s->cv2, concat(path, ys, 1));
    }
    if (auto c = std::dynamic_pointer_cast<nn::C2PSAImpl>(m)) {
      auto [a, b] = halves(path, conv_block(path + ".cv1", *c->cv1, x));
      b = chain(path + ".m", c->m.items, b);
      return conv_block(path + ".cv2", *c->cv2, concat(path, {a, b}, 1));
    }
    if (auto p = std::dynamic_pointer_cast<nn::PSABlockImpl>(m)) {
      auto a = attention(path + ".attn", *p->attn, x);
      auto y = p->add ? binary(path, "Add", x, a) : a;
      auto f = chain(path + ".ffn", p->ffn.items, y);
      return p->add ? binary(path, "Add", y, f) : f;
    }
    if (auto u = std::dynamic_pointer_cast<nn::UpsampleImpl>(m)) {
      if (u->mode != "nearest")
        throw ModelError(fmt::format("ONNX export: {} upsampling mode '{}' is not supported (nearest only)", path, u->mode));
      const auto sc = static_cast<float>(u->scale);
      // An empty roi keeps one signature valid from opset 11 to 17.
      auto& n = w_.add(path, "Resize", {x.name, w_.f32_1d({}), w_.f32_1d({1.f, 1.f, sc, sc})});
      attr(n, "coordinate_transformation_mode", std::string("asymmetric"));
      attr(n, "mode", std::string("nearest"));
      attr(n, "nearest_mode", std::string("floor"));
      auto shape = x.shape;
      for (int i = 2; i < 4; ++i) shape[i] = shape[i] < 0 ? -1 : static_cast<int64_t>(shape[i] * u->scale);
      return {n.output(0), shape};
    }
    throw ModelError(fmt::format("ONNX export: module {} has a type the ONNX writer does not know", path));
  }

  Val branch(const std::string& path, const torch::nn::ModuleList& seq, Val x) {
    for (size_t j = 0; j < seq->size(); ++j) {
      const auto p = path + "." + std::to_string(j);
      auto m = seq->ptr(j);
      if (auto c = std::dynamic_pointer_cast<nn::ConvImpl>(m)) x = conv_block(p, *c, x);
      else if (auto c2 = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(m)) x = conv2d(p, *c2, x);
      else if (auto sub = std::dynamic_pointer_cast<torch::nn::ModuleListImpl>(m)) x = branch(p, torch::nn::ModuleList(sub), x);
      else throw ModelError(fmt::format("ONNX export: {} has a type the ONNX writer does not know", p));
    }
    return x;
  }

  // Anchor centres [2, A] and strides [1, A] computed from each level's runtime shape (dynamic export).
  std::pair<Val, Val> dynamic_anchors(const std::string& path, const std::vector<Val>& levels, const nn::DetectImpl& d) {
    std::vector<Val> pts, strides;
    const auto ft = w_.float_type();
    for (size_t i = 0; i < levels.size(); ++i) {
      auto shp = w_.add1(path, "Shape", {levels[i].name});
      auto hw = w_.add1(path, "Gather", {shp, w_.i64({2, 3})});
      auto axis_centres = [&](int64_t idx) {
        auto n = w_.add1(path, "Gather", {shp, w_.i64({idx}, true)});
        auto r = w_.add1(path, "Range", {w_.i64({0}, true), n, w_.i64({1}, true)});
        auto& cast = w_.add(path, "Cast", {r});
        attr(cast, "to", static_cast<int64_t>(ft));
        return w_.add1(path, "Add", {cast.output(0), w_.f(0.5f)});
      };
      auto sx = w_.add1(path, "Reshape", {axis_centres(3), w_.i64({1, -1})});
      auto sy = w_.add1(path, "Reshape", {axis_centres(2), w_.i64({-1, 1})});
      auto ax = w_.add1(path, "Reshape", {w_.add1(path, "Expand", {sx, hw}), w_.i64({1, -1})});
      auto ay = w_.add1(path, "Reshape", {w_.add1(path, "Expand", {sy, hw}), w_.i64({1, -1})});
      pts.push_back(concat(path, {{ax, {1, -1}}, {ay, {1, -1}}}, 0));
      auto s = w_.init(fmt::format("{}.stride{}", path, i), d.stride[i].reshape({1, 1}));
      strides.push_back({w_.add1(path, "Expand", {s, w_.add1(path, "Shape", {ax})}), {1, -1}});
    }
    return {concat(path, pts, 1), concat(path, strides, 1)};
  }

  Val detect(const std::string& path, nn::DetectImpl& d, const std::vector<Val>& xs) {
    std::vector<Val> flat;
    std::vector<torch::Tensor> dummies;  // level shapes for the static anchor table
    const auto B = xs[0].shape[0];
    for (int64_t i = 0; i < d.nl; ++i) {
      const auto si = std::to_string(i);
      auto box = branch(path + ".cv2." + si, d.cv2_levels[i], xs[i]);
      auto cls = branch(path + ".cv3." + si, d.cv3_levels[i], xs[i]);
      auto cat = concat(path, {box, cls}, 1);
      flat.push_back(reshape(path, cat, {B, d.no, mul_or_unknown(cat.shape[2], cat.shape[3])}, {0, d.no, -1}));
      if (cat.shape[2] > 0 && cat.shape[3] > 0) dummies.push_back(torch::empty({1, 1, cat.shape[2], cat.shape[3]}));
      levels_.push_back(cat);
    }
    auto x = concat(path, flat, 2);
    const auto A = x.shape[2], rm = d.reg_max;
    auto box = slice(path, x, 0, 4 * rm, 1);
    auto cls = slice(path, x, 4 * rm, d.no, 1);

    // DFL: softmax over the reg_max bins, then the fixed 0..reg_max-1 conv (its expectation).
    const std::string dp = path + ".dfl";
    auto r = reshape(dp, box, {B, 4, rm, A}, {0, 4, rm, -1});
    Val sm;
    if (w_.opset() >= 13) {
      sm = softmax(dp, transpose(dp, r, {0, 2, 1, 3}), 1);
    } else {
      // Before opset 13 Softmax flattens every axis from `axis` on: only the last axis is safe.
      sm = transpose(dp, softmax(dp, transpose(dp, r, {0, 1, 3, 2}), 3), {0, 3, 1, 2});
    }
    auto dc = conv2d(dp + ".conv", *d.dfl->conv, sm);
    auto dist = reshape(dp, dc, {B, 4, A}, {0, 4, -1});
    auto lt = slice(path, dist, 0, 2, 1);
    auto rb = slice(path, dist, 2, 4, 1);

    Val anchors, strides;
    if (w_.dynamic() || static_cast<int64_t>(dummies.size()) != d.nl) {
      std::tie(anchors, strides) = dynamic_anchors(path, levels_, d);
    } else {
      auto [a, s] = nn::make_anchors(dummies, d.stride, 0.5);
      anchors = {w_.init(path + ".anchors", a.transpose(0, 1).unsqueeze(0).contiguous()), {1, 2, A}};
      // Full [1, 4, A] rather than a broadcast [1, 1, A]: OpenCV 4.6 turns a Mul by a constant into its
      // Scale layer, which fails on that broadcast; the elementwise products are the same.
      strides = {w_.init(path + ".strides", s.transpose(0, 1).unsqueeze(0).expand({1, 4, A}).contiguous()), {1, 4, A}};
    }
    // Same operation order as the LibTorch decode (corners, then centre/size, then x stride).
    auto x1y1 = Val{w_.add1(path, "Sub", {anchors.name, lt.name}), lt.shape};
    auto x2y2 = Val{w_.add1(path, "Add", {anchors.name, rb.name}), rb.shape};
    auto c = Val{w_.add1(path, "Div", {w_.add1(path, "Add", {x1y1.name, x2y2.name}), w_.f(2.f)}), lt.shape};
    auto wh = binary(path, "Sub", x2y2, x1y1);
    auto dbox = concat(path, {c, wh}, 1);
    dbox = {w_.add1(path, "Mul", {dbox.name, strides.name}), dbox.shape};
    Val scores{w_.add1(path, "Sigmoid", {cls.name}), cls.shape};
    auto& n = w_.add(path, "Concat", {dbox.name, scores.name}, 1, {"output0"});
    attr(n, "axis", int64_t{1});
    return {n.output(0), {B, 4 + d.nc, A}};
  }

  Val model(nn::DetectionModelImpl& model, const Val& input) {
    std::shared_ptr<torch::nn::ModuleListImpl> list;
    for (const auto& item : model.named_children())
      if (item.key() == "model") list = std::dynamic_pointer_cast<torch::nn::ModuleListImpl>(item.value());
    if (!list) throw ModelError("ONNX export: the model has no 'model' layer list");
    const auto infos = model.layers();
    std::vector<Val> y;
    Val x = input;
    for (size_t i = 0; i < infos.size(); ++i) {
      const std::string path = "model." + std::to_string(i);
      auto in = [&](int f) { return f == -1 ? x : y.at(f < 0 ? static_cast<int>(i) + f : f); };
      auto m = list->ptr(i);
      if (auto c = std::dynamic_pointer_cast<nn::ConcatImpl>(m)) {
        std::vector<Val> xs;
        for (int f : infos[i].from) xs.push_back(in(f));
        x = concat(path, xs, c->dim);
      } else if (auto d = std::dynamic_pointer_cast<nn::DetectImpl>(m)) {
        std::vector<Val> xs;
        for (int f : infos[i].from) xs.push_back(in(f));
        return detect(path, *d, xs);
      } else {
        x = block(path, m, in(infos[i].from.at(0)));
      }
      y.push_back(x);
    }
    throw ModelError("ONNX export: the model has no Detect layer");
  }

 private:
  GraphWriter& w_;
  std::vector<Val> levels_;
};

void set_value_info(onnx::ValueInfoProto* vi, const std::string& name, int32_t elem,
                    const std::vector<int64_t>& shape, const std::vector<std::string>& params) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  auto* sh = tt->mutable_shape();
  for (size_t i = 0; i < shape.size(); ++i) {
    auto* d = sh->add_dim();
    if (shape[i] >= 0) d->set_dim_value(shape[i]);
    else d->set_dim_param(params[i]);
  }
}


void check_options(const nn::DetectionModelImpl& model, const OnnxExportOptions& o) {
  const int op = o.effective_opset();
  if (op < kOnnxMinOpset || op > kOnnxMaxOpset)
    throw ConfigError(fmt::format("opset={} is not supported by the ONNX writer; use {}..{} (default {})", op,
                                  kOnnxMinOpset, kOnnxMaxOpset, kOnnxDefaultOpset));
  if (o.batch < 1) throw ConfigError(fmt::format("batch={} must be >= 1 for export", o.batch));
  const auto gs = static_cast<int64_t>(model.stride().max().item<double>());
  if (o.height < gs || o.width < gs || o.height % gs || o.width % gs)
    throw ConfigError(fmt::format("imgsz=[{}, {}] must be positive multiples of the model's max stride {}",
                                  o.height, o.width, gs));
}

}  // namespace

std::string py_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const char q = has_single && s.find('"') == std::string::npos ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\' || c == static_cast<unsigned char>(q)) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);  // UTF-8 passes through as Python 3 prints printable text
  }
  return out + q;
}

std::vector<std::pair<std::string, std::string>> onnx_metadata(const nn::DetectionModelImpl& model,
                                                               const OnnxExportOptions& o) {
  std::string names = "{";
  for (size_t i = 0; i < model.names.size(); ++i)
    names += fmt::format("{}{}: {}", i ? ", " : "", i, py_repr(model.names[i]));
  names += "}";
  const auto gs = static_cast<int64_t>(model.stride().max().item<double>());
  const auto py_bool = [](bool b) { return b ? "True" : "False"; };
  const std::string opset = o.opset ? std::to_string(*o.opset) : "None";
  // The model family's description, license and docs as Ultralytics writes them (the architecture and
  // its weights carry that license); author/version name the tool that actually wrote the file.
  return {
      {"description", fmt::format("Ultralytics {} model {}", nn::model_display_name(model),
                                  o.data.empty() ? "" : "trained on " + o.data)},
      {"author", "yolocpp"},
      {"date", o.date.empty() ? util::local_iso_time(/*microseconds=*/true) : o.date},
      {"version", YOLOCPP_VERSION},
      {"license", "AGPL-3.0 License (https://ultralytics.com/license)"},
      {"docs", "https://docs.ultralytics.com"},
      {"stride", std::to_string(gs)},
      {"task", "detect"},
      {"batch", std::to_string(o.batch)},
      {"imgsz", fmt::format("[{}, {}]", o.height, o.width)},
      {"names", names},
      {"args", fmt::format("{{'batch': {}, 'half': {}, 'dynamic': {}, 'simplify': False, 'opset': {}}}", o.batch,
                           py_bool(o.half), py_bool(o.dynamic), opset)},
  };
}

std::string onnx_model_bytes(nn::DetectionModelImpl& model, const OnnxExportOptions& o, OnnxExportResult* info) {
  check_options(model, o);
  torch::NoGradGuard no_grad;
  model.eval();
  model.fuse();

  const int opset = o.effective_opset();
  onnx::ModelProto mp;
  mp.set_ir_version(ir_version_for(opset));
  mp.set_producer_name("yolocpp");
  mp.set_producer_version(YOLOCPP_VERSION);
  auto* imp = mp.add_opset_import();
  imp->set_domain("");
  imp->set_version(opset);
  for (const auto& [k, v] : onnx_metadata(model, o)) {
    auto* p = mp.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }
  auto* g = mp.mutable_graph();
  g->set_name("yolocpp");

  GraphWriter w(g, opset, o.half, o.dynamic);
  const int64_t B = o.dynamic ? -1 : o.batch, H = o.dynamic ? -1 : o.height, W = o.dynamic ? -1 : o.width;
  Val input{"images", {B, 3, H, W}};
  ModelEmitter em(w);
  auto out = em.model(model, input);

  set_value_info(g->add_input(), "images", w.float_type(), input.shape, {"batch", "", "height", "width"});
  set_value_info(g->add_output(), out.name, w.float_type(), out.shape, {"batch", "", "anchors"});

  if (info) {
    info->opset = opset;
    info->nodes = g->node_size();
    info->initializers = g->initializer_size();
    info->input_shape = input.shape;
    info->output_shape = out.shape;
  }
  std::string bytes;
  if (!mp.SerializeToString(&bytes)) throw ModelError("ONNX export: protobuf serialization failed");
  if (info) info->bytes = static_cast<int64_t>(bytes.size());
  return bytes;
}

OnnxExportResult export_onnx(nn::DetectionModelImpl& model, const std::string& path, const OnnxExportOptions& o) {
  OnnxExportResult r;
  const auto bytes = onnx_model_bytes(model, o, &r);
  util::atomic_write(path, bytes);
  r.path = path;
  return r;
}

}  // namespace yolocpp::io
