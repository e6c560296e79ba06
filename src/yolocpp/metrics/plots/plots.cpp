#include "yolocpp/metrics/plots/plots.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

namespace yolocpp::engine::plots {

namespace {

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
const cv::Scalar kBlack(0, 0, 0), kWhite(255, 255, 255), kGrey(200, 200, 200);

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  const auto b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream is(line);
  while (std::getline(is, cur, sep)) out.push_back(trim(cur));
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

std::string fmt_g(double v) { return fmt::format("{:.3g}", v); }

// The largest font scale (<= max_scale) at which `text` fits `width` pixels.
double fit_scale(const std::string& text, int width, double max_scale, int thickness = 1) {
  double s = max_scale;
  int base = 0;
  while (s > 0.2 && cv::getTextSize(text, kFont, s, thickness, &base).width > width) s *= 0.9;
  return s;
}

// HWC uint8 BGR copy of image i of a batch (RGB uint8 or float in [0,1]).
cv::Mat batch_image(const Batch& b, int64_t i) {
  torch::Tensor t = b.img[i].detach().to(torch::kCPU);
  if (t.scalar_type() != torch::kUInt8) t = (t.to(torch::kFloat32) * 255.0).round().clamp(0, 255).to(torch::kUInt8);
  t = t.permute({1, 2, 0}).contiguous();
  cv::Mat rgb(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_8UC3, t.data_ptr<uint8_t>());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);  // cvtColor copies, so `t` may go
  return bgr;
}

}  // namespace

BatchGrid batch_grid(int64_t n_images, int64_t img_h, int64_t img_w, int max_images, int max_size) {
  if (n_images <= 0 || img_h <= 0 || img_w <= 0)
    throw Error(fmt::format("plots::batch_grid: needs images and a positive size, got {} images of {}x{}", n_images,
                            img_w, img_h));
  BatchGrid g;
  g.images = static_cast<int>(std::min<int64_t>(n_images, max_images));
  g.cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(g.images))));
  // Shrink only: the mosaic's long side stays within max_size, small batches keep their pixels.
  g.scale = std::min(1.0, static_cast<double>(max_size) / g.cols / static_cast<double>(std::max(img_h, img_w)));
  g.tile_w = static_cast<int>(std::floor(img_w * g.scale));
  g.tile_h = static_cast<int>(std::floor(img_h * g.scale));
  g.width = g.cols * g.tile_w;
  g.height = g.cols * g.tile_h;
  return g;
}

cv::Scalar class_color(int64_t cls) {
  // 20 well separated hues (RGB), given as BGR below; classes beyond 20 reuse them.
  static const int rgb[20][3] = {{230, 25, 75},  {60, 180, 75},   {255, 140, 0},  {0, 130, 200},  {145, 30, 180},
                                 {70, 200, 200}, {240, 50, 230},  {160, 200, 40}, {250, 120, 150}, {0, 128, 128},
                                 {150, 90, 255}, {170, 110, 40},  {200, 170, 0},  {128, 0, 0},    {100, 220, 130},
                                 {128, 128, 0},  {255, 90, 50},   {0, 0, 128},    {100, 100, 100}, {20, 60, 255}};
  const auto k = static_cast<size_t>(((cls % 20) + 20) % 20);
  return cv::Scalar(rgb[k][2], rgb[k][1], rgb[k][0]);
}

