// Box and pixel maths of each training transform with fixed parameters, plus determinism of the pipeline.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

#include <gtest/gtest.h>

#include "augment/md5.hpp"
#include "yolocpp/data/augment/flip.hpp"
#include "yolocpp/data/augment/hsv.hpp"
#include "yolocpp/data/augment/letterbox.hpp"
#include "yolocpp/data/augment/load.hpp"
#include "yolocpp/data/augment/mixup.hpp"
#include "yolocpp/data/augment/mosaic.hpp"
#include "yolocpp/data/augment/perspective.hpp"
#include "yolocpp/data/augment/pipeline.hpp"
#include "yolocpp/data/augment/rng.hpp"
#include "yolocpp/util/error.hpp"

using namespace yolocpp::augment;
using yolocpp::test::md5_mat;

namespace {
void expect_box(const Box& b, float x1, float y1, float x2, float y2, float tol = 1e-4f) {
  EXPECT_NEAR(b[0], x1, tol);
  EXPECT_NEAR(b[1], y1, tol);
  EXPECT_NEAR(b[2], x2, tol);
  EXPECT_NEAR(b[3], y2, tol);
}
Sample solid(int w, int h, cv::Scalar c) {
  Sample s;
  s.img = cv::Mat(h, w, CV_8UC3, c);
  s.ori_shape = s.resized_shape = s.img.size();
  return s;
}
cv::Vec3b px(const cv::Mat& m, int x, int y) { return m.at<cv::Vec3b>(y, x); }
}  // namespace

// ---------------------------------------------------------------- Rng
TEST(AugRng, SameSeedSameStreamDifferentSeedDiffers) {
  Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    differs |= x != c.next_u64();
  }
  EXPECT_TRUE(differs);
  EXPECT_NE(mix_seed(0, 1), mix_seed(0, 2));
  EXPECT_EQ(mix_seed(7, 3), mix_seed(7, 3));
}

TEST(AugRng, RangesAndMoments) {
  Rng r(1);
  double sum = 0;
  std::set<int64_t> seen;
  for (int i = 0; i < 20000; ++i) {
    const double u = r.uniform(-2, 3);
    ASSERT_GE(u, -2);
    ASSERT_LT(u, 3);
    sum += u;
    const int64_t k = r.randint(7);
    ASSERT_GE(k, 0);
    ASSERT_LT(k, 7);
    seen.insert(k);
  }
  EXPECT_NEAR(sum / 20000, 0.5, 0.05);
  EXPECT_EQ(seen.size(), 7u);
  // Beta(32, 32): mean 0.5, sd sqrt(1/(4*65)) = 0.0620.
  double m = 0, m2 = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    const double x = draw_mixup_ratio(r);
    ASSERT_GT(x, 0);
    ASSERT_LT(x, 1);
    m += x;
    m2 += x * x;
  }
  m /= n;
  const double sd = std::sqrt(m2 / n - m * m);
  EXPECT_NEAR(m, 0.5, 0.005);
  EXPECT_NEAR(sd, 0.0620, 0.004);
}

// ---------------------------------------------------------------- flips
TEST(AugFlip, LeftRightAndUpDownMoveBoxesAndPixels) {
  Sample s = solid(100, 80, cv::Scalar::all(0));
  s.img.at<cv::Vec3b>(20, 10) = cv::Vec3b(1, 2, 3);
  s.inst.push({10, 5, 30, 25}, 4);
  Sample lr = s;
  lr.img = s.img.clone();
  flip_lr(lr);
  expect_box(lr.inst.boxes[0], 70, 5, 90, 25);
  EXPECT_EQ(px(lr.img, 89, 20), cv::Vec3b(1, 2, 3));
  Sample ud = s;
  ud.img = s.img.clone();
  flip_ud(ud);
  expect_box(ud.inst.boxes[0], 10, 55, 30, 75);
  EXPECT_EQ(px(ud.img, 10, 59), cv::Vec3b(1, 2, 3));
  EXPECT_EQ(ud.inst.cls[0], 4);

  Rng rng(0);
  Sample both = s;
  both.img = s.img.clone();
  random_flip(both, 1.0, 1.0, rng);
  expect_box(both.inst.boxes[0], 70, 55, 90, 75);
  Sample none = s;
  random_flip(none, 0.0, 0.0, rng);
  expect_box(none.inst.boxes[0], 10, 5, 30, 25);
}

