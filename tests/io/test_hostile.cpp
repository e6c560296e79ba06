// Hostile and broken input: crafted pickles, ZIP archives and checkpoints of a few bytes to a few
// KB that used to crash, read out of bounds or allocate gigabytes. Each must now fail with one ModelError /
// IoError naming the file, quickly and without a large allocation.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/test_util.hpp"
#include "yolocpp/io/checkpoint.hpp"
#include "yolocpp/io/model_io.hpp"
#include "yolocpp/io/pickle.hpp"
#include "yolocpp/io/ultralytics_pt.hpp"
#include "yolocpp/io/zip.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

using namespace yolocpp;
using namespace yolocpp::io;
namespace fs = std::filesystem;

namespace {

std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}
std::string op(unsigned char c) { return std::string(1, static_cast<char>(c)); }
std::string str(const std::string& s) { return "U" + le(s.size(), 1) + s; }  // SHORT_BINSTRING
std::string repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}
const std::string P2 = op(0x80) + op(2);

// The message of the yolocpp::Error `f` throws ("" when it throws nothing); other exceptions fail the test.
template <typename F> std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

long max_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

// A pickled value 40 levels deep in which each tuple holds the one below twice: 2^40 paths, 40 values.
std::string dag40() { return "N" + repeat("q" + le(0, 1) + "h" + le(0, 1) + op(0x86), 40); }

// A float tensor of 4 elements over storage record "0" (the .pt helper below writes that record).
std::string tensor4(const std::string& size, const std::string& stride) {
  return "ctorch._utils\n_rebuild_tensor_v2\n(" + std::string("(") + str("storage") + "ctorch\nFloatStorage\n" +
         str("0") + str("cpu") + "K" + le(4, 1) + "tQ" + "K" + le(0, 1) + size + stride + op(0x89) +
         "ccollections\nOrderedDict\n)RtR";
}
const std::string kSize4 = "(K" + le(4, 1) + "t", kStride1 = "(K" + le(1, 1) + "t";

// An Ultralytics-style checkpoint: {'model': DetectionModel(w), <extra dict items>}.
std::string checkpoint_pickle(const std::string& extra_items, const std::string& weight = tensor4(kSize4, kStride1)) {
  return P2 + "}(" + str("model") + "cultralytics.nn.tasks\nDetectionModel\n)" + op(0x81) + "}(" + str("_parameters") +
         "}(" + str("w") + weight + "uub" + extra_items + "u.";
}

fs::path write_pt(const fs::path& dir, const std::string& name, const std::string& pickle) {
  ZipWriter zw;
  zw.add("archive/data.pkl", pickle);
  std::string rec;
  for (float f : {1.f, 2.f, 3.f, 4.f}) rec.append(reinterpret_cast<const char*>(&f), 4);
  zw.add("archive/data/0", rec);
  fs::path p = dir / name;
  util::atomic_write(p, zw.finish());
  return p;
}

}  // namespace

// ---- unpickler ----

TEST(HostilePickle, MillionNestedTuplesAreRefusedWithoutStackOverflow) {
  // 10^6 TUPLE1 opcodes: the value tree is a million levels deep (a recursive walk or destructor dies).
  const std::string s = P2 + "N" + repeat(op(0x85), 1000000) + ".";
  const std::string e = error_of([&] { unpickle(s, "deep.pkl"); });
  EXPECT_NE(e.find("deep.pkl"), std::string::npos) << e;
  EXPECT_NE(e.find("nest deeper than"), std::string::npos) << e;
}

TEST(HostilePickle, DeepTreeWithinTheLimitIsDestroyedIteratively) {
  // 200 levels are accepted; the tree still has to be freed without recursion trouble, and here by value.
  PValuePtr v = unpickle(P2 + "N" + repeat(op(0x85), 200) + ".", "ok.pkl");
  int depth = 0;
  for (const PValue* p = v.get(); p->is(PValue::Kind::Tuple); p = p->items[0].get()) ++depth;
  EXPECT_EQ(depth, 200);
}

TEST(HostilePickle, ListContainingItselfIsRefused) {
  // ] BINPUT 0 BINGET 0 APPEND: l = []; l.append(l)   (14 bytes with the header)
  const std::string s = P2 + "]q" + le(0, 1) + "h" + le(0, 1) + "a.";
  const std::string e = error_of([&] { unpickle(s, "cycle.pkl"); });
  EXPECT_NE(e.find("contains itself"), std::string::npos) << e;
  EXPECT_NE(e.find("cycle.pkl"), std::string::npos) << e;
}