cv::Mat draw_batch(const Batch& b, const std::vector<std::string>& names, int max_images, int max_size) {
  const BatchGrid g = batch_grid(b.img.size(0), b.img.size(2), b.img.size(3), max_images, max_size);
  cv::Mat mosaic(g.height, g.width, CV_8UC3, kWhite);
  const double font = std::clamp(std::min(g.tile_w, g.tile_h) / 640.0 * 0.6, 0.35, 0.8);
  const int thick = std::max(1, static_cast<int>(std::round(std::min(g.tile_w, g.tile_h) / 320.0)));

  torch::Tensor bi, cls, box;
  if (b.batch_idx.defined() && b.batch_idx.numel()) {
    bi = b.batch_idx.detach().to(torch::kCPU, torch::kFloat32).contiguous().view(-1);
    cls = b.cls.detach().to(torch::kCPU, torch::kFloat32).contiguous().view(-1);
    box = b.bboxes.detach().to(torch::kCPU, torch::kFloat32).contiguous().view({-1, 4});
  }
  for (int i = 0; i < g.images; ++i) {
    const int ox = g.tile_w * (i % g.cols), oy = g.tile_h * (i / g.cols);
    cv::Mat im = batch_image(b, i);
    if (im.cols != g.tile_w || im.rows != g.tile_h) cv::resize(im, im, cv::Size(g.tile_w, g.tile_h), 0, 0, cv::INTER_AREA);
    im.copyTo(mosaic(cv::Rect(ox, oy, g.tile_w, g.tile_h)));
    cv::rectangle(mosaic, cv::Rect(ox, oy, g.tile_w, g.tile_h), kWhite, 2);  // tile border
    if (static_cast<size_t>(i) < b.im_files.size()) {
      std::string stem = fs::path(b.im_files[static_cast<size_t>(i)]).filename().string().substr(0, 40);
      cv::putText(mosaic, stem, cv::Point(ox + 5, oy + 5 + static_cast<int>(18 * font / 0.5)), kFont, font,
                  cv::Scalar(220, 220, 220), 1, cv::LINE_AA);
    }
    if (!bi.defined()) continue;
    const float* pi = bi.data_ptr<float>();
    const float* pc = cls.data_ptr<float>();
    const float* pb = box.data_ptr<float>();
    for (int64_t k = 0; k < bi.numel(); ++k) {
      if (static_cast<int>(pi[k]) != i) continue;
      const float* xywh = pb + 4 * k;
      // Normalised xywh of the batch image -> tile pixels.
      const int x1 = ox + static_cast<int>(std::lround((xywh[0] - xywh[2] / 2) * g.tile_w));
      const int y1 = oy + static_cast<int>(std::lround((xywh[1] - xywh[3] / 2) * g.tile_h));
      const int x2 = ox + static_cast<int>(std::lround((xywh[0] + xywh[2] / 2) * g.tile_w));
      const int y2 = oy + static_cast<int>(std::lround((xywh[1] + xywh[3] / 2) * g.tile_h));
      const auto c = static_cast<int64_t>(pc[k]);
      const cv::Scalar col = class_color(c);
      // LINE_8: the edge pixels carry the exact class colour (tests sample them).
      cv::rectangle(mosaic, cv::Point(x1, y1), cv::Point(x2, y2), col, thick, cv::LINE_8);
      const std::string label =
          c >= 0 && static_cast<size_t>(c) < names.size() ? names[static_cast<size_t>(c)] : std::to_string(c);
      int base = 0;
      const cv::Size ts = cv::getTextSize(label, kFont, font, 1, &base);
      // The label sits on the box's top edge, inside the tile when the box touches the tile's top.
      const int ly = std::max(oy + ts.height + base + 1, y1);
      cv::rectangle(mosaic, cv::Point(x1, ly - ts.height - base - 1), cv::Point(x1 + ts.width + 2, ly), col,
                    cv::FILLED);
      cv::putText(mosaic, label, cv::Point(x1 + 1, ly - base), kFont, font, kWhite, 1, cv::LINE_AA);
    }
  }
  return mosaic;
}

