// Rectangular batches (ultralytics 8.3.58 data/base.py BaseDataset.set_rectangle): images sorted by aspect ratio, one
// letterbox shape per batch.
#pragma once
#include <vector>

#include <opencv2/core.hpp>

namespace yolocpp::augment {

struct RectBatches {
  std::vector<size_t> order;          // dataset indices sorted by h/w ascending (stable on ties)
  std::vector<cv::Size> batch_shape;  // (w, h) per batch k, for sorted positions [k*B, (k+1)*B)
  std::vector<int> batch_of;          // batch index of sorted position p (= p / B)
  // The letterbox target of sorted position p.
  cv::Size shape_at(size_t p) const { return batch_shape[batch_of[p]]; }
};

// shapes_wh: original (w, h) of every image. pad = 0.5 for val, 0.0 for train rect; stride = 32.
RectBatches rect_batch_shapes(const std::vector<cv::Size>& shapes_wh, int imgsz, int batch, int stride = 32,
                              double pad = 0.5);

}  // namespace yolocpp::augment
