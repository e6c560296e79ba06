// The detection trainer (ultralytics 8.3.58 engine/trainer.py BaseTrainer): dataset -> run dir -> model -> freeze ->
// loaders -> optimizer -> epochs of (warmup / schedule, forward, loss, backward, accumulate, clip, step, EMA) ->
// per-epoch validation of the EMA, results.csv, last.pt / best.pt, early stopping -> strip + final validation.
// `yolocpp train` is a thin wrapper around Trainer(settings).train().
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "yolocpp/config/settings.hpp"
#include "yolocpp/config/torch_device.hpp"
#include "yolocpp/metrics/ap.hpp"
#include "yolocpp/nn/model.hpp"

namespace yolocpp::engine {

namespace fs = std::filesystem;

struct TrainResult {
  fs::path save_dir, last, best;
  int start_epoch = 0;       // 0-based epoch training (re)started at
  int epochs_done = 0;       // 1-based number of the last epoch completed
  std::optional<double> best_fitness;
  metrics::DetMetrics final_metrics;  // the final validation of best.pt (empty when there was no val split)
  std::string stop_reason;   // "", "early stopping", "time limit"
};

// The training process's device: config::parse_device, the one device parser of every mode.
inline torch::Device select_device(const std::string& device) { return config::torch_device(device, "training"); }

// Freezes DFL always plus "model.<k>." for every k in `layers`; returns the names frozen (in order).
std::vector<std::string> freeze_parameters(torch::nn::Module& model, const std::vector<int64_t>& layers);

// The `freeze` setting: None -> {}, N -> 0..N-1, [a, b] -> {a, b}.
std::vector<int64_t> freeze_layers(const config::Settings& s);

// model=yolo11n.pt: a file on disk, else the weights cache / a download (io::resolve_weights).
std::string resolve_weights_path(const std::string& name);

class Trainer {
 public:
  explicit Trainer(config::Settings s);
  TrainResult train();

 private:
  config::Settings args_;
};

}  // namespace yolocpp::engine
