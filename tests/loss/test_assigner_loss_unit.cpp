// Hand-built assigner and loss cases for paths the Ultralytics fixture does not exercise:
// an anchor claimed by several GTs and won by a third GT that did not select it, a batch without any
// boxes, and bad inputs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "yolocpp/loss/box_ops.hpp"
#include "yolocpp/loss/detection_loss.hpp"
#include "yolocpp/util/error.hpp"

using namespace yolocpp::loss;

namespace {

// Four anchors on one row (pixel centres x = 0.5 .. 3.5, y = 0.5), three GTs, topk = 1:
//  GT0 (cls 0) (0,0,2,1)   holds a0,a1 -> picks a1 (its prediction nearly matches GT0)
//  GT1 (cls 0) (1,0,3,1)   holds a1,a2 -> picks a1 (a2's prediction has CIoU < 0, metric 0)
//  GT2 (cls 1) (0,0,2.2,1) holds a0,a1 -> picks a0 (a1's class-1 score is 1e-8)
// a1 is claimed by GT0 and GT1, but its prediction equals GT2's box (CIoU 1), so GT2 gets it.
struct MultiGt {
  torch::Tensor scores = torch::tensor({0.9f, 0.9f, 0.9f, 1e-8f, 0.9f, 0.9f, 0.9f, 0.9f}).view({1, 4, 2});
  torch::Tensor pd = torch::tensor({0.f, 0.f, 1.f, 1.f, 0.f, 0.f, 2.2f, 1.f, 2.9f, 0.f, 3.f, 1.f, 3.f, 0.f, 4.f, 1.f})
                         .view({1, 4, 4});
  torch::Tensor anc = torch::tensor({0.5f, 0.5f, 1.5f, 0.5f, 2.5f, 0.5f, 3.5f, 0.5f}).view({4, 2});
  torch::Tensor labels = torch::tensor({0.f, 0.f, 1.f}).view({1, 3, 1});
  torch::Tensor gts = torch::tensor({0.f, 0.f, 2.f, 1.f, 1.f, 0.f, 3.f, 1.f, 0.f, 0.f, 2.2f, 1.f}).view({1, 3, 4});
  torch::Tensor valid = torch::ones({1, 3, 1}, torch::kBool);
};

}  // namespace

TEST(LossAssigner, AnchorClaimedTwiceGoesToBestOverlapGtEvenIfItDidNotSelectIt) {
  MultiGt c;
  TaskAlignedAssigner tal(2, /*topk=*/1);
  auto r = tal(c.scores, c.pd, c.anc, c.labels, c.gts, c.valid);
  auto b = [](std::initializer_list<int> v) {
    return torch::tensor(std::vector<int64_t>(v.begin(), v.end())).to(torch::kBool);
  };
  EXPECT_TRUE(torch::equal(r.mask_in_gts[0], b({1, 1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0}).view({3, 4})));
  EXPECT_TRUE(torch::equal(r.mask_pos_topk[0], b({0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0}).view({3, 4})));
  EXPECT_TRUE(torch::equal(r.mask_pos[0], b({0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0}).view({3, 4})));
  EXPECT_TRUE(torch::equal(r.fg_mask[0], b({1, 1, 0, 0})));
  EXPECT_TRUE(torch::equal(r.target_gt_idx[0], torch::tensor({2, 2, 0, 0}, torch::kLong)));
  // Background anchors carry GT row 0's label and box.
  EXPECT_TRUE(torch::equal(r.target_labels[0], torch::tensor({1, 1, 0, 0}, torch::kLong)));
  EXPECT_TRUE(torch::equal(r.target_bboxes[0][3], c.gts[0][0]));
  EXPECT_TRUE(torch::equal(r.target_bboxes[0][1], c.gts[0][2]));
  // a2's CIoU with GT1 is negative and clamps to 0.
  EXPECT_EQ(r.overlaps[0][1][2].item<float>(), 0.0f);

  // Soft targets: GT2's best overlap is 1 (a1); a0 has GT2's largest metric, so it scores ~1, and a1
  // scores metric(a1)/metric(a0). Recompute the two metrics in double (tal.py get_box_metrics).
  auto ciou = [&](int a) {
    return bbox_iou(c.gts[0][2].to(torch::kDouble), c.pd[0][a].to(torch::kDouble), false, IouKind::CIoU)
        .item<double>();
  };
  const double m0 = std::sqrt(0.9) * std::pow(ciou(0), 6.0), m1 = std::sqrt(1e-8) * std::pow(ciou(1), 6.0);
  ASSERT_GT(m0, m1);
  EXPECT_NEAR(r.target_scores[0][0][1].item<float>(), m0 * 1.0 / (m0 + 1e-9), 1e-5);
  EXPECT_NEAR(r.target_scores[0][1][1].item<float>(), m1 * 1.0 / (m0 + 1e-9), 1e-6);
  EXPECT_GT(r.target_scores[0][1][1].item<float>(), 0.01f);  // ~0.031: far from 0 and from 1
  EXPECT_EQ(r.target_scores[0][0][0].item<float>(), 0.0f);   // one-hot at the target label
  EXPECT_EQ(r.target_scores[0].slice(0, 2).abs().sum().item<float>(), 0.0f);
}

