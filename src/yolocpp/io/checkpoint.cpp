#include "yolocpp/io/checkpoint.hpp"

#include "yolocpp/util/time.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

#include "yolocpp/io/ultralytics_save.hpp"
#include "yolocpp/io/zip.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/limits.hpp"
#include "yolocpp/version.hpp"

namespace yolocpp::io {

using json = nlohmann::json;

namespace {

constexpr const char* kRoot = "yolocpp_ckpt/";
constexpr const char* kFormat = "yolocpp-checkpoint";
constexpr int kFormatVersion = 1;

const std::map<std::string, torch::ScalarType>& dtypes() {
  static const std::map<std::string, torch::ScalarType> m = {
      {"float32", torch::kFloat}, {"float16", torch::kHalf}, {"bfloat16", torch::kBFloat16},
      {"float64", torch::kDouble}, {"int64", torch::kLong}, {"int32", torch::kInt},
      {"uint8", torch::kByte}, {"int8", torch::kChar}, {"bool", torch::kBool},
  };
  return m;
}

std::string dtype_name(torch::ScalarType t) {
  for (auto& [n, s] : dtypes())
    if (s == t) return n;
  throw ModelError(std::string("checkpoint: tensor dtype ") + c10::toString(t) + " cannot be saved");
}


void add_tensors(ZipWriter& zw, json& list, const std::string& group, const std::vector<std::string>& order,
                 const std::map<std::string, torch::Tensor>& m, size_t& counter) {
  std::vector<std::string> names = order;
  for (auto& [k, v] : m)  // anything not listed in `order` follows in name order
    if (std::find(order.begin(), order.end(), k) == order.end()) names.push_back(k);
  for (auto& name : names) {
    auto it = m.find(name);
    if (it == m.end()) continue;
    torch::Tensor t = it->second.detach().to(torch::kCPU).contiguous();
    std::string rec = std::string(kRoot) + "tensors/" + std::to_string(counter++);
    zw.add(rec, std::string_view(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size()));
    list.push_back({{"group", group}, {"name", name}, {"dtype", dtype_name(t.scalar_type())}, {"shape", t.sizes().vec()},
                    {"record", rec}});
  }
}

int class_id_key(const std::string& k, const std::string& path) {
  int v = -1;
  size_t n = 0;
  while (n < k.size() && n < 7 && k[n] >= '0' && k[n] <= '9') v = (v < 0 ? 0 : v * 10) + (k[n++] - '0');
  if (v < 0 || n != k.size() || v >= util::kMaxClasses)
    throw ModelError(fmt::format("{}: checkpoint header 'names' key '{}' is not a class id in 0..{}; the file is damaged",
                                 path, k.substr(0, 40), util::kMaxClasses - 1));
  return v;
}

uint64_t shape_bytes(const std::vector<int64_t>& shape, size_t itemsize, const std::string& path, const std::string& name) {
  uint64_t n = itemsize;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n))
      throw ModelError(fmt::format("{}: tensor '{}' has an impossible shape [{}]; the file is damaged", path, name,
                                   fmt::join(shape, ", ")));
  return n;
}

