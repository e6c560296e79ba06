#include "yolocpp/io/ultralytics_save.hpp"

#include "yolocpp/util/time.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>

#include "yolocpp/config/settings.hpp"
#include "yolocpp/io/pickle_writer.hpp"
#include "yolocpp/nn/model.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/version.hpp"

namespace yolocpp::io {

namespace {

using Emit = std::function<void()>;
using Attrs = std::vector<std::pair<std::string, Emit>>;

// A YAML scalar as the Python value Ultralytics' yaml loader would make of it (quoted text stays a string).
void emit_scalar(PickleWriter& w, const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return w.str(s);
  static const std::regex int_re(R"([-+]?[0-9]+)"), float_re(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return w.none();
  if (s == "true" || s == "True" || s == "TRUE") return w.boolean(true);
  if (s == "false" || s == "False" || s == "FALSE") return w.boolean(false);
  if (std::regex_match(s, int_re)) {
    try {
      return w.integer(std::stoll(s));
    } catch (const std::out_of_range&) {
      return w.str(s);
    }
  }
  if (std::regex_match(s, float_re)) return w.real(std::stod(s));
  if (s == ".inf" || s == "+.inf") return w.real(INFINITY);
  if (s == "-.inf") return w.real(-INFINITY);
  if (s == ".nan") return w.real(NAN);
  w.str(s);
}

void emit_yaml(PickleWriter& w, const YAML::Node& n) {
  if (!n || n.IsNull()) return w.none();
  if (n.IsScalar()) return emit_scalar(w, n);
  if (n.IsSequence()) {
    w.empty_list();
    if (n.size() == 0) return;
    w.mark();
    for (const auto& x : n) emit_yaml(w, x);
    w.appends();
    return;
  }
  w.empty_dict();
  if (n.size() == 0) return;
  w.mark();
  for (const auto& kv : n) {
    emit_scalar(w, kv.first);
    emit_yaml(w, kv.second);
  }
  w.setitems();
}

void emit_int_tuple(PickleWriter& w, const std::vector<int64_t>& v) {
  if (v.size() <= 3) {
    for (int64_t x : v) w.integer(x);
    w.tuple(v.size());
    return;
  }
  w.mark();
  for (int64_t x : v) w.integer(x);
  w.tuple_from_mark();
}

// The Ultralytics class behind each yolocpp layer type name.
std::pair<std::string, std::string> python_class(const std::string& type) {
  if (type == "Conv" || type == "DWConv" || type == "Concat") return {"ultralytics.nn.modules.conv", type};
  if (type == "Detect") return {"ultralytics.nn.modules.head", type};
  if (type == "nn.Upsample") return {"torch.nn.modules.upsampling", "Upsample"};
  return {"ultralytics.nn.modules.block", type};
}

class ModuleWriter {
 public:
  ModuleWriter(TorchArchive& a, const std::map<std::string, torch::Tensor>& weights) : a_(a), w_(a.pickle()), weights_(weights) {}

  void model(const nn::DetectionModelImpl& m, const Attrs& root_attrs) {
    const auto infos = m.layers();
    const torch::nn::Module* list = nullptr;
    for (const auto& c : m.named_children())
      if (c.key() == "model") list = c.value().get();
    if (!list) throw ModelError("checkpoint writer: the model has no layer list");
    Attrs seq_children;
    size_t i = 0;
    for (const auto& c : list->named_children()) {
      if (i >= infos.size()) throw ModelError("checkpoint writer: more layers than the layer table lists");
      const nn::LayerInfo info = infos[i++];
      const std::string prefix = "model." + c.key() + ".";
      const torch::nn::Module* layer = c.value().get();
      seq_children.emplace_back(c.key(), [this, layer, prefix, info] { this->layer(*layer, prefix, info); });
    }
    Attrs children{{"model", [this, seq_children] { plain("torch.nn.modules.container", "Sequential", "", {}, {}, seq_children, {}); }}};
    plain("ultralytics.nn.tasks", "DetectionModel", "", {}, {}, children, root_attrs);
  }

 private:
  // One nn.Module as torch 1.13 pickles it: cls.__new__ then its __dict__ as BUILD state.
  void plain(const std::string& mod, const std::string& cls, const std::string& prefix,
             const std::vector<std::string>& params, const std::vector<std::string>& buffers, const Attrs& children,
             const Attrs& attrs) {
    w_.global(mod, cls);
    w_.empty_tuple();
    w_.newobj();
    w_.empty_dict();
    w_.mark();
    w_.str("training");
    w_.boolean(false);
    w_.str("_parameters");
    tensors(prefix, params, true);
    w_.str("_buffers");
    tensors(prefix, buffers, false);
    w_.str("_non_persistent_buffers_set");
    w_.empty_set();
    for (const char* hooks : {"_backward_hooks", "_is_full_backward_hook", "_forward_hooks", "_forward_pre_hooks",
                              "_state_dict_hooks", "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks"}) {
      w_.str(hooks);
      if (std::string(hooks) == "_is_full_backward_hook") w_.none();
      else w_.ordered_dict();
    }
    w_.str("_modules");
    w_.ordered_dict();
    if (!children.empty()) {
      w_.mark();
      for (const auto& [k, v] : children) {
        w_.str(k);
        v();
      }
      w_.setitems();
    }
    for (const auto& [k, v] : attrs) {
      w_.str(k);
      v();
    }
    w_.setitems();
    w_.build();
  }

  // An OrderedDict of name -> tensor; "!bias" stands for a parameter slot that is None.
  void tensors(const std::string& prefix, const std::vector<std::string>& names, bool parameters) {
    w_.ordered_dict();
    if (names.empty()) return;
    w_.mark();
    for (const auto& n0 : names) {
      const bool absent = !n0.empty() && n0[0] == '!';
      const std::string n = absent ? n0.substr(1) : n0;
      w_.str(n);
      if (absent) {
        w_.none();
        continue;
      }
      auto it = weights_.find(prefix + n);
      if (it == weights_.end())
        throw ModelError("checkpoint writer: weight '" + prefix + n + "' is missing from the checkpoint");
      torch::Tensor t = it->second;
      if (t.is_floating_point()) t = t.to(torch::kFloat);
      a_.tensor(t, false, parameters);
    }
    w_.setitems();
  }

  Emit i64(int64_t v) { return [this, v] { w_.integer(v); }; }
  Emit f64(double v) { return [this, v] { w_.real(v); }; }
  Emit flag(bool v) { return [this, v] { w_.boolean(v); }; }
  Emit text(std::string v) { return [this, v] { w_.str(v); }; }
  Emit none() { return [this] { w_.none(); }; }

  void conv2d(const torch::nn::Conv2dImpl& c, const std::string& prefix) {
    const auto& o = c.options;
    // Unqualified visit: c10::variant in LibTorch 1.13, std::variant in 2.x; ADL picks the matching one.
    std::vector<int64_t> pad;
    visit([&](const auto& v) {
      if constexpr (std::is_same_v<std::decay_t<decltype(v)>, torch::ExpandingArray<2>>) pad = {(*v)[0], (*v)[1]};
    }, o.padding());
    if (pad.empty()) throw ModelError("checkpoint writer: 'same'/'valid' conv padding has no Ultralytics equivalent");
    const std::vector<int64_t> k{o.kernel_size()->at(0), o.kernel_size()->at(1)};
    const std::vector<int64_t> s{o.stride()->at(0), o.stride()->at(1)};
    const std::vector<int64_t> d{o.dilation()->at(0), o.dilation()->at(1)};
    Attrs attrs{{"in_channels", i64(o.in_channels())},
                {"out_channels", i64(o.out_channels())},
                {"kernel_size", [this, k] { emit_int_tuple(w_, k); }},
                {"stride", [this, s] { emit_int_tuple(w_, s); }},
                {"padding", [this, pad] { emit_int_tuple(w_, pad); }},
                {"dilation", [this, d] { emit_int_tuple(w_, d); }},
                {"transposed", flag(false)},
                {"output_padding", [this] { emit_int_tuple(w_, {0, 0}); }},
                {"groups", i64(o.groups())},
                {"padding_mode", text("zeros")},
                {"_reversed_padding_repeated_twice", [this, pad] { emit_int_tuple(w_, {pad[1], pad[1], pad[0], pad[0]}); }}};
    plain("torch.nn.modules.conv", "Conv2d", prefix, {"weight", o.bias() ? "bias" : "!bias"}, {}, {}, attrs);
  }

  void batchnorm(const torch::nn::BatchNorm2dImpl& b, const std::string& prefix) {
    const auto& o = b.options;
    Attrs attrs{{"num_features", i64(o.num_features())},
                {"eps", f64(o.eps())},
                {"momentum", o.momentum() ? f64(*o.momentum()) : none()},
                {"affine", flag(o.affine())},
                {"track_running_stats", flag(o.track_running_stats())}};
    plain("torch.nn.modules.batchnorm", "BatchNorm2d", prefix, {"weight", "bias"},
          {"running_mean", "running_var", "num_batches_tracked"}, {}, attrs);
  }

  // Ultralytics' Conv shares one SiLU (a class attribute) among all instances: pickled once, then referenced.
  void silu() {
    if (silu_memo_ >= 0) return w_.get(static_cast<uint32_t>(silu_memo_));
    plain("torch.nn.modules.activation", "SiLU", "", {}, {}, {}, {{"inplace", flag(true)}});
    silu_memo_ = w_.put();
  }

  void conv(const nn::ConvImpl& c, const std::string& prefix, Attrs extra) {
    if (c.fused()) throw ModelError("checkpoint writer: a fused model cannot be saved as a training checkpoint");
    Attrs children{{"conv", [this, &c, prefix] { conv2d(*c.conv, prefix + "conv."); }},
                   {"bn", [this, &c, prefix] { batchnorm(*c.bn, prefix + "bn."); }},
                   {"act", [this, &c] {
                      if (c.act) silu();
                      else plain("torch.nn.modules.linear", "Identity", "", {}, {}, {}, {});
                    }}};
    plain("ultralytics.nn.modules.conv", c.depthwise_name_ ? "DWConv" : "Conv", prefix, {}, {}, children, extra);
  }

  // A ModuleList / Sequential of yolocpp modules.
  void container(const torch::nn::Module& list, const std::string& prefix, bool sequential,
                 const std::function<bool(size_t)>& nested_sequential = {}) {
    Attrs children;
    size_t i = 0;
    for (const auto& c : list.named_children()) {
      const torch::nn::Module* m = c.value().get();
      const std::string p = prefix + c.key() + ".";
      const bool nested = nested_sequential && nested_sequential(i++);
      children.emplace_back(c.key(), [this, m, p, nested] {
        if (nested) container(*m, p, true);
        else any(*m, p, {});
      });
    }
    plain("torch.nn.modules.container", sequential ? "Sequential" : "ModuleList", prefix, {}, {}, children, {});
  }

  Emit child(const torch::nn::Module& m, const std::string& prefix) {
    return [this, &m, prefix] { any(m, prefix, {}); };
  }

  void any(const torch::nn::Module& m, const std::string& prefix, Attrs extra) {
    auto kids = [&](std::initializer_list<std::pair<const char*, const torch::nn::Module*>> l) {
      Attrs a;
      for (auto& [n, p] : l) a.emplace_back(n, child(*p, prefix + n + "."));
      return a;
    };
    auto with = [&](Attrs own) {
      own.insert(own.end(), extra.begin(), extra.end());
      return own;
    };
    const std::string block = "ultralytics.nn.modules.block";
    if (auto c = dynamic_cast<const nn::ConvImpl*>(&m)) return conv(*c, prefix, extra);
    if (auto c = dynamic_cast<const torch::nn::Conv2dImpl*>(&m)) return conv2d(*c, prefix);
    if (auto b = dynamic_cast<const nn::BottleneckImpl*>(&m))
      return plain(block, "Bottleneck", prefix, {}, {}, kids({{"cv1", b->cv1.get()}, {"cv2", b->cv2.get()}}),
                   with({{"add", flag(b->add)}}));
    if (auto b = dynamic_cast<const nn::C3kImpl*>(&m)) {
      Attrs ch = kids({{"cv1", b->cv1.get()}, {"cv2", b->cv2.get()}, {"cv3", b->cv3.get()}});
      ch.emplace_back("m", [this, b, prefix] { container(*b->m.list, prefix + "m.", true); });
      return plain(block, "C3k", prefix, {}, {}, ch, extra);
    }
    if (auto b = dynamic_cast<const nn::C2fImpl*>(&m)) {
      Attrs ch = kids({{"cv1", b->cv1.get()}, {"cv2", b->cv2.get()}});
      ch.emplace_back("m", [this, b, prefix] { container(*b->m.list, prefix + "m.", false); });
      return plain(block, b->type_name(), prefix, {}, {}, ch, with({{"c", i64(b->c)}}));
    }
    if (auto b = dynamic_cast<const nn::SPPFImpl*>(&m)) {
      Attrs ch = kids({{"cv1", b->cv1.get()}, {"cv2", b->cv2.get()}});
      const auto& o = b->m->options;
      ch.emplace_back("m", [this, o] {
        plain("torch.nn.modules.pooling", "MaxPool2d", "", {}, {}, {},
              {{"kernel_size", i64(o.kernel_size()->at(0))}, {"stride", i64(o.stride()->at(0))},
               {"padding", i64(o.padding()->at(0))}, {"dilation", i64(o.dilation()->at(0))},
               {"return_indices", flag(false)}, {"ceil_mode", flag(o.ceil_mode())}});
      });
      return plain(block, "SPPF", prefix, {}, {}, ch, extra);
    }
    if (auto b = dynamic_cast<const nn::AttentionImpl*>(&m))
      return plain(block, "Attention", prefix, {}, {},
                   kids({{"qkv", b->qkv.get()}, {"proj", b->proj.get()}, {"pe", b->pe.get()}}),
                   {{"num_heads", i64(b->num_heads)}, {"head_dim", i64(b->head_dim)}, {"key_dim", i64(b->key_dim)},
                    {"scale", f64(b->scale)}});
    if (auto b = dynamic_cast<const nn::PSABlockImpl*>(&m)) {
      Attrs ch = kids({{"attn", b->attn.get()}});
      ch.emplace_back("ffn", [this, b, prefix] { container(*b->ffn.list, prefix + "ffn.", true); });
      return plain(block, "PSABlock", prefix, {}, {}, ch, with({{"add", flag(b->add)}}));
    }
    if (auto b = dynamic_cast<const nn::C2PSAImpl*>(&m)) {
      Attrs ch = kids({{"cv1", b->cv1.get()}, {"cv2", b->cv2.get()}});
      ch.emplace_back("m", [this, b, prefix] { container(*b->m.list, prefix + "m.", true); });
      return plain(block, "C2PSA", prefix, {}, {}, ch, with({{"c", i64(b->c)}}));
    }
    if (auto u = dynamic_cast<const nn::UpsampleImpl*>(&m))
      return plain("torch.nn.modules.upsampling", "Upsample", prefix, {}, {}, {},
                   with({{"name", text("Upsample")}, {"size", none()}, {"scale_factor", f64(u->scale)},
                         {"mode", text(u->mode)}, {"align_corners", none()}, {"recompute_scale_factor", none()}}));
    if (auto c = dynamic_cast<const nn::ConcatImpl*>(&m))
      return plain("ultralytics.nn.modules.conv", "Concat", prefix, {}, {}, {}, with({{"d", i64(c->dim)}}));
    if (auto d = dynamic_cast<const nn::DFLImpl*>(&m))
      return plain(block, "DFL", prefix, {}, {}, kids({{"conv", d->conv.get()}}), {{"c1", i64(d->c1)}});
    if (auto d = dynamic_cast<const nn::DetectImpl*>(&m)) return detect(*d, prefix, extra);
    throw ModelError("checkpoint writer: no Ultralytics class for module " + m.name());
  }

  void detect(const nn::DetectImpl& d, const std::string& prefix, const Attrs& extra) {
    const bool legacy = d.legacy;
    // Each level's branch is a Sequential; YOLO11's class branch nests two Sequential(DWConv, Conv) pairs.
    Attrs ch{{"cv2", [this, &d, prefix] { container(*d.cv2, prefix + "cv2.", false, [](size_t) { return true; }); }},
             {"cv3", [this, &d, prefix, legacy] { levels(*d.cv3, prefix + "cv3.", legacy); }},
             {"dfl", child(*d.dfl, prefix + "dfl.")}};
    const torch::Tensor stride = d.stride.to(torch::kCPU, torch::kFloat);
    Attrs attrs{{"nc", i64(d.nc)}, {"nl", i64(d.nl)}, {"reg_max", i64(d.reg_max)}, {"no", i64(d.no)},
                {"stride", [this, stride] { a_.tensor(stride); }}};
    attrs.insert(attrs.end(), extra.begin(), extra.end());
    attrs.emplace_back("inplace", flag(true));
    plain("ultralytics.nn.modules.head", "Detect", prefix, {}, {}, ch, attrs);
  }

  void levels(const torch::nn::Module& cv3, const std::string& prefix, bool legacy) {
    Attrs children;
    for (const auto& c : cv3.named_children()) {
      const torch::nn::Module* lvl = c.value().get();
      const std::string p = prefix + c.key() + ".";
      children.emplace_back(c.key(), [this, lvl, p, legacy] {
        container(*lvl, p, true, [legacy](size_t j) { return !legacy && j < 2; });
      });
    }
    plain("torch.nn.modules.container", "ModuleList", prefix, {}, {}, children, {});
  }

  void layer(const torch::nn::Module& m, const std::string& prefix, const nn::LayerInfo& info) {
    const auto cls = python_class(info.type);
    std::vector<int64_t> from(info.from.begin(), info.from.end());
    Attrs extra{{"np", i64(info.params)},
                {"i", i64(info.index)},
                {"f", [this, from] {
                   if (from.size() == 1) return w_.integer(from[0]);
                   w_.empty_list();
                   w_.mark();
                   for (int64_t f : from) w_.integer(f);
                   w_.appends();
                 }},
                {"type", text(cls.first + "." + cls.second)}};
    any(m, prefix, extra);
  }

  TorchArchive& a_;
  PickleWriter& w_;
  const std::map<std::string, torch::Tensor>& weights_;
  int64_t silu_memo_ = -1;
};


YAML::Node parse_yaml(const std::string& text, const char* what) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ModelError(std::string("checkpoint writer: the ") + what + " is not valid YAML (" + e.what() + ")");
  }
}

void emit_optimizer(TorchArchive& a, const OptimizerState& os) {
  PickleWriter& w = a.pickle();
  w.empty_dict();
  w.mark();
  w.str("state");
  w.empty_dict();
  if (!os.state.empty()) {
    w.mark();
    for (const auto& [idx, slots] : os.state) {
      w.integer(idx);
      w.empty_dict();
      if (slots.empty()) continue;
      w.mark();
      for (const auto& [n, t] : slots) {
        w.str(n);
        a.tensor(t);
      }
      w.setitems();
    }
    w.setitems();
  }
  w.str("param_groups");
  w.empty_list();
  if (!os.param_groups.empty()) {
    w.mark();
    for (const auto& g : os.param_groups) {
      w.empty_dict();
      w.mark();
      std::map<std::string, std::vector<double>> tuples;  // "betas.0", "betas.1" -> betas
      for (const auto& [k, v] : g.values) {
        if (auto dot = k.find('.'); dot != std::string::npos) {
          tuples[k.substr(0, dot)].push_back(v);
          continue;
        }
        w.str(k);
        w.real(v);
      }
      for (const auto& [k, vs] : tuples) {
        w.str(k);
        w.mark();
        for (double v : vs) w.real(v);
        w.tuple_from_mark();
      }
      for (const auto& [k, v] : g.flags) {
        w.str(k);
        w.boolean(v);
      }
      w.str("foreach");
      w.none();
      w.str("params");
      w.empty_list();
      if (!g.params.empty()) {
        w.mark();
        for (int64_t p : g.params) w.integer(p);
        w.appends();
      }
      w.setitems();
    }
    w.appends();
  }
  w.setitems();
}

}  // namespace

