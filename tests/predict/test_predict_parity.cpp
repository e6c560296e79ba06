// Predict parity with Ultralytics 8.3.58 (fixtures/ultralytics/predict_case.json): letterbox auto, fused
// model, NMS multi_label=False, boxes rescaled and clipped. Same count, classes and order; boxes within
// 1e-2 px, conf within 1e-4.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "common/test_util.hpp"
#include "yolocpp/detector.hpp"
#include "yolocpp/predict/backend_torch.hpp"
#include "yolocpp/predict/predictor.hpp"

namespace {

using namespace yolocpp;
using yolocpp::test::fixtures_dir;

nlohmann::json predict_case() {
  std::ifstream f(fixtures_dir() / "predict_case.json");
  return nlohmann::json::parse(f);
}

struct Case {
  const char* name;
  int imgsz;
};

class PredictParity : public ::testing::TestWithParam<Case> {};

TEST_P(PredictParity, MatchesUltralytics) {
  YOLOCPP_REQUIRE_SHARED();
  const Case c = GetParam();
  const auto j = predict_case()["cases"][c.name];
  const auto r = j["results"][std::to_string(c.imgsz)];
  const std::string model = (fixtures_dir() / j["model"].get<std::string>()).string();
  cv::Mat img = cv::imread((fixtures_dir() / j["image"].get<std::string>()).string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(img.empty());
  ASSERT_EQ(img.rows, r["orig_shape_hw"][0].get<int>());
  ASSERT_EQ(img.cols, r["orig_shape_hw"][1].get<int>());

  engine::PredictOptions po;
  po.imgsz = {c.imgsz, c.imgsz};
  engine::Predictor pred(std::make_unique<engine::TorchBackend>(model), po);

  // Network input: shape and pixel sum (letterbox auto + BGR->RGB + /255).
  auto x = pred.preprocess({img});
  const auto in_shape = r["input_shape"].get<std::vector<int64_t>>();
  ASSERT_EQ(x.sizes().vec(), in_shape);
  EXPECT_NEAR(x.to(torch::kFloat64).sum().item<double>(), r["input_sum"].get<double>(), 1e-2);

  auto out = pred.predict({img});
  ASSERT_EQ(out.size(), 1u);
  const auto& b = out[0].boxes;
  const int n = r["n"].get<int>();
  ASSERT_EQ(b.size(0), n) << c.name << "@" << c.imgsz;
  const auto exp_boxes = r["boxes_xyxy_orig"];
  const auto exp_conf = r["conf_values"];
  const auto exp_cls = r["cls"];
  double max_box = 0, max_conf = 0;
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(static_cast<int>(b[i][5].item<float>()), exp_cls[i].get<int>()) << "row " << i;
    for (int k = 0; k < 4; ++k) {
      const double d = std::abs(b[i][k].item<float>() - exp_boxes[i][k].get<double>());
      max_box = std::max(max_box, d);
      EXPECT_NEAR(b[i][k].item<float>(), exp_boxes[i][k].get<double>(), 1e-2) << "row " << i << " col " << k;
    }
    const double dc = std::abs(b[i][4].item<float>() - exp_conf[i].get<double>());
    max_conf = std::max(max_conf, dc);
    EXPECT_NEAR(b[i][4].item<float>(), exp_conf[i].get<double>(), 1e-4) << "row " << i;
  }
  std::printf("[%s@%d] %d detections, max |box| diff %.3g px, max |conf| diff %.3g\n", c.name, c.imgsz, n, max_box,
              max_conf);

  // The public API gives the same rows (box as x, y, w, h; names from the checkpoint).
  DetectorOptions o;
  o.imgsz = c.imgsz;
  Detector det(model, o);
  auto ds = det.detect(img);
  ASSERT_EQ(static_cast<int>(ds.size()), n);
  const auto names = j["results"][std::to_string(c.imgsz)]["names"];
  if (names.is_string() && names.get<std::string>() == "COCO-80") {
    ASSERT_EQ(det.names().size(), 80u);
    EXPECT_EQ(det.names()[0], "person");
    EXPECT_EQ(det.names()[79], "toothbrush");
  }
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(ds[i].cls, exp_cls[i].get<int>());
    if (names.is_object()) EXPECT_EQ(ds[i].name, names[std::to_string(ds[i].cls)].get<std::string>());
    EXPECT_EQ(ds[i].name, det.names()[static_cast<size_t>(ds[i].cls)]);
    EXPECT_NEAR(ds[i].box.x, exp_boxes[i][0].get<double>(), 1e-2);
    EXPECT_NEAR(ds[i].box.y, exp_boxes[i][1].get<double>(), 1e-2);
    EXPECT_NEAR(ds[i].box.x + ds[i].box.width, exp_boxes[i][2].get<double>(), 1e-2);
    EXPECT_NEAR(ds[i].box.y + ds[i].box.height, exp_boxes[i][3].get<double>(), 1e-2);
    EXPECT_NEAR(ds[i].conf, exp_conf[i].get<double>(), 1e-4);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PredictParity,
                         ::testing::Values(Case{"nc3_bus", 640}, Case{"nc3_bus", 320}, Case{"nc80_noise", 320}),
                         [](const auto& info) { return std::string(info.param.name) + "_" + std::to_string(info.param.imgsz); });

TEST(Detector, MissingModelThrowsModelError) {
  EXPECT_THROW(Detector("/nonexistent/best.pt"), ModelError);
  EXPECT_THROW(Detector("/nonexistent/best.onnx"), ModelError);
  EXPECT_THROW(Detector("model.txt"), ModelError);
}

TEST(Detector, CorruptModelThrowsModelErrorOrIoError) {
  yolocpp::test::TempDir t;
  for (const char* name : {"bad.pt", "bad.onnx"}) {
    const auto p = t / name;
    std::ofstream(p) << "this is not a model file at all";
    try {
      Detector d(p.string());
      ADD_FAILURE() << name << " loaded";
    } catch (const yolocpp::Error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();  // the message names the file
    }
  }
}

TEST(Detector, EmptyImageThrowsDataError) {
  YOLOCPP_REQUIRE_SHARED();
  Detector det((fixtures_dir() / "yolo11n_nc3_random.pt").string());
  EXPECT_THROW(det.detect(cv::Mat()), DataError);
  EXPECT_THROW(det.detect(std::vector<cv::Mat>{cv::Mat(8, 8, CV_8UC3), cv::Mat()}), DataError);
  EXPECT_EQ(det.names(), (std::vector<std::string>{"villager", "house", "tree"}));
  EXPECT_EQ(det.imgsz(), 640);
}

TEST(Detector, BatchEqualsSingleForSameShapes) {
  YOLOCPP_REQUIRE_SHARED();
  cv::Mat img = cv::imread((fixtures_dir() / "bus.jpg").string());
  Detector det((fixtures_dir() / "yolo11n_nc3_random.pt").string());
  auto one = det.detect(img);
  auto two = det.detect(std::vector<cv::Mat>{img, img});
  ASSERT_EQ(two.size(), 2u);
  for (const auto& r : two) {
    ASSERT_EQ(r.size(), one.size());
    for (size_t i = 0; i < r.size(); ++i) {
      EXPECT_EQ(r[i].cls, one[i].cls);
      EXPECT_NEAR(r[i].conf, one[i].conf, 1e-5);
      EXPECT_NEAR(r[i].box.x, one[i].box.x, 1e-3);
    }
  }
  // Class filter and max_det act on the same rows.
  DetectorOptions o;
  o.classes = {1};
  o.max_det = 1;
  Detector only_house((fixtures_dir() / "yolo11n_nc3_random.pt").string(), o);
  auto h = only_house.detect(img);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].cls, 1);
  EXPECT_NEAR(h[0].conf, 0.2707493f, 1e-4);  // the one house of predict_case nc3_bus@640
}

TEST(PredictHelpers, CheckImgszRoundsUpToStride) {
  EXPECT_EQ(engine::check_imgsz({640, 640}, 32), (engine::Shape2{640, 640}));
  EXPECT_EQ(engine::check_imgsz({641, 100}, 32), (engine::Shape2{672, 128}));
  EXPECT_EQ(engine::check_imgsz({10, 10}, 32), (engine::Shape2{32, 32}));
}

TEST(PredictHelpers, CountSummary) {
  auto b = torch::tensor({{0.f, 0.f, 1.f, 1.f, .9f, 2.f}, {0.f, 0.f, 1.f, 1.f, .8f, 0.f}, {0.f, 0.f, 1.f, 1.f, .7f, 0.f}});
  EXPECT_EQ(engine::count_summary(b, {"person", "bicycle", "bus"}), "2 persons, 1 bus");
  EXPECT_EQ(engine::count_summary(torch::zeros({0, 6}), {"a"}), "(no detections)");
}

}  // namespace
