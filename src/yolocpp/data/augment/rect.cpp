#include "yolocpp/data/augment/rect.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "yolocpp/util/error.hpp"

namespace yolocpp::augment {

RectBatches rect_batch_shapes(const std::vector<cv::Size>& shapes_wh, int imgsz, int batch, int stride,
                              double pad) {
  if (batch <= 0) throw ConfigError("rect batches: batch must be positive (got " + std::to_string(batch) + ")");
  if (stride <= 0) throw ConfigError("rect batches: stride must be positive");
  const size_t n = shapes_wh.size();
  std::vector<double> ar(n);
  for (size_t i = 0; i < n; ++i) {
    if (shapes_wh[i].width <= 0 || shapes_wh[i].height <= 0)
      throw DataError("rect batches: image " + std::to_string(i) + " has an empty shape; re-verify the dataset");
    ar[i] = static_cast<double>(shapes_wh[i].height) / shapes_wh[i].width;
  }
  RectBatches rb;
  rb.order.resize(n);
  std::iota(rb.order.begin(), rb.order.end(), size_t{0});
  // Upstream's numpy argsort is not stable; a stable sort is the portable, reproducible choice for ties.
  std::stable_sort(rb.order.begin(), rb.order.end(), [&](size_t a, size_t b) { return ar[a] < ar[b]; });
  const size_t nb = (n + batch - 1) / batch;
  rb.batch_of.resize(n);
  for (size_t p = 0; p < n; ++p) rb.batch_of[p] = static_cast<int>(p / batch);
  for (size_t k = 0; k < nb; ++k) {
    double lo = 1e300, hi = -1e300;
    for (size_t p = k * batch; p < std::min(n, (k + 1) * batch); ++p) {
      lo = std::min(lo, ar[rb.order[p]]);
      hi = std::max(hi, ar[rb.order[p]]);
    }
    double fh = 1.0, fw = 1.0;
    if (hi < 1) fh = hi;
    else if (lo > 1) fw = 1.0 / lo;
    // Same operation order as upstream: shape * imgsz / stride + pad, ceil, times stride.
    const int h = static_cast<int>(std::ceil(fh * imgsz / stride + pad)) * stride;
    const int w = static_cast<int>(std::ceil(fw * imgsz / stride + pad)) * stride;
    rb.batch_shape.emplace_back(w, h);
  }
  return rb;
}

}  // namespace yolocpp::augment
