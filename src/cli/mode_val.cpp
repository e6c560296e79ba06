// `yolocpp val model=... data=... split=val imgsz=640 batch=16 conf=0.001 iou=0.7 device=cpu save_json=False`:
// validates a checkpoint (ours or an Ultralytics .pt) or an untrained model yaml on a dataset split and
// writes into runs/detect/valN.
#include <algorithm>
#include <cctype>
#include <cstdio>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "cli/modes.hpp"
#include "yolocpp/config/torch_device.hpp"
#include "yolocpp/data/dataset.hpp"
#include "yolocpp/data/synth.hpp"
#include "yolocpp/predict/backend_ocv.hpp"
#include "yolocpp/data/loader/loader.hpp"
#include "yolocpp/metrics/plots/plots.hpp"
#include "yolocpp/config/run_dir.hpp"
#include "yolocpp/val/validator.hpp"
#include "yolocpp/io/checkpoint.hpp"
#include "yolocpp/io/model_io.hpp"
#include "yolocpp/io/weights.hpp"
#include "yolocpp/nn/model.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cli {

namespace {

bool given(const Settings& s, const char* key) { return s.has(key) && !s.is_none(key); }

bool ends_with_ci(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
  return true;
}

}  // namespace

int run_val(const Settings& s) {
  if (!given(s, "model"))
    throw ConfigError("val needs a model: pass model=path/to/best.pt (an Ultralytics .pt or a yolocpp checkpoint)");
  const std::string model_arg = s.str("model");
  const torch::Device device = config::torch_device(given(s, "device") ? s.str("device") : "", "val");

  nn::DetectionModel model{nullptr};
  std::unique_ptr<engine::OpenCvBackend> onnx;
  std::string data_arg = given(s, "data") ? s.str("data") : "";
  const bool is_yaml = ends_with_ci(model_arg, ".yaml") || ends_with_ci(model_arg, ".yml");
  const bool is_onnx = ends_with_ci(model_arg, ".onnx");
  if (is_onnx) {
    // An exported graph carries no training args, so data= falls back to the demo set below.
    if (device.is_cuda()) log::warn("val of an .onnx runs on OpenCV DNN (cpu); device={} is ignored", s.str("device"));
    onnx = std::make_unique<engine::OpenCvBackend>(model_arg);
  } else if (is_yaml) {
    log::warn("model={} is a model description without weights: validating randomly initialised weights", model_arg);
  } else {
    const std::string path = io::resolve_weights(model_arg);
    model = io::load_model(path);
    io::Checkpoint ck;
    if (data_arg.empty()) ck = io::load_checkpoint(path);  // only for its train_args' data
    if (data_arg.empty() && !ck.train_args_yaml.empty()) {
      YAML::Node args = YAML::Load(ck.train_args_yaml);
      if (args["data"] && args["data"].IsScalar() && !args["data"].as<std::string>().empty() &&
          args["data"].as<std::string>() != "null") {
        data_arg = args["data"].as<std::string>();
        log::info("data= not given: using the checkpoint's training data {}", data_arg);
      }
    }
  }
  if (data_arg.empty()) {
    data_arg = data::ensure_demo_dataset().string();
    log::info("data= not given: using the built-in demo dataset {}", data_arg);
  }
  data::DatasetInfo ds = data::load_dataset(data_arg);
  const bool single_cls = given(s, "single_cls") && s.boolean("single_cls");
  if (is_yaml) model = nn::build_model(model_arg, single_cls ? 1 : ds.nc);
  if (onnx && !single_cls && static_cast<int64_t>(onnx->names().size()) != ds.nc)
    throw ModelError(fmt::format("model={} predicts {} classes (ONNX metadata names) but data={} has nc={}; "
                                 "validate it on the dataset it was trained on, or re-export the matching model",
                                 model_arg, onnx->names().size(), data_arg, ds.nc));

  engine::ValidatorOptions o;
  auto sz = s.int_list("imgsz");
  o.imgsz = sz.empty() ? 640 : static_cast<int>(sz[0]);
  if (sz.size() > 1 && sz[0] != sz[1]) log::warn("val uses square sizes; imgsz={} -> {}", s.str("imgsz"), o.imgsz);
  const double batch = s.number("batch");
  o.batch = batch >= 1 ? static_cast<int>(batch) : 16;
  if (batch < 1) log::warn("batch={} (AutoBatch) applies to training; val uses batch=16", s.str("batch"));
  o.conf = given(s, "conf") ? s.number("conf") : 0.001;
  o.iou = s.number("iou");
  o.max_det = static_cast<int>(s.integer("max_det"));
  o.single_cls = single_cls;
  o.device = device;
  o.half = s.boolean("half");
  o.workers = given(s, "workers") ? static_cast<int>(std::min<int64_t>(s.integer("workers"), 8)) : 0;
  o.save_json = s.boolean("save_json");
  o.verbose = s.boolean("verbose");
  // val defaults to rect batches (Ultralytics' Model.val sets rect=True); rect=False gives square batches.
  if (s.was_set("rect")) o.rect = s.boolean("rect");
  if (onnx) {
    o.device = torch::kCPU;  // OpenCV DNN returns CPU tensors; NMS and matching run there too
    if (o.half) {
      log::warn("half=True does not apply to an .onnx on OpenCV DNN; validating in fp32");
      o.half = false;
    }
    if (auto fixed = onnx->fixed_shape()) {
      // A static graph takes exactly its exported shape: square letterboxed batches at that size.
      if ((*fixed)[0] != (*fixed)[1])
        throw ModelError(fmt::format("model={} has a fixed {}x{} input; val letterboxes to squares, so export it "
                                     "square (imgsz={}) or with dynamic=True",
                                     model_arg, (*fixed)[0], (*fixed)[1], std::max((*fixed)[0], (*fixed)[1])));
      if (s.was_set("imgsz") && o.imgsz != (*fixed)[0])
        log::warn("model={} is a static {}x{} graph: imgsz={} -> {}", model_arg, (*fixed)[0], (*fixed)[1], o.imgsz, (*fixed)[0]);
      o.imgsz = static_cast<int>((*fixed)[0]);
      if (o.rect) log::info("static ONNX input: using square batches (rect=False)");
      o.rect = false;
    }
    if (onnx->max_batch() > 0 && o.batch != onnx->max_batch()) {
      if (s.was_set("batch"))
        log::warn("model={} has a fixed batch of {}: batch={} -> {}", model_arg, onnx->max_batch(), s.str("batch"),
                  onnx->max_batch());
      o.batch = onnx->max_batch();
    }
  }
  const std::string split = given(s, "split") ? s.str("split") : "val";

  engine::RunDir rd = engine::make_run_dir(given(s, "project") ? s.str("project") : "",
                                           given(s, "name") ? s.str("name") : "", s.boolean("exist_ok"), "val");
  o.save_dir = rd.path;
  const bool plots = s.boolean("plots");
  o.confusion = plots;  // confusion_matrix(_normalized).png beside the results, as upstream's val
  o.plot_batches = plots;

  engine::Validator v(o);
  engine::ValResult vr;
  if (onnx) {
    std::printf("Loading %s for %s inference...\n", model_arg.c_str(), onnx->description().c_str());
    std::fflush(stdout);
    auto loader = v.make_loader(ds, split);
    engine::ForwardFn fwd = [&](const torch::Tensor& x) { return onnx->forward(x); };
    vr = v.run(fwd, *loader, static_cast<int>(ds.nc), ds.names);
  } else {
    model->fuse();
    model->eval();
    std::printf("%s\n", nn::summary_line(*model, o.imgsz).c_str());
    std::fflush(stdout);
    vr = v.run(model, ds, split);
  }
  if (plots && !vr.confusion.empty()) {
    const std::vector<std::string> names = single_cls ? std::vector<std::string>{"item"} : ds.names;
    try {
      engine::plots::plot_confusion_matrices(vr.confusion, names, rd.path);
      engine::plots::plot_curves(vr.metrics, names, rd.path);
    } catch (const std::exception& e) {
      log::warn("plots: could not write the confusion matrices to {}: {}", rd.path.string(), e.what());
    }
  }
  std::printf("Results saved to %s\n", rd.path.string().c_str());
  return 0;
}

}  // namespace yolocpp::cli
