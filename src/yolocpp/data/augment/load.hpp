// load_image (ultralytics 8.3.58 data/base.py BaseDataset.load_image): decode BGR, resize so the long side is imgsz
// (ceil rule), used by train and val.
#pragma once
#include <string>

#include <opencv2/core.hpp>

#include "yolocpp/data/augment/types.hpp"

namespace yolocpp::augment {

// The size load_image resizes a (w0, h0) image to for imgsz: r = imgsz / max(h0, w0),
// (min(ceil(w0*r), imgsz), min(ceil(h0*r), imgsz)); unchanged when r == 1.
cv::Size long_side_size(cv::Size src, int imgsz);
// Resizes a decoded image by that rule (INTER_LINEAR, as late 8.3 does in train and val alike).
cv::Mat resize_long_side(const cv::Mat& img, int imgsz);
// Decodes `path` (cv::imread colour, BGR) and resizes it. Throws DataError naming the file when it cannot
// be read. Fills ori_shape, resized_shape and ratio_hw; labels are left empty for the caller.
Sample load_image(const std::string& path, int imgsz);
// Same for an image already in memory (e.g. a RAM cache or a synthetic one).
Sample make_sample(const cv::Mat& decoded, int imgsz);

}  // namespace yolocpp::augment
