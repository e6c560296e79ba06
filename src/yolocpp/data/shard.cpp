#include "yolocpp/data/shard.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "yolocpp/util/error.hpp"

namespace yolocpp::engine {

std::vector<int> shard_order(const std::vector<int>& order, int rank, int world_size) {
  if (world_size < 1 || rank < 0 || rank >= world_size)
    throw ConfigError(fmt::format("rank {} of world size {} is not a valid shard", rank, world_size));
  if (order.empty()) return {};
  const size_t n = order.size();
  const size_t per = (n + world_size - 1) / world_size;  // every rank gets the same count (ceil)
  const size_t total = per * world_size;
  std::vector<int> padded(order);
  // DistributedSampler pads with the head of the order, repeated as often as needed.
  while (padded.size() < total) {
    size_t need = total - padded.size();
    padded.insert(padded.end(), order.begin(), order.begin() + std::min(need, n));
  }
  std::vector<int> out;
  out.reserve(per);
  for (size_t i = rank; i < total; i += world_size) out.push_back(padded[i]);
  return out;
}

}  // namespace yolocpp::engine
