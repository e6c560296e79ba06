#include "yolocpp/metrics/nms.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "yolocpp/metrics/boxes.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::metrics {

torch::Tensor nms(const torch::Tensor& boxes_in, const torch::Tensor& scores_in, double iou_thres, int64_t max_keep) {
  if (boxes_in.dim() != 2 || boxes_in.size(1) != 4 || scores_in.dim() != 1 || scores_in.size(0) != boxes_in.size(0))
    throw Error("metrics::nms: expected boxes [n,4] and scores [n]");
  const int64_t n = boxes_in.size(0);
  if (n == 0) return torch::empty({0}, torch::kLong);
  auto boxes = boxes_in.to(torch::kCPU, torch::kFloat32).contiguous();
  auto scores = scores_in.to(torch::kCPU, torch::kFloat32).contiguous();
  // torchvision sorts stably by descending score and computes areas with tensor ops in float32.
  auto order_t = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true)).contiguous();
  auto x1_t = boxes.select(1, 0).contiguous(), y1_t = boxes.select(1, 1).contiguous();
  auto x2_t = boxes.select(1, 2).contiguous(), y2_t = boxes.select(1, 3).contiguous();
  auto areas_t = ((x2_t - x1_t) * (y2_t - y1_t)).contiguous();
  const int64_t* order = order_t.data_ptr<int64_t>();

  // Candidates packed in visit order, so the sweep per kept box is one branch-free linear pass the compiler
  // vectorises (suppressed rows are re-tested harmlessly instead of being skipped with a branch).
  std::vector<float> x1(n), y1(n), x2(n), y2(n), ar(n);
  {
    const float *px1 = x1_t.data_ptr<float>(), *py1 = y1_t.data_ptr<float>();
    const float *px2 = x2_t.data_ptr<float>(), *py2 = y2_t.data_ptr<float>(), *pa = areas_t.data_ptr<float>();
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = order[k];
      x1[k] = px1[i], y1[k] = py1[i], x2[k] = px2[i], y2[k] = py2[i], ar[k] = pa[i];
    }
  }
  // torchvision compares the float32 IoU with the double threshold. For a float ovr, ovr > thr (double) is the
  // same as ovr > f, f = the largest float <= thr (no float lies between them), which keeps the loop in float.
  float thr = static_cast<float>(iou_thres);
  if (static_cast<double>(thr) > iou_thres) thr = std::nextafter(thr, -std::numeric_limits<float>::infinity());
  std::vector<uint8_t> suppressed(size_t(n), 0);
  std::vector<int64_t> keep;
  const size_t limit = max_keep < 0 ? size_t(n) : size_t(max_keep);
  for (int64_t k = 0; k < n && keep.size() < limit; ++k) {
    if (suppressed[size_t(k)]) continue;
    keep.push_back(order[k]);
    const float ix1 = x1[k], iy1 = y1[k], ix2 = x2[k], iy2 = y2[k], ia = ar[k];
    uint8_t* sup = suppressed.data();
    for (int64_t j = k + 1; j < n; ++j) {
      const float xx1 = std::max(ix1, x1[j]), yy1 = std::max(iy1, y1[j]);
      const float xx2 = std::min(ix2, x2[j]), yy2 = std::min(iy2, y2[j]);
      const float iw = std::max(0.0f, xx2 - xx1), ih = std::max(0.0f, yy2 - yy1);
      const float inter = iw * ih;
      const float ovr = inter / (ia + ar[j] - inter);  // torchvision: no eps, float32
      sup[j] |= static_cast<uint8_t>(ovr > thr);
    }
  }
  return torch::tensor(keep, torch::kLong);
}

std::vector<torch::Tensor> non_max_suppression(const torch::Tensor& prediction, const NmsOptions& o) {
  if (prediction.dim() != 3 || prediction.size(1) < 5)
    throw Error("metrics::non_max_suppression: expected prediction [B, 4+nc, anchors], got " +
                std::to_string(prediction.dim()) + "-d tensor");
  if (o.conf < 0 || o.conf > 1) throw ConfigError("conf=" + std::to_string(o.conf) + " must be in [0, 1]");
  if (o.iou < 0 || o.iou > 1) throw ConfigError("iou=" + std::to_string(o.iou) + " must be in [0, 1]");
  torch::NoGradGuard no_grad;
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t bs = prediction.size(0), nc = prediction.size(1) - 4;
  const bool multi_label = o.multi_label && nc > 1;
  const double time_limit = 2.0 + o.max_time_img * double(bs);

  // Candidate filter on the prediction's own device, then the small remainder goes to the CPU.
  auto pred = prediction.detach().to(torch::kFloat32);
  auto xc = std::get<0>(pred.narrow(1, 4, nc).max(1)) > o.conf;  // [B, A]
  auto rows_all = pred.transpose(1, 2);                            // [B, A, 4+nc]

  std::vector<torch::Tensor> out(bs, torch::zeros({0, 6}, torch::kFloat32));
  for (int64_t b = 0; b < bs; ++b) {
    auto x = rows_all[b].index({xc[b]}).to(torch::kCPU).contiguous();
    if (x.size(0) == 0) continue;
    auto box = xywh2xyxy(x.narrow(1, 0, 4));
    auto cls = x.narrow(1, 4, nc);
    // Gather (row, class, score) first and build the [n,6] rows only for what survives the class filter and
    // the max_nms cap: with conf 0.001 an untrained 80-class model yields ~670k pairs, most of them dropped here.
    torch::Tensor rows, cls_id, score;
    if (multi_label) {
      // (anchor, class) pairs in row-major order, as torch.where returns them.
      auto ij = (cls > o.conf).nonzero();
      rows = ij.select(1, 0), cls_id = ij.select(1, 1);
      score = cls.index({rows, cls_id});
    } else {
      auto [conf, j] = cls.max(1);
      auto m = conf > o.conf;
      rows = m.nonzero().select(1, 0), cls_id = j.index({m}), score = conf.index({m});
    }
    if (!o.classes.empty()) {
      auto wanted = torch::tensor(o.classes, torch::kLong);
      auto m = (cls_id.unsqueeze(1) == wanted.unsqueeze(0)).any(1);
      rows = rows.index({m}), cls_id = cls_id.index({m}), score = score.index({m});
    }
    const int64_t n = score.size(0);
    if (n == 0) continue;
    if (n > o.max_nms) {
      // The max_nms highest scores. topk instead of a full argsort (6x faster on 670k pairs); the kept set is
      // the same unless scores tie exactly at the cut, where the reference order is unspecified too.
      auto top = std::get<1>(score.topk(o.max_nms, 0, /*largest=*/true, /*sorted=*/true));
      rows = rows.index_select(0, top), cls_id = cls_id.index_select(0, top), score = score.index_select(0, top);
    }
    auto det = torch::cat({box.index_select(0, rows), score.unsqueeze(1), cls_id.to(torch::kFloat32).unsqueeze(1)}, 1);
    // Class offset: shifted float32 coordinates, exactly as the reference, so rounding at large offsets matches.
    auto c = det.narrow(1, 5, 1) * (o.agnostic ? 0 : o.max_wh);
    auto keep = nms(det.narrow(1, 0, 4) + c, det.select(1, 4), o.iou, o.max_det);
    out[b] = det.index_select(0, keep).contiguous();
    if (o.max_time_img > 0) {
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (dt > time_limit) {
        log::warn("NMS time limit {:.3f}s exceeded after image {} of {}; later images get no detections", time_limit,
                  b + 1, bs);
        break;
      }
    }
  }
  return out;
}

}  // namespace yolocpp::metrics
