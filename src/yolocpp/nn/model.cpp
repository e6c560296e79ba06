#include "yolocpp/nn/model.hpp"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <limits>
#include <regex>
#include <set>

#include "yolocpp/util/embedded.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/limits.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::nn {
namespace fs = std::filesystem;

namespace {

// ---- yaml loading -----------------------------------------------------------------------------------

// Ultralytics' rule: the scale letter follows the version digits in the file stem (yolo11s, yolov8n).
std::string scale_from_name(const std::string& path) {
  static const std::regex re("yolo(e-)?v?\\d+([nslmx])");
  std::smatch m;
  const std::string stem = fs::path(path).stem().string();
  if (std::regex_search(stem, m, re)) return m[2].str();
  return "";
}

YAML::Node parse_yaml_text(const std::string& text, const std::string& origin) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ModelError(fmt::format("{}:{}: invalid model yaml: {}", origin, e.mark.line + 1, e.msg));
  }
}

// ---- argument resolution --------------------------------------------------------------------------

// A yaml argument after Ultralytics' resolution: "nc" -> its value, Python literals -> values,
// anything else stays a string.
struct Arg {
  enum Kind { Null, Bool, Int, Float, Str, List } kind = Null;
  double num = 0;
  bool b = false;
  std::string s;
  std::vector<Arg> list;

  static Arg of_int(int64_t v) { Arg a; a.kind = Int; a.num = static_cast<double>(v); return a; }
  static Arg of_float(double v) { Arg a; a.kind = Float; a.num = v; return a; }
  static Arg of_bool(bool v) { Arg a; a.kind = Bool; a.b = v; return a; }
  static Arg of_list(const std::vector<int64_t>& v) {
    Arg a; a.kind = List;
    for (auto x : v) a.list.push_back(of_int(x));
    return a;
  }

  std::string repr() const {
    switch (kind) {
      case Null: return "None";
      case Bool: return b ? "True" : "False";
      case Int: return std::to_string(static_cast<int64_t>(num));
      case Float: {
        std::string t = fmt::format("{}", num);
        if (t.find_first_of(".e") == std::string::npos) t += ".0";
        return t;
      }
      case Str: return "'" + s + "'";
      case List: {
        std::string t = "[";
        for (size_t i = 0; i < list.size(); ++i) t += (i ? ", " : "") + list[i].repr();
        return t + "]";
      }
    }
    return "";
  }
};

Arg resolve_arg(const YAML::Node& n, int64_t nc) {
  Arg a;
  if (!n || n.IsNull()) return a;
  if (n.IsSequence()) {
    a.kind = Arg::List;
    for (const auto& x : n) a.list.push_back(resolve_arg(x, nc));
    return a;
  }
  if (!n.IsScalar()) throw ModelError("model yaml: argument must be a scalar or a list");
  const std::string t = n.Scalar();
  if (t == "nc") return Arg::of_int(nc);
  if (t == "None" || t == "null" || t == "~" || t.empty()) return a;
  if (t == "True" || t == "true") return Arg::of_bool(true);
  if (t == "False" || t == "false") return Arg::of_bool(false);
  try {
    size_t pos = 0;
    long long v = std::stoll(t, &pos);
    if (pos == t.size()) return Arg::of_int(v);
  } catch (...) {
  }
  try {
    size_t pos = 0;
    double v = std::stod(t, &pos);
    if (pos == t.size()) return Arg::of_float(v);
  } catch (...) {
  }
  a.kind = Arg::Str;
  a.s = t;
  return a;
}

struct Args {
  std::vector<Arg> v;
  std::string where;  // "layer 4 (C3k2)" for messages

