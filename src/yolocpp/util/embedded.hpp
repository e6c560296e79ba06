#pragma once
#include <map>
#include <string>

namespace yolocpp::embedded {
// Files of cfg/ compiled into the binary, keyed by their path under cfg/ ("default.yaml", "models/yolo11.yaml").
const std::map<std::string, std::string>& files();
}  // namespace yolocpp::embedded
