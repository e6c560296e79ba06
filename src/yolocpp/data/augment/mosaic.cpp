#include "yolocpp/data/augment/mosaic.hpp"

#include <algorithm>

#include "yolocpp/util/error.hpp"

namespace yolocpp::augment {

Sample mosaic4(const std::array<const Sample*, 4>& tiles, int imgsz, int xc, int yc) {
  const int s2 = 2 * imgsz;
  Sample out;
  out.img = cv::Mat(s2, s2, CV_8UC3, cv::Scalar::all(114));
  for (int k = 0; k < 4; ++k) {
    const Sample& t = *tiles[k];
    if (t.img.empty() || t.img.type() != CV_8UC3)
      throw DataError("mosaic: tile " + std::to_string(k) + " (dataset index " + std::to_string(t.index) +
                      ") is not a decoded 3-channel uint8 image");
    const int w = t.img.cols, h = t.img.rows;
    int x1a, y1a, x2a, y2a, x1b, y1b, x2b, y2b;
    switch (k) {
      case 0:  // top-left: the tile's bottom-right corner sits on the centre
        x1a = std::max(xc - w, 0), y1a = std::max(yc - h, 0), x2a = xc, y2a = yc;
        x1b = w - (x2a - x1a), y1b = h - (y2a - y1a), x2b = w, y2b = h;
        break;
      case 1:  // top-right
        x1a = xc, y1a = std::max(yc - h, 0), x2a = std::min(xc + w, s2), y2a = yc;
        x1b = 0, y1b = h - (y2a - y1a), x2b = std::min(w, x2a - x1a), y2b = h;
        break;
      case 2:  // bottom-left
        x1a = std::max(xc - w, 0), y1a = yc, x2a = xc, y2a = std::min(s2, yc + h);
        x1b = w - (x2a - x1a), y1b = 0, x2b = w, y2b = std::min(y2a - y1a, h);
        break;
      default:  // bottom-right
        x1a = xc, y1a = yc, x2a = std::min(xc + w, s2), y2a = std::min(s2, yc + h);
        x1b = 0, y1b = 0, x2b = std::min(w, x2a - x1a), y2b = std::min(y2a - y1a, h);
        break;
    }
    if (x2a > x1a && y2a > y1a && x2b > x1b && y2b > y1b)
      t.img(cv::Rect(x1b, y1b, x2b - x1b, y2b - y1b)).copyTo(out.img(cv::Rect(x1a, y1a, x2a - x1a, y2a - y1a)));
    const float padw = static_cast<float>(x1a - x1b), padh = static_cast<float>(y1a - y1b);
    for (size_t j = 0; j < t.inst.size(); ++j) {
      const Box& b = t.inst.boxes[j];
      out.inst.push({b[0] + padw, b[1] + padh, b[2] + padw, b[3] + padh}, t.inst.cls[j]);
    }
  }
  out.inst.clip(static_cast<float>(s2), static_cast<float>(s2));
  out.inst.remove_zero_area();
  out.index = tiles[0]->index;
  out.ori_shape = tiles[0]->ori_shape;
  out.resized_shape = out.img.size();
  out.ratio_hw = tiles[0]->ratio_hw;
  out.mosaic_border = mosaic_border_of(imgsz);
  return out;
}

Sample mosaic4(const std::array<const Sample*, 4>& tiles, int imgsz, Rng& rng) {
  const double lo = -mosaic_border_of(imgsz), hi = 2.0 * imgsz + mosaic_border_of(imgsz);
  const int yc = static_cast<int>(rng.uniform(lo, hi));
  const int xc = static_cast<int>(rng.uniform(lo, hi));
  return mosaic4(tiles, imgsz, xc, yc);
}

}  // namespace yolocpp::augment
