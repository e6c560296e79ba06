// Checkpoints in Ultralytics' layout: the pickled module tree must match what Ultralytics itself writes (the
// fixture .pt files, decoded with our restricted reader), and everything yolocpp needs must round-trip.
#include <gtest/gtest.h>

#include <set>

#include "common/test_util.hpp"
#include "yolocpp/io/checkpoint.hpp"
#include "yolocpp/io/model_io.hpp"
#include "yolocpp/io/pickle_writer.hpp"
#include "yolocpp/io/ultralytics_save.hpp"
#include "yolocpp/io/zip.hpp"
#include "yolocpp/util/fs.hpp"

using namespace yolocpp;
using namespace yolocpp::io;
using yolocpp::test::fixtures_dir;
using yolocpp::test::TempDir;
using Kind = PValue::Kind;

namespace {

std::string fixture(const std::string& name) { return (fixtures_dir() / name).string(); }

std::vector<std::string> top_keys(const std::string& path) {
  std::vector<std::string> k;
  const PValuePtr root = load_torch_pickle(path);
  for (auto& [key, v] : root->entries) k.push_back(key->s);
  return k;
}

// Walks two module trees side by side: same classes, same attribute names, same plain values. Tensors must
// agree in shape only (the fixture stores fp16 weights, we store fp32); Detect's inference caches (anchors,
// strides, shape) exist only in a model that has run, and the root's args are each run's own settings.
void same_tree(const PValue& a, const PValue& b, const std::string& at, int& objects) {
  ASSERT_EQ(a.kind, b.kind) << at << ": " << a.type_name() << " vs " << b.type_name();
  switch (a.kind) {
    case Kind::Object: {
      ++objects;
      ASSERT_EQ(a.s, b.s) << at;
      ASSERT_TRUE(a.state && b.state) << at;
      std::set<std::string> ka, kb;
      static const std::set<std::string> skip = {"anchors", "strides", "shape", "args"};
      for (auto& [k, v] : a.state->entries) if (!skip.count(k->s)) ka.insert(k->s);
      for (auto& [k, v] : b.state->entries) if (!skip.count(k->s)) kb.insert(k->s);
      ASSERT_EQ(ka, kb) << at << " (" << a.s << ")";
      for (const auto& k : ka) same_tree(*a.state->attr(k), *b.state->attr(k), at + "." + k, objects);
      break;
    }
    case Kind::Dict:
      ASSERT_EQ(a.entries.size(), b.entries.size()) << at;
      for (size_t i = 0; i < a.entries.size(); ++i) {
        ASSERT_EQ(a.entries[i].first->type_name(), b.entries[i].first->type_name()) << at;
        if (a.entries[i].first->is(Kind::Str)) ASSERT_EQ(a.entries[i].first->s, b.entries[i].first->s) << at;
        if (at.size() > 5 && at.substr(at.size() - 5) == ".yaml") continue;  // yaml_file differs by path
        same_tree(*a.entries[i].second, *b.entries[i].second, at + "[" + a.entries[i].first->type_name() + "]", objects);
      }
      break;
    case Kind::List: case Kind::Tuple: case Kind::Set:
      ASSERT_EQ(a.items.size(), b.items.size()) << at;
      for (size_t i = 0; i < a.items.size(); ++i) same_tree(*a.items[i], *b.items[i], at + "[" + std::to_string(i) + "]", objects);
      break;
    case Kind::Tensor: EXPECT_EQ(a.tensor.sizes(), b.tensor.sizes()) << at; break;
    case Kind::Int: EXPECT_EQ(a.i, b.i) << at; break;
    case Kind::Bool: EXPECT_EQ(a.b, b.b) << at; break;
    case Kind::Float: EXPECT_DOUBLE_EQ(a.f, b.f) << at; break;
    case Kind::Str: if (at.find("yaml_file") == std::string::npos) EXPECT_EQ(a.s, b.s) << at; break;
    default: break;
  }
}

}  // namespace

TEST(PickleWriter, ReadsBackThroughTheRestrictedReader) {
  PickleWriter w;
  w.empty_dict();
  w.mark();
  w.str("i");
  w.integer(-70000);
  w.str("big");
  w.integer(int64_t(1) << 40);
  w.str("f");
  w.real(0.1767766952966369);
  w.str("t");
  w.integer(3);
  w.integer(300);
  w.boolean(true);
  w.tuple(3);
  w.str("none");
  w.none();
  w.setitems();
  auto v = unpickle(w.finish(), "mem");
  EXPECT_EQ(v->attr("i")->i, -70000);
  EXPECT_EQ(v->attr("big")->i, int64_t(1) << 40);
  EXPECT_DOUBLE_EQ(v->attr("f")->f, 0.1767766952966369);
  ASSERT_EQ(v->attr("t")->items.size(), 3u);
  EXPECT_EQ(v->attr("t")->items[1]->i, 300);
  EXPECT_TRUE(v->attr("t")->items[2]->b);
  EXPECT_TRUE(v->attr("none")->is_none());
}

