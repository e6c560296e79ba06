// Detection confusion matrix (plots only; it never feeds the metrics).
#pragma once
#include <torch/torch.h>

#include <vector>

namespace yolocpp::metrics {

class ConfusionMatrix {
 public:
  // conf 0.001 (the validation default) is replaced by 0.25, as Ultralytics does, so the plot shows
  // confident predictions only.
  explicit ConfusionMatrix(int64_t nc, double conf = 0.25, double iou_thres = 0.45);

  // detections [n,6] x1,y1,x2,y2,conf,cls (undefined or empty = none), gt [m,4] xyxy, gt_cls [m].
  void process_batch(const torch::Tensor& detections, const torch::Tensor& gt_xyxy, const torch::Tensor& gt_cls);

  // (nc+1) x (nc+1), rows = predicted class, columns = true class, index nc = background.
  const std::vector<std::vector<double>>& matrix() const { return m_; }
  // TP and FP per class (diagonal; row sums minus diagonal), background excluded.
  std::pair<std::vector<double>, std::vector<double>> tp_fp() const;
  int64_t nc() const { return nc_; }
  double conf() const { return conf_; }
  double iou_thres() const { return iou_; }

 private:
  int64_t nc_;
  double conf_, iou_;
  std::vector<std::vector<double>> m_;
};

}  // namespace yolocpp::metrics
