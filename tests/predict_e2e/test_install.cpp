// The install round trip an application goes through: `cmake --install` this build into a temporary prefix,
// configure examples/ as a separate CMake project with find_package(yolocpp COMPONENTS detector), build
// agent_loop, and run it on a folder of frames. The detector component must leave the training and cloud
// dependencies out of the package search, the link line and the executable. Slow (configures and links
// against LibTorch): label e2e.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/test_util.hpp"

namespace {

using namespace yolocpp::test;

// Libraries only the train and cloud components need.
const char* const kNotForDetector[] = {"curl",           "libssh",          "libarchive",   "onnx",
                                       "yolocpp_cloud",  "yolocpp_trainer", "yolocpp_val",  "yolocpp_dist",
                                       "yolocpp_loader", "yolocpp_plots",   "yolocpp_loss", "yolocpp_weights",
                                       "yolocpp_export", "yolocpp_data"};

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The line of `cmake --build -v` output that links `exe`.
std::string link_line(const std::string& verbose_build, const std::string& exe) {
  std::istringstream in(verbose_build);
  for (std::string line; std::getline(in, line);)
    if (line.find("-o " + exe) != std::string::npos) return line;
  return "";
}

struct Installed {
  TempDir t;
  fs::path prefix = t / "prefix";
  Installed() {
    auto r = run_cmd("cmake --install " + std::string(YOLOCPP_BINARY_DIR) + " --prefix " + prefix.string());
    EXPECT_EQ(r.rc, 0) << r.out;
  }
  // Configures the CMake project in `src` against the installed package.
  CmdResult configure(const fs::path& src, const fs::path& build) const {
    return run_cmd("cmake -S " + src.string() + " -B " + build.string() +
                   " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + prefix.string());
  }
};

// Libraries on a link line: static archives, shared objects and -l flags.
size_t link_inputs(const std::string& line) {
  std::istringstream in(line);
  size_t n = 0;
  for (std::string tok; in >> tok;)
    n += tok.rfind("-l", 0) == 0 || tok.find(".so") != std::string::npos ||
         (tok.size() > 2 && tok.compare(tok.size() - 2, 2, ".a") == 0);
  return n;
}

size_t count_lines_with(const std::string& text, const std::string& what) {
  size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(what) != std::string::npos;
  return n;
}

TEST(InstallE2E, FindPackageBuildsAndRunsAgentLoop) {
  YOLOCPP_REQUIRE_SHARED();
  Installed inst;
  const fs::path build = inst.t / "build", frames = inst.t / "frames";
  for (const char* h : {"detector.hpp", "error.hpp", "log.hpp", "version.hpp"})
    EXPECT_TRUE(fs::exists(inst.prefix / "include" / "yolocpp" / h)) << h;
  EXPECT_TRUE(fs::exists(inst.prefix / "include" / "yolocpp" / "util" / "error.hpp"));  // older includes still work
  // The public header names only public headers.
  EXPECT_EQ(read_text(inst.prefix / "include" / "yolocpp" / "detector.hpp").find("yolocpp/util/"), std::string::npos);

  auto r = inst.configure(fs::path(YOLOCPP_SOURCE_DIR) / "examples", build);
  ASSERT_EQ(r.rc, 0) << r.out;
  // COMPONENTS detector: the package looked for none of the other components' dependencies.
  const std::string cache = read_text(build / "CMakeCache.txt");
  for (const char* dep : {"CURL_", "LibArchive_", "ONNX_DIR", "libssh_DIR", "YOLOCPP_LIBSSH_LIBRARY"})
    EXPECT_EQ(cache.find(dep), std::string::npos) << dep << " was searched for by find_package(COMPONENTS detector)";

  r = run_cmd("cmake --build " + build.string() + " -j1 -v");
  ASSERT_EQ(r.rc, 0) << r.out;
  const std::string link = link_line(r.out, "agent_loop");
  ASSERT_FALSE(link.empty()) << r.out;
  EXPECT_NE(link.find("libyolocpp_detector.a"), std::string::npos) << link;
  for (const char* lib : kNotForDetector) EXPECT_EQ(link.find(lib), std::string::npos) << lib << " in: " << link;
  const fs::path exe = build / "agent_loop";
  const std::string needed = run_cmd("readelf -d " + exe.string() + " | grep NEEDED").out;
  for (const char* lib : {"curl", "libssh", "libarchive", "onnx"})
    EXPECT_EQ(needed.find(lib), std::string::npos) << lib << " is NEEDED by agent_loop:\n" << needed;
  const size_t n_needed = count_lines_with(needed, "NEEDED");
  const size_t n_ldd = count_lines_with(run_cmd("ldd " + exe.string()).out, "=>");

  // Frames in name order: the bus twice around a noise frame.
  fs::create_directories(frames);
  fs::copy_file(repo_fixtures_dir() / "bus.jpg", frames / "f000.jpg");
  fs::copy_file(repo_fixtures_dir() / "noise_240x320.png", frames / "f001.png");
  fs::copy_file(repo_fixtures_dir() / "bus.jpg", frames / "f002.jpg");
  const std::string model = (fixtures_dir() / "yolo11n_nc3_random.pt").string();
  r = run_cmd(exe.string() + " " + model + " " + frames.string());
  ASSERT_EQ(r.rc, 0) << r.out;
  // predict_case nc3_bus@640: 7 boxes, one house and six trees.
  EXPECT_NE(r.out.find("model " + model + ": 3 classes, imgsz 640"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("frame 1 f000.jpg: 7 objects, house=1, tree=6"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("frame 2 f001.png: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("frame 3 f002.jpg: 7 objects, house=1, tree=6"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mean latency "), std::string::npos) << r.out;
  std::printf("%s", r.out.c_str());

  // The same example against the whole package (plain find_package, yolocpp::yolocpp), as every application
  // linked before the components existed: it still builds, and is the baseline of the dependency counts.
  const fs::path whole_src = inst.t / "whole", whole = inst.t / "build-whole";
  fs::create_directories(whole_src);
  fs::copy_file(fs::path(YOLOCPP_SOURCE_DIR) / "examples" / "agent_loop.cpp", whole_src / "agent_loop.cpp");
  std::ofstream(whole_src / "CMakeLists.txt") << "cmake_minimum_required(VERSION 3.18)\nproject(whole CXX)\n"
                                                 "set(CMAKE_CXX_STANDARD 17)\nfind_package(yolocpp REQUIRED)\n"
                                                 "add_executable(agent_loop agent_loop.cpp)\n"
                                                 "target_link_libraries(agent_loop PRIVATE yolocpp::yolocpp)\n";
  r = inst.configure(whole_src, whole);
  ASSERT_EQ(r.rc, 0) << r.out;
  r = run_cmd("cmake --build " + whole.string() + " -j1 -v");
  ASSERT_EQ(r.rc, 0) << r.out;
  const std::string whole_link = link_line(r.out, "agent_loop");
  EXPECT_NE(whole_link.find("curl"), std::string::npos) << whole_link;  // the union does pass them to the linker
  const fs::path whole_exe = whole / "agent_loop";
  // The linker drops libraries nothing calls, so NEEDED and ldd hardly move; LibTorch alone brings ~280
  // libraries to ldd. What the component saves is the link inputs and the -dev packages an application needs.
  std::printf("    [measured] agent_loop link inputs: detector %zu, whole package %zu\n", link_inputs(link),
              link_inputs(whole_link));
  std::printf("    [measured] agent_loop NEEDED: detector %zu, whole package %zu; ldd: detector %zu, whole %zu\n",
              n_needed, count_lines_with(run_cmd("readelf -d " + whole_exe.string() + " | grep NEEDED").out, "NEEDED"),
              n_ldd, count_lines_with(run_cmd("ldd " + whole_exe.string()).out, "=>"));
  EXPECT_LT(link_inputs(link), link_inputs(whole_link));
}

TEST(InstallE2E, UnknownComponentFailsWithOneClearLine) {
  Installed inst;
  const fs::path src = inst.t / "bad", build = inst.t / "build-bad";
  fs::create_directories(src);
  std::ofstream(src / "CMakeLists.txt") << "cmake_minimum_required(VERSION 3.18)\nproject(bad CXX)\n"
                                           "find_package(yolocpp REQUIRED COMPONENTS detecter)\n";
  auto r = inst.configure(src, build);
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("yolocpp has no component 'detecter'"), std::string::npos) << r.out;
}

}  // namespace
