// Native checkpoints (save/load round trip, damage), format detection, and the model glue: an imported
// Ultralytics checkpoint must reproduce the fixture forward outputs.
#include <gtest/gtest.h>

#include <fstream>

#include "common/safetensors.hpp"
#include "common/test_util.hpp"
#include "yolocpp/io/checkpoint.hpp"
#include "yolocpp/io/model_io.hpp"
#include "yolocpp/io/zip.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

using namespace yolocpp;
using namespace yolocpp::io;
using yolocpp::test::fixtures_dir;
using yolocpp::test::TempDir;

namespace {

std::string fixture(const std::string& name) { return (fixtures_dir() / name).string(); }

Checkpoint small_checkpoint() {
  Checkpoint ck;
  ck.model_yaml = "nc: 2\nscale: n\n";
  ck.keys = {"b.weight", "a.num_batches_tracked", "a.half"};  // deliberately not sorted
  ck.weights["b.weight"] = torch::randn({3, 4});
  ck.weights["a.num_batches_tracked"] = torch::tensor(7, torch::kLong);
  ck.weights["a.half"] = torch::randn({5}).to(torch::kHalf);
  ck.ema["b.weight"] = torch::randn({3, 4});
  ck.ema_updates = 123;
  ck.optimizer = std::string("\0\x01opaque\xff", 9);
  ck.epoch = 4;
  ck.best_fitness = 0.625;
  ck.names = {{0, "villager"}, {1, "house"}};
  ck.train_args_yaml = "epochs: 10\nimgsz: 320\n";
  ck.metrics_json = R"j({"metrics/mAP50(B)":0.5,"fitness":0.625})j";
  return ck;
}

}  // namespace

TEST(Checkpoint, NativeRoundTripKeepsEverything) {
  TempDir tmp;
  auto ck = small_checkpoint();
  auto path = (tmp / "weights" / "last.pt").string();
  save_native_checkpoint(ck, path);  // the format of earlier yolocpp versions must keep loading
  // Only the final file remains (the temporary file was renamed), and it is a ZIP archive.
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(tmp / "weights")) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
  EXPECT_TRUE(is_native_checkpoint(path));
  auto back = load_checkpoint(path);
  EXPECT_EQ(back.format, "yolocpp");
  EXPECT_EQ(back.keys, ck.keys);
  for (auto& k : ck.keys) {
    EXPECT_EQ(back.weights.at(k).scalar_type(), ck.weights.at(k).scalar_type()) << k;
    EXPECT_TRUE(torch::equal(back.weights.at(k), ck.weights.at(k))) << k;
  }
  ASSERT_EQ(back.ema.size(), 1u);
  EXPECT_TRUE(torch::equal(back.ema.at("b.weight"), ck.ema.at("b.weight")));
  EXPECT_TRUE(torch::equal(back.best_weights().at("b.weight"), ck.ema.at("b.weight")));
  EXPECT_EQ(back.ema_updates, 123);
  EXPECT_EQ(back.optimizer, ck.optimizer);
  EXPECT_EQ(back.epoch, 4);
  ASSERT_TRUE(back.best_fitness.has_value());
  EXPECT_EQ(*back.best_fitness, 0.625);
  EXPECT_EQ(back.names, ck.names);
  EXPECT_EQ(back.model_yaml, ck.model_yaml);
  EXPECT_EQ(back.train_args_yaml, ck.train_args_yaml);
  EXPECT_EQ(nlohmann::json::parse(back.metrics_json)["fitness"].get<double>(), 0.625);
  EXPECT_FALSE(back.version.empty());
  EXPECT_FALSE(back.date.empty());
}

TEST(Checkpoint, DamagedOrForeignFilesAreRejected) {
  TempDir tmp;
  auto path = (tmp / "ck.pt").string();
  save_native_checkpoint(small_checkpoint(), path);
  std::string bytes = util::read_file(path);
  // Flip one byte inside the first tensor record -> CRC failure naming the file.
  ZipReader z(bytes, "x");
  const ZipEntry* e = z.find("yolocpp_ckpt/tensors/0");
  ASSERT_NE(e, nullptr);
  std::string rec = z.read(*e);
  size_t at = bytes.find(rec);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 5] ^= 0x40;
  auto bad = (tmp / "bad.pt").string();
  util::atomic_write(bad, bytes);
  try {
    load_checkpoint(bad);
    FAIL() << "tampered checkpoint accepted";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("bad.pt"), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("CRC"), std::string::npos) << err.what();
  }
  auto html = (tmp / "page.pt").string();
  util::atomic_write(html, "<html><body>404</body></html>");
  EXPECT_THROW(load_checkpoint(html), ModelError);
  auto legacy = (tmp / "legacy.pt").string();
  util::atomic_write(legacy, std::string("\x80\x02\x8a\x0alegacy", 12));
  try {
    load_checkpoint(legacy);
    FAIL();
  } catch (const ModelError& err) {
    EXPECT_NE(std::string(err.what()).find("legacy"), std::string::npos);
  }
  EXPECT_THROW(load_checkpoint((tmp / "absent.pt").string()), ModelError);
  ZipWriter w;
  w.add("x/readme.txt", "hello");
  auto other = (tmp / "other.pt").string();
  util::atomic_write(other, w.finish());
  EXPECT_THROW(load_checkpoint(other), ModelError);
}

