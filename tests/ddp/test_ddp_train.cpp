// Two Gloo ranks on loopback against one process with the same global batch, and what happens when a
// rank dies. The model is BN-free on purpose: with ordinary BatchNorm in train mode each rank normalises with
// its own half-batch statistics, so per-rank training would legitimately differ (test_sync_bn.cpp covers BN).
#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/test_util.hpp"
#include "ddp/loopback_group.hpp"
#include "yolocpp/dist/distributed.hpp"

using namespace yolocpp;
using namespace yolocpp::engine;

namespace {

torch::nn::Sequential make_net(uint64_t seed) {
  torch::manual_seed(seed);
  return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3)), torch::nn::ReLU(),
                               torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 8, 3).stride(2)), torch::nn::ReLU(),
                               torch::nn::Flatten(), torch::nn::Linear(128, 4));
}

std::vector<torch::Tensor> grads_of(torch::nn::Module& m) {
  std::vector<torch::Tensor> g;
  for (auto& p : m.parameters()) g.push_back(p.grad().clone());
  return g;
}

double max_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, (a[i] - b[i]).abs().max().item<double>());
  return d;
}

constexpr int kSteps = 3;
constexpr double kLr = 0.05;

struct RankOut {
  std::vector<torch::Tensor> step1_grads, weights;
  size_t buckets = 0, launched_in_backward = 0;
  std::string error;
};

}  // namespace

TEST(DdpTrain, TwoGlooRanksMatchOneProcessOnTheFullBatch) {
  torch::manual_seed(123);
  auto X = torch::randn({8, 3, 12, 12});
  auto Y = torch::randn({8, 4});

  // Reference: one process, the whole global batch.
  auto ref = make_net(0);
  torch::optim::SGD ref_opt(ref->parameters(), torch::optim::SGDOptions(kLr).momentum(0.9));
  std::vector<torch::Tensor> ref_step1;
  for (int s = 0; s < kSteps; ++s) {
    ref_opt.zero_grad();
    torch::mse_loss(ref->forward(X), Y).backward();
    if (s == 0) ref_step1 = grads_of(*ref);
    ref_opt.step();
  }

  // Two ranks: rank 1 starts from different weights (seed 1) so the broadcast from rank 0 is exercised.
  std::vector<torch::nn::Sequential> nets{make_net(0), make_net(1)};
  ASSERT_GT(max_diff(nets[0]->parameters(), nets[1]->parameters()), 0.01);
  const test::LoopbackStore group;

  std::vector<RankOut> out(2);
  auto run_rank = [&](int r) {
    try {
      auto dist = group.join(r, 2, std::chrono::seconds(30));
      EXPECT_EQ(dist->backend(), "gloo");
      auto& net = nets[r];
      dist->broadcast_module(*net);
      GradReducer reducer(*dist, net->parameters(), 1024);  // small cap: several buckets on this tiny net
      std::vector<int64_t> rows;
      for (int i : shard_order({0, 1, 2, 3, 4, 5, 6, 7}, r, 2)) rows.push_back(i);
      auto idx = torch::tensor(rows);
      auto x = X.index_select(0, idx), y = Y.index_select(0, idx);
      torch::optim::SGD opt_r(net->parameters(), torch::optim::SGDOptions(kLr).momentum(0.9));
      for (int s = 0; s < kSteps; ++s) {
        opt_r.zero_grad();
        torch::mse_loss(net->forward(x), y).backward();
        reducer.finish();
        if (s == 0) out[r].step1_grads = grads_of(*net);
        opt_r.step();
      }
      out[r].buckets = reducer.num_buckets();
      out[r].launched_in_backward = reducer.launched_in_backward();
      for (auto& p : net->parameters()) out[r].weights.push_back(p.detach().clone());
    } catch (const std::exception& e) {
      out[r].error = e.what();
    }
  };
  std::thread t0(run_rank, 0), t1(run_rank, 1);
  t0.join();
  t1.join();
  ASSERT_EQ(out[0].error, "");
  ASSERT_EQ(out[1].error, "");

  // Averaged half-batch gradients equal the full-batch gradient up to float summation order.
  const double g_err = max_diff(out[0].step1_grads, ref_step1);
  const double w_err = max_diff(out[0].weights, ref->parameters());
  EXPECT_LT(g_err, 1e-6) << "step-1 gradient difference";
  EXPECT_LT(w_err, 1e-5) << "weights after " << kSteps << " SGD steps";
  // The ranks hold bit-identical weights (same all-reduced gradients, same optimizer).
  EXPECT_EQ(max_diff(out[0].weights, out[1].weights), 0.0);
  // And the comparison has teeth: one rank's local half-batch gradient is far from the reference.
  {
    auto local = make_net(0);
    auto idx = torch::tensor(std::vector<int64_t>{0, 2, 4, 6});
    torch::mse_loss(local->forward(X.index_select(0, idx)), Y.index_select(0, idx)).backward();
    EXPECT_GT(max_diff(grads_of(*local), ref_step1), 1e-3);
  }
  // Six parameter tensors at a 1 KiB cap: several buckets, all launched from hooks during backward.
  EXPECT_GE(out[0].buckets, 4u);
  EXPECT_EQ(out[0].launched_in_backward, out[0].buckets);
  std::printf("[ddp] step-1 grad max|diff| %.3g, weights after %d steps %.3g, %zu buckets\n", g_err, kSteps, w_err,
              out[0].buckets);
}

