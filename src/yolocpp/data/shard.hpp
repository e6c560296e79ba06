// The per-rank share of an epoch's sample order, for distributed training. Pure (no LibTorch, no c10d), so the
// loader shards without depending on the process-group code.
#pragma once
#include <vector>

namespace yolocpp::engine {

// DistributedSampler's sharding of an epoch's order (the same on every rank because it comes from the
// shared seed): pad by repeating the head to a multiple of world_size, then rank r takes r, r+W, r+2W, ...
std::vector<int> shard_order(const std::vector<int>& order, int rank, int world_size);

}  // namespace yolocpp::engine
