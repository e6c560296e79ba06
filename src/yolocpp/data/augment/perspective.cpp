#include "yolocpp/data/augment/perspective.hpp"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "yolocpp/data/augment/letterbox.hpp"

namespace yolocpp::augment {

AffineDraw draw_affine(cv::Size in, int border, const AffineParams& p, Rng& rng) {
  AffineDraw d;
  d.out = cv::Size(in.width + 2 * border, in.height + 2 * border);
  cv::Matx33f C = cv::Matx33f::eye();
  C(0, 2) = static_cast<float>(-in.width / 2.0);
  C(1, 2) = static_cast<float>(-in.height / 2.0);

  cv::Matx33f P = cv::Matx33f::eye();
  P(2, 0) = static_cast<float>(rng.uniform(-p.perspective, p.perspective));
  P(2, 1) = static_cast<float>(rng.uniform(-p.perspective, p.perspective));

  const double a = rng.uniform(-p.degrees, p.degrees);
  const double sc = rng.uniform(1 - p.scale, 1 + p.scale);
  // OpenCV's rotation matrix about (0, 0): counter-clockwise positive, computed in double then stored float.
  const double rad = a * CV_PI / 180.0;
  const double alpha = sc * std::cos(rad), beta = sc * std::sin(rad);
  cv::Matx33f R = cv::Matx33f::eye();
  R(0, 0) = static_cast<float>(alpha), R(0, 1) = static_cast<float>(beta);
  R(1, 0) = static_cast<float>(-beta), R(1, 1) = static_cast<float>(alpha);

  cv::Matx33f S = cv::Matx33f::eye();
  S(0, 1) = static_cast<float>(std::tan(rng.uniform(-p.shear, p.shear) * CV_PI / 180.0));
  S(1, 0) = static_cast<float>(std::tan(rng.uniform(-p.shear, p.shear) * CV_PI / 180.0));

  cv::Matx33f T = cv::Matx33f::eye();
  T(0, 2) = static_cast<float>(rng.uniform(0.5 - p.translate, 0.5 + p.translate) * d.out.width);
  T(1, 2) = static_cast<float>(rng.uniform(0.5 - p.translate, 0.5 + p.translate) * d.out.height);

  d.M = T * S * R * P * C;  // right to left: centre, perspective, rotate/scale, shear, translate
  d.scale = static_cast<float>(sc);
  return d;
}

std::vector<bool> box_candidates(const std::vector<Box>& box1, const std::vector<Box>& box2, float wh_thr,
                                 float ar_thr, float area_thr) {
  constexpr float eps = 1e-16f;
  std::vector<bool> keep(box2.size());
  for (size_t j = 0; j < box2.size(); ++j) {
    const float w1 = box1[j][2] - box1[j][0], h1 = box1[j][3] - box1[j][1];
    const float w2 = box2[j][2] - box2[j][0], h2 = box2[j][3] - box2[j][1];
    const float ar = std::max(w2 / (h2 + eps), h2 / (w2 + eps));
    keep[j] = w2 > wh_thr && h2 > wh_thr && w2 * h2 / (w1 * h1 + eps) > area_thr && ar < ar_thr;
  }
  return keep;
}

std::vector<Box> transform_boxes(const std::vector<Box>& boxes, const cv::Matx33f& M, bool perspective) {
  std::vector<Box> out;
  out.reserve(boxes.size());
  for (const Box& b : boxes) {
    const float cx[4] = {b[0], b[2], b[0], b[2]}, cy[4] = {b[1], b[3], b[3], b[1]};
    float x1 = INFINITY, y1 = INFINITY, x2 = -INFINITY, y2 = -INFINITY;
    for (int c = 0; c < 4; ++c) {
      float x = M(0, 0) * cx[c] + M(0, 1) * cy[c] + M(0, 2);
      float y = M(1, 0) * cx[c] + M(1, 1) * cy[c] + M(1, 2);
      if (perspective) {
        const float z = M(2, 0) * cx[c] + M(2, 1) * cy[c] + M(2, 2);
        x /= z;
        y /= z;
      }
      x1 = std::min(x1, x), x2 = std::max(x2, x);
      y1 = std::min(y1, y), y2 = std::max(y2, y);
    }
    out.push_back({x1, y1, x2, y2});
  }
  return out;
}

void apply_affine(Sample& s, const AffineDraw& d, int border, bool perspective) {
  const cv::Scalar grey(114, 114, 114);
  if (border != 0 || d.M != cv::Matx33f::eye()) {
    cv::Mat dst;
    if (perspective) {
      cv::warpPerspective(s.img, dst, cv::Mat(d.M), d.out, cv::INTER_LINEAR, cv::BORDER_CONSTANT, grey);
    } else {
      const cv::Matx23f A(d.M(0, 0), d.M(0, 1), d.M(0, 2), d.M(1, 0), d.M(1, 1), d.M(1, 2));
      cv::warpAffine(s.img, dst, cv::Mat(A), d.out, cv::INTER_LINEAR, cv::BORDER_CONSTANT, grey);
    }
    s.img = dst;
  }
  Instances moved;
  moved.boxes = transform_boxes(s.inst.boxes, d.M, perspective);
  moved.cls = s.inst.cls;
  moved.clip(static_cast<float>(d.out.width), static_cast<float>(d.out.height));
  std::vector<Box> scaled = s.inst.boxes;
  for (auto& b : scaled)
    for (float& v : b) v *= d.scale;
  moved.filter(box_candidates(scaled, moved.boxes));
  s.inst = std::move(moved);
  s.mosaic_border.reset();
  s.resized_shape = s.img.size();
}

void random_perspective(Sample& s, const AffineParams& p, cv::Size target, Rng& rng) {
  int border = 0;
  if (s.mosaic_border) {
    border = *s.mosaic_border;
  } else {
    letterbox_sample(s, target.height, target.width);
  }
  const AffineDraw d = draw_affine(s.img.size(), border, p, rng);
  apply_affine(s, d, border, p.perspective != 0.0);
}

}  // namespace yolocpp::augment
