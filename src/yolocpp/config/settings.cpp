// Settings: defaults from the embedded cfg/default.yaml, one validated set() for every way a value arrives
// (command line, cfg= file, args.yaml), and typed getters. Values are stored as canonical YAML scalar text
// (None -> "", booleans True/False, integral ints without ".0") so dump_yaml writes an args.yaml that both
// yolocpp and Ultralytics read back to the same values.
#include "yolocpp/config/settings.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>
#include <sstream>

#include "yolocpp/util/embedded.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/limits.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::config {

namespace {

// How a key's text is checked and converted. Inferred from the default in default.yaml; keys whose default
// is None, or whose Ultralytics type is wider than the default suggests, are listed in spec_overrides().
enum class Kind {
  Bool,       // True/False
  Int,        // integer; "10.0" accepted as 10
  Float,      // real number
  Str,        // free text
  BoolOrStr,  // True/False or a text (pretrained=path, resume=path, cache=ram|disk)
  IntOrList,  // one integer or a list of integers (imgsz, freeze, classes, embed)
  Batch,      // -1 (AutoBatch), >= 1 images, or a fraction in (0, 1) of GPU memory for AutoBatch
};

struct Spec {
  Kind kind = Kind::Str;
  bool none_ok = false;  // None allowed (default None, or an optional value)
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  std::vector<std::string> choices;  // Str: allowed values (empty = any); BoolOrStr: allowed texts
  size_t max_len = 0;                // IntOrList: most list entries (0 = any)
};

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMaxInt = 2147483647.0;
constexpr double kMaxImgsz = 16384;

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Bool: return "a boolean (True or False)";
    case Kind::Int: return "an integer";
    case Kind::Float: return "a number";
    case Kind::Str: return "a text";
    case Kind::BoolOrStr: return "True, False or a text";
    case Kind::IntOrList: return "an integer or a list of integers";
    case Kind::Batch: return "-1 (AutoBatch), an integer >= 1 or a fraction in (0, 1)";
  }
  return "a value";
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// Shell users write name='my run' or name="x"; the quotes are not part of the value.
std::string unquote(const std::string& s) {
  if (s.size() >= 2 && (s.front() == '\'' || s.front() == '"') && s.back() == s.front())
    return s.substr(1, s.size() - 2);
  return s;
}

bool is_none_text(const std::string& v) {
  std::string l = lower(v);
  return l.empty() || l == "none" || l == "null" || l == "~";
}

