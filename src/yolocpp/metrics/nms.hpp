// Non-maximum suppression with Ultralytics' candidate selection and torchvision's greedy NMS semantics.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace yolocpp::metrics {

struct NmsOptions {
  double conf = 0.25;            // keep rows with score > conf
  double iou = 0.7;              // suppress when IoU > iou
  std::vector<int64_t> classes;  // keep only these class ids (empty: all)
  bool agnostic = false;         // one NMS over all classes
  bool multi_label = false;      // one row per (box, class) above conf; only when nc > 1
  int64_t max_det = 300;
  int64_t max_nms = 30000;       // candidates kept (highest scores) before NMS
  int64_t max_wh = 7680;         // per-class coordinate offset that keeps classes apart
  // Per-image time budget: stop processing further images after 2.0 + max_time_img * B seconds (warning).
  // <= 0 disables the limit.
  double max_time_img = 0.05;
};

// prediction [B, 4+nc, A]: rows 0-3 centre-x, centre-y, w, h in input pixels, then class scores.
// Returns per image a float32 CPU tensor [n, 6]: x1, y1, x2, y2, conf, cls, in descending score order.
std::vector<torch::Tensor> non_max_suppression(const torch::Tensor& prediction, const NmsOptions& opts = {});

// Greedy NMS of boxes [n,4] xyxy (float32) by scores [n]: visits rows by descending score (stable on ties),
// drops a row whose IoU with an already kept row is > iou_thres. Returns kept indices (int64) in visit order,
// at most max_keep of them (< 0: no limit). Stopping early is exact: later rows never change earlier keeps.
torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, double iou_thres, int64_t max_keep = -1);

}  // namespace yolocpp::metrics
