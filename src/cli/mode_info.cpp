// `yolocpp info model=yolo11n.yaml [imgsz=640]`: the layer table and Ultralytics' summary line.
#include <cstdio>
#include <string>

#include "cli/modes.hpp"
#include "yolocpp/io/model_io.hpp"
#include "yolocpp/io/weights.hpp"
#include "yolocpp/nn/model.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::cli {

int run_info(const Settings& s) {
  const std::string model = s.str("model");
  if (model.empty()) throw ConfigError("info needs a model: yolocpp info model=yolo11n.yaml");
  auto ends_with = [&](const char* suf) {
    const std::string t(suf);
    return model.size() >= t.size() && model.compare(model.size() - t.size(), t.size(), t) == 0;
  };
  const bool weights = ends_with(".pt");
  const auto sizes = s.int_list("imgsz");
  if (sizes.empty() || sizes.size() > 2) throw ConfigError("imgsz must be one size or [h, w], got " + s.str("imgsz"));
  const int64_t h = sizes[0], w = sizes.size() == 2 ? sizes[1] : sizes[0];
  if (h <= 0 || w <= 0 || h % 32 != 0 || w % 32 != 0)
    throw ConfigError("imgsz=" + s.str("imgsz") + ": info needs sizes that are multiples of 32 (e.g. 640)");

  // Weights (ours or Ultralytics', downloaded when a known asset name is not on disk) or a model yaml.
  auto m = weights ? io::load_model(io::resolve_weights(model)) : nn::build_model(model);
  std::fputs(nn::layer_table(*m).c_str(), stdout);
  std::string line = nn::summary_line(*m, h, w);
  // The default line implies 640x640; name any other size so the GFLOPs are not misread.
  if (h != 640 || w != 640) line += " at imgsz " + std::to_string(h) + "x" + std::to_string(w);
  std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace yolocpp::cli
