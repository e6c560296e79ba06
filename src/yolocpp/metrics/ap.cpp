#include "yolocpp/metrics/ap.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <numeric>

#include "yolocpp/metrics/boxes.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::metrics {

torch::Tensor iou_thresholds() { return torch::linspace(0.5, 0.95, 10, torch::kFloat32); }

namespace {

std::vector<float> to_floats(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous().view(-1);
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

}  // namespace

torch::Tensor match_predictions(const torch::Tensor& pred_classes, const torch::Tensor& true_classes,
                                const torch::Tensor& iou_in, const torch::Tensor& iouv_in) {
  const auto iouv = to_floats(iouv_in.defined() ? iouv_in : iou_thresholds());
  const auto pc = to_floats(pred_classes), tc = to_floats(true_classes);
  const int64_t N = int64_t(pc.size()), M = int64_t(tc.size()), T = int64_t(iouv.size());
  if (iou_in.dim() != 2 || iou_in.size(0) != M || iou_in.size(1) != N)
    throw Error("metrics::match_predictions: iou must be [M gt, N pred] = [" + std::to_string(M) + "," +
                std::to_string(N) + "]");
  const auto iou_raw = to_floats(iou_in);
  // IoU of pairs with different classes is zeroed (the reference multiplies by the class-equality mask).
  std::vector<float> iou(iou_raw.size());
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) iou[m * N + n] = tc[m] == pc[n] ? iou_raw[m * N + n] : 0.0f;

  auto correct = torch::zeros({N, T}, torch::kBool);
  auto* out = correct.data_ptr<bool>();
  struct Pair { int64_t m, n; float v; };
  std::vector<Pair> pairs, by_pred;
  for (int64_t t = 0; t < T; ++t) {
    pairs.clear();
    for (int64_t m = 0; m < M; ++m)  // row-major (GT-major), as np.nonzero enumerates
      for (int64_t n = 0; n < N; ++n)
        if (iou[m * N + n] >= iouv[t]) pairs.push_back({m, n, iou[m * N + n]});
    if (pairs.empty()) continue;
    // argsort()[::-1]: ascending then reversed, so equal IoUs come out in reverse enumeration order
    // (numpy's small-array sort is stable; exact ties of float IoUs are practically never hit).
    std::stable_sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.v < b.v; });
    std::reverse(pairs.begin(), pairs.end());
    // First (highest-IoU) pair per prediction, then ordered by prediction index (np.unique return_index).
    std::map<int64_t, Pair> first_per_pred;
    for (const auto& p : pairs) first_per_pred.emplace(p.n, p);
    // Then the first pair per GT in that prediction-ordered list: the lowest prediction index wins, not the
    // highest IoU (Ultralytics' quirk, spec 6.4 / checklist 12).
    std::map<int64_t, int64_t> first_per_gt;
    for (const auto& [n, p] : first_per_pred) first_per_gt.emplace(p.m, n);
    for (const auto& [m, n] : first_per_gt) out[n * T + t] = true;
  }
  return correct;
}