// ---------------------------------------------------------------- mosaic
TEST(AugMosaic, PlacementCropShiftClipAndDrop) {
  // imgsz 100 -> canvas 200, centre (120, 80).
  Sample t0 = solid(60, 100, cv::Scalar::all(0));
  for (int y = 0; y < 100; ++y)
    for (int x = 0; x < 60; ++x) t0.img.at<cv::Vec3b>(y, x) = cv::Vec3b(x, y, 7);
  t0.inst.push({10, 10, 50, 50}, 0);  // shifted by (60, -20): y1 clipped to 0
  t0.inst.push({10, 0, 50, 15}, 1);   // lies in the cropped-off top rows: dropped
  Sample t1 = solid(100, 50, cv::Scalar(11, 11, 11));
  t1.inst.push({90, 10, 100, 20}, 2);  // beyond the right edge after the shift: dropped
  t1.inst.push({0, 0, 10, 10}, 3);
  Sample t2 = solid(50, 50, cv::Scalar(22, 22, 22));
  t2.inst.push({5, 5, 15, 15}, 4);
  Sample t3 = solid(90, 150, cv::Scalar(33, 33, 33));
  t3.inst.push({70, 100, 90, 140}, 5);  // clipped at the canvas corner

  Sample m = mosaic4({&t0, &t1, &t2, &t3}, 100, 120, 80);
  ASSERT_EQ(m.img.size(), cv::Size(200, 200));
  ASSERT_TRUE(m.mosaic_border.has_value());
  EXPECT_EQ(*m.mosaic_border, -50);
  ASSERT_EQ(m.inst.size(), 4u);
  EXPECT_EQ(m.inst.cls, (std::vector<int>{0, 3, 4, 5}));
  expect_box(m.inst.boxes[0], 70, 0, 110, 30);
  expect_box(m.inst.boxes[1], 120, 30, 130, 40);
  expect_box(m.inst.boxes[2], 75, 85, 85, 95);
  expect_box(m.inst.boxes[3], 190, 180, 200, 200);
  // tile 0: canvas (60..119, 0..79) <- source (0..59, 20..99)
  EXPECT_EQ(px(m.img, 59, 0), cv::Vec3b(114, 114, 114));
  EXPECT_EQ(px(m.img, 60, 0), cv::Vec3b(0, 20, 7));
  EXPECT_EQ(px(m.img, 119, 79), cv::Vec3b(59, 99, 7));
  // tile 1: canvas (120..199, 30..79)
  EXPECT_EQ(px(m.img, 130, 29), cv::Vec3b(114, 114, 114));
  EXPECT_EQ(px(m.img, 130, 30), cv::Vec3b(11, 11, 11));
  EXPECT_EQ(px(m.img, 199, 79), cv::Vec3b(11, 11, 11));
  // tile 2: canvas (70..119, 80..129)
  EXPECT_EQ(px(m.img, 69, 100), cv::Vec3b(114, 114, 114));
  EXPECT_EQ(px(m.img, 70, 100), cv::Vec3b(22, 22, 22));
  EXPECT_EQ(px(m.img, 100, 130), cv::Vec3b(114, 114, 114));
  // tile 3: canvas (120..199, 80..199)
  EXPECT_EQ(px(m.img, 120, 80), cv::Vec3b(33, 33, 33));
  EXPECT_EQ(px(m.img, 199, 199), cv::Vec3b(33, 33, 33));
}

TEST(AugMosaic, CentreDrawnInMiddleHalf) {
  Sample t = solid(64, 64, cv::Scalar::all(5));
  Rng rng(3);
  for (int i = 0; i < 50; ++i) {
    Sample m = mosaic4({&t, &t, &t, &t}, 64, rng);
    // The four tiles meet at the centre, which lies in [32, 96): the canvas centre area is always covered.
    EXPECT_EQ(px(m.img, 95, 95), cv::Vec3b(5, 5, 5));
    EXPECT_EQ(px(m.img, 32, 32), cv::Vec3b(5, 5, 5));
  }
}

