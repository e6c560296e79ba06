// RandomPerspective (ultralytics 8.3.58 data/augment.py): one random affine / perspective warp of image and boxes, then
// the box_candidates filter that drops boxes squashed or pushed out of the frame.
#pragma once
#include <opencv2/core.hpp>

#include "yolocpp/data/augment/rng.hpp"
#include "yolocpp/data/augment/types.hpp"

namespace yolocpp::augment {

struct AffineParams {
  double degrees = 0.0, translate = 0.1, scale = 0.5, shear = 0.0, perspective = 0.0;
};

struct AffineDraw {
  cv::Matx33f M;         // T * S * R * P * C (float32, like upstream)
  float scale = 1.0f;    // the drawn scale factor (box_candidates compares against boxes * scale)
  cv::Size out;          // (W, H) = input + 2 * border
};

// Draws the matrix for an input of size `in` and a border (mosaic border or 0), parameters in upstream order:
// perspective x, y; angle; scale; shear x, y; translate x, y.
AffineDraw draw_affine(cv::Size in, int border, const AffineParams& p, Rng& rng);

// Keep mask: w2 > wh_thr, h2 > wh_thr, area ratio > area_thr, aspect < ar_thr (box1 = original * scale,
// box2 = transformed and clipped).
std::vector<bool> box_candidates(const std::vector<Box>& box1, const std::vector<Box>& box2, float wh_thr = 2.f,
                                 float ar_thr = 100.f, float area_thr = 0.1f);

// Transforms boxes by M via their 4 corners (homogeneous divide only if `perspective`): min/max box.
std::vector<Box> transform_boxes(const std::vector<Box>& boxes, const cv::Matx33f& M, bool perspective);

// Applies a given draw to a sample: warp (skipped when border == 0 and M == I), box transform, clip to the
// output, candidate filter. Clears mosaic_border and sets resized_shape to the output size.
void apply_affine(Sample& s, const AffineDraw& d, int border, bool perspective);

// The whole transform. A sample without mosaic_border is first letterboxed to `target` (h, w as cv::Size
// w, h; usually imgsz x imgsz or the rect batch shape) with auto=false, scaleup=true, centred, border 0.
void random_perspective(Sample& s, const AffineParams& p, cv::Size target, Rng& rng);

}  // namespace yolocpp::augment
