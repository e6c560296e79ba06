// Loader: determinism across worker counts, batch bookkeeping against the pixels, rect val shapes, caches,
// close_mosaic and worker failures.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/test_util.hpp"
#include "yolocpp/data/augment/letterbox.hpp"
#include "yolocpp/data/augment/load.hpp"
#include "yolocpp/data/augment/rect.hpp"
#include "yolocpp/data/loader/loader.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

using namespace yolocpp;
namespace fs = std::filesystem;
using engine::Batch;
using engine::Loader;
using engine::LoaderMode;
using engine::LoaderOptions;

namespace {

// Class c is painted as a solid rectangle of pure red / green / blue (RGB) on grey, never overlapping.
const cv::Scalar kBgr[3] = {{0, 0, 255}, {0, 255, 0}, {255, 0, 0}};

// n images of varying size; image i holds 1 + i % 3 boxes in distinct columns, away from the border.
std::vector<data::ImageLabels> make_items(const fs::path& dir, int n) {
  fs::create_directories(dir);
  const cv::Size sizes[] = {{320, 240}, {200, 300}, {256, 256}, {400, 160}, {150, 220}};
  std::vector<data::ImageLabels> items;
  for (int i = 0; i < n; ++i) {
    const cv::Size sz = sizes[i % 5];
    cv::Mat img(sz, CV_8UC3, cv::Scalar(114, 114, 114));
    data::ImageLabels it;
    it.image = dir / ("img" + std::to_string(i) + ".png");
    it.state = data::LabelState::Found;
    it.width = sz.width;
    it.height = sz.height;
    const int nb = 1 + i % 3;
    for (int j = 0; j < nb; ++j) {
      const int cls = (i + j) % 3;
      // Column j of nb: x in [0.1 + 0.8 j/nb, ...], width 0.5 of the column; y varies with i.
      const float col = 0.8f / nb;
      const float w = 0.5f * col, h = 0.3f + 0.1f * (i % 3);
      const float cx = 0.1f + col * j + col / 2, cy = 0.2f + h / 2 + 0.05f * (j % 2);
      cv::Rect r(cvRound((cx - w / 2) * sz.width), cvRound((cy - h / 2) * sz.height), cvRound(w * sz.width),
                 cvRound(h * sz.height));
      cv::rectangle(img, r, kBgr[cls], cv::FILLED);
      // Labels exactly match the painted pixels.
      it.boxes.push_back({cls, (r.x + r.width / 2.f) / sz.width, (r.y + r.height / 2.f) / sz.height,
                          float(r.width) / sz.width, float(r.height) / sz.height});
    }
    cv::imwrite(it.image.string(), img);
    items.push_back(it);
  }
  return items;
}

std::vector<Batch> all_batches(Loader& l) {
  std::vector<Batch> out;
  while (auto b = l.next()) out.push_back(std::move(*b));
  return out;
}

void expect_same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    EXPECT_TRUE(torch::equal(a[k].img, b[k].img)) << "batch " << k;
    EXPECT_TRUE(torch::equal(a[k].bboxes, b[k].bboxes)) << "batch " << k;
    EXPECT_TRUE(torch::equal(a[k].cls, b[k].cls)) << "batch " << k;
    EXPECT_TRUE(torch::equal(a[k].batch_idx, b[k].batch_idx)) << "batch " << k;
    EXPECT_EQ(a[k].im_files, b[k].im_files);
  }
}

LoaderOptions heavy_train(int workers, uint64_t seed = 7) {
  LoaderOptions o;
  o.mode = LoaderMode::Train;
  o.imgsz = 128;
  o.batch = 4;
  o.workers = workers;
  o.seed = seed;
  o.hyp.mosaic = 1.0;
  o.hyp.mixup = 0.5;
  o.hyp.degrees = 10;
  o.hyp.scale = 0.5;
  o.hyp.fliplr = 0.5;
  return o;
}

