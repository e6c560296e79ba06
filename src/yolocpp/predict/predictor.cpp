#include "yolocpp/predict/predictor.hpp"

#include <cctype>
#include <chrono>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "yolocpp/data/augment/letterbox.hpp"
#include "yolocpp/predict/backend_ocv.hpp"
#include "yolocpp/predict/backend_torch.hpp"
#include "yolocpp/metrics/boxes.hpp"
#include "yolocpp/metrics/nms.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::engine {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Callers hand us whatever cv::imread or a camera gave; the network wants 3-channel BGR uint8.
cv::Mat as_bgr8(const cv::Mat& im, size_t index) {
  if (im.empty()) throw DataError(fmt::format("predict: image {} is empty (a failed imread or an empty frame?)", index));
  cv::Mat m = im;
  if (m.depth() != CV_8U) {
    if (m.depth() == CV_16U) {
      m.convertTo(m, CV_8U, 1.0 / 256.0);
    } else {
      throw DataError(fmt::format("predict: image {} has OpenCV depth {}; pass 8-bit BGR images", index, m.depth()));
    }
  }
  if (m.channels() == 1) cv::cvtColor(m, m, cv::COLOR_GRAY2BGR);
  else if (m.channels() == 4) cv::cvtColor(m, m, cv::COLOR_BGRA2BGR);
  else if (m.channels() != 3)
    throw DataError(fmt::format("predict: image {} has {} channels; pass 1, 3 or 4 channel images", index, m.channels()));
  return m;
}

std::string lower_ext(const std::string& path) {
  const auto dot = path.find_last_of('.');
  std::string e = dot == std::string::npos ? "" : path.substr(dot);
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

}  // namespace

std::unique_ptr<Backend> make_backend(const std::string& model_path, BackendKind kind, const std::string& device,
                                      bool half) {
  if (kind == BackendKind::Auto) {
    const std::string e = lower_ext(model_path);
    if (e == ".onnx") kind = BackendKind::OpenCvDnn;
    else if (e == ".pt" || e == ".pth" || e == ".yolocpp" || e == ".ckpt") kind = BackendKind::LibTorch;
    else
      throw ModelError("model '" + model_path + "': unknown model format '" + e +
                       "'; pass a .pt checkpoint (LibTorch) or an exported .onnx (OpenCV DNN)");
  }
  if (kind == BackendKind::OpenCvDnn) {
    if (half) log::warn("half=True is not supported by the OpenCV DNN backend; running FP32");
    return std::make_unique<OpenCvBackend>(model_path, device);
  }
  return std::make_unique<TorchBackend>(model_path, device, half);
}

Shape2 check_imgsz(Shape2 imgsz, int stride) {
  Shape2 out = imgsz;
  for (auto& v : out) {
    if (v <= 0) throw ConfigError(fmt::format("imgsz={} must be positive (e.g. imgsz=640)", v));
    v = std::max<int64_t>(((v + stride - 1) / stride) * stride, stride);
  }
  if (out != imgsz)
    log::warn("imgsz=[{}, {}] must be a multiple of max stride {}, updating to [{}, {}]", imgsz[0], imgsz[1], stride,
              out[0], out[1]);
  return out;
}

Predictor::Predictor(std::unique_ptr<Backend> backend, PredictOptions opt) : backend_(std::move(backend)), opt_(std::move(opt)) {
  if (!backend_) throw ModelError("Predictor: no backend");
  if (auto fixed = backend_->fixed_shape()) {
    // An exported graph only runs at its own shape: imgsz follows the file, as Ultralytics' AutoBackend does.
    if (*fixed != opt_.imgsz && opt_.imgsz != Shape2{640, 640})
      log::warn("the model has a fixed input of {}x{}; imgsz=[{}, {}] is ignored", (*fixed)[0], (*fixed)[1],
                opt_.imgsz[0], opt_.imgsz[1]);
    opt_.imgsz = *fixed;
  } else {
    opt_.imgsz = check_imgsz(opt_.imgsz, backend_->stride());
  }
  if (opt_.conf < 0 || opt_.conf > 1) throw ConfigError(fmt::format("conf={} must be in [0, 1]", opt_.conf));
  if (opt_.iou < 0 || opt_.iou > 1) throw ConfigError(fmt::format("iou={} must be in [0, 1]", opt_.iou));
  if (opt_.max_det < 1) throw ConfigError(fmt::format("max_det={} must be at least 1", opt_.max_det));
}