TEST(HostilePickle, ModuleWhoseModulesHoldItselfIsRefused) {
  const std::string s = P2 + "cultralytics.nn.tasks\nDetectionModel\n)" + op(0x81) + "q" + le(1, 1) + "}(" +
                        str("_modules") + "}(" + str("0") + "h" + le(1, 1) + "uub.";
  EXPECT_NE(error_of([&] { unpickle(s, "ema.pkl"); }).find("contains itself"), std::string::npos);
}

TEST(HostilePickle, SharedDagIsCheckedInLinearTime) {
  const auto t0 = std::chrono::steady_clock::now();
  PValuePtr v = unpickle(P2 + dag40() + ".", "dag.pkl");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
  ASSERT_TRUE(v->is(PValue::Kind::Tuple));
  EXPECT_EQ(v->items[0].get(), v->items[1].get());  // shared, not copied
  // Walking it as a tree (2^40 values) must stop at the expansion budget instead.
  const std::string e = error_of([&] { to_yaml(*v); });
  EXPECT_NE(e.find("expands to more than"), std::string::npos) << e;
}

TEST(HostilePickle, ValueBudget) {
  const std::string s = P2 + "N" + repeat("2", kPickleMaxValues) + "t.";  // DUP: pushes without new values
  EXPECT_NE(error_of([&] { unpickle(s, "many.pkl"); }).find("more than"), std::string::npos);
}

TEST(HostilePickle, BadEscapesAreOneModelErrorNotStoi) {
  // Protocol-0 STRING with a broken \x escape, and a raw-unicode \u escape with non-hex digits.
  EXPECT_NE(error_of([&] { unpickle("S'\\xZZ'\np0\n.", "esc.pkl"); }).find("esc.pkl"), std::string::npos);
  EXPECT_NE(error_of([&] { unpickle("V\\uZZZZ\np0\n.", "esc.pkl"); }).find("esc.pkl"), std::string::npos);
}

TEST(HostilePickle, StrideZeroViewLargerThanItsStorageIsRefused) {
  // [10^6, 10^3] with strides 0 over 4 floats: a view of 10^9 elements (4 GB once made contiguous).
  const std::string size = "(J" + le(1000000, 4) + "J" + le(1000, 4) + "t", stride = "(K" + le(0, 1) + "K" + le(0, 1) + "t";
  PersistentLoad pl = [](const PValuePtr&) {
    auto v = std::make_shared<PValue>();
    v->kind = PValue::Kind::Storage;
    v->tensor = torch::zeros({4});
    return v;
  };
  const long rss0 = max_rss_mb();
  const std::string e = error_of([&] { unpickle(P2 + tensor4(size, stride) + ".", "s0.pkl", pl); });
  EXPECT_NE(e.find("stride-0"), std::string::npos) << e;
  // Strides whose span overflows int64 are refused too (no wrap-around into "inside the storage").
  const std::string huge = "(" + op(0x8a) + le(8, 1) + le(1ull << 62, 8) + "K" + le(3, 1) + "t";
  EXPECT_NE(error_of([&] { unpickle(P2 + tensor4("(K" + le(3, 1) + "K" + le(1, 1) + "t", huge) + ".", "ovf.pkl", pl); })
                .find("outside its storage"),
            std::string::npos);
  EXPECT_LT(max_rss_mb() - rss0, 200);
}

// ---- Ultralytics .pt ----

TEST(HostilePt, NestedTrainArgsListCycleDagAndSelfHoldingEma) {
  test::TempDir tmp;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"nested.pt", str("train_args") + "N" + repeat(op(0x85), 20000)},
      {"cycle.pt", str("train_args") + "]q" + le(2, 1) + "h" + le(2, 1) + "a"},
      {"dag.pt", str("train_args") + dag40()},
      {"ema.pt", str("ema") + "cultralytics.nn.tasks\nDetectionModel\n)" + op(0x81) + "q" + le(1, 1) + "}(" +
                     str("_modules") + "}(" + str("0") + "h" + le(1, 1) + "uub"},
  };
  for (const auto& [name, items] : cases) {
    const fs::path p = write_pt(tmp.path(), name, checkpoint_pickle(items));
    const std::string e = error_of([&] { load_checkpoint(p.string()); });
    EXPECT_NE(e.find(p.string()), std::string::npos) << name << ": " << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << name << ": " << e;
  }
  // The same checkpoint without the hostile part loads: the builder itself is sound.
  const fs::path good = write_pt(tmp.path(), "good.pt", checkpoint_pickle(str("epoch") + "K" + le(3, 1)));
  Checkpoint ck = load_checkpoint(good.string());
  ASSERT_EQ(ck.weights.count("w"), 1u);
  EXPECT_FLOAT_EQ(ck.weights["w"][3].item<float>(), 4.f);
  EXPECT_EQ(ck.epoch, 3);
}

