// The detection validator (ultralytics 8.3.58 models/yolo/detect/val.py DetectionValidator): letterboxed rect batches
// -> forward -> NMS -> boxes mapped back to each original image -> matching at 10 IoU thresholds -> AP. Works with a
// DetectionModel or with any forward callable that returns Detect's decoded output, so exported backends (ONNX) reuse
// the same loop.
#pragma once
#include <torch/torch.h>

#include <array>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "yolocpp/data/dataset.hpp"
#include "yolocpp/data/loader/batch.hpp"
#include "yolocpp/data/loader/loader.hpp"
#include "yolocpp/loss/detection_loss.hpp"
#include "yolocpp/metrics/ap.hpp"
#include "yolocpp/nn/model.hpp"

namespace yolocpp::engine {

namespace fs = std::filesystem;

// float [B,3,H,W] in [0,1] on the validator's device -> decoded [B, 4+nc, N] (xywh input pixels, scores).
using ForwardFn = std::function<torch::Tensor(const torch::Tensor& img)>;

struct ValidatorOptions {
  int imgsz = 640;
  int batch = 16;
  double conf = 0.001;
  double iou = 0.7;
  int max_det = 300;
  bool single_cls = false;
  bool half = false;        // FP16 on CUDA only (CPU stays FP32 with a warning, as upstream)
  bool rect = true;         // false for fixed-shape exported backends
  int workers = 0;
  CacheMode cache = CacheMode::None;
  torch::Device device = torch::kCPU;
  bool print = true;        // print the table and speed line
  bool verbose = false;     // per-class rows (always printed by final validations: set it then)
  bool save_json = false;   // save_dir/predictions.json
  bool confusion = false;   // also fill ValResult::confusion (ConfusionMatrix; the trainer's plots)
  bool plot_batches = false;  // save_dir/val_batch{0,1,2}_labels.jpg and _pred.jpg (predictions with conf > 0.25)
  fs::path save_dir;
};

struct ValSpeed {
  double preprocess = 0, inference = 0, loss = 0, postprocess = 0;  // ms per image
};

struct ValResult {
  metrics::DetMetrics metrics;
  ValSpeed speed;
  std::optional<std::array<double, 3>> loss;  // box, cls, dfl averaged over batches (when a loss was given)
  int64_t images = 0, instances = 0;
  std::vector<std::string> table;             // the printed lines: header, all, per-class rows
  fs::path json;                              // predictions.json when saved
  // (nc+1)x(nc+1) confusion matrix (conf 0.25, IoU 0.45) when ValidatorOptions::confusion was set.
  std::vector<std::vector<double>> confusion;
};

class Validator {
 public:
  explicit Validator(ValidatorOptions opt = {});

  // Generic path: forward returns decoded predictions. nc and names describe the dataset's classes.
  ValResult run(const ForwardFn& forward, Loader& loader, int nc, const std::vector<std::string>& names);
  // Model path (the trainer's per-epoch validation with the EMA model): eval mode, raw maps -> decode, and
  // the val loss on the same raw maps when `loss` is given.
  ValResult run(nn::DetectionModel& model, Loader& loader, int nc, const std::vector<std::string>& names,
                const loss::DetectionLoss* loss = nullptr);
  // Standalone: builds the rect val loader of ds/split itself.
  ValResult run(nn::DetectionModel& model, const data::DatasetInfo& ds, const std::string& split);

  // The val loader this validator would use for ds/split (rect, batch, imgsz, cache from the options).
  std::unique_ptr<Loader> make_loader(const data::DatasetInfo& ds, const std::string& split) const;
  const ValidatorOptions& options() const { return opt_; }

 private:
  using RawForward = std::function<std::pair<torch::Tensor, std::vector<torch::Tensor>>(const torch::Tensor&)>;
  ValResult loop(const RawForward& forward, Loader& loader, int nc, const std::vector<std::string>& names,
                 const loss::DetectionLoss* loss);
  // val_batch<index>_labels.jpg / _pred.jpg; a failure is a warning (plots never cost a validation).
  void plot_batch(const Batch& b, const std::vector<torch::Tensor>& preds, const std::vector<std::string>& names,
                  int64_t index) const;

  ValidatorOptions opt_;
};

// COCO-style detections of one image: image_id from the file stem (an integer when the stem is all digits),
// category_id = class index, bbox [x, y, w, h] in original pixels rounded to 3 decimals, score to 5.
// pred: [n, 6] x1 y1 x2 y2 conf cls in original pixels. Appends to `out` (a JSON array).
void append_json_predictions(const std::string& im_file, const torch::Tensor& pred, nlohmann::json& out);

}  // namespace yolocpp::engine
