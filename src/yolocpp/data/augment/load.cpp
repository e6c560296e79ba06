#include "yolocpp/data/augment/load.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "yolocpp/util/error.hpp"

namespace yolocpp::augment {

cv::Size long_side_size(cv::Size src, int imgsz) {
  const double r = static_cast<double>(imgsz) / std::max(src.height, src.width);
  if (r == 1.0) return src;
  // ceil, not round (upstream rule): a 1000x302 image at 640 becomes 640x194, not 640x193.
  const int w = std::min(static_cast<int>(std::ceil(src.width * r)), imgsz);
  const int h = std::min(static_cast<int>(std::ceil(src.height * r)), imgsz);
  return {std::max(w, 1), std::max(h, 1)};
}

cv::Mat resize_long_side(const cv::Mat& img, int imgsz) {
  const cv::Size sz = long_side_size(img.size(), imgsz);
  if (sz == img.size()) return img;
  cv::Mat out;
  cv::resize(img, out, sz, 0, 0, cv::INTER_LINEAR);
  return out;
}

Sample make_sample(const cv::Mat& decoded, int imgsz) {
  if (decoded.empty() || decoded.type() != CV_8UC3)
    throw DataError("load_image: expected a decoded 3-channel uint8 BGR image");
  Sample s;
  s.ori_shape = decoded.size();
  s.img = resize_long_side(decoded, imgsz);
  s.resized_shape = s.img.size();
  s.ratio_hw = {static_cast<double>(s.img.rows) / decoded.rows, static_cast<double>(s.img.cols) / decoded.cols};
  return s;
}

Sample load_image(const std::string& path, int imgsz) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw DataError("load_image: image file '" + path + "' does not exist; check the dataset paths");
  cv::Mat im = cv::imread(path, cv::IMREAD_COLOR);
  if (im.empty())
    throw DataError("load_image: cannot decode image '" + path +
                    "'; check that the file exists and is a valid image (re-run dataset verification)");
  return make_sample(im, imgsz);
}

}  // namespace yolocpp::augment
