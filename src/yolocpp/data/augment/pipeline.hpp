// The composed training and validation transforms (ultralytics 8.3.58 data/augment.py v8_transforms). One
// TrainTransform per loader worker: it owns that worker's recent-image buffer (mosaic partners) and is not thread-safe;
// randomness comes only from the Rng the caller passes, so a seed per sample gives the same output on any machine.
#pragma once
#include <deque>
#include <functional>
#include <optional>
#include <unordered_map>

#include "yolocpp/data/augment/perspective.hpp"
#include "yolocpp/data/augment/rng.hpp"
#include "yolocpp/data/augment/types.hpp"

namespace yolocpp::augment {

// The augmentation hyperparameters, with Ultralytics' names and defaults (the trainer copies them from the
// settings; this library does not depend on config).
struct Hyp {
  double hsv_h = 0.015, hsv_s = 0.7, hsv_v = 0.4;
  double degrees = 0.0, translate = 0.1, scale = 0.5, shear = 0.0, perspective = 0.0;
  double flipud = 0.0, fliplr = 0.5;
  double bgr = 0.0;
  double mosaic = 1.0, mixup = 0.0;

  AffineParams affine() const { return {degrees, translate, scale, shear, perspective}; }
};

// Loads dataset image i: load_image's long-side-resized BGR image with its labels as xyxy pixels of that
// image (see load.hpp / types.hpp helpers). May throw DataError.
using LoadFn = std::function<Sample(int index)>;

// Upstream's buffer length: min(N, 8 * batch, 1000).
size_t default_buffer_length(size_t dataset_size, int batch);

struct TrainOptions {
  int imgsz = 640;
  size_t dataset_size = 0;
  size_t buffer_length = 0;  // 0 -> min(N, 8*16, 1000)
  bool cache_ram = false;    // mosaic partners uniform over the dataset instead of from the buffer
  bool rect = false;         // rect training: mosaic and mixup forced off, letterbox to the rect shape
};

class TrainTransform {
 public:
  TrainTransform(Hyp hyp, TrainOptions opt, LoadFn load);
  TrainTransform(Hyp hyp, int imgsz, size_t dataset_size, LoadFn load);

  // The augmented sample for dataset index i: imgsz x imgsz (or rect_shape, (w, h), in rect training),
  // boxes xyxy pixels, before Format. Draw order: mosaic, perspective, mixup, hsv, flips, bgr.
  Sample operator()(int index, Rng& rng, std::optional<cv::Size> rect_shape = std::nullopt);

  // The last `close_mosaic` epochs: no mosaic (and, as upstream 8.3, no mixup) from now on.
  void close_mosaic();
  const Hyp& hyp() const { return hyp_; }
  const std::deque<int>& buffer() const { return buffer_; }

 private:
  Sample get(int index);                       // through the buffer; returns a deep copy
  Sample pre_transform(int index, Rng& rng, std::optional<cv::Size> rect_shape);  // mosaic + perspective

  Hyp hyp_;
  TrainOptions opt_;
  LoadFn load_;
  std::deque<int> buffer_;
  std::unordered_map<int, Sample> cached_;
};

// Validation: LetterBox(imgsz or the rect batch shape, scaleup=false, auto=false, centred); sets
// pad_lt so ratio_pad = (ratio_hw, pad_lt) maps predictions back to the original image.
class ValTransform {
 public:
  explicit ValTransform(int imgsz) : imgsz_(imgsz) {}
  Sample operator()(Sample s, std::optional<cv::Size> rect_shape = std::nullopt) const;

 private:
  int imgsz_;
};

// The Format step: boxes to normalised xywh of the final image, channels BGR -> RGB unless keep_bgr.
struct Formatted {
  cv::Mat img;  // HWC uint8, RGB (or BGR when keep_bgr)
  std::vector<std::array<float, 4>> xywhn;
  std::vector<int> cls;
};
Formatted format_sample(const Sample& s);

}  // namespace yolocpp::augment