TEST(UltralyticsSave, FinishedCheckpointHasUltralyticsStructure) {
  YOLOCPP_REQUIRE_SHARED();
  auto model = load_model(fixture("yolo11n_nc3_random.pt"));
  auto ck = checkpoint_from_model(*model);
  ck.train_args_yaml = "epochs: 3\nimgsz: 96\namp_dtype: float16\nsave_dir: runs/x\n";
  TempDir tmp;
  const auto path = (tmp / "best.pt").string();
  save_checkpoint(ck, path);
  // torch.save's records: data.pkl, byteorder, data/N, version "3".
  ZipReader z{std::filesystem::path(path)};
  EXPECT_EQ(z.read("archive/version"), "3\n");
  EXPECT_EQ(z.read("archive/byteorder"), "little");
  EXPECT_NE(z.find("archive/data/0"), nullptr);
  // Ultralytics' stripped best.pt key order, then our extra key.
  auto want = top_keys(fixture("yolo11n_nc3_random.pt"));
  want.push_back("yolocpp");
  EXPECT_EQ(top_keys(path), want);
  // Module tree, attributes and plain values as Ultralytics 8.3.58 pickles them.
  auto ours = load_torch_pickle(path), theirs = load_torch_pickle(fixture("yolo11n_nc3_random.pt"));
  int objects = 0;
  same_tree(*ours->attr("model"), *theirs->attr("model"), "model", objects);
  EXPECT_GT(objects, 300);
  // train_args: Ultralytics' keys only (the yolocpp-only amp_dtype stays in the yolocpp extras).
  auto args = ours->attr("train_args");
  EXPECT_EQ(args->attr("imgsz")->i, 96);
  EXPECT_EQ(args->attr("save_dir")->s, "runs/x");
  EXPECT_EQ(args->attr("amp_dtype"), nullptr);
  // Reads back as a yolocpp checkpoint, identical weights.
  auto back = load_checkpoint(path);
  EXPECT_EQ(back.format, "yolocpp");
  EXPECT_EQ(back.keys, ck.keys);
  for (const auto& k : ck.keys) EXPECT_TRUE(torch::equal(back.weights.at(k), ck.weights.at(k).to(back.weights.at(k).scalar_type()))) << k;
  EXPECT_EQ(back.train_args_yaml, ck.train_args_yaml);
  EXPECT_EQ(back.names, ck.names);
  EXPECT_EQ(back.epoch, -1);
}

TEST(UltralyticsSave, TrainingCheckpointKeepsExactResumeState) {
  YOLOCPP_REQUIRE_SHARED();
  auto model = load_model(fixture("yolo11n_nc3_random.pt"));
  auto ck = checkpoint_from_model(*model);
  for (const auto& k : ck.keys) {
    ck.ema[k] = ck.weights[k].clone();
    if (ck.weights[k].is_floating_point()) ck.weights[k] = ck.weights[k] + 1e-3f;  // the raw model differs from the EMA
  }
  ck.epoch = 0;
  ck.best_fitness = 0.25;
  ck.ema_updates = 17;
  ck.optimizer = std::string("\0\x01opaque\xff", 9);
  OptimizerState os;
  OptimizerParamGroup g;
  g.params = {0, 1};
  g.values = {{"lr", 0.01}, {"momentum", 0.937}};
  g.flags = {{"nesterov", true}};
  os.param_groups.push_back(g);
  os.state[1]["momentum_buffer"] = torch::arange(6, torch::kFloat).view({2, 3});
  ck.ultralytics_optimizer = os;
  ck.train_args_yaml = "epochs: 3\n";
  ck.metrics_json = R"({"fitness":0.25})";
  TempDir tmp;
  const auto path = (tmp / "last.pt").string();
  save_checkpoint(ck, path);
  auto want = top_keys(fixture("yolo11n_nc3_trainer_last.pt"));
  want.push_back("yolocpp");
  EXPECT_EQ(top_keys(path), want);
  auto back = load_checkpoint(path);
  EXPECT_EQ(back.epoch, 0);
  EXPECT_EQ(*back.best_fitness, 0.25);
  EXPECT_EQ(back.ema_updates, 17);
  EXPECT_EQ(back.optimizer, ck.optimizer);
  for (const auto& k : ck.keys) {
    EXPECT_TRUE(torch::equal(back.weights.at(k), ck.weights.at(k))) << k;
    EXPECT_TRUE(torch::equal(back.ema.at(k), ck.ema.at(k))) << k;
  }
  ASSERT_TRUE(back.ultralytics_optimizer);
  EXPECT_EQ(back.ultralytics_optimizer->param_groups.at(0).params, (std::vector<int64_t>{0, 1}));
  EXPECT_TRUE(back.ultralytics_optimizer->param_groups.at(0).flags.at("nesterov"));
  EXPECT_DOUBLE_EQ(back.ultralytics_optimizer->param_groups.at(0).values.at("momentum"), 0.937);
  EXPECT_TRUE(torch::equal(back.ultralytics_optimizer->state.at(1).at("momentum_buffer"), os.state[1]["momentum_buffer"]));
}
