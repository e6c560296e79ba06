// The install round trip an application goes through: `cmake --install` this build into a temporary prefix,
// configure examples/ as a separate CMake project with find_package(yolocpp), build agent_loop, and run it on
// a folder of frames. Slow (a configure and a link against LibTorch): label e2e.
#include <gtest/gtest.h>


#include "common/test_util.hpp"

namespace {

using namespace yolocpp::test;

TEST(InstallE2E, FindPackageBuildsAndRunsAgentLoop) {
  YOLOCPP_REQUIRE_SHARED();
  TempDir t;
  const fs::path prefix = t / "prefix", build = t / "build", frames = t / "frames";
  auto r = run_cmd("cmake --install " + std::string(YOLOCPP_BINARY_DIR) + " --prefix " + prefix.string());
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(fs::exists(prefix / "include" / "yolocpp" / "detector.hpp"));
  EXPECT_TRUE(fs::exists(prefix / "include" / "yolocpp" / "util" / "error.hpp"));

  r = run_cmd("cmake -S " + std::string(YOLOCPP_SOURCE_DIR) + "/examples -B " + build.string() +
              " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + prefix.string());
  ASSERT_EQ(r.rc, 0) << r.out;
  r = run_cmd("cmake --build " + build.string() + " -j1");
  ASSERT_EQ(r.rc, 0) << r.out;

  // Frames in name order: the bus twice around a noise frame.
  fs::create_directories(frames);
  fs::copy_file(fixtures_dir() / "bus.jpg", frames / "f000.jpg");
  fs::copy_file(fixtures_dir() / "noise_240x320.png", frames / "f001.png");
  fs::copy_file(fixtures_dir() / "bus.jpg", frames / "f002.jpg");
  r = run_cmd((build / "agent_loop").string() + " " + (fixtures_dir() / "yolo11n_nc3_random.pt").string() + " " +
              frames.string());
  ASSERT_EQ(r.rc, 0) << r.out;
  // predict_case nc3_bus@640: 7 boxes, one house and six trees.
  EXPECT_NE(r.out.find("model " + (fixtures_dir() / "yolo11n_nc3_random.pt").string() + ": 3 classes, imgsz 640"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("frame 1 f000.jpg: 7 objects, house=1, tree=6"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("frame 2 f001.png: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("frame 3 f002.jpg: 7 objects, house=1, tree=6"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mean latency "), std::string::npos) << r.out;
  std::printf("%s", r.out.c_str());
}

}  // namespace