// ---------------------------------------------------------------------------------------------------------
// Processes: the launcher and a rank that dies.

// Runs only as a child of the tests below (YOLOCPP_DDP_TEST_WORKER set): a rank that trains in lock-step
// and, if it is YOLOCPP_DDP_TEST_DIE_RANK, kills itself with SIGKILL at step 3.
TEST(DdpWorker, TrainUntilPeerDies) {
  if (!std::getenv("YOLOCPP_DDP_TEST_WORKER")) GTEST_SKIP() << "child process of DdpLaunch tests only";
  const int die_rank = std::atoi(std::getenv("YOLOCPP_DDP_TEST_DIE_RANK"));
  try {
    auto env = dist_env_from_environment();
    DistOptions opt;
    opt.timeout = std::chrono::seconds(20);
    auto dist = Distributed::from_env(env, torch::kCPU, opt);
    auto net = make_net(env.rank);
    dist->broadcast_module(*net);
    GradReducer reducer(*dist, net->parameters());
    torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.01));
    auto x = torch::randn({4, 3, 12, 12}), y = torch::randn({4, 4});
    for (int s = 0; s < 100; ++s) {
      if (env.rank == die_rank && s == 3) std::raise(SIGKILL);
      sgd.zero_grad();
      torch::mse_loss(net->forward(x), y).backward();
      reducer.finish();
      sgd.step();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::fprintf(stderr, "rank %d: finished without noticing the dead peer\n", env.rank);
    std::_Exit(0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::fflush(stderr);
    std::_Exit(3);
  }
}

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

class DdpLaunchKill : public ::testing::TestWithParam<int> {};