std::string ultralytics_train_args_yaml(const std::string& yolocpp_args_yaml) {
  YAML::Node in = parse_yaml(yolocpp_args_yaml, "training settings");
  YAML::Node out(YAML::NodeType::Map);
  if (in.IsMap())
    for (const auto& kv : in) {
      const std::string k = kv.first.Scalar();
      if (!config::Settings::is_yolocpp_only(k)) out[k] = kv.second;
    }
  YAML::Emitter em;
  em << out;
  return em.c_str();
}

std::string ultralytics_checkpoint_bytes(const Checkpoint& ck) {
  torch::NoGradGuard no_grad;
  YAML::Node yaml = parse_yaml(ck.model_yaml, "model description");
  if (!yaml.IsMap()) throw ModelError("checkpoint writer: the model description is not a mapping");
  if (!yaml["ch"]) yaml["ch"] = 3;
  const int nc = yaml["nc"] ? yaml["nc"].as<int>() : static_cast<int>(ck.names.size());
  nn::DetectionModel skeleton(yaml, nc);  // the module structure only; its own weights are never written
  const bool training = ck.epoch >= 0;
  const auto& net_weights = ck.best_weights();
  YAML::Node train_args = ck.train_args_yaml.empty() ? YAML::Node(YAML::NodeType::Map)
                                                     : parse_yaml(ultralytics_train_args_yaml(ck.train_args_yaml), "training settings");
  YAML::Node metrics(YAML::NodeType::Map);
  if (!ck.metrics_json.empty()) {
    try {
      auto j = nlohmann::json::parse(ck.metrics_json);
      for (auto& [k, v] : j.items())
        if (v.is_number()) metrics[k] = fmt::format("{}", v.get<double>());
    } catch (const nlohmann::json::exception&) {
    }
  }

  TorchArchive a;
  PickleWriter& w = a.pickle();
  ModuleWriter mw(a, net_weights);
  std::vector<int64_t> save;
  for (const auto& L : skeleton->layers())
    for (int f : L.from)
      if (f != -1) save.push_back(f < 0 ? f + L.index : f % std::max(L.index, 1));
  std::sort(save.begin(), save.end());
  const torch::Tensor stride = skeleton->stride().to(torch::kCPU, torch::kFloat);
  Attrs root{{"yaml", [&] { emit_yaml(w, yaml); }},
             {"save", [&] {
                w.empty_list();
                if (save.empty()) return;
                w.mark();
                for (int64_t s : save) w.integer(s);
                w.appends();
              }},
             {"names", [&] {
                w.empty_dict();
                w.mark();
                for (int i = 0; i < nc; ++i) {
                  w.integer(i);
                  auto it = ck.names.find(i);
                  w.str(it != ck.names.end() ? it->second : std::to_string(i));
                }
                w.setitems();
              }},
             {"inplace", [&] { w.boolean(true); }},
             {"end2end", [&] { w.boolean(false); }},
             {"stride", [&] { a.tensor(stride); }},
             {"nc", [&] { w.integer(nc); }},
             {"args", [&] { emit_yaml(w, train_args); }},
             {"criterion", [&] { w.none(); }}};
  const std::string date = ck.date.empty() ? util::local_iso_time() : ck.date;
  const std::string version = ck.version.empty() ? std::string(YOLOCPP_VERSION) : ck.version;

  auto put_meta = [&] {
    w.str("date");
    w.str(date);
    w.str("version");
    w.str("yolocpp " + version);
    w.str("license");
    w.str("written by yolocpp; the weights belong to whoever trained them");
    w.str("docs");
    w.str("yolocpp README.md (Ultralytics interop)");
  };
  w.empty_dict();
  w.mark();
  if (!training) put_meta();
  w.str("epoch");
  w.integer(ck.epoch);
  w.str("best_fitness");
  if (ck.best_fitness) w.real(*ck.best_fitness);
  else w.none();
  w.str("model");
  if (training) w.none();
  else mw.model(*skeleton, root);
  w.str("ema");
  if (training) mw.model(*skeleton, root);
  else w.none();
  w.str("updates");
  if (training) w.integer(ck.ema_updates);
  else w.none();
  w.str("optimizer");
  if (training && ck.ultralytics_optimizer) emit_optimizer(a, *ck.ultralytics_optimizer);
  else w.none();
  w.str("train_args");
  emit_yaml(w, train_args);
  w.str("train_metrics");
  emit_yaml(w, metrics);
  w.str("train_results");
  w.empty_dict();
  if (training) put_meta();

  // What exact resume in yolocpp needs beyond Ultralytics' keys.
  w.str("yolocpp");
  w.empty_dict();
  w.mark();
  w.str("format");
  w.str("yolocpp-checkpoint");
  w.str("format_version");
  w.integer(2);
  w.str("yolocpp_version");
  w.str(version);
  w.str("model_yaml");
  w.str(ck.model_yaml);
  w.str("train_args_yaml");
  w.str(ck.train_args_yaml);
  w.str("metrics_json");
  w.str(ck.metrics_json);
  w.str("ema_updates");
  w.integer(ck.ema_updates);
  w.str("weights");  // the training model's own weights when they differ from the pickled network (EMA)
  w.ordered_dict();
  if (training && !ck.ema.empty()) {
    w.mark();
    for (const auto& k : ck.keys) {
      w.str(k);
      a.tensor(ck.weights.at(k));
    }
    w.setitems();
  }
  w.str("optimizer");
  if (ck.optimizer.empty()) {
    w.none();
  } else {
    torch::Tensor bytes = torch::empty({static_cast<int64_t>(ck.optimizer.size())}, torch::kUInt8);
    std::memcpy(bytes.data_ptr(), ck.optimizer.data(), ck.optimizer.size());
    a.tensor(bytes);
  }
  w.setitems();
  w.setitems();
  return a.finish("archive");
}

}  // namespace yolocpp::io
