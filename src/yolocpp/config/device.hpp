// The `device` setting, parsed once for every mode: as a list of CUDA indices (`yolocpp train` launches one rank
// per listed GPU; `yolocpp cloud train` checks device= against the instance's GPUs before launching anything),
// and as the one device a process runs on (train, val, predict, the Detector). Pure: the caller says how many
// CUDA devices it sees (config/torch_device.hpp asks LibTorch), so every branch is testable without a GPU.
#pragma once
#include <string>
#include <vector>

namespace yolocpp::config {

// device=0,1,2,3 / "[0, 1]" / "cuda:0,cuda:1" -> {0, 1, ...}; "cuda" -> {0}; "cpu", "mps", "", None -> {}.
// A token that is not an index, or an index listed twice -> ConfigError naming the setting.
std::vector<int> parse_device_list(const std::string& device);

struct DeviceChoice {
  bool cuda = false;
  int index = 0;  // CUDA index when cuda
};

// The one device of a process, as Ultralytics' select_device reads device=: "" / None -> the first CUDA device
// when there is one, else cpu; "cpu"; "0", "cuda", "cuda:1"; a list ("0,1") -> its first entry, with a warning
// that `mode` ("val", "predict", ...) runs on one device. `cuda_count`: CUDA devices this process sees (0 on a
// CPU build). ConfigError naming the setting for mps, a token that is not a device, CUDA asked for but absent,
// or an index past the last device.
DeviceChoice parse_device(const std::string& device, int cuda_count, const std::string& mode);

}  // namespace yolocpp::config
