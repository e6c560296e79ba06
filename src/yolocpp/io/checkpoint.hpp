// yolocpp checkpoints (last.pt / best.pt written by our trainer) and one loader for every format.
//
// save_checkpoint writes Ultralytics' own layout (io/ultralytics_save.hpp) so Python tools load our weights;
// the yolocpp-only state rides in an extra `yolocpp` key. load_checkpoint reads that, Ultralytics' own files,
// and the native format of yolocpp <= 0.x below (still written by save_native_checkpoint, for tests).
//
// Native file layout (a ZIP archive, so the same CRC-checked reader serves both formats; no pickle):
//   yolocpp_ckpt/header.json      {"format": "yolocpp-checkpoint", "format_version": 1, "yolocpp_version",
//                                  "date", "epoch", "best_fitness" (null when unset), "names" {"0": "..."},
//                                  "ema_updates", "model_yaml" (text), "train_args_yaml" (text),
//                                  "metrics" (JSON value), "tensors": [{"group": "model"|"ema", "name",
//                                  "dtype": "float32"|"float16"|"int64"|..., "shape": [...], "record"}],
//                                  "optimizer_record" (null or entry name)}
//   yolocpp_ckpt/tensors/<i>      raw little-endian, C-contiguous bytes of tensor i (64-byte aligned)
//   yolocpp_ckpt/optimizer.bin    opaque optimizer state (torch::serialize::OutputArchive bytes)
// Tensor order in "tensors" is the state_dict order. The archive is written through util::AtomicFile.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "yolocpp/io/ultralytics_pt.hpp"

namespace yolocpp::io {

struct Checkpoint {
  std::string format = "yolocpp";                       // where it was read from: "yolocpp" or "ultralytics"
  std::string model_yaml;                               // YAML text of the model description dict
  std::vector<std::string> keys;                        // state_dict order of `weights`
  std::map<std::string, torch::Tensor> weights;         // model weights (float32; int64 num_batches_tracked)
  std::map<std::string, torch::Tensor> ema;             // EMA weights, empty when none
  int64_t ema_updates = 0;
  std::string optimizer;                                // opaque bytes; empty when none
  std::optional<OptimizerState> ultralytics_optimizer;  // SGD/Adam state_dict in torch's layout (written and read)
  int64_t epoch = -1;                                   // last finished epoch (0-based); -1 = final weights
  std::optional<double> best_fitness;
  std::map<int, std::string> names;
  std::string train_args_yaml;                          // settings of the run that wrote it
  std::string metrics_json;                             // last validation metrics (JSON object text)
  std::string version;                                  // yolocpp version ("ultralytics X" when imported)
  std::string date;                                     // ISO-8601

  // EMA weights when present (what inference should use), else the model weights.
  const std::map<std::string, torch::Tensor>& best_weights() const { return ema.empty() ? weights : ema; }
};

// Writes atomically (temporary file + rename), Ultralytics' layout. Fills `date`/`version` when empty.
void save_checkpoint(const Checkpoint& ck, const std::string& path);
// The former native zip+JSON format (kept so old files stay readable and tested).
void save_native_checkpoint(const Checkpoint& ck, const std::string& path);

// Detects the format (ours or an Ultralytics torch.save zip) and returns one struct. Throws ModelError
// (or IoError for damaged archives) naming the file.
Checkpoint load_checkpoint(const std::string& path);

Checkpoint from_ultralytics(UltralyticsCheckpoint&& u);

// True when the file is our native format (cheap: reads the archive directory only).
bool is_native_checkpoint(const std::string& path);

}  // namespace yolocpp::io
