// `yolocpp val` on an exported .onnx (OpenCV DNN) gives the metrics of the .pt it came from: same letterboxed
// inputs (square batches at the static graph's size), same NMS and matching, forwards equal to ~1e-3 px.
// (Dynamic and batch>1 exports are not covered: OpenCV 4.6 cannot import/run them, see backend_ocv.) Also: a dataset whose
// nc differs from the ONNX metadata is refused with a ModelError naming both.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <vector>
#include <fstream>
#include <sstream>

#include "common/test_util.hpp"
#include "yolocpp/data/synth.hpp"  // the nc-mismatch case

namespace {

using namespace yolocpp::test;

CmdResult run_cli(const std::string& args) { return ::yolocpp::test::yolocpp(args); }
bool have_cli() { return fs::exists(YOLOCPP_BIN); }
#define REQUIRE_CLI() \
  if (!have_cli()) GTEST_SKIP() << "build the yolocpp binary (ninja yolocpp_cli) to run the CLI tests"

// The "all" row of the val table: Class Images Instances P R mAP50 mAP50-95 -> {images, instances, P, R, 50, 50-95}.
std::array<double, 6> all_row(const std::string& out) {
  std::istringstream is(out);
  std::string line;
  while (std::getline(is, line)) {
    std::istringstream ls(line);
    std::string first;
    if (!(ls >> first) || first != "all") continue;
    std::array<double, 6> v{};
    for (auto& x : v)
      if (!(ls >> x)) ADD_FAILURE() << "unparsable 'all' row: " << line;
    return v;
  }
  ADD_FAILURE() << "no 'all' row in:\n" << out;
  return {};
}

// 32 COCO128 val images as train and val: the perturbed-random nc=80 fixture, fine-tuned 3 epochs at 160 px,
// scores clearly above zero there (P ~0.04, mAP50 ~0.005), so equal metrics are not trivially equal zeros.
fs::path make_coco32(const TempDir& t) {
  const fs::path src = datasets_dir() / "coco128";
  const fs::path dst = t / "coco32";
  fs::create_directories(dst / "images" / "val");
  fs::create_directories(dst / "labels" / "val");
  std::vector<fs::path> imgs;
  for (const auto& e : fs::directory_iterator(src / "images" / "val")) imgs.push_back(e.path());
  std::sort(imgs.begin(), imgs.end());
  imgs.resize(std::min<size_t>(imgs.size(), 32));
  for (const auto& p : imgs) {
    fs::copy_file(p, dst / "images" / "val" / p.filename());
    const fs::path lab = src / "labels" / "val" / (p.stem().string() + ".txt");
    if (fs::exists(lab)) fs::copy_file(lab, dst / "labels" / "val" / lab.filename());
  }
  // Same classes as COCO128's yaml: keep its nc/names block, point train and val at the copied images.
  std::ifstream in(src / "data.yaml");
  std::ostringstream y;
  y << "path: " << dst.string() << "\ntrain: images/val\nval: images/val\n";
  std::string line;
  bool names = false;
  while (std::getline(in, line)) {
    if (line.rfind("nc:", 0) == 0) names = true;
    if (names) y << line << "\n";
  }
  std::ofstream(dst / "data.yaml") << y.str();
  return dst / "data.yaml";
}

TEST(ValOnnx, ExportMatchesPtMetrics) {
  YOLOCPP_REQUIRE_SHARED();
  REQUIRE_CLI();
  TempDir t;
  const fs::path data = make_coco32(t);
  fs::copy_file(fixtures_dir() / "yolo11n_random.pt", t / "start.pt");
  auto tr = run_cli("train model=" + (t / "start.pt").string() + " data=" + data.string() +
                    " epochs=3 imgsz=160 batch=8 device=cpu workers=0 plots=False project=" + t.path().string() +
                    " name=tr");
  ASSERT_EQ(tr.rc, 0) << tr.out;
  const fs::path pt = t / "best.pt";
  fs::copy_file(t / "tr" / "weights" / "best.pt", pt);

  auto ex = run_cli("export model=" + pt.string() + " format=onnx imgsz=160");
  ASSERT_EQ(ex.rc, 0) << ex.out;
  const fs::path onnx = t / "best.onnx";
  ASSERT_TRUE(fs::exists(onnx)) << ex.out;

  const std::string common = " data=" + data.string() + " imgsz=160 batch=4 device=cpu project=" +
                             t.path().string() + " exist_ok=True";
  // Static graph [1,3,160,160]: square batches on both sides so the network inputs are identical.
  auto rp = run_cli("val model=" + pt.string() + common + " rect=False name=pt");
  ASSERT_EQ(rp.rc, 0) << rp.out;
  auto ro = run_cli("val model=" + onnx.string() + common + " rect=False name=onnx");
  ASSERT_EQ(ro.rc, 0) << ro.out;
  EXPECT_NE(ro.out.find("OpenCV DNN"), std::string::npos) << ro.out;
  // batch=4 becomes the graph's fixed batch of 1, with a warning saying so.
  EXPECT_NE(ro.out.find("fixed batch of 1"), std::string::npos) << ro.out;
  // plots=True (the default): both confusion matrices beside the results, for .pt and .onnx alike.
  for (const char* run : {"pt", "onnx"})
    for (const char* f : {"confusion_matrix.png", "confusion_matrix_normalized.png"})
      EXPECT_GT(fs::exists(t / run / f) ? fs::file_size(t / run / f) : 0u, 1000u) << run << "/" << f;
  auto rn = run_cli("val model=" + pt.string() + common + " rect=False name=noplots plots=False");
  ASSERT_EQ(rn.rc, 0) << rn.out;
  EXPECT_FALSE(fs::exists(t / "noplots" / "confusion_matrix.png"));

  const auto a = all_row(rp.out), b = all_row(ro.out);
  std::printf("pt   (square): P %.4g R %.4g mAP50 %.4g mAP50-95 %.4g (%g images, %g instances)\n", a[2], a[3], a[4],
              a[5], a[0], a[1]);
  std::printf("onnx (static): P %.4g R %.4g mAP50 %.4g mAP50-95 %.4g\n", b[2], b[3], b[4], b[5]);
  EXPECT_EQ(a[0], 32);
  EXPECT_EQ(a[0], b[0]);
  EXPECT_EQ(a[1], b[1]);
  for (int i = 2; i < 6; ++i) EXPECT_NEAR(a[i], b[i], 1e-3) << "column " << i;
  EXPECT_GT(a[2], 0.005) << "P of the .pt is ~zero: the comparison would be trivial\n" << rp.out;
  EXPECT_GT(a[4], 0.001) << "mAP50 of the .pt is ~zero: the comparison would be trivial\n" << rp.out;
}

TEST(ValOnnx, DatasetWithOtherNcIsAModelError) {
  YOLOCPP_REQUIRE_SHARED();
  REQUIRE_CLI();
  TempDir t;
  const fs::path pt = t / "m.pt";
  fs::copy_file(fixtures_dir() / "yolo11n_nc3_random.pt", pt);
  yolocpp::data::SynthOptions so;
  so.out = t / "synth5";
  so.images = 4;
  so.imgsz = 160;
  const fs::path data5 = yolocpp::data::generate_synth(so);
  auto ex = run_cli("export model=" + pt.string() + " format=onnx imgsz=160");
  ASSERT_EQ(ex.rc, 0) << ex.out;
  auto r = run_cli("val model=" + (t / "m.onnx").string() + " data=" + data5.string() + " project=" +
                   t.path().string());
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("predicts 3 classes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nc=5"), std::string::npos) << r.out;
}

}  // namespace
