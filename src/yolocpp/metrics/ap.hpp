// Matching predictions to ground truth and Ultralytics' AP / P / R / F1 (numpy float64 semantics in plain C++).
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace yolocpp::metrics {

// The 10 matching thresholds 0.50:0.05:0.95, built in float32 as torch.linspace does.
torch::Tensor iou_thresholds();

// pred_classes [N], true_classes [M], iou [M,N] (GT x prediction) -> bool [N, T] "correct at threshold t".
// Greedy unique matching per threshold: pairs by IoU descending, one per prediction, then one per GT taking the
// lowest prediction index (Ultralytics' order, spec 6.4). iouv defaults to iou_thresholds().
torch::Tensor match_predictions(const torch::Tensor& pred_classes, const torch::Tensor& true_classes,
                                const torch::Tensor& iou, const torch::Tensor& iouv = {});

// numpy helpers with the same arithmetic as numpy 1.24, exposed for tests.
namespace np {
std::vector<double> linspace(double start, double stop, int64_t num);
// np.interp(x, xp, fp, left, right); xp non-decreasing. NaN left/right means "use fp[0] / fp[last]".
std::vector<double> interp(const std::vector<double>& x, const std::vector<double>& xp, const std::vector<double>& fp,
                           double left, double right);
double sum(const double* a, int64_t n);  // pairwise summation as numpy's add.reduce
double trapz(const std::vector<double>& y, const std::vector<double>& x);
std::vector<double> smooth(const std::vector<double>& y, double f = 0.05);
}  // namespace np

// AP of one recall/precision curve (101-point interpolation, trapezoid). Also returns the envelope if asked.
double compute_ap(const std::vector<double>& recall, const std::vector<double>& precision);

struct ApResult {
  std::vector<int> classes;               // unique GT classes, ascending (ap_class_index)
  std::vector<int64_t> nt;                // GT count per entry of `classes`
  std::vector<double> tp, fp;             // rounded TP/FP counts at the chosen confidence
  std::vector<double> p, r, f1;           // per class at the max-F1 confidence
  std::vector<std::vector<double>> ap;    // [classes][T]
  std::vector<double> x;                  // the 1000-point confidence grid
  std::vector<std::vector<double>> p_curve, r_curve, f1_curve;  // [classes][1000]
  std::vector<std::vector<double>> pr_curve;  // [classes][1000]: precision envelope at recall = x (IoU 0.5)
  int64_t best_index = 0;                 // index into x of the max smoothed mean F1
};

// tp: row-major [N, T] (0/1), conf/pred_cls [N], target_cls [M]. Classes only in predictions are ignored.
ApResult ap_per_class(const std::vector<uint8_t>& tp, int64_t T, const std::vector<float>& conf,
                      const std::vector<float>& pred_cls, const std::vector<float>& target_cls);

// Ultralytics' DetMetrics(box) after process(): everything the validator prints and the trainer logs.
struct DetMetrics {
  int64_t nc = 0;
  int64_t seen = 0;                       // images seen
  std::vector<int> ap_class_index;        // classes with GT
  std::vector<double> p, r, f1, ap50, ap; // per entry of ap_class_index (ap = AP50-95)
  std::vector<std::vector<double>> all_ap;
  double mp = 0, mr = 0, map50 = 0, map75 = 0, map = 0;
  std::vector<double> maps;               // [nc]: class AP50-95, the mean mAP50-95 for classes without GT
  std::vector<int64_t> nt_per_class;      // [nc] GT instances
  std::vector<int64_t> nt_per_image;      // [nc] images containing the class
  ApResult curves;                        // full curves (plots)

  std::array<double, 4> mean_results() const { return {mp, mr, map50, map}; }
  std::array<double, 4> class_result(size_t i) const { return {p.at(i), r.at(i), ap50.at(i), ap.at(i)}; }
  // 8.3.x: 0.1 * mAP50 + 0.9 * mAP50-95.
  double fitness() const;
  // metrics/precision(B), metrics/recall(B), metrics/mAP50(B), metrics/mAP50-95(B), fitness. Unrounded, or with
  // round5 = true as the validator hands them to the trainer (Python round(x, 5)).
  std::vector<std::pair<std::string, double>> results_dict(bool round5 = false) const;
};

// Python's round(v, ndigits): the exact binary value correctly rounded to decimals (ties to even).
double round_decimals(double v, int ndigits);

// Fills the DetMetrics means from an ApResult (Metric.update in Ultralytics).
DetMetrics det_metrics_from(const ApResult& r, int64_t nc);

// Accumulates per-image statistics over a validation split (the validator side of 6.4/6.5).
class DetectionStats {
 public:
  // pred [n,6] x1,y1,x2,y2,conf,cls and gt [m,4] xyxy with classes [m], both in the space IoU is taken in.
  // Returns the [n,10] correct matrix of this image (all false when there is no GT).
  torch::Tensor update(const torch::Tensor& pred, const torch::Tensor& gt_xyxy, const torch::Tensor& gt_cls);
  // Per-image IoU of the last update ([m,n], float32), for diagnostics and tests.
  const torch::Tensor& last_iou() const { return last_iou_; }
  DetMetrics compute(int64_t nc) const;
  int64_t seen() const { return seen_; }
  void reset() { *this = DetectionStats(); }

 private:
  int64_t seen_ = 0;
  std::vector<uint8_t> tp_;  // row-major [N, 10]
  std::vector<float> conf_, pred_cls_, target_cls_, target_img_;
  torch::Tensor last_iou_;
};

}  // namespace yolocpp::metrics
