// Model construction from yaml: scaling rules, parameter/module counts, GFLOPs, init, naming, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "nn_test_util.hpp"
#include "yolocpp/util/embedded.hpp"
#include "yolocpp/util/error.hpp"

using namespace yolocpp;
using yolocpp::test::state_dict;

namespace {

struct ScaleCase {
  const char* name;
  int64_t params;
  int64_t modules;
  size_t state_entries;
  double gflops;
};

}  // namespace

// Ultralytics' model summary per scale (params, layers) and state-dict entry counts; GFLOPs as Ultralytics prints them.
TEST(NnModel, ScalesMatchSpecCounts) {
  const ScaleCase cases[] = {
      {"yolo11n.yaml", 2624080, 319, 499, 6.6},   {"yolo11s.yaml", 9458752, 319, 499, 21.7},
      {"yolo11m.yaml", 20114688, 409, 649, 68.5}, {"yolo11l.yaml", 25372160, 631, 1015, 87.6},
      {"yolo11x.yaml", 56966176, 631, 1015, 196.0},
  };
  for (const auto& c : cases) {
    auto m = nn::build_model(c.name);
    EXPECT_EQ(m->num_params(), c.params) << c.name;
    EXPECT_EQ(m->num_gradients(), c.params - 16) << c.name;  // the frozen DFL weights
    EXPECT_EQ(m->module_count(), c.modules) << c.name;
    EXPECT_EQ(state_dict(*m).size(), c.state_entries) << c.name;
    EXPECT_NEAR(m->gflops(640, 640), c.gflops, 0.05) << c.name;
  }
}

TEST(NnModel, Yolov8nCounts) {
  auto m = nn::build_model("yolov8n.yaml");
  EXPECT_EQ(m->num_params(), 3157200);
  EXPECT_EQ(m->module_count(), 225);
  EXPECT_NEAR(m->gflops(640, 640), 8.9, 0.05);
  // Legacy head: 3x3 Conv class branch, c3 = max(64, 80) = 80.
  auto sd = state_dict(*m);
  ASSERT_TRUE(sd.count("model.22.cv3.0.0.conv.weight"));
  EXPECT_EQ(sd.at("model.22.cv3.0.0.conv.weight").sizes(), (std::vector<int64_t>{80, 64, 3, 3}));
  EXPECT_EQ(sd.at("model.2.m.0.cv1.conv.weight").sizes(), (std::vector<int64_t>{16, 16, 3, 3}));  // C2f e=1.0
}

TEST(NnModel, Yolo11nPerLayerParamsMatchSpec) {
  auto m = nn::build_model("yolo11n.yaml");
  const int64_t expect[24] = {464, 4672, 6640, 36992, 26080, 147712, 87040, 295424, 346112, 164608, 249728, 0,
                              0,   111296, 0, 0, 32096, 36992, 0, 86720, 147712, 0, 378880, 464912};
  auto layers = m->layers();
  ASSERT_EQ(layers.size(), 24u);
  for (int i = 0; i < 24; ++i) EXPECT_EQ(layers[i].params, expect[i]) << "layer " << i;
  EXPECT_EQ(layers[2].type, "C3k2");
  EXPECT_EQ(layers[2].args, "[32, 64, 1, False, 0.25]");
  EXPECT_EQ(layers[0].args, "[3, 16, 3, 2]");
  EXPECT_EQ(layers[11].args, "[None, 2, 'nearest']");
  EXPECT_EQ(layers[23].args, "[80, [64, 128, 256]]");
  EXPECT_EQ(layers[23].from, (std::vector<int>{16, 19, 22}));
}

TEST(NnModel, StateDictKeysAndShapesEqualSpecTsv) {
  auto m = nn::build_model("yolo11n.yaml");
  auto sd = state_dict(*m);
  std::ifstream in(yolocpp::test::repo_spec_dir() / "yolo11n_state_dict_keys.tsv");
  ASSERT_TRUE(in);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    const std::string key = line.substr(0, t1), shape = line.substr(t1 + 1, t2 - t1 - 1);
    ASSERT_TRUE(sd.count(key)) << "missing " << key;
    std::string ours = "[";
    for (size_t i = 0; i < static_cast<size_t>(sd.at(key).dim()); ++i)
      ours += (i ? ", " : "") + std::to_string(sd.at(key).size(static_cast<int64_t>(i)));
    ours += "]";
    EXPECT_EQ(ours, shape) << key;
    if (key.find("num_batches_tracked") != std::string::npos) EXPECT_EQ(sd.at(key).scalar_type(), torch::kLong);
    ++n;
  }
  EXPECT_EQ(n, 499u);
  EXPECT_EQ(sd.size(), 499u);
}