  bool has(size_t i) const { return i < v.size() && v[i].kind != Arg::Null; }
  int64_t integer(size_t i, int64_t def) const {
    if (!has(i)) return def;
    if (v[i].kind != Arg::Int && v[i].kind != Arg::Float)
      throw ModelError(fmt::format("model yaml {}: argument {} must be a number, got {}", where, i, v[i].repr()));
    return static_cast<int64_t>(v[i].num);
  }
  double number(size_t i, double def) const {
    if (!has(i)) return def;
    if (v[i].kind != Arg::Int && v[i].kind != Arg::Float)
      throw ModelError(fmt::format("model yaml {}: argument {} must be a number, got {}", where, i, v[i].repr()));
    return v[i].num;
  }
  bool boolean(size_t i, bool def) const {
    if (!has(i)) return def;
    if (v[i].kind == Arg::Bool) return v[i].b;
    if (v[i].kind == Arg::Int) return v[i].num != 0;
    throw ModelError(fmt::format("model yaml {}: argument {} must be True or False, got {}", where, i, v[i].repr()));
  }
  std::string repr() const {
    Arg l;
    l.kind = Arg::List;
    l.list = v;
    return l.repr();
  }
};

int64_t make_divisible(double x, int64_t divisor) {
  return static_cast<int64_t>(std::ceil(x / static_cast<double>(divisor))) * divisor;
}

std::string strip_nn(const std::string& m) {
  for (const char* p : {"torch.nn.", "nn."})
    if (m.rfind(p, 0) == 0) return m.substr(std::string(p).size());
  return m;
}

}  // namespace

YAML::Node load_model_yaml(const std::string& name_or_path) {
  if (name_or_path.empty()) throw ModelError("model is empty: pass model=yolo11n.yaml (or a path to a model yaml)");
  std::string path = name_or_path;
  if (fs::path(path).extension().empty()) path += ".yaml";
  const auto ext = fs::path(path).extension().string();
  if (ext != ".yaml" && ext != ".yml")
    throw ModelError(fmt::format("model={}: expected a model .yaml (e.g. yolo11n.yaml); weights files are loaded elsewhere",
                                 name_or_path));
  // "yolo11n.yaml" -> "yolo11.yaml": the scale letter selects a row of `scales`, not a file.
  static const std::regex unify("(\\d+)([nslmx])(.+)?$");
  const std::string fname = fs::path(path).filename().string();
  const std::string unified = std::regex_replace(fname, unify, "$1$3");

  YAML::Node y;
  std::string origin;
  const auto& emb = embedded::files();
  if (fs::is_regular_file(path)) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    origin = path;
    y = parse_yaml_text(ss.str(), origin);
  } else if (fs::is_regular_file(fs::path(path).parent_path() / unified) && fs::path(path).has_parent_path()) {
    origin = (fs::path(path).parent_path() / unified).string();
    std::ifstream in(origin);
    std::stringstream ss;
    ss << in.rdbuf();
    y = parse_yaml_text(ss.str(), origin);
  } else if (emb.count("models/" + unified) || emb.count("models/" + fname)) {
    const std::string key = emb.count("models/" + unified) ? "models/" + unified : "models/" + fname;
    origin = key;
    y = parse_yaml_text(emb.at(key), origin);
  } else {
    std::string builtin;
    for (const auto& [k, v] : emb)
      if (k.rfind("models/", 0) == 0) builtin += (builtin.empty() ? "" : ", ") + k.substr(7);
    throw ModelError(fmt::format("model={}: no such file and not a built-in model (built-in: {}, with a scale "
                                 "letter n/s/m/l/x after the version, e.g. yolo11n.yaml)",
                                 name_or_path, builtin));
  }
  if (!y.IsMap() || !y["backbone"] || !y["head"])
    throw ModelError(fmt::format("{}: a model yaml needs 'backbone' and 'head' lists", origin));

  if (y["scales"] && y["scales"].IsMap() && y["scales"].size() > 0) {
    std::string scale = y["scale"] ? y["scale"].as<std::string>() : scale_from_name(path);
    if (scale.empty() || !y["scales"][scale]) {
      const std::string first = y["scales"].begin()->first.as<std::string>();
      log::warn("{}: no model scale given (name it like yolo11n.yaml); using scale '{}'", name_or_path, first);
      scale = first;
    }
    y["scale"] = scale;
  }
  y["yaml_file"] = name_or_path;
  return y;
}

// ---- the model ----------------------------------------------------------------------------------------

