// Shared helpers of the nn tests: fixture weights into a model by Ultralytics key name.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>

#include "common/safetensors.hpp"
#include "common/test_util.hpp"
#include "yolocpp/nn/model.hpp"

namespace yolocpp::test {

// Every parameter and buffer of the model by its full name (the Ultralytics state-dict key).
inline std::map<std::string, torch::Tensor> state_dict(const torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m.named_parameters(true)) out[p.key()] = p.value();
  for (const auto& b : m.named_buffers(true)) out[b.key()] = b.value();
  return out;
}

// Copies tensors by name (F16 -> F32 upcast); fails the test on any missing/extra name or shape mismatch.
inline void load_state(nn::DetectionModelImpl& model, const std::map<std::string, torch::Tensor>& src) {
  torch::NoGradGuard no_grad;
  auto dst = state_dict(model);
  ASSERT_EQ(dst.size(), src.size());
  for (auto& [k, t] : dst) {
    auto it = src.find(k);
    ASSERT_NE(it, src.end()) << "missing in source: " << k;
    ASSERT_EQ(t.sizes(), it->second.sizes()) << k;
    t.copy_(it->second.to(t.scalar_type()));
  }
}

inline std::map<std::string, torch::Tensor>& fixture_state() {
  static auto s = load_safetensors((repo_fixtures_dir() / "yolo11n_state.safetensors").string());
  return s;
}

inline std::map<std::string, torch::Tensor>& fixture_forward() {
  static auto s = load_safetensors((repo_fixtures_dir() / "yolo11n_forward.safetensors").string());
  return s;
}

inline double max_abs(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

}  // namespace yolocpp::test