// Fraction of boxes whose centre pixel has the class colour (R, G or B dominant) in the RGB batch image.
double colour_agreement(const Batch& b) {
  int ok = 0, n = static_cast<int>(b.cls.size(0));
  for (int64_t m = 0; m < n; ++m) {
    const int i = static_cast<int>(b.batch_idx[m].item<float>());
    const int c = static_cast<int>(b.cls[m][0].item<float>());
    const int x = std::min<int>(static_cast<int>(b.bboxes[m][0].item<float>() * b.width()), b.width() - 1);
    const int y = std::min<int>(static_cast<int>(b.bboxes[m][1].item<float>() * b.height()), b.height() - 1);
    auto px = b.img[i].index({torch::indexing::Slice(), y, x}).to(torch::kInt);
    if (px[c].item<int>() > 150 && px[(c + 1) % 3].item<int>() < 100 && px[(c + 2) % 3].item<int>() < 100) ++ok;
  }
  return n ? double(ok) / n : 1.0;
}

}  // namespace

TEST(Loader, ParseCacheMode) {
  EXPECT_EQ(engine::parse_cache_mode("False"), engine::CacheMode::None);
  EXPECT_EQ(engine::parse_cache_mode(""), engine::CacheMode::None);
  EXPECT_EQ(engine::parse_cache_mode("True"), engine::CacheMode::Ram);
  EXPECT_EQ(engine::parse_cache_mode("ram"), engine::CacheMode::Ram);
  EXPECT_EQ(engine::parse_cache_mode("disk"), engine::CacheMode::Disk);
  EXPECT_THROW(engine::parse_cache_mode("ssd"), ConfigError);
}

TEST(Loader, TrainDeterministicAcrossWorkerCounts) {
  test::TempDir tmp;
  auto items = make_items(tmp / "images", 10);
  Loader l0(items, heavy_train(0)), l1(items, heavy_train(1)), l3(items, heavy_train(3));
  auto b0 = all_batches(l0), b1 = all_batches(l1), b3 = all_batches(l3);
  ASSERT_EQ(b0.size(), 3u);  // ceil(10 / 4), the last partial batch kept
  expect_same(b0, b1);
  expect_same(b1, b3);
  // Same seed again, after another epoch in between: identical epoch 0.
  l3.set_epoch(1);
  auto e1 = all_batches(l3);
  l3.set_epoch(0);
  expect_same(b0, all_batches(l3));
  // A new epoch reshuffles and redraws; another seed differs too.
  std::set<std::string> f0(b0[0].im_files.begin(), b0[0].im_files.end()),
      f1(e1[0].im_files.begin(), e1[0].im_files.end());
  EXPECT_FALSE(torch::equal(b0[0].img, e1[0].img));
  Loader other(items, heavy_train(2, 8));
  auto bo = all_batches(other);
  EXPECT_FALSE(torch::equal(b0[0].img, bo[0].img));
  // The epoch visits every image exactly once.
  std::multiset<std::string> seen;
  for (auto& b : e1) seen.insert(b.im_files.begin(), b.im_files.end());
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 10u);
}

