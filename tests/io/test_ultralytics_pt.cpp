// ZIP container tests and parity of the Ultralytics .pt import against the fixtures.
#include <gtest/gtest.h>

#include <fstream>

#include "common/safetensors.hpp"
#include "common/test_util.hpp"
#include "yolocpp/io/ultralytics_pt.hpp"
#include "yolocpp/io/zip.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

using namespace yolocpp;
using namespace yolocpp::io;
using yolocpp::test::fixtures_dir;
using yolocpp::test::TempDir;

namespace {

std::string fixture(const std::string& name) { return (fixtures_dir() / name).string(); }

// Re-packs a fixture archive, optionally deflating entries or dropping one.
std::string repack(const std::string& src, bool deflate, const std::string& drop = "") {
  ZipReader z{std::filesystem::path(src)};
  ZipWriter w;
  for (const auto& e : z.entries())
    if (e.name != drop) w.add(e.name, z.read(e), deflate);
  return w.finish();
}

template <typename F> std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Zip, WriterReaderRoundTripStoredAndDeflated) {
  ZipWriter w;
  std::string big(100000, 'a');
  for (size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('0' + i % 10);
  w.add("root/one", "hello");
  w.add("root/big", big, true);
  w.add("root/data.pkl", std::string("\x80\x02N.", 4));
  std::string bytes = w.finish();
  EXPECT_LT(bytes.size(), big.size());  // the deflated entry really is compressed
  ZipReader r(bytes, "mem.zip");
  ASSERT_EQ(r.entries().size(), 3u);
  EXPECT_EQ(r.read("root/one"), "hello");
  EXPECT_EQ(r.read("root/big"), big);
  EXPECT_EQ(r.find("root/big")->method, 8);
  ASSERT_NE(r.find_suffix("/data.pkl"), nullptr);
  EXPECT_EQ(r.find_suffix("/data.pkl")->name, "root/data.pkl");
  EXPECT_EQ(r.find("nope"), nullptr);
  EXPECT_THROW(r.read("nope"), IoError);
  // Stored data is 64-byte aligned like torch.save writes it.
  const ZipEntry* one = r.find("root/one");
  size_t start = bytes.find("hello");
  EXPECT_EQ(start % 64, 0u);
  EXPECT_GT(start, one->local_header_offset);
}

TEST(Zip, TamperedCrcIsRejected) {
  ZipWriter w;
  w.add("a/data/0", "0123456789abcdef");
  std::string bytes = w.finish();
  size_t p = bytes.find("0123456789abcdef");
  bytes[p + 3] ^= 0x01;
  ZipReader r(bytes, "tampered.pt");
  std::string m = error_of([&] { r.read("a/data/0"); });
  EXPECT_NE(m.find("tampered.pt"), std::string::npos) << m;
  EXPECT_NE(m.find("CRC"), std::string::npos) << m;
}

TEST(Zip, TruncatedArchivesNameTheFile) {
  ZipWriter w;
  w.add("a/data.pkl", std::string(1000, 'x'));
  std::string bytes = w.finish();
  for (size_t n : {size_t(0), size_t(10), bytes.size() / 2, bytes.size() - 1}) {
    std::string m = error_of([&] { ZipReader r(bytes.substr(0, n), "cut.pt"); r.read("a/data.pkl"); });
    EXPECT_NE(m.find("cut.pt"), std::string::npos) << n << ": " << m;
  }
  EXPECT_FALSE(ZipReader::looks_like_zip("<html>"));
  EXPECT_TRUE(ZipReader::looks_like_zip(bytes));
}

TEST(UltralyticsPt, TruncatedFixtureFailsWithFileName) {
  YOLOCPP_REQUIRE_SHARED();
  TempDir tmp;
  std::string full = util::read_file(fixture("yolo11n_random.pt"));
  auto cut = (tmp / "cut.pt").string();
  util::atomic_write(cut, std::string_view(full).substr(0, full.size() * 2 / 3));
  std::string m = error_of([&] { load_ultralytics_pt(cut); });
  EXPECT_NE(m.find("cut.pt"), std::string::npos) << m;
  // Cutting only the tail keeps the local headers but loses the central directory.
  util::atomic_write(cut, std::string_view(full).substr(0, full.size() - 30));
  EXPECT_THROW(load_ultralytics_pt(cut), IoError);
}

TEST(UltralyticsPt, MissingDataPklOrStorageRecord) {
  YOLOCPP_REQUIRE_SHARED();
  TempDir tmp;
  auto p = (tmp / "nopkl.pt").string();
  util::atomic_write(p, repack(fixture("yolo11n_nc3_random.pt"), false, "best/data.pkl"));
  std::string m = error_of([&] { load_ultralytics_pt(p); });
  EXPECT_NE(m.find("nopkl.pt"), std::string::npos) << m;
  EXPECT_NE(m.find("data.pkl"), std::string::npos) << m;
  auto q = (tmp / "nostorage.pt").string();
  util::atomic_write(q, repack(fixture("yolo11n_nc3_random.pt"), false, "best/data/7"));
  m = error_of([&] { load_ultralytics_pt(q); });
  EXPECT_NE(m.find("nostorage.pt"), std::string::npos) << m;
  EXPECT_NE(m.find("best/data/7"), std::string::npos) << m;
}

TEST(UltralyticsPt, Yolo11nMatchesStateSafetensorsBitExact) {
  YOLOCPP_REQUIRE_SHARED();
  auto ck = load_ultralytics_pt(fixture("yolo11n_random.pt"));
  auto ref = yolocpp::test::load_safetensors(fixture("yolo11n_state.safetensors"));
  ASSERT_EQ(ck.state.size(), 499u);
  ASSERT_EQ(ref.size(), 499u);
  int n_half = 0, n_long = 0;
  int64_t n_params = 0;
  double max_abs = 0;
  for (const auto& [name, r] : ref) {
    ASSERT_TRUE(ck.state.count(name)) << name;
    const auto& t = ck.state.at(name);
    ASSERT_EQ(t.sizes(), r.sizes()) << name;
    if (r.scalar_type() == torch::kHalf) {
      ++n_half;
      if (name.find("running_") == std::string::npos) n_params += r.numel();  // parameters, not BN statistics
      EXPECT_EQ(ck.stored_dtype.at(name), torch::kHalf) << name;
      ASSERT_EQ(t.scalar_type(), torch::kFloat) << name;
      auto rf = r.to(torch::kFloat);
      max_abs = std::max(max_abs, (t - rf).abs().max().item<double>());
      EXPECT_TRUE(torch::equal(t, rf)) << name;
    } else {
      ++n_long;
      EXPECT_EQ(t.scalar_type(), torch::kLong) << name;
      EXPECT_TRUE(torch::equal(t, r)) << name;
    }
  }
  EXPECT_EQ(max_abs, 0.0);
  EXPECT_EQ(n_half, 418);
  EXPECT_EQ(n_long, 81);
  EXPECT_EQ(n_params, 2624080);
  // Key order = PyTorch state_dict order (spec/yolo11n_state_dict_keys.tsv).
  std::ifstream tsv(yolocpp::test::shared_dir() / "spec" / "yolo11n_state_dict_keys.tsv");
  std::string line;
  std::vector<std::string> order;
  while (std::getline(tsv, line))
    if (!line.empty() && line[0] != '#') order.push_back(line.substr(0, line.find('\t')));
  EXPECT_EQ(ck.keys, order);
  EXPECT_EQ(ck.nc, 80);
  ASSERT_EQ(ck.names.size(), 80u);
  EXPECT_EQ(ck.names.at(0), "person");
  EXPECT_EQ(ck.names.at(79), "toothbrush");
  EXPECT_EQ(ck.stride, (std::vector<double>{8, 16, 32}));
  EXPECT_EQ(ck.yaml["scale"].as<std::string>(), "n");
  EXPECT_EQ(ck.yaml["nc"].as<int>(), 80);
  EXPECT_EQ(ck.yaml["backbone"].size(), 11u);
  EXPECT_EQ(ck.yaml["head"][0][2].as<std::string>(), "nn.Upsample");
  EXPECT_EQ(ck.yaml["scales"]["n"][1].as<double>(), 0.25);
  EXPECT_EQ(ck.train_args.size(), 105u);
  EXPECT_EQ(ck.train_args["imgsz"].as<int>(), 320);
  EXPECT_EQ(ck.train_args["lr0"].as<double>(), 0.01);
  EXPECT_EQ(ck.model_args["imgsz"].as<int>(), 320);
  EXPECT_EQ(ck.epoch, -1);
  EXPECT_FALSE(ck.best_fitness.has_value());
  EXPECT_FALSE(ck.optimizer.has_value());
  EXPECT_FALSE(ck.from_ema);
  EXPECT_EQ(ck.version, "8.3.58");
  EXPECT_EQ(ck.top_level_keys.front(), "date");
  EXPECT_EQ(ck.top_level_keys.size(), 13u);
  EXPECT_TRUE(ck.train_metrics["fitness"]);
}

TEST(UltralyticsPt, Nc3NamesAndParamCount) {
  YOLOCPP_REQUIRE_SHARED();
  auto ck = load_ultralytics_pt(fixture("yolo11n_nc3_random.pt"));
  EXPECT_EQ(ck.nc, 3);
  EXPECT_EQ(ck.names, (std::map<int, std::string>{{0, "villager"}, {1, "house"}, {2, "tree"}}));
  int64_t n = 0;
  for (auto& [k, t] : ck.state)
    if (t.is_floating_point() && k.find("running_") == std::string::npos) n += t.numel();
  EXPECT_EQ(n, 2590425);
  EXPECT_EQ(ck.state.size(), 499u);
  EXPECT_EQ(ck.state.at("model.23.cv3.0.2.weight").size(0), 3);
}

TEST(UltralyticsPt, DeflatedArchiveLoadsTheSame) {
  YOLOCPP_REQUIRE_SHARED();
  TempDir tmp;
  auto p = (tmp / "deflated.pt").string();
  util::atomic_write(p, repack(fixture("yolo11n_nc3_random.pt"), true));
  auto a = load_ultralytics_pt(fixture("yolo11n_nc3_random.pt"));
  auto b = load_ultralytics_pt(p);
  ASSERT_EQ(a.keys, b.keys);
  for (auto& k : a.keys) EXPECT_TRUE(torch::equal(a.state.at(k), b.state.at(k))) << k;
}

TEST(UltralyticsPt, TrainerLastPtWithEmaAndOptimizer) {
  YOLOCPP_REQUIRE_SHARED();
  auto ck = load_ultralytics_pt(fixture("yolo11n_nc3_trainer_last.pt"));
  EXPECT_TRUE(ck.from_ema);
  EXPECT_EQ(ck.state.size(), 499u);
  EXPECT_EQ(ck.nc, 3);
  EXPECT_EQ(ck.names.at(2), "tree");
  EXPECT_EQ(ck.epoch, 0);
  ASSERT_TRUE(ck.best_fitness.has_value());
  EXPECT_EQ(*ck.best_fitness, 0.0);
  ASSERT_TRUE(ck.updates.has_value());
  EXPECT_EQ(*ck.updates, 1);
  EXPECT_EQ(ck.top_level_keys.front(), "epoch");
  EXPECT_EQ(ck.model_args["imgsz"].as<int>(), 320);  // IterableSimpleNamespace state
  ASSERT_TRUE(ck.optimizer.has_value());
  const auto& opt = *ck.optimizer;
  ASSERT_EQ(opt.param_groups.size(), 3u);
  EXPECT_EQ(opt.param_groups[0].params.size(), 87u);
  EXPECT_EQ(opt.param_groups[1].params.size(), 88u);
  EXPECT_EQ(opt.param_groups[2].params.size(), 81u);
  EXPECT_DOUBLE_EQ(opt.param_groups[0].values.at("lr"), 0.1);  // numpy float64 scalar
  EXPECT_DOUBLE_EQ(opt.param_groups[0].values.at("momentum"), 0.8);
  EXPECT_DOUBLE_EQ(opt.param_groups[1].values.at("weight_decay"), 0.0005);
  EXPECT_DOUBLE_EQ(opt.param_groups[2].values.at("initial_lr"), 0.01);
  EXPECT_TRUE(opt.param_groups[0].flags.at("nesterov"));
  EXPECT_EQ(opt.state.size(), 255u);
  for (auto& [idx, s] : opt.state) {
    ASSERT_TRUE(s.count("momentum_buffer")) << idx;
    EXPECT_EQ(s.at("momentum_buffer").scalar_type(), torch::kHalf);
  }
  // The EMA weights are the perturbed weights the stripped nc=3 file holds.
  auto best = load_ultralytics_pt(fixture("yolo11n_nc3_random.pt"));
  EXPECT_EQ(ck.keys, best.keys);
  int same = 0;
  for (auto& k : best.keys) same += torch::equal(ck.state.at(k), best.state.at(k));
  EXPECT_EQ(same, 499);
}
