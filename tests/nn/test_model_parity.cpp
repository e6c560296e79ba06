// Numerical parity with Ultralytics 8.3.58 on the fixture weights (shared/fixtures/ultralytics):
// eval raw maps and decoded output for two inputs, train-mode raw maps, and Conv+BN fusion.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "nn_test_util.hpp"

using namespace yolocpp;
using namespace yolocpp::test;

namespace {

nn::DetectionModel fixture_model() {
  auto m = nn::build_model("yolo11n.yaml");
  load_state(*m, fixture_state());
  m->eval();
  return m;
}

// The fixtures ran with 2 intra-op threads; the same partitioning of reductions makes the results
// bit-identical on a like CPU (1 thread differs by ~2e-3 px, which the tolerances below still allow).
struct ThreadsLikeFixtures {
  int saved = torch::get_num_threads();
  ThreadsLikeFixtures() { torch::set_num_threads(2); }
  ~ThreadsLikeFixtures() { torch::set_num_threads(saved); }
};

torch::Tensor input(const std::string& name) { return fixture_forward().at(name).to(torch::kFloat) / 255; }

// Checks raw maps and the decoded output of one fixture input; prints the errors for the report.
void check_eval(nn::DetectionModelImpl& m, const std::string& tag, double raw_tol, double box_tol, double score_tol) {
  auto& f = fixture_forward();
  ThreadsLikeFixtures threads;
  torch::NoGradGuard g;
  auto raw = m.forward_raw(input("input_" + tag + "_u8"));
  ASSERT_EQ(raw.size(), 3u);
  double raw_err = 0;
  for (int i = 0; i < 3; ++i) {
    const auto& ref = f.at("eval_raw_" + tag + "_p" + std::to_string(i + 3));
    ASSERT_EQ(raw[i].sizes(), ref.sizes());
    raw_err = std::max(raw_err, max_abs(raw[i], ref));
  }
  auto y = m.decode(raw);
  const auto& ref = f.at("eval_decoded_" + tag);
  ASSERT_EQ(y.sizes(), ref.sizes());
  const double box_err = max_abs(y.slice(1, 0, 4), ref.slice(1, 0, 4));
  const double score_err = max_abs(y.slice(1, 4), ref.slice(1, 4));
  std::printf("[parity %s%s] raw max|d| %.3g, boxes max|d| %.3g px, scores max|d| %.3g\n", tag.c_str(),
              m.is_fused() ? " fused" : "", raw_err, box_err, score_err);
  EXPECT_LE(raw_err, raw_tol);
  EXPECT_LE(box_err, box_tol);
  EXPECT_LE(score_err, score_tol);
  // forward() is decode(forward_raw()).
  EXPECT_TRUE(torch::equal(m.forward(input("input_" + tag + "_u8")), y));
}

}  // namespace

TEST(NnParity, FixtureStateLoadsByName) {
  auto& src = fixture_state();
  EXPECT_EQ(src.size(), 499u);
  auto m = nn::build_model("yolo11n.yaml");
  auto sd = state_dict(*m);
  for (const auto& [k, t] : src) {
    ASSERT_TRUE(sd.count(k)) << "extra in fixture: " << k;
    EXPECT_EQ(sd.at(k).sizes(), t.sizes()) << k;
  }
  load_state(*m, src);
  EXPECT_TRUE(torch::equal(state_dict(*m).at("model.23.cv3.2.2.bias"), src.at("model.23.cv3.2.2.bias").to(torch::kFloat)));
  EXPECT_EQ(state_dict(*m).at("model.0.bn.num_batches_tracked").item<int64_t>(), 2);
}

TEST(NnParity, Eval320MatchesUltralytics) {
  auto m = fixture_model();
  check_eval(*m, "320", 1e-4, 5e-3, 2e-5);
}

TEST(NnParity, Eval256x2MatchesUltralytics) {
  auto m = fixture_model();
  check_eval(*m, "256x2", 1e-4, 5e-3, 2e-5);
}

