// A small deterministic random source for the transforms: xoshiro256** seeded through splitmix64, so the
// same seed gives the same stream on every machine and compiler (std:: distributions are not portable).
// Bit-exact reproduction of Python's `random` / NumPy streams is not a goal: augmentation is random in Ultralytics too.
#pragma once
#include <cstdint>

namespace yolocpp::augment {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0);
  uint64_t next_u64();
  double random();                        // [0, 1), 53 bits
  double uniform(double a, double b);     // a + (b - a) * random(), like Python's random.uniform
  int64_t randint(int64_t n);             // [0, n), unbiased; n must be > 0
  double normal(double mean = 0.0, double stddev = 1.0);
  double gamma(double shape);             // shape > 0, scale 1
  double beta(double a, double b);

 private:
  uint64_t s_[4];
};

// Mixes a base seed with an index (epoch, sample, worker) into an independent seed.
uint64_t mix_seed(uint64_t seed, uint64_t index);

}  // namespace yolocpp::augment