TEST(NnModel, InitStridesBiasesAndBatchNorm) {
  auto m = nn::build_model("yolo11n.yaml");
  EXPECT_TRUE(torch::equal(m->stride(), torch::tensor({8.f, 16.f, 32.f})));
  auto sd = state_dict(*m);
  const double expect_cls[3] = {-11.536642, -10.150348, -8.764053};
  for (int i = 0; i < 3; ++i) {
    auto cls = sd.at("model.23.cv3." + std::to_string(i) + ".2.bias");
    EXPECT_NEAR(cls.min().item<double>(), expect_cls[i], 1e-5);
    EXPECT_NEAR(cls.max().item<double>(), expect_cls[i], 1e-5);
    EXPECT_TRUE(torch::all(sd.at("model.23.cv2." + std::to_string(i) + ".2.bias") == 1).item<bool>());
  }
  auto dfl = sd.at("model.23.dfl.conv.weight");
  EXPECT_TRUE(torch::equal(dfl.flatten(), torch::arange(16, torch::kFloat)));
  EXPECT_FALSE(dfl.requires_grad());
  std::shared_ptr<nn::ConvImpl> c0;
  for (const auto& mod : m->modules(false))
    if ((c0 = std::dynamic_pointer_cast<nn::ConvImpl>(mod))) break;
  ASSERT_TRUE(c0);
  EXPECT_DOUBLE_EQ(c0->bn->options.eps(), 1e-3);
  EXPECT_DOUBLE_EQ(*c0->bn->options.momentum(), 0.03);
  EXPECT_TRUE(torch::all(c0->bn->weight == 1).item<bool>());
  EXPECT_TRUE(m->is_training());  // built in train mode, like a fresh Python model
}

TEST(NnModel, CustomNcBuildsMatchingHead) {
  auto m = nn::build_model("yolo11n.yaml", 3);
  EXPECT_EQ(m->nc(), 3);
  EXPECT_EQ(m->names, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(m->yaml()["nc"].as<int>(), 3);
  auto sd = state_dict(*m);
  for (int i = 0; i < 3; ++i) {
    const auto l = std::to_string(i);
    EXPECT_EQ(sd.at("model.23.cv3." + l + ".2.weight").sizes(), (std::vector<int64_t>{3, 64, 1, 1}));
    EXPECT_EQ(sd.at("model.23.cv3." + l + ".2.bias").sizes(), (std::vector<int64_t>{3}));
    const double s = 8 << i;
    EXPECT_NEAR(sd.at("model.23.cv3." + l + ".2.bias")[0].item<double>(), std::log(5.0 / 3 / std::pow(640 / s, 2)), 1e-5);
  }
  EXPECT_EQ(sd.at("model.23.cv3.0.0.1.conv.weight").sizes(), (std::vector<int64_t>{64, 64, 1, 1}));  // c3 = 64
  m->eval();
  torch::NoGradGuard g;
  auto out = m->forward(torch::rand({2, 3, 64, 96}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 7, 8 * 12 + 4 * 6 + 2 * 3}));
}

TEST(NnModel, DecodedAnchorsFollowInputShape) {
  auto m = nn::build_model("yolo11n.yaml");
  m->eval();
  torch::NoGradGuard g;
  // Zero box logits: DFL gives 7.5 per side, so every box is centred on its anchor with size 15 * stride.
  std::vector<torch::Tensor> raw{torch::zeros({1, 144, 4, 6}), torch::zeros({1, 144, 2, 3}), torch::zeros({1, 144, 1, 2})};
  auto y = m->decode(raw);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, 84, 24 + 6 + 2}));
  EXPECT_FLOAT_EQ(y[0][0][0].item<float>(), 4.f);    // x of anchor (0.5, 0.5) at stride 8
  EXPECT_FLOAT_EQ(y[0][0][5].item<float>(), 44.f);   // x = 5.5 * 8
  EXPECT_FLOAT_EQ(y[0][1][6].item<float>(), 12.f);   // second row: y = 1.5 * 8
  EXPECT_FLOAT_EQ(y[0][2][0].item<float>(), 120.f);  // w = 15 * 8
  EXPECT_FLOAT_EQ(y[0][0][24].item<float>(), 8.f);   // first P4 anchor
  EXPECT_FLOAT_EQ(y[0][3][31].item<float>(), 480.f); // P5 h = 15 * 32
  EXPECT_FLOAT_EQ(y[0][4][0].item<float>(), 0.5f);   // sigmoid(0)
  // A different shape afterwards gets its own anchors (no stale cache).
  std::vector<torch::Tensor> raw2{torch::zeros({1, 144, 2, 2}), torch::zeros({1, 144, 1, 1}), torch::zeros({1, 144, 1, 1})};
  auto y2 = m->decode(raw2);
  EXPECT_EQ(y2.size(2), 6);
  EXPECT_FLOAT_EQ(y2[0][0][3].item<float>(), 12.f);
}

TEST(NnModel, FusedCountsMatchSpec) {
  auto m = nn::build_model("yolo11n.yaml");
  m->fuse();
  EXPECT_EQ(m->module_count(), 238);
  EXPECT_EQ(m->num_params(), 2616248);
  EXPECT_NEAR(m->gflops(640, 640), 6.5, 0.05);
  auto sd = state_dict(*m);
  EXPECT_TRUE(sd.count("model.0.conv.bias"));
  EXPECT_FALSE(sd.count("model.0.bn.weight"));
  EXPECT_EQ(nn::summary_line(*m), "YOLO11n summary (fused): 238 layers, 2,616,248 parameters, 2,616,232 gradients, 6.5 GFLOPs");
}

