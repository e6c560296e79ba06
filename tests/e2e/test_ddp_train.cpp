// `yolocpp train` as two torchrun-style Gloo ranks on loopback (issue 7): the binary is started twice with
// RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set, exactly as torchrun would. Rank 0 alone writes the run folder;
// both ranks end with the same parameters (the gradients are all-reduced every backward and every rank steps
// the same optimizer from the same broadcast start).
//
// Not asserted: equality with a single-process run of the same global batch. Each rank normalises BatchNorm
// with its own half batch and the detection loss is normalised by each rank's own target count, so the two
// trainings are close but not equal by construction (as in PyTorch DDP without SyncBatchNorm).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include "common/test_util.hpp"

using yolocpp::test::CmdResult;
using yolocpp::test::run_cmd;
using yolocpp::test::TempDir;
namespace fs = std::filesystem;

namespace {

int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return 29517;
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

std::vector<float> read_f32(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

size_t count_entries(const fs::path& dir) {
  size_t n = 0;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) ++n;
  return n;
}

}  // namespace

TEST(DdpTrain, TwoGlooRanksTrainOneRunFolderAndIdenticalWeights) {
  TempDir tmp;
  auto synth = yolocpp::test::yolocpp("synth out=" + (tmp / "synth").string() + " images=16 imgsz=96");
  ASSERT_EQ(synth.rc, 0) << synth.out;
  const fs::path yaml = tmp / "synth" / "dataset.yaml";
  ASSERT_TRUE(fs::exists(yaml));
  const fs::path project = tmp / "runs", dump = tmp / "dump";
  fs::create_directories(dump);
  // Each rank runs in its own empty working folder, so a stray relative write by either shows up.
  fs::create_directories(tmp / "cwd0");
  fs::create_directories(tmp / "cwd1");

  const int port = free_tcp_port();
  const std::string args = " train data=" + yaml.string() + " model=yolo11n.yaml epochs=1 batch=8 imgsz=64 workers=0"
                           " device=cpu plots=False project=" + project.string() + " name=ddp";
  auto rank_cmd = [&](int r) {
    return "cd " + (tmp / ("cwd" + std::to_string(r))).string() + " && env RANK=" + std::to_string(r) +
           " LOCAL_RANK=" + std::to_string(r) + " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
           std::to_string(port) + " YOLOCPP_DDP_TEST_DUMP=" + dump.string() + " OMP_NUM_THREADS=1 timeout 300 " +
           YOLOCPP_BIN + args;
  };
  CmdResult r1;
  std::thread t1([&] { r1 = run_cmd(rank_cmd(1)); });
  CmdResult r0 = run_cmd(rank_cmd(0));
  t1.join();
  ASSERT_EQ(r0.rc, 0) << r0.out;
  ASSERT_EQ(r1.rc, 0) << r1.out;
  EXPECT_NE(r0.out.find("DDP: rank 0/2 on cpu (gloo)"), std::string::npos) << r0.out;
  EXPECT_NE(r1.out.find("DDP: rank 1/2 on cpu (gloo)"), std::string::npos) << r1.out;

  // Rank 0's run folder, and only one (a rank 1 run folder would be runs/ddp2).
  const fs::path run = project / "ddp";
  EXPECT_TRUE(fs::exists(run / "weights" / "last.pt"));
  EXPECT_TRUE(fs::exists(run / "weights" / "best.pt"));
  EXPECT_TRUE(fs::exists(run / "args.yaml"));
  ASSERT_TRUE(fs::exists(run / "results.csv"));
  {
    std::ifstream in(run / "results.csv");
    std::string l;
    int rows = 0;
    while (std::getline(in, l))
      if (!l.empty()) ++rows;
    EXPECT_EQ(rows, 2);  // header + epoch 1, written once
  }
  EXPECT_EQ(count_entries(project), count_entries(run) + 1);
  EXPECT_EQ(count_entries(tmp / "cwd0"), 0u);
  EXPECT_EQ(count_entries(tmp / "cwd1"), 0u);
  // Only rank 0 validates and logs.
  EXPECT_NE(r0.out.find("all"), std::string::npos);
  EXPECT_EQ(r1.out.find("Results saved"), std::string::npos) << r1.out;

  // Identical parameters (model, then EMA) on both ranks after the epoch.
  const auto w0 = read_f32(dump / "rank0.f32"), w1 = read_f32(dump / "rank1.f32");
  ASSERT_GT(w0.size(), 2000000u);  // yolo11n: 2.6 M parameters, twice
  ASSERT_EQ(w0.size(), w1.size());
  double max_diff = 0;
  for (size_t i = 0; i < w0.size(); ++i) max_diff = std::max(max_diff, std::fabs(double(w0[i]) - double(w1[i])));
  EXPECT_LE(max_diff, 1e-6);
  std::printf("ranks' parameters: %zu floats, max |rank0 - rank1| = %.3g\n", w0.size(), max_diff);
}