Checkpoint load_native(const ZipReader& zip, const std::string& path) {
  json h;
  try {
    h = json::parse(zip.read(std::string(kRoot) + "header.json"));
  } catch (const json::exception& e) {
    throw ModelError(path + ": checkpoint header is not valid JSON (" + e.what() + "); the file is damaged");
  }
  if (h.value("format", "") != kFormat) throw ModelError(path + ": not a yolocpp checkpoint (header format mismatch)");
  if (h.value("format_version", 0) > kFormatVersion)
    throw ModelError(fmt::format("{}: checkpoint format version {} is newer than this yolocpp supports ({}); update yolocpp",
                                 path, h.value("format_version", 0), kFormatVersion));
  Checkpoint ck;
  ck.format = "yolocpp";
  try {
    ck.model_yaml = h.value("model_yaml", "");
    ck.train_args_yaml = h.value("train_args_yaml", "");
    ck.version = h.value("yolocpp_version", "");
    ck.date = h.value("date", "");
    ck.epoch = h.value("epoch", int64_t(-1));
    ck.ema_updates = h.value("ema_updates", int64_t(0));
    if (h.contains("best_fitness") && !h["best_fitness"].is_null()) ck.best_fitness = h["best_fitness"].get<double>();
    if (h.contains("names"))
      for (auto& [k, v] : h["names"].items()) ck.names[class_id_key(k, path)] = v.get<std::string>();
    if (h.contains("metrics") && !h["metrics"].is_null()) ck.metrics_json = h["metrics"].dump();
    for (auto& t : h.at("tensors")) {
      const std::string name = t.at("name"), group = t.at("group"), dt = t.at("dtype"), rec = t.at("record");
      auto it = dtypes().find(dt);
      if (it == dtypes().end()) throw ModelError(path + ": tensor '" + name + "' has unknown dtype '" + dt + "'");
      std::vector<int64_t> shape = t.at("shape").get<std::vector<int64_t>>();
      if (!zip.find(rec))
        throw ModelError(path + ": tensor record '" + rec + "' for '" + name + "' is missing; the file is incomplete");
      // The header's shape is checked against the record's stored size before anything is allocated.
      const uint64_t want = shape_bytes(shape, c10::elementSize(it->second), path, name);
      const ZipEntry* re = zip.find(rec);
      if (re->size != want)
        throw ModelError(fmt::format("{}: tensor '{}' has {} bytes, expected {}; the file is damaged", path, name, re->size,
                                     want));
      std::string raw = zip.read(rec);
      torch::Tensor x = torch::empty(shape, torch::TensorOptions().dtype(it->second));
      if (!raw.empty()) std::memcpy(x.data_ptr(), raw.data(), raw.size());
      if (group == "model") {
        ck.keys.push_back(name);
        ck.weights[name] = x;
      } else if (group == "ema") {
        ck.ema[name] = x;
      }
    }
  } catch (const json::exception& e) {
    throw ModelError(path + ": checkpoint header is incomplete (" + e.what() + "); the file is damaged");
  }
  if (h.contains("optimizer_record") && h["optimizer_record"].is_string())
    ck.optimizer = zip.read(h["optimizer_record"].get<std::string>());
  return ck;
}

}  // namespace

void save_checkpoint(const Checkpoint& ck, const std::string& path) {
  const std::string bytes = ultralytics_checkpoint_bytes(ck);
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  util::atomic_write(p, bytes);
}

void save_native_checkpoint(const Checkpoint& ck, const std::string& path) {
  ZipWriter zw;
  json h;
  h["format"] = kFormat;
  h["format_version"] = kFormatVersion;
  h["yolocpp_version"] = ck.version.empty() ? std::string(YOLOCPP_VERSION) : ck.version;
  h["date"] = ck.date.empty() ? util::local_iso_time() : ck.date;
  h["epoch"] = ck.epoch;
  h["best_fitness"] = ck.best_fitness ? json(*ck.best_fitness) : json(nullptr);
  json names = json::object();
  for (auto& [i, n] : ck.names) names[std::to_string(i)] = n;
  h["names"] = names;
  h["ema_updates"] = ck.ema_updates;
  h["model_yaml"] = ck.model_yaml;
  h["train_args_yaml"] = ck.train_args_yaml;
  if (ck.metrics_json.empty()) h["metrics"] = nullptr;
  else {
    try {
      h["metrics"] = json::parse(ck.metrics_json);
    } catch (const json::exception&) {
      h["metrics"] = ck.metrics_json;  // keep what the caller gave, even if not JSON
    }
  }
  json list = json::array();
  size_t counter = 0;
  add_tensors(zw, list, "model", ck.keys, ck.weights, counter);
  add_tensors(zw, list, "ema", ck.keys, ck.ema, counter);
  h["tensors"] = list;
  if (!ck.optimizer.empty()) {
    std::string rec = std::string(kRoot) + "optimizer.bin";
    zw.add(rec, ck.optimizer);
    h["optimizer_record"] = rec;
  } else {
    h["optimizer_record"] = nullptr;
  }
  zw.add(std::string(kRoot) + "header.json", h.dump(1));
  std::string bytes = zw.finish();
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  util::atomic_write(p, bytes);
}

