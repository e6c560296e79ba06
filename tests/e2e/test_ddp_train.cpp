// `yolocpp train` as two torchrun-style Gloo ranks on loopback: the binary is started twice with
// RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set, exactly as torchrun would. Rank 0 alone writes the run folder;
// both ranks end with the same parameters (the gradients are all-reduced every backward and every rank steps
// the same optimizer from the same broadcast start).
//
// Not asserted: equality with a single-process run of the same global batch. Each rank normalises BatchNorm
// with its own half batch (unless sync_bn=True) and the detection loss is normalised by each rank's own target
// count, so the two trainings are close but not equal by construction (as in PyTorch DDP).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include "common/test_util.hpp"
#include "yolocpp/util/net.hpp"

using yolocpp::test::CmdResult;
using yolocpp::test::run_cmd;
using yolocpp::test::TempDir;
namespace fs = std::filesystem;

namespace {


std::vector<float> read_f32(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

// The torchrun-style command of rank r of 2. With a log (stdout+stderr go there) the shell execs the binary
// itself, so the pid the test holds is the rank's and SIGKILL reaches it; without, `timeout` bounds the run.
std::string rank_command(int r, int port, const std::string& args, const fs::path& log = {}) {
  std::string cmd = "exec env RANK=" + std::to_string(r) + " LOCAL_RANK=" + std::to_string(r) +
                    " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) +
                    " YOLOCPP_DDP_RENDEZVOUS_TIMEOUT=120 OMP_NUM_THREADS=1 " + (log.empty() ? "timeout 300 " : "") +
                    YOLOCPP_BIN + args;
  if (!log.empty()) cmd += " > " + log.string() + " 2>&1";
  return cmd;
}

size_t count_entries(const fs::path& dir) {
  size_t n = 0;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) ++n;
  return n;
}

}  // namespace

