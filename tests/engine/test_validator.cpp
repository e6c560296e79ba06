// Validator through the real loader/letterbox/scale path with fake forwards whose output is known:
// perfect boxes -> P = R = 1 and mAP = 0.995 (the ceiling); boxes shifted to IoU ~0.72 -> mAP50 stays,
// mAP50-95 halves. Plus run dirs.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/test_util.hpp"
#include "yolocpp/data/augment/letterbox.hpp"
#include "yolocpp/data/augment/load.hpp"
#include "yolocpp/config/run_dir.hpp"
#include "yolocpp/val/validator.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

using namespace yolocpp;
namespace fs = std::filesystem;
using engine::Loader;
using engine::LoaderMode;
using engine::LoaderOptions;

namespace {

constexpr int kNc = 3;

// Images of several aspect ratios (so rect shapes, resize ratios and paddings all differ), boxes away from
// the borders so a shifted box is never clipped.
std::vector<data::ImageLabels> make_items(const fs::path& dir) {
  fs::create_directories(dir);
  const cv::Size sizes[] = {{320, 240}, {200, 300}, {500, 180}, {96, 96}, {150, 220}, {640, 360}, {130, 400}};
  std::vector<data::ImageLabels> items;
  for (int i = 0; i < 7; ++i) {
    const cv::Size sz = sizes[i];
    cv::Mat img(sz, CV_8UC3, cv::Scalar(90, 100, 110));
    data::ImageLabels it;
    it.image = dir / (std::to_string(100 + i) + ".png");
    it.state = data::LabelState::Found;
    it.width = sz.width;
    it.height = sz.height;
    for (int j = 0; j < 1 + i % 3; ++j)
      it.boxes.push_back({(i + j) % kNc, 0.25f + 0.2f * j, 0.35f + 0.1f * (i % 3), 0.12f, 0.2f});
    cv::imwrite(it.image.string(), img);
    items.push_back(it);
  }
  return items;
}

// A forward that knows the loader's plan and computes, independently of the loader, where each label box lands
// in the network input (long-side resize, then centred letterbox to the batch shape), optionally shifted right by
// `shift` x box width. Scores: 0.9 on the true class, 0 elsewhere; extra anchors are empty.
engine::ForwardFn fake_forward(const Loader& loader, const std::vector<data::ImageLabels>& items, double shift,
                               int* calls) {
  return [&loader, &items, shift, calls](const torch::Tensor& x) {
    const auto plan = loader.epoch_plan(0);
    const int k = (*calls)++;
    const auto& idx = plan.at(static_cast<size_t>(k));
    const int64_t H = x.size(2), W = x.size(3);
    if (loader.rect_batches()) {
      EXPECT_EQ(W, loader.rect_batches()->batch_shape[static_cast<size_t>(k)].width);
      EXPECT_EQ(H, loader.rect_batches()->batch_shape[static_cast<size_t>(k)].height);
    }
    EXPECT_EQ(x.scalar_type(), torch::kFloat32);
    EXPECT_LE(x.max().item<float>(), 1.f);
    const int64_t N = 8;
    auto out = torch::zeros({x.size(0), 4 + kNc, N});
    for (size_t b = 0; b < idx.size(); ++b) {
      const auto& it = items[static_cast<size_t>(idx[b])];
      const cv::Size rs = augment::long_side_size({it.width, it.height}, 320);
      auto g = augment::letterbox_geometry(rs, static_cast<int>(H), static_cast<int>(W),
                                           augment::LetterboxOptions{false, false, false});
      for (size_t m = 0; m < it.boxes.size(); ++m) {
        const auto& bx = it.boxes[m];
        const double w = bx.w * rs.width * g.ratio_w, h = bx.h * rs.height * g.ratio_h;
        const double cx = bx.x * rs.width * g.ratio_w + g.left + shift * w, cy = bx.y * rs.height * g.ratio_h + g.top;
        auto o = out[static_cast<int64_t>(b)];
        o[0][static_cast<int64_t>(m)] = cx;
        o[1][static_cast<int64_t>(m)] = cy;
        o[2][static_cast<int64_t>(m)] = w;
        o[3][static_cast<int64_t>(m)] = h;
        o[4 + bx.cls][static_cast<int64_t>(m)] = 0.9 - 0.01 * static_cast<double>(m);
      }
    }
    return out;
  };
}

LoaderOptions val_opts(int workers) {
  LoaderOptions o;
  o.mode = LoaderMode::Val;
  o.imgsz = 320;
  o.batch = 3;
  o.workers = workers;
  return o;
}

engine::ValidatorOptions vopts(const fs::path& save_dir) {
  engine::ValidatorOptions v;
  v.imgsz = 320;
  v.batch = 3;
  v.print = true;
  v.verbose = true;
  v.save_json = true;
  v.save_dir = save_dir;
  return v;
}

}  // namespace

