// Parity of LetterBox / load_image / rect shapes with Ultralytics 8.3.58 (fixtures/letterbox_case.json).
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "augment/md5.hpp"
#include "common/test_util.hpp"
#include "yolocpp/data/augment/letterbox.hpp"
#include "yolocpp/data/augment/load.hpp"
#include "yolocpp/data/augment/rect.hpp"
#include "yolocpp/util/error.hpp"

using namespace yolocpp::augment;
using yolocpp::test::repo_fixtures_dir;
using yolocpp::test::md5_mat;

namespace {
nlohmann::json load_case() {
  std::ifstream f(repo_fixtures_dir() / "letterbox_case.json");
  return nlohmann::json::parse(f);
}
cv::Mat bus() { return cv::imread((repo_fixtures_dir() / "bus.jpg").string(), cv::IMREAD_COLOR); }
}  // namespace

TEST(Letterbox, PyRoundIsHalfEven) {
  EXPECT_EQ(round_half_even(0.5), 0.0);
  EXPECT_EQ(round_half_even(1.5), 2.0);
  EXPECT_EQ(round_half_even(2.5), 2.0);
  EXPECT_EQ(round_half_even(-0.5), -0.0);
  EXPECT_EQ(round_half_even(-1.5), -2.0);
  EXPECT_EQ(round_half_even(2.4999), 2.0);
  EXPECT_EQ(round_half_even(39.9), 40.0);
}

TEST(Letterbox, DecodedBusMatchesFixture) {
  auto j = load_case();
  cv::Mat im = bus();
  ASSERT_FALSE(im.empty());
  EXPECT_EQ(im.rows, j["decoded_source"]["shape_hwc"][0].get<int>());
  EXPECT_EQ(im.cols, j["decoded_source"]["shape_hwc"][1].get<int>());
  EXPECT_EQ(md5_mat(im), j["decoded_source"]["md5_bgr_hwc_u8"].get<std::string>());
  EXPECT_EQ(static_cast<int64_t>(cv::sum(im)[0] + cv::sum(im)[1] + cv::sum(im)[2]),
            j["decoded_source"]["sum"].get<int64_t>());
}

TEST(Letterbox, CasesMatchFixture) {
  auto j = load_case();
  cv::Mat im = bus();
  int n_cases = 0, n_png = 0, exact_boxes = 0;
  for (auto& [name, c] : j["cases"].items()) {
    SCOPED_TRACE(name);
    LetterboxOptions opt;
    opt.auto_stride = c["auto"].get<bool>();
    opt.scaleup = c["scaleup"].get<bool>();
    opt.center = c["center"].get<bool>();
    opt.stride = c["stride"].get<int>();
    Letterboxed lb = letterbox(im, c["new_shape"][0].get<int>(), c["new_shape"][1].get<int>(), opt);
    EXPECT_DOUBLE_EQ(lb.ratio_w, c["ratio_r"].get<double>());
    EXPECT_EQ(lb.new_unpad.width, c["new_unpad_wh"][0].get<int>());
    EXPECT_EQ(lb.new_unpad.height, c["new_unpad_wh"][1].get<int>());
    EXPECT_EQ(lb.left, c["pad_left_top"][0].get<int>());
    EXPECT_EQ(lb.top, c["pad_left_top"][1].get<int>());
    EXPECT_EQ(lb.right, c["pad_right_bottom"][0].get<int>());
    EXPECT_EQ(lb.bottom, c["pad_right_bottom"][1].get<int>());
    EXPECT_EQ(lb.img.rows, c["out_hw"][0].get<int>());
    EXPECT_EQ(lb.img.cols, c["out_hw"][1].get<int>());
    EXPECT_EQ(md5_mat(lb.img), c["out_md5_bgr_hwc_u8"].get<std::string>());
    if (c.contains("png")) {
      cv::Mat ref = cv::imread((repo_fixtures_dir() / c["png"].get<std::string>()).string(), cv::IMREAD_COLOR);
      ASSERT_EQ(ref.size(), lb.img.size());
      cv::Mat diff;
      cv::absdiff(ref, lb.img, diff);
      double mx = 0;
      cv::minMaxLoc(diff.reshape(1), nullptr, &mx);
      EXPECT_EQ(mx, 0.0) << "pixels differ from " << c["png"];
      ++n_png;
    }
    std::vector<std::array<float, 4>> in;
    for (auto& b : c["boxes_in_norm_xywh"]) in.push_back({b[0], b[1], b[2], b[3]});
    Instances inst = from_xywhn(in, std::vector<int>(in.size(), 0), im.cols, im.rows);
    letterbox_boxes(inst, lb);
    for (size_t k = 0; k < in.size(); ++k)
      for (int q = 0; q < 4; ++q) {
        const float want = c["boxes_out_xyxy_px"][k][q].get<float>();
        EXPECT_NEAR(inst.boxes[k][q], want, 1e-4) << "box " << k << " coord " << q;
        exact_boxes += inst.boxes[k][q] == want;
      }
    ++n_cases;
  }
  EXPECT_EQ(n_cases, 4);
  EXPECT_EQ(n_png, 3);
  // float32 arithmetic in upstream's order reproduces every coordinate bit for bit.
  EXPECT_EQ(exact_boxes, n_cases * 12);
}

