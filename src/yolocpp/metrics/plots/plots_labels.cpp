// labels.jpg (plots=True, once per training): what the training labels look like, as Ultralytics' file shows
// it: instances per class (bars), the boxes' shapes overlaid at the centre, and 2-D histograms of the box
// centres (x, y) and sizes (width, height), darker where more boxes fall.
#include <fmt/format.h>

#include <algorithm>
#include <opencv2/imgproc.hpp>

#include "yolocpp/metrics/plots/plots.hpp"

namespace yolocpp::engine::plots {

namespace {

constexpr int kPanel = 400, kPad = 40, kBins = 50;
const cv::Scalar kInk(0, 0, 0), kPaper(255, 255, 255);

cv::Rect panel_area(int col, int row) {
  return {col * kPanel + kPad, row * kPanel + kPad / 2, kPanel - kPad - 10, kPanel - kPad - kPad / 2};
}

void title(cv::Mat& img, const cv::Rect& a, const std::string& x, const std::string& y) {
  cv::rectangle(img, a, kInk, 1);
  cv::putText(img, x, cv::Point(a.x + a.width / 2 - 8 * static_cast<int>(x.size()) / 2, a.br().y + 18),
              cv::FONT_HERSHEY_SIMPLEX, 0.45, kInk, 1, cv::LINE_AA);
  cv::putText(img, y, cv::Point(a.x - kPad + 4, a.y + 12), cv::FONT_HERSHEY_SIMPLEX, 0.4, kInk, 1, cv::LINE_AA);
}

// Counts of (u, v) pairs in [0, 1]^2 on a kBins x kBins grid, drawn as shades of blue (white = none).
void histogram2d(cv::Mat& img, const cv::Rect& a, const std::vector<std::pair<float, float>>& uv) {
  std::vector<int> h(kBins * kBins, 0);
  for (auto [u, v] : uv) {
    const int i = std::clamp(static_cast<int>(u * kBins), 0, kBins - 1), j = std::clamp(static_cast<int>(v * kBins), 0, kBins - 1);
    ++h[static_cast<size_t>(j * kBins + i)];
  }
  const int peak = std::max(1, *std::max_element(h.begin(), h.end()));
  for (int j = 0; j < kBins; ++j)
    for (int i = 0; i < kBins; ++i) {
      const int n = h[static_cast<size_t>(j * kBins + i)];
      if (!n) continue;
      const double t = 0.25 + 0.75 * static_cast<double>(n) / peak;  // any count is visible
      const cv::Point p0(a.x + i * a.width / kBins, a.br().y - (j + 1) * a.height / kBins);
      const cv::Point p1(a.x + (i + 1) * a.width / kBins, a.br().y - j * a.height / kBins);
      cv::rectangle(img, p0, p1, cv::Scalar(255 - 75 * t, 255 - 200 * t, 255 - 245 * t), cv::FILLED);
    }
}

}  // namespace

cv::Mat draw_labels(const std::vector<data::Box>& boxes, const std::vector<std::string>& names) {
  cv::Mat img(2 * kPanel, 2 * kPanel, CV_8UC3, kPaper);
  int nc = static_cast<int>(names.size());
  for (const auto& b : boxes) nc = std::max(nc, b.cls + 1);
  std::vector<int64_t> per(static_cast<size_t>(std::max(nc, 1)), 0);
  for (const auto& b : boxes)
    if (b.cls >= 0) ++per[static_cast<size_t>(b.cls)];

  // Instances per class.
  const cv::Rect a0 = panel_area(0, 0);
  const int64_t top = std::max<int64_t>(1, *std::max_element(per.begin(), per.end()));
  for (size_t c = 0; c < per.size(); ++c) {
    const int x0 = a0.x + static_cast<int>(c * a0.width / per.size()) + 1;
    const int x1 = a0.x + static_cast<int>((c + 1) * a0.width / per.size()) - 1;
    const int y0 = a0.br().y - static_cast<int>(per[c] * (a0.height - 20) / top);
    if (per[c] > 0) cv::rectangle(img, cv::Point(x0, y0), cv::Point(std::max(x0, x1), a0.br().y - 1), class_color(static_cast<int64_t>(c)), cv::FILLED);
    if (per.size() <= 30) {
      const std::string n = c < names.size() ? names[c] : std::to_string(c);
      cv::putText(img, n.substr(0, 10), cv::Point(x0, a0.br().y + 14), cv::FONT_HERSHEY_SIMPLEX, 0.3, kInk, 1, cv::LINE_AA);
    }
  }
  title(img, a0, "", fmt::format("instances (max {})", top));

  // Box shapes centred at (0.5, 0.5): at most 1000, in their class colours.
  const cv::Rect a1 = panel_area(1, 0);
  const size_t step = std::max<size_t>(1, boxes.size() / 1000);
  for (size_t i = 0; i < boxes.size(); i += step) {
    const auto& b = boxes[i];
    const int w = static_cast<int>(b.w * a1.width), h = static_cast<int>(b.h * a1.height);
    const cv::Point c(a1.x + a1.width / 2, a1.y + a1.height / 2);
    cv::rectangle(img, cv::Rect(c.x - w / 2, c.y - h / 2, std::max(w, 1), std::max(h, 1)) & a1, class_color(b.cls), 1);
  }
  title(img, a1, "", "box shapes");

  std::vector<std::pair<float, float>> xy, wh;
  for (const auto& b : boxes) xy.emplace_back(b.x, b.y), wh.emplace_back(b.w, b.h);  // axes up, as Ultralytics plots them
  const cv::Rect a2 = panel_area(0, 1), a3 = panel_area(1, 1);
  histogram2d(img, a2, xy);
  title(img, a2, "x", "y");
  histogram2d(img, a3, wh);
  title(img, a3, "width", "height");
  return img;
}

void plot_labels(const std::vector<data::ImageLabels>& items, const std::vector<std::string>& names, bool single_cls,
                 const fs::path& path) {
  std::vector<data::Box> boxes;
  for (const auto& it : items) boxes.insert(boxes.end(), it.boxes.begin(), it.boxes.end());
  if (single_cls)
    for (auto& b : boxes) b.cls = 0;
  save_image(path, draw_labels(boxes, names));
}

}  // namespace yolocpp::engine::plots
