// `yolocpp pack` archives: relocatable round trip, byte-for-byte determinism, tamper detection.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "common/test_util.hpp"
#include "data/helpers.hpp"
#include "yolocpp/data/pack.hpp"
#include "yolocpp/data/scan.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

using namespace yolocpp;
using namespace yolocpp::test;
namespace fs = std::filesystem;

namespace {

// train: a folder; val: a .txt list; test: a list of folders. One background without a label file.
fs::path make_dataset(const fs::path& d) {
  add_sample(d, "train", "a", "0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n");
  add_sample(d, "train", "b", nullptr);
  add_sample(d, "val", "c", "1 0.5 0.5 0.3 0.3\n");
  add_sample(d, "val", "d", "");
  add_sample(d, "t1", "e", "0 0.4 0.4 0.3 0.3\n");
  add_sample(d, "t2", "f", "0 0.6 0.6 0.3 0.3\n");
  write_text(d / "val.txt", "./images/val/c.jpg\n./images/val/d.jpg\n");
  write_text(d / "cfg" / "my.yaml", "path: ..\ntrain: images/train\nval: val.txt\ntest: [images/t1, images/t2]\n"
                                    "names: ['big cat', dog]\n");
  return d / "cfg" / "my.yaml";
}

std::string error_of_unpack(const fs::path& a, const fs::path& dest) {
  try {
    data::unpack(a, dest);
  } catch (const DataError& e) {
    return e.what();
  }
  return "<no error>";
}

void retar(const fs::path& dir, const fs::path& out) {
  auto r = run_cmd("tar -czf '" + out.string() + "' -C '" + dir.string() + "' .");
  ASSERT_EQ(r.rc, 0) << r.out;
}

}  // namespace

TEST(Pack, RoundTripIsRelocatable) {
  TempDir t;
  auto ds = data::load_dataset(make_dataset(t / "src").string());
  auto pr = data::pack_dataset(ds, t / "out" / "ds.tar.gz");
  EXPECT_EQ(pr.files, 6u + 5u + 3u);  // 6 images, 5 labels (b has none), data.yaml + val.txt + manifest
  EXPECT_EQ(pr.sha256, util::sha256_file(t / "out" / "ds.tar.gz"));

  data::unpack(t / "out" / "ds.tar.gz", t / "un");
  fs::remove_all(t / "src");  // nothing may still point at the original folder
  std::string yaml = util::read_file(t / "un" / "data.yaml");
  EXPECT_NE(yaml.find("path: ."), std::string::npos) << yaml;
  EXPECT_EQ(yaml.find(t.path().string()), std::string::npos) << yaml;

  auto back = data::load_dataset((t / "un").string());
  EXPECT_EQ(back.names, (std::vector<std::string>{"big cat", "dog"}));
  EXPECT_EQ(back.split("train").images.size(), 2u);
  EXPECT_EQ(back.split("val").images.size(), 2u);
  EXPECT_EQ(back.split("test").images.size(), 2u);
  auto tr = data::scan_split(back, "train", false);
  EXPECT_EQ(tr.instances(), 2u);
  EXPECT_EQ(tr.counts.missing, 1u);
  EXPECT_FLOAT_EQ(tr.items[0].boxes[1].x, 0.25f);
  auto va = data::scan_split(back, "val", false);
  EXPECT_EQ(va.counts.empty, 1u);
  EXPECT_EQ(va.items[0].boxes.at(0).cls, 1);
  EXPECT_EQ(data::scan_split(back, "test", false).instances(), 2u);
}

TEST(Pack, SameDatasetGivesSameBytes) {
  TempDir t;
  auto ds = data::load_dataset(make_dataset(t / "src").string());
  auto a = data::pack_dataset(ds, t / "a.tar.gz");
  // New mtimes and a label cache beside the labels must not change the archive.
  auto now = fs::file_time_type::clock::now();
  for (auto& e : fs::recursive_directory_iterator(t / "src"))
    if (e.is_regular_file()) fs::last_write_time(e.path(), now + std::chrono::hours(1));
  data::scan_split(ds, "train");
  auto b = data::pack_dataset(ds, t / "b.tar.gz");
  EXPECT_EQ(a.sha256, b.sha256);
  EXPECT_EQ(a.bytes, b.bytes);
  // A changed label does change it.
  write_text(t / "src/labels/train/a.txt", "0 0.5 0.5 0.2 0.3\n");
  EXPECT_NE(data::pack_dataset(ds, t / "c.tar.gz").sha256, a.sha256);
}

TEST(Pack, TamperedMissingOrAddedFileIsNamed) {
  TempDir t;
  auto ds = data::load_dataset(make_dataset(t / "src").string());
  data::pack_dataset(ds, t / "ds.tar.gz");
  data::unpack(t / "ds.tar.gz", t / "x");

  write_text(t / "x/labels/train/a.txt", "0 0.5 0.5 0.2 0.9\n1 0.25 0.25 0.1 0.1\n");
  retar(t / "x", t / "tampered.tar.gz");
  std::string e = error_of_unpack(t / "tampered.tar.gz", t / "y1");
  EXPECT_NE(e.find("labels/train/a.txt"), std::string::npos) << e;
  EXPECT_NE(e.find("does not match"), std::string::npos) << e;
  EXPECT_NE(e.find("tampered.tar.gz"), std::string::npos) << e;

  data::unpack(t / "ds.tar.gz", t / "x2");
  fs::remove(t / "x2/images/val/d.jpg");
  retar(t / "x2", t / "missing.tar.gz");
  e = error_of_unpack(t / "missing.tar.gz", t / "y2");
  EXPECT_NE(e.find("images/val/d.jpg"), std::string::npos) << e;
  EXPECT_NE(e.find("missing"), std::string::npos) << e;

  data::unpack(t / "ds.tar.gz", t / "x3");
  write_text(t / "x3/images/train/evil.jpg", "x");
  retar(t / "x3", t / "added.tar.gz");
  e = error_of_unpack(t / "added.tar.gz", t / "y3");
  EXPECT_NE(e.find("images/train/evil.jpg"), std::string::npos) << e;

  write_text(t / "plain/a.txt", "hello");
  retar(t / "plain", t / "plain.tar.gz");
  e = error_of_unpack(t / "plain.tar.gz", t / "y4");
  EXPECT_NE(e.find("MANIFEST.sha256"), std::string::npos) << e;
}

TEST(Pack, LoadDatasetFromArchiveUnpacksOnceIntoCache) {
  TempDir t;
  auto ds = data::load_dataset(make_dataset(t / "src").string());
  auto pr = data::pack_dataset(ds, t / "ds.tar.gz");
  const char* old = getenv("YOLOCPP_CACHE_DIR");
  std::string saved = old ? old : "";
  setenv("YOLOCPP_CACHE_DIR", (t / "cache").c_str(), 1);
  auto a = data::load_dataset((t / "ds.tar.gz").string());
  auto b = data::load_dataset((t / "ds.tar.gz").string());
  if (old) setenv("YOLOCPP_CACHE_DIR", saved.c_str(), 1); else unsetenv("YOLOCPP_CACHE_DIR");
  EXPECT_EQ(a.root, t / "cache" / "datasets" / pr.sha256.substr(0, 16));
  EXPECT_EQ(b.root, a.root);
  EXPECT_EQ(a.split("train").images.size(), 2u);
  EXPECT_EQ(data::scan_split(a, "train").instances(), 2u);
}