TEST(Loader, TrainBatchBookkeepingMatchesPixels) {
  test::TempDir tmp;
  auto items = make_items(tmp / "images", 10);
  // No augmentation: train = letterbox to the square imgsz; every label must sit on its colour.
  LoaderOptions o;
  o.imgsz = 160;
  o.batch = 4;
  o.workers = 2;
  o.hyp = {};
  o.hyp.mosaic = 0;
  o.hyp.hsv_h = o.hyp.hsv_s = o.hyp.hsv_v = 0;
  o.hyp.fliplr = 0;
  o.hyp.translate = o.hyp.scale = 0;
  Loader l(items, o);
  EXPECT_EQ(l.size(), 3u);
  auto bs = all_batches(l);
  ASSERT_EQ(bs.size(), 3u);
  int64_t boxes = 0;
  for (size_t k = 0; k < bs.size(); ++k) {
    const Batch& b = bs[k];
    EXPECT_EQ(b.size(), k < 2 ? 4 : 2);
    EXPECT_EQ(b.img.sizes(), torch::IntArrayRef({b.size(), 3, 160, 160}));
    EXPECT_EQ(b.img.scalar_type(), torch::kUInt8);
    ASSERT_EQ(b.cls.dim(), 2);
    EXPECT_EQ(b.cls.size(1), 1);
    EXPECT_EQ(b.bboxes.size(0), b.cls.size(0));
    EXPECT_EQ(b.batch_idx.size(0), b.cls.size(0));
    // Box count per image equals the label count of that image.
    for (int64_t i = 0; i < b.size(); ++i) {
      const auto n = (b.batch_idx == float(i)).sum().item<int64_t>();
      EXPECT_EQ(n, static_cast<int64_t>(items[static_cast<size_t>(b.indices[static_cast<size_t>(i)])].boxes.size()));
    }
    EXPECT_GE(b.bboxes.min().item<float>(), 0.f);
    EXPECT_LE(b.bboxes.max().item<float>(), 1.f);
    EXPECT_EQ(colour_agreement(b), 1.0) << "batch " << k;
    boxes += b.cls.size(0);
  }
  EXPECT_EQ(boxes, 19);  // 10 images with 1,2,3,1,2,3,1,2,3,1 boxes
  // Heavy augmentation: boxes still inside [0, 1] and (nearly all) on their colour.
  auto h = heavy_train(2);
  h.hyp.hsv_h = h.hyp.hsv_s = h.hyp.hsv_v = 0;
  h.hyp.mixup = 0;  // mixup blends colours
  Loader lh(items, h);
  for (auto& b : all_batches(lh)) {
    EXPECT_EQ(b.img.size(2), 128);
    if (b.cls.size(0) == 0) continue;
    EXPECT_GE(b.bboxes.min().item<float>(), 0.f);
    EXPECT_LE(b.bboxes.max().item<float>(), 1.f);
    EXPECT_LT(b.batch_idx.max().item<float>(), float(b.size()));
    EXPECT_GE(colour_agreement(b), 0.9);
  }
}

TEST(Loader, ValRectShapesMatchRectBatches) {
  test::TempDir tmp;
  auto items = make_items(tmp / "images", 7);
  LoaderOptions o;
  o.mode = LoaderMode::Val;
  o.imgsz = 160;
  o.batch = 3;
  o.workers = 2;
  Loader l(items, o);
  std::vector<cv::Size> shapes;
  for (auto& it : items) shapes.emplace_back(it.width, it.height);
  auto rb = augment::rect_batch_shapes(shapes, 160, 3, 32, 0.5);
  auto bs = all_batches(l);
  ASSERT_EQ(bs.size(), 3u);
  for (size_t k = 0; k < bs.size(); ++k) {
    EXPECT_EQ(bs[k].width(), rb.batch_shape[k].width) << k;
    EXPECT_EQ(bs[k].height(), rb.batch_shape[k].height) << k;
    for (size_t j = 0; j < bs[k].im_files.size(); ++j) {
      const size_t idx = rb.order[k * 3 + j];
      EXPECT_EQ(bs[k].im_files[j], items[idx].image.string());
      // ratio_pad: the long-side resize ratio and the centred letterbox padding of this batch shape.
      const cv::Size rs = augment::long_side_size(shapes[idx], 160);
      auto g = augment::letterbox_geometry(rs, rb.batch_shape[k].height, rb.batch_shape[k].width,
                                           augment::LetterboxOptions{false, false, false});
      const auto& rp = bs[k].ratio_pad[j];
      EXPECT_DOUBLE_EQ(rp[0], double(rs.height) / shapes[idx].height);
      EXPECT_DOUBLE_EQ(rp[1], double(rs.width) / shapes[idx].width);
      EXPECT_EQ(rp[2], g.left);
      EXPECT_EQ(rp[3], g.top);
      EXPECT_EQ(bs[k].ori_shape[j], shapes[idx]);
    }
    EXPECT_EQ(colour_agreement(bs[k]), 1.0);
  }
  // Val is not shuffled: the next epoch is identical.
  l.set_epoch(1);
  expect_same(bs, all_batches(l));
  // Square (non-rect) val for fixed-shape backends.
  o.rect = false;
  Loader sq(items, o);
  for (auto& b : all_batches(sq)) EXPECT_EQ(b.img.sizes(), torch::IntArrayRef({b.size(), 3, 160, 160}));
}