DetectionModelImpl::DetectionModelImpl(const YAML::Node& yaml, int nc, int ch) : ch_(ch) {
  yaml_ = YAML::Clone(yaml);
  const std::string file = yaml_["yaml_file"] && yaml_["yaml_file"].IsScalar() ? yaml_["yaml_file"].Scalar() : "model yaml";
  int64_t yaml_nc = 80;
  try {
    if (yaml_["nc"]) yaml_nc = yaml_["nc"].as<int64_t>();
  } catch (const YAML::Exception&) {
    throw ModelError(file + ": nc must be an integer number of classes");
  }
  // Bounded before anything is sized from it: the head's layers grow with nc.
  if (yaml_nc < 1 || yaml_nc > util::kMaxClasses || nc > util::kMaxClasses)
    throw ModelError(fmt::format("{}: nc: {} is outside 1..{}; fix the model yaml", file, nc > 0 ? nc : yaml_nc,
                                 util::kMaxClasses));
  nc_ = nc > 0 ? nc : static_cast<int>(yaml_nc);
  if (nc > 0 && nc != yaml_nc) {
    log::info("Overriding model.yaml nc={} with nc={}", yaml_nc, nc);
  }
  yaml_["nc"] = nc_;
  yaml_["ch"] = ch;
  try {
    build(ch);
  } catch (const YAML::Exception& e) {
    throw ModelError(file + ": a layer or scale entry has the wrong type (" + e.msg + "); fix the model yaml");
  }
  for (int i = 0; i < nc_; ++i) names.push_back(std::to_string(i));

  // Strides from a dry run (eval, so BatchNorm statistics stay untouched), then the head's bias priors.
  {
    torch::NoGradGuard no_grad;
    const bool was_training = is_training();
    eval();
    const int64_t s = 256;
    auto raw = forward_raw(torch::zeros({1, ch, s, s}));
    train(was_training);
    std::vector<float> st;
    for (const auto& r : raw) st.push_back(static_cast<float>(s) / static_cast<float>(r.size(-2)));
    stride_ = torch::tensor(st, torch::kFloat);
    detect_->stride = stride_.clone();
  }
  detect_->bias_init();
}