// ---------------------------------------------------------------- perspective
TEST(AugPerspective, TransformBoxesCornersAndRotation) {
  // x' = y, y' = 100 - x (a 90 degree turn): min/max of the 4 corners.
  const cv::Matx33f R(0, 1, 0, -1, 0, 100, 0, 0, 1);
  auto out = transform_boxes({{10, 20, 30, 60}}, R, false);
  expect_box(out[0], 20, 70, 60, 90);
  // Homogeneous divide only with perspective.
  const cv::Matx33f H(1, 0, 0, 0, 1, 0, 0, 0, 2);
  expect_box(transform_boxes({{10, 20, 30, 60}}, H, true)[0], 5, 10, 15, 30);
  expect_box(transform_boxes({{10, 20, 30, 60}}, H, false)[0], 10, 20, 30, 60);
}

TEST(AugPerspective, BoxCandidateThresholds) {
  auto keep = [](Box b1, Box b2) -> bool { return box_candidates({b1}, {b2})[0]; };
  EXPECT_FALSE(keep({0, 0, 300, 2.5f}, {0, 0, 300, 2.5f}));  // aspect 120
  EXPECT_FALSE(keep({0, 0, 250, 2.5f}, {0, 0, 250, 2.5f}));  // aspect 100 is not < 100
  EXPECT_TRUE(keep({0, 0, 240, 2.5f}, {0, 0, 240, 2.5f}));   // aspect 96
  EXPECT_FALSE(keep({0, 0, 100, 100}, {0, 0, 10, 99}));      // area ratio 0.099
  EXPECT_TRUE(keep({0, 0, 100, 100}, {0, 0, 11, 99}));       // area ratio 0.1089
  EXPECT_FALSE(keep({0, 0, 2, 50}, {0, 0, 2, 50}));          // width 2 is not > 2
  EXPECT_TRUE(keep({0, 0, 2.1f, 50}, {0, 0, 2.1f, 50}));
}

TEST(AugPerspective, KnownShiftClipsAndFilters) {
  Sample s = solid(100, 100, cv::Scalar::all(9));
  s.inst.push({10, 10, 50, 50}, 0);   // -> (90,10,130,50) clipped (90,10,100,50): area 0.25 kept
  s.inst.push({15, 60, 30, 90}, 1);   // -> (95,..,100,..): w 5, area 1/3 kept
  s.inst.push({18, 10, 50, 50}, 2);   // -> w 2: dropped
  s.inst.push({30, 10, 60, 50}, 3);   // fully outside: dropped
  AffineDraw d;
  d.M = cv::Matx33f(1, 0, 80, 0, 1, 0, 0, 0, 1);
  d.out = {100, 100};
  d.scale = 1.f;
  apply_affine(s, d, 0, false);
  ASSERT_EQ(s.inst.size(), 2u);
  EXPECT_EQ(s.inst.cls, (std::vector<int>{0, 1}));
  expect_box(s.inst.boxes[0], 90, 10, 100, 50);
  expect_box(s.inst.boxes[1], 95, 60, 100, 90);
  EXPECT_EQ(px(s.img, 79, 50), cv::Vec3b(114, 114, 114));  // revealed border is grey
  EXPECT_EQ(px(s.img, 80, 50), cv::Vec3b(9, 9, 9));
}

