// One collated batch as the loader hands it to the trainer and the validator (ultralytics 8.3.58 data/dataset.py
// YOLODataset.collate_fn). A plain value: the consumer never reaches back into the loader for per-image bookkeeping.
#pragma once
#include <torch/torch.h>

#include <array>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "yolocpp/data/augment/pipeline.hpp"

namespace yolocpp::engine {

struct Batch {
  torch::Tensor img;        // [B,3,H,W] uint8 RGB (or float32 in [0,1] when the loader was asked for float)
  torch::Tensor batch_idx;  // [n] float32: image index within the batch of each box
  torch::Tensor cls;        // [n,1] float32 class id
  torch::Tensor bboxes;     // [n,4] float32 normalised xywh of the final (augmented / letterboxed) image
  std::vector<std::string> im_files;
  std::vector<int> indices;                     // dataset index of each image
  std::vector<cv::Size> ori_shape;              // (w, h) as decoded
  std::vector<cv::Size> resized_shape;          // (w, h) after the long-side resize
  // Per image ((gain_h, gain_w), (pad_left, pad_top)) flattened: what scale_boxes needs to map boxes of the
  // network input back to the original image (ultralytics 8.3.58 utils/ops.py scale_boxes).
  std::vector<std::array<double, 4>> ratio_pad;

  int64_t size() const { return static_cast<int64_t>(im_files.size()); }
  int64_t height() const { return img.defined() ? img.size(2) : 0; }
  int64_t width() const { return img.defined() ? img.size(3) : 0; }
};

// Collates augmented samples (all of the same image size) into a Batch. `files` are their image paths.
// single_cls maps every class to 0. Throws DataError when the images differ in size.
Batch collate(const std::vector<augment::Sample>& samples, const std::vector<std::string>& files,
              bool single_cls = false, bool to_float = false);

// uint8 batch images -> float32 / 255 on their own device (float input is returned as is), bit-identical to
// the loader's float_img conversion on the CPU. The divisor is a 0-dim tensor on that device because CUDA turns a
// division by a host scalar into a multiplication by its float reciprocal, which is 1 ulp off for 126 of the 256
// byte values; dividing by a device tensor is a true (correctly rounded) division, as on the CPU.
torch::Tensor uint8_images_to_float(const torch::Tensor& img);

}  // namespace yolocpp::engine