// Python repr style for floats: the shortest digits that round-trip, written in fixed notation when the
// decimal exponent is in [-4, 16) (10.0, 0.015) and in exponent notation otherwise (1e-05), as repr() does.
std::string format_float(double d) {
  if (std::isnan(d)) return ".nan";
  if (std::isinf(d)) return d > 0 ? ".inf" : "-.inf";
  char buf[64];
  int digits = 1;
  for (; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*e", digits - 1, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  const int exp10 = std::atoi(std::strchr(buf, 'e') + 1);
  std::string s;
  if (exp10 >= -4 && exp10 < 16) {
    std::snprintf(buf, sizeof buf, "%.*f", std::max(0, digits - 1 - exp10), d);
    s = buf;
    if (s.find('.') == std::string::npos) s += ".0";
  } else {
    s = buf;  // 1e-05, 1e+16: signed, at least two exponent digits, as both printf and repr() write them
  }
  return s;
}

bool parse_double(const std::string& text, double& out) {
  std::string t = trim(text);
  if (t.empty()) return false;
  std::string l = lower(t);
  if (l == ".inf" || l == "inf" || l == "+inf") { out = kInf; return true; }
  if (l == "-.inf" || l == "-inf") { out = -kInf; return true; }
  errno = 0;
  char* end = nullptr;
  out = std::strtod(t.c_str(), &end);
  if (errno == ERANGE || end != t.c_str() + t.size()) return false;
  // strtod also takes "nan", hex floats and "infinity"; settings do not.
  return std::isfinite(out) && l.find_first_of("xn") == std::string::npos;
}

// Integers, also written as integral floats ("10.0") the way Ultralytics accepts them.
bool parse_int(const std::string& text, int64_t& out) {
  double d;
  if (!parse_double(text, d)) return false;
  if (d != std::floor(d) || std::fabs(d) > 9.0e15) return false;
  out = static_cast<int64_t>(d);
  return true;
}

int parse_bool(const std::string& text) {  // 1 true, 0 false, -1 not a boolean
  std::string l = lower(trim(text));
  if (l == "true" || l == "1") return 1;
  if (l == "false" || l == "0") return 0;
  return -1;
}

// "640", "[640, 480]", "(640,480)", "0,1" -> items as text; nested lists are not settings values.
std::vector<std::string> split_list(const std::string& text) {
  std::string t = trim(text);
  if (t.size() >= 2 && ((t.front() == '[' && t.back() == ']') || (t.front() == '(' && t.back() == ')')))
    t = t.substr(1, t.size() - 2);
  std::vector<std::string> items;
  if (trim(t).empty()) return items;
  std::stringstream ss(t);
  std::string item;
  while (std::getline(ss, item, ',')) items.push_back(unquote(trim(item)));
  return items;
}

// Ultralytics keys that exist in its default.yaml but do nothing for yolocpp's detection task: an
// Ultralytics args.yaml given as cfg= skips them with a warning instead of failing.
const std::set<std::string>& foreign_keys() {
  static const std::set<std::string> k = {
      "overlap_mask", "mask_ratio", "dropout",  "save_hybrid",  "retina_masks", "keras",
      "pose",         "kobj",       "label_smoothing", "auto_augment", "erasing", "crop_fraction",
      "tracker",      "save_dir",   "cutmix", "compile", "end2end", "rle", "angle"};
  return k;
}

// Names people type from other tools or older Ultralytics versions, mapped to the setting they mean.
const std::map<std::string, std::string>& aliases() {
  static const std::map<std::string, std::string> a = {
      {"lr", "lr0"},           {"learning_rate", "lr0"}, {"img_size", "imgsz"}, {"image_size", "imgsz"},
      {"img", "imgsz"},        {"size", "imgsz"},        {"batch_size", "batch"}, {"bs", "batch"},
      {"weights", "model"},    {"dataset", "data"},      {"epoch", "epochs"},   {"num_workers", "workers"},
      {"hide_labels", "show_labels"}, {"hide_conf", "show_conf"}, {"boxes", "show_boxes"},
      {"line_thickness", "line_width"}, {"iou_thres", "iou"}, {"conf_thres", "conf"},
      {"wd", "weight_decay"},  {"optim", "optimizer"},   {"output", "out"},     {"gpus", "device"}};
  return a;
}


// Keys whose type or range is not obvious from the default value.
std::map<std::string, Spec> spec_overrides() {
  auto num = [](Kind k, double lo, double hi, bool none_ok = false) {
    Spec s;
    s.kind = k;
    s.lo = lo;
    s.hi = hi;
    s.none_ok = none_ok;
    return s;
  };
  auto str = [](bool none_ok, std::vector<std::string> choices = {}) {
    Spec s;
    s.kind = Kind::Str;
    s.none_ok = none_ok;
    s.choices = std::move(choices);
    return s;
  };
  auto list = [](double lo, double hi, bool none_ok, size_t max_len) {
    Spec s;
    s.kind = Kind::IntOrList;
    s.lo = lo;
    s.hi = hi;
    s.none_ok = none_ok;
    s.max_len = max_len;
    return s;
  };
  auto bool_or_str = [](std::vector<std::string> choices) {
    Spec s;
    s.kind = Kind::BoolOrStr;
    s.choices = std::move(choices);
    return s;
  };
  std::map<std::string, Spec> m;
  // The default None ones.
  for (const char* k : {"model", "data", "device", "project", "name", "source", "cfg", "out", "host", "ssh_key",
                        "instance", "export", "filesystem"})
    m[k] = str(true);
  m["time"] = num(Kind::Float, 0, kInf, true);
  m["conf"] = num(Kind::Float, 0, 1, true);
  m["line_width"] = num(Kind::Int, 0, 1000, true);
  m["opset"] = num(Kind::Int, 1, 100, true);
  m["workspace"] = num(Kind::Float, 0, kInf, true);
  m["budget"] = num(Kind::Float, 0, kInf, true);
  m["max_hours"] = num(Kind::Float, 0, kInf, true);
  // autodown: minutes (a number), or True/False; read by the cloud job (cloud/job.cpp parse_autodown).
  m["autodown"] = str(true);
  // cloud provider=runpod (cloud/runpod_api.cpp): which API, GPUs per pod (RunPod's maxCount is 8), container disk.
  m["provider"] = str(false, {"lambda", "runpod"});
  m["gpu_count"] = num(Kind::Int, 1, 64);
  m["pod_disk"] = num(Kind::Int, 1, 4096);
  m["freeze"] = list(0, 1000, true, 0);
  m["classes"] = list(0, util::kMaxClasses - 1, true, 0);
  m["embed"] = list(0, 1000, true, 0);
  m["imgsz"] = list(1, kMaxImgsz, false, 2);
  // Wider than the default suggests.
  m["batch"] = num(Kind::Batch, -1, 65536);
  m["cache"] = bool_or_str({"ram", "disk"});
  m["pretrained"] = bool_or_str({});
  m["resume"] = bool_or_str({});
  m["task"] = str(false, {"detect"});
  m["optimizer"] = str(false, {"SGD", "Adam", "Adamax", "AdamW", "NAdam", "RAdam", "RMSProp", "auto"});
  m["split"] = str(false, {"train", "val", "test"});
  m["copy_paste_mode"] = str(false, {"flip", "mixup"});
  m["amp_dtype"] = str(false, {"float16", "bfloat16", "fp16", "bf16", "half"});
  // bootstrap=none (yolocpp already on the remote PATH) reads as None: allowed, the cloud job maps it back.
  m["bootstrap"] = str(true);
  // Ranges: counts >= 0 or >= 1.
  // Upper bounds far above any real run, so a typo or a hostile cfg= file cannot wrap an int.
  m["epochs"] = num(Kind::Int, 0, 1000000);
  m["close_mosaic"] = num(Kind::Int, 0, 1000000);
  m["patience"] = num(Kind::Int, 0, 100000000);
  m["workers"] = num(Kind::Int, 0, 1024);
  m["seed"] = num(Kind::Int, 0, 4294967295.0);
  m["max_det"] = num(Kind::Int, 1, 100000);
  m["vid_stride"] = num(Kind::Int, 1, 10000);
  m["nbs"] = num(Kind::Int, 1, 65536);
  m["images"] = num(Kind::Int, 1, 10000000);
  m["ssh_port"] = num(Kind::Int, 1, 65535);
  // Fractions and probabilities, [0, 1] (Ultralytics' fraction keys).
  for (const char* k : {"fraction", "iou", "lrf", "momentum", "weight_decay", "warmup_momentum", "warmup_bias_lr",
                        "hsv_h", "hsv_s", "hsv_v", "translate", "scale", "perspective", "flipud", "fliplr", "bgr",
                        "mosaic", "mixup", "copy_paste", "val_fraction"})
    m[k] = num(Kind::Float, 0, 1);
  for (const char* k : {"lr0", "warmup_epochs", "box", "cls", "dfl"}) m[k] = num(Kind::Float, 0, kInf);
  return m;
}

struct Registry {
  std::vector<std::string> order;
  std::set<std::string> yolocpp_only;  // keys below the "yolocpp-only settings" banner of cfg/default.yaml
  std::map<std::string, std::string> defaults;  // canonical text
  std::map<std::string, Spec> specs;
};

std::string canonical(const std::string& key, const Spec& spec, const std::string& raw);

const Registry& registry() {
  static const Registry reg = [] {
    Registry r;
    const auto& files = embedded::files();
    auto it = files.find("default.yaml");
    if (it == files.end()) throw ConfigError("cfg/default.yaml is not compiled into this build; rebuild yolocpp");
    YAML::Node root;
    try {
      root = YAML::Load(it->second);
    } catch (const YAML::Exception& e) {
      throw ConfigError(std::string("cfg/default.yaml (embedded) is not valid YAML: ") + e.what());
    }
    // Keys listed after the banner are ours alone: args.yaml leaves them out so Ultralytics accepts the file.
    if (size_t banner = it->second.find("yolocpp-only settings"); banner != std::string::npos) {
      YAML::Node ours = YAML::Load(it->second.substr(it->second.find('\n', banner) + 1));
      if (ours.IsMap())
        for (const auto& kv : ours) r.yolocpp_only.insert(kv.first.as<std::string>());
    }
    auto overrides = spec_overrides();
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      std::string raw = v.IsNull() ? "" : v.Scalar();
      Spec spec;
      if (auto o = overrides.find(key); o != overrides.end()) {
        spec = o->second;
      } else if (is_none_text(raw)) {
        throw ConfigError("cfg/default.yaml: key '" + key + "' defaults to None but has no type in settings.cpp");
      } else if (parse_bool(raw) >= 0 && !std::isdigit(static_cast<unsigned char>(raw[0]))) {
        spec.kind = Kind::Bool;
      } else if (int64_t i; raw.find_first_of(".eE") == std::string::npos && parse_int(raw, i)) {
        spec.kind = Kind::Int;
      } else if (double d; parse_double(raw, d)) {
        spec.kind = Kind::Float;
      } else {
        spec.kind = Kind::Str;
      }
      // Integers without an explicit bound still have to fit the int they end up in.
      if ((spec.kind == Kind::Int || spec.kind == Kind::IntOrList) && std::isinf(spec.hi)) spec.hi = kMaxInt;
      r.order.push_back(key);
      r.specs[key] = spec;
      r.defaults[key] = canonical(key, spec, raw);
    }
    return r;
  }();
  return reg;
}