cv::Mat draw_results(const fs::path& csv) {
  const std::string text = util::read_file(csv);
  std::istringstream is(text);
  std::string line;
  std::vector<std::string> header;
  std::vector<std::vector<double>> rows;
  while (std::getline(is, line)) {
    if (trim(line).empty()) continue;
    auto cells = split(line, ',');
    if (header.empty()) {
      header = cells;
      continue;
    }
    std::vector<double> r;
    for (const auto& c : cells) {
      char* end = nullptr;
      const double v = std::strtod(c.c_str(), &end);
      r.push_back(end && end != c.c_str() && *end == '\0' ? v : std::numeric_limits<double>::quiet_NaN());
    }
    rows.push_back(std::move(r));
  }
  if (header.empty()) throw IoError(csv.string() + " is empty; results.png needs its header and rows");
  auto column = [&](const std::string& name) -> int {
    for (size_t k = 0; k < header.size(); ++k)
      if (header[k] == name) return static_cast<int>(k);
    return -1;
  };
  static const char* kCols[10] = {"train/box_loss",  "train/cls_loss",       "train/dfl_loss",
                                  "metrics/precision(B)", "metrics/recall(B)", "val/box_loss",
                                  "val/cls_loss",    "val/dfl_loss",         "metrics/mAP50(B)",
                                  "metrics/mAP50-95(B)"};
  constexpr int PW = 360, PH = 300, L = 58, R = 14, T = 36, B = 30;
  cv::Mat out(2 * PH, 5 * PW, CV_8UC3, kWhite);
  const int ecol = column("epoch");
  const cv::Scalar line_col(180, 110, 30), pt_col(160, 80, 10);
  for (int p = 0; p < 10; ++p) {
    const int ox = PW * (p % 5), oy = PH * (p / 5);
    const std::string title = kCols[p];
    const double ts = fit_scale(title, PW - 20, 0.55);
    int base = 0;
    const cv::Size tsz = cv::getTextSize(title, kFont, ts, 1, &base);
    cv::putText(out, title, cv::Point(ox + (PW - tsz.width) / 2, oy + 22), kFont, ts, kBlack, 1, cv::LINE_AA);
    const cv::Rect area(ox + L, oy + T, PW - L - R, PH - T - B);
    cv::rectangle(out, area, kBlack, 1);

    const int c = column(title);
    std::vector<std::pair<double, double>> pts;
    for (size_t r = 0; r < rows.size(); ++r) {
      if (c < 0 || static_cast<size_t>(c) >= rows[r].size() || !std::isfinite(rows[r][static_cast<size_t>(c)])) continue;
      double x = static_cast<double>(r + 1);
      if (ecol >= 0 && static_cast<size_t>(ecol) < rows[r].size() && std::isfinite(rows[r][static_cast<size_t>(ecol)]))
        x = rows[r][static_cast<size_t>(ecol)];
      pts.emplace_back(x, rows[r][static_cast<size_t>(c)]);
    }
    if (pts.empty()) continue;
    double x0 = pts.front().first, x1 = x0, y0 = pts.front().second, y1 = y0;
    for (auto [x, y] : pts) x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    if (x1 == x0) x0 -= 1, x1 += 1;  // one epoch: its point in the middle
    if (y1 == y0) {
      const double pad = y0 == 0 ? 1.0 : std::abs(y0) * 0.1;
      y0 -= pad, y1 += pad;
    } else {
      const double pad = (y1 - y0) * 0.05;
      y0 -= pad, y1 += pad;
    }
    auto px = [&](double x, double y) {
      return cv::Point(area.x + static_cast<int>(std::lround((x - x0) / (x1 - x0) * (area.width - 1))),
                       area.y + static_cast<int>(std::lround((y1 - y) / (y1 - y0) * (area.height - 1))));
    };
    // Grid and y ticks (4 intervals), x ticks at both ends. Enough significant digits that neighbouring
    // ticks of a nearly flat curve still read differently (3 at least, 6 at most).
    const double mag = std::max(std::abs(y0), std::abs(y1));
    const int digits = std::clamp(
        static_cast<int>(std::ceil(std::log10(std::max(mag, 1e-12) / ((y1 - y0) / 4.0)))) + 1, 3, 6);
    for (int k = 0; k <= 4; ++k) {
      const double y = y0 + (y1 - y0) * k / 4.0;
      const int yy = px(x0, y).y;
      if (k > 0 && k < 4) cv::line(out, cv::Point(area.x + 1, yy), cv::Point(area.x + area.width - 2, yy), kGrey, 1);
      cv::putText(out, fmt::format("{:.{}g}", y, digits), cv::Point(ox + 4, yy + 4), kFont, 0.35, kBlack, 1,
                  cv::LINE_AA);
    }
    for (double x : {x0, x1}) {
      const std::string s = fmt_g(x);
      const cv::Size xs = cv::getTextSize(s, kFont, 0.35, 1, &base);
      cv::putText(out, s, cv::Point(px(x, y0).x - xs.width / 2, area.y + area.height + 16), kFont, 0.35, kBlack, 1,
                  cv::LINE_AA);
    }
    for (size_t k = 1; k < pts.size(); ++k)
      cv::line(out, px(pts[k - 1].first, pts[k - 1].second), px(pts[k].first, pts[k].second), line_col, 2, cv::LINE_AA);
    for (auto [x, y] : pts) cv::circle(out, px(x, y), 3, pt_col, cv::FILLED, cv::LINE_AA);
  }
  return out;
}

