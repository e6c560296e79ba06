#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include "metrics/fixture.hpp"
#include "yolocpp/metrics/nms.hpp"
#include "yolocpp/util/error.hpp"

using namespace yolocpp::metrics;

namespace {
// A [1, 4+nc, A] prediction from explicit rows (cx, cy, w, h, scores...).
torch::Tensor pred_from_rows(const std::vector<std::vector<float>>& rows) {
  const int64_t A = int64_t(rows.size()), C = int64_t(rows[0].size());
  auto t = torch::empty({1, C, A});
  for (int64_t a = 0; a < A; ++a)
    for (int64_t c = 0; c < C; ++c) t[0][c][a] = rows[size_t(a)][size_t(c)];
  return t;
}
}  // namespace

TEST(MetricsNms, FixtureAllSettingsExact) {
  const auto j = yolocpp::test::load_json("metrics_case.json").at("nms_case");
  const auto shape = j["input_shape"].get<std::vector<int64_t>>();
  ASSERT_EQ(shape, (std::vector<int64_t>{2, 7, 160}));
  std::vector<float> flat;
  for (const auto& img : j["input"])
    for (const auto& row : img)
      for (const auto& v : row) flat.push_back(v.get<float>());
  auto input = torch::tensor(flat).view({shape[0], shape[1], shape[2]});
  ASSERT_EQ(j["cases"].size(), 5u);
  for (const auto& c : j["cases"]) {
    NmsOptions o;
    o.conf = c["conf_thres"].get<double>();
    o.iou = c["iou_thres"].get<double>();
    o.multi_label = c["multi_label"].get<bool>();
    o.agnostic = c["agnostic"].get<bool>();
    o.max_det = c["max_det"].get<int64_t>();
    o.max_nms = j["max_nms"].get<int64_t>();
    o.max_wh = j["max_wh"].get<int64_t>();
    const auto name = c["name"].get<std::string>();
    auto out = non_max_suppression(input, o);
    ASSERT_EQ(out.size(), 2u) << name;
    for (size_t b = 0; b < 2; ++b) {
      auto want = yolocpp::test::rows_f32(c["output_per_image_xyxy_conf_cls"][b], 6);
      EXPECT_EQ(out[b].size(0), c["counts"][b].get<int64_t>()) << name << " image " << b;
      ASSERT_EQ(out[b].sizes(), want.sizes()) << name << " image " << b;
      // Same rows, same order, bit-identical coordinates and scores.
      EXPECT_TRUE(torch::equal(out[b], want)) << name << " image " << b;
    }
  }
}