TEST(Checkpoint, LoadsUltralyticsFormatIntoTheSameStruct) {
  YOLOCPP_REQUIRE_SHARED();
  auto ck = load_checkpoint(fixture("yolo11n_nc3_trainer_last.pt"));
  EXPECT_EQ(ck.format, "ultralytics");
  EXPECT_EQ(ck.weights.size(), 499u);
  EXPECT_TRUE(ck.ema.empty());
  EXPECT_EQ(ck.names.at(1), "house");
  EXPECT_EQ(ck.epoch, 0);
  EXPECT_EQ(ck.ema_updates, 1);
  ASSERT_TRUE(ck.ultralytics_optimizer.has_value());
  EXPECT_EQ(ck.ultralytics_optimizer->param_groups.size(), 3u);
  EXPECT_EQ(ck.version, "ultralytics 8.3.58");
  auto y = YAML::Load(ck.model_yaml);
  EXPECT_EQ(y["nc"].as<int>(), 3);
  EXPECT_EQ(YAML::Load(ck.train_args_yaml)["imgsz"].as<int>(), 320);
  EXPECT_TRUE(nlohmann::json::parse(ck.metrics_json).contains("fitness"));
}

TEST(ModelIo, ImportedYolo11nReproducesForwardFixture) {
  YOLOCPP_REQUIRE_SHARED();
  torch::NoGradGuard ng;
  auto model = load_model(fixture("yolo11n_random.pt"));
  EXPECT_FALSE(model->is_training());
  EXPECT_EQ(model->nc(), 80);
  EXPECT_EQ(model->names.at(0), "person");
  auto ref = yolocpp::test::load_safetensors(fixture("yolo11n_forward.safetensors"));
  for (std::string tag : {"320", "256x2"}) {
    auto x = ref.at("input_" + tag + "_u8").to(torch::kFloat) / 255;
    auto y = model->forward(x);
    auto want = ref.at("eval_decoded_" + tag);
    ASSERT_EQ(y.sizes(), want.sizes()) << tag;
    double err = (y - want).abs().max().item<double>();
    std::cout << "[ metric ] eval_decoded_" << tag << " max abs error " << err << "\n";
    // Boxes are in input pixels (up to 320); fp32 reordering differences stay far below 1e-2.
    EXPECT_LT(err, 1e-2) << tag;
    auto scores_err = (y.slice(1, 4) - want.slice(1, 4)).abs().max().item<double>();
    EXPECT_LT(scores_err, 1e-4) << tag;
  }
}

TEST(ModelIo, NativeSaveLoadGivesIdenticalOutputs) {
  YOLOCPP_REQUIRE_SHARED();
  torch::NoGradGuard ng;
  auto a = load_model(fixture("yolo11n_nc3_random.pt"));
  EXPECT_EQ(a->names, (std::vector<std::string>{"villager", "house", "tree"}));
  TempDir tmp;
  auto path = (tmp / "best.pt").string();
  auto ck = checkpoint_from_model(*a);
  EXPECT_EQ(ck.keys.size(), 499u);
  EXPECT_EQ(ck.keys.front(), "model.0.conv.weight");
  EXPECT_EQ(ck.keys.back(), "model.23.dfl.conv.weight");
  save_checkpoint(ck, path);
  auto b = load_model(path);
  EXPECT_EQ(b->names, a->names);
  torch::manual_seed(3);
  auto x = torch::rand({1, 3, 128, 160});
  auto ya = a->forward(x);
  auto yb = b->forward(x);
  EXPECT_TRUE(torch::equal(ya, yb));
  // Key order of the model equals the Ultralytics state_dict order read from the file.
  auto u = load_ultralytics_pt(fixture("yolo11n_nc3_random.pt"));
  EXPECT_EQ(state_keys(*a), u.keys);
}

TEST(ModelIo, TransferIntoDifferentNcCountsMatchingTensors) {
  YOLOCPP_REQUIRE_SHARED();
  auto ck = load_checkpoint(fixture("yolo11n_nc3_random.pt"));
  auto m5 = load_model(fixture("yolo11n_nc3_random.pt"), 5);
  EXPECT_EQ(m5->nc(), 5);
  // Everything but the three class-logit 1x1 convs (weight + bias each) fits: 499 - 6.
  nn::DetectionModel fresh(YAML::Load(ck.model_yaml), 5);
  EXPECT_EQ(transfer_weights(*fresh, ck.weights), 493);
  auto sd = state_dict(*fresh);
  EXPECT_TRUE(torch::equal(sd.at("model.0.conv.weight"), ck.weights.at("model.0.conv.weight")));
  EXPECT_EQ(sd.at("model.23.cv3.0.2.weight").size(0), 5);
  // Same nc: every tensor transfers.
  nn::DetectionModel same(YAML::Load(ck.model_yaml), 3);
  EXPECT_EQ(transfer_weights(*same, ck.weights), 499);
}
