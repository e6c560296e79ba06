#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <yaml-cpp/yaml.h>

#include "common/test_util.hpp"
#include "yolocpp/data/synth.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

using namespace yolocpp;
namespace fs = std::filesystem;

namespace {

// Relative path -> bytes of every file under a folder.
std::map<std::string, std::string> tree_bytes(const fs::path& root) {
  std::map<std::string, std::string> m;
  for (auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) m[fs::relative(e.path(), root).string()] = util::read_file(e.path());
  return m;
}

int count_files(const fs::path& dir, const std::string& ext) {
  int n = 0;
  if (!fs::exists(dir)) return 0;
  for (auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ext;
  return n;
}

cv::Mat differs(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d, m;
  cv::absdiff(a, b, d);
  cv::cvtColor(d, m, cv::COLOR_BGR2GRAY);  // any channel differing gives a non-zero grey value
  return m != 0;
}

data::SynthOptions small(const fs::path& out, uint64_t seed) {
  data::SynthOptions o;
  o.out = out;
  o.images = 12;
  o.seed = seed;
  o.imgsz = 320;
  o.val_fraction = 0.25;
  return o;
}

}  // namespace

TEST(Synth, SameSeedGivesIdenticalBytesDifferentSeedDiffers) {
  test::TempDir d;
  data::generate_synth(small(d / "a", 7));
  data::generate_synth(small(d / "b", 7));
  data::generate_synth(small(d / "c", 8));
  auto a = tree_bytes(d / "a"), b = tree_bytes(d / "b"), c = tree_bytes(d / "c");
  ASSERT_EQ(a.size(), 12u * 2 + 1);  // png + txt per image, dataset.yaml
  ASSERT_EQ(a.size(), b.size());
  for (auto& [k, v] : a) EXPECT_TRUE(b.count(k) && b.at(k) == v) << k << " differs between two runs";
  int differing_images = 0;
  for (auto& [k, v] : a)
    if (k.size() > 4 && k.substr(k.size() - 4) == ".png") differing_images += c.at(k) != v;
  EXPECT_EQ(differing_images, 12);
}

// The core guarantee: labels are exact. For each object, re-render the scene without it; the pixels that
// change are the object's visible pixels. They must lie inside its box and inside its independently drawn
// mask, and for an object that is fully visible the changed pixels must reach all four box edges (so a box
// shifted or grown by even one pixel on any side fails).
TEST(Synth, LabelBoxesAreTightAroundTheDrawnPixels) {
  const int imgsz = 640;
  int checked = 0, fully_visible = 0, occluded = 0, clipped = 0;
  for (uint64_t seed : {0ull, 5ull}) {
    for (int index = 0; index < 4; ++index) {
      auto scene = data::render_synth_scene(seed, index, imgsz);
      const cv::Rect frame(0, 0, imgsz, imgsz);
      // Masks of all objects on the full frame, for the occlusion bookkeeping.
      std::vector<cv::Mat> masks;
      for (auto& o : scene.objects) {
        cv::Mat m = cv::Mat::zeros(imgsz, imgsz, CV_8U);
        data::draw_synth_sprite_mask(o.sprite, m);
        masks.push_back(m);
      }
      for (size_t k = 0; k < scene.objects.size(); ++k) {
        const auto& o = scene.objects[k];
        SCOPED_TRACE(::testing::Message() << "seed " << seed << " image " << index << " object " << k << " class "
                                          << o.sprite.cls << " box " << o.box);
        ASSERT_GE(o.sprite.cls, 0);
        ASSERT_LT(o.sprite.cls, data::kSynthClasses);
        ASSERT_EQ(o.box & frame, o.box);
        // The box is the bounding box of the sprite's mask (clipped to the image).
        EXPECT_EQ(cv::boundingRect(masks[k]), o.box);
        // Visible part: its mask minus everything drawn in front of it.
        cv::Mat visible = masks[k].clone();
        for (size_t f = k + 1; f < masks.size(); ++f) cv::bitwise_and(visible, cv::Mat(~masks[f]), visible);
        auto without = data::render_synth_scene(seed, index, imgsz, static_cast<int>(k));
        cv::Mat changed = differs(scene.image, without.image);
        int n_changed = cv::countNonZero(changed);
        ASSERT_GT(n_changed, 0) << "object leaves no pixels in the image";
        EXPECT_EQ(cv::countNonZero(cv::Mat(changed & cv::Mat(~visible))), 0) << "pixels changed outside the visible mask";
        // Where the object covers bare terrain, almost every pixel must change (a drawn pixel may by chance
        // equal the terrain colour under it). Over a sprite behind it, a same-coloured unit of the same team
        // legitimately leaves pixels unchanged, so those are not counted.
        cv::Mat over_terrain = visible.clone();
        for (size_t b = 0; b < k; ++b) cv::bitwise_and(over_terrain, cv::Mat(~masks[b]), over_terrain);
        EXPECT_GE(cv::countNonZero(cv::Mat(changed & over_terrain)), cv::countNonZero(over_terrain) * 95 / 100);
        cv::Rect cb = cv::boundingRect(changed);
        EXPECT_EQ(cb & o.box, cb) << "changed pixels outside the box";
        bool in_frame = o.box == cv::boundingRect(masks[k]) && o.box.x > 0 && o.box.y > 0 &&
                        o.box.br().x < imgsz && o.box.br().y < imgsz;
        if (o.visible >= 1.0 && in_frame) {
          EXPECT_EQ(cb, o.box) << "box not tight on the drawn pixels";
          ++fully_visible;
        } else {
          if (o.visible < 1.0) ++occluded;
          if (!in_frame) ++clipped;
        }
        EXPECT_GE(o.visible, 0.30);
        ++checked;
      }
    }
  }
  std::printf("checked %d objects: %d fully visible (exact box), %d occluded, %d cut by the border\n", checked,
              fully_visible, occluded, clipped);
  // Enough objects of each situation that the checks above mean something.
  EXPECT_GE(checked, 60);
  EXPECT_GE(fully_visible, 25);
  EXPECT_GE(occluded + clipped, 5);
}

TEST(Synth, LabelFilesMatchTheScenesAndStayInRange) {
  test::TempDir d;
  auto opt = small(d / "ds", 11);
  data::generate_synth(opt);
  int lines = 0;
  for (int i = 0; i < opt.images; ++i) {
    const char* split = i < 9 ? "train" : "val";
    char stem[16];
    std::snprintf(stem, sizeof stem, "%06d", i);
    auto scene = data::render_synth_scene(opt.seed, i, opt.imgsz);
    std::ifstream f(opt.out / "labels" / split / (std::string(stem) + ".txt"));
    ASSERT_TRUE(f) << stem;
    // The image on disk is the rendered scene, pixel for pixel (PNG is lossless).
    cv::Mat img = cv::imread((opt.out / "images" / split / (std::string(stem) + ".png")).string());
    ASSERT_EQ(cv::countNonZero(differs(img, scene.image)), 0);
    std::string line;
    size_t k = 0;
    while (std::getline(f, line)) {
      ASSERT_LT(k, scene.objects.size());
      std::istringstream ss(line);
      int cls;
      double cx, cy, w, h;
      ASSERT_TRUE(ss >> cls >> cx >> cy >> w >> h) << line;
      EXPECT_TRUE(ss.eof() || (ss >> std::ws).eof()) << line;
      EXPECT_GE(cls, 0);
      EXPECT_LT(cls, data::kSynthClasses);
      EXPECT_EQ(cls, scene.objects[k].sprite.cls);
      const cv::Rect& b = scene.objects[k].box;
      const double n = opt.imgsz;
      EXPECT_NEAR(cx * n, b.x + b.width / 2.0, 1e-3);
      EXPECT_NEAR(cy * n, b.y + b.height / 2.0, 1e-3);
      EXPECT_NEAR(w * n, b.width, 1e-3);
      EXPECT_NEAR(h * n, b.height, 1e-3);
      EXPECT_GT(w, 0);
      EXPECT_GT(h, 0);
      EXPECT_GE(cx - w / 2, -1e-6);
      EXPECT_LE(cx + w / 2, 1 + 1e-6);
      EXPECT_GE(cy - h / 2, -1e-6);
      EXPECT_LE(cy + h / 2, 1 + 1e-6);
      // Exactly six decimals, as the format promises.
      auto dot = line.find('.');
      ASSERT_NE(dot, std::string::npos);
      EXPECT_EQ(line.find(' ', dot) - dot, 7u) << line;
      ++k;
      ++lines;
    }
    EXPECT_EQ(k, scene.objects.size());
  }
  EXPECT_GE(lines, 40);
}

TEST(Synth, SplitSizesFollowValFraction) {
  test::TempDir d;
  auto o = small(d / "a", 1);
  o.images = 10;
  o.val_fraction = 0.3;
  data::SynthStats st;
  data::generate_synth(o, &st);
  EXPECT_EQ(count_files(o.out / "images/train", ".png"), 7);
  EXPECT_EQ(count_files(o.out / "labels/train", ".txt"), 7);
  EXPECT_EQ(count_files(o.out / "images/val", ".png"), 3);
  EXPECT_EQ(count_files(o.out / "labels/val", ".txt"), 3);
  EXPECT_TRUE(fs::exists(o.out / "images/val/000009.png"));
  EXPECT_TRUE(fs::exists(o.out / "images/train/000006.png"));
  EXPECT_EQ(st.train_images, 7);
  EXPECT_EQ(st.val_images, 3);
  int boxes = 0;
  for (int c = 0; c < data::kSynthClasses; ++c) boxes += st.train_boxes[c] + st.val_boxes[c];
  int lines = 0;
  for (const char* s : {"labels/train", "labels/val"})
    for (auto& e : fs::directory_iterator(o.out / s)) {
      std::ifstream f(e.path());
      for (std::string l; std::getline(f, l);) ++lines;
    }
  EXPECT_EQ(boxes, lines);

  auto z = small(d / "b", 1);
  z.images = 5;
  z.val_fraction = 0.0;
  data::generate_synth(z);
  EXPECT_EQ(count_files(z.out / "images/train", ".png"), 5);
  EXPECT_EQ(count_files(z.out / "images/val", ".png"), 0);
}

TEST(Synth, DatasetYamlParsesWithRelativePathAndClassNames) {
  test::TempDir d;
  auto o = small(d / "ds", 2);
  o.images = 3;
  auto yaml = data::generate_synth(o);
  EXPECT_EQ(yaml, o.out / "dataset.yaml");
  YAML::Node y = YAML::LoadFile(yaml.string());
  EXPECT_EQ(y["path"].as<std::string>(), ".");
  EXPECT_EQ(y["train"].as<std::string>(), "images/train");
  EXPECT_EQ(y["val"].as<std::string>(), "images/val");
  ASSERT_TRUE(y["names"].IsMap());
  ASSERT_EQ(y["names"].size(), 5u);
  const char* want[] = {"villager", "soldier", "house", "tree", "gold"};
  for (int c = 0; c < 5; ++c) EXPECT_EQ(y["names"][c].as<std::string>(), want[c]);
}

TEST(Synth, RegeneratingReplacesOldOutputButNeverAForeignFolder) {
  test::TempDir d;
  auto o = small(d / "ds", 3);
  data::generate_synth(o);
  util::atomic_write(o.out / "labels" / "train.cache", "stale");
  o.images = 4;
  data::generate_synth(o);
  EXPECT_EQ(count_files(o.out / "images/train", ".png") + count_files(o.out / "images/val", ".png"), 4);
  EXPECT_FALSE(fs::exists(o.out / "labels" / "train.cache"));

  auto foreign = d / "mine";
  fs::create_directories(foreign);
  util::atomic_write(foreign / "notes.txt", "keep me");
  auto f = small(foreign, 3);
  EXPECT_THROW(data::generate_synth(f), DataError);
  EXPECT_EQ(util::read_file(foreign / "notes.txt"), "keep me");
}

TEST(Synth, BadOptionsAreRejectedWithConfigError) {
  test::TempDir d;
  data::SynthOptions o;
  EXPECT_THROW(data::generate_synth(o), ConfigError);  // no out
  o.out = d / "x";
  o.imgsz = 32;
  EXPECT_THROW(data::generate_synth(o), ConfigError);
  o.imgsz = 320;
  o.images = 0;
  EXPECT_THROW(data::generate_synth(o), ConfigError);
  o.images = 2;
  o.val_fraction = 1.5;
  EXPECT_THROW(data::generate_synth(o), ConfigError);
}

TEST(Synth, DemoDatasetIsGeneratedOnceWithAllClasses) {
  test::TempDir d;
  const char* old = std::getenv("YOLOCPP_CACHE_DIR");
  std::string saved = old ? old : "";
  ::setenv("YOLOCPP_CACHE_DIR", d.path().c_str(), 1);
  auto yaml = data::ensure_demo_dataset();
  EXPECT_EQ(yaml, d.path() / "demo-v1" / "dataset.yaml");
  EXPECT_EQ(count_files(d.path() / "demo-v1/images/train", ".png"), 160);
  EXPECT_EQ(count_files(d.path() / "demo-v1/images/val", ".png"), 40);
  // No temporary folder left behind.
  int entries = 0;
  for (auto& e : fs::directory_iterator(d.path())) { (void)e; ++entries; }
  EXPECT_EQ(entries, 1);
  // Every class is well represented in both splits.
  std::array<std::array<int, 5>, 2> counts{};
  for (int s = 0; s < 2; ++s)
    for (auto& e : fs::directory_iterator(d.path() / "demo-v1/labels" / (s ? "val" : "train"))) {
      std::ifstream f(e.path());
      int cls;
      double v;
      while (f >> cls >> v >> v >> v >> v) counts[s][cls]++;
    }
  for (int c = 0; c < 5; ++c) {
    EXPECT_GE(counts[0][c], 100) << data::kSynthNames[c];
    EXPECT_GE(counts[1][c], 20) << data::kSynthNames[c];
  }
  // Second call reuses the files.
  auto before = fs::last_write_time(d.path() / "demo-v1/images/train/000000.png");
  EXPECT_EQ(data::ensure_demo_dataset(), yaml);
  EXPECT_EQ(fs::last_write_time(d.path() / "demo-v1/images/train/000000.png"), before);
  if (old) ::setenv("YOLOCPP_CACHE_DIR", saved.c_str(), 1);
  else ::unsetenv("YOLOCPP_CACHE_DIR");
}

// The CLI is linked with every library (LibTorch included), so this unit folder does not build it; the
// test runs when a build of `yolocpp` is present (e.g. after `ninja yolocpp_cli`).
TEST(Synth, CliWritesTheDatasetAndAsksForOut) {
  if (!fs::exists(YOLOCPP_BIN)) GTEST_SKIP() << "yolocpp binary not built: " << YOLOCPP_BIN;
  test::TempDir d;
  auto missing = test::yolocpp("synth images=2");
  EXPECT_NE(missing.rc, 0);
  EXPECT_NE(missing.out.find("out=DIR"), std::string::npos) << missing.out;
  auto ok = test::yolocpp("synth out=" + (d / "ds").string() + " images=5 imgsz=256 val_fraction=0.4 seed=3");
  ASSERT_EQ(ok.rc, 0) << ok.out;
  EXPECT_NE(ok.out.find("5 images (3 train, 2 val)"), std::string::npos) << ok.out;
  for (const char* name : {"villager", "soldier", "house", "tree", "gold"})
    EXPECT_NE(ok.out.find(name), std::string::npos) << ok.out;
  EXPECT_EQ(count_files(d / "ds/images/train", ".png"), 3);
  EXPECT_EQ(count_files(d / "ds/images/val", ".png"), 2);
  // Same bytes as the library call with the same options.
  auto o = small(d / "lib", 3);
  o.images = 5;
  o.imgsz = 256;
  o.val_fraction = 0.4;
  data::generate_synth(o);
  EXPECT_EQ(util::read_file(d / "ds/images/val/000004.png"), util::read_file(d / "lib/images/val/000004.png"));
}

// Pins the exact pixels and labels of two scenes: the demo dataset must be the same on every machine
// (same seed -> same dataset), so a change here is either a deliberate new version of the generator (bump
// demo-v1 in ensure_demo_dataset and these hashes together) or a platform difference to fix.
TEST(Synth, GoldenScenesAreStableAcrossMachines) {
  struct Golden {
    int index;
    size_t objects;
    const char* pixels;
    const char* labels;
  };
  const Golden golden[] = {
      {0, 37, "066e07b58e464ccb2a3ef117c5301d90ef3de3540f17193a61731ebc34a7bd11",
       "637d4f25d35043e5f03ae0f26f8b71f328302f68c2ca0a1898d798723315e61f"},
      {7, 25, "eb4c5df9b2b19659aabeae3537c946c646940e1b3b56b2f4ec86d66bfef8e595",
       "ff4c63fb9e7684792f24329668acf77122b3944937f1587c9e91a4d614f679f3"},
  };
  for (const auto& g : golden) {
    auto sc = data::render_synth_scene(0, g.index, 640);
    ASSERT_TRUE(sc.image.isContinuous());
    std::string px(reinterpret_cast<const char*>(sc.image.data), sc.image.total() * sc.image.elemSize());
    EXPECT_EQ(sc.objects.size(), g.objects) << "image " << g.index;
    EXPECT_EQ(util::sha256_hex(px), g.pixels) << "image " << g.index << " pixels (OpenCV " << CV_VERSION << ")";
    EXPECT_EQ(util::sha256_hex(data::synth_label_text(sc, 640)), g.labels) << "image " << g.index << " labels";
  }
}