void DetectionModelImpl::build(int ch) {
  const std::string file = yaml_["yaml_file"] ? yaml_["yaml_file"].as<std::string>() : std::string("model yaml");
  double depth = 1.0, width = 1.0, max_ch = std::numeric_limits<double>::infinity();
  std::string scale;
  if (yaml_["scales"] && yaml_["scale"]) {
    scale = yaml_["scale"].as<std::string>();
    auto row = yaml_["scales"][scale];
    if (!row || !row.IsSequence() || row.size() != 3)
      throw ModelError(fmt::format("{}: scales.{} must be [depth, width, max_channels]", file, scale));
    depth = row[0].as<double>();
    width = row[1].as<double>();
    max_ch = row[2].as<double>();
  } else {
    if (yaml_["depth_multiple"]) depth = yaml_["depth_multiple"].as<double>();
    if (yaml_["width_multiple"]) width = yaml_["width_multiple"].as<double>();
  }
  // Real scales are <= 1.5 and <= 2048 channels; the bounds stop a yaml from sizing terabyte layers.
  if (!(depth > 0 && depth <= 16) || !(width > 0 && width <= 16) || !(max_ch > 0))
    throw ModelError(fmt::format("{}: depth {} / width {} / max_channels {} are outside (0, 16] / (0, 16] / > 0; fix "
                                 "the model yaml's scales",
                                 file, depth, width, max_ch));

  std::vector<YAML::Node> rows;
  for (const char* sec : {"backbone", "head"}) {
    if (!yaml_[sec].IsSequence()) throw ModelError(fmt::format("{}: '{}' must be a list of [from, n, module, args]", file, sec));
    for (const auto& r : yaml_[sec]) rows.push_back(r);
  }

  model_ = register_module("model", torch::nn::ModuleList());
  std::vector<int64_t> chs;  // output channels per layer
  save_.assign(rows.size(), false);
  bool legacy_head = true;   // any C3k2 switches Detect to the YOLO11 class branch (nn/tasks.py parse_model, legacy)

  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (!r.IsSequence() || r.size() != 4)
      throw ModelError(fmt::format("{}: layer {} must be [from, repeats, module, args]", file, i));
    Layer L;
    const std::string mod = strip_nn(r[2].as<std::string>());
    const std::string where = fmt::format("layer {} ({})", i, mod);
    // from
    if (r[0].IsSequence()) {
      for (const auto& f : r[0]) L.from_yaml.push_back(f.as<int>());
    } else {
      L.from_yaml.push_back(r[0].as<int>());
    }
    for (int f : L.from_yaml) {
      const int abs = f < 0 ? static_cast<int>(i) + f : f;
      if (abs < (i == 0 ? -1 : 0) || abs >= static_cast<int>(i))
        throw ModelError(fmt::format("{}: {} takes input from {}, which is not an earlier layer", file, where, f));
      L.from.push_back(f == -1 ? -1 : abs);
      if (f != -1) save_[abs] = true;
    }
    auto in_ch = [&](int f) -> int64_t {
      const int abs = f < 0 ? static_cast<int>(i) + f : f;
      return abs < 0 ? ch : chs[abs];
    };
    // repeats
    int n = r[1].as<int>();
    if (n < 1 || n > 100) throw ModelError(fmt::format("{}: {} repeats {} times; use 1..100", file, where, n));
    if (n > 1) n = std::max(static_cast<int>(std::nearbyint(n * depth)), 1);
    Args a;
    a.where = where;
    const YAML::Node args = r[3];
    if (args && args.IsSequence())
      for (const auto& x : args) a.v.push_back(resolve_arg(x, nc_));

    const std::set<std::string> base{"Conv", "DWConv", "Bottleneck", "C2f", "C3k2", "SPPF", "C2PSA"};
    const std::set<std::string> repeat{"C2f", "C3k2", "C2PSA"};
    int64_t c2 = 0;
    if (base.count(mod)) {
      const int64_t c1 = in_ch(L.from_yaml[0]);
      c2 = a.integer(0, 0);
      if (c2 <= 0) throw ModelError(fmt::format("{}: {} needs the output channels as its first argument", file, where));
      if (c2 != nc_) c2 = make_divisible(std::min(static_cast<double>(c2), max_ch) * width, 8);
      if (c2 > 16384)
        throw ModelError(fmt::format("{}: {} has {} output channels (> 16384); fix the model yaml", file, where, c2));
      std::vector<Arg> v{Arg::of_int(c1), Arg::of_int(c2)};
      v.insert(v.end(), a.v.begin() + 1, a.v.end());
      a.v = v;
      if (repeat.count(mod)) {
        a.v.insert(a.v.begin() + 2, Arg::of_int(n));
        n = 1;
      }
      if (mod == "C3k2") {
        legacy_head = false;
        if (scale == "m" || scale == "l" || scale == "x") {
          if (a.v.size() < 4) a.v.resize(4);
          a.v[3] = Arg::of_bool(true);
        }
      }
      if (n != 1)
        throw ModelError(fmt::format("{}: {} with repeats {} is not supported (only C2f, C3k2, C2PSA repeat)", file, where, n));
      if (mod == "Conv") {
        if (a.has(4)) throw ModelError(fmt::format("{}: {} explicit padding is not supported; leave it None", file, where));
        L.block = Conv(c1, c2, a.integer(2, 1), a.integer(3, 1), a.integer(5, 1), a.integer(6, 1), a.boolean(7, true)).ptr();
      } else if (mod == "DWConv") {
        L.block = DWConv(c1, c2, a.integer(2, 1), a.integer(3, 1), a.integer(4, 1), a.boolean(5, true)).ptr();
      } else if (mod == "Bottleneck") {
        L.block = Bottleneck(c1, c2, a.boolean(2, true), a.integer(3, 1), 3, 3, a.number(5, 0.5)).ptr();
      } else if (mod == "C2f") {
        L.block = C2f(C2fImpl::Kind::C2f, c1, c2, a.integer(2, 1), a.boolean(3, false), a.number(5, 0.5), false,
                      a.integer(4, 1)).ptr();
      } else if (mod == "C3k2") {
        // Arguments (c1, c2, n, c3k, e, attn, g, shortcut) as ultralytics 8.4.27 C3k2; YOLO11 yamls stop at e.
        L.block = C2f(C2fImpl::Kind::C3k2, c1, c2, a.integer(2, 1), a.boolean(7, true), a.number(4, 0.5),
                      a.boolean(3, false), a.integer(6, 1), a.boolean(5, false)).ptr();
      } else if (mod == "SPPF") {
        // [c2, k, n, shortcut] is the 8.4 form (YOLO26 yaml): cv1 without SiLU, as 8.4.27 builds every SPPF.
        // [c2, k] (YOLO11 yaml) keeps the 8.3.58 module the YOLO11 checkpoints and fixtures were made with.
        const bool v84 = a.v.size() > 3;
        L.block = SPPF(c1, c2, a.integer(2, 5), a.integer(3, 3), a.boolean(4, false), !v84).ptr();
      } else if (mod == "C2PSA") {
        L.block = C2PSA(c1, c2, a.integer(2, 1), a.number(3, 0.5)).ptr();
      }
      L.kind = Kind::Block;
    } else if (mod == "Upsample") {
      if (a.has(0)) throw ModelError(fmt::format("{}: {} with a fixed size is not supported; use [None, 2, \"nearest\"]", file, where));
      const std::string mode = a.v.size() > 2 && a.v[2].kind == Arg::Str ? a.v[2].s : "nearest";
      L.block = Upsample(a.number(1, 2.0), mode).ptr();
      L.kind = Kind::Block;
      c2 = in_ch(L.from_yaml[0]);
    } else if (mod == "Concat") {
      const int64_t dim = a.integer(0, 1);
      L.concat = Concat(dim).ptr();
      L.kind = Kind::Concat;
      for (int f : L.from_yaml) c2 += in_ch(f);
    } else if (mod == "Detect") {
      if (i + 1 != rows.size()) throw ModelError(fmt::format("{}: {} must be the last layer", file, where));
      std::vector<int64_t> dch;
      for (int f : L.from_yaml) dch.push_back(in_ch(f));
      const int64_t dnc = a.integer(0, nc_);
      // Top-level reg_max (default 16) and end2end (YOLO26: one-to-one head) as 8.4's parse_model passes them.
      const bool v84 = yaml_["reg_max"] || yaml_["end2end"];
      int64_t reg_max = 16;
      bool e2e = false;
      try {
        if (yaml_["reg_max"]) reg_max = yaml_["reg_max"].as<int64_t>();
        if (yaml_["end2end"] && !yaml_["end2end"].IsNull()) e2e = yaml_["end2end"].as<bool>();
      } catch (const YAML::Exception&) {
        throw ModelError(fmt::format("{}: reg_max must be an integer and end2end True or False", file));
      }
      if (reg_max < 1 || reg_max > 64) throw ModelError(fmt::format("{}: reg_max {} is outside 1..64", file, reg_max));
      a.v.resize(1);
      a.v[0] = Arg::of_int(dnc);
      if (v84) {
        a.v.push_back(Arg::of_int(reg_max));
        a.v.push_back(yaml_["end2end"] ? Arg::of_bool(e2e) : Arg());
      }
      a.v.push_back(Arg::of_list(dch));
      detect_ = Detect(dnc, dch, legacy_head, reg_max, e2e);
      L.kind = Kind::Detect;
    } else {
      throw ModelError(fmt::format("{}: {}: unknown module '{}' (supported: Conv, DWConv, Bottleneck, C2f, C3k2, "
                                   "SPPF, C2PSA, nn.Upsample, Concat, Detect)", file, where, r[2].as<std::string>()));
    }
    L.n = n;
    L.type = mod == "Upsample" ? "nn.Upsample" : mod;
    L.args = a.repr();
    const std::string idx = std::to_string(i);
    if (L.kind == Kind::Block) model_->push_back(L.block);
    if (L.kind == Kind::Concat) model_->push_back(L.concat);
    if (L.kind == Kind::Detect) model_->push_back(detect_.ptr());
    chs.push_back(c2);
    layers_.push_back(std::move(L));
  }
  if (detect_.is_empty()) throw ModelError(fmt::format("{}: the last layer must be Detect", file));
}

