// Small fixture builders for the data tests: real image files (OpenCV) and label files in a TempDir.
#pragma once
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <fstream>
#include <string>

namespace yolocpp::test {

inline void write_text(const std::filesystem::path& p, const std::string& s) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << s;
}

// A w x h image (3 channels unless `channels` says otherwise) with some structure so encoders do real work.
inline void write_image(const std::filesystem::path& p, int w, int h, int channels = 3) {
  std::filesystem::create_directories(p.parent_path());
  cv::Mat m(h, w, channels == 1 ? CV_8UC1 : CV_8UC3, cv::Scalar::all(90));
  cv::rectangle(m, cv::Rect(w / 4, h / 4, w / 2, h / 2), cv::Scalar::all(200), -1);
  if (!cv::imwrite(p.string(), m)) throw std::runtime_error("test fixture: cannot write " + p.string());
}

// dir/images/<split>/<stem>.jpg and dir/labels/<split>/<stem>.txt (label only when `label` is non-null).
inline void add_sample(const std::filesystem::path& dir, const std::string& split, const std::string& stem,
                       const char* label, int w = 64, int h = 48) {
  write_image(dir / "images" / split / (stem + ".jpg"), w, h);
  if (label) write_text(dir / "labels" / split / (stem + ".txt"), label);
}

}  // namespace yolocpp::test
