// Per-image verification (ultralytics 8.3.58 data/utils.py verify_image_label) with its counts, and the label cache
// (write, reuse, invalidation).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/test_util.hpp"
#include "data/helpers.hpp"
#include "yolocpp/data/image_header.hpp"
#include "yolocpp/data/scan.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

using namespace yolocpp;
using namespace yolocpp::test;
namespace fs = std::filesystem;

namespace {

const data::ImageLabels* find(const data::ScanResult& r, const std::string& stem) {
  for (const auto& v : {&r.items, &r.corrupt})
    for (const auto& x : *v)
      if (x.image.stem() == stem) return &x;
  return nullptr;
}

// One image per problem, nc = 3.
fs::path problem_dataset(const fs::path& d) {
  add_sample(d, "train", "good", "0 0.5 0.5 0.2 0.2\n2 0.1 0.2 0.1 0.1");  // no trailing newline
  add_sample(d, "train", "missing", nullptr);
  add_sample(d, "train", "empty", "");
  add_sample(d, "train", "blank_lines", "\n  \n");
  add_sample(d, "train", "four_cols", "0 0.5 0.5 0.2\n");
  add_sample(d, "train", "six_cols", "0 0.5 0.5 0.2 0.2 0.9\n");
  add_sample(d, "train", "text", "0 0.5 abc 0.2 0.2\n");
  add_sample(d, "train", "class_big", "3 0.5 0.5 0.2 0.2\n");
  add_sample(d, "train", "negative", "1 -0.5 0.5 0.2 0.2\n");
  add_sample(d, "train", "over_one", "1 0.5 1.5 0.2 0.2\n");
  add_sample(d, "train", "tolerated", "1 1.005 0.5 0.2 0.2\n1 0.5 -0.005 0.2 0.2\n");
  add_sample(d, "train", "dups", "2 0.9 0.9 0.1 0.1\n0 0.5 0.5 0.2 0.2\n2 0.9 0.9 0.1 0.1\n1 0.3 0.3 0.1 0.1\n");
  add_sample(d, "train", "segment", "1 0.1 0.2 0.5 0.2 0.3 0.6\n");
  add_sample(d, "train", "tiny", "0 0.5 0.5 0.2 0.2\n", 9, 40);
  write_text(d / "images/train/garbage.jpg", "this is not an image at all");
  write_text(d / "labels/train/garbage.txt", "0 0.5 0.5 0.2 0.2\n");
  write_image(d / "images/train/gray.jpg", 30, 20, 1);
  write_text(d / "labels/train/gray.txt", "1 0.5 0.5 0.2 0.2\n");
  write_image(d / "images/train/wide.png", 123, 45);
  // A truncated JPEG (no FF D9 at the end): kept with a warning, as Ultralytics (which re-saves it).
  write_image(d / "images/train/trunc.jpg", 64, 64);
  std::string bytes = util::read_file(d / "images/train/trunc.jpg");
  write_text(d / "images/train/trunc.jpg", bytes.substr(0, bytes.size() - 2));
  write_text(d / "labels/train/orphan.txt", "0 0.5 0.5 0.2 0.2\n");  // no image: never visited
  return d / "images/train";
}

}  // namespace