[[noreturn]] void bad(const std::string& key, const std::string& value, const std::string& what) {
  throw ConfigError("setting '" + key + "' must be " + what + ", got '" + value + "'");
}

std::string range_text(const Spec& s) {
  auto f = [](double d) {
    std::string t = format_float(d);
    if (t.size() > 2 && t.compare(t.size() - 2, 2, ".0") == 0) t.resize(t.size() - 2);
    return t;
  };
  if (std::isinf(s.hi)) return ">= " + f(s.lo);
  return "in [" + f(s.lo) + ", " + f(s.hi) + "]";
}

// Validates `raw` for `key` and returns its canonical text ("" for None).
std::string canonical(const std::string& key, const Spec& spec, const std::string& raw_in) {
  std::string raw = unquote(trim(raw_in));
  if (is_none_text(raw)) {
    // Ultralytics skips the checks for None; booleans read it as False, other keys only where None means
    // something (an optional value).
    if (spec.none_ok) return "";
    if (spec.kind == Kind::Bool) return "false";
    bad(key, raw_in, std::string(kind_name(spec.kind)) + " (None is not allowed here)");
  }
  switch (spec.kind) {
    case Kind::Bool: {
      int b = parse_bool(raw);
      if (b < 0) bad(key, raw, kind_name(spec.kind));
      return b ? "true" : "false";
    }
    case Kind::Int: {
      int64_t i;
      if (!parse_int(raw, i)) bad(key, raw, kind_name(spec.kind));
      if (i < spec.lo || i > spec.hi) bad(key, raw, std::string("an integer ") + range_text(spec));
      return std::to_string(i);
    }
    case Kind::Float: {
      double d;
      if (!parse_double(raw, d)) bad(key, raw, kind_name(spec.kind));
      if (!std::isfinite(d)) bad(key, raw, std::string("a finite number ") + range_text(spec));
      if (d < spec.lo || d > spec.hi) bad(key, raw, std::string("a number ") + range_text(spec));
      return format_float(d);
    }
    case Kind::Batch: {
      double d;
      if (!parse_double(raw, d) || !std::isfinite(d)) bad(key, raw, kind_name(spec.kind));
      if (d == std::floor(d)) {
        if (d > spec.hi) bad(key, raw, "-1 (AutoBatch), a fraction in (0, 1) or an integer " + range_text(spec));
        if (d == -1 || d >= 1) return std::to_string(static_cast<int64_t>(d));
        bad(key, raw, kind_name(spec.kind));
      }
      if (d > 0 && d < 1) return format_float(d);
      bad(key, raw, kind_name(spec.kind));
    }
    case Kind::Str: {
      if (!spec.choices.empty() &&
          std::find(spec.choices.begin(), spec.choices.end(), raw) == spec.choices.end()) {
        std::string all;
        for (const auto& c : spec.choices) all += (all.empty() ? "" : ", ") + c;
        bad(key, raw, "one of " + all);
      }
      return raw;
    }
    case Kind::BoolOrStr: {
      int b = parse_bool(raw);
      if (b >= 0) return b ? "true" : "false";
      if (!spec.choices.empty()) {
        std::string l = lower(raw);
        if (std::find(spec.choices.begin(), spec.choices.end(), l) == spec.choices.end()) {
          std::string all = "True, False";
          for (const auto& c : spec.choices) all += ", " + c;
          bad(key, raw, "one of " + all);
        }
        return l;
      }
      return raw;
    }
    case Kind::IntOrList: {
      auto items = split_list(raw);
      bool listy = raw.find_first_of("[(,") != std::string::npos;
      if (items.empty()) {
        if (spec.none_ok) return "";
        bad(key, raw, kind_name(spec.kind));
      }
      if (spec.max_len && items.size() > spec.max_len)
        bad(key, raw, "an integer or a list of at most " + std::to_string(spec.max_len) + " integers");
      std::string out;
      for (const auto& it : items) {
        int64_t i;
        if (!parse_int(it, i)) bad(key, raw, kind_name(spec.kind));
        if (i < spec.lo || i > spec.hi) bad(key, raw, std::string("integers ") + range_text(spec));
        out += (out.empty() ? "" : ", ") + std::to_string(i);
      }
      return listy ? "[" + out + "]" : out;
    }
  }
  return raw;
}

