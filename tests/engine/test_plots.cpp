// Training plots (metrics/plots/plots.hpp): mosaic layout, boxes where their coordinates say, results.png from the
// CSV itself, the confusion-matrix heatmap, atomic image files.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/test_util.hpp"
#include "yolocpp/metrics/plots/plots.hpp"
#include "yolocpp/val/validator.hpp"
#include "yolocpp/util/error.hpp"

using namespace yolocpp;
using namespace yolocpp::engine;
using yolocpp::test::TempDir;
namespace fs = std::filesystem;

namespace {

bool same_bgr(const cv::Vec3b& p, const cv::Scalar& c) {
  return p[0] == static_cast<uchar>(c[0]) && p[1] == static_cast<uchar>(c[1]) && p[2] == static_cast<uchar>(c[2]);
}

// A batch of n grey HxW uint8 images; boxes given as (image, class, x, y, w, h normalised).
Batch grey_batch(int64_t n, int64_t h, int64_t w, const std::vector<std::array<float, 6>>& boxes) {
  Batch b;
  b.img = torch::full({n, 3, h, w}, 100, torch::kUInt8);
  std::vector<float> bi, cl, bb;
  for (const auto& x : boxes) {
    bi.push_back(x[0]);
    cl.push_back(x[1]);
    bb.insert(bb.end(), {x[2], x[3], x[4], x[5]});
  }
  const auto m = static_cast<int64_t>(boxes.size());
  b.batch_idx = torch::tensor(bi, torch::kFloat32).view({m});
  b.cls = torch::tensor(cl, torch::kFloat32).view({m, 1});
  b.bboxes = torch::tensor(bb, torch::kFloat32).view({m, 4});
  for (int64_t i = 0; i < n; ++i) b.im_files.push_back("/data/img" + std::to_string(i) + ".jpg");
  return b;
}

void write_csv(const fs::path& p, const std::vector<std::vector<double>>& rows) {
  std::ofstream f(p);
  f << "epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),"
       "metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2\n";
  for (const auto& r : rows) {
    for (size_t k = 0; k < r.size(); ++k) f << (k ? "," : "") << r[k];
    f << "\n";
  }
}

}  // namespace

TEST(Plots, BatchGridSquareAndScale) {
  // 16 images of 640 -> 4x4, 1920/4/640 = 0.75.
  auto g = plots::batch_grid(16, 640, 640);
  EXPECT_EQ(g.images, 16);
  EXPECT_EQ(g.cols, 4);
  EXPECT_DOUBLE_EQ(g.scale, 0.75);
  EXPECT_EQ(g.tile_w, 480);
  EXPECT_EQ(g.width, 1920);
  EXPECT_EQ(g.height, 1920);
  // 5 images -> 3x3; 1920/3/640 = 1 exactly: no scaling.
  g = plots::batch_grid(5, 640, 640);
  EXPECT_EQ(g.cols, 3);
  EXPECT_DOUBLE_EQ(g.scale, 1.0);
  EXPECT_EQ(g.width, 1920);
  // 32 images -> capped at 16; a non-square image keeps its aspect, the long side sets the scale.
  g = plots::batch_grid(32, 320, 640);
  EXPECT_EQ(g.images, 16);
  EXPECT_EQ(g.cols, 4);
  EXPECT_DOUBLE_EQ(g.scale, 0.75);
  EXPECT_EQ(g.tile_w, 480);
  EXPECT_EQ(g.tile_h, 240);
  EXPECT_EQ(g.height, 960);
  // Small batches never upscale.
  g = plots::batch_grid(2, 64, 64);
  EXPECT_EQ(g.cols, 2);
  EXPECT_DOUBLE_EQ(g.scale, 1.0);
  EXPECT_EQ(g.width, 128);
  g = plots::batch_grid(1, 64, 96);
  EXPECT_EQ(g.cols, 1);
  EXPECT_EQ(g.width, 96);
  EXPECT_EQ(g.height, 64);
  EXPECT_THROW(plots::batch_grid(0, 64, 64), Error);
}

TEST(Plots, ClassColoursDiffer) {
  for (int a = 0; a < 20; ++a)
    for (int b = a + 1; b < 20; ++b) EXPECT_NE(plots::class_color(a), plots::class_color(b)) << a << " " << b;
  EXPECT_EQ(plots::class_color(3), plots::class_color(23));
}