std::vector<torch::Tensor> DetectionModelImpl::forward_raw(torch::Tensor x) {
  return detect_->forward_raw(features(x, nullptr));
}

DetectionModelImpl::HeadMaps DetectionModelImpl::forward_heads(torch::Tensor x) {
  auto f = features(x, nullptr);
  HeadMaps h;
  if (detect_->has_one2many()) h.one2many = detect_->forward_raw(f);
  if (detect_->has_one2one()) h.one2one = detect_->forward_raw_one2one(f);
  return h;
}

void DetectionModelImpl::set_end2end(bool on) {
  if (on && !detect_->has_one2one())
    throw ModelError("end2end=True: this model has no one-to-one head (only YOLO26-style models do); use end2end=False");
  if (!on && !detect_->has_one2many())
    throw ModelError("end2end=False: the one-to-many head was removed when the model was fused end-to-end");
  detect_->end2end = on;
}

std::vector<torch::Tensor> DetectionModelImpl::forward_layers(torch::Tensor x) {
  std::vector<torch::Tensor> all;
  auto f = features(x, &all);
  if (is_training()) {
    all.push_back(detect_->forward_raw(f)[0]);
  } else if (end2end()) {
    all.push_back(topk_select(detect_->decode(detect_->forward_raw_one2one(f), true), detect_->max_det, detect_->agnostic));
  } else {
    all.push_back(decode(detect_->forward_raw(f)));
  }
  return all;
}

