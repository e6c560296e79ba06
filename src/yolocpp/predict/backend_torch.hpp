// LibTorch backend: a .pt (ours or Ultralytics') loaded into nn::DetectionModel, Conv+BN fused, eval mode,
// FP32 (FP16 on CUDA when half=true), as Ultralytics' AutoBackend prepares a PyTorch model for predict.
#pragma once
#include "yolocpp/predict/predictor.hpp"
#include "yolocpp/nn/model.hpp"

namespace yolocpp::engine {

class TorchBackend : public Backend {
 public:
  TorchBackend(const std::string& path, const std::string& device = "cpu", bool half = false);
  // Wraps an already-built model (the trainer's or a test's); fuses it in place.
  TorchBackend(nn::DetectionModel model, const std::string& device = "cpu", bool half = false);

  torch::Tensor forward(const torch::Tensor& x) override;
  const std::vector<std::string>& names() const override { return names_; }
  int stride() const override { return stride_; }
  bool is_pytorch() const override { return true; }
  std::string description() const override;
  nn::DetectionModel& model() { return model_; }

 private:
  void prepare(const std::string& device, bool half);

  nn::DetectionModel model_{nullptr};
  torch::Device device_{torch::kCPU};
  bool half_ = false;
  int stride_ = 32;
  std::vector<std::string> names_;
};

}  // namespace yolocpp::engine