TEST(Plots, BoxLandsWhereItsCoordinatesSay) {
  // 4 images of 200x200 -> 2x2 mosaic, no scaling. Image 3 (bottom-right tile at 200,200) has a class-2 box
  // centred (0.5, 0.5) of size (0.4, 0.6): x 60..140, y 40..160 in the tile.
  Batch b = grey_batch(4, 200, 200, {{3, 2, 0.5f, 0.5f, 0.4f, 0.6f}, {0, 1, 0.25f, 0.5f, 0.2f, 0.2f}});
  cv::Mat m = plots::draw_batch(b, {"a", "b", "c"});
  ASSERT_EQ(m.cols, 400);
  ASSERT_EQ(m.rows, 400);
  // Left edge of the class-2 box, half way down, in tile 3; and its bottom edge.
  EXPECT_TRUE(same_bgr(m.at<cv::Vec3b>(200 + 100, 200 + 60), plots::class_color(2)));
  EXPECT_TRUE(same_bgr(m.at<cv::Vec3b>(200 + 160, 200 + 100), plots::class_color(2)));
  EXPECT_TRUE(same_bgr(m.at<cv::Vec3b>(200 + 100, 200 + 140), plots::class_color(2)));
  // Inside the box the image is untouched (grey 100), outside too.
  EXPECT_EQ(m.at<cv::Vec3b>(200 + 100, 200 + 100), cv::Vec3b(100, 100, 100));
  EXPECT_EQ(m.at<cv::Vec3b>(200 + 100, 200 + 30), cv::Vec3b(100, 100, 100));
  // The class-1 box of image 0 (top-left tile): x 30..70, y 80..120; its right edge is class 1's colour, and
  // the same spot in tile 3 carries no box.
  EXPECT_TRUE(same_bgr(m.at<cv::Vec3b>(100, 70), plots::class_color(1)));
  EXPECT_EQ(m.at<cv::Vec3b>(200 + 100, 200 + 70), cv::Vec3b(100, 100, 100));
  // Tiles 1 and 2 have no boxes: the centre stays grey.
  EXPECT_EQ(m.at<cv::Vec3b>(100, 300), cv::Vec3b(100, 100, 100));
}

TEST(Plots, BatchImagesAreScaledIntoTheirTiles) {
  // 16 images of 960x960: 1920/4/960 = 0.5, tiles of 480. Image 5 (row 1, col 1) gets a class-0 box whose
  // left edge is at 0.25 * 480 = 120 in the tile.
  Batch b = grey_batch(16, 960, 960, {{5, 0, 0.5f, 0.5f, 0.5f, 0.5f}});
  b.img[5].fill_(30);
  cv::Mat m = plots::draw_batch(b, {"thing"});
  ASSERT_EQ(m.cols, 1920);
  ASSERT_EQ(m.rows, 1920);
  EXPECT_TRUE(same_bgr(m.at<cv::Vec3b>(480 + 240, 480 + 120), plots::class_color(0)));
  EXPECT_EQ(m.at<cv::Vec3b>(480 + 240, 480 + 240), cv::Vec3b(30, 30, 30));  // image 5's own pixels
  EXPECT_EQ(m.at<cv::Vec3b>(240, 240), cv::Vec3b(100, 100, 100));          // image 0's
}

TEST(Plots, RgbBecomesBgrAndFloatImagesWork) {
  Batch b = grey_batch(1, 64, 64, {});
  b.img = torch::zeros({1, 3, 64, 64}, torch::kFloat32);
  b.img.select(1, 0).fill_(1.0);  // pure red in RGB
  b.batch_idx = torch::zeros({0});
  cv::Mat m = plots::draw_batch(b, {});
  EXPECT_EQ(m.at<cv::Vec3b>(40, 40), cv::Vec3b(0, 0, 255));
}