// A YAML node from a cfg file as the text set() takes: scalars as written, flow sequences as "[a, b]".
std::string node_text(const YAML::Node& v) {
  if (!v || v.IsNull()) return "";
  if (v.IsScalar()) return v.Scalar();
  if (v.IsSequence()) {
    std::string out;
    for (const auto& e : v) {
      if (!e.IsScalar()) throw ConfigError("nested lists are not setting values");
      out += (out.empty() ? "" : ", ") + e.Scalar();
    }
    return "[" + out + "]";
  }
  throw ConfigError("a mapping is not a setting value");
}

// YAML needs quotes around texts that would read back as another type or break the line.
std::string yaml_scalar(const std::string& v, Kind kind) {
  if (v.empty()) return "null";
  if (kind != Kind::Str && kind != Kind::BoolOrStr) return v;
  bool needs = is_none_text(v) || parse_bool(v) >= 0 || lower(v) == "yes" || lower(v) == "no" ||
               lower(v) == "on" || lower(v) == "off";
  double d;
  needs = needs || parse_double(v, d);
  needs = needs || v.find_first_of(":#[]{},&*!|>'\"%@`") != std::string::npos;
  needs = needs || std::isspace(static_cast<unsigned char>(v.front())) ||
          std::isspace(static_cast<unsigned char>(v.back())) || v.front() == '-' || v.front() == '?';
  if (kind == Kind::BoolOrStr && (v == "true" || v == "false")) needs = false;
  if (!needs) return v;
  std::string q = "'";
  for (char c : v) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

bool is_bool_key(const std::string& key) {
  auto it = registry().specs.find(key);
  return it != registry().specs.end() && it->second.kind == Kind::Bool;
}

}  // namespace

