// Synthetic isometric "strategy game" demo dataset: diamond-tiled terrain (grass, dirt, sand, water) with
// sprites of five classes (villager, soldier, house, tree, gold). It gives every user a dataset to train on
// offline in seconds and gives the tests a dataset whose labels are exact by construction.
//
// Determinism: everything is driven by a splitmix64 stream per image and drawn with integer-coordinate
// OpenCV primitives (no anti-aliasing, no libm-dependent math), so the same options give the same pixels on
// any machine. PNG bytes are then a pure function of the pixels for a given zlib (fixed compression level).
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace yolocpp::data {

namespace fs = std::filesystem;

struct SynthOptions {
  fs::path out;               // dataset folder (created); holds dataset.yaml, images/, labels/
  int images = 200;           // total images, split into train and val
  uint64_t seed = 0;
  int imgsz = 640;            // square images, imgsz x imgsz
  double val_fraction = 0.2;  // the last round(images * val_fraction) images form the val split
};

inline constexpr int kSynthClasses = 5;
extern const std::array<const char*, kSynthClasses> kSynthNames;  // villager, soldier, house, tree, gold

struct SynthStats {
  int train_images = 0, val_images = 0;
  std::array<int, kSynthClasses> train_boxes{}, val_boxes{};
  double seconds = 0;
};

// Writes out/images/{train,val}/NNNNNN.png, out/labels/{train,val}/NNNNNN.txt ("cls cx cy w h", normalised,
// 6 decimals) and out/dataset.yaml (path: .). Returns the yaml path. A previous synth output in `out` is
// replaced (including stale label caches); any other non-empty folder is refused with a DataError.
fs::path generate_synth(const SynthOptions& opt, SynthStats* stats = nullptr);

// The default demo dataset (200 images, seed 0, 640 px), generated once into util::cache_dir()/demo-v1
// through a temporary folder and a rename, then reused. Returns its dataset.yaml.
fs::path ensure_demo_dataset();

// ---- Scene level (used by generate_synth; public so tests can check the labels against the pixels) ----

// One placed sprite. (x, y) is the ground contact point ("feet"), which also sets the draw order.
struct SynthSprite {
  int cls = 0;
  int x = 0, y = 0;
  int size = 0;        // characteristic height (figures, trees) or width (houses, gold) in pixels
  uint64_t style = 0;  // colour and shape variation, its own random stream
};

struct SynthObject {
  SynthSprite sprite;
  cv::Rect box;            // tight box of the sprite's full drawn mask, clipped to the image
  double visible = 1.0;    // fraction of the sprite's pixels that are in the image and not hidden
};

struct SynthScene {
  cv::Mat image;                     // CV_8UC3 BGR, the final render
  std::vector<SynthObject> objects;  // back to front (draw order)
};

// Lays out and renders image `index` of a dataset with this seed. `omit` >= 0 leaves that object's sprite
// out of the render (its shadow and every other decision stay the same): the difference between the two
// renders is exactly the object's visible pixels, which is how the tests check that labels are tight.
SynthScene render_synth_scene(uint64_t seed, int index, int imgsz, int omit = -1);

// Draws one sprite alone into `mask` (CV_8U, zero-initialised by the caller, any size): 255 on every pixel
// the sprite paints. Pixel coordinates are shifted by -origin.
void draw_synth_sprite_mask(const SynthSprite& s, cv::Mat& mask, cv::Point origin = {0, 0});

// "cls cx cy w h" lines for the objects of a scene, exactly as written to the label file.
std::string synth_label_text(const SynthScene& scene, int imgsz);

}  // namespace yolocpp::data