namespace np {

std::vector<double> linspace(double start, double stop, int64_t num) {
  std::vector<double> y(size_t(std::max<int64_t>(num, 0)));
  if (num == 1) { y[0] = start; return y; }
  const double step = (stop - start) / double(num - 1);
  for (int64_t i = 0; i < num; ++i) y[i] = double(i) * step + start;
  if (num > 1) y[num - 1] = stop;
  return y;
}

std::vector<double> interp(const std::vector<double>& x, const std::vector<double>& xp, const std::vector<double>& fp,
                           double left, double right) {
  if (xp.empty() || xp.size() != fp.size()) throw Error("np::interp: xp and fp must be non-empty and equally long");
  const size_t L = xp.size();
  const double lval = std::isnan(left) ? fp.front() : left;
  const double rval = std::isnan(right) ? fp.back() : right;
  std::vector<double> res(x.size());
  for (size_t k = 0; k < x.size(); ++k) {
    const double v = x[k];
    if (std::isnan(v)) { res[k] = v; continue; }
    if (L == 1) { res[k] = v < xp[0] ? lval : (v > xp[0] ? rval : fp[0]); continue; }
    if (v > xp[L - 1]) { res[k] = rval; continue; }
    if (v < xp[0]) { res[k] = lval; continue; }
    // Last j with xp[j] <= v: a duplicated xp takes its right-most value.
    const size_t j = size_t(std::upper_bound(xp.begin(), xp.end(), v) - xp.begin()) - 1;
    if (j == L - 1 || xp[j] == v) { res[k] = fp[j]; continue; }
    const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    double r = slope * (v - xp[j]) + fp[j];
    if (std::isnan(r)) {
      r = slope * (v - xp[j + 1]) + fp[j + 1];
      if (std::isnan(r) && fp[j] == fp[j + 1]) r = fp[j];
    }
    res[k] = r;
  }
  return res;
}

double sum(const double* a, int64_t n) {
  // numpy's pairwise summation (8 accumulators in blocks of up to 128) so means match to the last bit.
  if (n < 8) {
    double res = 0.;
    for (int64_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int k = 0; k < 8; ++k) r[k] = a[k];
    int64_t i;
    for (i = 8; i < n - (n % 8); i += 8)
      for (int k = 0; k < 8; ++k) r[k] += a[i + k];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return sum(a, n2) + sum(a + n2, n - n2);
}

double trapz(const std::vector<double>& y, const std::vector<double>& x) {
  if (y.size() != x.size()) throw Error("np::trapz: x and y differ in length");
  if (y.size() < 2) return 0.0;
  std::vector<double> terms(y.size() - 1);
  for (size_t i = 0; i + 1 < y.size(); ++i) terms[i] = (x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2.0;
  return 0.0 + sum(terms.data(), int64_t(terms.size()));
}

std::vector<double> smooth(const std::vector<double>& y, double f) {
  if (y.empty()) return {};
  const int64_t nf = int64_t(round_half_even(double(y.size()) * f * 2)) / 2 + 1;  // odd window
  const int64_t half = nf / 2;
  std::vector<double> yp;
  yp.reserve(y.size() + 2 * half);
  yp.insert(yp.end(), half, y.front());
  yp.insert(yp.end(), y.begin(), y.end());
  yp.insert(yp.end(), half, y.back());
  const double w = 1.0 / double(nf);
  std::vector<double> out(yp.size() - nf + 1);
  for (size_t i = 0; i < out.size(); ++i) {
    double s = 0.;
    for (int64_t k = 0; k < nf; ++k) s += yp[i + k] * w;
    out[i] = s;
  }
  return out;
}

}  // namespace np

double compute_ap(const std::vector<double>& recall, const std::vector<double>& precision) {
  std::vector<double> mrec{0.0}, mpre{1.0};
  mrec.insert(mrec.end(), recall.begin(), recall.end());
  mrec.push_back(1.0);
  mpre.insert(mpre.end(), precision.begin(), precision.end());
  mpre.push_back(0.0);
  for (size_t i = mpre.size() - 1; i-- > 0;) mpre[i] = std::max(mpre[i], mpre[i + 1]);  // envelope from the right
  const auto x = np::linspace(0, 1, 101);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return np::trapz(np::interp(x, mrec, mpre, nan, nan), x);
}

namespace {

// The precision envelope compute_ap integrates (sentinels recall 0 -> precision 1, recall 1 -> 0), sampled at
// the recall grid `x`: the PR curve plot.
std::vector<double> pr_envelope(const std::vector<double>& recall, const std::vector<double>& precision,
                                const std::vector<double>& x) {
  std::vector<double> mrec{0.0}, mpre{1.0};
  mrec.insert(mrec.end(), recall.begin(), recall.end());
  mrec.push_back(1.0);
  mpre.insert(mpre.end(), precision.begin(), precision.end());
  mpre.push_back(0.0);
  for (size_t i = mpre.size() - 1; i-- > 0;) mpre[i] = std::max(mpre[i], mpre[i + 1]);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return np::interp(x, mrec, mpre, nan, nan);
}

}  // namespace

ApResult ap_per_class(const std::vector<uint8_t>& tp, int64_t T, const std::vector<float>& conf,
                      const std::vector<float>& pred_cls, const std::vector<float>& target_cls) {
  const size_t N = conf.size();
  if (pred_cls.size() != N || tp.size() != N * size_t(T))
    throw Error("metrics::ap_per_class: tp, conf and pred_cls must describe the same " + std::to_string(N) +
                " predictions");
  constexpr double eps = 1e-16;
  // Sort by confidence, descending (stable for equal confidences).
  std::vector<size_t> order(N);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return -conf[a] < -conf[b]; });