TEST(AugPerspective, ScaleUsesDrawnScaleForAreaRatio) {
  // A 0.3x warp: the 100x100 box becomes 30x30. Against the original it would be an area ratio of 0.09
  // (dropped); against the original times the drawn scale it is 1.0 (kept), as upstream.
  Sample s = solid(100, 100, cv::Scalar::all(9));
  s.inst.push({0, 0, 100, 100}, 0);
  AffineDraw d;
  d.M = cv::Matx33f(0.3f, 0, 10, 0, 0.3f, 20, 0, 0, 1);
  d.out = {100, 100};
  d.scale = 0.3f;
  Sample t = s;
  apply_affine(s, d, 0, false);
  ASSERT_EQ(s.inst.size(), 1u);
  expect_box(s.inst.boxes[0], 10, 20, 40, 50);
  d.scale = 1.f;  // same warp, comparison against the unscaled box
  apply_affine(t, d, 0, false);
  EXPECT_EQ(t.inst.size(), 0u);
}

TEST(AugPerspective, MosaicBorderCropsCanvasCentre) {
  // Zero translate/scale: M maps the 200 canvas centre to the 100 output centre (border -50).
  Sample m = solid(200, 200, cv::Scalar::all(0));
  for (int y = 0; y < 200; ++y)
    for (int x = 0; x < 200; ++x) m.img.at<cv::Vec3b>(y, x) = cv::Vec3b(x, y, 0);
  m.mosaic_border = -50;
  m.inst.push({100, 100, 120, 130}, 1);
  m.inst.push({0, 0, 20, 20}, 2);  // outside the crop: dropped
  AffineParams p{0, 0, 0, 0, 0};
  Rng rng(0);
  random_perspective(m, p, {100, 100}, rng);
  ASSERT_EQ(m.img.size(), cv::Size(100, 100));
  EXPECT_FALSE(m.mosaic_border.has_value());
  EXPECT_EQ(px(m.img, 0, 0), cv::Vec3b(50, 50, 0));
  EXPECT_EQ(px(m.img, 99, 10), cv::Vec3b(149, 60, 0));
  ASSERT_EQ(m.inst.size(), 1u);
  expect_box(m.inst.boxes[0], 50, 50, 70, 80);
}

TEST(AugPerspective, NoMosaicLetterboxesFirst) {
  Sample s = solid(200, 100, cv::Scalar::all(1));
  s.inst.push({0, 0, 100, 50}, 0);
  AffineParams p{0, 0, 0, 0, 0};
  Rng rng(0);
  random_perspective(s, p, {64, 64}, rng);
  ASSERT_EQ(s.img.size(), cv::Size(64, 64));
  expect_box(s.inst.boxes[0], 0, 16, 32, 32);
  EXPECT_EQ(px(s.img, 5, 15), cv::Vec3b(114, 114, 114));
  EXPECT_EQ(px(s.img, 5, 16), cv::Vec3b(1, 1, 1));
}

TEST(AugPerspective, DefaultDrawKeepsCentreNearMiddle) {
  AffineParams p;  // translate 0.1, scale 0.5
  Rng rng(5);
  for (int i = 0; i < 200; ++i) {
    AffineDraw d = draw_affine({1280, 1280}, -320, p, rng);
    EXPECT_EQ(d.out, cv::Size(640, 640));
    EXPECT_GE(d.scale, 0.5f);
    EXPECT_LE(d.scale, 1.5f);
    // The canvas centre (640, 640) lands in [0.4, 0.6] * 640.
    const float cx = d.M(0, 0) * 640 + d.M(0, 1) * 640 + d.M(0, 2);
    EXPECT_GE(cx, 0.4f * 640 - 1e-3f);
    EXPECT_LE(cx, 0.6f * 640 + 1e-3f);
    EXPECT_NEAR(d.M(0, 0), d.scale, 1e-6);  // no rotation or shear by default
    EXPECT_EQ(d.M(0, 1), 0.f);
  }
}

// ---------------------------------------------------------------- mixup
TEST(AugMixup, TruncatesAndConcatenatesLabels) {
  Sample a = solid(8, 8, cv::Scalar(100, 0, 255));
  a.inst.push({1, 1, 2, 2}, 7);
  Sample b = solid(8, 8, cv::Scalar(203, 1, 0));
  b.inst.push({3, 3, 4, 4}, 8);
  b.inst.push({5, 5, 6, 6}, 9);
  mixup(a, b, 0.5);
  // 151.5 truncates to 151 (a rounding blend would give 152); 0.5 -> 0; 127.5 -> 127.
  EXPECT_EQ(px(a.img, 3, 3), cv::Vec3b(151, 0, 127));
  EXPECT_EQ(a.inst.cls, (std::vector<int>{7, 8, 9}));
  expect_box(a.inst.boxes[2], 5, 5, 6, 6);
  Sample c = solid(9, 8, cv::Scalar::all(0));
  EXPECT_THROW(mixup(a, c, 0.5), yolocpp::DataError);
}