TEST(Letterbox, PadTableMatchesFixture) {
  auto j = load_case();
  int rows = 0;
  for (auto& row : j["pad_table"]) {
    LetterboxOptions opt;
    opt.auto_stride = row["auto"].get<bool>();
    opt.scaleup = row["scaleup"].get<bool>();
    const int S = row["new_shape"].get<int>();
    const cv::Size src(row["orig_hw"][1].get<int>(), row["orig_hw"][0].get<int>());
    Letterboxed lb = letterbox_geometry(src, S, S, opt);
    SCOPED_TRACE(row.dump());
    EXPECT_EQ(lb.new_unpad.height + lb.top + lb.bottom, row["out_hw"][0].get<int>());
    EXPECT_EQ(lb.new_unpad.width + lb.left + lb.right, row["out_hw"][1].get<int>());
    EXPECT_EQ(lb.left, row["pad_left_top"][0].get<int>());
    EXPECT_EQ(lb.top, row["pad_left_top"][1].get<int>());
    ++rows;
  }
  EXPECT_EQ(rows, 72);
}

TEST(Letterbox, PixelsMatchGeometryOnOddPadding) {
  // 100x61 (w x h) into 64x64: r = 0.64, unpad (64, 39), dh = 25 -> 12 top, 13 bottom (extra pixel below).
  cv::Mat im(61, 100, CV_8UC3, cv::Scalar(10, 20, 30));
  Letterboxed lb = letterbox(im, 64, 64);
  EXPECT_EQ(lb.new_unpad, cv::Size(64, 39));
  EXPECT_EQ(lb.top, 12);
  EXPECT_EQ(lb.bottom, 13);
  EXPECT_EQ(lb.img.size(), cv::Size(64, 64));
  EXPECT_EQ(lb.img.at<cv::Vec3b>(11, 5), cv::Vec3b(114, 114, 114));
  EXPECT_EQ(lb.img.at<cv::Vec3b>(12, 5), cv::Vec3b(10, 20, 30));
  EXPECT_EQ(lb.img.at<cv::Vec3b>(50, 5), cv::Vec3b(10, 20, 30));
  EXPECT_EQ(lb.img.at<cv::Vec3b>(51, 5), cv::Vec3b(114, 114, 114));
  // Not centred: everything at the bottom/right.
  LetterboxOptions nc;
  nc.center = false;
  Letterboxed lb2 = letterbox(im, 64, 64, nc);
  EXPECT_EQ(lb2.top, 0);
  EXPECT_EQ(lb2.bottom, 25);
  // Same size: no resampling, image identical.
  cv::Mat sq(64, 64, CV_8UC3);
  cv::randu(sq, 0, 255);
  Letterboxed lb3 = letterbox(sq, 64, 64);
  EXPECT_EQ(cv::norm(lb3.img, sq, cv::NORM_INF), 0.0);
  // scaleup=false keeps a small image at r = 1 and pads.
  LetterboxOptions nu;
  nu.scaleup = false;
  Letterboxed lb4 = letterbox(cv::Mat(30, 40, CV_8UC3, cv::Scalar::all(0)), 64, 64, nu);
  EXPECT_EQ(lb4.ratio_w, 1.0);
  EXPECT_EQ(lb4.left, 12);
  EXPECT_EQ(lb4.top, 17);
  EXPECT_EQ(lb4.bottom, 17);
}

