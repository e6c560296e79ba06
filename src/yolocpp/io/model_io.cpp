#include "yolocpp/io/model_io.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "yolocpp/util/error.hpp"
#include "yolocpp/util/limits.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::io {

namespace {

// named_parameters/named_buffers list a module's own entries before its children's, so interleaving
// per module reproduces PyTorch's state_dict order (own params, own buffers, then children).
void visit(const torch::nn::Module& m, const std::string& prefix, std::vector<std::pair<std::string, torch::Tensor>>& out) {
  for (const auto& p : m.named_parameters(/*recurse=*/false)) out.emplace_back(prefix + p.key(), p.value());
  for (const auto& b : m.named_buffers(/*recurse=*/false)) out.emplace_back(prefix + b.key(), b.value());
  for (const auto& c : m.named_children()) visit(*c.value(), prefix + c.key() + ".", out);
}

std::vector<std::pair<std::string, torch::Tensor>> entries(const torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  visit(m, "", out);
  return out;
}

}  // namespace

std::vector<std::string> state_keys(const torch::nn::Module& model) {
  std::vector<std::string> k;
  for (auto& [n, t] : entries(model)) k.push_back(n);
  return k;
}

std::map<std::string, torch::Tensor> state_dict(const torch::nn::Module& model) {
  std::map<std::string, torch::Tensor> m;
  for (auto& [n, t] : entries(model)) m[n] = t.detach().clone();
  return m;
}

int transfer_weights(torch::nn::Module& model, const std::map<std::string, torch::Tensor>& state) {
  torch::NoGradGuard no_grad;
  int n = 0;
  for (auto& [name, t] : entries(model)) {
    auto it = state.find(name);
    if (it == state.end() || it->second.sizes() != t.sizes()) continue;
    t.copy_(it->second);
    ++n;
  }
  return n;
}

Checkpoint checkpoint_from_model(const nn::DetectionModelImpl& model) {
  Checkpoint ck;
  YAML::Emitter em;
  em << model.yaml();
  ck.model_yaml = em.c_str();
  for (auto& [n, t] : entries(model)) {
    ck.keys.push_back(n);
    ck.weights[n] = t.detach().clone();
  }
  for (size_t i = 0; i < model.names.size(); ++i) ck.names[static_cast<int>(i)] = model.names[i];
  return ck;
}

nn::DetectionModel load_model(const std::string& path, int nc_override) {
  Checkpoint ck = load_checkpoint(path);
  if (ck.model_yaml.empty())
    throw ModelError(path + ": the checkpoint has no model description (a bare state_dict?); build the model from a "
                            "yaml (model=yolo11n.yaml) and load the weights with pretrained=" + path);
  YAML::Node yaml;
  try {
    yaml = YAML::Load(ck.model_yaml);
  } catch (const YAML::Exception& e) {
    throw ModelError(path + ": the model description stored in the checkpoint is not valid YAML (" + e.what() + ")");
  }
  int64_t nc64 = static_cast<int64_t>(ck.names.size());
  try {
    if (yaml["nc"]) nc64 = yaml["nc"].as<int64_t>();
  } catch (const YAML::Exception&) {
    nc64 = -1;
  }
  // Checked before the model is built: its head is sized by nc.
  if (nc64 < 1 || nc64 > util::kMaxClasses)
    throw ModelError(fmt::format("{}: the checkpoint's model description has nc: {}, outside 1..{}; the file is damaged "
                                 "or hostile",
                                 path, yaml["nc"] && yaml["nc"].IsScalar() ? yaml["nc"].Scalar() : std::to_string(nc64),
                                 util::kMaxClasses));
  const int ck_nc = static_cast<int>(nc64);
  const bool new_head = nc_override > 0 && nc_override != ck_nc;
  nn::DetectionModel model(yaml, new_head ? nc_override : ck_nc);
  const auto& w = ck.best_weights();
  if (new_head) {
    int n = transfer_weights(*model, w);
    log::info("Transferred {}/{} items from pretrained weights", n, state_keys(*model).size());
  } else {
    for (auto& [name, t] : entries(*model)) {
      auto it = w.find(name);
      if (it == w.end())
        throw ModelError(fmt::format("{}: weight '{}' is missing; the checkpoint does not match its own model "
                                     "description (damaged or hand-edited file)",
                                     path, name));
      if (it->second.sizes() != t.sizes())
        throw ModelError(fmt::format("{}: weight '{}' has shape {} but the model needs {}; the checkpoint does not match "
                                     "its own model description",
                                     path, name, fmt::join(it->second.sizes(), "x"), fmt::join(t.sizes(), "x")));
    }
    transfer_weights(*model, w);
    model->names.assign(static_cast<size_t>(ck_nc), std::string());
    for (int i = 0; i < ck_nc; ++i) {
      auto it = ck.names.find(i);
      model->names[i] = it != ck.names.end() ? it->second : std::to_string(i);
    }
  }
  model->eval();
  return model;
}

}  // namespace yolocpp::io
