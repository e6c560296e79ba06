#include "yolocpp/data/loader/batch.hpp"

#include <cstring>

#include "yolocpp/util/error.hpp"

namespace yolocpp::engine {

Batch collate(const std::vector<augment::Sample>& samples, const std::vector<std::string>& files, bool single_cls,
              bool to_float) {
  if (samples.empty()) throw DataError("collate: empty batch");
  if (files.size() != samples.size()) throw DataError("collate: one file name per sample expected");
  const int H = samples[0].img.rows, W = samples[0].img.cols;
  const int64_t B = static_cast<int64_t>(samples.size());
  Batch b;
  b.img = torch::empty({B, 3, H, W}, torch::kUInt8);
  std::vector<float> bidx, cls, boxes;
  for (int64_t i = 0; i < B; ++i) {
    const augment::Sample& s = samples[static_cast<size_t>(i)];
    if (s.img.rows != H || s.img.cols != W || s.img.type() != CV_8UC3)
      throw DataError("collate: image '" + files[static_cast<size_t>(i)] + "' is " + std::to_string(s.img.cols) +
                      "x" + std::to_string(s.img.rows) + " but the batch is " + std::to_string(W) + "x" +
                      std::to_string(H) + " (all images of a batch must share one shape)");
    augment::Formatted f = augment::format_sample(s);
    cv::Mat hwc = f.img.isContinuous() ? f.img : f.img.clone();
    auto t = torch::from_blob(hwc.data, {H, W, 3}, torch::kUInt8);
    b.img[i].copy_(t.permute({2, 0, 1}));
    for (size_t k = 0; k < f.cls.size(); ++k) {
      bidx.push_back(static_cast<float>(i));
      cls.push_back(single_cls ? 0.f : static_cast<float>(f.cls[k]));
      boxes.insert(boxes.end(), f.xywhn[k].begin(), f.xywhn[k].end());
    }
    b.im_files.push_back(files[static_cast<size_t>(i)]);
    b.indices.push_back(s.index);
    b.ori_shape.push_back(s.ori_shape);
    b.resized_shape.push_back(s.resized_shape);
    b.ratio_pad.push_back({s.ratio_hw[0], s.ratio_hw[1], s.pad_lt[0], s.pad_lt[1]});
  }
  const int64_t n = static_cast<int64_t>(cls.size());
  // from_blob on an empty vector may see a null pointer: build empty tensors explicitly.
  auto as_tensor = [n](std::vector<float>& v, std::vector<int64_t> shape) {
    return n == 0 ? torch::zeros(shape, torch::kFloat32) : torch::from_blob(v.data(), shape, torch::kFloat32).clone();
  };
  b.batch_idx = as_tensor(bidx, {n});
  b.cls = as_tensor(cls, {n, 1});
  b.bboxes = as_tensor(boxes, {n, 4});
  if (to_float) b.img = b.img.to(torch::kFloat32).div_(255.0);
  return b;
}

torch::Tensor uint8_images_to_float(const torch::Tensor& img) {
  if (img.scalar_type() != torch::kUInt8) return img;
  const torch::Tensor d = torch::full({}, 255.0, torch::TensorOptions().dtype(torch::kFloat32).device(img.device()));
  return img.to(torch::kFloat32).div_(d);
}

}  // namespace yolocpp::engine
