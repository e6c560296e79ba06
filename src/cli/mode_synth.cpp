// `yolocpp synth out=DIR images=N seed=S imgsz=K val_fraction=F`: writes the synthetic isometric dataset.
#include <cstdio>

#include <fmt/format.h>

#include "cli/modes.hpp"
#include "yolocpp/data/synth.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::cli {

namespace {
// Keys are read only when the settings know them, so this mode keeps working with an older defaults file.
bool given(const Settings& s, const char* key) { return s.has(key) && !s.is_none(key); }
}  // namespace

int run_synth(const Settings& s) {
  data::SynthOptions opt;
  if (!given(s, "out"))
    throw ConfigError("synth needs an output folder: pass out=DIR (e.g. yolocpp synth out=datasets/demo)");
  opt.out = s.str("out");
  if (given(s, "images")) opt.images = static_cast<int>(s.integer("images"));
  if (given(s, "seed")) opt.seed = static_cast<uint64_t>(s.integer("seed"));
  if (given(s, "imgsz")) {
    auto sz = s.int_list("imgsz");
    if (sz.size() > 1 && sz[0] != sz[1])
      throw ConfigError("synth makes square images: pass one size, e.g. imgsz=640 (got imgsz=" + s.str("imgsz") + ")");
    if (!sz.empty()) opt.imgsz = static_cast<int>(sz[0]);
  }
  if (given(s, "val_fraction")) opt.val_fraction = s.number("val_fraction");

  data::SynthStats st;
  auto yaml = data::generate_synth(opt, &st);
  std::printf("synth: wrote %d images (%d train, %d val) of %dx%d px in %.2f s\n", st.train_images + st.val_images,
              st.train_images, st.val_images, opt.imgsz, opt.imgsz, st.seconds);
  std::printf("%-10s %8s %8s\n", "class", "train", "val");
  int tt = 0, tv = 0;
  for (int c = 0; c < data::kSynthClasses; ++c) {
    std::printf("%-10s %8d %8d\n", data::kSynthNames[c], st.train_boxes[c], st.val_boxes[c]);
    tt += st.train_boxes[c];
    tv += st.val_boxes[c];
  }
  std::printf("%-10s %8d %8d\n", "all", tt, tv);
  std::printf("dataset: %s\n", yaml.string().c_str());
  return 0;
}

}  // namespace yolocpp::cli
