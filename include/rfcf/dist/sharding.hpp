#pragma once
// Which samples and which classes a rank owns.
//
// Samples: the order of an epoch is a permutation of [0, n) drawn from (seed, epoch) with rfcf's
// own generator (identical on every rank and every standard library). Rank r of W takes the
// positions r, r + W, r + 2W, ... of that order (torch.utils.data.DistributedSampler's layout),
// so the k-th local batches of all ranks together hold exactly the samples of the k-th batch of
// W x the local size in a single process reading the same order: data-parallel runs see the same
// global batches as one process. The order is padded by wrapping around (or cut, with
// drop_last) to a multiple of W so that every rank runs the same number of steps.
//
// Classes (Partial FC, recognition.md 5): rank r owns the contiguous range
// [floor(C/W) r + min(r, C mod W), + floor(C/W) + (r < C mod W)).
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/random.hpp"

namespace rfcf::dist {

struct ShardOptions {
  bool shuffle = true;
  bool drop_last = false;  // cut to a multiple of the world size instead of wrapping around
  uint64_t seed = 0;
};

// The sample order of one epoch (before sharding).
inline std::vector<int64_t> epoch_order(int64_t n, int64_t epoch, const ShardOptions& o = {}) {
  check<ConfigError>(n >= 0, "epoch_order: negative dataset size ", n);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (o.shuffle && n > 1) {
    Generator g(o.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[g.integer(0, i)]);
  }
  return order;
}

// Sample indices of `rank` in a world of `world` for one epoch (deterministic in seed and epoch).
inline std::vector<int64_t> shard_indices(int64_t n, int rank, int world, int64_t epoch, const ShardOptions& o = {}) {
  check<ConfigError>(world >= 1 && rank >= 0 && rank < world, "shard_indices: rank ", rank,
                     " outside a world of ", world);
  const std::vector<int64_t> order = epoch_order(n, epoch, o);
  int64_t total = o.drop_last ? n / world * world : (n + world - 1) / world * world;
  check<ConfigError>(n > 0 || total == 0, "shard_indices: empty dataset");
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(total / world));
  for (int64_t p = rank; p < total; p += world) mine.push_back(order[static_cast<size_t>(p % n)]);
  return mine;
}

// Contiguous range of classes owned by one rank.
struct ClassRange {
  int64_t start = 0;
  int64_t count = 0;
  bool contains(int64_t c) const { return c >= start && c < start + count; }
};

inline ClassRange class_range(int64_t classes, int rank, int world) {
  check<ConfigError>(world >= 1 && rank >= 0 && rank < world, "class_range: rank ", rank, " outside a world of ",
                     world);
  check<ConfigError>(classes >= world, "class_range: ", classes, " classes cannot be split over ", world,
                     " ranks (each needs at least one)");
  const int64_t base = classes / world, extra = classes % world;
  return {base * rank + std::min<int64_t>(rank, extra), base + (rank < extra ? 1 : 0)};
}

}  // namespace rfcf::dist
