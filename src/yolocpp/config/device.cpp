#include "yolocpp/config/device.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

#include <fmt/format.h>

#include "yolocpp/util/error.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::config {

namespace {

// Lower case without blanks, brackets or quotes: "[0, 1]", "'cuda:0'" and "CUDA:0" read alike.
std::string normalised(const std::string& device) {
  std::string s;
  for (char c : device)
    if (!std::isspace(static_cast<unsigned char>(c)) && c != '[' && c != ']' && c != '\'' && c != '"')
      s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::vector<int> parse_device_list(const std::string& device) {
  const std::string s = normalised(device);
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

DeviceChoice parse_device(const std::string& device, int cuda_count, const std::string& mode) {
  const std::string s = normalised(device);
  if (s.empty() || s == "none") return cuda_count > 0 ? DeviceChoice{true, 0} : DeviceChoice{};
  if (s == "cpu") return {};
  if (s == "mps") throw ConfigError("device=mps is not supported by this build; use device=cpu or a CUDA index");
  std::vector<int> ids;
  try {
    ids = parse_device_list(s);
  } catch (const ConfigError&) {
    if (s.find(',') != std::string::npos) throw;  // a list: its own message names the entry at fault
    throw ConfigError("device=" + device + " is not a device: use device=cpu, device=0 or device=cuda:0");
  }
  if (ids.size() > 1) log::warn("{} runs on one device; using the first of device={}", mode, device);
  if (cuda_count <= 0) throw ConfigError("device=" + device + " requested but CUDA is not available; use device=cpu");
  if (ids[0] >= cuda_count)
    throw ConfigError(fmt::format("device={} requested but only {} CUDA device(s) are present", device, cuda_count));
  return {true, ids[0]};
}

}  // namespace yolocpp::config
