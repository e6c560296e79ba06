// The few LibTorch API differences between Debian's 1.13 and PyTorch 2.x live here, and only here.
#pragma once
#include <torch/torch.h>

#include <string>

#ifndef TORCH_VERSION_MAJOR
#include <torch/version.h>
#endif

namespace yolocpp::compat {

constexpr bool kTorch2 = TORCH_VERSION_MAJOR >= 2;

inline std::string torch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

}  // namespace yolocpp::compat