// ---------------------------------------------------------------- HSV
TEST(AugHsv, ZeroGainsAreIdentityAndDrawNothing) {
  cv::Mat img(32, 32, CV_8UC3);
  cv::randu(img, 0, 256);
  cv::Mat before = img.clone();
  Rng r(9), ref(9);
  random_hsv(img, 0, 0, 0, r);
  EXPECT_EQ(cv::norm(img, before, cv::NORM_INF), 0.0);
  EXPECT_EQ(r.next_u64(), ref.next_u64());
}

TEST(AugHsv, LutValues) {
  HsvLuts l = hsv_luts(0.01, 0.5, -0.2);  // hue shift +1.8
  EXPECT_EQ(l.h[0], 1);
  EXPECT_EQ(l.h[100], 101);
  EXPECT_EQ(l.h[178], 179);   // 179.8
  EXPECT_EQ(l.h[179], 0);     // 180.8 mod 180 = 0.8
  EXPECT_EQ(l.s[0], 0);
  EXPECT_EQ(l.s[1], 1);       // 1.5
  EXPECT_EQ(l.s[100], 150);
  EXPECT_EQ(l.s[200], 255);   // clipped
  EXPECT_EQ(l.v[100], 80);
  EXPECT_EQ(l.v[101], 80);    // 80.8 truncates
  EXPECT_EQ(l.v[255], 204);
  HsvLuts n = hsv_luts(-0.01, 0.0, 0.0);  // floored modulo: -1.8 -> 178.2
  EXPECT_EQ(n.h[0], 178);
  EXPECT_EQ(n.h[1], 179);
  EXPECT_EQ(n.h[2], 0);
  EXPECT_EQ(n.s[0], 0);
  EXPECT_EQ(n.s[77], 77);
}

TEST(AugHsv, ChannelsMapToHueSaturationValue) {
  cv::Mat img(16, 16, CV_8UC3);
  cv::randu(img, 0, 256);
  cv::Mat dark = img.clone();
  apply_hsv(dark, hsv_luts(0, 0, -1));  // V -> 0: black
  EXPECT_EQ(cv::countNonZero(dark.reshape(1)), 0);
  cv::Mat grey = img.clone();
  apply_hsv(grey, hsv_luts(0, -1, 0));  // S -> 0: B = G = R
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) {
      const auto p = px(grey, x, y);
      EXPECT_EQ(p[0], p[1]);
      EXPECT_EQ(p[1], p[2]);
    }
}

// ---------------------------------------------------------------- pipeline
namespace {
// 6 synthetic images of different shapes, each with two boxes, as a loader would hand them over.
Sample synth_load(int i, int imgsz) {
  cv::Mat im(120 + 20 * i, 160 - 10 * i, CV_8UC3);
  cv::RNG cvr(100 + i);
  cvr.fill(im, cv::RNG::UNIFORM, 0, 256);
  Sample s = make_sample(im, imgsz);
  s.inst = from_xywhn({{0.5f, 0.5f, 0.4f, 0.3f}, {0.25f, 0.7f, 0.2f, 0.2f}}, {i, i + 10}, s.img.cols, s.img.rows);
  return s;
}
}  // namespace

