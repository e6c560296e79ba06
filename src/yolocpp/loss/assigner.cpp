#include "yolocpp/loss/assigner.hpp"

#include <algorithm>
#include <string>

#include "yolocpp/loss/box_ops.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::loss {

namespace {

using torch::indexing::Slice;

// Step 2: class score and CIoU of every valid in-box (GT, anchor) pair; zero elsewhere.
// CIoU is evaluated on the gathered list of valid pairs (not the full [B, M, A] grid): the reference
// does the same, and atan's vectorised and scalar paths round differently, so the tensor layout
// decides the last bit.
std::pair<torch::Tensor, torch::Tensor> box_metrics(const torch::Tensor& pd_scores, const torch::Tensor& pd_bboxes,
                                                    const torch::Tensor& gt_labels, const torch::Tensor& gt_bboxes,
                                                    const torch::Tensor& valid, double alpha, double beta) {
  const auto B = pd_bboxes.size(0), A = pd_bboxes.size(1), M = gt_bboxes.size(1);
  auto labels = gt_labels.to(torch::kLong).squeeze(-1);  // truncation, as the reference's .long()
  auto scores_by_gt = pd_scores.permute({0, 2, 1}).gather(1, labels.unsqueeze(-1).expand({B, M, A}));
  auto bbox_scores = torch::zeros({B, M, A}, pd_scores.options());
  bbox_scores.index_put_({valid}, scores_by_gt.index({valid}));

  auto pd = pd_bboxes.unsqueeze(1).expand({B, M, A, 4}).index({valid});
  auto gt = gt_bboxes.unsqueeze(2).expand({B, M, A, 4}).index({valid});
  auto overlaps = torch::zeros({B, M, A}, pd_bboxes.options());
  overlaps.index_put_({valid}, bbox_iou(gt, pd, /*xywh=*/false, IouKind::CIoU).squeeze(-1).clamp_(0));

  auto align = bbox_scores.pow(alpha) * overlaps.pow(beta);
  return {align, overlaps};
}

// Step 3: the top-k anchors per GT by alignment, as a 0/1 float mask; rows of padding GTs are empty.
torch::Tensor topk_mask(const torch::Tensor& align, const torch::Tensor& valid_gt, int64_t topk) {
  const int64_t k = std::min<int64_t>(topk, align.size(-1));
  auto idx = std::get<1>(torch::topk(align, k, -1, /*largest=*/true, /*sorted=*/true));
  auto mask = torch::zeros_like(align);
  mask.scatter_(-1, idx, 1.0);
  // Top-k indices are distinct, so a plain scatter counts each selected anchor once; padding GTs are
  // dropped outright (the reference gets the same by zeroing anchors counted more than once).
  return mask * valid_gt;
}

}  // namespace

TaskAlignedAssigner::TaskAlignedAssigner(int64_t num_classes, int64_t topk, double alpha, double beta, double eps)
    : nc_(num_classes), topk_(topk), alpha_(alpha), beta_(beta), eps_(eps) {
  if (num_classes < 1) throw ConfigError("TaskAlignedAssigner: num_classes must be >= 1, got " + std::to_string(num_classes));
  if (topk < 1) throw ConfigError("TaskAlignedAssigner: topk must be >= 1, got " + std::to_string(topk));
}

torch::Tensor select_candidates_in_gts(const torch::Tensor& anc_points, const torch::Tensor& gt_bboxes, double eps) {
  const auto B = gt_bboxes.size(0), M = gt_bboxes.size(1), A = anc_points.size(0);
  auto lt_rb = gt_bboxes.reshape({-1, 1, 4}).chunk(2, 2);
  auto deltas = torch::cat({anc_points.unsqueeze(0) - lt_rb[0], lt_rb[1] - anc_points.unsqueeze(0)}, 2)
                    .view({B, M, A, -1});
  return std::get<0>(deltas.min(3)).gt(eps);
}