  ApResult R;
  std::map<float, int64_t> counts;
  for (float c : target_cls) counts[c]++;
  const size_t nc = counts.size();
  R.x = np::linspace(0, 1, 1000);
  const size_t nx = R.x.size();
  std::vector<double> negx(nx);
  for (size_t k = 0; k < nx; ++k) negx[k] = -R.x[k];
  R.ap.assign(nc, std::vector<double>(size_t(T), 0.0));
  R.p_curve.assign(nc, std::vector<double>(nx, 0.0));
  R.r_curve.assign(nc, std::vector<double>(nx, 0.0));
  R.pr_curve.assign(nc, std::vector<double>(nx, 0.0));

  size_t ci = 0;
  for (const auto& [c, n_l] : counts) {
    R.classes.push_back(int(c));
    R.nt.push_back(n_l);
    std::vector<size_t> rows;
    for (size_t k : order)
      if (pred_cls[k] == c) rows.push_back(k);
    if (!rows.empty() && n_l > 0) {
      const size_t np_ = rows.size();
      std::vector<double> negconf(np_);
      for (size_t k = 0; k < np_; ++k) negconf[k] = -double(conf[rows[k]]);
      for (int64_t j = 0; j < T; ++j) {
        std::vector<double> recall(np_), precision(np_);
        int64_t tpc = 0, fpc = 0;
        for (size_t k = 0; k < np_; ++k) {
          const bool hit = tp[rows[k] * size_t(T) + size_t(j)] != 0;
          tpc += hit, fpc += !hit;
          recall[k] = double(tpc) / (double(n_l) + eps);
          precision[k] = double(tpc) / double(tpc + fpc);
        }
        if (j == 0) {  // curves on the confidence grid use IoU 0.5
          R.r_curve[ci] = np::interp(negx, negconf, recall, 0.0, std::numeric_limits<double>::quiet_NaN());
          R.p_curve[ci] = np::interp(negx, negconf, precision, 1.0, std::numeric_limits<double>::quiet_NaN());
          R.pr_curve[ci] = pr_envelope(recall, precision, R.x);
        }
        R.ap[ci][size_t(j)] = compute_ap(recall, precision);
      }
    }
    ++ci;
  }

  R.f1_curve.assign(nc, std::vector<double>(nx, 0.0));
  std::vector<double> mean_f1(nx, 0.0);
  for (size_t c = 0; c < nc; ++c)
    for (size_t k = 0; k < nx; ++k) {
      const double p = R.p_curve[c][k], r = R.r_curve[c][k];
      R.f1_curve[c][k] = 2 * p * r / (p + r + eps);
    }
  if (nc > 0) {
    for (size_t k = 0; k < nx; ++k) {
      double s = R.f1_curve[0][k];
      for (size_t c = 1; c < nc; ++c) s += R.f1_curve[c][k];
      mean_f1[k] = s / double(nc);
    }
  }
  const auto sm = np::smooth(mean_f1, 0.1);
  R.best_index = int64_t(std::max_element(sm.begin(), sm.end()) - sm.begin());  // first maximum
  for (size_t c = 0; c < nc; ++c) {
    const double p = R.p_curve[c][size_t(R.best_index)], r = R.r_curve[c][size_t(R.best_index)];
    R.p.push_back(p);
    R.r.push_back(r);
    R.f1.push_back(R.f1_curve[c][size_t(R.best_index)]);
    const double tpv = round_half_even(r * double(R.nt[c]));
    R.tp.push_back(tpv);
    R.fp.push_back(round_half_even(tpv / (p + eps) - tpv));
  }
  return R;
}

double DetMetrics::fitness() const { return 0.0 * mp + 0.0 * mr + 0.1 * map50 + 0.9 * map; }

double round_decimals(double v, int ndigits) {
  if (!std::isfinite(v)) return v;
  // printf rounds the exact binary value (glibc), as Python's dtoa-based round() does; parse it back.
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.*f", ndigits, v);
  return std::strtod(buf, nullptr);
}

std::vector<std::pair<std::string, double>> DetMetrics::results_dict(bool round5) const {
  auto r = [round5](double v) { return round5 ? round_decimals(v, 5) : v; };
  return {{"metrics/precision(B)", r(mp)},
          {"metrics/recall(B)", r(mr)},
          {"metrics/mAP50(B)", r(map50)},
          {"metrics/mAP50-95(B)", r(map)},
          {"fitness", r(fitness())}};
}