TEST(AugPipeline, SameSeedSameSampleAnyInstance) {
  const int imgsz = 96;
  Hyp hyp;
  hyp.mixup = 0.5;
  hyp.degrees = 5;
  hyp.flipud = 0.5;
  auto make = [&] { return TrainTransform(hyp, imgsz, 6, [&](int i) { return synth_load(i, imgsz); }); };
  TrainTransform t1 = make(), t2 = make();
  std::set<std::string> distinct;
  for (int k = 0; k < 12; ++k) {
    Rng r1(mix_seed(1234, k)), r2(mix_seed(1234, k));
    Sample a = t1(k % 6, r1), b = t2(k % 6, r2);
    ASSERT_EQ(a.img.size(), cv::Size(imgsz, imgsz));
    EXPECT_EQ(md5_mat(a.img), md5_mat(b.img));
    EXPECT_EQ(a.inst.cls, b.inst.cls);
    ASSERT_EQ(a.inst.size(), b.inst.size());
    for (size_t j = 0; j < a.inst.size(); ++j) {
      EXPECT_EQ(a.inst.boxes[j], b.inst.boxes[j]);
      for (int q = 0; q < 4; ++q) {
        EXPECT_GE(a.inst.boxes[j][q], 0.f);
        EXPECT_LE(a.inst.boxes[j][q], static_cast<float>(imgsz));
      }
    }
    distinct.insert(md5_mat(a.img));
  }
  EXPECT_EQ(distinct.size(), 12u);  // different seeds give different samples
}

TEST(AugPipeline, NoMosaicIdentityAffineKeepsLetterboxedBoxesAndMixupConcatenates) {
  const int imgsz = 64;
  Hyp hyp;
  hyp.mosaic = 0;
  hyp.mixup = 1.0;
  hyp.translate = hyp.scale = 0;
  hyp.hsv_h = hyp.hsv_s = hyp.hsv_v = 0;
  hyp.fliplr = 0;
  TrainTransform t(hyp, imgsz, 6, [&](int i) { return synth_load(i, imgsz); });
  Rng rng(77);
  Sample s = t(2, rng);
  ASSERT_EQ(s.img.size(), cv::Size(64, 64));
  // Image 2 (h 160 x w 140) loads to 56 x 64 (w x h), letterboxed with 4 px left and right.
  Sample ref = synth_load(2, imgsz);
  Letterboxed lb = letterbox_geometry(ref.img.size(), 64, 64);
  EXPECT_EQ(lb.left, 4);
  letterbox_boxes(ref.inst, lb);
  ASSERT_GE(s.inst.size(), 3u);  // its own 2 boxes, then the partner's
  EXPECT_EQ(s.inst.cls[0], 2);
  EXPECT_EQ(s.inst.cls[1], 12);
  expect_box(s.inst.boxes[0], ref.inst.boxes[0][0], ref.inst.boxes[0][1], ref.inst.boxes[0][2], ref.inst.boxes[0][3]);
  EXPECT_EQ(s.inst.size(), 4u);
  EXPECT_EQ(s.inst.cls[3], s.inst.cls[2] + 10);  // the partner's pair
}

TEST(AugPipeline, CloseMosaicAndRectTargets) {
  const int imgsz = 64;
  Hyp hyp;
  hyp.mixup = 0.3;
  TrainTransform t(hyp, imgsz, 6, [&](int i) { return synth_load(i, imgsz); });
  t.close_mosaic();
  EXPECT_EQ(t.hyp().mosaic, 0.0);
  EXPECT_EQ(t.hyp().mixup, 0.0);
  TrainOptions o;
  o.imgsz = imgsz;
  o.dataset_size = 6;
  o.rect = true;
  TrainTransform r(Hyp{}, o, [&](int i) { return synth_load(i, imgsz); });
  EXPECT_EQ(r.hyp().mosaic, 0.0);
  Rng rng(1);
  Sample s = r(0, rng, cv::Size(64, 32));
  EXPECT_EQ(s.img.size(), cv::Size(64, 32));
}

