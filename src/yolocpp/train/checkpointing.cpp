#include "yolocpp/train/checkpointing.hpp"

#include "yolocpp/io/model_io.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::engine {

io::Checkpoint make_train_checkpoint(nn::DetectionModel& model, ModelEMA& ema, const TrainCheckpoint& t) {
  io::Checkpoint ck = io::checkpoint_from_model(*model);
  // The EMA carries the class names the trainer attached; the model copy may still have defaults.
  ck.names.clear();
  for (size_t i = 0; i < ema.model()->names.size(); ++i) ck.names[static_cast<int>(i)] = ema.model()->names[i];
  for (auto& kv : io::state_dict(*ema.model())) ck.ema[kv.first] = kv.second.to(torch::kCPU);
  for (auto& kv : ck.weights) kv.second = kv.second.to(torch::kCPU);
  ck.ema_updates = ema.updates();
  ck.optimizer = t.optimizer;
  ck.ultralytics_optimizer = t.torch_optimizer;
  ck.epoch = t.epoch;
  ck.best_fitness = t.best_fitness;
  ck.train_args_yaml = t.train_args_yaml;
  ck.metrics_json = t.metrics_json.empty() ? "{}" : t.metrics_json;
  return ck;
}

void strip_checkpoint(const fs::path& path) {
  io::Checkpoint ck = io::load_checkpoint(path.string());
  if (!ck.ema.empty()) ck.weights = ck.ema;
  ck.ema.clear();
  ck.ema_updates = 0;
  ck.optimizer.clear();
  ck.ultralytics_optimizer.reset();
  ck.best_fitness.reset();
  ck.epoch = -1;
  ck.date.clear();  // refreshed on save
  ck.version.clear();
  io::save_checkpoint(ck, path.string());
}

fs::path find_latest_last(const fs::path& root) {
  fs::path best;
  fs::file_time_type best_t{};
  std::error_code ec;
  if (fs::is_directory(root, ec)) {
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      const auto& p = it->path();
      if (p.filename() != "last.pt" || !it->is_regular_file()) continue;
      auto t = fs::last_write_time(p, ec);
      if (best.empty() || t > best_t) best = p, best_t = t;
    }
  }
  if (best.empty())
    throw ConfigError("resume=True found no weights/last.pt under '" + root.string() +
                      "'; pass resume=path/to/last.pt or start a new run without resume");
  return best;
}

}  // namespace yolocpp::engine
