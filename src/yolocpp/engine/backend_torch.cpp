#include "yolocpp/engine/backend_torch.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include <fmt/format.h>

#include "yolocpp/io/model_io.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::engine {

torch::Device parse_predict_device(const std::string& device) {
  std::string d = device;
  for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (d.empty() || d == "cpu") return torch::kCPU;
  std::string idx = d.rfind("cuda", 0) == 0 ? (d.size() > 5 ? d.substr(5) : "0") : d;
  if (idx.find(',') != std::string::npos) {
    log::warn("predict runs on one device; using the first of device={}", device);
    idx = idx.substr(0, idx.find(','));
  }
  if (idx.empty() || idx.find_first_not_of("0123456789") != std::string::npos)
    throw ConfigError("device=" + device + " is not a device: use device=cpu, device=0 or device=cuda:0");
  if (!torch::cuda::is_available())
    throw ConfigError("device=" + device + " asks for CUDA but no CUDA device is available; use device=cpu");
  const int i = std::stoi(idx);
  if (i >= static_cast<int>(torch::cuda::device_count()))
    throw ConfigError(fmt::format("device={} but only {} CUDA device(s) are present", device, torch::cuda::device_count()));
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i));
}

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
  device_ = parse_predict_device(device);
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