// Levenshtein distance; shared by the setting and mode did-you-mean hints.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string Settings::suggest(const std::string& key) {
  const auto& reg = registry();
  if (auto a = aliases().find(lower(key)); a != aliases().end()) return a->second;
  std::string best;
  size_t best_d = std::numeric_limits<size_t>::max();
  std::string l = lower(key);
  for (const auto& k : reg.order) {
    size_t d = edit_distance(l, k);
    if (d < best_d) best_d = d, best = k;
  }
  // Close enough to be a typo: at most a third of the longer name (and at least 2 edits for short names).
  size_t limit = std::max<size_t>(2, std::max(l.size(), best.size()) / 3);
  return best_d <= limit ? best : "";
}

Settings Settings::defaults() {
  const auto& reg = registry();
  Settings s;
  s.order_ = reg.order;
  s.values_ = reg.defaults;
  return s;
}

Settings Settings::from_args(const std::vector<std::string>& tokens_in) {
  // Join the "key = value", "key= value" and "key =value" spellings into one token, as Ultralytics does.
  std::vector<std::string> tokens;
  for (size_t i = 0; i < tokens_in.size(); ++i) {
    std::string t = tokens_in[i];
    if (t == "=" && !tokens.empty() && i + 1 < tokens_in.size()) {
      tokens.back() += "=" + tokens_in[++i];
      continue;
    }
    if (!t.empty() && t.back() == '=' && t.find('=') == t.size() - 1 && i + 1 < tokens_in.size()) {
      t += tokens_in[++i];
    } else if (!t.empty() && t.front() == '=' && !tokens.empty() && tokens.back().find('=') == std::string::npos) {
      tokens.back() += t;
      continue;
    }
    tokens.push_back(t);
  }

  Settings s = defaults();
  std::vector<std::pair<std::string, std::string>> kvs;
  for (const auto& t0 : tokens) {
    std::string t = t0;
    // Leading dashes (--epochs=3) are a habit from other CLIs; the key is the same.
    if (t.rfind("--", 0) == 0) t = t.substr(2);
    size_t eq = t.find('=');
    if (eq == std::string::npos) {
      std::string k = lower(t);
      if (is_bool_key(k))
        throw ConfigError("'" + t0 + "' has no value: write " + k + "=True (settings are key=value pairs)");
      if (s.has(k)) throw ConfigError("'" + t0 + "' has no value: write " + k + "=VALUE (settings are key=value pairs)");
      throw ConfigError("'" + t0 + "' is not a key=value setting (e.g. epochs=10 imgsz=640); run 'yolocpp help'");
    }
    std::string k = trim(t.substr(0, eq));
    if (k.empty()) throw ConfigError("'" + t0 + "' has no setting name before '='; write key=value, e.g. epochs=10");
    kvs.emplace_back(k, t.substr(eq + 1));
  }
  // cfg= first (its values are the base), then every other token in order, so the command line wins.
  for (const auto& [k, v] : kvs)
    if (k == "cfg" && !is_none_text(unquote(trim(v)))) {
      s.load_yaml(unquote(trim(v)));
      s.set("cfg", v);
    }
  for (const auto& [k, v] : kvs)
    if (k != "cfg") s.set(k, v);
  return s;
}

