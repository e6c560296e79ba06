#include "yolocpp/predict/detector.hpp"

#include <algorithm>
#include <mutex>

namespace yolocpp {

namespace engine {

std::vector<Detection> to_detections(const torch::Tensor& boxes, const std::vector<std::string>& names) {
  std::vector<Detection> out;
  if (!boxes.defined() || boxes.numel() == 0) return out;
  auto b = boxes.to(torch::kCPU, torch::kFloat32).contiguous();
  const float* p = b.data_ptr<float>();
  const int64_t n = b.size(0), stride = b.size(1);
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i, p += stride) {
    Detection d;
    d.box = cv::Rect2f(p[0], p[1], p[2] - p[0], p[3] - p[1]);
    d.conf = p[4];
    d.cls = static_cast<int>(p[5]);
    if (d.cls >= 0 && d.cls < static_cast<int>(names.size())) d.name = names[d.cls];
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace engine

struct Detector::Impl {
  std::unique_ptr<engine::Predictor> predictor;
  std::mutex mu;  // a backend (LibTorch module with cached anchors, cv::dnn::Net) is not re-entrant
};

namespace {

engine::BackendKind kind_of(DetectorOptions::Backend b) {
  switch (b) {
    case DetectorOptions::Backend::LibTorch: return engine::BackendKind::LibTorch;
    case DetectorOptions::Backend::OpenCvDnn: return engine::BackendKind::OpenCvDnn;
    default: return engine::BackendKind::Auto;
  }
}

}  // namespace

Detector::Detector(const std::string& model_path, DetectorOptions o) : impl_(std::make_unique<Impl>()) {
  engine::PredictOptions po;
  po.conf = o.conf;
  po.iou = o.iou;
  po.imgsz = {o.imgsz, o.imgsz};
  po.max_det = o.max_det;
  po.agnostic = o.agnostic;
  for (int c : o.classes) po.classes.push_back(c);
  impl_->predictor = std::make_unique<engine::Predictor>(
      engine::make_backend(model_path, kind_of(o.backend), o.device, o.half), po);
}

Detector::~Detector() = default;
Detector::Detector(Detector&&) noexcept = default;
Detector& Detector::operator=(Detector&&) noexcept = default;

std::vector<Detection> Detector::detect(const cv::Mat& bgr) {
  if (bgr.empty()) throw DataError("Detector::detect: the image is empty (check that cv::imread found the file)");
  return std::move(detect(std::vector<cv::Mat>{bgr})[0]);
}

std::vector<std::vector<Detection>> Detector::detect(const std::vector<cv::Mat>& bgr) {
  for (size_t i = 0; i < bgr.size(); ++i)
    if (bgr[i].empty())
      throw DataError("Detector::detect: image " + std::to_string(i) + " of the batch is empty (a failed cv::imread?)");
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto preds = impl_->predictor->predict(bgr);
  std::vector<std::vector<Detection>> out;
  out.reserve(preds.size());
  for (const auto& p : preds) out.push_back(engine::to_detections(p.boxes, impl_->predictor->names()));
  return out;
}

const std::vector<std::string>& Detector::names() const { return impl_->predictor->names(); }

int Detector::imgsz() const {
  const auto s = impl_->predictor->imgsz();
  return static_cast<int>(std::max(s[0], s[1]));
}

std::string Detector::backend_name() const { return impl_->predictor->backend().description(); }

}  // namespace yolocpp