TEST(Letterbox, ScaleFillStretches) {
  LetterboxOptions o;
  o.scale_fill = true;
  Letterboxed lb = letterbox(cv::Mat(50, 100, CV_8UC3, cv::Scalar::all(1)), 64, 64, o);
  EXPECT_EQ(lb.img.size(), cv::Size(64, 64));
  EXPECT_DOUBLE_EQ(lb.ratio_w, 0.64);
  EXPECT_DOUBLE_EQ(lb.ratio_h, 1.28);
  Instances inst;
  inst.push({10, 10, 20, 20}, 3);
  letterbox_boxes(inst, lb);
  EXPECT_NEAR(inst.boxes[0][0], 6.4f, 1e-5);
  EXPECT_NEAR(inst.boxes[0][3], 25.6f, 1e-5);
}

TEST(LoadImage, LongSideCeilRule) {
  EXPECT_EQ(long_side_size({810, 1080}, 640), cv::Size(480, 640));
  // 302 * 0.64 = 193.28: ceil gives 194 where round would give 193.
  EXPECT_EQ(long_side_size({1000, 302}, 640), cv::Size(640, 194));
  EXPECT_EQ(long_side_size({1280, 720}, 640), cv::Size(640, 360));
  EXPECT_EQ(long_side_size({640, 480}, 640), cv::Size(640, 480));  // r == 1: unchanged
  EXPECT_EQ(long_side_size({100, 50}, 640), cv::Size(640, 320));   // upscaled in train and val
  EXPECT_EQ(long_side_size({333, 1000}, 320), cv::Size(107, 320)); // 106.56 -> 107
}

TEST(LoadImage, ReadsBusAndRecordsShapes) {
  Sample s = load_image((repo_fixtures_dir() / "bus.jpg").string(), 320);
  EXPECT_EQ(s.ori_shape, cv::Size(810, 1080));
  EXPECT_EQ(s.img.rows, 320);
  EXPECT_EQ(s.resized_shape, s.img.size());
  EXPECT_DOUBLE_EQ(s.ratio_hw[0], 320.0 / 1080);
  EXPECT_DOUBLE_EQ(s.ratio_hw[1], static_cast<double>(s.img.cols) / 810);
}

TEST(LoadImage, MissingFileThrowsDataError) {
  EXPECT_THROW(load_image("/nonexistent/x.jpg", 640), yolocpp::DataError);
}

TEST(RectBatches, SpecExamples) {
  // All 480x640 (h x w): val pad 0.5 -> 512 x 672.
  RectBatches rb = rect_batch_shapes({{640, 480}, {640, 480}}, 640, 2, 32, 0.5);
  ASSERT_EQ(rb.batch_shape.size(), 1u);
  EXPECT_EQ(rb.batch_shape[0], cv::Size(672, 512));
  // Square -> 672 x 672 in val, 640 x 640 in train (pad 0).
  EXPECT_EQ(rect_batch_shapes({{500, 500}}, 640, 1, 32, 0.5).batch_shape[0], cv::Size(672, 672));
  EXPECT_EQ(rect_batch_shapes({{500, 500}}, 640, 1, 32, 0.0).batch_shape[0], cv::Size(640, 640));
}

TEST(RectBatches, SortsByAspectAndGroups) {
  // ar: 2.0, 0.5, 1.0, 0.75, 1.5 -> order 1 (0.5), 3 (0.75), 2 (1.0), 4 (1.5), 0 (2.0)
  std::vector<cv::Size> wh{{100, 200}, {200, 100}, {100, 100}, {400, 300}, {200, 300}};
  RectBatches rb = rect_batch_shapes(wh, 640, 2, 32, 0.0);
  EXPECT_EQ(rb.order, (std::vector<size_t>{1, 3, 2, 4, 0}));
  ASSERT_EQ(rb.batch_shape.size(), 3u);
  // batch 0: hi = 0.75 < 1 -> [0.75, 1] -> 480 x 640
  EXPECT_EQ(rb.batch_shape[0], cv::Size(640, 480));
  // batch 1: lo = 1.0, hi = 1.5 -> [1, 1]
  EXPECT_EQ(rb.batch_shape[1], cv::Size(640, 640));
  // batch 2: lo = 2 > 1 -> [1, 0.5] -> 640 h x 320 w
  EXPECT_EQ(rb.batch_shape[2], cv::Size(320, 640));
  EXPECT_EQ(rb.shape_at(4), cv::Size(320, 640));
  EXPECT_EQ(rb.batch_of[3], 1);
}