TEST(HostilePt, NamesKeyAndNcOutsideTheClassRange) {
  test::TempDir tmp;
  const std::string names = str("names") + "}(" + "J" + le(2147483647, 4) + str("x") + "u";
  const std::string net = "cultralytics.nn.tasks\nDetectionModel\n)" + op(0x81) + "}(" + str("_parameters") + "}(" +
                          str("w") + tensor4(kSize4, kStride1) + "u" + names + "ub";
  const fs::path p = write_pt(tmp.path(), "names.pt", P2 + "}(" + str("model") + net + "u.");
  const std::string e = error_of([&] { load_ultralytics_pt(p.string()); });
  EXPECT_NE(e.find("2147483647"), std::string::npos) << e;
  EXPECT_NE(e.find("names.pt"), std::string::npos) << e;
}

// ---- ZIP reader ----

TEST(HostileZip, Zip64LocatorOffsetNearTwoToThe64) {
  // Only a ZIP64 locator and an end record whose count/offset say "see ZIP64": the locator points at 2^64-16.
  std::string f = le(0x07064b50, 4) + le(0, 4) + le(0xFFFFFFFFFFFFFFF0ull, 8) + le(1, 4);
  f += le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(0xffff, 2) + le(0xffff, 2) + le(0xffffffffu, 4) +
       le(0xffffffffu, 4) + le(0, 2);
  EXPECT_NE(error_of([&] { ZipReader z(f, "z64.pt"); }).find("z64.pt"), std::string::npos);
}

TEST(HostileZip, Zip64CentralDirectoryAndLocalOffsetsNearTwoToThe64) {
  // ZIP64 end record giving a central directory at 2^64-8 (wrapping `off + size`).
  std::string cd_wrap = le(0x06064b50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4) + le(1, 8) +
                        le(1, 8) + le(64, 8) + le(0xFFFFFFFFFFFFFFF8ull, 8);
  cd_wrap += le(0x07064b50, 4) + le(0, 4) + le(0, 8) + le(1, 4);
  cd_wrap += le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(0xffff, 2) + le(0xffff, 2) + le(0xffffffffu, 4) +
             le(0xffffffffu, 4) + le(0, 2);
  EXPECT_NE(error_of([&] { ZipReader z(cd_wrap, "cd.pt"); }).find("cd.pt"), std::string::npos);

  // A central entry whose ZIP64 extra field puts its local header at 2^64-16.
  std::string cd = le(0x02014b50, 4) + le(45, 2) + le(45, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4) + le(0, 4) +
                   le(0, 4) + le(1, 2) + le(12, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0xffffffffu, 4) +
                   "a" + le(1, 2) + le(8, 2) + le(0xFFFFFFFFFFFFFFF0ull, 8);
  std::string f = cd + le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(1, 2) + le(1, 2) + le(cd.size(), 4) + le(0, 4) +
                  le(0, 2);
  EXPECT_NE(error_of([&] {
              ZipReader z(f, "local.pt");
              z.read("a");
            }).find("local.pt"),
            std::string::npos);
}

TEST(HostileZip, DeclaredSizeBeyondTheInflateRatioIsRefusedBeforeAllocating) {
  ZipWriter zw;
  zw.add("a", "hello hello hello", /*deflate=*/true);
  std::string f = zw.finish();
  // Patch the central directory's uncompressed size to 0xFFFFFFF0 (a 4 GiB promise from a 136-byte file).
  const size_t cd = f.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(cd, std::string::npos);
  std::memcpy(&f[cd + 24], le(0xFFFFFFF0u, 4).data(), 4);
  EXPECT_LT(f.size(), 200u);
  const long rss0 = max_rss_mb();
  const std::string e = error_of([&] {
    ZipReader z(f, "bomb.pt");
    z.read("a");
  });
  EXPECT_NE(e.find("bomb.pt"), std::string::npos) << e;
  EXPECT_NE(e.find("4294967280"), std::string::npos) << e;  // refused at parse time, naming the size
  EXPECT_LT(max_rss_mb() - rss0, 200);
}

TEST(HostileZip, EntryCountLargerThanTheDirectoryIsRefused) {
  std::string f = le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(0xfffe, 2) + le(0xfffe, 2) + le(0, 4) + le(0, 4) + le(0, 2);
  EXPECT_NE(error_of([&] { ZipReader z(f, "count.pt"); }).find("fewer entries"), std::string::npos);
}

// ---- native checkpoints ----

namespace {

fs::path native_with_header(const fs::path& dir, const nlohmann::json& h, const std::string& record = "") {
  ZipWriter zw;
  if (!record.empty()) zw.add("yolocpp_ckpt/tensors/0", record);
  zw.add("yolocpp_ckpt/header.json", h.dump());
  fs::path p = dir / "native.pt";
  util::atomic_write(p, zw.finish());
  return p;
}

nlohmann::json base_header() {
  return {{"format", "yolocpp-checkpoint"}, {"format_version", 1}, {"tensors", nlohmann::json::array()}};
}

}  // namespace

