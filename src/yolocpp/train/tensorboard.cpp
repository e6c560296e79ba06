#include "yolocpp/train/tensorboard.hpp"

#include <opencv2/imgcodecs.hpp>

#include <algorithm>

#include "yolocpp/train/console.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::engine {

TrainBoard::TrainBoard(const std::filesystem::path& save_dir) {
  try {
    w_ = std::make_unique<util::EventWriter>(save_dir);
    log::info("TensorBoard: start with 'tensorboard --logdir {}', view at http://localhost:6006/", save_dir.string());
  } catch (const std::exception& e) {
    fail(e);
  }
}

void TrainBoard::fail(const std::exception& e) {
  log::warn("TensorBoard logging off: {}", e.what());
  w_.reset();
}

void TrainBoard::epoch(const std::vector<double>& row) {
  if (!w_ || row.empty()) return;
  const auto& cols = results_columns();
  std::vector<std::pair<std::string, double>> v;
  for (size_t i = 2; i < row.size() && i < cols.size(); ++i) v.emplace_back(cols[i], row[i]);  // not epoch, time
  try {
    w_->scalars(static_cast<int64_t>(row[0]), v);
  } catch (const std::exception& e) {
    fail(e);
  }
}

void TrainBoard::plots(const std::filesystem::path& dir, int64_t step) {
  if (!w_) return;
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const auto ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".png" || ext == ".jpg")) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  try {
    for (const auto& f : files) {
      const std::string bytes = util::read_file(f);
      cv::Mat img = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data())),
                                 cv::IMREAD_UNCHANGED);
      if (img.empty()) continue;
      w_->image(step, f.stem().string(), bytes, img.rows, img.cols, img.channels());
    }
  } catch (const std::exception& e) {
    fail(e);
  }
}

}  // namespace yolocpp::engine
