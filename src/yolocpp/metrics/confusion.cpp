#include "yolocpp/metrics/confusion.hpp"

#include <algorithm>
#include <map>

#include "yolocpp/metrics/boxes.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::metrics {

ConfusionMatrix::ConfusionMatrix(int64_t nc, double conf, double iou_thres)
    : nc_(nc), conf_(conf == 0.001 ? 0.25 : conf), iou_(iou_thres) {
  if (nc <= 0) throw Error("metrics::ConfusionMatrix: nc must be positive, got " + std::to_string(nc));
  m_.assign(size_t(nc + 1), std::vector<double>(size_t(nc + 1), 0.0));
}

namespace {
int64_t cls_index(float v, int64_t nc) {
  const auto c = int64_t(v);
  if (c < 0 || c >= nc)
    throw Error("metrics::ConfusionMatrix: class " + std::to_string(c) + " outside [0, " + std::to_string(nc) +
                "); check the dataset's names against the model's nc");
  return c;
}
}  // namespace

void ConfusionMatrix::process_batch(const torch::Tensor& detections, const torch::Tensor& gt_xyxy,
                                    const torch::Tensor& gt_cls) {
  const auto B = size_t(nc_);
  std::vector<int64_t> gcls;
  if (gt_cls.defined() && gt_cls.numel()) {
    auto g = gt_cls.detach().to(torch::kCPU, torch::kFloat32).contiguous().view(-1);
    for (int64_t i = 0; i < g.numel(); ++i) gcls.push_back(cls_index(g.data_ptr<float>()[i], nc_));
  }
  torch::Tensor det;
  const bool have_det = detections.defined() && detections.numel() > 0;
  if (have_det) {
    det = detections.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    det = det.index({det.select(1, 4) > conf_}).contiguous();
  }
  std::vector<int64_t> dcls;
  if (have_det)
    for (int64_t i = 0; i < det.size(0); ++i) dcls.push_back(cls_index(det[i][5].item<float>(), nc_));

  if (gcls.empty()) {  // no GT: every confident prediction is a false positive
    for (auto dc : dcls) m_[size_t(dc)][B] += 1;
    return;
  }
  if (!have_det) {  // no predictions: every GT is missed
    for (auto gc : gcls) m_[B][size_t(gc)] += 1;
    return;
  }
  // Class-agnostic pairs with IoU > threshold.
  auto iou_t = box_iou(gt_xyxy.detach().to(torch::kCPU), det.narrow(1, 0, 4)).contiguous();
  const int64_t M = iou_t.size(0), N = iou_t.size(1);
  const float* iou = iou_t.data_ptr<float>();
  struct Match { int64_t g, d; float v; };
  std::vector<Match> matches;
  for (int64_t g = 0; g < M; ++g)
    for (int64_t d = 0; d < N; ++d)
      if (double(iou[g * N + d]) > iou_) matches.push_back({g, d, iou[g * N + d]});
  auto by_iou_desc = [](std::vector<Match>& v) {
    std::stable_sort(v.begin(), v.end(), [](const Match& a, const Match& b) { return a.v < b.v; });
    std::reverse(v.begin(), v.end());
  };
  if (matches.size() > 1) {
    // Each prediction keeps its best GT, re-sort by IoU, then each GT keeps its best remaining prediction.
    by_iou_desc(matches);
    std::map<int64_t, Match> per_det;
    for (const auto& m : matches) per_det.emplace(m.d, m);
    std::vector<Match> tmp;
    for (const auto& [d, m] : per_det) tmp.push_back(m);
    by_iou_desc(tmp);
    std::map<int64_t, Match> per_gt;
    for (const auto& m : tmp) per_gt.emplace(m.g, m);
    matches.clear();
    for (const auto& [g, m] : per_gt) matches.push_back(m);
  }
  for (size_t i = 0; i < gcls.size(); ++i) {
    int64_t hits = 0, d = -1;
    for (const auto& m : matches)
      if (m.g == int64_t(i)) ++hits, d = m.d;
    if (hits == 1)
      m_[size_t(dcls[size_t(d)])][size_t(gcls[i])] += 1;
    else
      m_[B][size_t(gcls[i])] += 1;
  }
  for (size_t i = 0; i < dcls.size(); ++i) {
    const bool matched = std::any_of(matches.begin(), matches.end(), [&](const Match& m) { return m.d == int64_t(i); });
    if (!matched) m_[size_t(dcls[i])][B] += 1;
  }
}

std::pair<std::vector<double>, std::vector<double>> ConfusionMatrix::tp_fp() const {
  std::vector<double> tp(static_cast<size_t>(nc_), 0.0), fp(static_cast<size_t>(nc_), 0.0);
  for (size_t c = 0; c < size_t(nc_); ++c) {
    tp[c] = m_[c][c];
    double row = 0;
    for (double v : m_[c]) row += v;
    fp[c] = row - tp[c];
  }
  return {tp, fp};
}

}  // namespace yolocpp::metrics
