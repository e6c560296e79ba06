#include "yolocpp/data/augment/hsv.hpp"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

namespace yolocpp::augment {

HsvLuts hsv_luts(double gh, double gs, double gv) {
  HsvLuts l;
  for (int i = 0; i < 256; ++i) {
    const double x = i;
    double hue = std::fmod(x + gh * 180.0, 180.0);
    if (hue < 0) hue += 180.0;  // Python's floored modulo
    l.h[i] = static_cast<uint8_t>(hue);
    l.s[i] = static_cast<uint8_t>(std::clamp(x * (1.0 + gs), 0.0, 255.0));
    l.v[i] = static_cast<uint8_t>(std::clamp(x * (1.0 + gv), 0.0, 255.0));
  }
  l.s[0] = 0;
  return l;
}

void apply_hsv(cv::Mat& bgr, const HsvLuts& luts) {
  if (bgr.channels() != 3) return;  // upstream only adjusts 3-channel images
  cv::Mat hsv;
  cv::cvtColor(bgr, hsv, cv::COLOR_BGR2HSV);
  std::vector<cv::Mat> ch;
  cv::split(hsv, ch);
  const cv::Mat lh(1, 256, CV_8U, const_cast<uint8_t*>(luts.h.data()));
  const cv::Mat ls(1, 256, CV_8U, const_cast<uint8_t*>(luts.s.data()));
  const cv::Mat lv(1, 256, CV_8U, const_cast<uint8_t*>(luts.v.data()));
  cv::LUT(ch[0], lh, ch[0]);
  cv::LUT(ch[1], ls, ch[1]);
  cv::LUT(ch[2], lv, ch[2]);
  cv::merge(ch, hsv);
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
}

void random_hsv(cv::Mat& bgr, double hgain, double sgain, double vgain, Rng& rng) {
  if (hgain == 0.0 && sgain == 0.0 && vgain == 0.0) return;
  const double gh = rng.uniform(-1, 1) * hgain;
  const double gs = rng.uniform(-1, 1) * sgain;
  const double gv = rng.uniform(-1, 1) * vgain;
  apply_hsv(bgr, hsv_luts(gh, gs, gv));
}

}  // namespace yolocpp::augment