void Settings::set(const std::string& key, const std::string& value) {
  const auto& reg = registry();
  auto it = reg.specs.find(key);
  if (it == reg.specs.end()) {
    if (foreign_keys().count(key))
      throw ConfigError("setting '" + key + "' is an Ultralytics setting that yolocpp does not use (it applies to "
                        "segmentation, classification, pose or tracking only); remove it");
    std::string hint = suggest(key);
    throw ConfigError("unknown setting '" + key + "'" +
                      (hint.empty() ? "; run 'yolocpp cfg' to list all settings" : " (did you mean '" + hint + "'?)"));
  }
  values_[key] = canonical(key, it->second, value);
  set_by_user_[key] = true;
  if (order_.empty()) order_ = reg.order;
}

void Settings::load_yaml(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw ConfigError("cfg file '" + path + "' cannot be read; check the path (cfg=FILE.yaml)");
  } catch (const YAML::Exception& e) {
    throw ConfigError("cfg file '" + path + "' is not valid YAML: line " + std::to_string(e.mark.line + 1) + ": " +
                      e.msg);
  }
  apply_yaml(root, path);
}

void Settings::load_yaml_text(const std::string& text, const std::string& where) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError("'" + where + "' is not valid YAML: line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  apply_yaml(root, where);
}

