#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "yolocpp/metrics/ap.hpp"
#include "yolocpp/metrics/confusion.hpp"
#include "yolocpp/metrics/report.hpp"

using namespace yolocpp::metrics;

namespace {
// AP of one class from a TP pattern sorted by confidence.
double ap_of(const std::vector<int>& pattern, int n_gt) {
  std::vector<double> recall, precision;
  int tp = 0, fp = 0;
  for (int hit : pattern) {
    tp += hit, fp += !hit;
    recall.push_back(tp / (n_gt + 1e-16));
    precision.push_back(double(tp) / (tp + fp));
  }
  return compute_ap(recall, precision);
}
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

TEST(MetricsAp, Ap101SpecVectors) {
  EXPECT_NEAR(ap_of({1, 0, 1}, 2), 0.828333, 1e-6);
  EXPECT_NEAR(ap_of({1, 1}, 2), 0.995000, 1e-12);  // a perfect detector scores 0.995, not 1
  EXPECT_NEAR(ap_of({0, 1, 1, 0}, 3), 0.527483, 1e-6);
  EXPECT_EQ(ap_of({0, 0}, 2), 0.0);
}

TEST(MetricsAp, NumpyInterpSemantics) {
  // Below the first sample -> left, above the last -> right, at a duplicated x -> the right-most value.
  std::vector<double> xp{0.0, 1.0, 1.0, 2.0}, fp{0.0, 10.0, 20.0, 30.0};
  auto r = np::interp({-1.0, 0.5, 1.0, 1.5, 2.0, 3.0}, xp, fp, kNaN, kNaN);
  EXPECT_EQ(r[0], 0.0);
  EXPECT_EQ(r[1], 5.0);
  EXPECT_EQ(r[2], 20.0);
  EXPECT_EQ(r[3], 25.0);
  EXPECT_EQ(r[4], 30.0);
  EXPECT_EQ(r[5], 30.0);
  auto l = np::interp({-1.0, 3.0}, xp, fp, -7.0, 9.0);
  EXPECT_EQ(l[0], -7.0);
  EXPECT_EQ(l[1], 9.0);
}

TEST(MetricsAp, NumpyHelpers) {
  auto x = np::linspace(0, 1, 101);
  ASSERT_EQ(x.size(), 101u);
  EXPECT_EQ(x[3], 3 * 0.01);  // i * step, not i / 100
  EXPECT_EQ(x.back(), 1.0);
  std::vector<double> y(1000, 0.0);
  y[500] = 101.0;
  auto s = np::smooth(y, 0.1);  // 101-tap box filter
  ASSERT_EQ(s.size(), 1000u);
  EXPECT_NEAR(s[450], 1.0, 1e-12);
  EXPECT_NEAR(s[550], 1.0, 1e-12);
  EXPECT_EQ(s[449], 0.0);
  EXPECT_EQ(s[551], 0.0);
  std::vector<double> v(300);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.1 * double(i);
  EXPECT_NEAR(np::sum(v.data(), int64_t(v.size())), 4485.0, 1e-9);
  EXPECT_DOUBLE_EQ(np::trapz({0, 1, 2}, {0, 1, 2}), 2.0);
}

TEST(MetricsAp, RoundDecimalsLikePython) {
  EXPECT_EQ(round_decimals(0.5119722777777779, 5), 0.51197);
  EXPECT_EQ(round_decimals(2.675, 2), 2.67);  // 2.675 is 2.67499999... in binary, as Python rounds it
  EXPECT_EQ(round_decimals(0.125, 2), 0.12);  // exact tie -> even
  EXPECT_EQ(round_decimals(0.375, 2), 0.38);
}

TEST(MetricsMatch, LowestPredictionIndexWinsPerGt) {
  // One GT, two predictions of its class: pred 1 overlaps more, but pred 0 (higher confidence) is matched.
  auto iou = torch::tensor({0.6f, 0.9f}).view({1, 2});
  auto correct = match_predictions(torch::tensor({0.f, 0.f}), torch::tensor({0.f}), iou);
  ASSERT_EQ(correct.sizes(), (std::vector<int64_t>{2, 10}));
  EXPECT_TRUE(correct[0][0].item<bool>());   // 0.6 >= 0.5
  EXPECT_TRUE(correct[0][2].item<bool>());   // float32(0.6) >= float32 threshold 0.6
  EXPECT_FALSE(correct[1][0].item<bool>());  // the better box is a duplicate at 0.5
  // From 0.65 on, pred 0 no longer qualifies and pred 1 takes the GT.
  EXPECT_FALSE(correct[0][3].item<bool>());
  EXPECT_TRUE(correct[1][3].item<bool>());
  EXPECT_TRUE(correct[1][8].item<bool>());   // 0.9 >= 0.8999999762
  EXPECT_FALSE(correct[1][9].item<bool>());
}

TEST(MetricsMatch, ClassMismatchNeverMatches) {
  auto iou = torch::tensor({0.99f}).view({1, 1});
  auto correct = match_predictions(torch::tensor({1.f}), torch::tensor({0.f}), iou);
  EXPECT_FALSE(correct.any().item<bool>());
}

TEST(MetricsMatch, ThresholdsAreFloat32) {
  auto iouv = iou_thresholds();
  EXPECT_EQ(iouv.scalar_type(), torch::kFloat32);
  EXPECT_EQ(double(iouv[1].item<float>()), 0.550000011920929);
  // An IoU of exactly float32(0.55) is a match at 0.55; the next float below is not.
  const float t = iouv[1].item<float>();
  auto c1 = match_predictions(torch::tensor({0.f}), torch::tensor({0.f}), torch::tensor({t}).view({1, 1}));
  auto c2 = match_predictions(torch::tensor({0.f}), torch::tensor({0.f}),
                              torch::tensor({std::nextafter(t, 0.f)}).view({1, 1}));
  EXPECT_TRUE(c1[0][1].item<bool>());
  EXPECT_FALSE(c2[0][1].item<bool>());
}

TEST(MetricsStats, EmptyAndNoTruePositive) {
  DetectionStats s;
  // Image without GT: predictions are false positives; image without predictions: GT counted as missed.
  auto tp = s.update(torch::tensor({0.f, 0.f, 10.f, 10.f, 0.9f, 0.f}).view({1, 6}), torch::zeros({0, 4}),
                     torch::zeros({0}));
  EXPECT_FALSE(tp.any().item<bool>());
  s.update(torch::zeros({0, 6}), torch::tensor({0.f, 0.f, 5.f, 5.f}).view({1, 4}), torch::tensor({1.f}));
  s.update(torch::zeros({0, 6}), torch::zeros({0, 4}), torch::zeros({0}));
  auto m = s.compute(2);
  EXPECT_EQ(m.seen, 3);
  EXPECT_EQ(m.nt_per_class, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(m.map, 0.0);
  EXPECT_EQ(m.fitness(), 0.0);
  EXPECT_TRUE(m.ap_class_index.empty());
  EXPECT_EQ(m.maps, (std::vector<double>{0.0, 0.0}));
}

TEST(MetricsStats, PerfectDetector) {
  DetectionStats s;
  auto gt = torch::tensor({0.f, 0.f, 10.f, 10.f, 20.f, 20.f, 40.f, 40.f}).view({2, 4});
  auto pred = torch::tensor({0.f, 0.f, 10.f, 10.f, 0.9f, 0.f, 20.f, 20.f, 40.f, 40.f, 0.8f, 1.f}).view({2, 6});
  auto tp = s.update(pred, gt, torch::tensor({0.f, 1.f}));
  EXPECT_TRUE(tp.all().item<bool>());
  auto m = s.compute(3);
  EXPECT_NEAR(m.map50, 0.995, 1e-12);
  EXPECT_NEAR(m.map, 0.995, 1e-12);
  EXPECT_NEAR(m.mp, 1.0, 1e-12);
  EXPECT_NEAR(m.mr, 1.0, 1e-12);
  EXPECT_NEAR(m.fitness(), 0.995, 1e-12);
  EXPECT_EQ(m.maps.size(), 3u);
  EXPECT_NEAR(m.maps[2], 0.995, 1e-12);  // class without GT gets the mean
}

TEST(MetricsConfusion, BackgroundAndOffDiagonal) {
  ConfusionMatrix cm(2, 0.001);  // 0.001 is replaced by 0.25
  EXPECT_EQ(cm.conf(), 0.25);
  auto gt = torch::tensor({0.f, 0.f, 10.f, 10.f, 50.f, 50.f, 60.f, 60.f}).view({2, 4});
  // pred 0 overlaps GT 0 but with class 1 (class-agnostic match, off the diagonal); pred 1 is a low-conf
  // duplicate (ignored); pred 2 matches nothing (false positive). GT 1 is missed.
  auto det = torch::tensor({0.f, 0.f, 10.f, 10.f, 0.9f, 1.f, 0.f, 0.f, 10.f, 10.f, 0.1f, 0.f,
                            100.f, 100.f, 120.f, 120.f, 0.5f, 0.f}).view({3, 6});
  cm.process_batch(det, gt, torch::tensor({0.f, 1.f}));
  const auto& m = cm.matrix();
  EXPECT_EQ(m[1][0], 1.0);  // predicted 1, true 0
  EXPECT_EQ(m[2][1], 1.0);  // GT 1 missed
  EXPECT_EQ(m[0][2], 1.0);  // pred 2 is background
  double total = 0;
  for (const auto& r : m)
    for (double v : r) total += v;
  EXPECT_EQ(total, 3.0);
  cm.process_batch(det, torch::zeros({0, 4}), torch::zeros({0}));  // no GT: 2 confident false positives
  EXPECT_EQ(cm.matrix()[1][2], 1.0);
  EXPECT_EQ(cm.matrix()[0][2], 2.0);
  cm.process_batch({}, gt, torch::tensor({0.f, 1.f}));  // no predictions: both GT missed
  EXPECT_EQ(cm.matrix()[2][0], 1.0);
  EXPECT_EQ(cm.matrix()[2][1], 2.0);
}

TEST(MetricsReport, TableFormats) {
  EXPECT_EQ(table_header(),
            "                 Class     Images  Instances      Box(P          R      mAP50  mAP50-95)");
  EXPECT_EQ(table_row("all", 7, 17, 0.5160683877161388, 0.5294127052800107, 0.5637777777777778, 0.5062161111111112),
            "                   all          7         17      0.516      0.529      0.564      0.506");
  EXPECT_EQ(table_row("cart", 3, 3, 0.0, 0.0, 0.0, 0.0),
            "                  cart          3          3          0          0          0          0");
  EXPECT_EQ(table_row("x", 1, 1, 1.0, 0.995, 0.00012345, 1e-7).substr(44),
            "          1      0.995   0.000123      1e-07");
  EXPECT_EQ(speed_line(0.123, 2.25, 0.0, 0.44),
            "Speed: 0.1ms preprocess, 2.2ms inference, 0.0ms loss, 0.4ms postprocess per image");
}
