// Parity with Ultralytics 8.3.58's DetectionValidator on the synthetic 7-image case (metrics_case.json).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "metrics/fixture.hpp"
#include "yolocpp/metrics/metrics.hpp"

using namespace yolocpp::metrics;
using yolocpp::test::rows_f32;
using yolocpp::test::vec_f32;

namespace {

constexpr double kTol = 1e-9;  // fixture README: metrics are numpy float64 on exact inputs

struct CaseRun {
  nlohmann::json c;
  DetectionStats stats;
  ConfusionMatrix cm{4};
  std::vector<torch::Tensor> tps, ious, predn;
  DetMetrics m;
};

// Feeds every image through scale_boxes (letterboxed -> native), DetectionStats and the confusion matrix.
CaseRun run_case() {
  CaseRun r;
  r.c = yolocpp::test::load_json("metrics_case.json").at("metrics_case");
  const auto& c = r.c;
  const auto& rp = c["ratio_pad"];
  RatioPad pad{rp[0][0].get<double>(), rp[0][1].get<double>(), rp[1][0].get<double>(), rp[1][1].get<double>()};
  HW img1{c["imgsz_hw"][0].get<int64_t>(), c["imgsz_hw"][1].get<int64_t>()};
  HW img0{c["ori_shape_hw"][0].get<int64_t>(), c["ori_shape_hw"][1].get<int64_t>()};
  for (const auto& im : c["per_image"]) {
    auto pred_lb = rows_f32(im["pred_letterboxed_xyxy_conf_cls"], 6);
    auto predn = scale_boxes(img1, pred_lb, img0, pad);
    auto gt = rows_f32(im["gt_native_xyxy"], 4);
    auto gcls = vec_f32(im["gt_cls"]);
    r.predn.push_back(predn);
    r.tps.push_back(r.stats.update(predn, gt, gcls));
    r.ious.push_back(r.stats.last_iou().clone());
    r.cm.process_batch(predn, gt, gcls);
  }
  r.m = r.stats.compute(int64_t(c["names"].size()));
  return r;
}

}  // namespace

