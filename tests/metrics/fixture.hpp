// Loading the Ultralytics metrics/NMS fixtures into tensors (test-only).
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fstream>
#include <string>
#include <vector>

#include "common/test_util.hpp"

namespace yolocpp::test {

inline nlohmann::json load_json(const std::string& name) {
  std::ifstream f(repo_fixtures_dir() / name);
  if (!f) throw std::runtime_error("cannot open fixture " + (repo_fixtures_dir() / name).string());
  return nlohmann::json::parse(f);
}

// A JSON list of lists of numbers -> float32 [rows, cols] (cols given so empty lists keep their width).
inline torch::Tensor rows_f32(const nlohmann::json& j, int64_t cols) {
  std::vector<float> v;
  for (const auto& r : j)
    for (const auto& x : r) v.push_back(x.get<float>());
  return torch::tensor(v, torch::kFloat32).view({int64_t(j.size()), cols}).clone();
}

inline torch::Tensor vec_f32(const nlohmann::json& j) {
  std::vector<float> v;
  for (const auto& x : j) v.push_back(x.get<float>());
  return torch::tensor(v, torch::kFloat32).view({int64_t(j.size())}).clone();
}

}  // namespace yolocpp::test
