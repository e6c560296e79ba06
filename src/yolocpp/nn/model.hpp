// YOLO11 / YOLOv8 detection model built from an Ultralytics-format model yaml (ultralytics 8.3.58 nn/tasks.py
// DetectionModel, parse_model). Parameter and buffer names equal Ultralytics' state-dict keys ("model.<i>.<...>"), so a
// .pt import or a safetensors dump loads by name.
#pragma once
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>
#include <vector>

#include "yolocpp/nn/block.hpp"
#include "yolocpp/nn/conv.hpp"
#include "yolocpp/nn/head.hpp"

namespace yolocpp::nn {

// One row of the `info` layer table.
struct LayerInfo {
  int index = 0;
  std::vector<int> from;  // as written in the yaml (-1 = previous layer)
  int n = 1;              // repeats after depth scaling
  int64_t params = 0;
  std::string type;       // "Conv", "C3k2", "nn.Upsample", "Concat", "Detect", ...
  std::string args;       // scaled constructor arguments in Python notation, e.g. "[3, 16, 3, 2]"
};

// Resolves a model name or path to its yaml dict. "yolo11s.yaml" -> built-in cfg/models/yolo11.yaml with
// scale "s"; an existing file path is read as is (scale from a "scale" key or from the file name).
// Adds "scale" (when the yaml has scales) and "yaml_file". Throws ModelError naming the problem.
YAML::Node load_model_yaml(const std::string& name_or_path);

class DetectionModelImpl : public torch::nn::Module {
 public:
  DetectionModelImpl(const YAML::Node& yaml, int nc = -1 /* -1: yaml's nc */, int ch = 3);

  // Detect's inference path. One-to-many (YOLO11, or YOLO26 with end2end off): decoded [B, 4+nc, N], xywh in
  // input pixels and sigmoid scores, for NMS. End-to-end (YOLO26): [B, k, 6] rows (x1, y1, x2, y2, score,
  // class) from the one-to-one head by top-k, k = min(max_det, N), no NMS.
  torch::Tensor forward(torch::Tensor x);
  // Per level [B, 4*reg_max+nc, H, W] of the one-to-many head, in whatever train/eval mode the model is in.
  std::vector<torch::Tensor> forward_raw(torch::Tensor x);
  // Both heads from one backbone/neck pass: one-to-many (empty once fuse() dropped it) and one-to-one (empty
  // without an end-to-end head; computed on detached features).
  struct HeadMaps {
    std::vector<torch::Tensor> one2many, one2one;
  };
  HeadMaps forward_heads(torch::Tensor x);
  // Whether forward() takes the end-to-end path (a one-to-one head exists and end2end is on).
  bool end2end() const { return detect_->has_one2one() && detect_->end2end; }
  // end2end=False/True override (predict/val/export); true needs a one-to-one head.
  void set_end2end(bool on);
  // Every layer's output (index = layer), for locating a divergence; the Detect entry is the decoded
  // output in eval mode and the P3 raw map in train mode.
  std::vector<torch::Tensor> forward_layers(torch::Tensor x);
  // The Detect inference path on raw maps; anchors are cached per input shape.
  torch::Tensor decode(const std::vector<torch::Tensor>& raw);
  // Conv+BN fusion in place (utils/torch_utils.py fuse_conv_and_bn); idempotent. While end2end is on it also drops the one-to-many head, as
  // Ultralytics' Detect.fuse() does.
  void fuse();
  bool is_fused() const { return fused_; }

  int nc() const { return nc_; }
  int reg_max() const { return static_cast<int>(detect_->reg_max); }
  torch::Tensor stride() const { return stride_; }  // float [3] = 8, 16, 32
  const YAML::Node& yaml() const { return yaml_; }
  Detect detect() const { return detect_; }
  std::vector<std::string> names;  // defaults "0".."nc-1"

  std::vector<LayerInfo> layers() const;
  // Ultralytics' counts: modules (distinct module objects incl. the root, one shared SiLU, one Identity
  // per activation-free Conv), parameter elements, and those that require grad.
  int64_t module_count() const;
  int64_t num_params() const;
  int64_t num_gradients() const;
  // GFLOPs (2 * MACs / 1e9) at an input of h x w, counting convs, BatchNorm and upsampling as Ultralytics'
  // profiler does (utils/torch_utils.py get_flops). Runs one eval forward at the largest stride and scales by area
  // (exact for sizes that are multiples of the largest stride, as every counted term is per output pixel).
  double gflops(int64_t h = 640, int64_t w = 640);

 private:
  enum class Kind { Block, Concat, Detect };
  struct Layer {
    Kind kind;
    std::vector<int> from;  // absolute indices, -1 = previous layer's output
    std::vector<int> from_yaml;
    int n;
    std::string type, args;
    std::shared_ptr<BlockImpl> block;
    std::shared_ptr<ConcatImpl> concat;
  };
  void build(int ch);
  // The Detect inputs (neck outputs); `all` gets every earlier layer's output.
  std::vector<torch::Tensor> features(torch::Tensor x, std::vector<torch::Tensor>* all);
  void set_profiling(bool on);
  double profiled_macs() const;

  YAML::Node yaml_;
  int nc_ = 0;
  int ch_ = 3;
  bool fused_ = false;
  torch::nn::ModuleList model_{nullptr};
  std::vector<Layer> layers_;
  std::vector<bool> save_;
  Detect detect_{nullptr};
  torch::Tensor stride_;
};
TORCH_MODULE(DetectionModel);

DetectionModel build_model(const std::string& name_or_path, int nc = -1);

// "YOLO11n" from the yaml_file "yolo11n.yaml" (as Ultralytics names models in its summary line).
std::string model_display_name(const DetectionModelImpl& model);
// The `info` layer table (one header line, one line per layer).
std::string layer_table(const DetectionModelImpl& model);
// "YOLO11n summary: 319 layers, 2,624,080 parameters, 2,624,064 gradients, 6.6 GFLOPs"
// GFLOPs at h x w (w < 0: square).
std::string summary_line(DetectionModelImpl& model, int64_t h = 640, int64_t w = -1);

}  // namespace yolocpp::nn