cv::Mat draw_confusion_matrix(const std::vector<std::vector<double>>& m, const std::vector<std::string>& names,
                              bool normalize) {
  const int n = static_cast<int>(m.size());
  if (n < 2) throw Error("plots::draw_confusion_matrix: needs an (nc+1)x(nc+1) matrix with nc >= 1");
  for (const auto& row : m)
    if (static_cast<int>(row.size()) != n) throw Error("plots::draw_confusion_matrix: the matrix is not square");
  std::vector<std::vector<double>> v = m;
  if (normalize) {  // column-normalised: each true class's predictions sum to 1
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int i = 0; i < n; ++i) s += m[size_t(i)][size_t(j)];
      for (int i = 0; i < n; ++i) v[size_t(i)][size_t(j)] = m[size_t(i)][size_t(j)] / (s + 1e-9);
    }
  }
  double vmax = 0;
  for (const auto& row : v)
    for (double x : row) vmax = std::max(vmax, x);
  if (vmax <= 0) vmax = 1;

  std::vector<std::string> labels;
  for (int k = 0; k < n - 1; ++k)
    labels.push_back(static_cast<size_t>(k) < names.size() ? names[size_t(k)] : std::to_string(k));
  labels.push_back("background");

  const int cell = std::clamp(1200 / n, 10, 70);
  const double lfont = std::clamp(cell / 60.0 * 0.5, 0.3, 0.5);
  int base = 0, lw = 0;
  for (const auto& s : labels) lw = std::max(lw, cv::getTextSize(s, kFont, lfont, 1, &base).width);
  const int margin = std::min(lw, 220) + 56;  // labels plus the axis title
  const int T = 50, Rm = 90, side = n * cell;
  cv::Mat out(T + side + margin, margin + side + Rm, CV_8UC3, kWhite);
  const int gx = margin, gy = T;

  // Blues: white (low) to dark blue (high); the text flips to white on dark cells.
  auto shade = [](double t) {
    const double r = 247 + (8 - 247) * t, g = 251 + (48 - 251) * t, b = 255 + (107 - 255) * t;
    return cv::Scalar(b, g, r);
  };
  const bool annotate = n - 1 < 30;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const double x = v[size_t(i)][size_t(j)];
      const double t = x / vmax;
      const cv::Rect r(gx + j * cell, gy + i * cell, cell, cell);
      cv::rectangle(out, r, shade(t), cv::FILLED);
      if (!annotate || x == 0) continue;
      const std::string s = normalize ? fmt::format("{:.2f}", x) : fmt::format("{:.0f}", x);
      const double fs = fit_scale(s, cell - 4, 0.5);
      const cv::Size ts = cv::getTextSize(s, kFont, fs, 1, &base);
      cv::putText(out, s, cv::Point(r.x + (cell - ts.width) / 2, r.y + (cell + ts.height) / 2), kFont, fs,
                  t > 0.5 ? kWhite : kBlack, 1, cv::LINE_AA);
    }
  cv::rectangle(out, cv::Rect(gx, gy, side, side), kBlack, 1);

  // Row labels (predicted) on the left, right-aligned against the grid.
  for (int i = 0; i < n; ++i) {
    const std::string& s = labels[size_t(i)];
    const double fs = fit_scale(s, margin - 56, lfont);
    const cv::Size ts = cv::getTextSize(s, kFont, fs, 1, &base);
    cv::putText(out, s, cv::Point(gx - 4 - ts.width, gy + i * cell + (cell + ts.height) / 2), kFont, fs, kBlack, 1,
                cv::LINE_AA);
  }
  // Column labels (true) below the grid, reading upwards: drawn horizontally in a strip, then rotated.
  cv::Mat strip(side, margin, CV_8UC3, kWhite);
  for (int j = 0; j < n; ++j) {
    const std::string& s = labels[size_t(j)];
    const double fs = fit_scale(s, margin - 56, lfont);
    const cv::Size ts = cv::getTextSize(s, kFont, fs, 1, &base);
    cv::putText(strip, s, cv::Point(margin - 4 - ts.width, j * cell + (cell + ts.height) / 2), kFont, fs, kBlack, 1,
                cv::LINE_AA);
  }
  cv::putText(strip, "True", cv::Point(6, side / 2 + 6), kFont, 0.6, kBlack, 1, cv::LINE_AA);
  cv::Mat rot;
  cv::rotate(strip, rot, cv::ROTATE_90_COUNTERCLOCKWISE);  // (side x margin) -> (margin x side)
  cv::Mat bottom = out(cv::Rect(gx, gy + side, side, margin));
  // CCW puts the strip's column 0 at the bottom, so the labels end next to the grid and read upwards.
  rot.copyTo(bottom);
  cv::Mat ylab(30, 120, CV_8UC3, kWhite);
  cv::putText(ylab, "Predicted", cv::Point(4, 22), kFont, 0.6, kBlack, 1, cv::LINE_AA);
  cv::rotate(ylab, ylab, cv::ROTATE_90_COUNTERCLOCKWISE);
  if (side >= ylab.rows) ylab.copyTo(out(cv::Rect(2, gy + (side - ylab.rows) / 2, ylab.cols, ylab.rows)));

  const std::string title = normalize ? "Confusion Matrix Normalized" : "Confusion Matrix";
  const cv::Size tts = cv::getTextSize(title, kFont, 0.7, 2, &base);
  cv::putText(out, title, cv::Point(gx + std::max(0, (side - tts.width) / 2), 34), kFont, 0.7, kBlack, 2, cv::LINE_AA);

  // Colour bar with its range.
  const int bx = gx + side + 20, bw = 18;
  for (int y = 0; y < side; ++y)
    cv::line(out, cv::Point(bx, gy + y), cv::Point(bx + bw - 1, gy + y), shade(1.0 - double(y) / std::max(1, side - 1)));
  cv::rectangle(out, cv::Rect(bx, gy, bw, side), kBlack, 1);
  cv::putText(out, normalize ? fmt::format("{:.2f}", vmax) : fmt::format("{:.0f}", vmax), cv::Point(bx + bw + 4, gy + 10),
              kFont, 0.4, kBlack, 1, cv::LINE_AA);
  cv::putText(out, "0", cv::Point(bx + bw + 4, gy + side), kFont, 0.4, kBlack, 1, cv::LINE_AA);
  return out;
}

void save_image(const fs::path& path, const cv::Mat& img) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (ext != ".jpg" && ext != ".jpeg" && ext != ".png")
    throw IoError(path.string() + ": plots are written as .jpg or .png only");
  std::vector<uchar> buf;
  std::vector<int> params;
  if (ext != ".png") params = {cv::IMWRITE_JPEG_QUALITY, 95};
  if (img.empty() || !cv::imencode(ext, img, buf, params))
    throw IoError("could not encode the plot " + path.string());
  util::atomic_write(path, std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()));
}

void plot_train_batch(const Batch& b, const std::vector<std::string>& names, const fs::path& path) {
  save_image(path, draw_batch(b, names));
}

void plot_results(const fs::path& csv, const fs::path& png) { save_image(png, draw_results(csv)); }

void plot_confusion_matrices(const std::vector<std::vector<double>>& m, const std::vector<std::string>& names,
                             const fs::path& save_dir) {
  save_image(save_dir / "confusion_matrix.png", draw_confusion_matrix(m, names, false));
  save_image(save_dir / "confusion_matrix_normalized.png", draw_confusion_matrix(m, names, true));
}

}  // namespace yolocpp::engine::plots
