// ONNX export of a detection model with our own writer over ONNX's protobuf schema (ultralytics 8.3.58
// engine/exporter.py Exporter.export_onnx). LibTorch has no ONNX exporter, so the fused module tree is walked and each
// block is written as the basic ops Ultralytics' traced graph uses (Conv, Sigmoid+Mul for SiLU, Split/Slice, Concat,
// MaxPool, Resize, MatMul/Softmax attention, the DFL conv and the anchor decode). Interface: input `images`
// [B,3,H,W], output `output0` [B,4+nc,A] with the same values as DetectionModel::forward.
//
// The header deliberately exposes no protobuf types, so only yolocpp_io compiles against ONNX's headers.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "yolocpp/nn/model.hpp"

namespace yolocpp::io {

// torch 1.13's newest symbolic opset is 17; Ultralytics picks the second newest (utils/torch_utils.py
// get_latest_opset); ours too.
constexpr int kOnnxDefaultOpset = 16;
constexpr int kOnnxMinOpset = 12;
constexpr int kOnnxMaxOpset = 17;

struct OnnxExportOptions {
  int64_t batch = 1;
  int64_t height = 640, width = 640;  // multiples of the model's largest stride
  std::optional<int> opset;           // none = kOnnxDefaultOpset (and `None` in the args metadata)
  bool dynamic = false;               // symbolic batch/height/width; anchors computed in the graph
  bool half = false;                  // float16 weights, input and output (Ultralytics' FP16 graph)
  std::string data;                   // training data of the model, for the description metadata
  std::string date;                   // metadata date; empty = now (ISO 8601 local, microseconds)

  int effective_opset() const { return opset.value_or(kOnnxDefaultOpset); }
};

struct OnnxExportResult {
  std::string path;
  int64_t bytes = 0;
  int opset = 0;
  int64_t nodes = 0, initializers = 0;
  // Shapes with -1 for symbolic axes (dynamic export).
  std::vector<int64_t> input_shape, output_shape;
};

// The metadata_props in Ultralytics' key order and Python str() formats (ultralytics 8.3.58 engine/exporter.py
// Exporter.__call__).
std::vector<std::pair<std::string, std::string>> onnx_metadata(const nn::DetectionModelImpl& model,
                                                               const OnnxExportOptions& opt);

// Serialized ModelProto. Fuses Conv+BN in `model` first (idempotent, as any inference does) and runs in
// eval mode; the model's weights are otherwise untouched. Throws ConfigError for bad options and
// ModelError for a module the writer does not know.
std::string onnx_model_bytes(nn::DetectionModelImpl& model, const OnnxExportOptions& opt,
                             OnnxExportResult* info = nullptr);

// Writes the model to `path` atomically (temporary file + rename) and describes what was written.
OnnxExportResult export_onnx(nn::DetectionModelImpl& model, const std::string& path, const OnnxExportOptions& opt);

// Python repr() of a string (single quotes unless the text holds one and no double quote), used for the
// names metadata that Ultralytics' loader parses back with a Python literal parser.
std::string py_repr(const std::string& s);

}  // namespace yolocpp::io
