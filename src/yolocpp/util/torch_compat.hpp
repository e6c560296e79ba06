// The few LibTorch API differences between Debian's 1.13 and PyTorch 2.x live here, and only here.
#pragma once
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <string>

#ifndef TORCH_VERSION_MAJOR
#include <torch/version.h>
#endif

// PyTorch 2.4 moved autocast's C++ switches to device-type arguments (set_autocast_enabled(kCPU, on),
// set_autocast_dtype(kCUDA, dt)) and deprecated the per-device names 1.13 has (set_enabled,
// set_cpu_enabled, set_autocast_gpu_dtype, set_autocast_cpu_dtype).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define YOLOCPP_AUTOCAST_BY_DEVICE_TYPE 1
#else
#define YOLOCPP_AUTOCAST_BY_DEVICE_TYPE 0
#endif

namespace yolocpp::compat {

constexpr bool kTorch2 = TORCH_VERSION_MAJOR >= 2;

inline std::string torch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

// Autocast for CPU or CUDA (the only two yolocpp trains on). Thread-local, as in PyTorch.
inline bool autocast_enabled(c10::DeviceType dev) {
#if YOLOCPP_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(dev);
#else
  return dev == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

inline void set_autocast_enabled(c10::DeviceType dev, bool on) {
#if YOLOCPP_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(dev, on);
#else
  if (dev == c10::DeviceType::CUDA) at::autocast::set_enabled(on);
  else at::autocast::set_cpu_enabled(on);
#endif
}

inline at::ScalarType autocast_dtype(c10::DeviceType dev) {
#if YOLOCPP_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(dev);
#else
  return dev == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

inline void set_autocast_dtype(c10::DeviceType dev, at::ScalarType dtype) {
#if YOLOCPP_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_dtype(dev, dtype);
#else
  if (dev == c10::DeviceType::CUDA) at::autocast::set_autocast_gpu_dtype(dtype);
  else at::autocast::set_autocast_cpu_dtype(dtype);
#endif
}

// Scoped autocast, what `with torch.autocast(device_type, dtype)` does: on entry enable autocast in `dtype`
// for `dev`; on exit restore the previous switch and dtype, and drop the cast-weight cache when the
// outermost scope closes (the cache holds low-precision copies of the weights, stale after the next step).
// enabled=false makes it a no-op, so callers need no second code path.
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType dev, at::ScalarType dtype, bool enabled = true) : dev_(dev), active_(enabled) {
    if (!active_) return;
    prev_on_ = autocast_enabled(dev_);
    prev_dtype_ = autocast_dtype(dev_);
    set_autocast_enabled(dev_, true);
    set_autocast_dtype(dev_, dtype);
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (!active_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set_autocast_enabled(dev_, prev_on_);
    set_autocast_dtype(dev_, prev_dtype_);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType dev_;
  bool active_;
  bool prev_on_ = false;
  at::ScalarType prev_dtype_ = at::kFloat;
};

}  // namespace yolocpp::compat
