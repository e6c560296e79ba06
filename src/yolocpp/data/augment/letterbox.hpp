// LetterBox (ultralytics 8.3.58 data/augment.py): resize keeping the aspect ratio, then pad to the target shape with
// 114 grey. Used by validation, predict and the no-mosaic training path. Pixel-identical to Ultralytics on the same
// OpenCV (cv::resize INTER_LINEAR, only when the size changes; cv::copyMakeBorder).
#pragma once
#include "yolocpp/util/pymath.hpp"
#include <opencv2/core.hpp>

#include "yolocpp/data/augment/types.hpp"

namespace yolocpp::augment {

// Python's round(): half to even (std::round rounds half away from zero).
using util::round_half_even;  // Python round (util/pymath.hpp)

struct LetterboxOptions {
  bool auto_stride = false;  // Ultralytics `auto`: pad only to the next multiple of `stride`
  bool scale_fill = false;   // stretch to the target, no padding
  bool scaleup = true;       // allow r > 1 (val uses false)
  bool center = true;        // split padding on both sides (else all at bottom/right)
  int stride = 32;
  int pad_value = 114;
};

struct Letterboxed {
  cv::Mat img;
  double ratio_w = 1.0, ratio_h = 1.0;  // scale applied to x and y (equal unless scale_fill)
  cv::Size new_unpad;                   // (w, h) of the resized image before padding
  int left = 0, top = 0, right = 0, bottom = 0;
};

// Pure geometry of a letterbox (no pixels): for tables and for callers that only need the shapes.
Letterboxed letterbox_geometry(cv::Size src /*w,h*/, int new_h, int new_w, const LetterboxOptions& opt = {});
Letterboxed letterbox(const cv::Mat& img, int new_h, int new_w, const LetterboxOptions& opt = {});
// Boxes of the source image -> boxes of the letterboxed image (xyxy * ratio + (left, top)), float32.
void letterbox_boxes(Instances& inst, const Letterboxed& lb);
// Applies letterbox to a whole sample: image, boxes, resized_shape untouched, pad_lt = (left, top).
void letterbox_sample(Sample& s, int new_h, int new_w, const LetterboxOptions& opt = {});

}  // namespace yolocpp::augment
