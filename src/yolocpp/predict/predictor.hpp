// The predict pipeline (ultralytics 8.3.58 engine/predictor.py BasePredictor), shared by the C++ Detector API and
// `yolocpp predict`: LetterBox (auto=True for PyTorch models, the graph's fixed shape for exported ones) -> BGR->RGB,
// CHW, /255 -> backend forward (decoded [B, 4+nc, A]) -> NMS (multi_label=False) -> boxes scaled back to the
// original image and clipped. Backends only differ in how they run the network.
#pragma once
#include <torch/torch.h>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace yolocpp::engine {

// (h, w)
using Shape2 = std::array<int64_t, 2>;

// Runs the network. Implementations: backend_torch (.pt), backend_ocv (.onnx through OpenCV DNN).
class Backend {
 public:
  virtual ~Backend() = default;
  // float32 [B,3,H,W] RGB in [0,1] (CPU) -> decoded float32 [B, 4+nc, A] on the CPU (xywh input pixels, scores).
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  virtual const std::vector<std::string>& names() const = 0;
  virtual int stride() const = 0;
  // The (h, w) an exported graph was built for; nullopt when any multiple of stride() works.
  virtual std::optional<Shape2> fixed_shape() const { return std::nullopt; }
  // Largest batch one forward accepts (0: any). Fixed-shape graphs take 1.
  virtual int max_batch() const { return 0; }
  // The letterbox `auto` (minimum rectangle) applies to PyTorch models only (BasePredictor.pre_transform).
  virtual bool is_pytorch() const = 0;
  virtual std::string description() const = 0;  // "LibTorch (cpu, fp32)", "OpenCV DNN (cpu)"
};

// Picks the backend from the file suffix (.pt/.pth/.yolocpp -> LibTorch, .onnx -> OpenCV DNN) unless forced.
enum class BackendKind { Auto, LibTorch, OpenCvDnn };
std::unique_ptr<Backend> make_backend(const std::string& model_path, BackendKind kind = BackendKind::Auto,
                                      const std::string& device = "cpu", bool half = false);

struct PredictOptions {
  double conf = 0.25;
  double iou = 0.7;
  Shape2 imgsz{640, 640};  // rounded up to multiples of the stride by Predictor
  int max_det = 300;
  std::vector<int64_t> classes;  // empty = all
  bool agnostic = false;
};

// One image's result: rows x1, y1, x2, y2, conf, cls in original-image pixels, by descending confidence.
struct Prediction {
  torch::Tensor boxes;  // float32 [n, 6] CPU
  Shape2 orig_hw{0, 0};
  Shape2 input_hw{0, 0};  // the letterboxed network input of this image
};

// Accumulated milliseconds (divide by `images` for per-image numbers).
struct PredictSpeed {
  double preprocess = 0, inference = 0, postprocess = 0;
  int64_t images = 0;
};

class Predictor {
 public:
  Predictor(std::unique_ptr<Backend> backend, PredictOptions opt = {});

  // BGR (or gray / BGRA, converted) uint8 images. Images of one call are batched together when they share a
  // shape (letterbox auto), else letterboxed to the full square imgsz as Ultralytics does for mixed batches.
  // Throws DataError for an empty image.
  std::vector<Prediction> predict(const std::vector<cv::Mat>& images);

  // The network input this predictor builds for the images (exposed for parity tests): [B,3,H,W] float32.
  torch::Tensor preprocess(const std::vector<cv::Mat>& images) const;

  const Backend& backend() const { return *backend_; }
  const PredictOptions& options() const { return opt_; }
  const std::vector<std::string>& names() const { return backend_->names(); }
  Shape2 imgsz() const { return opt_.imgsz; }
  const PredictSpeed& speed() const { return speed_; }
  const Shape2& last_input_hw() const { return last_input_hw_; }

 private:
  std::vector<Prediction> run_batch(const std::vector<cv::Mat>& images);

  std::unique_ptr<Backend> backend_;
  PredictOptions opt_;
  PredictSpeed speed_;
  Shape2 last_input_hw_{0, 0};
};

// Ultralytics' check_imgsz: each side rounded up to a multiple of `stride` (with a warning when changed).
Shape2 check_imgsz(Shape2 imgsz, int stride);

// "4 persons, 1 bus" (plural with a trailing s, as Ultralytics' verbose line), "(no detections)" when empty.
std::string count_summary(const torch::Tensor& boxes, const std::vector<std::string>& names);

}  // namespace yolocpp::engine