TEST(LabelScan, EveryProblemWithItsCounts) {
  TempDir t;
  fs::path imgs = problem_dataset(t.path());
  auto list = data::list_images({imgs});
  ASSERT_EQ(list.size(), 18u);
  auto r = data::scan_images(list, 3, {}, false);
  EXPECT_EQ(r.counts.images, 18u);
  EXPECT_EQ(r.counts.corrupt, 8u);   // four_cols six_cols text class_big negative over_one tiny garbage
  EXPECT_EQ(r.counts.missing, 3u);   // missing, wide.png, trunc.jpg
  EXPECT_EQ(r.counts.empty, 2u);     // empty, blank_lines
  EXPECT_EQ(r.counts.found, 5u);     // good tolerated dups segment gray
  EXPECT_EQ(r.counts.duplicates, 1u);
  EXPECT_EQ(r.counts.jpeg_warnings, 1u);
  EXPECT_EQ(r.items.size(), 10u);
  EXPECT_EQ(r.backgrounds(), 5u);
  EXPECT_EQ(r.instances(), 2u + 2u + 3u + 1u + 1u);

  for (const char* bad : {"four_cols", "six_cols", "text", "class_big", "negative", "over_one", "tiny", "garbage"}) {
    const auto* x = find(r, bad);
    ASSERT_NE(x, nullptr) << bad;
    EXPECT_EQ(x->state, data::LabelState::Corrupt) << bad;
  }
  EXPECT_NE(find(r, "four_cols")->message.find("5 columns"), std::string::npos);
  EXPECT_NE(find(r, "four_cols")->message.find("four_cols.txt:1"), std::string::npos);
  EXPECT_NE(find(r, "text")->message.find("non-numeric value 'abc'"), std::string::npos);
  EXPECT_NE(find(r, "class_big")->message.find("exceeds dataset class count 3"), std::string::npos);
  EXPECT_NE(find(r, "negative")->message.find("negative"), std::string::npos);
  EXPECT_NE(find(r, "over_one")->message.find("out of bounds"), std::string::npos);
  EXPECT_NE(find(r, "tiny")->message.find("9x40"), std::string::npos);
  EXPECT_NE(find(r, "garbage")->message.find("garbage.jpg"), std::string::npos);

  const auto* good = find(r, "good");
  ASSERT_EQ(good->boxes.size(), 2u);
  EXPECT_EQ(good->boxes[1].cls, 2);
  EXPECT_FLOAT_EQ(good->boxes[1].y, 0.2f);
  EXPECT_EQ(good->width, 64);
  EXPECT_EQ(good->height, 48);

  const auto* d = find(r, "dups");  // unique rows in sorted order
  ASSERT_EQ(d->boxes.size(), 3u);
  EXPECT_EQ(d->boxes[0].cls, 0);
  EXPECT_EQ(d->boxes[1].cls, 1);
  EXPECT_EQ(d->boxes[2].cls, 2);
  EXPECT_EQ(d->duplicates_removed, 1);
  EXPECT_NE(d->message.find("1 duplicate labels removed"), std::string::npos);

  const auto* s = find(r, "segment");  // polygon -> its bounding box
  ASSERT_EQ(s->boxes.size(), 1u);
  EXPECT_FLOAT_EQ(s->boxes[0].x, 0.3f);
  EXPECT_FLOAT_EQ(s->boxes[0].y, 0.4f);
  EXPECT_FLOAT_EQ(s->boxes[0].w, 0.4f);
  EXPECT_FLOAT_EQ(s->boxes[0].h, 0.4f);

  EXPECT_EQ(find(r, "tolerated")->boxes.size(), 2u);
  EXPECT_EQ(find(r, "gray")->width, 30);
  EXPECT_EQ(find(r, "wide")->width, 123);
  EXPECT_EQ(find(r, "wide")->height, 45);
  EXPECT_EQ(find(r, "trunc")->state, data::LabelState::Missing);
  EXPECT_TRUE(find(r, "trunc")->jpeg_no_eoi);
  EXPECT_EQ(find(r, "orphan"), nullptr);
  auto pc = r.per_class(3);
  EXPECT_EQ(pc, (std::vector<size_t>{2, 5, 2}));
}

TEST(ImageHeader, ExifOrientationSwapsSize) {
  TempDir t;
  write_image(t / "a.jpg", 40, 20);
  std::string b = util::read_file(t / "a.jpg");
  // APP1 "Exif\0\0" + little-endian TIFF with one IFD0 entry: Orientation (0x0112) = 6 (rotate 90).
  std::string tiff = std::string("II*\0", 4) + std::string("\x08\0\0\0", 4) + std::string("\x01\0", 2) +
                     std::string("\x12\x01\x03\0\x01\0\0\0\x06\0\0\0", 12) + std::string("\0\0\0\0", 4);
  std::string payload = std::string("Exif\0\0", 6) + tiff;
  size_t len = payload.size() + 2;
  std::string seg = std::string("\xFF\xE1", 2) + char(len >> 8) + char(len & 0xFF) + payload;
  write_text(t / "rot.jpg", b.substr(0, 2) + seg + b.substr(2));
  auto h0 = data::read_image_header(t / "a.jpg");
  auto h = data::read_image_header(t / "rot.jpg");
  EXPECT_EQ(h0.width, 40);
  EXPECT_EQ(h0.height, 20);
  EXPECT_EQ(h.orientation, 6);
  EXPECT_EQ(h.width, 20);
  EXPECT_EQ(h.height, 40);
  EXPECT_THROW(data::read_image_header(t / "none.jpg"), DataError);
}