TEST(HostileNative, ModelYamlWithBillionClassesIsRefusedBeforeBuilding) {
  test::TempDir tmp;
  // Written byte by byte in the native (zip + JSON) layout: yolocpp's own writer refuses such a yaml.
  nlohmann::json h = base_header();
  h["model_yaml"] = "nc: 1000000000\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\nhead:\n  - [[0], 1, Detect, [nc]]\n";
  const fs::path p = native_with_header(tmp.path(), h);
  EXPECT_LT(fs::file_size(p), 5000u);
  const long rss0 = max_rss_mb();
  const std::string e = error_of([&] { load_model(p.string()); });
  EXPECT_NE(e.find("nc: 1000000000"), std::string::npos) << e;
  EXPECT_NE(e.find(p.string()), std::string::npos) << e;
  EXPECT_LT(max_rss_mb() - rss0, 200);
}

TEST(HostileNative, BadNamesKeyAndHugeShapeAreOneLineErrors) {
  test::TempDir tmp;
  nlohmann::json h = base_header();
  h["names"] = {{"abc", "x"}};
  std::string e = error_of([&] { load_checkpoint(native_with_header(tmp.path(), h).string()); });
  EXPECT_NE(e.find("'abc'"), std::string::npos) << e;

  h = base_header();
  h["tensors"] = nlohmann::json::array(
      {{{"name", "w"}, {"group", "model"}, {"dtype", "float32"}, {"shape", {1000000, 1000000}}, {"record", "yolocpp_ckpt/tensors/0"}}});
  const long rss0 = max_rss_mb();
  e = error_of([&] { load_checkpoint(native_with_header(tmp.path(), h, std::string(16, '\0')).string()); });
  EXPECT_NE(e.find("expected 4000000000000"), std::string::npos) << e;
  h["tensors"][0]["shape"] = {int64_t(1) << 40, int64_t(1) << 40};  // the byte count overflows 64 bits
  e = error_of([&] { load_checkpoint(native_with_header(tmp.path(), h, std::string(16, '\0')).string()); });
  EXPECT_NE(e.find("impossible shape"), std::string::npos) << e;
  EXPECT_LT(max_rss_mb() - rss0, 200);
}

// ---- through the CLI: every one of these is one `error:` line naming the file, exit 1 ----

TEST(HostileCli, EachCraftedModelIsOneErrorLine) {
  if (!fs::exists(YOLOCPP_BIN)) GTEST_SKIP() << "yolocpp binary not built: " YOLOCPP_BIN;
  test::TempDir tmp;
  std::vector<fs::path> files = {
      write_pt(tmp.path(), "nested.pt", checkpoint_pickle(str("train_args") + "N" + repeat(op(0x85), 20000))),
      write_pt(tmp.path(), "dag.pt", checkpoint_pickle(str("train_args") + dag40())),
      write_pt(tmp.path(), "esc.pt", checkpoint_pickle(str("date") + "S'\\xZZ'\n")),
  };
  nlohmann::json h = base_header();
  h["names"] = {{"abc", "x"}};
  fs::create_directories(tmp / "n");
  files.push_back(native_with_header(tmp / "n", h));
  nlohmann::json nc = base_header();
  nc["model_yaml"] = "nc: 1000000000\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\nhead:\n  - [[0], 1, Detect, [nc]]\n";
  fs::create_directories(tmp / "nc");
  files.push_back(native_with_header(tmp / "nc", nc));
  for (const auto& f : files) {
    auto r = test::yolocpp("info model=" + f.string());
    EXPECT_EQ(r.rc, 1) << f << ": " << r.out;
    EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << f << ": " << r.out;
    EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << f << ": " << r.out;  // exactly one line
    EXPECT_NE(r.out.find(f.string()), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("internal error"), std::string::npos) << r.out;
  }
}

TEST(HostilePickle, LargeDictIsLinearNotQuadratic) {
  // 200,000 distinct keys in one SETITEMS, then key 7 again: a linear scan per insert would take minutes.
  std::string s = P2 + "}(";
  for (uint32_t k = 0; k < 200000; ++k) s += "J" + le(k, 4) + "K" + le(k % 200, 1);
  s += "J" + le(7, 4) + "K" + le(99, 1) + "u.";
  const auto t0 = std::chrono::steady_clock::now();
  PValuePtr v = unpickle(s, "dict.pkl");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  ASSERT_EQ(v->entries.size(), 200000u);
  EXPECT_EQ(v->entries[7].first->i, 7);
  EXPECT_EQ(v->entries[7].second->i, 99);  // replaced in place, as Python does
  EXPECT_EQ(v->entries[199999].second->i, 199999 % 200);
}
