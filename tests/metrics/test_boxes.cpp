#include <gtest/gtest.h>
#include <torch/torch.h>

#include "metrics/fixture.hpp"
#include "yolocpp/metrics/boxes.hpp"
#include "yolocpp/util/error.hpp"

using namespace yolocpp::metrics;

TEST(MetricsBoxes, IouSpecVectors) {
  auto a = torch::tensor({10.f, 20.f, 50.f, 80.f, 0.f, 0.f, 4.f, 4.f}).view({2, 4});
  auto b = torch::tensor({15.f, 25.f, 45.f, 90.f, 2.f, 2.f, 6.f, 6.f}).view({2, 4});
  auto iou = box_iou(a, b);
  ASSERT_EQ(iou.sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_NEAR(iou[0][0].item<float>(), 0.611111, 1e-6);
  EXPECT_NEAR(iou[1][1].item<float>(), 0.142857, 1e-6);
  EXPECT_EQ(iou[0][1].item<float>(), 0.0f);  // disjoint
  EXPECT_EQ(iou[1][0].item<float>(), 0.0f);
  // Identical tiny boxes: eps in the union keeps the IoU visibly below 1 (area 1e-4 -> 1e-4 / (1e-4 + 1e-7)).
  auto tiny = torch::tensor({0.f, 0.f, 0.01f, 0.01f}).view({1, 4});
  EXPECT_NEAR(box_iou(tiny, tiny).item<float>(), 1e-4 / (1e-4 + 1e-7), 1e-5);
  EXPECT_LT(box_iou(tiny, tiny).item<float>(), 0.9995f);
}

TEST(MetricsBoxes, Xywh2Xyxy) {
  auto x = torch::tensor({100.f, 50.f, 20.f, 11.f}).view({1, 4});
  auto y = xywh2xyxy(x);
  EXPECT_TRUE(torch::equal(y, torch::tensor({90.f, 44.5f, 110.f, 55.5f}).view({1, 4})));
  EXPECT_THROW(xywh2xyxy(torch::zeros({2, 3})), yolocpp::Error);
}

TEST(MetricsBoxes, RoundHalfEven) {
  EXPECT_EQ(round_half_even(0.5), 0.0);
  EXPECT_EQ(round_half_even(1.5), 2.0);
  EXPECT_EQ(round_half_even(2.5), 2.0);
  EXPECT_EQ(round_half_even(-0.1), 0.0);
  EXPECT_EQ(round_half_even(11.9), 12.0);
}

TEST(MetricsBoxes, ScaleBoxesSpecExample) {
  // Spec 6.3: input 640x640, original 1080x810 -> gain 0.59259, pad (80, 0).
  auto in = torch::tensor({10.f, 20.f, 300.f, 400.f, 0.9f, 2.f}).view({1, 6});
  auto out = scale_boxes({640, 640}, in, {1080, 810});
  EXPECT_FLOAT_EQ(out[0][0].item<float>(), 0.0f);  // clipped at x = 0
  EXPECT_FLOAT_EQ(out[0][1].item<float>(), 33.75f);
  EXPECT_FLOAT_EQ(out[0][2].item<float>(), 371.25f);
  EXPECT_FLOAT_EQ(out[0][3].item<float>(), 675.0f);
  EXPECT_FLOAT_EQ(out[0][4].item<float>(), 0.9f);  // conf and class untouched
  EXPECT_FLOAT_EQ(out[0][5].item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(in[0][0].item<float>(), 10.0f);  // input not modified
}

TEST(MetricsBoxes, ScaleBoxesRatioPadUsesHeightGain) {
  auto in = torch::tensor({100.f, 100.f, 200.f, 300.f}).view({1, 4});
  RatioPad rp{0.5, 0.25, 10.0, 20.0};  // gain_w is ignored, as in Ultralytics
  auto out = scale_boxes({640, 640}, in, {2000, 2000}, rp);
  EXPECT_TRUE(torch::equal(out, torch::tensor({180.f, 160.f, 380.f, 560.f}).view({1, 4})));
  // Clipping is inclusive of w0 / h0.
  auto clipped = scale_boxes({640, 640}, torch::tensor({-5.f, -5.f, 700.f, 700.f}).view({1, 4}), {100, 200},
                             RatioPad{1.0, 1.0, 0.0, 0.0});
  EXPECT_TRUE(torch::equal(clipped, torch::tensor({0.f, 0.f, 200.f, 100.f}).view({1, 4})));
}

TEST(MetricsBoxes, ScaleBoxesFixtureExamples) {
  auto j = yolocpp::test::load_json("letterbox_case.json");
  const auto& ex = j.at("scale_boxes_examples");
  ASSERT_EQ(ex.size(), 3u);
  for (const auto& e : ex) {
    HW img1{e["img1_hw"][0].get<int64_t>(), e["img1_hw"][1].get<int64_t>()};
    HW img0{e["img0_hw"][0].get<int64_t>(), e["img0_hw"][1].get<int64_t>()};
    auto in = yolocpp::test::rows_f32(e["in"], 4);
    auto want = yolocpp::test::rows_f32(e["out"], 4);
    auto got = scale_boxes(img1, in, img0);
    EXPECT_TRUE(torch::equal(got, want)) << "img1 " << img1[0] << "x" << img1[1] << "\n" << got << "\n" << want;
  }
}
