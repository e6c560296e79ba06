// The trainer's step, reproduced for the benchmarks (bench_gpu_train, bench_cpu_epoch) so that "bare compute"
// and "whole loop" run the very same step and their ratio is the loop's overhead alone: forward (train mode),
// loss in fp32, backward, and every `accumulate` iterations gradient clipping (10.0), the optimizer step and the
// EMA update, as train/trainer.cpp does after warmup. CUDA adds what the trainer adds there: AMP fp16 with
// dynamic loss scaling kept on the device (or bf16), channels_last weights and inputs, pinned non_blocking
// copies. CPU keeps NCHW and fp32, as the trainer does.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <vector>

#include "yolocpp/data/loader/batch.hpp"
#include "yolocpp/train/ema.hpp"
#include "yolocpp/loss/detection_loss.hpp"
#include "yolocpp/train/optim.hpp"
#include "yolocpp/train/schedule.hpp"
#include "yolocpp/nn/model.hpp"
#include "yolocpp/util/torch_compat.hpp"

namespace yolocpp::bench {

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline void sync(torch::Device dev) {
  if (dev.is_cuda()) torch::cuda::synchronize(dev.index());
}

struct Rig {
  torch::Device dev;
  bool amp, bf16;
  int nc;
  int accumulate;  // optimizer step (+ clip + EMA) every this many iterations
  nn::DetectionModel model;
  engine::ParamGroups groups;
  std::unique_ptr<torch::optim::Optimizer> opt;
  loss::DetectionLoss criterion;
  std::unique_ptr<engine::ModelEMA> ema;
  std::vector<torch::Tensor> params;
  engine::GradScaler scaler;  // the trainer's: state on the device, one host read per optimizer step
  torch::Tensor last_loss;
  int64_t iterations = 0, optimizer_steps = 0;

  static loss::LossHyp hyp(int nc) {
    loss::LossHyp h;
    h.nc = nc;
    return h;
  }
  // batch: the trainer's accumulate = round(nbs / batch) with nbs = 64 (after warmup) comes from it.
  Rig(torch::Device d, bool amp_, bool bf16_, int nc_, int batch, bool use_ema = true)
      : dev(d), amp(amp_), bf16(bf16_), nc(nc_), accumulate(engine::accumulate_steps(64, batch)),
        model(nn::build_model("yolo11n.yaml", nc_)), groups(engine::split_param_groups(*model)),
        opt(engine::make_optimizer(engine::choose_optimizer("SGD", 0.01, 0.937, nc_, 0, batch, 64, 1), groups,
                                   engine::scaled_weight_decay(0.0005, batch, accumulate, 64))),
        criterion(hyp(nc_)),
        scaler(amp_ && d.is_cuda() && !bf16_) {  // bf16 has fp32's range: no scaling needed
    model->to(dev);
    model->train();
    torch::NoGradGuard ng;
    for (auto& p : model->parameters()) {
      // channels_last on CUDA only (cuDNN's fastest tensor-core kernels take NHWC); the CPU trainer keeps NCHW.
      if (dev.is_cuda() && p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
      if (p.requires_grad()) params.push_back(p);
    }
    if (use_ema) ema = std::make_unique<engine::ModelEMA>(model);
  }

  void step(const torch::Tensor& img, const loss::Targets& t) {
    std::vector<torch::Tensor> preds;
    {
      compat::AutocastGuard autocast(dev.type(), bf16 || !dev.is_cuda() ? at::kBFloat16 : at::kHalf, amp);
      preds = model->forward_raw(img);
    }
    for (auto& p : preds) p = p.to(torch::kFloat);  // loss and assigner in fp32 (spec)
    auto out = criterion(preds, t, std::array<int64_t, 2>{img.size(2), img.size(3)});
    last_loss = out.total.detach();
    // The CPU trainer reads the loss items every iteration for its progress bar; CUDA every 10 (caller).
    if (!dev.is_cuda()) (void)out.items.to(torch::kCPU, torch::kFloat64)[0].item<double>();
    scaler.scale(out.total).backward();
    if (++iterations % accumulate != 0) return;
    // As the trainer's optimizer_step: unscale, sync-free clip, step unless a gradient overflowed, update.
    scaler.unscale_(params);
    engine::clip_grad_norm(params, 10.0);
    if (scaler.grads_finite()) opt->step();
    scaler.update();
    opt->zero_grad();
    if (ema) ema->update(model);
    ++optimizer_steps;
  }
};

inline loss::Targets to_dev(const engine::Batch& b, torch::Device dev) {
  return {b.batch_idx.to(dev, true), b.cls.to(dev, true), b.bboxes.to(dev, true)};
}

inline torch::Tensor img_to_dev(const torch::Tensor& img, torch::Device dev) {
  torch::Tensor x = img;
  if (dev.is_cuda()) x = x.pin_memory().to(dev, /*non_blocking=*/true);
  x = engine::uint8_images_to_float(x);  // the trainer's conversion (true division on the device)
  return dev.is_cuda() ? x.contiguous(torch::MemoryFormat::ChannelsLast) : x;
}

}  // namespace yolocpp::bench