TEST(Validator, PerfectPredictionsScoreOne) {
  test::TempDir tmp;
  auto items = make_items(tmp / "images");
  Loader loader(items, val_opts(2));
  int calls = 0;
  engine::Validator v(vopts(tmp.path()));
  auto r = v.run(fake_forward(loader, items, 0.0, &calls), loader, kNc, {"a", "b", "c"});
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(r.images, 7);
  EXPECT_EQ(r.instances, 13);  // 1+2+3+1+2+3+1
  // A perfect detector scores 0.995, not 1: the 101-point AP integrates the envelope by trapezoids from the
  // recall-0 sentinel, exactly as Ultralytics reports it (its perfect mAP50 prints 0.995 too).
  EXPECT_NEAR(r.metrics.map50, 0.995, 1e-12);
  EXPECT_NEAR(r.metrics.map, 0.995, 1e-12);
  EXPECT_DOUBLE_EQ(r.metrics.mp, 1.0);
  EXPECT_DOUBLE_EQ(r.metrics.mr, 1.0);
  EXPECT_EQ(r.table.size(), 2u + kNc);  // header, all, one row per class
  EXPECT_NE(r.table[1].find("all"), std::string::npos);
  EXPECT_GE(r.speed.inference, 0.0);
  // predictions.json: native-pixel boxes that match the label boxes of the original images.
  ASSERT_TRUE(fs::exists(r.json));
  auto js = nlohmann::json::parse(util::read_file(r.json));
  ASSERT_EQ(js.size(), 13u);
  for (const auto& d : js) {
    const int id = d["image_id"].get<int>();
    const auto& it = items[static_cast<size_t>(id - 100)];
    bool matched = false;
    for (const auto& bx : it.boxes) {
      const double x = (bx.x - bx.w / 2) * it.width, y = (bx.y - bx.h / 2) * it.height;
      const double w = bx.w * it.width, h = bx.h * it.height;
      const auto& b = d["bbox"];
      // The long-side resize rounds up, so the height gain maps x back with up to ~0.5% error (upstream too).
      const double tol = 0.006 * std::max(it.width, it.height) + 0.01;
      if (d["category_id"].get<int>() == bx.cls && std::abs(b[0].get<double>() - x) < tol &&
          std::abs(b[1].get<double>() - y) < tol && std::abs(b[2].get<double>() - w) < tol &&
          std::abs(b[3].get<double>() - h) < tol)
        matched = true;
    }
    EXPECT_TRUE(matched) << d.dump();
  }
  EXPECT_DOUBLE_EQ(js[0]["score"].get<double>(), 0.9);
}

