// Counts on the three real datasets in ../shared/datasets (numbers from its README). They are read-only:
// the scan must work without writing a cache there.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "common/test_util.hpp"
#include "yolocpp/data/scan.hpp"

using namespace yolocpp;
using namespace yolocpp::test;
namespace fs = std::filesystem;

namespace {

struct Expect {
  const char* split;
  size_t images, boxes, backgrounds, empty;
};

void check(const std::string& name, int nc, std::initializer_list<Expect> ex, int w = 0, int h = 0) {
  auto t0 = std::chrono::steady_clock::now();
  auto ds = data::load_dataset((datasets_dir() / name / "data.yaml").string());
  EXPECT_EQ(ds.nc, nc);
  for (const auto& e : ex) {
    auto r = data::scan_split(ds, e.split);
    SCOPED_TRACE(name + " " + e.split);
    EXPECT_EQ(r.counts.images, e.images);
    EXPECT_EQ(r.items.size(), e.images);
    EXPECT_EQ(r.counts.corrupt, 0u);
    EXPECT_EQ(r.counts.duplicates, 0u);
    EXPECT_EQ(r.instances(), e.boxes);
    EXPECT_EQ(r.backgrounds(), e.backgrounds);
    EXPECT_EQ(r.counts.empty, e.empty);
    EXPECT_FALSE(r.cache_written);
    EXPECT_FALSE(fs::exists(r.cache_file)) << "wrote into the read-only shared dataset";
    if (w)
      for (const auto& it : r.items) ASSERT_TRUE(it.width == w && it.height == h) << it.image << " " << it.width << "x" << it.height;
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ timing ] %s: load + scan of every split %.3f s\n", name.c_str(), s);
}

}  // namespace

TEST(RealDatasets, Coco128) {
  YOLOCPP_REQUIRE_SHARED();
  check("coco128", 80, {{"train", 128, 929, 2, 0}, {"val", 128, 898, 0, 0}});
  auto ds = data::load_dataset((datasets_dir() / "coco128").string());
  auto tr = data::scan_split(ds, "train");
  std::set<std::string> bg;
  std::set<std::pair<int, int>> sizes;
  for (const auto& it : tr.items) {
    if (it.state == data::LabelState::Missing) bg.insert(it.image.filename().string());
    sizes.insert({it.width, it.height});
    EXPECT_LE(std::max(it.width, it.height), 640);
    if (it.image.filename() == "000000000086.jpg") EXPECT_GT(it.boxes.size(), 0u);  // grayscale JPEG kept
  }
  EXPECT_EQ(bg, (std::set<std::string>{"000000000250.jpg", "000000000508.jpg"}));
  EXPECT_EQ(sizes.size(), 58u);
  auto pc = tr.per_class(80);
  EXPECT_EQ(std::count_if(pc.begin(), pc.end(), [](size_t c) { return c > 0; }), 71);
  auto va = data::scan_split(ds, "val").per_class(80);
  EXPECT_EQ(std::count_if(va.begin(), va.end(), [](size_t c) { return c > 0; }), 73);
  // The two orphan label files (no image) are not visited.
  for (const auto& it : tr.items) EXPECT_NE(it.label.filename(), "000000000656.txt");
}

TEST(RealDatasets, CocBuildings) {
  YOLOCPP_REQUIRE_SHARED();
  check("coc_buildings", 22, {{"train", 344, 877, 0, 0}, {"val", 96, 207, 0, 0}, {"test", 47, 101, 0, 0}}, 640, 640);
}

TEST(RealDatasets, ClashRoyaleUnits) {
  YOLOCPP_REQUIRE_SHARED();
  check("clash_royale_units", 8, {{"train", 266, 315, 58, 58}, {"val", 140, 169, 29, 29}, {"test", 99, 122, 23, 23}},
        920, 1080);
  auto ds = data::load_dataset((datasets_dir() / "clash_royale_units/data.yaml").string());
  EXPECT_EQ(ds.names.at(6), "Mini Pekka");
}