TEST(Plots, ResultsPngFromCsv) {
  TempDir tmp;
  write_csv(tmp / "a.csv", {{1, 10, 1.5, 2.5, 1.2, 0.1, 0.2, 0.05, 0.02, 1.6, 2.6, 1.3, 0.001, 0.001, 0.001},
                            {2, 20, 1.4, 2.2, 1.1, 0.2, 0.3, 0.10, 0.05, 1.5, 2.4, 1.2, 0.002, 0.002, 0.002},
                            {3, 30, 1.2, 2.0, 1.0, 0.4, 0.5, 0.20, 0.10, 1.4, 2.2, 1.1, 0.003, 0.003, 0.003}});
  write_csv(tmp / "b.csv", {{1, 10, 1.5, 2.5, 1.2, 0.1, 0.2, 0.05, 0.02, 1.6, 2.6, 1.3, 0.001, 0.001, 0.001},
                            {2, 20, 1.9, 2.2, 1.1, 0.2, 0.3, 0.10, 0.05, 1.5, 2.4, 1.2, 0.002, 0.002, 0.002},
                            {3, 30, 1.2, 2.0, 1.0, 0.4, 0.5, 0.20, 0.10, 1.4, 2.2, 1.1, 0.003, 0.003, 0.003}});
  plots::plot_results(tmp / "a.csv", tmp / "a.png");
  plots::plot_results(tmp / "b.csv", tmp / "b.png");
  cv::Mat a = cv::imread((tmp / "a.png").string());
  cv::Mat b = cv::imread((tmp / "b.png").string());
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(a.cols, 1800);
  EXPECT_EQ(a.rows, 600);
  // Only train/box_loss (the first chart, top-left 360x300) differs between the two CSVs.
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  cv::cvtColor(diff, diff, cv::COLOR_BGR2GRAY);
  EXPECT_GT(cv::countNonZero(diff(cv::Rect(0, 0, 360, 300))), 50);
  EXPECT_EQ(cv::countNonZero(diff(cv::Rect(360, 0, 1440, 300))), 0);
  EXPECT_EQ(cv::countNonZero(diff(cv::Rect(0, 300, 1800, 300))), 0);
  // The charts are not blank: some of the line colour is drawn in every panel.
  for (int p = 0; p < 10; ++p) {
    cv::Mat panel = a(cv::Rect(360 * (p % 5), 300 * (p / 5), 360, 300)), mask;
    cv::inRange(panel, cv::Scalar(120, 50, 0), cv::Scalar(200, 130, 50), mask);
    EXPECT_GT(cv::countNonZero(mask), 20) << "panel " << p;
  }
  // One row only, and padded columns (older files) still plot.
  std::ofstream(tmp / "c.csv") << "  epoch,  train/box_loss\n  1,  0.5\n";
  cv::Mat c = plots::draw_results(tmp / "c.csv");
  EXPECT_EQ(c.cols, 1800);
  EXPECT_THROW(plots::draw_results(tmp / "missing.csv"), IoError);
}

