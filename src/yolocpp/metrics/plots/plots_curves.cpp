// PR_curve.png, F1_curve.png, P_curve.png, R_curve.png (the final validation's curves, as Ultralytics draws
// them): one thin line per class (up to 20, with a legend) and the all-class mean in bold.
#include <fmt/format.h>

#include <algorithm>
#include <opencv2/imgproc.hpp>

#include "yolocpp/metrics/plots/plots.hpp"

namespace yolocpp::engine::plots {

namespace {

const cv::Scalar kInk(0, 0, 0), kPaper(255, 255, 255), kGridCol(225, 225, 225), kMeanCol(180, 80, 20);
constexpr int kW = 960, kH = 600, kL = 70, kR = 290, kT = 40, kB = 60;

cv::Point to_px(const cv::Rect& a, double x, double y) {
  x = std::clamp(x, 0.0, 1.0), y = std::clamp(y, 0.0, 1.0);
  return {a.x + static_cast<int>(std::lround(x * (a.width - 1))), a.y + static_cast<int>(std::lround((1 - y) * (a.height - 1)))};
}

void polyline(cv::Mat& img, const cv::Rect& a, const std::vector<double>& x, const std::vector<double>& y,
              const cv::Scalar& col, int thickness) {
  std::vector<cv::Point> pts;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i)
    if (std::isfinite(y[i])) pts.push_back(to_px(a, x[i], y[i]));
  // Plain 8-connected lines: each class keeps its exact colour (anti-aliasing would blend it into the grid).
  if (pts.size() > 1) cv::polylines(img, pts, false, col, thickness, cv::LINE_8);
}

}  // namespace

cv::Mat draw_curve(const std::vector<double>& x, const std::vector<std::vector<double>>& ys,
                   const std::vector<std::string>& labels, const std::vector<int>& classes, const std::string& mean_label,
                   const std::string& xlabel, const std::string& ylabel) {
  cv::Mat img(kH, kW, CV_8UC3, kPaper);
  const cv::Rect area(kL, kT, kW - kL - kR, kH - kT - kB);
  for (int k = 0; k <= 10; ++k) {  // grid and ticks every 0.1
    const double v = k / 10.0;
    cv::line(img, to_px(area, v, 0), to_px(area, v, 1), kGridCol, 1);
    cv::line(img, to_px(area, 0, v), to_px(area, 1, v), kGridCol, 1);
    if (k % 2 == 0) {
      const std::string t = fmt::format("{:.1f}", v);
      cv::putText(img, t, to_px(area, v, 0) + cv::Point(-12, 22), cv::FONT_HERSHEY_SIMPLEX, 0.45, kInk, 1, cv::LINE_AA);
      cv::putText(img, t, to_px(area, 0, v) + cv::Point(-36, 5), cv::FONT_HERSHEY_SIMPLEX, 0.45, kInk, 1, cv::LINE_AA);
    }
  }
  cv::rectangle(img, area, kInk, 1);
  cv::putText(img, xlabel, cv::Point(area.x + area.width / 2 - 40, kH - 18), cv::FONT_HERSHEY_SIMPLEX, 0.6, kInk, 1, cv::LINE_AA);
  cv::putText(img, ylabel, cv::Point(8, kT - 14), cv::FONT_HERSHEY_SIMPLEX, 0.6, kInk, 1, cv::LINE_AA);
  const bool legend = ys.size() < 21;
  std::vector<double> mean(x.size(), 0.0);
  for (size_t c = 0; c < ys.size(); ++c) {
    const cv::Scalar col = class_color(c < classes.size() ? classes[c] : static_cast<int>(c));
    polyline(img, area, x, ys[c], col, 2);
    for (size_t i = 0; i < x.size() && i < ys[c].size(); ++i) mean[i] += ys[c][i] / static_cast<double>(ys.size());
    if (legend && c < labels.size()) {
      const int ly = kT + 20 + 20 * static_cast<int>(c + 1);
      cv::line(img, cv::Point(kW - kR + 15, ly - 5), cv::Point(kW - kR + 40, ly - 5), col, 2);
      cv::putText(img, labels[c], cv::Point(kW - kR + 46, ly), cv::FONT_HERSHEY_SIMPLEX, 0.45, kInk, 1, cv::LINE_AA);
    }
  }
  if (!ys.empty()) {
    polyline(img, area, x, mean, kMeanCol, 3);
    cv::line(img, cv::Point(kW - kR + 15, kT + 15), cv::Point(kW - kR + 40, kT + 15), kMeanCol, 3);
    cv::putText(img, mean_label, cv::Point(kW - kR + 46, kT + 20), cv::FONT_HERSHEY_SIMPLEX, 0.45, kInk, 1, cv::LINE_AA);
  }
  return img;
}

void plot_curves(const metrics::DetMetrics& m, const std::vector<std::string>& names, const fs::path& save_dir) {
  const auto& c = m.curves;
  if (c.classes.empty() || c.x.empty()) return;
  std::vector<std::string> labels;
  for (size_t i = 0; i < c.classes.size(); ++i) {
    const int k = c.classes[i];
    const std::string n = k >= 0 && static_cast<size_t>(k) < names.size() ? names[static_cast<size_t>(k)] : std::to_string(k);
    const double ap50 = i < c.ap.size() && !c.ap[i].empty() ? c.ap[i][0] : 0.0;
    labels.push_back(fmt::format("{} {:.3f}", n, ap50));
  }
  double map50 = 0;
  for (const auto& a : c.ap) map50 += a.empty() ? 0.0 : a[0] / static_cast<double>(c.ap.size());
  save_image(save_dir / "PR_curve.png",
             draw_curve(c.x, c.pr_curve, labels, c.classes, fmt::format("all classes {:.3f} mAP@0.5", map50), "Recall", "Precision"));
  auto at_best = [&](const std::vector<std::vector<double>>& ys, const char* what) {
    std::vector<double> mean(c.x.size(), 0.0);
    for (const auto& y : ys)
      for (size_t i = 0; i < mean.size() && i < y.size(); ++i) mean[i] += y[i] / static_cast<double>(ys.size());
    size_t best = 0;
    for (size_t i = 1; i < mean.size(); ++i)
      if (mean[i] > mean[best]) best = i;
    return fmt::format("all classes {:.2f} at {:.3f}", mean.empty() ? 0.0 : mean[best], c.x[best]) + what;
  };
  std::vector<std::string> plain;
  for (size_t i = 0; i < c.classes.size(); ++i) plain.push_back(labels[i].substr(0, labels[i].rfind(' ')));
  save_image(save_dir / "F1_curve.png", draw_curve(c.x, c.f1_curve, plain, c.classes, at_best(c.f1_curve, ""), "Confidence", "F1"));
  save_image(save_dir / "P_curve.png", draw_curve(c.x, c.p_curve, plain, c.classes, at_best(c.p_curve, ""), "Confidence", "Precision"));
  save_image(save_dir / "R_curve.png", draw_curve(c.x, c.r_curve, plain, c.classes, at_best(c.r_curve, ""), "Confidence", "Recall"));
}

}  // namespace yolocpp::engine::plots
