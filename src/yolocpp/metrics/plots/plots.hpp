// Training plots (plots=True, ultralytics 8.3.58 utils/plotting.py): train_batch*.jpg, results.png and the confusion
// matrices, drawn with OpenCV alone (no plotting library). Every file is encoded in memory and written with
// util::atomic_write, so a reader never sees half an image.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "yolocpp/data/scan.hpp"
#include "yolocpp/data/loader/batch.hpp"
#include "yolocpp/metrics/ap.hpp"

namespace yolocpp::engine::plots {

namespace fs = std::filesystem;

// Layout of a batch mosaic: a square grid of `cols` x `cols` tiles (the smallest square that holds the
// images, at most max_images of them), each tile the batch image scaled by `scale` (<= 1, so the mosaic is
// at most max_size pixels on its long side).
struct BatchGrid {
  int images = 0;      // tiles actually drawn (min(batch size, max_images))
  int cols = 0;        // grid is cols x cols
  double scale = 1.0;  // image -> tile
  int tile_w = 0, tile_h = 0;
  int width = 0, height = 0;  // whole mosaic
};
BatchGrid batch_grid(int64_t n_images, int64_t img_h, int64_t img_w, int max_images = 16, int max_size = 1920);

// The colour (BGR) of class `cls` in every plot: a fixed palette, repeating after its 20 entries.
cv::Scalar class_color(int64_t cls);

// The mosaic of a batch (BGR, white background): each image with its boxes and class names.
// names may be shorter than the class ids (the id is printed instead).
cv::Mat draw_batch(const Batch& b, const std::vector<std::string>& names, int max_images = 16,
                   int max_size = 1920);

// results.png: a 2x5 grid of line charts of results.csv's loss and metric columns (a missing column gives
// an empty chart with its title). Throws IoError when the CSV cannot be read.
cv::Mat draw_results(const fs::path& csv);

// The (nc+1)x(nc+1) confusion matrix as a heatmap (rows = predicted, columns = true, last = background);
// normalize divides each column by its sum (ultralytics 8.3.58 utils/metrics.py ConfusionMatrix.plot).
cv::Mat draw_confusion_matrix(const std::vector<std::vector<double>>& m, const std::vector<std::string>& names,
                              bool normalize);

// Encodes `img` by the extension of `path` (.jpg / .png) and writes it atomically. Throws IoError.
void save_image(const fs::path& path, const cv::Mat& img);

// One curve chart (metrics/plots/plots_curves.cpp): x and each y in [0, 1], a thin line per class (class_color of
// classes[i]), the mean of all ys in bold with `mean_label`, a legend with `labels` when there are < 21.
cv::Mat draw_curve(const std::vector<double>& x, const std::vector<std::vector<double>>& ys,
                   const std::vector<std::string>& labels, const std::vector<int>& classes, const std::string& mean_label,
                   const std::string& xlabel, const std::string& ylabel);
// PR_curve.png, F1_curve.png, P_curve.png, R_curve.png from a validation's curves (nothing without GT classes).
void plot_curves(const metrics::DetMetrics& m, const std::vector<std::string>& names, const fs::path& save_dir);

// labels.jpg (metrics/plots/plots_labels.cpp): instances per class, the box shapes, 2-D histograms of the box centres
// and sizes, from normalised training labels.
cv::Mat draw_labels(const std::vector<data::Box>& boxes, const std::vector<std::string>& names);
void plot_labels(const std::vector<data::ImageLabels>& items, const std::vector<std::string>& names, bool single_cls,
                 const fs::path& path);

// The file writers the trainer calls.
void plot_train_batch(const Batch& b, const std::vector<std::string>& names, const fs::path& path);
void plot_results(const fs::path& csv, const fs::path& png);
void plot_confusion_matrices(const std::vector<std::vector<double>>& m, const std::vector<std::string>& names,
                             const fs::path& save_dir);

}  // namespace yolocpp::engine::plots