TEST(AugPipeline, BufferIsBoundedAndHoldsRecentImages) {
  int loads = 0;
  TrainOptions o;
  o.imgsz = 32;
  o.dataset_size = 6;
  o.buffer_length = 4;
  Hyp hyp;
  hyp.mosaic = 0;
  TrainTransform t(hyp, o, [&](int i) { ++loads; return synth_load(i, 32); });
  Rng rng(0);
  for (int i = 0; i < 6; ++i) t(i, rng);
  EXPECT_EQ(loads, 6);
  EXPECT_EQ(t.buffer().size(), 3u);  // upstream evicts once the length reaches the limit
  EXPECT_EQ(t.buffer().back(), 5);
  t(5, rng);  // buffered: no new decode
  EXPECT_EQ(loads, 6);
  t(0, rng);  // evicted earlier: decoded again
  EXPECT_EQ(loads, 7);
  EXPECT_THROW(t(6, rng), yolocpp::DataError);
  EXPECT_EQ(default_buffer_length(5000, 16), 128u);
  EXPECT_EQ(default_buffer_length(50, 16), 50u);
}

TEST(AugPipeline, ValLetterboxAndFormat) {
  // A 1080 x 810 (h x w) image at imgsz 640: load gives 480 x 640, val letterbox pads 80 left/right.
  Sample s = make_sample(cv::Mat(1080, 810, CV_8UC3, cv::Scalar(10, 20, 30)), 640);
  s.inst.push({0, 0, 480, 640}, 1);
  ValTransform v(640);
  Sample o = v(s);
  EXPECT_EQ(o.img.size(), cv::Size(640, 640));
  EXPECT_EQ(o.pad_lt[0], 80);
  EXPECT_EQ(o.pad_lt[1], 0);
  EXPECT_DOUBLE_EQ(o.ratio_hw[0], 640.0 / 1080);
  expect_box(o.inst.boxes[0], 80, 0, 560, 640);
  // Rect batch shape 672 x 512 (w x h, val pad): scaleup=false keeps r = 1 and pads.
  Sample rct = v(s, cv::Size(512, 672));
  EXPECT_EQ(rct.img.size(), cv::Size(512, 672));
  EXPECT_EQ(rct.pad_lt[0], 16);
  EXPECT_EQ(rct.pad_lt[1], 16);
  Formatted f = format_sample(o);
  EXPECT_EQ(px(f.img, 100, 100), cv::Vec3b(30, 20, 10));  // RGB
  ASSERT_EQ(f.xywhn.size(), 1u);
  EXPECT_NEAR(f.xywhn[0][0], 0.5f, 1e-6);
  EXPECT_NEAR(f.xywhn[0][2], 0.75f, 1e-6);
  EXPECT_NEAR(f.xywhn[0][3], 1.0f, 1e-6);
  o.keep_bgr = true;
  EXPECT_EQ(px(format_sample(o).img, 100, 100), cv::Vec3b(10, 20, 30));
}

TEST(AugPipeline, DefaultHypAt640ProducesValidSamplesAndReportsSpeed) {
  const int imgsz = 640;
  auto load = [&](int i) {
    cv::Mat im(480 + 40 * (i % 3), 640, CV_8UC3);
    cv::RNG cvr(i);
    cvr.fill(im, cv::RNG::UNIFORM, 0, 256);
    Sample s = make_sample(im, imgsz);
    s.inst = from_xywhn({{0.5f, 0.5f, 0.3f, 0.4f}, {0.2f, 0.2f, 0.1f, 0.1f}}, {0, 1}, s.img.cols, s.img.rows);
    return s;
  };
  TrainTransform t(Hyp{}, imgsz, 8, load);
  const int n = 16;
  size_t boxes = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int k = 0; k < n; ++k) {
    Rng rng(mix_seed(0, k));
    Sample s = t(k % 8, rng);
    ASSERT_EQ(s.img.size(), cv::Size(imgsz, imgsz));
    for (const Box& b : s.inst.boxes) {
      EXPECT_GT(b[2] - b[0], 2.f);
      EXPECT_GT(b[3] - b[1], 2.f);
    }
    boxes += s.inst.size();
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / n;
  EXPECT_GT(boxes, 0u);  // a 4-tile mosaic at scale >= 0.5 keeps some of the 8 tile boxes
  RecordProperty("ms_per_sample_640", std::to_string(ms));
  std::printf("[ info ] default train transform at 640: %.2f ms/sample (incl. synthetic decode), %zu boxes kept\n",
              ms, boxes);
}
