// Writes checkpoints in Ultralytics' own layout (ultralytics 8.3.58 engine/trainer.py BaseTrainer.save_model), so
// `YOLO('best.pt')`, `yolo val` and `yolo train resume=True` in Python load what yolocpp trained.
//
// The network is pickled as the Ultralytics objects it stands for (ultralytics.nn.tasks.DetectionModel over
// torch.nn Sequential/ModuleList/Conv2d/BatchNorm2d/... and ultralytics.nn.modules.* blocks, each with the
// nn.Module attribute dict torch 1.13 keeps), built from the checkpoint's own model yaml. Weights are stored in
// float32 so both tools compute with identical numbers. Next to Ultralytics' keys, one extra key `yolocpp`
// holds what exact resume needs and Ultralytics ignores: the training model's float32 weights, yolocpp's own
// optimizer state, the full settings and the model yaml text.
#pragma once
#include <string>

#include "yolocpp/io/checkpoint.hpp"

namespace yolocpp::io {

// torch.save bytes for `ck`. A training checkpoint (epoch >= 0) has Ultralytics' last.pt keys (model None,
// ema = the EMA network, optimizer); a finished one (epoch -1) its stripped best.pt keys (model = network).
std::string ultralytics_checkpoint_bytes(const Checkpoint& ck);

// Ultralytics' training settings from yolocpp's settings text: the yolocpp-only keys left out. Keys Ultralytics
// has and yolocpp lacks are left out too: Ultralytics fills them from its own defaults when it loads a
// checkpoint, and one version's extra keys (8.4's rle, cutmix, ...; 8.3's save_hybrid) fail the other's check.
std::string ultralytics_train_args_yaml(const std::string& yolocpp_args_yaml);

}  // namespace yolocpp::io