DetMetrics det_metrics_from(const ApResult& r, int64_t nc) {
  DetMetrics d;
  d.nc = nc;
  d.ap_class_index = r.classes;
  d.p = r.p, d.r = r.r, d.f1 = r.f1, d.all_ap = r.ap;
  const size_t k = r.classes.size();
  auto mean = [](const std::vector<double>& v) { return v.empty() ? 0.0 : np::sum(v.data(), int64_t(v.size())) / double(v.size()); };
  std::vector<double> col0, col5, flat;
  for (const auto& row : r.ap) {
    if (!row.empty()) col0.push_back(row[0]);
    if (row.size() > 5) col5.push_back(row[5]);
    flat.insert(flat.end(), row.begin(), row.end());
    d.ap50.push_back(row.empty() ? 0.0 : row[0]);
    d.ap.push_back(mean(row));
  }
  d.mp = mean(d.p);
  d.mr = mean(d.r);
  d.map50 = mean(col0);
  d.map75 = mean(col5);
  d.map = mean(flat);
  d.maps.assign(size_t(std::max<int64_t>(nc, 0)), d.map);
  for (size_t i = 0; i < k; ++i)
    if (r.classes[i] >= 0 && r.classes[i] < nc) d.maps[size_t(r.classes[i])] = d.ap[i];
  d.curves = r;
  return d;
}

torch::Tensor DetectionStats::update(const torch::Tensor& pred, const torch::Tensor& gt_xyxy, const torch::Tensor& gt_cls) {
  if (pred.defined() && pred.numel() && (pred.dim() != 2 || pred.size(1) < 6))
    throw Error("metrics::DetectionStats::update: predictions must be [n,6] x1,y1,x2,y2,conf,cls");
  if (gt_xyxy.defined() && gt_xyxy.numel() && (gt_xyxy.dim() != 2 || gt_xyxy.size(1) != 4))
    throw Error("metrics::DetectionStats::update: ground truth boxes must be [m,4] xyxy");
  ++seen_;
  const int64_t npr = pred.defined() && pred.numel() ? pred.size(0) : 0;
  const auto cls = gt_cls.defined() ? to_floats(gt_cls) : std::vector<float>{};
  const int64_t nl = int64_t(cls.size());
  constexpr int64_t T = 10;
  auto tp = torch::zeros({npr, T}, torch::kBool);
  last_iou_ = torch::zeros({nl, npr}, torch::kFloat32);
  if (npr == 0 && nl == 0) return tp;  // contributes nothing but the image count
  target_cls_.insert(target_cls_.end(), cls.begin(), cls.end());
  std::vector<float> uniq(cls);
  std::sort(uniq.begin(), uniq.end());
  uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
  target_img_.insert(target_img_.end(), uniq.begin(), uniq.end());
  if (npr == 0) return tp;  // GT only: counted as missed through target_cls
  auto p = pred.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const auto conf = to_floats(p.select(1, 4)), pc = to_floats(p.select(1, 5));
  if (nl) {
    last_iou_ = box_iou(gt_xyxy.detach().to(torch::kCPU), p.narrow(1, 0, 4));
    tp = match_predictions(p.select(1, 5), gt_cls, last_iou_);
  }
  conf_.insert(conf_.end(), conf.begin(), conf.end());
  pred_cls_.insert(pred_cls_.end(), pc.begin(), pc.end());
  const bool* t = tp.data_ptr<bool>();
  tp_.insert(tp_.end(), t, t + npr * T);
  return tp;
}

DetMetrics DetectionStats::compute(int64_t nc) const {
  auto bincount = [nc](const std::vector<float>& v) {
    std::vector<int64_t> out(size_t(std::max<int64_t>(nc, 0)), 0);
    for (float f : v) {
      const auto c = int64_t(f);
      if (c < 0) continue;
      if (size_t(c) >= out.size()) out.resize(size_t(c) + 1, 0);
      out[size_t(c)]++;
    }
    return out;
  };
  DetMetrics d;
  const bool any_tp = std::any_of(tp_.begin(), tp_.end(), [](uint8_t v) { return v != 0; });
  if (any_tp) {
    d = det_metrics_from(ap_per_class(tp_, 10, conf_, pred_cls_, target_cls_), nc);
  } else {
    // No true positive anywhere: Ultralytics skips the AP computation and every metric stays 0.
    d.nc = nc;
    d.maps.assign(size_t(std::max<int64_t>(nc, 0)), 0.0);
  }
  d.seen = seen_;
  d.nt_per_class = bincount(target_cls_);
  d.nt_per_image = bincount(target_img_);
  return d;
}

}  // namespace yolocpp::metrics
