// Settings that yolocpp accepts (they are Ultralytics' names, so users' scripts keep working) but does not act
// on: each one set away from its default gets one warning line saying so, instead of being dropped silently.
#include <utility>
#include <vector>

#include "cli/modes.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cli {

namespace {

const std::vector<std::pair<const char*, const char*>>& ignored() {
  static const std::vector<std::pair<const char*, const char*>> k = {
      {"save_crop", "save_crop is not supported yet; ignored (save_txt=True gives the boxes to crop)"},
      {"augment", "augment (test-time augmentation) is not supported yet; ignored"},
      {"show", "show is not supported (yolocpp opens no windows); ignored: save=True writes the annotated images"},
      {"visualize", "visualize (feature-map images) is not supported yet; ignored"},
      {"embed", "embed (feature vectors) is not supported yet; ignored"},
      {"stream_buffer", "stream_buffer is not supported (no stream sources); ignored"},
      {"dnn", "dnn is ignored: a .onnx model always runs on OpenCV DNN"},
      {"nms", "nms=True is not supported yet; ignored: the exported ONNX has no NMS (run NMS on output0, as "
              "yolocpp's Detector does)"},
      {"int8", "int8 quantization is not supported yet; ignored"},
      {"optimize", "optimize is a TorchScript setting and yolocpp exports ONNX only; ignored"},
      {"workspace", "workspace is a TensorRT setting and yolocpp exports ONNX only; ignored"},
      {"profile", "profile (export speed profiling during training) is not supported yet; ignored"},
      {"multi_scale", "multi_scale is not supported yet; ignored (training uses imgsz)"},
      {"copy_paste", "copy_paste is a segmentation augmentation; ignored for detection"},
      {"copy_paste_mode", "copy_paste_mode is a segmentation setting; ignored for detection"},
  };
  return k;
}

}  // namespace

void warn_ignored_settings(const Settings& s) {
  const Settings d = Settings::defaults();
  for (const auto& [key, why] : ignored())
    if (s.was_set(key) && s.str(key) != d.str(key)) log::warn("{}", why);
}

}  // namespace yolocpp::cli