TEST(NnModel, SummaryLine) {
  auto m = nn::build_model("yolo11n.yaml");
  EXPECT_EQ(nn::summary_line(*m), "YOLO11n summary: 319 layers, 2,624,080 parameters, 2,624,064 gradients, 6.6 GFLOPs");
  const auto table = nn::layer_table(*m);
  EXPECT_NE(table.find("[3, 16, 3, 2]"), std::string::npos);
  EXPECT_NE(table.find("[16, 19, 22]"), std::string::npos);
}

TEST(NnModel, YamlResolution) {
  auto y = nn::load_model_yaml("yolo11s.yaml");
  EXPECT_EQ(y["scale"].as<std::string>(), "s");
  EXPECT_EQ(y["yaml_file"].as<std::string>(), "yolo11s.yaml");
  EXPECT_EQ(nn::load_model_yaml("yolov8m.yaml")["scale"].as<std::string>(), "m");
  EXPECT_THROW(nn::load_model_yaml("yolo99n.yaml"), ModelError);
  EXPECT_THROW(nn::load_model_yaml(""), ModelError);

  // A user file: nc and scale from the file, unknown modules rejected with a clear message.
  yolocpp::test::TempDir tmp;
  const auto p = tmp / "mynet-yolo11n.yaml";
  YAML::Node y11 = YAML::Load(yolocpp::embedded::files().at("models/yolo11.yaml"));
  y11["nc"] = 5;
  {
    std::ofstream o(p);
    o << YAML::Dump(y11);
  }
  auto m = nn::build_model(p.string());
  EXPECT_EQ(m->nc(), 5);
  EXPECT_EQ(m->yaml()["scale"].as<std::string>(), "n");
  EXPECT_EQ(m->num_params(), nn::build_model("yolo11n.yaml", 5)->num_params());

  YAML::Node bad = YAML::Clone(y11);
  bad["head"][0][2] = "Frobnicate";
  const auto pb = tmp / "bad_yolo11n.yaml";
  {
    std::ofstream o(pb);
    o << YAML::Dump(bad);
  }
  try {
    nn::build_model(pb.string());
    FAIL() << "expected ModelError";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("Frobnicate"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("layer 11"), std::string::npos);
  }
}

TEST(NnModel, BadInputShapeIsAnError) {
  auto m = nn::build_model("yolo11n.yaml");
  EXPECT_THROW(m->forward_raw(torch::zeros({1, 4, 64, 64})), ModelError);
}

// The CLI is built by the e2e target; this unit folder does not force that (large) link.
#define REQUIRE_CLI()                                                                             \
  do {                                                                                            \
    if (!std::filesystem::exists(YOLOCPP_BIN)) GTEST_SKIP() << "build yolocpp_cli to run " YOLOCPP_BIN; \
  } while (0)

TEST(NnInfoCli, PrintsLayerTableAndSummary) {
  REQUIRE_CLI();
  auto r = yolocpp::test::yolocpp("info model=yolo11n.yaml");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("YOLO11n summary: 319 layers, 2,624,080 parameters, 2,624,064 gradients, 6.6 GFLOPs"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("C2PSA"), std::string::npos);
  EXPECT_NE(r.out.find("[80, [64, 128, 256]]"), std::string::npos);
  auto s = yolocpp::test::yolocpp("info model=yolo11s.yaml imgsz=320");
  ASSERT_EQ(s.rc, 0) << s.out;
  EXPECT_NE(s.out.find("YOLO11s summary: 319 layers, 9,458,752 parameters, 9,458,736 gradients, 5.4 GFLOPs at imgsz 320x320"),
            std::string::npos) << s.out;
}

TEST(NnInfoCli, BadModelIsOneClearError) {
  REQUIRE_CLI();
  auto r = yolocpp::test::yolocpp("info model=yolo77q.yaml");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("error: model=yolo77q.yaml: no such file"), std::string::npos) << r.out;
  // A released asset name that is not on disk and cannot be downloaded: one line saying where to put it.
  yolocpp::test::TempDir cache;
  auto p = yolocpp::test::run_cmd("YOLOCPP_CACHE_DIR=" + cache.path().string() +
                                  " YOLOCPP_ASSETS_URL=http://127.0.0.1:9 " YOLOCPP_BIN " info model=yolo11n.pt");
  EXPECT_EQ(p.rc, 1) << p.out;
  EXPECT_NE(p.out.find("error: could not download"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("weights/yolo11n.pt"), std::string::npos) << p.out;
}

// info on weights: an Ultralytics checkpoint is imported and described by its own yaml.
TEST(NnInfoCli, UltralyticsWeightsAreDescribed) {
  REQUIRE_CLI();
  YOLOCPP_REQUIRE_SHARED();
  auto r = yolocpp::test::yolocpp("info model=" + (yolocpp::test::fixtures_dir() / "yolo11n_nc3_random.pt").string());
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("summary: 319 layers, 2,590,425 parameters"), std::string::npos) << r.out;
}
