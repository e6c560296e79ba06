// RandomHSV via look-up tables (ultralytics 8.4.27 data/augment.py RandomHSV: the >= 8.3.79 formulas).
#pragma once
#include <array>

#include <opencv2/core.hpp>

#include "yolocpp/data/augment/rng.hpp"

namespace yolocpp::augment {

struct HsvLuts {
  std::array<uint8_t, 256> h, s, v;
};

// LUTs for drawn gains g (already U(-1,1) * hsv_x): hue (x + g_h*180) mod 180 (floored), saturation and
// value clip(x * (1 + g), 0, 255) with lut_s[0] = 0; float64 maths, truncating uint8 cast.
HsvLuts hsv_luts(double gh, double gs, double gv);
// BGR -> HSV (8-bit), LUT per channel, HSV -> BGR, in place.
void apply_hsv(cv::Mat& bgr, const HsvLuts& luts);
// Draws the 3 gains and applies them; a no-op (and no draws) when all three hyperparameters are 0.
void random_hsv(cv::Mat& bgr, double hgain, double sgain, double vgain, Rng& rng);

}  // namespace yolocpp::augment
