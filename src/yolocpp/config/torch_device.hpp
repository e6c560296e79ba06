// config::parse_device for code that runs on LibTorch: asks LibTorch how many CUDA devices there are. Header
// only, so the config library itself stays free of LibTorch (include it from TORCH modules only).
#pragma once
#include <torch/torch.h>

#include <string>

#include "yolocpp/config/device.hpp"

namespace yolocpp::config {

inline torch::Device torch_device(const std::string& device, const std::string& mode) {
  const int n = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  const DeviceChoice d = parse_device(device, n, mode);
  return d.cuda ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(d.index)) : torch::Device(torch::kCPU);
}

}  // namespace yolocpp::config