std::vector<torch::Tensor> DetectionModelImpl::features(torch::Tensor x, std::vector<torch::Tensor>* all) {
  if (x.dim() != 4 || x.size(1) != ch_)
    throw ModelError(fmt::format("model input must be [B, {}, H, W], got {}", ch_, fmt::join(x.sizes().vec(), "x")));
  std::vector<torch::Tensor> y(layers_.size());
  auto gather = [&](const Layer& L) {
    std::vector<torch::Tensor> in;
    for (int f : L.from) in.push_back(f == -1 ? x : y[f]);
    return in;
  };
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& L = layers_[i];
    switch (L.kind) {
      case Kind::Block:
        x = L.block->forward(L.from[0] == -1 ? x : y[L.from[0]]);
        break;
      case Kind::Concat:
        x = L.concat->forward(gather(L));
        break;
      case Kind::Detect:
        return gather(L);
    }
    if (save_[i]) y[i] = x;
    if (all) all->push_back(x);
  }
  throw ModelError("model has no Detect layer");
}

torch::Tensor DetectionModelImpl::decode(const std::vector<torch::Tensor>& raw) { return detect_->decode(raw); }

torch::Tensor DetectionModelImpl::forward(torch::Tensor x) {
  if (!end2end()) return decode(forward_raw(x));
  auto raw = detect_->forward_raw_one2one(features(x, nullptr));
  return topk_select(detect_->decode(raw, /*xyxy=*/true), detect_->max_det, detect_->agnostic);
}

void DetectionModelImpl::fuse() {
  for (const auto& m : modules(/*include_self=*/false))
    if (auto c = std::dynamic_pointer_cast<ConvImpl>(m)) c->fuse();
  if (end2end()) detect_->drop_one2many();
  fused_ = true;
}

std::vector<LayerInfo> DetectionModelImpl::layers() const {
  std::vector<LayerInfo> out;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& L = layers_[i];
    LayerInfo li;
    li.index = static_cast<int>(i);
    li.from = L.from_yaml;
    li.n = L.n;
    li.type = L.type;
    li.args = L.args;
    for (const auto& p : model_->ptr(i)->parameters()) li.params += p.numel();
    out.push_back(li);
  }
  return out;
}

int64_t DetectionModelImpl::module_count() const {
  const auto mods = modules(/*include_self=*/true);
  int64_t n = static_cast<int64_t>(mods.size());
  bool any_act = false;
  for (const auto& m : mods) {
    if (auto c = std::dynamic_pointer_cast<ConvImpl>(m)) {
      if (c->act) any_act = true;
      else ++n;  // Ultralytics gives each activation-free Conv its own Identity module
    }
  }
  n += any_act ? 1 : 0;  // all activated Convs share a single SiLU instance
  // ...except in the one-to-one head: Ultralytics deep-copies cv2 and cv3 separately, and each copy gets its
  // own copy of the shared SiLU (8.4.27 yolo26n: 3 distinct SiLU modules, 454 modules in all).
  if (detect_->has_one2one()) n += 2;
  return n;
}

