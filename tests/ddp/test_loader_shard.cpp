// The training loader under DDP: each rank's epoch plan is its DistributedSampler-style shard of
// the single-process loader's seeded order, the shards cover every image, and the batch count is the same
// on every rank.
#include <gtest/gtest.h>

#include <set>

#include "yolocpp/dist/distributed.hpp"
#include "yolocpp/data/loader/loader.hpp"

using namespace yolocpp::engine;

namespace {

std::vector<yolocpp::data::ImageLabels> fake_items(int n) {
  std::vector<yolocpp::data::ImageLabels> items(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    items[static_cast<size_t>(i)].image = "img" + std::to_string(i) + ".png";  // never read: plans only
    items[static_cast<size_t>(i)].width = 64;
    items[static_cast<size_t>(i)].height = 48;
  }
  return items;
}

std::vector<int> flatten(const std::vector<std::vector<int>>& plan) {
  std::vector<int> v;
  for (const auto& b : plan) v.insert(v.end(), b.begin(), b.end());
  return v;
}

}  // namespace

TEST(LoaderShard, RanksTakeTheirShardOfTheSameSeededOrder) {
  const int n = 13, W = 2;
  LoaderOptions base;
  base.batch = 4;
  base.seed = 3;
  Loader single(fake_items(n), base);
  for (int e : {0, 1}) {
    const std::vector<int> order = flatten(single.epoch_plan(e));
    std::set<int> seen;
    for (int r = 0; r < W; ++r) {
      LoaderOptions o = base;
      o.rank = r;
      o.world_size = W;
      Loader l(fake_items(n), o);
      EXPECT_EQ(l.size(), 2u);  // ceil(ceil(13 / 2) / 4)
      auto plan = l.epoch_plan(e);
      ASSERT_EQ(plan.size(), 2u);
      EXPECT_EQ(plan[0].size(), 4u);
      EXPECT_EQ(plan[1].size(), 3u);  // 7 per rank: 13 padded to 14 by repeating the head
      const std::vector<int> mine = flatten(plan);
      EXPECT_EQ(mine, shard_order(order, r, W));
      seen.insert(mine.begin(), mine.end());
    }
    EXPECT_EQ(seen.size(), static_cast<size_t>(n));
  }
  // A different epoch reshuffles (the same way on every rank).
  EXPECT_NE(flatten(single.epoch_plan(0)), flatten(single.epoch_plan(1)));
}

TEST(LoaderShard, RectTrainingIsRefusedUnderDdp) {
  LoaderOptions o;
  o.batch = 4;
  o.rect = true;
  o.world_size = 2;
  EXPECT_THROW(Loader(fake_items(8), o), yolocpp::ConfigError);
}