TEST(MetricsCase, IouThresholdsMatchFixture) {
  auto c = yolocpp::test::load_json("metrics_case.json").at("metrics_case");
  auto iouv = iou_thresholds();
  ASSERT_EQ(c["iouv"].size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(double(iouv[i].item<float>()), c["iouv"][i].get<double>()) << i;
}

TEST(MetricsCase, PerImagePrednIouAndTp10) {
  auto r = run_case();
  const auto& pi = r.c["per_image"];
  ASSERT_EQ(pi.size(), 7u);
  int64_t total_tp = 0;
  for (size_t i = 0; i < pi.size(); ++i) {
    const auto& im = pi[i];
    auto want_predn = rows_f32(im["predn_native"], 6);
    EXPECT_TRUE(torch::equal(r.predn[i], want_predn)) << "image " << i;
    const int64_t m = int64_t(im["gt_cls"].size()), n = int64_t(im["predn_native"].size());
    if (m && n) {
      auto want_iou = rows_f32(im["iou_gt_x_pred"], n);
      ASSERT_EQ(r.ious[i].sizes(), want_iou.sizes()) << "image " << i;
      EXPECT_TRUE(torch::equal(r.ious[i], want_iou)) << "image " << i << "\n" << r.ious[i] << "\n" << want_iou;
    }
    std::vector<uint8_t> want;
    for (const auto& row : im["tp_10"])
      for (const auto& v : row) want.push_back(uint8_t(v.get<int>()));
    ASSERT_EQ(r.tps[i].numel(), int64_t(want.size())) << "image " << i;
    auto got = r.tps[i].contiguous();
    for (size_t k = 0; k < want.size(); ++k)
      EXPECT_EQ(uint8_t(got.data_ptr<bool>()[k]), want[k]) << "image " << i << " pred " << k / 10 << " iou " << k % 10;
    total_tp += got.sum().item<int64_t>();
  }
  EXPECT_GT(total_tp, 0);
}

TEST(MetricsCase, PerClassApPrF1) {
  auto r = run_case();
  const auto& res = r.c["results"];
  std::vector<int> want_idx = res["ap_class_index"].get<std::vector<int>>();
  EXPECT_EQ(r.m.ap_class_index, want_idx);
  size_t checked = 0;
  double worst = 0;
  auto near = [&worst](double got, double want) {
    worst = std::max(worst, std::abs(got - want));
    return std::abs(got - want) <= kTol;
  };
  for (const auto& [name, pc] : res["per_class"].items()) {
    const int cls = pc["class"].get<int>();
    auto it = std::find(r.m.ap_class_index.begin(), r.m.ap_class_index.end(), cls);
    ASSERT_NE(it, r.m.ap_class_index.end()) << name;
    const size_t i = size_t(it - r.m.ap_class_index.begin());
    EXPECT_TRUE(near(r.m.p[i], pc["P"].get<double>())) << name << " P " << r.m.p[i];
    EXPECT_TRUE(near(r.m.r[i], pc["R"].get<double>())) << name << " R " << r.m.r[i];
    EXPECT_TRUE(near(r.m.f1[i], pc["F1"].get<double>())) << name << " F1 " << r.m.f1[i];
    EXPECT_TRUE(near(r.m.ap50[i], pc["AP50"].get<double>())) << name << " AP50 " << r.m.ap50[i];
    EXPECT_TRUE(near(r.m.ap[i], pc["AP50-95"].get<double>())) << name << " AP50-95 " << r.m.ap[i];
    const auto& a10 = pc["AP_at_10_iou"];
    ASSERT_EQ(r.m.all_ap[i].size(), a10.size());
    for (size_t t = 0; t < a10.size(); ++t) EXPECT_TRUE(near(r.m.all_ap[i][t], a10[t].get<double>())) << name << " t" << t;
    ++checked;
  }
  std::printf("[ parity ] per-class P/R/F1/AP max |diff| vs Ultralytics = %.3g\n", worst);
  EXPECT_EQ(checked, 3u);
}

TEST(MetricsCase, ResultsDictFitnessAndMaps) {
  auto r = run_case();
  const auto& res = r.c["results"];
  for (const auto& [k, v] : r.m.results_dict()) {
    ASSERT_TRUE(res["results_dict"].contains(k)) << k;
    EXPECT_NEAR(v, res["results_dict"][k].get<double>(), kTol) << k;
  }
  EXPECT_NEAR(r.m.fitness(), 0.5119722777777779, kTol);
  // Rounded as handed to the trainer: the README's 5-decimal values.
  const auto rounded = r.m.results_dict(true);
  EXPECT_EQ(rounded[0].second, 0.51607);
  EXPECT_EQ(rounded[1].second, 0.52941);
  EXPECT_EQ(rounded[2].second, 0.56378);
  EXPECT_EQ(rounded[3].second, 0.50622);
  EXPECT_EQ(rounded[4].second, 0.51197);
  const auto mr = r.m.mean_results();
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(mr[i], res["mean_results_P_R_mAP50_mAP50-95"][i].get<double>(), kTol);
  const auto maps = res["maps_per_class_index"].get<std::vector<double>>();
  ASSERT_EQ(r.m.maps.size(), maps.size());
  for (size_t i = 0; i < maps.size(); ++i) EXPECT_NEAR(r.m.maps[i], maps[i], kTol) << i;
  EXPECT_EQ(r.m.nt_per_class, res["nt_per_class"].get<std::vector<int64_t>>());
  EXPECT_EQ(r.m.nt_per_image, res["nt_per_image"].get<std::vector<int64_t>>());
  EXPECT_EQ(r.m.seen, res["seen"].get<int64_t>());
  EXPECT_EQ(r.m.curves.x.size(), res["curves_x_len"].get<size_t>());
}

TEST(MetricsCase, ConfusionMatrix) {
  auto r = run_case();
  const auto want = r.c["results"]["confusion_matrix_(nc+1)x(nc+1)_rows_pred_cols_true"]
                        .get<std::vector<std::vector<double>>>();
  EXPECT_EQ(r.cm.matrix(), want);
}

TEST(MetricsCase, PrintedTable) {
  auto r = run_case();
  EXPECT_EQ(table_all_row(r.m), "                   all          7         17      0.516      0.529      0.564      0.506");
  std::map<int, std::string> names;
  for (const auto& [k, v] : r.c["names"].items()) names[std::stoi(k)] = v.get<std::string>();
  auto rows = table_class_rows(r.m, names);
  ASSERT_EQ(rows.size(), 3u);  // classes with GT only: villager, house, cart
  EXPECT_EQ(rows[0], "              villager          4          8      0.806      0.625      0.793      0.688");
  EXPECT_EQ(rows[2], "                  cart          3          3          0          0          0          0");
}