int64_t DetectionModelImpl::num_params() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

int64_t DetectionModelImpl::num_gradients() const {
  int64_t n = 0;
  for (const auto& p : parameters())
    if (p.requires_grad()) n += p.numel();
  return n;
}

void DetectionModelImpl::set_profiling(bool on) {
  for (const auto& m : modules(false)) {
    if (auto c = std::dynamic_pointer_cast<ConvImpl>(m)) c->profile.enabled = on;
    if (auto u = std::dynamic_pointer_cast<UpsampleImpl>(m)) u->profile.enabled = on;
  }
  detect_->profile.enabled = on;
}

double DetectionModelImpl::profiled_macs() const {
  double macs = 0;
  for (const auto& m : modules(false)) {
    if (auto c = std::dynamic_pointer_cast<ConvImpl>(m)) macs += c->profiled_macs();
    if (auto u = std::dynamic_pointer_cast<UpsampleImpl>(m)) macs += static_cast<double>(u->profile.out_numel);
  }
  return macs + detect_->profiled_macs();
}

double DetectionModelImpl::gflops(int64_t h, int64_t w) {
  const int64_t s = std::max<int64_t>(32, static_cast<int64_t>(stride_.max().item<float>()));
  const bool scaled = h % s == 0 && w % s == 0;
  const int64_t ph = scaled ? s : h, pw = scaled ? s : w;
  torch::NoGradGuard no_grad;
  const bool was_training = is_training();
  eval();
  set_profiling(true);
  double macs = 0;
  try {
    auto p = parameters();
    auto opts = p.empty() ? torch::TensorOptions() : p[0].options();
    // Both heads, as the unfused Ultralytics forward computes them (the one-to-one head only while end2end is on).
    auto f = features(torch::zeros({1, ch_, ph, pw}, opts.requires_grad(false)), nullptr);
    if (detect_->has_one2many()) detect_->forward_raw(f);
    if (end2end()) detect_->forward_raw_one2one(f);
    macs = profiled_macs();
  } catch (...) {
    set_profiling(false);
    train(was_training);
    throw;
  }
  set_profiling(false);
  train(was_training);
  const double area = scaled ? static_cast<double>(h * w) / static_cast<double>(ph * pw) : 1.0;
  return 2.0 * macs * area / 1e9;
}

DetectionModel build_model(const std::string& name_or_path, int nc) {
  return DetectionModel(load_model_yaml(name_or_path), nc);
}

// ---- info -------------------------------------------------------------------------------------------------

std::string model_display_name(const DetectionModelImpl& model) {
  const auto& y = model.yaml();
  if (!y["yaml_file"]) return "Model";
  std::string stem = fs::path(y["yaml_file"].as<std::string>()).stem().string();
  const auto pos = stem.find("yolo");
  if (pos != std::string::npos) stem.replace(pos, 4, "YOLO");
  // A yaml named without its scale (yolo11.yaml) still builds one scale; name it as Ultralytics would.
  return stem;
}

std::string layer_table(const DetectionModelImpl& model) {
  std::string out = fmt::format("{:>3}{:>20}{:>3}{:>10}  {:<45}{:<30}\n", "", "from", "n", "params", "module", "arguments");
  for (const auto& l : model.layers()) {
    std::string from = l.from.size() == 1 ? std::to_string(l.from[0]) : fmt::format("[{}]", fmt::join(l.from, ", "));
    out += fmt::format("{:>3}{:>20}{:>3}{:>10}  {:<45}{:<30}\n", l.index, from, l.n, l.params, l.type, l.args);
  }
  return out;
}

namespace {
std::string thousands(int64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > (s[0] == '-' ? 1 : 0); i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}
}  // namespace

std::string summary_line(DetectionModelImpl& model, int64_t h, int64_t w) {
  return fmt::format("{} summary{}: {} layers, {} parameters, {} gradients, {:.1f} GFLOPs", model_display_name(model),
                     model.is_fused() ? " (fused)" : "", thousands(model.module_count()), thousands(model.num_params()),
                     thousands(model.num_gradients()), model.gflops(h, w < 0 ? h : w));
}

}  // namespace yolocpp::nn