torch::Tensor Predictor::preprocess(const std::vector<cv::Mat>& images) const {
  if (images.empty()) throw DataError("predict: no images given");
  std::vector<cv::Mat> bgr;
  bgr.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) bgr.push_back(as_bgr8(images[i], i));
  bool same_shape = true;
  for (const auto& m : bgr) same_shape = same_shape && m.size() == bgr[0].size();
  augment::LetterboxOptions lo;
  lo.auto_stride = same_shape && backend_->is_pytorch() && !backend_->fixed_shape();
  lo.stride = backend_->stride();
  std::vector<torch::Tensor> ts;
  ts.reserve(bgr.size());
  for (const auto& m : bgr) {
    auto lb = augment::letterbox(m, static_cast<int>(opt_.imgsz[0]), static_cast<int>(opt_.imgsz[1]), lo);
    cv::Mat c = lb.img.isContinuous() ? lb.img : lb.img.clone();
    auto hwc = torch::from_blob(c.data, {c.rows, c.cols, 3}, torch::kUInt8);
    // BGR -> RGB by reversing the channel axis, HWC -> CHW; float32 u8/255 like Ultralytics' preprocess.
    ts.push_back(hwc.flip({2}).permute({2, 0, 1}).to(torch::kFloat32).div_(255.0f));
  }
  return torch::stack(ts).contiguous();
}

std::vector<Prediction> Predictor::predict(const std::vector<cv::Mat>& images) {
  if (images.empty()) return {};
  const int mb = backend_->max_batch();
  if (mb <= 0 || static_cast<int>(images.size()) <= mb) return run_batch(images);
  std::vector<Prediction> out;
  for (size_t i = 0; i < images.size(); i += mb) {
    std::vector<cv::Mat> part(images.begin() + i, images.begin() + std::min(images.size(), i + mb));
    auto r = run_batch(part);
    for (auto& p : r) out.push_back(std::move(p));
  }
  return out;
}

std::vector<Prediction> Predictor::run_batch(const std::vector<cv::Mat>& images) {
  torch::NoGradGuard ng;
  auto t0 = Clock::now();
  torch::Tensor x = preprocess(images);
  speed_.preprocess += ms_since(t0);

  t0 = Clock::now();
  torch::Tensor y = backend_->forward(x);
  speed_.inference += ms_since(t0);

  t0 = Clock::now();
  metrics::NmsOptions no;
  no.conf = opt_.conf;
  no.iou = opt_.iou;
  no.max_det = opt_.max_det;
  no.classes = opt_.classes;
  no.agnostic = opt_.agnostic;
  no.multi_label = false;
  no.max_time_img = 0;  // predict has no reason to drop images on a slow machine
  auto dets = metrics::non_max_suppression(y, no);
  const Shape2 in_hw{x.size(2), x.size(3)};
  last_input_hw_ = in_hw;
  std::vector<Prediction> out;
  out.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    Prediction p;
    p.orig_hw = {images[i].rows, images[i].cols};
    p.input_hw = in_hw;
    p.boxes = dets[i].numel() ? metrics::scale_boxes(in_hw, dets[i], p.orig_hw) : dets[i];
    out.push_back(std::move(p));
  }
  speed_.postprocess += ms_since(t0);
  speed_.images += static_cast<int64_t>(images.size());
  return out;
}

std::string count_summary(const torch::Tensor& boxes, const std::vector<std::string>& names) {
  if (!boxes.defined() || boxes.size(0) == 0) return "(no detections)";
  auto cls = boxes.select(1, 5).to(torch::kInt64);
  auto uniq = std::get<0>(torch::_unique(cls, /*sorted=*/true));
  std::string s;
  for (int64_t i = 0; i < uniq.size(0); ++i) {
    const int64_t c = uniq[i].item<int64_t>();
    const int64_t n = cls.eq(c).sum().item<int64_t>();
    const std::string name = c >= 0 && c < static_cast<int64_t>(names.size()) ? names[c] : std::to_string(c);
    if (!s.empty()) s += ", ";
    s += fmt::format("{} {}{}", n, name, n > 1 ? "s" : "");
  }
  return s;
}

}  // namespace yolocpp::engine
