// Unit tests for the box geometry used by the loss: IoU family, anchors, distance <-> box, DFL.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "yolocpp/loss/box_ops.hpp"
#include "yolocpp/loss/detection_loss.hpp"

using namespace yolocpp::loss;

namespace {
torch::Tensor box(std::initializer_list<float> v) { return torch::tensor(std::vector<float>(v)); }
float iou_of(const torch::Tensor& a, const torch::Tensor& b, IouKind k, bool xywh = false) {
  return bbox_iou(a, b, xywh, k).item<float>();
}
}  // namespace

TEST(LossBoxOps, IouFamilyOnHandComputedBoxes) {
  // (10,20,50,80) vs (15,25,45,90): inter 30*55 = 1650, union 2400 + 1950 - 1650 = 2700.
  auto a = box({10, 20, 50, 80}), b = box({15, 25, 45, 90});
  EXPECT_NEAR(iou_of(a, b, IouKind::IoU), 1650.0 / 2700.0, 1e-6);
  EXPECT_NEAR(iou_of(a, b, IouKind::CIoU), 0.602216, 1e-6);
  // (0,0,4,4) vs (2,2,6,6): IoU 4/28; enclosing 6x6 so GIoU = 1/7 - 8/36; centre distance² 8 over
  // diagonal² 72 gives DIoU 1/7 - 1/9, and equal aspect ratios make CIoU = DIoU.
  auto c = box({0, 0, 4, 4}), d = box({2, 2, 6, 6});
  EXPECT_NEAR(iou_of(c, d, IouKind::IoU), 1.0 / 7.0, 1e-6);
  EXPECT_NEAR(iou_of(c, d, IouKind::GIoU), 1.0 / 7.0 - 8.0 / 36.0, 1e-6);
  EXPECT_NEAR(iou_of(c, d, IouKind::DIoU), 1.0 / 7.0 - 1.0 / 9.0, 1e-6);
  EXPECT_NEAR(iou_of(c, d, IouKind::CIoU), 0.031746, 1e-6);
  // The same boxes given as xywh.
  EXPECT_NEAR(iou_of(box({2, 2, 4, 4}), box({4, 4, 4, 4}), IouKind::CIoU, true), 0.031746, 1e-6);
  // Disjoint boxes: IoU 0, CIoU negative (centre-distance penalty).
  auto e = box({0, 0, 1, 1}), f = box({3, 0, 4, 1});
  EXPECT_EQ(iou_of(e, f, IouKind::IoU), 0.0f);
  EXPECT_NEAR(iou_of(e, f, IouKind::CIoU), -9.0 / 17.0, 1e-6);
  // Identical boxes: 1 up to the eps terms.
  EXPECT_NEAR(iou_of(a, a, IouKind::CIoU), 1.0, 1e-6);
}

TEST(LossBoxOps, CiouAlphaIsConstantInBackward) {
  // Aspect-ratio term v·alpha: alpha must carry no gradient. Compare autograd against a finite
  // difference of CIoU computed with alpha frozen at its value in the base point.
  auto b1 = torch::tensor({10.0, 20.0, 50.0, 80.0}, torch::kDouble).requires_grad_(true);
  auto b2 = torch::tensor({15.0, 25.0, 45.0, 90.0}, torch::kDouble);
  bbox_iou(b1, b2, false, IouKind::CIoU).sum().backward();
  auto g = b1.grad();
  const double eps = 1e-7;
  auto v_alpha = [&](const torch::Tensor& x) {
    auto w1 = x[2] - x[0], h1 = x[3] - x[1] + eps, w2 = b2[2] - b2[0], h2 = b2[3] - b2[1] + eps;
    return 4.0 / (M_PI * M_PI) * ((w2 / h2).atan() - (w1 / h1).atan()).pow(2);
  };
  auto base = b1.detach();
  auto v0 = v_alpha(base);
  auto iou0 = bbox_iou(base, b2, false, IouKind::IoU).squeeze();
  auto alpha0 = (v0 / (v0 - iou0 + (1 + eps))).item<double>();
  auto frozen = [&](const torch::Tensor& x) {
    auto full = bbox_iou(x, b2, false, IouKind::CIoU).squeeze();
    auto v = v_alpha(x);
    auto iou = bbox_iou(x, b2, false, IouKind::IoU).squeeze();
    auto alpha = v / (v - iou + (1 + eps));
    return (full + v * alpha - v * alpha0).item<double>();  // swap the live alpha for the frozen one
  };
  double max_diff = 0, max_g = 0;
  for (int i = 0; i < 4; ++i) {
    auto xp = base.clone(), xm = base.clone();
    xp[i] += 1e-5;
    xm[i] -= 1e-5;
    double fd = (frozen(xp) - frozen(xm)) / 2e-5;
    max_diff = std::max(max_diff, std::abs(fd - g[i].item<double>()));
    max_g = std::max(max_g, std::abs(g[i].item<double>()));
  }
  EXPECT_LT(max_diff, 1e-8);
  EXPECT_GT(max_g, 1e-4);
}