// cache not set: the trainer lets the loader keep decoded images in RAM when they fit a small share of the
// available memory. Same batches as no cache (first pass decodes, second reads RAM); a share too small to
// hold them leaves the loader uncached.
TEST(Loader, AutoRamCacheOnlyWhenItFitsAndKeepsThePixels) {
  test::TempDir tmp;
  auto items = make_items(tmp / "images", 6);
  LoaderOptions o = heavy_train(2);
  o.cache = engine::CacheMode::None;
  Loader none(items, o);
  EXPECT_EQ(none.cache_mode(), engine::CacheMode::None);
  EXPECT_FALSE(none.auto_ram());
  o.auto_ram_fraction = 0.5;  // 6 small images: a few MB
  Loader autoram(items, o);
  EXPECT_EQ(autoram.cache_mode(), engine::CacheMode::Ram);
  EXPECT_TRUE(autoram.auto_ram());
  auto bn = all_batches(none);
  expect_same(bn, all_batches(autoram));
  autoram.set_epoch(0);
  expect_same(bn, all_batches(autoram));  // second pass from RAM
  o.auto_ram_fraction = 1e-12;  // no machine has that little to spare
  Loader tiny(items, o);
  EXPECT_EQ(tiny.cache_mode(), engine::CacheMode::None);
  EXPECT_FALSE(tiny.auto_ram());
}

TEST(Loader, CachesGiveTheSamePixels) {
  test::TempDir tmp;
  auto items = make_items(tmp / "images", 6);
  auto opts = [](engine::CacheMode c) {
    LoaderOptions o = heavy_train(2);
    o.cache = c;
    return o;
  };
  Loader none(items, opts(engine::CacheMode::None)), ram(items, opts(engine::CacheMode::Ram)),
      disk(items, opts(engine::CacheMode::Disk));
  auto bn = all_batches(none);
  expect_same(bn, all_batches(ram));
  expect_same(bn, all_batches(disk));
  // Disk cache: a .npy beside each image, read instead of the image from then on.
  for (auto& it : items) ASSERT_TRUE(fs::exists(fs::path(it.image).replace_extension(".npy"))) << it.image;
  ram.set_epoch(0);
  expect_same(bn, all_batches(ram));  // second pass from RAM
  disk.set_epoch(0);
  expect_same(bn, all_batches(disk));  // second pass from .npy
  // Prove the .npy is what is read: overwrite one with a black image of the same shape.
  {
    LoaderOptions v;
    v.mode = LoaderMode::Val;
    v.imgsz = 320;
    v.batch = 1;
    v.rect = false;
    v.cache = engine::CacheMode::Disk;
    Loader lv(items, v);
    auto first = lv.next();
    ASSERT_TRUE(first);
    const fs::path npy = fs::path(items[0].image).replace_extension(".npy");
    const std::string bytes = util::read_file(npy);
    std::string black = bytes;
    std::fill(black.end() - items[0].width * items[0].height * 3, black.end(), '\0');
    util::atomic_write(npy, black);
    lv.set_epoch(0);
    auto again = lv.next();
    ASSERT_TRUE(again);
    EXPECT_GT(first->img.sum().item<int64_t>(), again->img.sum().item<int64_t>() + 1000);
  }
}