TEST_P(DdpLaunchKill, KilledRankEndsTheOthersWithAClearMessage) {
  const int die = GetParam();
  const int survivor = 1 - die;
  test::TempDir tmp;
  LaunchOptions lo;
  lo.exe = "/proc/self/exe";
  lo.argv = {"test_ddp", "--gtest_filter=DdpWorker.TrainUntilPeerDies"};
  lo.env = {{"YOLOCPP_DDP_TEST_WORKER", "1"}, {"YOLOCPP_DDP_TEST_DIE_RANK", std::to_string(die)}};
  lo.log_dir = tmp.path();
  lo.grace = std::chrono::seconds(25);
  auto t0 = std::chrono::steady_clock::now();
  auto res = launch_local(2, lo);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string surv_log = slurp(tmp / ("rank" + std::to_string(survivor) + ".log"));

  EXPECT_EQ(res.first_failed_rank, die) << res.message;
  EXPECT_EQ(res.rc, 128 + SIGKILL);
  EXPECT_NE(res.message.find("rank " + std::to_string(die) + " was killed by 9 (SIGKILL)"), std::string::npos)
      << res.message;
  // The survivor noticed on its own (exit code 3 from its error handler), not through the launcher's SIGTERM.
  EXPECT_EQ(res.ranks[survivor].exit_code, 3) << surv_log;
  EXPECT_FALSE(res.ranks[survivor].terminated_by_launcher);
  EXPECT_NE(res.message.find("the other ranks stopped on their own"), std::string::npos) << res.message;
  EXPECT_NE(surv_log.find("rank " + std::to_string(survivor) + ": "), std::string::npos) << surv_log;
  EXPECT_NE(surv_log.find("failed"), std::string::npos) << surv_log;
  EXPECT_LT(secs, 25.0);
  std::printf("[ddp] rank %d killed: launcher returned after %.1f s; survivor said: %s", die, secs,
              surv_log.substr(surv_log.find("rank " + std::to_string(survivor) + ": ")).c_str());
}
INSTANTIATE_TEST_SUITE_P(Ranks, DdpLaunchKill, ::testing::Values(1, 0));

TEST(DdpLaunch, EnvironmentExitCodesAndEscalation) {
  test::TempDir tmp;
  LaunchOptions lo;
  lo.exe = "/bin/sh";
  lo.argv = {"sh", "-c", "echo \"$RANK/$LOCAL_RANK/$WORLD_SIZE/$MASTER_ADDR/$MASTER_PORT/$EXTRA\"; exit 0"};
  lo.env = {{"EXTRA", "x"}};
  lo.log_dir = tmp.path();
  lo.master_port = 29777;
  auto ok = launch_local(3, lo);
  EXPECT_EQ(ok.rc, 0);
  EXPECT_EQ(ok.first_failed_rank, -1);
  EXPECT_EQ(slurp(tmp / "rank2.log"), "2/2/3/127.0.0.1/29777/x\n");
  EXPECT_EQ(slurp(tmp / "rank0.log"), "0/0/3/127.0.0.1/29777/x\n");

  // Rank 1 fails; rank 0 would hang forever: it is stopped after the grace period.
  lo.argv = {"sh", "-c", "[ \"$RANK\" = 1 ] && exit 7; exec sleep 60"};
  lo.grace = std::chrono::seconds(1);
  auto t0 = std::chrono::steady_clock::now();
  auto bad = launch_local(2, lo);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(bad.rc, 7);
  EXPECT_EQ(bad.first_failed_rank, 1);
  EXPECT_EQ(bad.message, "rank 1 exited with code 7; stopped rank(s) 0 after 1 s");
  EXPECT_TRUE(bad.ranks[0].terminated_by_launcher);
  EXPECT_EQ(bad.ranks[0].signal, SIGTERM);
  EXPECT_LT(secs, 8.0);
}

// Ctrl-C (SIGINT to the launcher) reaches every rank at once; the launcher reports the interruption with the
// shell's 128 + signal code and does not wait out the grace period.
TEST(DdpLaunch, CtrlCStopsEveryRank) {
  LaunchOptions lo;
  lo.exe = "/bin/sh";
  lo.argv = {"sh", "-c", "exec sleep 60"};
  lo.grace = std::chrono::seconds(30);
  std::thread ctrl_c([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the ranks are running by then
    ::kill(::getpid(), SIGINT);
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto res = launch_local(3, lo);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ctrl_c.join();
  EXPECT_EQ(res.rc, 128 + SIGINT);
  EXPECT_EQ(res.message, "interrupted by SIGINT: stopped all 3 ranks");
  ASSERT_EQ(res.ranks.size(), 3u);
  for (const auto& r : res.ranks) {
    EXPECT_EQ(r.exit_code, -1) << "rank " << r.rank;
    EXPECT_TRUE(r.signal == SIGINT || r.signal == SIGTERM) << "rank " << r.rank << " signal " << r.signal;
  }
  EXPECT_LT(secs, 5.0);
}
