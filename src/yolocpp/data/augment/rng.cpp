#include "yolocpp/data/augment/rng.hpp"

#include <cmath>
#include <stdexcept>

namespace yolocpp::augment {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}

uint64_t Rng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::random() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Rng::uniform(double a, double b) { return a + (b - a) * random(); }

int64_t Rng::randint(int64_t n) {
  if (n <= 0) throw std::invalid_argument("Rng::randint: n must be positive");
  const uint64_t un = static_cast<uint64_t>(n);
  // Rejection keeps every value equally likely (plain modulo favours small values).
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % un);
  uint64_t x;
  do x = next_u64();
  while (x >= limit);
  return static_cast<int64_t>(x % un);
}

double Rng::normal(double mean, double stddev) {
  // Box-Muller without a cached second value, so the stream position depends only on the call count.
  double u1;
  do u1 = random();
  while (u1 <= 0.0);
  const double u2 = random();
  return mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

double Rng::gamma(double shape) {
  if (shape <= 0) throw std::invalid_argument("Rng::gamma: shape must be positive");
  if (shape < 1.0) return gamma(shape + 1.0) * std::pow(random() + 1e-300, 1.0 / shape);
  // Marsaglia & Tsang (2000).
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = random();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0.0 && std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

double Rng::beta(double a, double b) {
  const double x = gamma(a), y = gamma(b);
  return x / (x + y);
}

uint64_t mix_seed(uint64_t seed, uint64_t index) {
  uint64_t x = seed ^ (index * 0xD1B54A32D192ED03ull);
  splitmix64(x);
  return splitmix64(x);
}

}  // namespace yolocpp::augment
