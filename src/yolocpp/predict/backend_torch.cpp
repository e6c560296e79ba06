#include "yolocpp/predict/backend_torch.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include <fmt/format.h>

#include "yolocpp/config/torch_device.hpp"
#include "yolocpp/io/model_io.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::engine {

TorchBackend::TorchBackend(const std::string& path, const std::string& device, bool half) {
  if (!std::filesystem::is_regular_file(path))
    throw ModelError("model file '" + path + "' does not exist; pass the path of a .pt checkpoint (or an exported .onnx)");
  model_ = io::load_model(path);
  prepare(device, half);
}

TorchBackend::TorchBackend(nn::DetectionModel model, const std::string& device, bool half) : model_(std::move(model)) {
  if (!model_) throw ModelError("TorchBackend: no model");
  prepare(device, half);
}

void TorchBackend::prepare(const std::string& device, bool half) {
  device_ = config::torch_device(device, "predict");
  half_ = half && device_.is_cuda();
  if (half && !half_) log::warn("half=True needs a CUDA device; running FP32 on the CPU");
  torch::NoGradGuard ng;
  model_->to(torch::kFloat32);
  model_->fuse();
  model_->eval();
  model_->to(device_, half_ ? torch::kHalf : torch::kFloat32);
  names_ = model_->names;
  if (names_.size() != static_cast<size_t>(model_->nc())) {
    names_.clear();
    for (int c = 0; c < model_->nc(); ++c) names_.push_back(std::to_string(c));
  }
  auto s = model_->stride();
  stride_ = s.defined() && s.numel() ? std::max(32, static_cast<int>(s.max().item<float>())) : 32;
}

torch::Tensor TorchBackend::forward(const torch::Tensor& x) {
  torch::NoGradGuard ng;
  auto y = model_->forward(x.to(device_, half_ ? torch::kHalf : torch::kFloat32));
  return y.to(torch::kCPU, torch::kFloat32).contiguous();
}

std::string TorchBackend::description() const {
  return fmt::format("LibTorch ({}, {})", device_.str(), half_ ? "fp16" : "fp32");
}

}  // namespace yolocpp::engine