TEST(LabelCache, WrittenThenReusedWithoutRereadingFiles) {
  TempDir t;
  add_sample(t.path(), "train", "a", "0 0.5 0.5 0.2 0.2\n");
  add_sample(t.path(), "train", "b", "1 0.5 0.5 0.2 0.2\n");
  auto imgs = data::list_images({t / "images/train"});
  fs::path cache = data::cache_path_for({t / "images/train"}, imgs);
  EXPECT_EQ(cache, t / "labels/train.cache");

  auto r1 = data::scan_images(imgs, 2, cache);
  EXPECT_FALSE(r1.from_cache);
  EXPECT_TRUE(r1.cache_written);
  EXPECT_TRUE(fs::is_regular_file(cache));

  // Same size, same mtime, different class: only a reader of the cache still sees class 0.
  fs::path lab = t / "labels/train/a.txt";
  auto mt = fs::last_write_time(lab);
  write_text(lab, "1 0.5 0.5 0.2 0.2\n");
  fs::last_write_time(lab, mt);
  auto r2 = data::scan_images(imgs, 2, cache);
  EXPECT_TRUE(r2.from_cache);
  ASSERT_EQ(r2.items.size(), 2u);
  EXPECT_EQ(r2.items[0].boxes.at(0).cls, 0);
  EXPECT_EQ(r2.items[0].width, 64);

  // A changed mtime invalidates it: the new content shows.
  fs::last_write_time(lab, mt + std::chrono::seconds(5));
  auto r3 = data::scan_images(imgs, 2, cache);
  EXPECT_FALSE(r3.from_cache);
  EXPECT_EQ(r3.items[0].boxes.at(0).cls, 1);

  // So does a different nc (class checks depend on it).
  EXPECT_FALSE(data::scan_images(imgs, 3, cache).from_cache);
  EXPECT_TRUE(data::scan_images(imgs, 3, cache).from_cache);
}

TEST(LabelCache, AddedOrRemovedFilesInvalidate) {
  TempDir t;
  add_sample(t.path(), "train", "a", "0 0.5 0.5 0.2 0.2\n");
  add_sample(t.path(), "train", "b", nullptr);
  fs::path src = t / "images/train";
  auto scan = [&] {
    auto imgs = data::list_images({src});
    return data::scan_images(imgs, 1, data::cache_path_for({src}, imgs));
  };
  EXPECT_FALSE(scan().from_cache);
  EXPECT_TRUE(scan().from_cache);
  write_text(t / "labels/train/b.txt", "0 0.1 0.1 0.1 0.1\n");  // a label appears
  auto r = scan();
  EXPECT_FALSE(r.from_cache);
  EXPECT_EQ(r.counts.missing, 0u);
  add_sample(t.path(), "train", "c", "0 0.5 0.5 0.2 0.2\n");  // an image appears
  r = scan();
  EXPECT_FALSE(r.from_cache);
  EXPECT_EQ(r.counts.found, 3u);
  fs::remove(t / "images/train/a.jpg");  // an image disappears
  r = scan();
  EXPECT_FALSE(r.from_cache);
  EXPECT_EQ(r.items.size(), 2u);
  EXPECT_TRUE(scan().from_cache);
}

TEST(LabelCache, CorruptOrOtherVersionIsIgnoredAndRebuilt) {
  TempDir t;
  add_sample(t.path(), "train", "a", "0 0.5 0.5 0.2 0.2\n");
  auto imgs = data::list_images({t / "images/train"});
  fs::path cache = t / "labels/train.cache";
  data::scan_images(imgs, 1, cache);
  std::string good = util::read_file(cache);

  write_text(cache, good.substr(0, good.size() / 2));  // truncated
  auto r = data::scan_images(imgs, 1, cache);
  EXPECT_FALSE(r.from_cache);
  EXPECT_EQ(r.instances(), 1u);
  EXPECT_EQ(util::read_file(cache), good);  // rebuilt

  // Another format version with a valid checksum: still ignored.
  std::string other = good.substr(0, good.size() - 64);
  const size_t magic = std::string("YOLOCPP-LABEL-CACHE\n").size();
  other[magic] = 99;
  other += util::sha256_hex(other);
  write_text(cache, other);
  EXPECT_FALSE(data::scan_images(imgs, 1, cache).from_cache);
  EXPECT_TRUE(data::scan_images(imgs, 1, cache).from_cache);
}

TEST(LabelCache, ReadOnlyFolderWarnsAndContinues) {
  TempDir t;
  add_sample(t.path(), "train", "a", "0 0.5 0.5 0.2 0.2\n");
  auto imgs = data::list_images({t / "images/train"});
  fs::path labels = t / "labels";
  fs::permissions(labels, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                              fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  auto r = data::scan_images(imgs, 1, labels / "train.cache");
  fs::permissions(labels, fs::perms::owner_all, fs::perm_options::add);
  EXPECT_FALSE(r.cache_written);
  EXPECT_FALSE(r.from_cache);
  EXPECT_EQ(r.instances(), 1u);
  EXPECT_FALSE(fs::exists(labels / "train.cache"));
}

TEST(LabelCache, TxtListCacheSitsBesideTheList) {
  TempDir t;
  add_sample(t.path(), "train", "a", "0 0.5 0.5 0.2 0.2\n");
  write_text(t / "train.txt", "./images/train/a.jpg\n");
  auto imgs = data::list_images({t / "train.txt"});
  ASSERT_EQ(imgs.size(), 1u);
  EXPECT_EQ(data::cache_path_for({t / "train.txt"}, imgs), t / "train.cache");
}
