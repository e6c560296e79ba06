// Python's rounding where the spec says "Python round" (round-half-to-even), without touching the FP
// environment: exact ties go to the even neighbour, everything else to the nearest integer.
#pragma once
#include <cmath>

namespace yolocpp::util {

inline double round_half_even(double x) {
  const double f = std::floor(x);
  const double diff = x - f;
  if (diff > 0.5) return f + 1.0;
  if (diff < 0.5) return f;
  return std::fmod(f, 2.0) == 0.0 ? f : f + 1.0;
}

}  // namespace yolocpp::util
