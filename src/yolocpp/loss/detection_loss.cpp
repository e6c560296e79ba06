#include "yolocpp/loss/detection_loss.hpp"

#include <string>

#include "yolocpp/loss/box_ops.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::loss {

using torch::indexing::Slice;

PaddedTargets preprocess_targets(const Targets& t, int64_t batch_size, std::array<int64_t, 2> imgsz_hw,
                                 torch::Device device) {
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const int64_t n = t.batch_idx.defined() ? t.batch_idx.numel() : 0;
  if (n > 0 && (t.cls.numel() != n || t.bboxes.numel() != 4 * n))
    throw DataError("detection loss: targets disagree in length (batch_idx " + std::to_string(n) + ", cls " +
                    std::to_string(t.cls.numel()) + ", bboxes " + std::to_string(t.bboxes.numel()) +
                    " values); each box needs one batch index, one class and 4 coordinates");
  PaddedTargets out;
  if (n == 0) {
    out.gt_labels = torch::zeros({batch_size, 0, 1}, f32);
    out.gt_bboxes = torch::zeros({batch_size, 0, 4}, f32);
    out.mask_gt = torch::zeros({batch_size, 0, 1}, f32.dtype(torch::kBool));
    return out;
  }
  auto bi = t.batch_idx.reshape({-1}).to(device, torch::kFloat32);
  auto rows = torch::cat({t.cls.reshape({-1, 1}).to(device, torch::kFloat32),
                          t.bboxes.reshape({-1, 4}).to(device, torch::kFloat32)}, 1);  // [n, 5]
  const auto bi_cpu = bi.to(torch::kCPU, torch::kLong);
  if (bi_cpu.min().item<int64_t>() < 0 || bi_cpu.max().item<int64_t>() >= batch_size)
    throw DataError("detection loss: a target's batch index is outside [0, " + std::to_string(batch_size) +
                    "); batch_idx must name an image of this batch");
  const int64_t m = torch::bincount(bi_cpu, {}, batch_size).max().item<int64_t>();

  auto padded = torch::zeros({batch_size, m, 5}, f32);
  for (int64_t j = 0; j < batch_size; ++j) {
    auto sel = rows.index({bi == static_cast<double>(j)});
    if (sel.size(0)) padded.index_put_({j, Slice(0, sel.size(0))}, sel);
  }
  const double h = static_cast<double>(imgsz_hw[0]), w = static_cast<double>(imgsz_hw[1]);
  auto scale = torch::tensor({static_cast<float>(w), static_cast<float>(h), static_cast<float>(w),
                              static_cast<float>(h)}, f32);
  out.gt_labels = padded.index({"...", Slice(0, 1)});
  out.gt_bboxes = xywh2xyxy(padded.index({"...", Slice(1, 5)}) * scale);
  out.mask_gt = out.gt_bboxes.sum(2, /*keepdim=*/true).gt(0.0);
  return out;
}

torch::Tensor bbox_decode(const torch::Tensor& anchor_points, const torch::Tensor& pred_dist, int64_t reg_max) {
  const auto B = pred_dist.size(0), A = pred_dist.size(1);
  auto proj = torch::arange(reg_max, pred_dist.options().requires_grad(false));
  auto dist = pred_dist.view({B, A, 4, reg_max}).softmax(3).matmul(proj);
  return dist2bbox(dist, anchor_points, /*xywh=*/false);
}

torch::Tensor dfl_loss(const torch::Tensor& pred_dist, const torch::Tensor& target_in, int64_t reg_max) {
  auto target = target_in.clamp(0, static_cast<double>(reg_max - 1) - 0.01);
  auto tl = target.to(torch::kLong);  // floor for the non-negative targets
  auto tr = tl + 1;
  auto wl = tr - target;
  auto wr = 1 - wl;
  auto logits = pred_dist.reshape({-1, reg_max});
  namespace F = torch::nn::functional;
  auto opt = F::CrossEntropyFuncOptions().reduction(torch::kNone);
  auto ce_l = F::cross_entropy(logits, tl.view({-1}), opt).view(tl.sizes());
  auto ce_r = F::cross_entropy(logits, tr.view({-1}), opt).view(tl.sizes());
  return (ce_l * wl + ce_r * wr).mean(-1, /*keepdim=*/true);
}

