// Glue between checkpoints and nn::DetectionModel: build a model from a checkpoint's own yaml and load its
// weights by Ultralytics name, or move weights across models whose head differs (nc changes).
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "yolocpp/io/checkpoint.hpp"
#include "yolocpp/nn/model.hpp"

namespace yolocpp::io {

// Builds the model described by the checkpoint at `path` (either format) and loads its weights (EMA
// weights when the checkpoint has them). With nc_override > 0 and different from the checkpoint's nc,
// the head is rebuilt for nc_override and every tensor whose name and shape still match is transferred
// (the class-logit convs start fresh). The model is returned in eval mode, names from the checkpoint.
// Throws ModelError naming the file when the weights do not fit the checkpoint's own yaml.
nn::DetectionModel load_model(const std::string& path, int nc_override = -1);

// Copies every tensor of `state` whose name and shape match a parameter or buffer of `model` (dtype is
// converted, e.g. fp16 -> fp32) and returns how many were copied. Unmatched entries are left untouched.
int transfer_weights(torch::nn::Module& model, const std::map<std::string, torch::Tensor>& state);

// Parameters then buffers of each module in registration order (the state_dict order), detached copies.
std::vector<std::string> state_keys(const torch::nn::Module& model);
std::map<std::string, torch::Tensor> state_dict(const torch::nn::Module& model);

// A checkpoint holding `model`'s yaml, names and weights (the trainer adds EMA, optimizer, epoch...).
Checkpoint checkpoint_from_model(const nn::DetectionModelImpl& model);

}  // namespace yolocpp::io
