#include "yolocpp/io/ultralytics_pt.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include "yolocpp/io/zip.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/limits.hpp"

namespace yolocpp::io {

using Kind = PValue::Kind;

namespace {

torch::ScalarType storage_dtype(const std::string& cls, const std::string& label) {
  static const std::map<std::string, torch::ScalarType> m = {
      {"torch.HalfStorage", torch::kHalf},   {"torch.FloatStorage", torch::kFloat},
      {"torch.DoubleStorage", torch::kDouble}, {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kLong},   {"torch.IntStorage", torch::kInt},
      {"torch.ShortStorage", torch::kShort}, {"torch.CharStorage", torch::kChar},
      {"torch.ByteStorage", torch::kByte},   {"torch.BoolStorage", torch::kBool},
  };
  auto it = m.find(cls);
  if (it == m.end()) throw ModelError(label + ": unsupported tensor storage type '" + cls + "'; re-save the checkpoint with float/half weights");
  return it->second;
}

std::string float_text(double f) {
  if (std::isnan(f)) return ".nan";
  if (std::isinf(f)) return f > 0 ? ".inf" : "-.inf";
  std::string s = fmt::format("{}", f);  // shortest text that reads back to the same double
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string key_text(const PValue& k) {
  switch (k.kind) {
    case Kind::Str: return k.s;
    case Kind::Int: return std::to_string(k.i);
    case Kind::Bool: return k.b ? "true" : "false";
    case Kind::Float: return float_text(k.f);
    case Kind::None: return "null";
    default: return k.type_name();
  }
}

const PValue& dict_state(const PValue& module, const std::string& label, const std::string& where) {
  if (!module.is(Kind::Object) || !module.state || !module.state->is(Kind::Dict))
    throw ModelError(fmt::format("{}: '{}' is a {} without module state; the checkpoint is damaged or not a YOLO model",
                                 label, where, module.type_name()));
  return *module.state;
}

// What a module walk may produce: a module DAG whose children repeat (each tensor shared by many modules)
// would otherwise copy the same storage once per path.
struct CollectBudget {
  size_t modules = 100000;  // yolo11x has ~700
  uint64_t bytes = 0;       // float32 copies: at most 4x the file (half -> float doubles it), plus slack
};

// state_dict order: a module's own parameters, its buffers (minus non-persistent ones), then its children.
// The unpickler refuses cycles and deep nesting; `budget` bounds a module DAG whose children repeat.
void collect(const PValue& module, const std::string& prefix, const std::string& label, UltralyticsCheckpoint& ck,
             CollectBudget& budget) {
  if (budget.modules == 0)
    throw ModelError(label + ": the network expands to more than 100000 modules (shared sub-modules repeated); "
                             "the checkpoint is damaged or hostile");
  --budget.modules;
  const PValue& st = dict_state(module, label, prefix.empty() ? "model" : prefix.substr(0, prefix.size() - 1));
  std::set<std::string> non_persistent;
  if (auto np = st.attr("_non_persistent_buffers_set"))
    for (auto& v : np->items)
      if (v->is(Kind::Str)) non_persistent.insert(v->s);
  for (const char* group : {"_parameters", "_buffers"}) {
    auto d = st.attr(group);
    if (!d) continue;
    for (auto& [k, v] : d->entries) {
      if (!k->is(Kind::Str) || v->is_none() || non_persistent.count(k->s)) continue;
      if (!v->is(Kind::Tensor))
        throw ModelError(fmt::format("{}: {}{} is a {}, expected a tensor; the checkpoint is damaged", label, prefix, k->s,
                                     v->type_name()));
      std::string name = prefix + k->s;
      torch::Tensor t = v->tensor;
      const uint64_t bytes = static_cast<uint64_t>(t.numel()) * 4;
      if (bytes > budget.bytes)
        throw ModelError(label + ": the network's tensors add up to more than 4x the file's size (shared tensors "
                                 "repeated); the checkpoint is damaged or hostile");
      budget.bytes -= bytes;
      ck.stored_dtype[name] = t.scalar_type();
      t = t.is_floating_point() ? t.to(torch::kFloat).contiguous() : t.contiguous().clone();
      if (t.data_ptr() == v->tensor.data_ptr()) t = t.clone();  // never alias the raw storage buffer
      ck.keys.push_back(name);
      ck.state[name] = t;
    }
  }
  if (auto mods = st.attr("_modules"))
    for (auto& [k, v] : mods->entries)
      if (k->is(Kind::Str) && !v->is_none()) collect(*v, prefix + k->s + ".", label, ck, budget);
}

void collect(const PValue& module, const std::string& label, UltralyticsCheckpoint& ck) {
  CollectBudget budget;
  std::error_code ec;
  const auto size = std::filesystem::file_size(label, ec);
  budget.bytes = (ec ? 0 : 4 * static_cast<uint64_t>(size)) + (uint64_t(1) << 20);
  collect(module, "", label, ck, budget);
}

double as_number(const PValue& v, const std::string& label, const std::string& what) {
  if (v.is(Kind::Float)) return v.f;
  if (v.is(Kind::Int)) return static_cast<double>(v.i);
  if (v.is(Kind::Bool)) return v.b ? 1.0 : 0.0;
  throw ModelError(fmt::format("{}: {} is a {}, expected a number", label, what, v.type_name()));
}

OptimizerState read_optimizer(const PValue& opt, const std::string& label) {
  OptimizerState os;
  if (auto groups = opt.attr("param_groups")) {
    for (auto& g : groups->items) {
      OptimizerParamGroup pg;
      for (auto& [k, v] : g->entries) {
        if (!k->is(Kind::Str)) continue;
        if (k->s == "params") {
          for (auto& p : v->items) pg.params.push_back(static_cast<int64_t>(as_number(*p, label, "optimizer param index")));
        } else if (v->is(Kind::Bool)) {
          pg.flags[k->s] = v->b;
        } else if (v->is(Kind::Float) || v->is(Kind::Int)) {
          pg.values[k->s] = as_number(*v, label, "optimizer " + k->s);
        } else if (v->is(Kind::Tuple) || v->is(Kind::List)) {  // e.g. Adam betas
          for (size_t i = 0; i < v->items.size(); ++i)
            pg.values[k->s + "." + std::to_string(i)] = as_number(*v->items[i], label, "optimizer " + k->s);
        }
      }
      os.param_groups.push_back(std::move(pg));
    }
  }
  if (auto state = opt.attr("state")) {
    for (auto& [k, v] : state->entries) {
      if (!k->is(Kind::Int)) continue;
      auto& slot = os.state[k->i];
      for (auto& [n, t] : v->entries)
        if (n->is(Kind::Str) && t->is(Kind::Tensor)) slot[n->s] = t->tensor.contiguous().clone();
    }
  }
  return os;
}

std::string str_attr(const PValue& d, const char* key) {
  auto v = d.attr(key);
  return v && v->is(Kind::Str) ? v->s : std::string();
}

YolocppExtras read_extras(const PValue& d, const std::string& label) {
  if (!d.is(Kind::Dict)) throw ModelError(label + ": the 'yolocpp' entry is a " + d.type_name() + ", not a dict; the file is damaged");
  if (auto v = d.attr("format_version"); v && v->is(Kind::Int) && v->i > 2)
    throw ModelError(fmt::format("{}: checkpoint format version {} is newer than this yolocpp supports (2); update yolocpp",
                                 label, v->i));
  YolocppExtras x;
  x.version = str_attr(d, "yolocpp_version");
  x.model_yaml = str_attr(d, "model_yaml");
  x.train_args_yaml = str_attr(d, "train_args_yaml");
  x.metrics_json = str_attr(d, "metrics_json");
  if (auto v = d.attr("ema_updates"); v && v->is(Kind::Int)) x.ema_updates = v->i;
  if (auto v = d.attr("weights"); v && v->is(Kind::Dict))
    for (auto& [k, t] : v->entries) {
      if (!k->is(Kind::Str) || !t->is(Kind::Tensor))
        throw ModelError(label + ": yolocpp.weights holds a " + t->type_name() + ", expected tensors; the file is damaged");
      x.keys.push_back(k->s);
      x.weights[k->s] = t->tensor.contiguous().clone();
    }
  if (auto v = d.attr("optimizer"); v && v->is(Kind::Tensor)) {
    torch::Tensor b = v->tensor.contiguous();
    if (b.scalar_type() != torch::kByte) throw ModelError(label + ": yolocpp.optimizer is not a byte tensor; the file is damaged");
    x.optimizer.assign(static_cast<const char*>(b.data_ptr()), static_cast<size_t>(b.numel()));
  }
  return x;
}

}  // namespace

namespace {

YAML::Node to_yaml(const PValue& v, const std::string& label, size_t& budget) {
  if (budget == 0)
    throw ModelError(fmt::format("{}: a pickled setting expands to more than {} values (shared sub-values repeated); "
                                 "the checkpoint is damaged or hostile",
                                 label, util::kMaxExpandedValues));
  --budget;
  switch (v.kind) {
    case Kind::None: return YAML::Node(YAML::NodeType::Null);
    case Kind::Bool: return YAML::Node(v.b);
    case Kind::Int: return YAML::Node(static_cast<long long>(v.i));
    case Kind::Float: return YAML::Node(float_text(v.f));
    case Kind::Str: case Kind::Bytes: return YAML::Node(v.s);
    case Kind::List: case Kind::Tuple: case Kind::Set: {
      YAML::Node n(YAML::NodeType::Sequence);
      for (auto& it : v.items) n.push_back(to_yaml(*it, label, budget));
      return n;
    }
    case Kind::Dict: {
      YAML::Node n(YAML::NodeType::Map);
      for (auto& [k, val] : v.entries) n[key_text(*k)] = to_yaml(*val, label, budget);
      return n;
    }
    case Kind::Object:
      if (v.state && v.state->is(Kind::Dict)) return to_yaml(*v.state, label, budget);
      return YAML::Node(v.s);
    case Kind::Tensor: {
      YAML::Node n(YAML::NodeType::Sequence);
      auto t = v.tensor.to(torch::kDouble).contiguous().flatten();
      if (t.numel() <= 64)
        for (int64_t i = 0; i < t.numel(); ++i) n.push_back(YAML::Node(float_text(t[i].item<double>())));
      return n;
    }
    default: return YAML::Node(v.type_name());
  }
}

YAML::Node to_yaml(const PValue& v, const std::string& label) {
  size_t budget = util::kMaxExpandedValues;
  return to_yaml(v, label, budget);
}

}  // namespace

YAML::Node to_yaml(const PValue& v) { return to_yaml(v, std::string("pickle")); }

PValuePtr load_torch_pickle(const std::string& path) {
  ZipReader zip(std::filesystem::path{path});
  const ZipEntry* pkl = zip.find_suffix("/data.pkl");
  if (!pkl && zip.find("data.pkl")) pkl = zip.find("data.pkl");
  if (!pkl)
    throw ModelError(path + ": the archive has no data.pkl entry; it is not a torch.save checkpoint (or it is damaged): "
                            "re-download or re-save it");
  const std::string root = pkl->name.substr(0, pkl->name.size() - std::string("data.pkl").size());
  const std::string bytes = zip.read(*pkl);
  std::map<std::string, PValuePtr> storages;
  PersistentLoad load = [&](const PValuePtr& pid) -> PValuePtr {
    if (!pid->is(Kind::Tuple) || pid->items.size() < 5 || !pid->items[0]->is(Kind::Str) || pid->items[0]->s != "storage" ||
        !pid->items[1]->is(Kind::Global) || !pid->items[2]->is(Kind::Str))
      throw ModelError(path + ": a persistent id is not ('storage', class, key, location, numel); not a torch checkpoint");
    const std::string key = pid->items[2]->s;
    if (auto it = storages.find(key); it != storages.end()) return it->second;
    torch::ScalarType dt = storage_dtype(pid->items[1]->s, path);
    const std::string rec = root + "data/" + key;
    if (!zip.find(rec))
      throw ModelError(fmt::format("{}: storage record '{}' is missing from the archive; the file is incomplete: "
                                   "re-download or re-save it",
                                   path, rec));
    std::string raw = zip.read(rec);
    size_t es = c10::elementSize(dt);
    if (raw.size() % es)
      throw ModelError(fmt::format("{}: storage record '{}' has {} bytes, not a multiple of {}; the file is damaged", path,
                                   rec, raw.size(), es));
    int64_t numel = static_cast<int64_t>(raw.size() / es);
    if (pid->items.size() > 4 && pid->items[4]->is(Kind::Int) && pid->items[4]->i > numel)
      throw ModelError(fmt::format("{}: storage record '{}' holds {} elements but {} are declared; the file is truncated",
                                   path, rec, numel, pid->items[4]->i));
    auto v = std::make_shared<PValue>();
    v->kind = Kind::Storage;
    v->tensor = torch::empty({numel}, torch::TensorOptions().dtype(dt));
    if (!raw.empty()) std::memcpy(v->tensor.data_ptr(), raw.data(), raw.size());  // records are little-endian, as is the host
    storages.emplace(key, v);
    return v;
  };
  return unpickle(bytes, path, load);
}

UltralyticsCheckpoint load_ultralytics_pt(const std::string& path) {
  UltralyticsCheckpoint ck;
  ck.path = path;
  PValuePtr root = load_torch_pickle(path);
  if (!root->is(Kind::Dict))
    throw ModelError(path + ": the pickled object is a " + root->type_name() +
                     ", not a checkpoint dict; save the model with Ultralytics or yolocpp");
  for (auto& [k, v] : root->entries) ck.top_level_keys.push_back(key_text(*k));

  // A bare state_dict (name -> tensor) is accepted too: it carries weights only.
  bool all_tensors = !root->entries.empty();
  for (auto& [k, v] : root->entries) all_tensors = all_tensors && k->is(Kind::Str) && v->is(Kind::Tensor);
  if (all_tensors) {
    auto wrapper = std::make_shared<PValue>();
    wrapper->kind = Kind::Object;
    wrapper->state = std::make_shared<PValue>();
    wrapper->state->kind = Kind::Dict;
    wrapper->state->entries.emplace_back(make_str("_parameters"), root);
    collect(*wrapper, path, ck);
    return ck;
  }

  PValuePtr net;
  if (auto e = root->attr("ema"); e && e->is(Kind::Object)) { net = e; ck.from_ema = true; }
  else if (auto m = root->attr("model"); m && m->is(Kind::Object)) net = m;
  if (!net)
    throw ModelError(path + ": the checkpoint has neither a 'model' nor an 'ema' network; it is not an Ultralytics "
                            "detection checkpoint");
  collect(*net, path, ck);
  if (ck.state.empty()) throw ModelError(path + ": the network in this checkpoint has no weights");

  if (auto y = net->attr("yaml"); y && y->is(Kind::Dict)) ck.yaml = to_yaml(*y, path);
  auto class_id = [&](int64_t id, const char* what) {
    if (id < 0 || id >= util::kMaxClasses)
      throw ModelError(fmt::format("{}: {} {} is outside 0..{}; the checkpoint is damaged or hostile", path, what, id,
                                   util::kMaxClasses - 1));
    return static_cast<int>(id);
  };
  if (auto n = net->attr("names")) {
    if (n->is(Kind::Dict)) {
      for (auto& [k, v] : n->entries)
        if (k->is(Kind::Int) && v->is(Kind::Str)) ck.names[class_id(k->i, "class id in 'names'")] = v->s;
    } else if (n->is(Kind::List)) {
      for (size_t i = 0; i < n->items.size(); ++i)
        if (n->items[i]->is(Kind::Str)) ck.names[class_id(static_cast<int64_t>(i), "class id in 'names'")] = n->items[i]->s;
    }
  }
  if (auto nc = net->attr("nc"); nc && nc->is(Kind::Int)) ck.nc = class_id(nc->i, "nc");
  else if (ck.yaml["nc"]) {
    int64_t v;
    try {
      v = ck.yaml["nc"].as<int64_t>();
    } catch (const YAML::Exception&) {
      throw ModelError(path + ": the model yaml's nc is not an integer; the checkpoint is damaged");
    }
    ck.nc = class_id(v, "nc");
  } else ck.nc = static_cast<int>(ck.names.size());
  if (auto s = net->attr("stride"); s && s->is(Kind::Tensor)) {
    auto t = s->tensor.to(torch::kDouble).contiguous();
    for (int64_t i = 0; i < t.numel(); ++i) ck.stride.push_back(t[i].item<double>());
  }
  if (auto a = net->attr("args")) ck.model_args = to_yaml(*a, path);

  if (auto v = root->attr("train_args")) ck.train_args = to_yaml(*v, path);
  if (auto v = root->attr("train_metrics")) ck.train_metrics = to_yaml(*v, path);
  if (auto v = root->attr("train_results")) ck.train_results = to_yaml(*v, path);
  if (auto v = root->attr("epoch"); v && v->is(Kind::Int)) ck.epoch = v->i;
  if (auto v = root->attr("best_fitness"); v && (v->is(Kind::Float) || v->is(Kind::Int)))
    ck.best_fitness = as_number(*v, path, "best_fitness");
  if (auto v = root->attr("updates"); v && v->is(Kind::Int)) ck.updates = v->i;
  if (auto v = root->attr("optimizer"); v && v->is(Kind::Dict)) ck.optimizer = read_optimizer(*v, path);
  if (auto v = root->attr("date"); v && v->is(Kind::Str)) ck.date = v->s;
  if (auto v = root->attr("version"); v && v->is(Kind::Str)) ck.version = v->s;
  if (auto v = root->attr("yolocpp"); v && !v->is_none()) ck.yolocpp = read_extras(*v, path);
  return ck;
}

}  // namespace yolocpp::io
