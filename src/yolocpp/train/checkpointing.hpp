// Training checkpoints (ultralytics 8.3.58 engine/trainer.py BaseTrainer.save_model) in Ultralytics' layout with
// yolocpp's extras (io/checkpoint.hpp): last.pt every epoch, best.pt on improvement, and the end-of-training strip that
// leaves only the final (EMA) weights.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <optional>
#include <string>

#include "yolocpp/train/ema.hpp"
#include "yolocpp/io/checkpoint.hpp"
#include "yolocpp/nn/model.hpp"

namespace yolocpp::engine {

namespace fs = std::filesystem;

struct TrainCheckpoint {
  int64_t epoch = -1;                     // 0-based epoch just finished
  std::optional<double> best_fitness;
  std::string optimizer;                  // save_optimizer_state bytes
  std::string train_args_yaml;            // args.yaml text incl. save_dir
  std::string metrics_json;               // last validation (train_metrics), JSON object
  std::optional<io::OptimizerState> torch_optimizer;  // export_torch_optimizer_state, for Ultralytics' resume
};

// The model's float32 weights (for exact resume) plus the EMA weights and update count.
io::Checkpoint make_train_checkpoint(nn::DetectionModel& model, ModelEMA& ema, const TrainCheckpoint& t);

// End of training: the EMA weights become the model weights; optimizer, EMA and best_fitness are dropped and
// epoch becomes -1 (a finished run). Atomic rewrite of `path`.
void strip_checkpoint(const fs::path& path);

// The newest `last.pt` (by modification time) under `root` (recursively), for resume=True.
// Throws ConfigError naming the folder when there is none.
fs::path find_latest_last(const fs::path& root);

}  // namespace yolocpp::engine