TEST(Plots, ConfusionMatrixHeatmap) {
  // nc=2: rows = predicted, columns = true, index 2 = background.
  std::vector<std::vector<double>> m = {{8, 1, 3}, {2, 4, 0}, {0, 5, 0}};
  cv::Mat raw = plots::draw_confusion_matrix(m, {"cat", "dog"}, false);
  cv::Mat norm = plots::draw_confusion_matrix(m, {"cat", "dog"}, true);
  ASSERT_EQ(raw.size(), norm.size());
  // The cells are 1200/3 -> 70 px (the cap); the grid is 210 px wide and tall.
  EXPECT_GE(raw.cols, 210);
  cv::Mat d;
  cv::absdiff(raw, norm, d);
  cv::cvtColor(d, d, cv::COLOR_BGR2GRAY);
  EXPECT_GT(cv::countNonZero(d), 100);  // column normalisation changes the shading and the numbers

  // The darkest shade marks the largest value: raw, 8 at (predicted 0, true 0); normalised, 3/3 = 1 at
  // (predicted 0, true background), two 70 px cells to the right on the same row.
  auto darkest_cell = [](const cv::Mat& img) {
    cv::Mat mask, labels, stats, cent;
    cv::inRange(img, cv::Scalar(107, 48, 8), cv::Scalar(107, 48, 8), mask);
    const int n = cv::connectedComponentsWithStats(mask, labels, stats, cent);
    int best = 0;
    for (int k = 1; k < n; ++k)
      if (best == 0 || stats.at<int>(k, cv::CC_STAT_AREA) > stats.at<int>(best, cv::CC_STAT_AREA)) best = k;
    return cv::Rect(stats.at<int>(best, cv::CC_STAT_LEFT), stats.at<int>(best, cv::CC_STAT_TOP),
                    stats.at<int>(best, cv::CC_STAT_WIDTH), stats.at<int>(best, cv::CC_STAT_HEIGHT));
  };
  const cv::Rect r0 = darkest_cell(raw), r1 = darkest_cell(norm);
  // The grid's 1 px black frame covers the top row and left column of cell (0,0): 69x69 of its shade.
  EXPECT_EQ(r0.width, 69);
  EXPECT_EQ(r0.height, 69);
  EXPECT_EQ(r1.x - (r0.x - 1), 140);
  EXPECT_EQ(r1.y, r0.y);
  // A zero cell (predicted background, true background) keeps the lightest shade, RGB (247, 251, 255), while
  // its neighbour (predicted background, true dog = 5) does not.
  EXPECT_EQ(raw.at<cv::Vec3b>(r0.y + 2 * 70 + 5, r0.x + 2 * 70 + 5), cv::Vec3b(255, 251, 247));
  EXPECT_NE(raw.at<cv::Vec3b>(r0.y + 2 * 70 + 5, r0.x + 70 + 5), cv::Vec3b(255, 251, 247));
  TempDir tmp;
  plots::plot_confusion_matrices(m, {"cat", "dog"}, tmp.path());
  cv::Mat f1 = cv::imread((tmp / "confusion_matrix.png").string());
  cv::Mat f2 = cv::imread((tmp / "confusion_matrix_normalized.png").string());
  ASSERT_FALSE(f1.empty());
  ASSERT_FALSE(f2.empty());
  EXPECT_EQ(f1.size(), raw.size());
  cv::Mat d2;
  cv::absdiff(f1, raw, d2);
  EXPECT_EQ(cv::countNonZero(d2.reshape(1)), 0);  // PNG is lossless: the file is the drawing

  EXPECT_THROW(plots::draw_confusion_matrix({{1}}, {}, false), Error);
  EXPECT_THROW(plots::draw_confusion_matrix({{1, 2}, {3}}, {}, false), Error);
}

TEST(Plots, SaveImageIsAtomicAndChecksTheExtension) {
  TempDir tmp;
  cv::Mat img(10, 20, CV_8UC3, cv::Scalar(1, 2, 3));
  plots::save_image(tmp / "x.jpg", img);
  cv::Mat back = cv::imread((tmp / "x.jpg").string());
  EXPECT_EQ(back.cols, 20);
  EXPECT_EQ(back.rows, 10);
  // Only the file itself is left (the temporary was renamed onto it).
  int n = 0;
  for (const auto& e : fs::directory_iterator(tmp.path())) ++n, (void)e;
  EXPECT_EQ(n, 1);
  EXPECT_THROW(plots::save_image(tmp / "x.gif", img), IoError);
}

