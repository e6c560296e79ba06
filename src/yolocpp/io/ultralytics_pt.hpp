// Import of Ultralytics `.pt` checkpoints (torch.save zip + pickle protocol 2) without Python:
// zip.hpp finds the records, pickle.hpp turns data.pkl into an inert value tree, and this file walks the
// pickled module tree (`_parameters`, `_buffers`, `_modules` of every nn.Module state) into a flat
// state_dict with Ultralytics' names, plus the metadata a trainer needs (names, yaml, optimizer...).
#pragma once
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "yolocpp/io/pickle.hpp"

namespace yolocpp::io {

struct OptimizerParamGroup {
  std::vector<int64_t> params;            // global parameter indices
  std::map<std::string, double> values;   // lr, momentum, weight_decay, initial_lr, dampening, ...
  std::map<std::string, bool> flags;      // nesterov, maximize, differentiable, ...
};

struct OptimizerState {
  std::vector<OptimizerParamGroup> param_groups;
  std::map<int64_t, std::map<std::string, torch::Tensor>> state;  // param index -> {"momentum_buffer": ...} (dtype as stored)
};

// The `yolocpp` key of a checkpoint yolocpp wrote (io/ultralytics_save.hpp): what exact resume needs.
struct YolocppExtras {
  std::string version, model_yaml, train_args_yaml, metrics_json;
  int64_t ema_updates = 0;
  std::vector<std::string> keys;                  // training-model weights (empty in a finished checkpoint)
  std::map<std::string, torch::Tensor> weights;
  std::string optimizer;                          // yolocpp's own optimizer state bytes
};

struct UltralyticsCheckpoint {
  std::string path;
  std::vector<std::string> top_level_keys;            // in file order
  bool from_ema = false;                              // the network came from `ema` (mid-training last.pt)
  std::vector<std::string> keys;                      // state_dict order
  std::map<std::string, torch::Tensor> state;         // floating -> float32, num_batches_tracked int64
  std::map<std::string, torch::ScalarType> stored_dtype;  // dtype in the file (Half for released weights)
  YAML::Node yaml;                                    // model description dict (nc, scales, backbone, head, scale, ...)
  std::map<int, std::string> names;
  int nc = 0;
  std::vector<double> stride;                         // e.g. {8, 16, 32}
  YAML::Node model_args;                              // model.args (dict or IterableSimpleNamespace state)
  YAML::Node train_args, train_metrics, train_results;
  int64_t epoch = -1;
  std::optional<double> best_fitness;
  std::optional<int64_t> updates;
  std::optional<OptimizerState> optimizer;
  std::string date, version;
  std::optional<YolocppExtras> yolocpp;               // present when yolocpp wrote the file
};

// Reads a torch.save zip archive and returns the unpickled root object. Tensors are views of storages
// read from `<root>/data/<key>`. Throws IoError/ModelError naming the file.
PValuePtr load_torch_pickle(const std::string& path);

UltralyticsCheckpoint load_ultralytics_pt(const std::string& path);

// Converts a plain pickled value (dicts, lists, scalars, small tensors) into YAML for settings/metadata.
YAML::Node to_yaml(const PValue& v);

}  // namespace yolocpp::io
