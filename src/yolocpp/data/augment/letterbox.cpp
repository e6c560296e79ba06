#include "yolocpp/data/augment/letterbox.hpp"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "yolocpp/util/error.hpp"

namespace yolocpp::augment {


namespace {
// Python's % on numbers: result has the sign of the divisor.
double py_mod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0.0 && ((m < 0) != (b < 0))) m += b;
  return m;
}
}  // namespace

Letterboxed letterbox_geometry(cv::Size src, int new_h, int new_w, const LetterboxOptions& opt) {
  if (src.width <= 0 || src.height <= 0)
    throw DataError("letterbox: empty source image (" + std::to_string(src.width) + "x" +
                    std::to_string(src.height) + "); check that the image file decodes");
  if (new_h <= 0 || new_w <= 0)
    throw ConfigError("letterbox: target shape " + std::to_string(new_h) + "x" + std::to_string(new_w) +
                      " must be positive; check imgsz");
  Letterboxed lb;
  const double h = src.height, w = src.width;
  double r = std::min(new_h / h, new_w / w);
  if (!opt.scaleup) r = std::min(r, 1.0);
  lb.ratio_w = lb.ratio_h = r;
  lb.new_unpad = cv::Size(static_cast<int>(round_half_even(w * r)), static_cast<int>(round_half_even(h * r)));
  double dw = new_w - lb.new_unpad.width, dh = new_h - lb.new_unpad.height;
  if (opt.auto_stride) {
    dw = py_mod(dw, opt.stride);
    dh = py_mod(dh, opt.stride);
  } else if (opt.scale_fill) {
    dw = dh = 0.0;
    lb.new_unpad = cv::Size(new_w, new_h);
    lb.ratio_w = new_w / w;
    lb.ratio_h = new_h / h;
  }
  if (opt.center) {
    dw /= 2;
    dh /= 2;
  }
  // The halves are multiples of 0.5, so the +-0.1 nudge never ties: an odd total puts the extra pixel at
  // the bottom / right.
  lb.top = opt.center ? static_cast<int>(round_half_even(dh - 0.1)) : 0;
  lb.bottom = static_cast<int>(round_half_even(dh + 0.1));
  lb.left = opt.center ? static_cast<int>(round_half_even(dw - 0.1)) : 0;
  lb.right = static_cast<int>(round_half_even(dw + 0.1));
  return lb;
}

Letterboxed letterbox(const cv::Mat& img, int new_h, int new_w, const LetterboxOptions& opt) {
  Letterboxed lb = letterbox_geometry(img.size(), new_h, new_w, opt);
  cv::Mat resized = img;
  // Resampling an image that already has the right size would still blur it slightly: skip, as upstream.
  if (img.size() != lb.new_unpad) cv::resize(img, resized, lb.new_unpad, 0, 0, cv::INTER_LINEAR);
  const cv::Scalar v(opt.pad_value, opt.pad_value, opt.pad_value);
  if (lb.top || lb.bottom || lb.left || lb.right)
    cv::copyMakeBorder(resized, lb.img, lb.top, lb.bottom, lb.left, lb.right, cv::BORDER_CONSTANT, v);
  else
    lb.img = resized.data == img.data ? img.clone() : resized;
  return lb;
}

void letterbox_boxes(Instances& inst, const Letterboxed& lb) {
  // float32 like upstream's numpy boxes: the python-float ratio is cast to float32 first.
  const float rw = static_cast<float>(lb.ratio_w), rh = static_cast<float>(lb.ratio_h);
  const float l = static_cast<float>(lb.left), t = static_cast<float>(lb.top);
  for (auto& b : inst.boxes) {
    b[0] = b[0] * rw + l;
    b[1] = b[1] * rh + t;
    b[2] = b[2] * rw + l;
    b[3] = b[3] * rh + t;
  }
}

void letterbox_sample(Sample& s, int new_h, int new_w, const LetterboxOptions& opt) {
  Letterboxed lb = letterbox(s.img, new_h, new_w, opt);
  letterbox_boxes(s.inst, lb);
  s.img = lb.img;
  s.pad_lt = {static_cast<double>(lb.left), static_cast<double>(lb.top)};
}

}  // namespace yolocpp::augment