TEST(Plots, ValidatorHandsOverTheConfusionMatrix) {
  // 4 square 96 px images, one box each (classes 0,1,0,1), through the real val loader; a fake forward
  // predicts each box exactly (conf 0.9) except: image 3's box with the wrong class 0 (class-agnostic match ->
  // off the diagonal), image 2 adds a confident class-1 box on empty ground (false positive, background
  // column), image 0 adds a class-1 box at conf 0.1 (below the matrix's 0.25: ignored).
  TempDir tmp;
  fs::create_directories(tmp / "images");
  const std::array<std::array<float, 5>, 4> lab = {{{0, 0.3f, 0.3f, 0.2f, 0.2f},
                                                    {1, 0.6f, 0.6f, 0.2f, 0.3f},
                                                    {0, 0.5f, 0.4f, 0.3f, 0.2f},
                                                    {1, 0.4f, 0.6f, 0.2f, 0.2f}}};
  std::vector<data::ImageLabels> items;
  std::map<std::string, int> which;
  for (int i = 0; i < 4; ++i) {
    data::ImageLabels it;
    it.image = tmp / "images" / (std::to_string(i) + ".png");
    it.state = data::LabelState::Found;
    it.width = it.height = 96;
    it.boxes.push_back({static_cast<int>(lab[size_t(i)][0]), lab[size_t(i)][1], lab[size_t(i)][2], lab[size_t(i)][3],
                        lab[size_t(i)][4]});
    cv::imwrite(it.image.string(), cv::Mat(96, 96, CV_8UC3, cv::Scalar(90, 100, 110)));
    items.push_back(it);
  }
  LoaderOptions lo;
  lo.mode = LoaderMode::Val;
  lo.imgsz = 96;
  lo.batch = 2;
  lo.workers = 0;
  Loader loader(items, lo);
  auto run = [&](bool confusion) {
    int calls = 0;
    ForwardFn fwd = [&](const torch::Tensor& x) {
      const auto idx = loader.epoch_plan(0).at(static_cast<size_t>(calls++));
      const int64_t H = x.size(2), W = x.size(3);
      const double left = (W - 96) / 2, top = (H - 96) / 2;  // val letterbox: no upscaling, centred padding
      auto out = torch::zeros({x.size(0), 4 + 2, 4});
      auto put = [&](int64_t b, int64_t a, double cx, double cy, double w, double h, int c, double conf) {
        auto o = out[b];
        o[0][a] = left + cx * 96, o[1][a] = top + cy * 96, o[2][a] = w * 96, o[3][a] = h * 96;
        o[4 + c][a] = conf;
      };
      for (size_t b = 0; b < idx.size(); ++b) {
        const int i = idx[b];
        const auto& l = lab[size_t(i)];
        put(int64_t(b), 0, l[1], l[2], l[3], l[4], i == 3 ? 0 : static_cast<int>(l[0]), 0.9);
        if (i == 2) put(int64_t(b), 1, 0.85, 0.85, 0.1, 0.1, 1, 0.8);
        if (i == 0) put(int64_t(b), 1, 0.8, 0.8, 0.1, 0.1, 1, 0.1);
      }
      return out;
    };
    ValidatorOptions vo;
    vo.imgsz = 96;
    vo.batch = 2;
    vo.print = false;
    vo.confusion = confusion;
    vo.plot_batches = confusion;
    vo.save_dir = tmp / "val";
    return Validator(vo).run(fwd, loader, 2, {"a", "b"});
  };
  fs::create_directories(tmp / "val");
  const ValResult on = run(true);
  const std::vector<std::vector<double>> want = {{2, 1, 0}, {0, 1, 1}, {0, 0, 0}};
  EXPECT_EQ(on.confusion, want);
  // val_batch{0,1}: 2 batches of 2 images; the predictions differ from the labels (image 3's class, image 2's
  // extra box), the conf 0.1 box of image 0 is below the drawing threshold 0.25.
  for (int k = 0; k < 2; ++k) {
    cv::Mat lab = cv::imread((tmp / "val" / ("val_batch" + std::to_string(k) + "_labels.jpg")).string());
    cv::Mat pred = cv::imread((tmp / "val" / ("val_batch" + std::to_string(k) + "_pred.jpg")).string());
    ASSERT_FALSE(lab.empty() || pred.empty()) << k;
    ASSERT_EQ(lab.size(), pred.size());
    if (k == 1) EXPECT_GT(cv::norm(lab, pred, cv::NORM_L1), 1000.0);
  }
  EXPECT_FALSE(fs::exists(tmp / "val" / "val_batch2_labels.jpg"));
  fs::remove_all(tmp / "val");
  fs::create_directories(tmp / "val");
  EXPECT_TRUE(run(false).confusion.empty());
  EXPECT_FALSE(fs::exists(tmp / "val" / "val_batch0_labels.jpg"));
}

