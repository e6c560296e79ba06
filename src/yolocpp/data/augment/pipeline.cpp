#include "yolocpp/data/augment/pipeline.hpp"

#include <algorithm>

#include <opencv2/imgproc.hpp>

#include "yolocpp/data/augment/flip.hpp"
#include "yolocpp/data/augment/hsv.hpp"
#include "yolocpp/data/augment/letterbox.hpp"
#include "yolocpp/data/augment/mixup.hpp"
#include "yolocpp/data/augment/mosaic.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::augment {

size_t default_buffer_length(size_t dataset_size, int batch) {
  return std::min({dataset_size, static_cast<size_t>(std::max(batch, 1)) * 8, size_t{1000}});
}

TrainTransform::TrainTransform(Hyp hyp, TrainOptions opt, LoadFn load)
    : hyp_(hyp), opt_(opt), load_(std::move(load)) {
  if (opt_.imgsz <= 0) throw ConfigError("imgsz must be positive (got " + std::to_string(opt_.imgsz) + ")");
  if (opt_.dataset_size == 0) throw DataError("training transform: the dataset has no images");
  if (!load_) throw ConfigError("training transform: no image loader given");
  if (opt_.buffer_length == 0) opt_.buffer_length = default_buffer_length(opt_.dataset_size, 16);
  if (opt_.rect) hyp_.mosaic = hyp_.mixup = 0.0;
}

TrainTransform::TrainTransform(Hyp hyp, int imgsz, size_t dataset_size, LoadFn load)
    : TrainTransform(hyp, TrainOptions{imgsz, dataset_size, 0, false, false}, std::move(load)) {}

void TrainTransform::close_mosaic() { hyp_.mosaic = hyp_.mixup = 0.0; }

Sample TrainTransform::get(int index) {
  if (index < 0 || static_cast<size_t>(index) >= opt_.dataset_size)
    throw DataError("training transform: index " + std::to_string(index) + " is outside the dataset (size " +
                    std::to_string(opt_.dataset_size) + ")");
  auto it = cached_.find(index);
  if (it == cached_.end()) {
    Sample s = load_(index);
    s.index = index;
    it = cached_.emplace(index, std::move(s)).first;
    // Upstream: append, then evict the oldest once the length reaches the limit (and more than one is held).
    buffer_.push_back(index);
    if (buffer_.size() > 1 && buffer_.size() >= opt_.buffer_length) {
      cached_.erase(buffer_.front());  // never `index`: it was just appended at the back
      buffer_.pop_front();
      it = cached_.find(index);
    }
  }
  Sample copy = it->second;
  copy.img = it->second.img.clone();  // later transforms write in place; the buffered copy must stay intact
  return copy;
}

Sample TrainTransform::pre_transform(int index, Rng& rng, std::optional<cv::Size> rect_shape) {
  Sample s = get(index);
  // Upstream skips when U(0,1) > p, so p = 1 always applies and p = 0 never does.
  if (rng.uniform(0, 1) <= hyp_.mosaic && hyp_.mosaic > 0) {
    std::array<int, 3> partners{};
    for (int& p : partners) {
      if (opt_.cache_ram || buffer_.empty())
        p = static_cast<int>(rng.randint(static_cast<int64_t>(opt_.dataset_size)));
      else
        p = buffer_[static_cast<size_t>(rng.randint(static_cast<int64_t>(buffer_.size())))];
    }
    Sample t1 = get(partners[0]), t2 = get(partners[1]), t3 = get(partners[2]);
    s = mosaic4({&s, &t1, &t2, &t3}, opt_.imgsz, rng);
  }
  const cv::Size target = rect_shape ? *rect_shape : cv::Size(opt_.imgsz, opt_.imgsz);
  random_perspective(s, hyp_.affine(), target, rng);
  return s;
}

Sample TrainTransform::operator()(int index, Rng& rng, std::optional<cv::Size> rect_shape) {
  Sample s = pre_transform(index, rng, rect_shape);
  if (rng.uniform(0, 1) <= hyp_.mixup && hyp_.mixup > 0) {
    const int j = static_cast<int>(rng.randint(static_cast<int64_t>(opt_.dataset_size)));
    Sample other = pre_transform(j, rng, rect_shape);
    mixup(s, other, draw_mixup_ratio(rng));
  }
  random_hsv(s.img, hyp_.hsv_h, hyp_.hsv_s, hyp_.hsv_v, rng);
  random_flip(s, hyp_.flipud, hyp_.fliplr, rng);
  // Format's draw: RGB when U(0,1) > bgr.
  s.keep_bgr = !(rng.uniform(0, 1) > hyp_.bgr);
  return s;
}

Sample ValTransform::operator()(Sample s, std::optional<cv::Size> rect_shape) const {
  const cv::Size target = rect_shape ? *rect_shape : cv::Size(imgsz_, imgsz_);
  LetterboxOptions opt;
  opt.scaleup = false;
  letterbox_sample(s, target.height, target.width, opt);
  return s;
}

Formatted format_sample(const Sample& s) {
  Formatted f;
  if (s.keep_bgr)
    f.img = s.img;
  else
    cv::cvtColor(s.img, f.img, cv::COLOR_BGR2RGB);
  f.cls = s.inst.cls;
  for (const Box& b : s.inst.boxes) f.xywhn.push_back(xyxy_to_xywhn(b, s.img.cols, s.img.rows));
  return f;
}

}  // namespace yolocpp::augment
