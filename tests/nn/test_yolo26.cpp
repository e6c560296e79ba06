// YOLO26 (Ultralytics 8.4.27) model parity on the fixture weights (tests/fixtures/ultralytics26): the five
// scales' sizes, state-dict names, fusing, and the forward of both heads (one-to-many raw/decoded maps and the
// end-to-end [B, 300, 6] top-k output of the one-to-one head).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "nn_test_util.hpp"
#include "yolocpp/util/error.hpp"

using namespace yolocpp;
using namespace yolocpp::test;

namespace {

// The small JSON cases live in the repository; the two weight/tensor files (~12 MB) are read from
// ../shared/fixtures/ultralytics26, so the tests that need them start with YOLOCPP_REQUIRE_SHARED().
fs::path dir26() { return repo_fixtures_dir().parent_path() / "ultralytics26"; }
fs::path shared26() { return shared_dir() / "fixtures" / "ultralytics26"; }

std::map<std::string, torch::Tensor>& state26() {
  static auto s = load_safetensors((shared26() / "yolo26n_state.safetensors").string());
  return s;
}
std::map<std::string, torch::Tensor>& forward26() {
  static auto s = load_safetensors((shared26() / "yolo26n_forward.safetensors").string());
  return s;
}
const nlohmann::json& arch() {
  static auto j = [] {
    std::ifstream in(dir26() / "arch_info.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

nn::DetectionModel model26() {
  auto m = nn::build_model("yolo26n.yaml");
  load_state(*m, state26());
  m->eval();
  return m;
}

struct ThreadsLikeFixtures {
  int saved = torch::get_num_threads();
  ThreadsLikeFixtures() { torch::set_num_threads(2); }
  ~ThreadsLikeFixtures() { torch::set_num_threads(saved); }
};

torch::Tensor input(const std::string& tag) { return forward26().at("input_" + tag + "_u8").to(torch::kFloat) / 255; }

// Per-level maps -> [B, no, N] in anchor order (P3 cells, then P4, then P5), as the fixture stores them.
torch::Tensor flat(const std::vector<torch::Tensor>& raw) {
  std::vector<torch::Tensor> v;
  for (const auto& r : raw) v.push_back(r.flatten(2));
  return torch::cat(v, 2);
}

// The end-to-end rows compared as sets keyed by (anchor, class): near-equal scores may swap positions
// (fixture README: up to 6 rows under fused/threads/fp64 noise), the selected set may not.
void check_e2e(const torch::Tensor& out, const torch::Tensor& anchors, const torch::Tensor& ref,
               const torch::Tensor& ref_anchors, double box_tol, double score_tol, const std::string& tag) {
  ASSERT_EQ(out.sizes(), ref.sizes());
  double box_err = 0, score_err = 0;
  int same_pos = 0;
  for (int64_t b = 0; b < out.size(0); ++b) {
    std::map<std::pair<int64_t, int64_t>, int64_t> ref_rows;
    for (int64_t r = 0; r < ref.size(1); ++r)
      ref_rows[{ref_anchors[b][r].item<int64_t>(), static_cast<int64_t>(ref[b][r][5].item<float>())}] = r;
    ASSERT_EQ(ref_rows.size(), static_cast<size_t>(ref.size(1)));
    for (int64_t r = 0; r < out.size(1); ++r) {
      const std::pair<int64_t, int64_t> key{anchors[b][r].item<int64_t>(), static_cast<int64_t>(out[b][r][5].item<float>())};
      auto it = ref_rows.find(key);
      ASSERT_NE(it, ref_rows.end()) << tag << " image " << b << " row " << r << ": (anchor " << key.first << ", class "
                                    << key.second << ") is not among Ultralytics' rows";
      same_pos += it->second == r;
      box_err = std::max(box_err, max_abs(out[b][r].slice(0, 0, 4), ref[b][it->second].slice(0, 0, 4)));
      score_err = std::max(score_err, std::abs(out[b][r][4].item<double>() - ref[b][it->second][4].item<double>()));
    }
    // Rows are sorted by score, descending.
    auto s = out[b].select(1, 4);
    EXPECT_TRUE((s.slice(0, 1) <= s.slice(0, 0, -1)).all().item<bool>()) << tag;
  }
  std::printf("[parity26 %s] e2e rows: same set, %d/%lld at the same position, boxes max|d| %.3g px, scores max|d| %.3g\n",
              tag.c_str(), same_pos, static_cast<long long>(out.size(0) * out.size(1)), box_err, score_err);
  EXPECT_LE(box_err, box_tol) << tag;
  EXPECT_LE(score_err, score_tol) << tag;
}

void check_eval(nn::DetectionModelImpl& m, const std::string& tag, double raw_tol, double box_tol, double score_tol) {
  auto& f = forward26();
  ThreadsLikeFixtures threads;
  torch::NoGradGuard g;
  auto x = input(tag);
  auto heads = m.forward_heads(x);
  double o2m_err = -1;
  if (!heads.one2many.empty()) {
    const auto& ref = f.at("eval_o2m_raw_" + tag);
    ASSERT_EQ(flat(heads.one2many).sizes(), ref.sizes());
    o2m_err = max_abs(flat(heads.one2many), ref);
    EXPECT_LE(o2m_err, raw_tol) << tag;
  }
  ASSERT_EQ(heads.one2one.size(), 3u);
  const double o2o_err = max_abs(flat(heads.one2one), f.at("eval_o2o_raw_" + tag));
  std::printf("[parity26 %s%s] raw max|d| one2many %.3g, one2one %.3g\n", tag.c_str(), m.is_fused() ? " fused" : "",
              o2m_err, o2o_err);
  EXPECT_LE(o2o_err, raw_tol) << tag;

  if (tag == "320") {
    auto dec_o2o = m.detect()->decode(heads.one2one, /*xyxy=*/true);
    const auto& ref = f.at("eval_o2o_decoded_320");
    EXPECT_LE(max_abs(dec_o2o.slice(1, 0, 4), ref.slice(1, 0, 4)), box_tol);
    EXPECT_LE(max_abs(dec_o2o.slice(1, 4), ref.slice(1, 4)), score_tol);
    if (!heads.one2many.empty()) {
      auto dec_o2m = m.decode(heads.one2many);
      const auto& r2 = f.at("eval_o2m_decoded_320");
      EXPECT_LE(max_abs(dec_o2m.slice(1, 0, 4), r2.slice(1, 0, 4)), box_tol);
      EXPECT_LE(max_abs(dec_o2m.slice(1, 4), r2.slice(1, 4)), score_tol);
    }
  }
  torch::Tensor anchors;
  auto y = nn::topk_select(m.detect()->decode(heads.one2one, true), 300, false, &anchors);
  check_e2e(y, anchors, f.at("eval_e2e_" + tag), f.at("eval_e2e_anchor_idx_" + tag), box_tol, score_tol,
            tag + (m.is_fused() ? " fused" : ""));
  // forward() is that same end-to-end path.
  EXPECT_TRUE(torch::equal(m.forward(x), y));
}

}  // namespace

TEST(Yolo26, ScalesMatchUltralyticsCounts) {
  // params, all modules (8.3's "layers"), state-dict entries and GFLOPs@640 of 8.4.27 (both heads, unfused).
  for (const char* s : {"n", "s", "m", "l", "x"}) {
    const auto& ref = arch().at("scales").at(std::string("yolo26") + s);
    auto m = nn::build_model(std::string("yolo26") + s + ".yaml");
    EXPECT_EQ(m->num_params(), ref.at("params").get<int64_t>()) << s;
    EXPECT_EQ(m->num_gradients(), ref.at("gradients").get<int64_t>()) << s;
    EXPECT_EQ(m->module_count(), ref.at("all_modules").get<int64_t>()) << s;
    EXPECT_EQ(static_cast<int64_t>(state_dict(*m).size()), ref.at("state_dict_entries").get<int64_t>()) << s;
    const double gf = m->gflops(640);
    std::printf("[yolo26%s] %lld params, %.4f GFLOPs\n", s, static_cast<long long>(m->num_params()), gf);
    EXPECT_NEAR(gf, ref.at("gflops_640").get<double>(), 5e-5) << s;  // the fixture rounds to 4 decimals
  }
}

TEST(Yolo26, PerLayerParamsAndArguments) {
  auto m = nn::build_model("yolo26n.yaml");
  const auto& ref = arch().at("scales").at("yolo26n");
  auto layers = m->layers();
  ASSERT_EQ(layers.size(), 24u);
  for (size_t i = 0; i < layers.size(); ++i)
    EXPECT_EQ(layers[i].params, ref.at("per_layer_params")[i].get<int64_t>()) << "layer " << i;
  EXPECT_EQ(layers[22].args, "[384, 256, 1, True, 0.5, True]");
  EXPECT_EQ(layers[23].args, "[80, 1, True, [64, 128, 256]]");
  EXPECT_EQ(layers[9].args, "[256, 256, 5, 3, True]");
  EXPECT_EQ(m->reg_max(), 1);
  EXPECT_TRUE(m->end2end());
  // The o2o half of the head: 154,828 of 309,656.
  int64_t o2o = 0;
  for (const auto& p : m->detect()->one2one_cv2->parameters()) o2o += p.numel();
  for (const auto& p : m->detect()->one2one_cv3->parameters()) o2o += p.numel();
  EXPECT_EQ(o2o, 154828);
}

TEST(Yolo26, StateDictKeysEqualUltralytics) {
  // tests/fixtures/spec/yolo26n_state_dict_keys.tsv: key, shape, dtype in PyTorch state_dict order.
  std::ifstream in(repo_spec_dir() / "yolo26n_state_dict_keys.tsv");
  ASSERT_TRUE(in);
  std::vector<std::pair<std::string, std::string>> ref;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string k, shape;
    std::getline(ss, k, '\t');
    std::getline(ss, shape, '\t');
    ref.emplace_back(k, shape);
  }
  ASSERT_EQ(ref.size(), 708u);
  auto m = nn::build_model("yolo26n.yaml");
  auto sd = state_dict(*m);
  ASSERT_EQ(sd.size(), ref.size());
  for (const auto& [k, shape] : ref) {
    ASSERT_TRUE(sd.count(k)) << "missing " << k;
    EXPECT_EQ(fmt::format("[{}]", fmt::join(sd.at(k).sizes().vec(), ", ")), shape) << k;
  }
  // Parameters come in the same relative order as Ultralytics' (the order .pt writers and optimizers see).
  std::vector<std::string> ref_params;
  for (const auto& [k, s] : ref)
    if (k.find("running_") == std::string::npos && k.find("num_batches_tracked") == std::string::npos)
      ref_params.push_back(k);
  std::vector<std::string> ours;
  for (const auto& p : m->named_parameters(true)) ours.push_back(p.key());
  EXPECT_EQ(ours, ref_params);
  EXPECT_EQ(sd.count("model.23.dfl.conv.weight"), 0u);
}

TEST(Yolo26, InitialisationCopiesTheHeadAndSetsBiases) {
  torch::manual_seed(0);
  auto m = nn::build_model("yolo26n.yaml");
  auto sd = state_dict(*m);
  for (const auto& [k, t] : sd) {
    if (k.rfind("model.23.cv", 0) != 0) continue;
    const std::string o2o = "model.23.one2one_" + k.substr(9);
    ASSERT_TRUE(sd.count(o2o)) << o2o;
    EXPECT_TRUE(torch::equal(t, sd.at(o2o))) << k;
  }
  const auto& d = arch().at("scales").at("yolo26n").at("detect");
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE((sd.at(fmt::format("model.23.one2one_cv2.{}.2.bias", i)) == 2.0).all().item<bool>());
    EXPECT_NEAR(sd.at(fmt::format("model.23.cv3.{}.2.bias", i))[0].item<double>(), d.at("cls_bias_init")[i].get<double>(), 1e-6);
  }
  EXPECT_EQ(m->stride()[2].item<float>(), 32.f);
}

TEST(Yolo26, Eval320BothHeadsMatchUltralytics) {
  YOLOCPP_REQUIRE_SHARED();
  auto m = model26();
  check_eval(*m, "320", 1e-3, 1e-2, 1e-4);
}

TEST(Yolo26, Eval256x2BothHeadsMatchUltralytics) {
  YOLOCPP_REQUIRE_SHARED();
  auto m = model26();
  check_eval(*m, "256x2", 1e-3, 1e-2, 1e-4);
}

TEST(Yolo26, TrainModeBothHeadsMatchUltralytics) {
  YOLOCPP_REQUIRE_SHARED();
  auto m = model26();
  m->train();
  ThreadsLikeFixtures threads;
  torch::NoGradGuard g;
  auto heads = m->forward_heads(input("320"));
  const double e1 = max_abs(flat(heads.one2many), forward26().at("train_o2m_raw_320"));
  const double e2 = max_abs(flat(heads.one2one), forward26().at("train_o2o_raw_320"));
  std::printf("[parity26 train 320] raw max|d| one2many %.3g, one2one %.3g\n", e1, e2);
  EXPECT_LE(e1, 1e-3);
  EXPECT_LE(e2, 1e-3);
}

TEST(Yolo26, OneToOneHeadSeesDetachedFeatures) {
  YOLOCPP_REQUIRE_SHARED();
  auto m = nn::build_model("yolo26n.yaml");
  m->train();
  auto heads = m->forward_heads(torch::rand({1, 3, 64, 64}));
  flat(heads.one2one).sum().backward();
  for (const auto& p : m->named_parameters(true)) {
    const bool o2o = p.key().find("one2one") != std::string::npos;
    const bool has = p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0;
    if (o2o && p.key().find("weight") != std::string::npos) EXPECT_TRUE(has) << p.key();
    if (!o2o) EXPECT_FALSE(has) << p.key();
  }
}

TEST(Yolo26, FusedDropsTheOneToManyHeadAndStillMatches) {
  YOLOCPP_REQUIRE_SHARED();
  auto m = model26();
  m->fuse();
  const auto& ref = arch().at("scales").at("yolo26n");
  EXPECT_EQ(m->num_params(), ref.at("fused_params").get<int64_t>());
  EXPECT_EQ(static_cast<int64_t>(state_dict(*m).size()), ref.at("fused_state_dict_entries").get<int64_t>());
  EXPECT_NEAR(m->gflops(640), ref.at("fused_gflops_640").get<double>(), 5e-5);
  EXPECT_FALSE(m->detect()->has_one2many());
  EXPECT_THROW(m->set_end2end(false), ModelError);
  // Ultralytics' own fuse moves o2o raw maps by <= 3.2e-4, rows by <= 3.6e-5 / 5e-3 px (fixture summary).
  check_eval(*m, "320", 1e-3, 1e-2, 1e-4);
  check_eval(*m, "256x2", 1e-3, 1e-2, 1e-4);
}

TEST(Yolo26, FuseWithEnd2EndOffKeepsBothHeads) {
  YOLOCPP_REQUIRE_SHARED();
  auto m = model26();
  m->set_end2end(false);
  m->fuse();
  EXPECT_EQ(m->num_params(), arch().at("yolo26n_fuse_with_end2end_false").at("params").get<int64_t>());
  EXPECT_TRUE(m->detect()->has_one2many());
  // end2end=False: forward() is the one-to-many decoded map for NMS, as YOLO11's.
  ThreadsLikeFixtures threads;
  torch::NoGradGuard g;
  auto y = m->forward(input("320"));
  const auto& ref = forward26().at("eval_o2m_decoded_320");
  ASSERT_EQ(y.sizes(), ref.sizes());
  EXPECT_LE(max_abs(y.slice(1, 0, 4), ref.slice(1, 0, 4)), 1e-2);
  EXPECT_LE(max_abs(y.slice(1, 4), ref.slice(1, 4)), 1e-4);
}

TEST(Yolo26, PerLayerStatsMatchUltralytics) {
  YOLOCPP_REQUIRE_SHARED();
  std::ifstream in(dir26() / "yolo26n_forward.json");
  auto j = nlohmann::json::parse(in);
  auto m = model26();
  ThreadsLikeFixtures threads;
  torch::NoGradGuard g;
  auto outs = m->forward_layers(input("320"));
  const auto& layers = j.at("layers_eval_320");
  ASSERT_EQ(outs.size(), layers.size());
  // Layers 0-22 elementwise statistics; layer 23 is the [1, 300, 6] output, whose row order may swap (above).
  for (size_t i = 0; i + 1 < outs.size(); ++i) {
    const auto& L = layers[i];
    const auto& t = outs[i];
    EXPECT_EQ(t.sizes().vec(), L.at("shape").get<std::vector<int64_t>>()) << "layer " << i;
    const double abs_sum = t.to(torch::kDouble).abs().sum().item<double>();
    EXPECT_NEAR(t.to(torch::kDouble).sum().item<double>(), L.at("sum").get<double>(), 1e-5 * abs_sum + 1e-3) << i;
    EXPECT_NEAR(abs_sum, L.at("abs_sum").get<double>(), 1e-5 * abs_sum + 1e-3) << i;
    auto first8 = L.at("first8").get<std::vector<double>>();
    auto fl = t.flatten();
    for (size_t k = 0; k < first8.size(); ++k)
      EXPECT_NEAR(fl[static_cast<int64_t>(k)].item<double>(), first8[k], 1e-4 * std::abs(first8[k]) + 1e-5) << i;
  }
  EXPECT_EQ(outs.back().sizes().vec(), (std::vector<int64_t>{1, 300, 6}));
  const double score_sum = outs.back().select(2, 4).to(torch::kDouble).sum().item<double>();
  // The 300 selected scores are one set whatever the order: their sum matches to float rounding.
  double ref_sum = forward26().at("eval_e2e_320").select(2, 4).to(torch::kDouble).sum().item<double>();
  EXPECT_NEAR(score_sum, ref_sum, 1e-3);
}

TEST(Yolo26, TopKSelection) {
  // k = min(max_det, N): a 64x64 input has 84 anchors.
  auto m = nn::build_model("yolo26n.yaml");
  m->eval();
  torch::NoGradGuard g;
  EXPECT_EQ(m->forward(torch::rand({1, 3, 64, 64})).sizes().vec(), (std::vector<int64_t>{1, 84, 6}));
  // The non-agnostic result is the global top-k over all (anchor, class) scores; agnostic gives one row per
  // anchor with its best class.
  torch::manual_seed(3);
  const int64_t nc = 5, A = 40, k = 12;
  auto y = torch::cat({torch::rand({2, 4, A}) * 100, torch::rand({2, nc, A})}, 1);
  torch::Tensor anchors;
  auto out = nn::topk_select(y, k, false, &anchors);
  ASSERT_EQ(out.sizes().vec(), (std::vector<int64_t>{2, k, 6}));
  for (int64_t b = 0; b < 2; ++b) {
    auto [ref_s, ref_i] = y[b].slice(0, 4).transpose(0, 1).flatten().topk(k);
    EXPECT_TRUE(torch::equal(out[b].select(1, 4), ref_s));
    EXPECT_TRUE(torch::equal(anchors[b], torch::div(ref_i, nc, "floor")));
    EXPECT_TRUE(torch::equal(out[b].select(1, 5), torch::remainder(ref_i, nc).to(torch::kFloat)));
    EXPECT_TRUE(torch::equal(out[b].slice(1, 0, 4), y[b].slice(0, 0, 4).index_select(1, anchors[b]).transpose(0, 1)));
  }
  auto ag = nn::topk_select(y, k, true, &anchors);
  for (int64_t b = 0; b < 2; ++b) {
    auto [best, cls] = y[b].slice(0, 4).max(0);
    auto [s, i] = best.topk(k);
    EXPECT_TRUE(torch::equal(ag[b].select(1, 4), s));
    EXPECT_TRUE(torch::equal(anchors[b], i));
    EXPECT_EQ(std::set<int64_t>(i.data_ptr<int64_t>(), i.data_ptr<int64_t>() + k).size(), static_cast<size_t>(k));
  }
}

TEST(Yolo26, Yolo11KeepsItsHeadAndSppf) {
  // A YOLO11 yaml has neither reg_max nor end2end: DFL head, no one-to-one branches, SiLU after SPPF.cv1 (8.3.58).
  auto m = nn::build_model("yolo11n.yaml");
  EXPECT_EQ(m->reg_max(), 16);
  EXPECT_FALSE(m->end2end());
  EXPECT_THROW(m->set_end2end(true), ModelError);
  EXPECT_EQ(m->num_params(), 2624080);
  EXPECT_EQ(m->module_count(), 319);
  EXPECT_EQ(m->layers()[23].args, "[80, [64, 128, 256]]");
}