// Two ranks train 1 epoch with `extra` settings; one run folder, identical weights on both ranks. Returns
// rank 0's output in *rank0_out.
static void two_ranks_one_folder_identical_weights(const std::string& extra, std::string* rank0_out) {
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

  const int port = yolocpp::util::free_loopback_port();
  const std::string args = " train data=" + yaml.string() + " model=yolo11n.yaml epochs=1 batch=8 imgsz=64 workers=0"
                           " device=cpu plots=False project=" + project.string() + " name=ddp" + extra;
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
  *rank0_out = r0.out;
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

TEST(DdpTrain, TwoGlooRanksTrainOneRunFolderAndIdenticalWeights) {
  std::string out;
  two_ranks_one_folder_identical_weights("", &out);
  EXPECT_EQ(out.find("SyncBatchNorm"), std::string::npos) << "per-rank BatchNorm unless sync_bn=True";
}

// sync_bn=True: every Conv's BatchNorm normalises over both ranks' halves (tests/ddp checks the maths against
// one process on the full batch); here the trainer wires it in and the ranks still end identical.
TEST(DdpTrain, SyncBatchNormTrainsWithIdenticalWeights) {
  std::string out;
  two_ranks_one_folder_identical_weights(" sync_bn=True", &out);
  EXPECT_NE(out.find("Using SyncBatchNorm across 2 ranks (81 BatchNorm layers)"), std::string::npos) << out;
}

// Resume under DDP: both ranks are SIGKILLed once epoch 1's last.pt exists; `resume=last.pt` with the same
// world size continues in the same run folder, every epoch's row is there once, and both ranks exit 0.
TEST(DdpTrain, ResumeAfterBothRanksAreKilled) {
  TempDir tmp;
  auto synth = yolocpp::test::yolocpp("synth out=" + (tmp / "synth").string() + " images=48 imgsz=96");
  ASSERT_EQ(synth.rc, 0) << synth.out;
  const fs::path yaml = tmp / "synth" / "dataset.yaml";
  const fs::path project = tmp / "runs", run = project / "ddpr", last = run / "weights" / "last.pt";
  constexpr int kEpochs = 3;
  const std::string args = " train data=" + yaml.string() + " model=yolo11n.yaml epochs=" + std::to_string(kEpochs) +
                           " batch=8 imgsz=64 workers=0 device=cpu plots=False warmup_epochs=0 close_mosaic=0"
                           " project=" + project.string() + " name=ddpr";
  const int port = yolocpp::util::free_loopback_port();
  pid_t pids[2];
  for (int r = 0; r < 2; ++r) {
    const std::string cmd = rank_command(r, port, args, tmp / ("first" + std::to_string(r) + ".log"));
    pids[r] = fork();
    ASSERT_GE(pids[r], 0);
    if (pids[r] == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  // Wait for epoch 1's checkpoint, then kill both ranks (mid epoch 2, as a lost machine would).
  bool ready = false, exited = false;
  for (int i = 0; i < 6000 && !ready && !exited; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ready = fs::exists(last) && lines_of(run / "results.csv").size() >= 2;
    for (pid_t p : pids) {
      int st;
      if (waitpid(p, &st, WNOHANG) == p) exited = true;
    }
  }
  for (pid_t p : pids) {
    kill(p, SIGKILL);
    waitpid(p, nullptr, 0);
  }
  std::ifstream l0(tmp / "first0.log");
  const std::string first0((std::istreambuf_iterator<char>(l0)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(exited) << "a rank exited before epoch 1 ended:\n" << first0;
  ASSERT_TRUE(ready) << first0;
  const size_t rows_at_kill = lines_of(run / "results.csv").size() - 1;
  ASSERT_GE(rows_at_kill, 1u);
  ASSERT_LT(rows_at_kill, static_cast<size_t>(kEpochs)) << "killed too late to test a resume";

  const int port2 = yolocpp::util::free_loopback_port();
  const std::string resume_args = " train resume=" + last.string();
  CmdResult r1;
  std::thread t1([&] { r1 = run_cmd(rank_command(1, port2, resume_args)); });
  CmdResult r0 = run_cmd(rank_command(0, port2, resume_args));
  t1.join();
  ASSERT_EQ(r0.rc, 0) << r0.out;
  ASSERT_EQ(r1.rc, 0) << r1.out;
  // last.pt may lag results.csv by the epoch whose row was written just before the kill.
  EXPECT_TRUE(r0.out.find("from epoch " + std::to_string(rows_at_kill + 1)) != std::string::npos ||
              r0.out.find("from epoch " + std::to_string(rows_at_kill)) != std::string::npos)
      << r0.out;
  EXPECT_NE(r0.out.find("DDP: rank 0/2 on cpu (gloo)"), std::string::npos) << r0.out;
  EXPECT_NE(r1.out.find("DDP: rank 1/2 on cpu (gloo)"), std::string::npos) << r1.out;
  const auto rows = lines_of(run / "results.csv");
  ASSERT_EQ(rows.size(), static_cast<size_t>(kEpochs) + 1) << "header + one row per epoch";
  for (int e = 1; e <= kEpochs; ++e) EXPECT_EQ(rows[e].substr(0, rows[e].find(',')), std::to_string(e)) << rows[e];
  EXPECT_TRUE(fs::exists(run / "weights" / "best.pt"));
  EXPECT_FALSE(fs::exists(project / "ddpr2")) << "resume continues in the same run folder";
  EXPECT_EQ(r1.out.find("Results saved"), std::string::npos) << r1.out;  // rank 0 alone finishes the run
  auto seconds_at = [&](int e) { return std::stod(rows[e].substr(rows[e].find(',') + 1)); };
  std::printf("killed both ranks after %zu epoch row(s); resumed to %d epochs (last epoch %.1f s)\n", rows_at_kill,
              kEpochs, seconds_at(kEpochs) - seconds_at(kEpochs - 1));
}

// A rank that never starts: `yolocpp train` as rank 0 of 2 alone ends within the rendezvous timeout with one
// line naming rank 1 (not after the 30-minute collective timeout).
TEST(DdpTrain, MissingRankEndsRankZeroWithinTheRendezvousTimeout) {
  TempDir tmp;
  auto synth = yolocpp::test::yolocpp("synth out=" + (tmp / "synth").string() + " images=8 imgsz=64");
  ASSERT_EQ(synth.rc, 0) << synth.out;
  const std::string cmd = "env RANK=0 LOCAL_RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                          std::to_string(yolocpp::util::free_loopback_port()) + " YOLOCPP_DDP_RENDEZVOUS_TIMEOUT=3 timeout 120 " +
                          YOLOCPP_BIN + " train data=" + (tmp / "synth" / "dataset.yaml").string() +
                          " model=yolo11n.yaml epochs=1 batch=8 imgsz=64 device=cpu plots=False project=" +
                          (tmp / "runs").string();
  const auto t0 = std::chrono::steady_clock::now();
  CmdResult r = run_cmd(cmd);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("rank 0: rendezvous timed out after 3 s: rank(s) 1 of WORLD_SIZE=2 never arrived"),
            std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("frame #"), std::string::npos) << "no C++ backtrace for the user";
  EXPECT_LT(secs, 20.0);
  EXPECT_FALSE(fs::exists(tmp / "runs")) << "the rendezvous comes before the run folder: nothing left behind";
  std::printf("rank 0 alone: exit %d after %.1f s\n", r.rc, secs);
}