TEST(Loader, CloseMosaicEqualsNoMosaic) {
  test::TempDir tmp;
  auto items = make_items(tmp / "images", 8);
  auto a = heavy_train(1);
  auto b = heavy_train(1);
  b.hyp.mosaic = 0;
  b.hyp.mixup = 0;
  Loader la(items, a), lb(items, b);
  la.close_mosaic();
  la.set_epoch(3);
  lb.set_epoch(3);
  expect_same(all_batches(la), all_batches(lb));
}

TEST(Loader, WorkerFailureNamesTheFile) {
  test::TempDir tmp;
  auto items = make_items(tmp / "images", 9);
  { std::ofstream(items[5].image, std::ios::binary) << "not a png at all"; }
  for (int workers : {0, 3}) {
    for (auto mode : {LoaderMode::Train, LoaderMode::Val}) {
      LoaderOptions o = heavy_train(workers);
      o.mode = mode;
      Loader l(items, o);
      try {
        all_batches(l);
        FAIL() << "no error for a corrupt image (workers=" << workers << ")";
      } catch (const DataError& e) {
        EXPECT_NE(std::string(e.what()).find("img5.png"), std::string::npos) << e.what();
      }
      // The loader is still usable and destructs cleanly after the failure.
      EXPECT_THROW({ l.set_epoch(1); all_batches(l); }, DataError);
    }
  }
}

TEST(Loader, DatasetConstructorAndBatchCap) {
  test::TempDir tmp;
  auto items = make_items(tmp / "ds" / "images" / "val", 3);
  fs::create_directories(tmp / "ds" / "labels" / "val");
  for (auto& it : items) {
    std::ofstream f(tmp / "ds" / "labels" / "val" / (it.image.stem().string() + ".txt"));
    for (auto& b : it.boxes) f << b.cls << " " << b.x << " " << b.y << " " << b.w << " " << b.h << "\n";
  }
  { std::ofstream(tmp / "ds" / "data.yaml") << "path: .\ntrain: images/val\nval: images/val\nnames: [r, g, b]\n"; }
  auto ds = data::load_dataset((tmp / "ds" / "data.yaml").string());
  LoaderOptions o;
  o.mode = LoaderMode::Val;
  o.imgsz = 128;
  o.batch = 16;  // capped at 3 images
  Loader l(ds, "val", o);
  EXPECT_EQ(l.batch_size(), 3);
  EXPECT_EQ(l.size(), 1u);
  auto b = l.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->size(), 3);
  EXPECT_EQ(b->cls.size(0), 6);
  EXPECT_FALSE(l.next());
}

// cache=disk on a read-only dataset folder (as root, where write permission checks pass): the .npy files go
// to the cache dir instead, and the dataset folder stays untouched (it may be read-only or shared).
TEST(Loader, DiskCacheNeverWritesIntoAReadOnlyDataset) {
  test::TempDir tmp;
  auto items = make_items(tmp / "images", 4);
  fs::permissions(tmp / "images", fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                      fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  LoaderOptions o = heavy_train(0);
  o.cache = engine::CacheMode::Disk;
  o.disk_cache_dir = tmp / "npy";
  LoaderOptions plain = heavy_train(0);
  Loader disk(items, o), none(items, plain);
  expect_same(all_batches(none), all_batches(disk));
  size_t beside = 0, elsewhere = 0;
  for (const auto& e : fs::directory_iterator(tmp / "images")) beside += e.path().extension() == ".npy";
  for (const auto& e : fs::directory_iterator(tmp / "npy")) elsewhere += e.path().extension() == ".npy";
  fs::permissions(tmp / "images", fs::perms::owner_all, fs::perm_options::add);
  EXPECT_EQ(beside, 0u);
  EXPECT_EQ(elsewhere, items.size());
}