DetectionLoss::DetectionLoss(LossHyp hyp) : hyp_(std::move(hyp)), assigner_(hyp_.nc, hyp_.tal_topk, 0.5, 6.0) {
  if (hyp_.reg_max < 2) throw ConfigError("detection loss: reg_max must be >= 2, got " + std::to_string(hyp_.reg_max));
  if (hyp_.strides.empty()) throw ConfigError("detection loss: the model has no strides; build the Detect head first");
}

LossOutput DetectionLoss::operator()(const std::vector<torch::Tensor>& preds, const Targets& t,
                                     std::optional<std::array<int64_t, 2>> imgsz_hw) const {
  const int64_t no = 4 * hyp_.reg_max + hyp_.nc;
  if (preds.size() != hyp_.strides.size())
    throw ModelError("detection loss: got " + std::to_string(preds.size()) + " prediction levels but " +
                     std::to_string(hyp_.strides.size()) + " strides");
  std::vector<torch::Tensor> flat;
  for (const auto& p : preds) {
    if (p.dim() != 4 || p.size(1) != no)
      throw ModelError("detection loss: a prediction level has shape " + std::to_string(p.dim()) + "-d with " +
                       std::to_string(p.dim() > 1 ? p.size(1) : 0) + " channels, expected [B, " + std::to_string(no) +
                       ", H, W] (4*reg_max + nc); does the model's nc match the dataset's?");
    flat.push_back(p.reshape({p.size(0), no, -1}));
  }
  // Parity runs the loss in float32 even when the forward ran under autocast (BCE autocasts to fp32 anyway).
  auto cat = torch::cat(flat, 2).to(torch::kFloat32);
  auto parts = cat.split_with_sizes({4 * hyp_.reg_max, hyp_.nc}, 1);
  auto pred_distri = parts[0].permute({0, 2, 1}).contiguous();
  auto pred_scores = parts[1].permute({0, 2, 1}).contiguous();
  const int64_t B = pred_scores.size(0);
  const auto imgsz = imgsz_hw.value_or(std::array<int64_t, 2>{
      static_cast<int64_t>(preds[0].size(2) * hyp_.strides[0]), static_cast<int64_t>(preds[0].size(3) * hyp_.strides[0])});

  auto [anchor_points, stride_tensor] = make_anchors(preds, hyp_.strides, 0.5);
  auto tg = preprocess_targets(t, B, imgsz, pred_scores.device());
  auto pred_bboxes = bbox_decode(anchor_points, pred_distri, hyp_.reg_max);

  auto as = assigner_(pred_scores.detach().sigmoid(), pred_bboxes.detach() * stride_tensor,
                      anchor_points * stride_tensor, tg.gt_labels, tg.gt_bboxes, tg.mask_gt);
  auto target_scores = as.target_scores;
  auto tss = target_scores.sum();
  if (tss.item<float>() < 1.0f) tss = torch::ones({}, tss.options());

  namespace F = torch::nn::functional;
  auto bce = F::binary_cross_entropy_with_logits(
      pred_scores, target_scores, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
  auto l_cls = bce.sum() / tss;
  auto zero = torch::zeros({}, pred_scores.options());
  auto l_box = zero, l_dfl = zero;
  const int64_t num_fg = as.fg_mask.sum().item<int64_t>();
  if (num_fg > 0) {
    auto target_bboxes = as.target_bboxes / stride_tensor;
    auto weight = target_scores.sum(-1).index({as.fg_mask}).unsqueeze(-1);
    auto iou = bbox_iou(pred_bboxes.index({as.fg_mask}), target_bboxes.index({as.fg_mask}), false, IouKind::CIoU);
    l_box = ((1.0 - iou) * weight).sum() / tss;
    auto target_ltrb = bbox2dist(anchor_points, target_bboxes, static_cast<double>(hyp_.reg_max - 1));
    auto dfl = dfl_loss(pred_distri.index({as.fg_mask}).view({-1, hyp_.reg_max}), target_ltrb.index({as.fg_mask}),
                        hyp_.reg_max) * weight;
    l_dfl = dfl.sum() / tss;
  }
  auto loss = torch::stack({l_box * hyp_.box, l_cls * hyp_.cls, l_dfl * hyp_.dfl});

  LossOutput out;
  out.total = loss.sum() * B;
  out.items = loss.detach();
  out.assign = std::move(as);
  out.targets = std::move(tg);
  out.anchor_points = anchor_points;
  out.stride_tensor = stride_tensor;
  out.pred_bboxes = pred_bboxes.detach();
  out.target_scores_sum = tss.detach();
  out.num_fg = num_fg;
  return out;
}

}  // namespace yolocpp::loss