namespace {

// A checkpoint yolocpp wrote in Ultralytics' layout: the pickled network is the EMA (or final) weights, the
// `yolocpp` key the training model, optimizer and settings.
Checkpoint from_yolocpp_pickle(UltralyticsCheckpoint&& u) {
  YolocppExtras& x = *u.yolocpp;
  Checkpoint ck;
  ck.format = "yolocpp";
  ck.model_yaml = x.model_yaml;
  ck.keys = std::move(u.keys);
  if (!x.weights.empty()) {
    ck.weights = std::move(x.weights);
    ck.ema = std::move(u.state);
  } else {
    ck.weights = std::move(u.state);
  }
  ck.ema_updates = x.ema_updates;
  ck.optimizer = std::move(x.optimizer);
  ck.ultralytics_optimizer = std::move(u.optimizer);
  ck.epoch = u.epoch;
  ck.best_fitness = u.best_fitness;
  ck.names = std::move(u.names);
  ck.train_args_yaml = std::move(x.train_args_yaml);
  ck.metrics_json = std::move(x.metrics_json);
  ck.version = std::move(x.version);
  ck.date = u.date;
  return ck;
}

}  // namespace

Checkpoint from_ultralytics(UltralyticsCheckpoint&& u) {
  if (u.yolocpp) return from_yolocpp_pickle(std::move(u));
  Checkpoint ck;
  ck.format = "ultralytics";
  YAML::Emitter em;
  em << u.yaml;
  ck.model_yaml = u.yaml ? std::string(em.c_str()) : std::string();
  ck.keys = std::move(u.keys);
  ck.weights = std::move(u.state);  // Ultralytics keeps the EMA as the model; one set of weights
  ck.ema_updates = u.updates.value_or(0);
  ck.ultralytics_optimizer = std::move(u.optimizer);
  ck.epoch = u.epoch;
  ck.best_fitness = u.best_fitness;
  ck.names = std::move(u.names);
  if (u.train_args) {
    YAML::Emitter ea;
    ea << u.train_args;
    ck.train_args_yaml = ea.c_str();
  }
  if (u.train_metrics && u.train_metrics.IsMap()) {
    json m = json::object();
    for (auto it = u.train_metrics.begin(); it != u.train_metrics.end(); ++it) {
      try {
        m[it->first.as<std::string>()] = it->second.as<double>();
      } catch (const YAML::Exception&) {
        m[it->first.as<std::string>()] = it->second.as<std::string>("");
      }
    }
    ck.metrics_json = m.dump();
  }
  ck.version = "ultralytics " + u.version;
  ck.date = u.date;
  return ck;
}

bool is_native_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[4] = {};
  in.read(head, 4);
  if (!ZipReader::looks_like_zip(std::string_view(head, static_cast<size_t>(in.gcount())))) return false;
  ZipReader zip{std::filesystem::path(path)};
  return zip.find(std::string(kRoot) + "header.json") != nullptr;
}

namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

Checkpoint load_checkpoint_unguarded(const std::string& path) {
  if (!std::filesystem::exists(path))
    throw ModelError("model file '" + path + "' does not exist; check the path or use a known name like yolo11n.pt");
  std::string head;
  {
    std::ifstream in(path, std::ios::binary);
    head.resize(8);
    in.read(head.data(), 8);
    head.resize(static_cast<size_t>(in.gcount()));
  }
  if (!ZipReader::looks_like_zip(head)) {
    if (!head.empty() && static_cast<unsigned char>(head[0]) == 0x80)
      throw ModelError(path + ": this is a legacy (pre-1.6, non-zip) torch.save file; re-save it with torch>=1.6 "
                              "(torch.save(torch.load(f), f)) or export it from Ultralytics");
    throw ModelError(path + ": not a checkpoint (no ZIP signature); expected an Ultralytics .pt or a yolocpp checkpoint");
  }
  {
    ZipReader zip{std::filesystem::path(path)};
    if (zip.find(std::string(kRoot) + "header.json")) return load_native(zip, path);
    if (!zip.find_suffix("/data.pkl") && !zip.find("data.pkl"))
      throw ModelError(path + ": the archive is neither a yolocpp checkpoint nor a torch.save file (no header.json or "
                              "data.pkl); re-download or re-save it");
  }
  return from_ultralytics(load_ultralytics_pt(path));
}

}  // namespace

// Whatever a damaged file makes LibTorch, yaml-cpp or the standard library throw ends as one line naming it.
Checkpoint load_checkpoint(const std::string& path) {
  try {
    return load_checkpoint_unguarded(path);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw ModelError(path + ": cannot be loaded (" + first_line(e.what_without_backtrace()) + "); the file is damaged");
  } catch (const std::bad_alloc&) {
    throw ModelError(path + ": out of memory while loading; the file is damaged or larger than this machine's memory");
  } catch (const std::exception& e) {
    throw ModelError(path + ": cannot be loaded (" + first_line(e.what()) + "); the file is damaged");
  }
}

}  // namespace yolocpp::io