void Settings::apply_yaml(const YAML::Node& root, const std::string& path) {
  if (root.IsNull()) return;  // an empty file changes nothing
  if (!root.IsMap())
    throw ConfigError("cfg file '" + path + "' must be a mapping of 'key: value' lines, like cfg/default.yaml");
  std::string skipped;
  for (const auto& kv : root) {
    std::string key = kv.first.Scalar();
    std::string where = path + ":" + std::to_string(kv.first.Mark().line + 1);
    if (key == "cfg") continue;  // a cfg file naming another cfg file would recurse; Ultralytics drops it too
    if (key == "api_url") {
      // api_url decides where the API key is sent: a shared or downloaded cfg file must not redirect it.
      // The value a run folder's own args.yaml carries (the default) is harmless and skipped.
      if (node_text(kv.second) != registry().defaults.at("api_url"))
        throw ConfigError(where + ": api_url cannot be set from a cfg file (it decides where your API key is sent); "
                          "give api_url=... on the command line");
      continue;
    }
    if (!has(key) && foreign_keys().count(key)) {
      // save_dir is in every Ultralytics args.yaml and is derived from project/name anyway: skip it silently.
      if (key != "save_dir") skipped += (skipped.empty() ? "" : ", ") + key;
      continue;
    }
    try {
      set(key, node_text(kv.second));
    } catch (const ConfigError& e) {
      throw ConfigError(where + ": " + e.what());
    }
  }
  if (!skipped.empty())
    log::warn("{}: skipping Ultralytics settings that yolocpp does not use: {}", path, skipped);
}

bool Settings::has(const std::string& key) const { return registry().specs.count(key) > 0; }

namespace {
const std::string& value_of(const std::map<std::string, std::string>& values, const std::string& key) {
  auto it = values.find(key);
  if (it == values.end()) {
    if (registry().specs.count(key) == 0) throw ConfigError("unknown setting '" + key + "' requested by yolocpp");
    return registry().defaults.at(key);  // a default-constructed Settings reads the defaults
  }
  return it->second;
}
}  // namespace

bool Settings::is_none(const std::string& key) const { return is_none_text(value_of(values_, key)); }

bool Settings::was_set(const std::string& key) const {
  auto it = set_by_user_.find(key);
  return it != set_by_user_.end() && it->second;
}

std::string Settings::str(const std::string& key) const {
  const std::string& v = value_of(values_, key);
  return is_none_text(v) ? "" : v;
}

int64_t Settings::integer(const std::string& key) const {
  const std::string& v = value_of(values_, key);
  int64_t i;
  if (is_none_text(v)) throw ConfigError("setting '" + key + "' is None here but an integer is needed; set " + key + "=N");
  if (!parse_int(v, i)) throw ConfigError("setting '" + key + "' must be an integer here, got '" + v + "'");
  return i;
}

double Settings::number(const std::string& key) const {
  const std::string& v = value_of(values_, key);
  double d;
  if (is_none_text(v)) throw ConfigError("setting '" + key + "' is None here but a number is needed; set " + key + "=X");
  if (!parse_double(v, d)) throw ConfigError("setting '" + key + "' must be a number here, got '" + v + "'");
  return d;
}

bool Settings::boolean(const std::string& key) const {
  const std::string& v = value_of(values_, key);
  if (is_none_text(v)) return false;
  int b = parse_bool(v);
  if (b >= 0) return b == 1;
  auto it = registry().specs.find(key);
  // cache=ram/disk, pretrained=path, resume=path: the feature is on.
  if (it != registry().specs.end() && it->second.kind == Kind::BoolOrStr) return true;
  throw ConfigError("setting '" + key + "' must be True or False here, got '" + v + "'");
}

std::vector<int64_t> Settings::int_list(const std::string& key) const {
  const std::string& v = value_of(values_, key);
  std::vector<int64_t> out;
  if (is_none_text(v)) return out;
  for (const auto& item : split_list(v)) {
    int64_t i;
    if (!parse_int(item, i))
      throw ConfigError("setting '" + key + "' must be an integer or a list of integers, got '" + v + "'");
    out.push_back(i);
  }
  return out;
}

std::vector<std::string> Settings::keys() const { return order_.empty() ? registry().order : order_; }

bool Settings::is_yolocpp_only(const std::string& key) { return registry().yolocpp_only.count(key) > 0; }

std::string Settings::dump_yaml(Scope scope) const {
  std::string out;
  for (const auto& k : keys()) {
    if (scope != Scope::All && is_yolocpp_only(k) != (scope == Scope::YolocppOnly)) continue;
    auto it = registry().specs.find(k);
    out += k + ": " + yaml_scalar(value_of(values_, k), it->second.kind) + "\n";
  }
  return out;
}

}  // namespace yolocpp::config
