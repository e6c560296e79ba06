// yolocpp::Detector — the C++ API an application (a game agent, a robot, a service) uses to run a trained
// YOLO detector: load once, call detect() per frame. Small and stable on purpose: only OpenCV and the
// standard library appear here, so an application does not compile against LibTorch or yaml-cpp.
//
//   yolocpp::Detector det("best.pt");                 // or "best.onnx"
//   for (const auto& d : det.detect(frame)) draw(d.box, d.name, d.conf);
//
// Results match Ultralytics' `YOLO(model).predict(frame)` (ultralytics 8.3.58 engine/predictor.py): letterbox, fused
// model, NMS with one class per box, boxes in the pixels of the frame you passed.
//
// Thread safety: every member function may be called from any thread; detect() calls on one Detector are
// serialised by an internal mutex. For parallel throughput, create one Detector per thread (they share no
// state).
//
// Errors: the constructor throws yolocpp::ModelError for a missing, unreadable or corrupt model file and
// yolocpp::ConfigError for bad options; detect() throws yolocpp::DataError for an empty image. All derive
// from yolocpp::Error (a std::runtime_error), declared in yolocpp/error.hpp. Log lines go through the sink
// of yolocpp/log.hpp (the console by default).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "yolocpp/error.hpp"

namespace yolocpp {

struct Detection {
  cv::Rect2f box;    // x, y, width, height in pixels of the image passed to detect()
  float conf = 0.f;  // class confidence (sigmoid score)
  int cls = 0;       // class index
  std::string name;  // class name from the model (names of the training dataset)
};

struct DetectorOptions {
  float conf = 0.25f;        // keep boxes scoring above this
  float iou = 0.7f;          // NMS IoU threshold
  int imgsz = 640;           // network input size (long side); exported models use their own fixed size
  int max_det = 300;         // at most this many boxes per image
  std::string device = "cpu";  // "cpu", "0" / "cuda:0", "" = the first CUDA device if any (LibTorch backend only)
  enum class Backend { Auto, LibTorch, OpenCvDnn } backend = Backend::Auto;  // Auto: by file suffix
  bool agnostic = false;     // NMS across classes
  std::vector<int> classes;  // keep only these class indices (empty: all)
  bool half = false;         // FP16 (CUDA + LibTorch only; ignored with a warning elsewhere)
};

class Detector {
 public:
  // `.pt` (yolocpp or Ultralytics checkpoint) -> LibTorch backend, Conv+BN fused; `.onnx` -> OpenCV DNN
  // backend, class names from the ONNX metadata.
  explicit Detector(const std::string& model_path, DetectorOptions options = {});
  ~Detector();
  Detector(Detector&&) noexcept;
  Detector& operator=(Detector&&) noexcept;
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  // One BGR image (as cv::imread / a camera gives; gray and BGRA are converted). Sorted by confidence.
  std::vector<Detection> detect(const cv::Mat& bgr);
  // Several images in one batch; result i belongs to image i.
  std::vector<std::vector<Detection>> detect(const std::vector<cv::Mat>& bgr);

  const std::vector<std::string>& names() const;  // class index -> name
  int imgsz() const;                               // the network input size actually used (long side)
  std::string backend_name() const;                // e.g. "LibTorch (cpu, fp32)", "OpenCV DNN (cpu)"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace yolocpp
