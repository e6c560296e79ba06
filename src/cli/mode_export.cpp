// `yolocpp export model=best.pt format=onnx imgsz=640 opset= dynamic=False half=False batch=1`: writes
// <stem>.onnx next to the weights (atomically) with our own ONNX writer (export/onnx_export.hpp).
#include <cstdio>
#include <filesystem>
#include <optional>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "cli/modes.hpp"
#include "yolocpp/io/checkpoint.hpp"
#include "yolocpp/io/model_io.hpp"
#include "yolocpp/export/onnx_export.hpp"
#include "yolocpp/nn/model.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cli {

namespace {

namespace fs = std::filesystem;

bool given(const Settings& s, const char* key) { return s.has(key) && !s.is_none(key); }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_str(const std::vector<int64_t>& shape, const std::vector<std::string>& names) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < shape.size(); ++i) parts.push_back(shape[i] >= 0 ? std::to_string(shape[i]) : names[i]);
  return "[" + fmt::format("{}", fmt::join(parts, ", ")) + "]";
}

// A scalar of the checkpoint's training args (yaml text), or "" when absent/None.
std::string train_arg(const std::string& args_yaml, const char* key) {
  if (args_yaml.empty()) return "";
  try {
    YAML::Node n = YAML::Load(args_yaml)[key];
    if (!n || n.IsNull()) return "";
    if (n.IsScalar()) return n.as<std::string>() == "null" ? "" : n.as<std::string>();
    if (n.IsSequence() && n.size() > 0) return n[0].as<std::string>();
  } catch (const YAML::Exception&) {
  }
  return "";
}

}  // namespace

int run_export(const Settings& s) {
  if (!given(s, "model"))
    throw ConfigError("export needs a model: pass model=path/to/best.pt (a yolocpp checkpoint or an Ultralytics .pt)");
  const std::string model_arg = s.str("model");
  // Ultralytics' default format is torchscript; this build writes ONNX only, so an unset format means onnx.
  const std::string format = s.was_set("format") && given(s, "format") ? s.str("format") : "onnx";
  if (format != "onnx")
    throw ConfigError(fmt::format("format={} is not supported by yolocpp export; supported formats: onnx", format));

  nn::DetectionModel model{nullptr};
  io::OnnxExportOptions o;
  std::string train_imgsz;
  if (ends_with(model_arg, ".yaml") || ends_with(model_arg, ".yml")) {
    log::warn("model={} is a model description without weights: exporting randomly initialised weights", model_arg);
    model = nn::build_model(model_arg);
  } else {
    if (!fs::exists(model_arg))
      throw ConfigError(fmt::format("model={}: file not found (pass the path of a .pt checkpoint)", model_arg));
    const io::Checkpoint ck = io::load_checkpoint(model_arg);
    o.data = train_arg(ck.train_args_yaml, "data");
    train_imgsz = train_arg(ck.train_args_yaml, "imgsz");
    model = io::load_model(model_arg);
  }

  // Sizes: the user's imgsz, else the size the model was trained at (as Ultralytics' export), else 640;
  // rounded up to a multiple of the max stride with a warning, like Ultralytics' check_imgsz.
  std::vector<int64_t> sz;
  if (s.was_set("imgsz")) sz = s.int_list("imgsz");
  else if (!train_imgsz.empty()) sz = {std::stoll(train_imgsz)};
  if (sz.empty()) sz = {640};
  if (sz.size() == 1) sz.push_back(sz[0]);
  if (sz.size() != 2 || sz[0] <= 0 || sz[1] <= 0)
    throw ConfigError(fmt::format("imgsz={} must be one size or [height, width], e.g. imgsz=640", s.str("imgsz")));
  const auto gs = static_cast<int64_t>(model->stride().max().item<double>());
  for (auto& v : sz) {
    const int64_t r = (v + gs - 1) / gs * gs;
    if (r != v) log::warn("imgsz {} is not a multiple of max stride {}, updating to {}", v, gs, r);
    v = r;
  }
  o.height = sz[0];
  o.width = sz[1];
  // Ultralytics exports with batch=1 unless batch= is given (its export ignores the training default 16).
  if (s.was_set("batch")) {
    const double b = s.number("batch");
    if (b < 1 || b != static_cast<double>(static_cast<int64_t>(b)))
      throw ConfigError(fmt::format("batch={} must be a whole number >= 1 for export", s.str("batch")));
    o.batch = static_cast<int64_t>(b);
  }
  if (given(s, "opset")) o.opset = static_cast<int>(s.integer("opset"));
  o.dynamic = s.boolean("dynamic");
  o.half = s.boolean("half");
  if (s.was_set("simplify") && s.boolean("simplify"))
    log::info("simplify=True has no effect: the writer already stores anchors and shapes as constants");

  const std::string out = fs::path(model_arg).replace_extension(".onnx").string();
  const auto r = io::export_onnx(*model, out, o);
  const char* dt = o.half ? "float16" : "float32";
  std::printf("%s\n", nn::summary_line(*model, o.height, o.width).c_str());
  std::printf("ONNX: export success, saved as %s (%.1f MB), opset %d, %lld nodes\n", r.path.c_str(),
              static_cast<double>(r.bytes) / 1e6, r.opset, static_cast<long long>(r.nodes));
  std::printf("  input  images  %s %s\n  output output0 %s %s\n",
              shape_str(r.input_shape, {"batch", "3", "height", "width"}).c_str(), dt,
              shape_str(r.output_shape, {"batch", "", "anchors"}).c_str(), dt);
  return 0;
}

}  // namespace yolocpp::cli