TEST(LossAssigner, PaddingRowsAndEmptyImagesStayBackground) {
  MultiGt c;
  // Image 1 has no boxes: its rows are padding (zeros, invalid).
  auto scores = torch::cat({c.scores, c.scores});
  auto pd = torch::cat({c.pd, c.pd});
  auto labels = torch::cat({c.labels, torch::zeros({1, 3, 1})});
  auto gts = torch::cat({c.gts, torch::zeros({1, 3, 4})});
  auto valid = torch::cat({c.valid, torch::zeros({1, 3, 1}, torch::kBool)});
  auto r = TaskAlignedAssigner(2, 1)(scores, pd, c.anc, labels, gts, valid);
  EXPECT_EQ(r.fg_mask[0].sum().item<int64_t>(), 2);
  EXPECT_EQ(r.fg_mask[1].sum().item<int64_t>(), 0);
  EXPECT_EQ(r.mask_pos_topk[1].sum().item<int64_t>(), 0);
  EXPECT_EQ(r.target_scores[1].abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(r.target_bboxes[1].abs().sum().item<float>(), 0.0f);
}

TEST(LossAssigner, NoBoxesInBatch) {
  auto r = TaskAlignedAssigner(3)(torch::rand({2, 5, 3}), torch::rand({2, 5, 4}), torch::rand({5, 2}),
                                  torch::zeros({2, 0, 1}), torch::zeros({2, 0, 4}), torch::zeros({2, 0, 1}));
  EXPECT_EQ(r.fg_mask.sum().item<int64_t>(), 0);
  EXPECT_EQ(r.target_scores.sum().item<float>(), 0.0f);
  EXPECT_EQ(r.target_scores.sizes(), (std::vector<int64_t>{2, 5, 3}));
  EXPECT_EQ(r.target_labels.max().item<int64_t>(), 3);  // background index nc
}

TEST(LossAssigner, RejectsClassOutsideNc) {
  MultiGt c;
  auto labels = c.labels.clone();
  labels[0][2][0] = 5;
  EXPECT_THROW(TaskAlignedAssigner(2, 1)(c.scores, c.pd, c.anc, labels, c.gts, c.valid), yolocpp::DataError);
}

namespace {
std::vector<torch::Tensor> random_preds(int64_t nc, bool grad) {
  torch::manual_seed(7);
  std::vector<torch::Tensor> p;
  for (int64_t s : {8, 4, 2}) {
    auto t = torch::randn({2, 64 + nc, s, s});
    t.narrow(1, 64, nc).sub_(4.0);  // class logits near a fresh head's bias
    p.push_back(grad ? t.requires_grad_(true) : t);
  }
  return p;
}
}  // namespace

TEST(LossDetection, BatchWithoutBoxesHasOnlyClassificationTerm) {
  const int64_t nc = 3;
  LossHyp hyp;
  hyp.nc = nc;
  DetectionLoss crit(hyp);
  auto p = random_preds(nc, true);
  Targets empty{torch::zeros({0}), torch::zeros({0, 1}), torch::zeros({0, 4})};
  auto out = crit(p, empty);  // imgsz derived: 8 cells * stride 8 = 64
  ASSERT_TRUE(std::isfinite(out.total.item<float>()));
  EXPECT_EQ(out.items[0].item<float>(), 0.0f);
  EXPECT_EQ(out.items[2].item<float>(), 0.0f);
  EXPECT_EQ(out.num_fg, 0);
  EXPECT_EQ(out.target_scores_sum.item<float>(), 1.0f);
  // With all-zero targets and S = 1 the class term is sum(softplus(logit)) * 0.5.
  double sp = 0;
  for (auto& t : p) sp += torch::log1p(t.detach().narrow(1, 64, nc).to(torch::kDouble).exp()).sum().item<double>();
  EXPECT_NEAR(out.items[1].item<double>() / (0.5 * sp), 1.0, 1e-5);
  EXPECT_NEAR(out.total.item<double>() / (2 * 0.5 * sp), 1.0, 1e-5);
  out.total.backward();
  // Gradient reaches only the class logits: d/dx = B * 0.5 * sigmoid(x); the box bins get none.
  EXPECT_EQ(p[0].grad().narrow(1, 0, 64).abs().sum().item<float>(), 0.0f);
  auto want = 2 * 0.5 * p[1].detach().narrow(1, 64, nc).sigmoid();
  EXPECT_TRUE(torch::allclose(p[1].grad().narrow(1, 64, nc), want, 1e-5, 1e-7));
}

TEST(LossDetection, SomeImagesWithoutBoxesAndBackwardIsFinite) {
  const int64_t nc = 3;
  LossHyp hyp;
  hyp.nc = nc;
  auto p = random_preds(nc, true);
  // Image 1 has two boxes, image 0 none (a GT-less image first also exercises the padding order).
  Targets t{torch::tensor({1.f, 1.f}), torch::tensor({2.f, 0.f}).view({2, 1}),
            torch::tensor({0.5f, 0.5f, 0.5f, 0.6f, 0.3f, 0.3f, 0.2f, 0.2f}).view({2, 4})};
  auto out = DetectionLoss(hyp)(p, t, std::array<int64_t, 2>{64, 64});
  EXPECT_EQ(out.targets.gt_bboxes.size(1), 2);
  EXPECT_TRUE(torch::allclose(out.targets.gt_bboxes[1][0], torch::tensor({16.f, 12.8f, 48.f, 51.2f}), 0, 1e-5));
  EXPECT_EQ(out.targets.mask_gt[0].sum().item<int64_t>(), 0);
  EXPECT_GT(out.num_fg, 0);
  EXPECT_EQ(out.assign.fg_mask[0].sum().item<int64_t>(), 0);
  EXPECT_GT(out.items[0].item<float>(), 0.0f);
  EXPECT_GT(out.items[2].item<float>(), 0.0f);
  EXPECT_NEAR(out.total.item<float>(), out.items.sum().item<float>() * 2, 1e-4);
  out.total.backward();
  for (auto& x : p) EXPECT_TRUE(torch::isfinite(x.grad()).all().item<bool>());
  EXPECT_GT(p[0].grad().narrow(1, 0, 64).abs().sum().item<float>(), 0.0f);  // box bins now get gradient
}

TEST(LossDetection, RejectsMismatchedHeadAndTargets) {
  LossHyp hyp;
  hyp.nc = 3;
  DetectionLoss crit(hyp);
  auto p = random_preds(4, false);  // head built for nc=4
  Targets empty{torch::zeros({0}), torch::zeros({0, 1}), torch::zeros({0, 4})};
  EXPECT_THROW(crit(p, empty), yolocpp::ModelError);
  auto ok = random_preds(3, false);
  Targets bad_idx{torch::tensor({2.f}), torch::tensor({{0.f}}), torch::tensor({{0.5f, 0.5f, 0.1f, 0.1f}})};
  EXPECT_THROW(crit(ok, bad_idx), yolocpp::DataError);
  Targets bad_cls{torch::tensor({0.f}), torch::tensor({{3.f}}), torch::tensor({{0.5f, 0.5f, 0.1f, 0.1f}})};
  EXPECT_THROW(crit(ok, bad_cls), yolocpp::DataError);
}