AssignResult TaskAlignedAssigner::operator()(const torch::Tensor& pd_scores_in, const torch::Tensor& pd_bboxes_in,
                                             const torch::Tensor& anc_points, const torch::Tensor& gt_labels,
                                             const torch::Tensor& gt_bboxes_in, const torch::Tensor& mask_gt_in) const {
  torch::NoGradGuard no_grad;
  auto pd_scores = pd_scores_in.detach().to(torch::kFloat32);
  auto pd_bboxes = pd_bboxes_in.detach().to(torch::kFloat32);
  auto gt_bboxes = gt_bboxes_in.to(torch::kFloat32);
  const auto B = pd_scores.size(0), A = pd_scores.size(1), M = gt_bboxes.size(1);
  if (pd_scores.size(2) != nc_)
    throw ModelError("TaskAlignedAssigner: predictions have " + std::to_string(pd_scores.size(2)) +
                     " classes but the assigner was built for nc=" + std::to_string(nc_));

  AssignResult r;
  if (M == 0) {  // no boxes anywhere in the batch: everything is background
    r.target_labels = torch::full({B, A}, nc_, pd_scores.options().dtype(torch::kLong));
    r.target_bboxes = torch::zeros_like(pd_bboxes);
    r.target_scores = torch::zeros_like(pd_scores);
    r.fg_mask = torch::zeros({B, A}, pd_scores.options().dtype(torch::kBool));
    r.target_gt_idx = torch::zeros({B, A}, pd_scores.options().dtype(torch::kLong));
    return r;
  }

  auto valid_gt = mask_gt_in.to(torch::kFloat32);  // [B, M, 1]
  {
    auto ids = gt_labels.to(torch::kLong).masked_select(valid_gt.to(torch::kBool));
    if (ids.numel() && (ids.max().item<int64_t>() >= nc_ || ids.min().item<int64_t>() < 0))
      throw DataError("TaskAlignedAssigner: target class ids span [" + std::to_string(ids.min().item<int64_t>()) +
                      ", " + std::to_string(ids.max().item<int64_t>()) + "] but nc=" + std::to_string(nc_) +
                      "; check the dataset labels against the dataset yaml `names`");
  }
  auto in_gts = select_candidates_in_gts(anc_points, gt_bboxes);
  auto valid = in_gts.logical_and(valid_gt.to(torch::kBool));  // [B, M, A]
  auto [align, overlaps] = box_metrics(pd_scores, pd_bboxes, gt_labels, gt_bboxes, valid, alpha_, beta_);

  auto mask_pos = topk_mask(align, valid_gt, topk_) * in_gts.to(torch::kFloat32) * valid_gt;
  r.align_metric = align;
  r.overlaps = overlaps;
  r.mask_in_gts = in_gts;
  r.mask_pos_topk = mask_pos.to(torch::kBool);

  // Step 5: an anchor claimed by several GTs goes to the GT it overlaps most (over all GTs, first max).
  auto fg = mask_pos.sum(-2);
  if (fg.max().item<float>() > 1) {
    auto multi = (fg.unsqueeze(1) > 1).expand({B, M, A});
    auto best = torch::zeros_like(mask_pos).scatter_(1, overlaps.argmax(1).unsqueeze(1), 1.0);
    mask_pos = torch::where(multi, best, mask_pos);
    fg = mask_pos.sum(-2);
  }
  auto fg_mask = fg > 0;
  auto gt_idx = mask_pos.argmax(-2);
  r.mask_pos = mask_pos.to(torch::kBool);

  // Step 6: gather each anchor's GT (background anchors read row 0 of their image).
  auto flat_idx = gt_idx + torch::arange(B, gt_idx.options()).unsqueeze(-1) * M;
  auto labels = gt_labels.to(torch::kLong).flatten().index({flat_idx}).clamp_(0);
  r.target_labels = labels;
  r.target_bboxes = gt_bboxes.view({-1, 4}).index({flat_idx});

  // Step 7: soft targets normalised per GT by its best overlap, using the final (one GT per anchor) mask.
  auto align_pos = align * mask_pos;
  auto pos_align_max = std::get<0>(align_pos.max(-1, /*keepdim=*/true));
  auto pos_overlap_max = std::get<0>((overlaps * mask_pos).max(-1, /*keepdim=*/true));
  auto norm = std::get<0>((align_pos * pos_overlap_max / (pos_align_max + eps_)).max(-2)).unsqueeze(-1);
  // One-hot(label) * fg * norm, written straight into place: the products are exact (x·1, x·0), so this
  // equals the reference's int64 one-hot tensor times norm without materialising [B, A, nc] twice.
  r.target_scores = torch::zeros({B, A, nc_}, pd_scores.options())
                        .scatter_(2, labels.unsqueeze(-1), norm * fg_mask.unsqueeze(-1).to(norm.scalar_type()));
  r.fg_mask = fg_mask;
  r.target_gt_idx = gt_idx;
  return r;
}

}  // namespace yolocpp::loss