// A curve lands where its values say: a class line y = x from (0,0) to (1,1) in its class colour, the mean in
// bold, and nothing drawn in the upper-left triangle the line does not cross.
TEST(Plots, CurveChartDrawsLinesWhereTheValuesSay) {
  std::vector<double> x(1000), up(1000), flat(1000, 0.25);
  for (size_t i = 0; i < x.size(); ++i) x[i] = up[i] = static_cast<double>(i) / 999.0;
  cv::Mat one = plots::draw_curve(x, {up}, {"villager 0.500"}, {2}, "all classes 0.500 mAP@0.5", "Recall", "Precision");
  cv::Mat two = plots::draw_curve(x, {up, flat}, {"villager", "house"}, {2, 3}, "all", "Confidence", "F1");
  ASSERT_EQ(one.size(), cv::Size(960, 600));
  // Plot area: x from 70 to 669, y from 40 to 539 (kL, kT, width 600, height 500).
  auto px = [](double vx, double vy) { return cv::Point(70 + static_cast<int>(std::lround(vx * 599)), 40 + static_cast<int>(std::lround((1 - vy) * 499))); };
  // With one class the bold mean hides the class line: the mean's colour at y = x, paper at (0.2, 0.8).
  auto at = [](const cv::Mat& m, cv::Point p) { return m.at<cv::Vec3b>(p); };
  const cv::Vec3b mean_col(180, 80, 20);
  EXPECT_EQ(at(one, px(0.5, 0.5)), mean_col);
  EXPECT_EQ(at(one, px(0.21, 0.83)), cv::Vec3b(255, 255, 255));
  // Two classes: the mean of y = x and y = 0.25 passes through (0.5, 0.375); each class line keeps its colour
  // away from the mean.
  EXPECT_EQ(at(two, px(0.5, 0.375)), mean_col);
  auto near = [&](const cv::Mat& m, cv::Point p, const cv::Scalar& c) {  // within one pixel of the point
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx)
        if (same_bgr(m.at<cv::Vec3b>(p + cv::Point(dx, dy)), c)) return true;
    return false;
  };
  EXPECT_TRUE(near(two, px(0.85, 0.25), plots::class_color(3)));
  EXPECT_TRUE(near(two, px(0.85, 0.85), plots::class_color(2)));
  EXPECT_FALSE(near(two, px(0.85, 0.6), plots::class_color(2)));
}

// The PR curve is the precision envelope at each recall: for one class with hits at ranks 1 and 3 of 4
// predictions and 2 labels, precision is 1 up to recall 0.5, then 2/3 up to recall 1.
TEST(Plots, PrCurveIsThePrecisionEnvelope) {
  const std::vector<uint8_t> tp = {1, 0, 1, 0};
  const auto r = metrics::ap_per_class(tp, 1, {0.9f, 0.8f, 0.7f, 0.6f}, {0, 0, 0, 0}, {0, 0});
  ASSERT_EQ(r.pr_curve.size(), 1u);
  const auto& pr = r.pr_curve[0];
  ASSERT_EQ(pr.size(), r.x.size());
  EXPECT_DOUBLE_EQ(pr[0], 1.0);
  EXPECT_DOUBLE_EQ(pr[400], 1.0);            // recall 0.4
  EXPECT_NEAR(pr[700], 2.0 / 3.0, 1e-12);    // recall 0.7
  TempDir tmp;
  metrics::DetMetrics m;
  m.curves = r;
  plots::plot_curves(m, {"villager"}, tmp.path());
  for (const char* f : {"PR_curve.png", "F1_curve.png", "P_curve.png", "R_curve.png"})
    EXPECT_FALSE(cv::imread((tmp / f).string()).empty()) << f;
}

// labels.jpg: bar heights follow the class counts (class 1 has 3 of 4 boxes), the centre histogram is dark
// where the boxes' centres are and white elsewhere.
TEST(Plots, LabelsImageShowsCountsAndCentres) {
  std::vector<data::Box> boxes = {{1, 0.25f, 0.25f, 0.1f, 0.2f}, {1, 0.25f, 0.25f, 0.1f, 0.2f}, {1, 0.26f, 0.24f, 0.3f, 0.1f},
                                  {0, 0.75f, 0.75f, 0.5f, 0.5f}};
  cv::Mat img = plots::draw_labels(boxes, {"villager", "house"});
  ASSERT_EQ(img.size(), cv::Size(800, 800));
  // Instances panel: x 40..389, y 20..359; two bars of width 175. Class 1's bar is full height, class 0's a third.
  auto col = [&](int x, int y) { return img.at<cv::Vec3b>(y, x); };
  EXPECT_TRUE(same_bgr(col(40 + 175 + 80, 100), plots::class_color(1)));
  EXPECT_TRUE(same_bgr(col(40 + 80, 350), plots::class_color(0)));
  EXPECT_EQ(col(40 + 80, 100), cv::Vec3b(255, 255, 255));  // above class 0's bar
  // Centre histogram (bottom left, x 40..389, y 420..759; y axis up): (0.25, 0.25) dark, (0.25, 0.75) white.
  auto at_xy = [&](double x, double y) { return col(40 + static_cast<int>(x * 350), 420 + 339 - static_cast<int>(y * 339)); };
  EXPECT_LT(at_xy(0.255, 0.255)[2], 200);
  EXPECT_EQ(at_xy(0.25, 0.75), cv::Vec3b(255, 255, 255));
}
