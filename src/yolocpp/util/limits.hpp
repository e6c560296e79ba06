// Bounds on counts that come from files (checkpoints, ONNX metadata, dataset yamls), checked before anything
// is allocated from them. Generous next to real data: the largest detection label sets have ~1,200 classes.
#pragma once
#include <cstddef>

namespace yolocpp::util {

constexpr int kMaxClasses = 100000;           // nc, names keys
constexpr size_t kMaxExpandedValues = 100000;  // values a pickled config (train_args, yaml) may expand to

}  // namespace yolocpp::util
