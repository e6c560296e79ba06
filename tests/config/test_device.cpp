// config::parse_device: the one reading of device= for train, val, predict and the Detector. The CUDA count
// is a parameter, so the GPU branches are checked on a CPU-only machine too.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "yolocpp/config/device.hpp"
#include "yolocpp/log.hpp"
#include "yolocpp/util/error.hpp"

namespace {

using yolocpp::ConfigError;
using yolocpp::config::DeviceChoice;
using yolocpp::config::parse_device;

std::string dev(const std::string& d, int cuda_count) {
  const DeviceChoice c = parse_device(d, cuda_count, "val");
  return c.cuda ? "cuda:" + std::to_string(c.index) : "cpu";
}

std::string error_of(const std::string& d, int cuda_count) {
  try {
    parse_device(d, cuda_count, "val");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ParseDevice, EmptyMeansFirstCudaDeviceWhenThereIsOne) {
  // The three old parsers disagreed here: the trainer and val picked CUDA, the predict backend the CPU.
  EXPECT_EQ(dev("", 0), "cpu");
  EXPECT_EQ(dev("", 2), "cuda:0");
  EXPECT_EQ(dev("None", 2), "cuda:0");
  EXPECT_EQ(dev("  ", 0), "cpu");
}

TEST(ParseDevice, CpuAndCudaSpellings) {
  EXPECT_EQ(dev("cpu", 4), "cpu");
  EXPECT_EQ(dev("CPU", 0), "cpu");
  EXPECT_EQ(dev("0", 1), "cuda:0");
  EXPECT_EQ(dev("1", 2), "cuda:1");
  EXPECT_EQ(dev("cuda", 1), "cuda:0");
  EXPECT_EQ(dev("cuda:1", 2), "cuda:1");
  EXPECT_EQ(dev(" CUDA:1 ", 2), "cuda:1");
  EXPECT_EQ(dev("[1]", 2), "cuda:1");
}

TEST(ParseDevice, ListUsesItsFirstDeviceAndSaysSo) {
  std::vector<std::pair<yolocpp::log::Level, std::string>> lines;
  yolocpp::log::set_sink([&](yolocpp::log::Level l, const std::string& s) { lines.emplace_back(l, s); });
  const std::string got = dev("1,0", 2);
  yolocpp::log::set_sink({});
  EXPECT_EQ(got, "cuda:1");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].first, yolocpp::log::Level::Warn);
  EXPECT_EQ(lines[0].second, "val runs on one device; using the first of device=1,0");
}

TEST(ParseDevice, ErrorsNameTheSettingAndTheFix) {
  EXPECT_EQ(error_of("0", 0), "device=0 requested but CUDA is not available; use device=cpu");
  EXPECT_EQ(error_of("cuda:0", 0), "device=cuda:0 requested but CUDA is not available; use device=cpu");
  EXPECT_EQ(error_of("2", 2), "device=2 requested but only 2 CUDA device(s) are present");
  EXPECT_EQ(error_of("gpu", 1), "device=gpu is not a device: use device=cpu, device=0 or device=cuda:0");
  EXPECT_EQ(error_of("cuda:", 1), "device=cuda: is not a device: use device=cpu, device=0 or device=cuda:0");
  EXPECT_EQ(error_of("-1", 1), "device=-1 is not a device: use device=cpu, device=0 or device=cuda:0");
  EXPECT_EQ(error_of("0,0", 1), "device='0,0' names device 0 twice; list each GPU once");
  EXPECT_EQ(error_of("0,x", 1),
            "device='0,x': 'x' is not a CUDA device index; use device=0 or device=0,1,2,3 or device=cpu");
  EXPECT_EQ(error_of("mps", 0), "device=mps is not supported by this build; use device=cpu or a CUDA index");
  EXPECT_EQ(error_of("99999999999", 1),
            "device=99999999999 is not a device: use device=cpu, device=0 or device=cuda:0");
}

}  // namespace
