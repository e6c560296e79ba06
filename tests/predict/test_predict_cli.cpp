// `yolocpp predict` end to end on the fixtures: console lines, label files that parse back to the parity
// detections, annotated images at the original size, folder / list / glob / video sources.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "common/test_util.hpp"

namespace {

using namespace yolocpp::test;

CmdResult run_cli(const std::string& args) { return ::yolocpp::test::yolocpp(args); }
bool have_cli() { return fs::exists(YOLOCPP_BIN); }
#define REQUIRE_CLI() \
  if (!have_cli()) GTEST_SKIP() << "build the yolocpp binary (ninja yolocpp_cli) to run the CLI tests"

TEST(PredictCli, ImageWritesLabelsAndAnnotatedImage) {
  YOLOCPP_REQUIRE_SHARED();
  REQUIRE_CLI();
  TempDir t;
  const auto model = fixtures_dir() / "yolo11n_nc3_random.pt";
  const auto img = fixtures_dir() / "bus.jpg";
  auto r = run_cli("predict model=" + model.string() + " source=" + img.string() + " save_txt=True save_conf=True project=" +
                   t.path().string() + " name=p");
  ASSERT_EQ(r.rc, 0) << r.out;
  // cls [2,2,2,2,2,1,2] in predict_case nc3_bus@640: classes counted in class order.
  EXPECT_NE(r.out.find("image 1/1 " + img.string() + ": 640x480 1 house, 6 trees, "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("postprocess per image at shape (1, 3, 640, 480)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Results saved to " + (t / "p").string()), std::string::npos) << r.out;

  cv::Mat plotted = cv::imread((t / "p" / "bus.jpg").string());
  ASSERT_FALSE(plotted.empty());
  EXPECT_EQ(plotted.cols, 810);
  EXPECT_EQ(plotted.rows, 1080);
  cv::Mat orig = cv::imread(img.string());
  EXPECT_GT(cv::norm(plotted, orig, cv::NORM_L1), 1000.0);  // boxes were drawn

  std::ifstream pc(fixtures_dir() / "predict_case.json");
  const auto c = nlohmann::json::parse(pc)["cases"]["nc3_bus"]["results"]["640"];
  std::ifstream lf(t / "p" / "labels" / "bus.txt");
  ASSERT_TRUE(lf) << "labels/bus.txt missing";
  std::string line;
  int i = 0;
  while (std::getline(lf, line)) {
    std::istringstream ss(line);
    double cls, cx, cy, w, h, conf;
    ASSERT_TRUE(ss >> cls >> cx >> cy >> w >> h >> conf) << line;
    ASSERT_LT(i, c["n"].get<int>());
    const auto b = c["boxes_xyxy_orig"][i];
    EXPECT_EQ(static_cast<int>(cls), c["cls"][i].get<int>());
    EXPECT_NEAR(cx, (b[0].get<double>() + b[2].get<double>()) / 2 / 810, 2e-5);
    EXPECT_NEAR(cy, (b[1].get<double>() + b[3].get<double>()) / 2 / 1080, 2e-5);
    EXPECT_NEAR(w, (b[2].get<double>() - b[0].get<double>()) / 810, 2e-5);
    EXPECT_NEAR(h, (b[3].get<double>() - b[1].get<double>()) / 1080, 2e-5);
    EXPECT_NEAR(conf, c["conf_values"][i].get<double>(), 1e-4);
    ++i;
  }
  EXPECT_EQ(i, c["n"].get<int>());
}

TEST(PredictCli, FolderListGlobAndFilters) {
  YOLOCPP_REQUIRE_SHARED();
  REQUIRE_CLI();
  TempDir t;
  fs::create_directories(t / "imgs");
  fs::copy_file(fixtures_dir() / "bus.jpg", t / "imgs" / "a_bus.jpg");
  fs::copy_file(fixtures_dir() / "noise_240x320.png", t / "imgs" / "b_noise.png");
  std::ofstream(t / "imgs" / "notes.md") << "not an image";
  const std::string model = " model=" + (fixtures_dir() / "yolo11n_random.pt").string();

  auto r = run_cli("predict" + model + " source=" + (t / "imgs").string() + " imgsz=320 save=False");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("image 1/2 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("image 2/2 " + (t / "imgs" / "b_noise.png").string() + ": 256x320 "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Results saved"), std::string::npos) << "save=False must not create a run folder";

  std::ofstream(t / "list.txt") << "imgs/b_noise.png\n";
  r = run_cli("predict" + model + " source=" + (t / "list.txt").string() + " imgsz=320 save_txt=True save=False project=" +
              t.path().string() + " name=l");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("image 1/1 "), std::string::npos) << r.out;
  std::ifstream lf(t / "l" / "labels" / "b_noise.txt");
  int rows = 0;
  for (std::string line; std::getline(lf, line);) ++rows;
  EXPECT_EQ(rows, 37);  // predict_case nc80_noise@320

  // classes= keeps only those classes; max_det caps the rows.
  r = run_cli("predict" + model + " source='" + (t / "imgs").string() + "/*.png' imgsz=320 save=False save_txt=True "
              "max_det=3 project=" + t.path().string() + " name=g");
  ASSERT_EQ(r.rc, 0) << r.out;
  std::ifstream gf(t / "g" / "labels" / "b_noise.txt");
  rows = 0;
  for (std::string line; std::getline(gf, line);) ++rows;
  EXPECT_EQ(rows, 3);
}

TEST(PredictCli, VideoSourceWritesVideo) {
  YOLOCPP_REQUIRE_SHARED();
  REQUIRE_CLI();
  TempDir t;
  cv::Mat bus = cv::imread((fixtures_dir() / "bus.jpg").string());
  cv::Mat small;
  cv::resize(bus, small, cv::Size(320, 432));
  {
    cv::VideoWriter w((t / "clip.avi").string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, small.size());
    ASSERT_TRUE(w.isOpened());
    for (int k = 0; k < 4; ++k) w.write(small);
  }
  auto r = run_cli("predict model=" + (fixtures_dir() / "yolo11n_nc3_random.pt").string() + " source=" +
                   (t / "clip.avi").string() + " vid_stride=2 imgsz=320 project=" + t.path().string() + " name=v");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("video 1/1 (frame 1/2) "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("video 1/1 (frame 2/2) "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("(frame 3/"), std::string::npos) << r.out;
  cv::VideoCapture cap((t / "v" / "clip.avi").string());
  ASSERT_TRUE(cap.isOpened()) << r.out;
  EXPECT_EQ(static_cast<int>(cap.get(cv::CAP_PROP_FRAME_COUNT)), 2);
  EXPECT_EQ(static_cast<int>(cap.get(cv::CAP_PROP_FRAME_WIDTH)), 320);
}

TEST(PredictCli, BadInputsFailWithOneLine) {
  REQUIRE_CLI();
  TempDir t;
  cv::imwrite((t / "x.png").string(), cv::Mat(32, 32, CV_8UC3, cv::Scalar(1, 2, 3)));
  auto r = run_cli("predict model=/nonexistent/best.pt source=" + (t / "x.png").string());
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("/nonexistent/best.pt"), std::string::npos) << r.out;
  r = run_cli("predict model=x.pt source=/nonexistent/folder");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("/nonexistent/folder"), std::string::npos) << r.out;
  r = run_cli("predict source=" + (t / "x.png").string());
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("model="), std::string::npos) << r.out;
}

}  // namespace
