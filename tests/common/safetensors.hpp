// Reads the fixture .safetensors files (8-byte LE header length, JSON header, raw LE data) into tensors.
// Test-only: the fixtures use F32, F16, I64, U8 and BOOL.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

namespace yolocpp::test {

inline std::map<std::string, torch::Tensor> load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string buf = ss.str();
  if (buf.size() < 8) throw std::runtime_error(path + ": too short for safetensors");
  uint64_t n = 0;
  std::memcpy(&n, buf.data(), 8);
  if (8 + n > buf.size()) throw std::runtime_error(path + ": header length past end of file");
  auto header = nlohmann::json::parse(buf.substr(8, n));
  const char* data = buf.data() + 8 + n;
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string dt = v["dtype"];
    torch::ScalarType st;
    if (dt == "F32") st = torch::kFloat32;
    else if (dt == "F16") st = torch::kFloat16;
    else if (dt == "I64") st = torch::kInt64;
    else if (dt == "U8") st = torch::kUInt8;
    else if (dt == "BOOL") st = torch::kBool;
    else throw std::runtime_error(path + ": unsupported dtype " + dt);
    std::vector<int64_t> shape = v["shape"].get<std::vector<int64_t>>();
    auto b = v["data_offsets"][0].get<uint64_t>(), e = v["data_offsets"][1].get<uint64_t>();
    auto t = torch::empty(shape, torch::TensorOptions().dtype(st));
    if (static_cast<uint64_t>(t.nbytes()) != e - b) throw std::runtime_error(path + ": size mismatch for " + name);
    std::memcpy(t.data_ptr(), data + b, e - b);
    out.emplace(name, t);
  }
  return out;
}

}  // namespace yolocpp::test
