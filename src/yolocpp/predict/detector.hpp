// The public Detector (include/yolocpp/detector.hpp) is implemented in predict/detector.cpp on top of
// engine::Predictor; this header only converts between the two result types for callers inside yolocpp.
#pragma once
#include "yolocpp/detector.hpp"
#include "yolocpp/predict/predictor.hpp"

namespace yolocpp::engine {

// [n, 6] x1 y1 x2 y2 conf cls rows -> Detections (names looked up, "" past the end of names).
std::vector<Detection> to_detections(const torch::Tensor& boxes, const std::vector<std::string>& names);

}  // namespace yolocpp::engine
