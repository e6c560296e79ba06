#include "yolocpp/config/device.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

#include <fmt/format.h>

#include "yolocpp/util/error.hpp"

namespace yolocpp::config {

std::vector<int> parse_device_list(const std::string& device) {
  std::string s;
  for (char c : device)
    if (!std::isspace(static_cast<unsigned char>(c)) && c != '[' && c != ']' && c != '\'' && c != '"')
      s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s.empty() || s == "cpu" || s == "mps" || s == "none") return {};
  if (s == "cuda") return {0};
  std::vector<int> ids;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    if (tok.rfind("cuda:", 0) == 0) tok = tok.substr(5);
    // At most 6 digits: an index std::stoi can hold (no GPU machine has more).
    if (tok.empty() || tok.size() > 6 ||
        !std::all_of(tok.begin(), tok.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      throw ConfigError(fmt::format("device='{}': '{}' is not a CUDA device index; use device=0 or device=0,1,2,3 "
                                    "or device=cpu", device, tok));
    const int id = std::stoi(tok);
    if (std::find(ids.begin(), ids.end(), id) != ids.end())
      throw ConfigError(fmt::format("device='{}' names device {} twice; list each GPU once", device, id));
    ids.push_back(id);
  }
  return ids;
}

}  // namespace yolocpp::config
