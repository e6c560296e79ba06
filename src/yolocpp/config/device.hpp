// The `device` setting as a list of CUDA indices: shared by `yolocpp train` (one rank per listed GPU) and
// `yolocpp cloud train` (which checks device= against the instance's GPUs before launching anything).
#pragma once
#include <string>
#include <vector>

namespace yolocpp::config {

// device=0,1,2,3 / "[0, 1]" / "cuda:0,cuda:1" -> {0, 1, ...}; "cuda" -> {0}; "cpu", "mps", "", None -> {}.
// A token that is not an index, or an index listed twice -> ConfigError naming the setting.
std::vector<int> parse_device_list(const std::string& device);

}  // namespace yolocpp::config