TEST(Validator, ShiftedPredictionsLowerMap5095Only) {
  test::TempDir tmp;
  auto items = make_items(tmp / "images");
  Loader loader(items, val_opts(0));
  int calls = 0;
  // Shift by d * w gives IoU (1 - d) / (1 + d) = 0.72: correct at thresholds 0.50 .. 0.70, i.e. 5 of 10.
  const double d = (1 - 0.72) / 1.72;
  engine::Validator v(vopts(tmp.path()));
  auto r = v.run(fake_forward(loader, items, d, &calls), loader, kNc, {"a", "b", "c"});
  EXPECT_NEAR(r.metrics.map50, 0.995, 1e-12);  // the perfect score, see above
  EXPECT_NEAR(r.metrics.map, 0.5 * 0.995, 1e-9);
  EXPECT_DOUBLE_EQ(r.metrics.mp, 1.0);
  EXPECT_DOUBLE_EQ(r.metrics.mr, 1.0);
  // Square letterbox (rect off) gives the same verdicts.
  auto sq = val_opts(1);
  sq.rect = false;
  Loader lsq(items, sq);
  calls = 0;
  auto r2 = v.run(fake_forward(lsq, items, d, &calls), lsq, kNc, {"a", "b", "c"});
  EXPECT_NEAR(r2.metrics.map50, 0.995, 1e-12);
  EXPECT_NEAR(r2.metrics.map, 0.5 * 0.995, 1e-9);
}

TEST(Validator, ModelOutputShapeMismatchIsAnError) {
  test::TempDir tmp;
  auto items = make_items(tmp / "images");
  Loader loader(items, val_opts(0));
  engine::ValidatorOptions o;
  o.print = false;
  engine::Validator v(o);
  auto bad = [](const torch::Tensor& x) { return torch::zeros({x.size(0), 4 + 80, 10}); };
  EXPECT_THROW(v.run(bad, loader, kNc, {"a", "b", "c"}), ModelError);
}

TEST(Validator, DetectionModelPathRuns) {
  // A real (untrained) yolo11n on the synthetic set: the loop, decode and loss plumbing run end to end.
  test::TempDir tmp;
  auto items = make_items(tmp / "images");
  Loader loader(items, val_opts(1));
  auto model = nn::build_model("yolo11n.yaml", kNc);
  loss::LossHyp hyp;
  hyp.nc = kNc;
  loss::DetectionLoss lossfn(hyp);
  engine::ValidatorOptions o;
  o.print = false;
  o.imgsz = 320;
  engine::Validator v(o);
  model->train();
  auto r = v.run(model, loader, kNc, {"a", "b", "c"}, &lossfn);
  EXPECT_TRUE(model->is_training());  // restored
  EXPECT_EQ(r.images, 7);
  ASSERT_TRUE(r.loss);
  for (double l : *r.loss) EXPECT_GT(l, 0.0);
  EXPECT_GE(r.metrics.map, 0.0);
  EXPECT_LE(r.metrics.map, 1.0);
}

TEST(RunDir, IncrementsAndExistOk) {
  test::TempDir tmp;
  auto a = engine::make_run_dir(tmp / "proj", "", false, "val");
  EXPECT_EQ(a.name, "val");
  EXPECT_TRUE(fs::is_directory(tmp / "proj" / "val"));
  auto b = engine::make_run_dir(tmp / "proj", "", false, "val");
  EXPECT_EQ(b.name, "val2");
  auto c = engine::make_run_dir(tmp / "proj", "val", false, "train");
  EXPECT_EQ(c.name, "val3");
  auto d = engine::make_run_dir(tmp / "proj", "val", true, "val");
  EXPECT_EQ(d.path, tmp / "proj" / "val");
  EXPECT_TRUE(d.reused);
  auto e = engine::make_run_dir(tmp / "proj", "exp", true, "val");
  EXPECT_EQ(e.name, "exp");
  EXPECT_FALSE(e.reused);
  // Default project: runs/detect relative to the working directory.
  auto cwd = fs::current_path();
  fs::current_path(tmp.path());
  auto f = engine::make_run_dir("", "", false, "val");
  fs::current_path(cwd);
  EXPECT_EQ(f.path, fs::path("runs") / "detect" / "val");
  EXPECT_TRUE(fs::is_directory(tmp / "runs" / "detect" / "val"));
}
