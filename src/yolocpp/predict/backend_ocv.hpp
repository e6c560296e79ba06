// OpenCV DNN backend for exported .onnx models (ours or Ultralytics'). Class names, stride and imgsz come from
// the ONNX metadata_props Ultralytics writes (exporter.py Exporter.__call__, Python literals); the input shape from the
// graph, so a static graph is fed exactly its shape (letterbox auto=False).
#pragma once
#include <map>
#include <memory>

#include "yolocpp/predict/predictor.hpp"

namespace yolocpp::engine {

// What predict needs from an ONNX file without a full protobuf dependency (a small wire-format reader).
struct OnnxInfo {
  std::vector<std::pair<std::string, std::string>> metadata;  // metadata_props in file order
  std::string input_name;
  std::vector<int64_t> input_shape;  // -1 for symbolic dims
  std::string output_name;
  std::vector<int64_t> output_shape;
  const std::string* meta(const std::string& key) const;
};
// Throws ModelError naming the file when it is not an ONNX ModelProto.
OnnxInfo read_onnx_info(const std::string& path);

// Python dict literal of int -> str ("{0: 'person', 1: \"it's\"}") -> names; throws ModelError on bad text.
std::map<int, std::string> parse_names_literal(const std::string& text);

class OpenCvBackend : public Backend {
 public:
  explicit OpenCvBackend(const std::string& path, const std::string& device = "cpu");
  ~OpenCvBackend() override;

  torch::Tensor forward(const torch::Tensor& x) override;
  const std::vector<std::string>& names() const override { return names_; }
  int stride() const override { return stride_; }
  std::optional<Shape2> fixed_shape() const override { return fixed_; }
  int max_batch() const override { return max_batch_; }
  bool is_pytorch() const override { return false; }
  std::string description() const override { return "OpenCV DNN (cpu)"; }
  const OnnxInfo& info() const { return info_; }

 private:
  struct Net;
  std::unique_ptr<Net> net_;
  OnnxInfo info_;
  std::vector<std::string> names_;
  int stride_ = 32;
  std::optional<Shape2> fixed_;
  int max_batch_ = 0;
};

}  // namespace yolocpp::engine