TEST(MetricsNms, SuppressesAboveThresholdOnlyAndKeepsScoreOrder) {
  // B = [0,0,20,10] overlaps A = [0,0,20,20] with IoU exactly 0.5; C is A with class 1.
  auto p = pred_from_rows({
      {10.f, 10.f, 20.f, 20.f, 0.6f, 0.0f},  // A
      {10.f, 5.f, 20.f, 10.f, 0.9f, 0.0f},   // B
      {10.f, 10.f, 20.f, 20.f, 0.0f, 0.8f},  // C
  });
  NmsOptions o;
  o.iou = 0.5;  // IoU 0.5 is not > 0.5: everything survives, in descending score order
  auto out = non_max_suppression(p, o)[0];
  ASSERT_EQ(out.size(0), 3);
  EXPECT_FLOAT_EQ(out[0][4].item<float>(), 0.9f);
  EXPECT_FLOAT_EQ(out[1][4].item<float>(), 0.8f);
  EXPECT_FLOAT_EQ(out[1][5].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(out[2][4].item<float>(), 0.6f);
  o.iou = 0.49;  // now B suppresses A; C is another class and survives
  out = non_max_suppression(p, o)[0];
  ASSERT_EQ(out.size(0), 2);
  EXPECT_FLOAT_EQ(out[1][5].item<float>(), 1.0f);
  o.agnostic = true;  // classes no longer kept apart: B suppresses C too
  out = non_max_suppression(p, o)[0];
  ASSERT_EQ(out.size(0), 1);
  EXPECT_TRUE(torch::equal(out[0], torch::tensor({0.f, 0.f, 20.f, 10.f, 0.9f, 0.f})));
}

TEST(MetricsNms, IouComparedAsFloat32AgainstDoubleThreshold) {
  // IoU 300/500 is float32 0.60000002 > 0.6 (double), so torchvision suppresses at iou=0.6; so must we.
  auto p = pred_from_rows({
      {10.f, 10.f, 20.f, 20.f, 0.6f},  // [0,0,20,20]
      {15.f, 10.f, 20.f, 20.f, 0.9f},  // [5,0,25,20]
  });
  NmsOptions o;
  o.iou = 0.6;
  EXPECT_EQ(non_max_suppression(p, o)[0].size(0), 1);
  o.iou = 0.6000001;
  EXPECT_EQ(non_max_suppression(p, o)[0].size(0), 2);
}

TEST(MetricsNms, MultiLabelClassFilterMaxDet) {
  auto p = pred_from_rows({
      {50.f, 50.f, 10.f, 10.f, 0.5f, 0.7f, 0.1f},
      {150.f, 50.f, 10.f, 10.f, 0.2f, 0.1f, 0.95f},
  });
  NmsOptions o;
  o.conf = 0.15;
  o.multi_label = true;
  auto out = non_max_suppression(p, o)[0];
  ASSERT_EQ(out.size(0), 4);  // (0,c0) (0,c1) (1,c1?no 0.1) (1,c0 0.2) (1,c2)
  EXPECT_FLOAT_EQ(out[0][4].item<float>(), 0.95f);
  EXPECT_FLOAT_EQ(out[0][5].item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(out[3][4].item<float>(), 0.2f);
  o.classes = {1};
  out = non_max_suppression(p, o)[0];
  ASSERT_EQ(out.size(0), 1);
  EXPECT_FLOAT_EQ(out[0][4].item<float>(), 0.7f);
  o.classes.clear();
  o.max_det = 2;
  out = non_max_suppression(p, o)[0];
  ASSERT_EQ(out.size(0), 2);
  EXPECT_FLOAT_EQ(out[1][4].item<float>(), 0.7f);
  o.multi_label = false;  // best class only, must be > conf
  o.max_det = 300;
  out = non_max_suppression(p, o)[0];
  ASSERT_EQ(out.size(0), 2);
  EXPECT_FLOAT_EQ(out[1][5].item<float>(), 1.0f);
}

TEST(MetricsNms, EmptyAndBadInput) {
  auto out = non_max_suppression(torch::zeros({3, 6, 10}), NmsOptions{});
  ASSERT_EQ(out.size(), 3u);
  for (const auto& t : out) EXPECT_EQ(t.sizes(), (std::vector<int64_t>{0, 6}));
  EXPECT_THROW(non_max_suppression(torch::zeros({6, 10}), NmsOptions{}), yolocpp::Error);
  NmsOptions bad;
  bad.iou = 1.5;
  EXPECT_THROW(non_max_suppression(torch::zeros({1, 6, 10}), bad), yolocpp::ConfigError);
}

// Not a timed assertion: prints the cost of the worst realistic case (validation settings on random scores,
// 8400 anchors x 80 classes, every pair above conf 0.001 -> capped at max_nms = 30000) for the report.
TEST(MetricsNms, RandomYolo11Sized) {
  torch::manual_seed(0);
  auto p = torch::rand({1, 84, 8400});
  p.narrow(1, 0, 2).mul_(640);
  p.narrow(1, 2, 2).mul_(120).add_(4);
  NmsOptions o;
  o.conf = 0.001;
  o.multi_label = true;
  auto t0 = std::chrono::steady_clock::now();
  auto out = non_max_suppression(p, o);
  const double ms_multi = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(out[0].size(0), 300);
  // The kept rows are in descending score order and each class's kept boxes overlap by at most iou.
  auto s = out[0].select(1, 4);
  EXPECT_TRUE(torch::equal(s, std::get<0>(s.sort(0, true))));
  o.multi_label = false;
  t0 = std::chrono::steady_clock::now();
  out = non_max_suppression(p, o);
  const double ms_single = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(out[0].size(0), 300);
  std::printf("[ timing ] NMS [1,84,8400] conf 0.001: multi_label %.1f ms, single-label %.1f ms\n", ms_multi,
              ms_single);
}

// The packed, early-stopping NMS against a literal transcription of the reference loop (visit by stable
// descending score, skip suppressed, suppress on float IoU > double threshold, keep all, then slice).
TEST(MetricsNms, MatchesNaiveGreedyOnDenseOverlaps) {
  torch::manual_seed(3);
  const int64_t n = 3000;
  auto xy = torch::rand({n, 2}) * 200;
  auto wh = torch::rand({n, 2}) * 80 + 1;
  auto cls = torch::randint(0, 80, {n, 1}).to(torch::kFloat32);
  auto boxes = torch::cat({xy, xy + wh}, 1) + cls * 7680;  // large class offsets: float32 rounding in play
  auto scores = torch::rand({n});
  scores.narrow(0, 0, 200).copy_(scores.narrow(0, 200, 200));  // exact ties resolved by the stable sort
  for (double thr : {0.3, 0.45, 0.7}) {
    auto order_t = std::get<1>(scores.sort(true, 0, true)).contiguous();
    const int64_t* order = order_t.data_ptr<int64_t>();
    auto b = boxes.contiguous();
    auto area = ((b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1))).contiguous();
    const float* B = b.data_ptr<float>();
    const float* A = area.data_ptr<float>();
    std::vector<uint8_t> sup(n, 0);
    std::vector<int64_t> want;
    for (int64_t a = 0; a < n; ++a) {
      const int64_t i = order[a];
      if (sup[i]) continue;
      want.push_back(i);
      for (int64_t c = a + 1; c < n; ++c) {
        const int64_t j = order[c];
        if (sup[j]) continue;
        const float w = std::max(0.f, std::min(B[i * 4 + 2], B[j * 4 + 2]) - std::max(B[i * 4], B[j * 4]));
        const float h = std::max(0.f, std::min(B[i * 4 + 3], B[j * 4 + 3]) - std::max(B[i * 4 + 1], B[j * 4 + 1]));
        const float inter = w * h;
        const float ovr = inter / (A[i] + A[j] - inter);
        if (ovr > thr) sup[j] = 1;
      }
    }
    auto all = nms(boxes, scores, thr);
    ASSERT_EQ(all.size(0), int64_t(want.size())) << thr;
    EXPECT_TRUE(torch::equal(all, torch::tensor(want, torch::kLong))) << thr;
    auto first = nms(boxes, scores, thr, 50);  // early stop == slicing the full result
    EXPECT_TRUE(torch::equal(first, all.narrow(0, 0, 50))) << thr;
    EXPECT_LT(all.size(0), n);  // the case really suppresses something
  }
}
