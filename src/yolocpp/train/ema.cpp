#include "yolocpp/train/ema.hpp"

#include <cmath>
#include <map>

#include "yolocpp/util/error.hpp"

namespace yolocpp::engine {

std::vector<std::pair<std::string, torch::Tensor>> state_entries(torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value());
  for (auto& b : m.named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

ModelEMA::ModelEMA(nn::DetectionModel& model, double decay, double tau, int64_t updates)
    : decay_(decay), tau_(tau), updates_(updates) {
  ema_ = nn::DetectionModel(model->yaml(), model->nc());
  ema_->names = model->names;
  torch::Device dev = model->parameters().front().device();
  ema_->to(dev);
  torch::NoGradGuard ng;
  std::map<std::string, torch::Tensor> src;
  for (auto& e : state_entries(*model)) src[e.first] = e.second;
  for (auto& e : state_entries(*ema_)) {
    auto it = src.find(e.first);
    if (it == src.end() || it->second.sizes() != e.second.sizes())
      throw ModelError("EMA copy: tensor '" + e.first + "' does not match the model");
    e.second.copy_(it->second);
    if (e.second.is_floating_point()) ema_tensors_.push_back(e);
  }
  for (auto& p : ema_->parameters()) p.set_requires_grad(false);
  ema_->eval();
}

double ModelEMA::decay_at(int64_t updates, double decay, double tau) {
  return decay * (1.0 - std::exp(-static_cast<double>(updates) / tau));
}

void ModelEMA::update(nn::DetectionModel& model) {
  ++updates_;
  const double d = decay_at(updates_, decay_, tau_);
  torch::NoGradGuard ng;
  std::map<std::string, torch::Tensor> src;
  for (auto& e : state_entries(*model)) src.emplace(e.first, e.second);
  for (auto& e : ema_tensors_) {
    const torch::Tensor& m = src.at(e.first);
    e.second.mul_(d).add_(m.detach().to(e.second.dtype()), 1.0 - d);
  }
}

}  // namespace yolocpp::engine
