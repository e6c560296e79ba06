// Rendezvous and timeouts (dist/distributed.hpp): a rank that never starts must end the others within the
// rendezvous timeout with the missing rank named, not after the 30-minute collective timeout.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "yolocpp/dist/distributed.hpp"
#include "yolocpp/util/net.hpp"

using namespace yolocpp;
using namespace yolocpp::engine;

namespace {

// Sets an environment variable for one test and restores the previous value.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(const char* n, const char* v) : name(n) {
    if (const char* o = std::getenv(n)) old = o;
    if (v) ::setenv(n, v, 1);
    else ::unsetenv(n);
  }
  ~ScopedEnv() {
    if (old) ::setenv(name.c_str(), old->c_str(), 1);
    else ::unsetenv(name.c_str());
  }
};

DistEnv env_of(int rank, int world, int port) {
  DistEnv e;
  e.rank = rank;
  e.world_size = world;
  e.local_rank = rank;
  e.master_addr = "127.0.0.1";
  e.master_port = port;
  return e;
}

// Runs from_env and returns (error message, seconds taken); "" when it succeeded.
std::pair<std::string, double> try_join(const DistEnv& e, DistOptions opt = {}) {
  const auto t0 = std::chrono::steady_clock::now();
  std::string err;
  try {
    auto d = Distributed::from_env(e, torch::kCPU, opt);
  } catch (const DistributedError& ex) {
    err = ex.what();
  }
  return {err, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
}

}  // namespace

TEST(DdpRendezvous, RankZeroAloneNamesTheMissingRankWithinTheTimeout) {
  ScopedEnv rdv("YOLOCPP_DDP_RENDEZVOUS_TIMEOUT", "3");
  auto [err, secs] = try_join(env_of(0, 2, util::free_loopback_port()));
  ASSERT_FALSE(err.empty()) << "rank 0 formed a group of 2 on its own";
  EXPECT_NE(err.find("rank 0: rendezvous timed out after 3 s: rank(s) 1 of WORLD_SIZE=2 never arrived"),
            std::string::npos) << err;
  EXPECT_NE(err.find("YOLOCPP_DDP_RENDEZVOUS_TIMEOUT"), std::string::npos) << err;
  EXPECT_GE(secs, 2.9);
  EXPECT_LT(secs, 5.0);
  std::printf("[ddp] rank 0 alone: DistributedError after %.2f s: %s\n", secs, err.c_str());
}

TEST(DdpRendezvous, ThreeRanksWithOneMissingNameIt) {
  // Ranks 0 and 2 of 3 arrive; both report rank 1 (the option field wins over the environment).
  ScopedEnv rdv("YOLOCPP_DDP_RENDEZVOUS_TIMEOUT", "600");
  DistOptions opt;
  opt.rendezvous_timeout = std::chrono::seconds(2);
  const int port = util::free_loopback_port();
  std::pair<std::string, double> r2;
  std::thread t([&] { r2 = try_join(env_of(2, 3, port), opt); });
  auto r0 = try_join(env_of(0, 3, port), opt);
  t.join();
  EXPECT_NE(r0.first.find("rank 0: rendezvous timed out after 2 s: rank(s) 1 of WORLD_SIZE=3"), std::string::npos)
      << r0.first;
  EXPECT_NE(r2.first.find("rank(s) 1 of WORLD_SIZE=3"), std::string::npos) << r2.first;
  EXPECT_LT(r0.second, 4.0);
}

TEST(DdpRendezvous, NonZeroRankWithoutRankZeroNamesRankZero) {
  ScopedEnv rdv("YOLOCPP_DDP_RENDEZVOUS_TIMEOUT", "2");
  auto [err, secs] = try_join(env_of(1, 2, util::free_loopback_port()));
  ASSERT_FALSE(err.empty());
  EXPECT_NE(err.find("rank 1: rendezvous at MASTER_ADDR=127.0.0.1"), std::string::npos) << err;
  EXPECT_NE(err.find("rank 0 never came up there within 2 s"), std::string::npos) << err;
  EXPECT_LT(secs, 6.0);
  std::printf("[ddp] rank 1 without rank 0: DistributedError after %.2f s\n", secs);
}

TEST(DdpRendezvous, BothRanksArriveAndFormAGroup) {
  ScopedEnv rdv("YOLOCPP_DDP_RENDEZVOUS_TIMEOUT", "30");
  const int port = util::free_loopback_port();
  std::string e1;
  double sum1 = 0;
  std::thread t([&] {
    try {
      auto d = Distributed::from_env(env_of(1, 2, port), torch::kCPU);
      sum1 = d->allreduce_mean(3.0);
    } catch (const std::exception& e) {
      e1 = e.what();
    }
  });
  std::string e0;
  double sum0 = 0;
  try {
    auto d = Distributed::from_env(env_of(0, 2, port), torch::kCPU);
    sum0 = d->allreduce_mean(1.0);
  } catch (const std::exception& e) {
    e0 = e.what();
  }
  t.join();
  ASSERT_EQ(e0, "");
  ASSERT_EQ(e1, "");
  EXPECT_DOUBLE_EQ(sum0, 2.0);
  EXPECT_DOUBLE_EQ(sum1, 2.0);
}

TEST(DdpRendezvous, TimeoutsFromTheEnvironment) {
  {
    ScopedEnv a("YOLOCPP_DDP_TIMEOUT", nullptr), b("YOLOCPP_DDP_RENDEZVOUS_TIMEOUT", nullptr);
    auto o = resolve_timeouts({});
    EXPECT_EQ(o.timeout, std::chrono::milliseconds(1800 * 1000));
    EXPECT_EQ(o.rendezvous_timeout, std::chrono::milliseconds(300 * 1000));
  }
  {
    ScopedEnv a("YOLOCPP_DDP_TIMEOUT", "90"), b("YOLOCPP_DDP_RENDEZVOUS_TIMEOUT", "2.5");
    auto o = resolve_timeouts({});
    EXPECT_EQ(o.timeout, std::chrono::milliseconds(90000));
    EXPECT_EQ(o.rendezvous_timeout, std::chrono::milliseconds(2500));
    DistOptions set;
    set.timeout = std::chrono::seconds(7);
    EXPECT_EQ(resolve_timeouts(set).timeout, std::chrono::milliseconds(7000));  // an explicit value wins
  }
  for (const char* bad : {"abc", "-1", "0", "10s"}) {
    ScopedEnv a("YOLOCPP_DDP_TIMEOUT", bad);
    try {
      resolve_timeouts({});
      ADD_FAILURE() << "accepted YOLOCPP_DDP_TIMEOUT=" << bad;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("YOLOCPP_DDP_TIMEOUT='" + std::string(bad) + "'"), std::string::npos)
          << e.what();
    }
  }
}
