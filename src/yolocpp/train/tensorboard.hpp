// tensorboard=True (Ultralytics' setting name): the run folder gets a TensorBoard event file with results.csv's
// columns as scalars per epoch (step = epoch, as Ultralytics logs them) and, at the end, the run's plots as
// images. A failed write is one warning and turns the logging off: it never costs a training run.
#pragma once
#include <filesystem>
#include <memory>
#include <vector>

#include "yolocpp/util/tb_events.hpp"

namespace yolocpp::engine {

class TrainBoard {
 public:
  explicit TrainBoard(const std::filesystem::path& save_dir);
  // One results.csv row (columns as train/console.hpp's results_columns()).
  void epoch(const std::vector<double>& results_row);
  // Every .png / .jpg directly in `dir` (results.png, confusion matrices, train batches), as images at `step`.
  void plots(const std::filesystem::path& dir, int64_t step);

 private:
  void fail(const std::exception& e);
  std::unique_ptr<util::EventWriter> w_;
};

}  // namespace yolocpp::engine