TEST(NnParity, TrainModeRawMapsMatchAndLeaveEvalModelIntact) {
  auto eval_model = fixture_model();
  auto train_model = fixture_model();  // the "copy": same weights, its BN stats may move
  train_model->train();
  auto x = input("input_320_u8");
  std::vector<torch::Tensor> raw;
  {
    ThreadsLikeFixtures threads;
    torch::NoGradGuard g;
    raw = train_model->forward_raw(x);
  }
  double err = 0;
  for (int i = 0; i < 3; ++i) {
    const auto& ref = fixture_forward().at("train_raw_320_p" + std::to_string(i + 3));
    ASSERT_EQ(raw[i].sizes(), ref.sizes());
    err = std::max(err, max_abs(raw[i], ref));
  }
  std::printf("[parity train 320] raw max|d| %.3g\n", err);
  EXPECT_LE(err, 1e-3);
  // Train mode really used batch statistics and updated running stats with momentum 0.03.
  auto before = fixture_state().at("model.0.bn.running_mean").to(torch::kFloat);
  auto after = state_dict(*train_model).at("model.0.bn.running_mean");
  EXPECT_GT(max_abs(before, after), 1e-6);
  EXPECT_EQ(state_dict(*train_model).at("model.0.bn.num_batches_tracked").item<int64_t>(), 3);
  // The eval model is untouched and still matches.
  EXPECT_TRUE(torch::equal(state_dict(*eval_model).at("model.0.bn.running_mean"), before));
  check_eval(*eval_model, "320", 1e-4, 5e-3, 2e-5);
}

TEST(NnParity, BatchNormMomentumUpdate) {
  // running = 0.97 * running + 0.03 * batch mean (PyTorch convention), unbiased var for the running var.
  auto m = nn::build_model("yolo11n.yaml");
  torch::manual_seed(0);
  auto x = torch::rand({2, 3, 64, 64});
  std::shared_ptr<nn::ConvImpl> c0;
  for (const auto& mod : m->modules(false))
    if ((c0 = std::dynamic_pointer_cast<nn::ConvImpl>(mod))) break;
  torch::NoGradGuard g;
  auto z = c0->conv->forward(x);
  auto mean = z.mean({0, 2, 3});
  auto var = z.var({0, 2, 3}, /*unbiased=*/true);
  c0->forward(x);
  EXPECT_LE(max_abs(c0->bn->running_mean, 0.03 * mean), 1e-6);
  EXPECT_LE(max_abs(c0->bn->running_var, 0.97 + 0.03 * var), 1e-6);
}

TEST(NnParity, FusedMatchesUnfused) {
  auto m = fixture_model();
  m->fuse();
  EXPECT_EQ(state_dict(*m).size(), 499u - 81 * 5 + 81);  // each Conv: weight + bias instead of conv + 5 BN entries
  // Ultralytics' own fuse moves boxes by <= 2e-3 px and scores by <= 1.2e-5 on these inputs.
  check_eval(*m, "320", 1e-3, 1e-2, 1e-4);
  check_eval(*m, "256x2", 1e-3, 1e-2, 1e-4);
}

// Per-layer output statistics of Ultralytics' eval forward at 320 (yolo11n_forward.json): pinpoints the
// first diverging block if anything above fails.
TEST(NnParity, PerLayerStatsMatchUltralytics) {
  std::ifstream in(repo_fixtures_dir() / "yolo11n_forward.json");
  auto j = nlohmann::json::parse(in);
  auto m = fixture_model();
  ThreadsLikeFixtures threads;
  torch::NoGradGuard g;
  auto outs = m->forward_layers(input("input_320_u8"));
  const auto& layers = j.at("layers_eval_320");
  ASSERT_EQ(outs.size(), layers.size());
  for (size_t i = 0; i < outs.size(); ++i) {
    const auto& L = layers[i];
    const auto& t = outs[i];
    EXPECT_EQ(t.sizes().vec(), L.at("shape").get<std::vector<int64_t>>()) << "layer " << i;
    const double sum = t.to(torch::kDouble).sum().item<double>();
    const double abs_sum = t.to(torch::kDouble).abs().sum().item<double>();
    EXPECT_NEAR(sum, L.at("sum").get<double>(), 1e-5 * abs_sum + 1e-3) << "layer " << i;
    EXPECT_NEAR(abs_sum, L.at("abs_sum").get<double>(), 1e-5 * abs_sum + 1e-3) << "layer " << i;
    EXPECT_NEAR(t.max().item<double>(), L.at("max").get<double>(), 1e-4 * std::abs(L.at("max").get<double>()) + 1e-5) << "layer " << i;
    auto first8 = L.at("first8").get<std::vector<double>>();
    auto flat = t.flatten();
    for (size_t k = 0; k < first8.size(); ++k)
      EXPECT_NEAR(flat[static_cast<int64_t>(k)].item<double>(), first8[k], 1e-4 * std::abs(first8[k]) + 1e-5) << "layer " << i;
  }
}
