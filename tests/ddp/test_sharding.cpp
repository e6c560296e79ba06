// Pure logic of distributed training: sharding, bucket plans, device lists, batch split, environment.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "yolocpp/dist/distributed.hpp"

using namespace yolocpp;
using namespace yolocpp::engine;

TEST(DdpSharding, PadsWithTheHeadAndStridesByRank) {
  std::vector<int> order{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  // 10 samples over 4 ranks: 3 each, padded with 0 and 1 (DistributedSampler's drop_last=False).
  EXPECT_EQ(shard_order(order, 0, 4), (std::vector<int>{0, 4, 8}));
  EXPECT_EQ(shard_order(order, 1, 4), (std::vector<int>{1, 5, 9}));
  EXPECT_EQ(shard_order(order, 2, 4), (std::vector<int>{2, 6, 0}));
  EXPECT_EQ(shard_order(order, 3, 4), (std::vector<int>{3, 7, 1}));
  // More ranks than samples: the head repeats as often as needed.
  EXPECT_EQ(shard_order({5, 6}, 4, 5), (std::vector<int>{5}));
  EXPECT_EQ(shard_order({5, 6}, 3, 5), (std::vector<int>{6}));
  EXPECT_THROW(shard_order(order, 4, 4), ConfigError);
}

TEST(DdpSharding, SameSeededShufflePerEpochOnEveryRank) {
  const int n = 101, W = 3;
  std::multiset<int> all;
  std::vector<std::vector<int>> e0(W);
  for (int r = 0; r < W; ++r) {
    e0[r] = distributed_sampler_indices(n, r, W, 7, 0, true);
    EXPECT_EQ(e0[r].size(), 34u);  // ceil(101 / 3)
    // A rank recomputing its shard gets the same one (no hidden state, same on every process).
    EXPECT_EQ(distributed_sampler_indices(n, r, W, 7, 0, true), e0[r]);
    all.insert(e0[r].begin(), e0[r].end());
  }
  // Every sample appears; exactly one (the padding) appears twice.
  for (int i = 0; i < n; ++i) EXPECT_GE(all.count(i), 1u) << i;
  EXPECT_EQ(all.size(), 102u);
  // Shuffled, and a new permutation next epoch.
  std::vector<int> plain = distributed_sampler_indices(n, 0, W, 7, 0, false);
  EXPECT_EQ(plain[1], 3);
  EXPECT_NE(e0[0], plain);
  EXPECT_NE(distributed_sampler_indices(n, 0, W, 7, 1, true), e0[0]);
}

TEST(DdpBuckets, ConsecutiveRunsUnderTheCap) {
  std::vector<size_t> bytes{10, 20, 30, 40};
  auto b = plan_buckets(bytes, {3, 2, 1, 0}, 50);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0], (std::vector<size_t>{3}));
  EXPECT_EQ(b[1], (std::vector<size_t>{2, 1}));  // 30 + 20 = 50 fits exactly
  EXPECT_EQ(b[2], (std::vector<size_t>{0}));
  // A tensor above the cap gets a bucket of its own rather than an error.
  auto big = plan_buckets({100, 1, 1}, {0, 1, 2}, 50);
  ASSERT_EQ(big.size(), 2u);
  EXPECT_EQ(big[0], (std::vector<size_t>{0}));
  EXPECT_EQ(big[1], (std::vector<size_t>{1, 2}));
  EXPECT_EQ(plan_buckets({4, 4, 4}, {0, 1, 2}, 1u << 20).size(), 1u);
}

TEST(DdpConfig, DeviceListsAndBatchSplit) {
  EXPECT_EQ(parse_device_list("0,1,2,3"), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(parse_device_list("[0, 1]"), (std::vector<int>{0, 1}));
  EXPECT_EQ(parse_device_list("cuda:1"), (std::vector<int>{1}));
  EXPECT_TRUE(parse_device_list("cpu").empty());
  EXPECT_TRUE(parse_device_list("").empty());
  EXPECT_THROW(parse_device_list("0,0"), ConfigError);
  EXPECT_THROW(parse_device_list("0,x"), ConfigError);
  EXPECT_EQ(per_rank_batch(64, 4), 16);
  EXPECT_EQ(per_rank_batch(16, 3), 5);
  EXPECT_THROW(per_rank_batch(2, 4), ConfigError);
}

TEST(DdpConfig, TorchrunEnvironment) {
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("RANK", "2", 1);
  ::setenv("LOCAL_RANK", "0", 1);
  ::setenv("MASTER_ADDR", "10.0.0.5", 1);
  ::setenv("MASTER_PORT", "29511", 1);
  auto e = dist_env_from_environment();
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.rank, 2);
  EXPECT_EQ(e.local_rank, 0);
  EXPECT_EQ(e.master_addr, "10.0.0.5");
  EXPECT_EQ(e.master_port, 29511);
  EXPECT_TRUE(e.active());
  ::setenv("RANK", "4", 1);
  EXPECT_THROW(dist_env_from_environment(), ConfigError);
  ::setenv("RANK", "two", 1);
  try {
    dist_env_from_environment();
    FAIL() << "no error for RANK=two";
  } catch (const ConfigError& err) {
    EXPECT_NE(std::string(err.what()).find("RANK='two'"), std::string::npos) << err.what();
  }
  for (const char* k : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(k);
  auto single = dist_env_from_environment();
  EXPECT_FALSE(single.active());
  EXPECT_EQ(single.rank, 0);
}