TEST(LossBoxOps, MakeAnchorsOrderAndStrides) {
  auto [pts, st] = make_anchors(std::vector<std::pair<int64_t, int64_t>>{{2, 3}, {1, 2}}, {8.0, 16.0});
  ASSERT_EQ(pts.sizes(), (std::vector<int64_t>{8, 2}));
  auto expect = torch::tensor({0.5f, 0.5f, 1.5f, 0.5f, 2.5f, 0.5f, 0.5f, 1.5f, 1.5f, 1.5f, 2.5f, 1.5f, 0.5f, 0.5f,
                               1.5f, 0.5f}).view({8, 2});
  EXPECT_TRUE(torch::equal(pts, expect));
  EXPECT_TRUE(torch::equal(st.squeeze(1), torch::tensor({8.f, 8.f, 8.f, 8.f, 8.f, 8.f, 16.f, 16.f})));
  EXPECT_EQ(pts.scalar_type(), torch::kFloat32);
}

TEST(LossBoxOps, DistBoxRoundTripAndClamp) {
  auto anc = torch::tensor({{4.5f, 6.5f}});
  auto d = torch::tensor({{1.0f, 2.0f, 3.0f, 4.0f}});
  auto xyxy = dist2bbox(d, anc, false);
  EXPECT_TRUE(torch::equal(xyxy, torch::tensor({{3.5f, 4.5f, 7.5f, 10.5f}})));
  EXPECT_TRUE(torch::allclose(dist2bbox(d, anc, true), torch::tensor({{5.5f, 7.5f, 4.0f, 6.0f}})));
  EXPECT_TRUE(torch::equal(bbox2dist(anc, xyxy, 15), d));
  // Targets beyond the last bin clamp to reg_max - 0.01; boxes not containing the anchor clamp to 0.
  auto far = bbox2dist(anc, torch::tensor({{-20.0f, 7.0f, 30.0f, 8.0f}}), 15);
  EXPECT_FLOAT_EQ(far[0][0].item<float>(), 14.99f);
  EXPECT_FLOAT_EQ(far[0][1].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(far[0][2].item<float>(), 14.99f);
  EXPECT_FLOAT_EQ(far[0][3].item<float>(), 1.5f);
}

TEST(LossBoxOps, DflSplitsTargetBetweenTwoBins) {
  // Logits with bin 3 raised by a: CE(3) = log(e^a + 15) - a, CE(k != 3) = log(e^a + 15).
  const double a = 2.0, lse = std::log(std::exp(a) + 15.0);
  auto logits = torch::zeros({1, 64});
  for (int s = 0; s < 4; ++s) logits[0][s * 16 + 3] = a;
  // Targets 3.5 -> bins 3/4 at 0.5/0.5; 3.0 -> all on bin 3; 2.25 -> bins 2/3 at 0.75/0.25;
  // 15.7 -> clamped 14.99 -> bins 14/15 at 0.01/0.99.
  auto t = torch::tensor({{3.5f, 3.0f, 2.25f, 15.7f}});
  const double side[4] = {0.5 * (lse - a) + 0.5 * lse, lse - a, 0.75 * lse + 0.25 * (lse - a), lse};
  const double expect = (side[0] + side[1] + side[2] + side[3]) / 4;
  EXPECT_NEAR(dfl_loss(logits, t).item<float>(), expect, 1e-5);
}

TEST(LossBoxOps, BboxDecodeIsExpectationOverBins) {
  // All mass on bin 2 for l/t and bin 5 for r/b (large logits): distances 2, 2, 5, 5.
  auto logits = torch::full({1, 1, 64}, -50.0f);
  logits[0][0][2] = 50;
  logits[0][0][16 + 2] = 50;
  logits[0][0][32 + 5] = 50;
  logits[0][0][48 + 5] = 50;
  auto b = bbox_decode(torch::tensor({{10.5f, 3.5f}}), logits);
  EXPECT_TRUE(torch::allclose(b, torch::tensor({{{8.5f, 1.5f, 15.5f, 8.5f}}})));
  // Uniform logits: expectation 7.5 on every side.
  auto u = bbox_decode(torch::tensor({{10.5f, 3.5f}}), torch::zeros({1, 1, 64}));
  EXPECT_TRUE(torch::allclose(u, torch::tensor({{{3.0f, -4.0f, 18.0f, 11.0f}}})));
}
