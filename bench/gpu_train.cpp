// Training throughput of yolo11n on the GPU (issue 7): images/s of the bare step (forward + loss + backward +
// optimizer on one resident batch: the pure compute) and of the whole loop (Loader with mosaic/affine/HSV/flip on
// worker threads, pinned host memory, non_blocking copies, no host sync inside the step) for each batch size,
// AMP fp16 with dynamic loss scaling (or bf16, or fp32), channels_last and cuDNN benchmark mode. The ratio
// loop/bare is the loop's overhead. Without CUDA it runs the same on the CPU (smaller defaults) with a note.
//
// Usage: bench_gpu_train [--data DATA.yaml] [--imgsz 640] [--batches 16,64] [--iters 60] [--amp 1] [--bf16 0]
//                        [--workers 8]
// No --data: a synthetic dataset is generated on the spot (the GPU machine has no ../shared).
#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include "yolocpp/data/dataset.hpp"
#include "yolocpp/data/synth.hpp"
#include "yolocpp/engine/loader.hpp"
#include "yolocpp/engine/loss/detection_loss.hpp"
#include "yolocpp/engine/optim.hpp"
#include "yolocpp/nn/model.hpp"

using namespace yolocpp;
namespace fs = std::filesystem;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Autocast's C++ switch was renamed in PyTorch 2.4 (device-type argument).
void set_autocast(bool on, torch::Device dev, bool bf16) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(dev.type(), on);
  at::autocast::set_autocast_dtype(dev.type(), bf16 ? at::kBFloat16 : (dev.is_cuda() ? at::kHalf : at::kBFloat16));
#else
  if (dev.is_cuda()) {
    at::autocast::set_enabled(on);
    at::autocast::set_autocast_gpu_dtype(bf16 ? at::kBFloat16 : at::kHalf);
  } else {
    at::autocast::set_cpu_enabled(on);
  }
#endif
  if (!on) at::autocast::clear_cache();
}

void sync(torch::Device dev) {
  if (dev.is_cuda()) torch::cuda::synchronize(dev.index());
}

struct Rig {
  torch::Device dev;
  bool amp, bf16;
  int nc;
  nn::DetectionModel model;
  engine::ParamGroups groups;
  std::unique_ptr<torch::optim::Optimizer> opt;
  loss::DetectionLoss criterion;
  std::vector<torch::Tensor> params;
  torch::Tensor scale, growth_tracker, found_inf;  // dynamic loss scaling kept on the device: no host sync
  torch::Tensor last_loss;

  static loss::LossHyp hyp(int nc) {
    loss::LossHyp h;
    h.nc = nc;
    return h;
  }
  Rig(torch::Device d, bool amp_, bool bf16_, int nc_)
      : dev(d), amp(amp_), bf16(bf16_), nc(nc_), model(nn::build_model("yolo11n.yaml", nc_)),
        groups(engine::split_param_groups(*model)),
        opt(engine::make_optimizer(engine::choose_optimizer("SGD", 0.01, 0.937, nc_, 0, 16, 64, 1), groups, 0.0005)),
        criterion(hyp(nc_)) {
    model->to(dev);
    model->train();
    // channels_last: cuDNN's fastest convolution kernels on tensor cores take NHWC.
    torch::NoGradGuard ng;
    for (auto& p : model->parameters()) {
      if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
      if (p.requires_grad()) params.push_back(p);
    }
    scale = torch::full({1}, 65536.0, torch::TensorOptions().dtype(torch::kFloat).device(dev));
    growth_tracker = torch::zeros({1}, torch::TensorOptions().dtype(torch::kInt).device(dev));
    found_inf = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat).device(dev));
  }

  void step(const torch::Tensor& img, const loss::Targets& t) {
    const bool scaled = amp && dev.is_cuda() && !bf16;  // bf16 has fp32's range: no scaling needed
    set_autocast(amp, dev, bf16);
    auto preds = model->forward_raw(img);
    set_autocast(false, dev, bf16);
    for (auto& p : preds) p = p.to(torch::kFloat);  // loss and assigner in fp32 (spec)
    auto out = criterion(preds, t, std::array<int64_t, 2>{img.size(2), img.size(3)});
    last_loss = out.total.detach();
    if (scaled) {
      (out.total * scale).backward();
      std::vector<torch::Tensor> grads;
      for (auto& p : params)
        if (p.grad().defined()) grads.push_back(p.grad());
      found_inf.zero_();
      at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf, scale.reciprocal());
      torch::nn::utils::clip_grad_norm_(params, 10.0);
      // Skipping the step on overflow needs found_inf on the host once per step; the GradScaler in PyTorch
      // does the same (it is the only sync of the step).
      if (found_inf.item<float>() == 0.f) opt->step();
      at::_amp_update_scale_(scale, growth_tracker, found_inf, 2.0, 0.5, 2000);
    } else {
      out.total.backward();
      torch::nn::utils::clip_grad_norm_(params, 10.0);
      opt->step();
    }
    opt->zero_grad();
  }
};

loss::Targets to_dev(const engine::Batch& b, torch::Device dev) {
  return {b.batch_idx.to(dev, true), b.cls.to(dev, true), b.bboxes.to(dev, true)};
}

torch::Tensor img_to_dev(const torch::Tensor& img, torch::Device dev) {
  torch::Tensor x = img;
  if (dev.is_cuda()) x = x.pin_memory().to(dev, /*non_blocking=*/true);
  if (x.scalar_type() == torch::kUInt8) x = x.to(torch::kFloat).div_(255.0);
  return x.contiguous(torch::MemoryFormat::ChannelsLast);
}

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  const bool cuda = torch::cuda::is_available();
  const torch::Device dev = cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  const int imgsz = std::stoi(arg(argc, argv, "--imgsz", cuda ? "640" : "320"));
  const int iters = std::stoi(arg(argc, argv, "--iters", cuda ? "60" : "2"));
  const bool amp = arg(argc, argv, "--amp", "1") == "1" && cuda;
  const bool bf16 = arg(argc, argv, "--bf16", "0") == "1";
  const int workers = std::stoi(arg(argc, argv, "--workers", cuda ? "8" : "2"));
  std::vector<int> batches;
  {
    std::stringstream ss(arg(argc, argv, "--batches", cuda ? "16,64" : "8"));
    std::string tok;
    while (std::getline(ss, tok, ',')) batches.push_back(std::stoi(tok));
  }
  std::string data = arg(argc, argv, "--data", "");
  if (!cuda)
    std::printf("note: CUDA is not available, running on the CPU (%d threads) at imgsz=%d, fp32; the GPU figures "
                "come from scripts/gpu-run\n", torch::get_num_threads(), imgsz);
  else
    std::printf("device %s, torch %s, imgsz %d, %s, channels_last, cudnn.benchmark\n",
                torch::cuda::device_count() > 0 ? "cuda:0" : "?", TORCH_VERSION, imgsz,
                amp ? (bf16 ? "AMP bf16" : "AMP fp16 + dynamic loss scale") : "fp32");
  if (cuda) at::globalContext().setBenchmarkCuDNN(true);

  fs::path synth_dir;
  if (data.empty()) {
    synth_dir = fs::temp_directory_path() / "yolocpp_bench_gpu_train";
    data::SynthOptions so;
    so.out = synth_dir;
    int maxb = *std::max_element(batches.begin(), batches.end());
    so.images = std::max(4 * maxb, 32) * 5 / 4;
    so.imgsz = imgsz;
    so.val_fraction = 0.2;
    data = data::generate_synth(so).string();
    std::printf("synthetic dataset: %d images at %s\n", so.images, synth_dir.c_str());
  }
  data::DatasetInfo ds = data::load_dataset(data);
  const int nc = static_cast<int>(ds.names.size());

  for (int batch : batches) {
    Rig rig(dev, amp, bf16, nc);
    engine::LoaderOptions lo;
    lo.imgsz = imgsz;
    lo.batch = batch;
    lo.workers = workers;
    lo.float_img = !cuda;  // on the GPU the uint8 batch travels (4x fewer bytes) and is scaled there
    engine::Loader loader(ds, "train", lo);
    loader.set_epoch(0);
    auto first = loader.next();
    if (!first) {
      std::printf("batch %d: the train split is empty\n", batch);
      continue;
    }
    // Pure compute: one resident batch, stepped `iters` times.
    auto x = img_to_dev(first->img, dev);
    auto t = to_dev(*first, dev);
    rig.step(x, t);  // warm-up (cuDNN autotune, allocator)
    rig.step(x, t);
    sync(dev);
    double a = now();
    for (int i = 0; i < iters; ++i) rig.step(x, t);
    sync(dev);
    const double bare = batch * iters / (now() - a);
    const int64_t b = first->size();

    // Whole loop: loader batches, copies, step; the loss is read on the host every 10 iterations only.
    int64_t images = 0;
    int epoch = 0, it = 0;
    double loss_seen = 0;
    sync(dev);
    a = now();
    while (it < iters) {
      auto nb = loader.next();
      if (!nb) {
        loader.set_epoch(++epoch);
        continue;
      }
      rig.step(img_to_dev(nb->img, dev), to_dev(*nb, dev));
      images += nb->size();
      if (++it % 10 == 0) loss_seen = rig.last_loss.item<double>();
    }
    sync(dev);
    const double loop = images / (now() - a);
    std::printf("batch %3lld: bare step %8.2f images/s | whole loop (loader workers=%d) %8.2f images/s | "
                "loop/bare %.3f (overhead %.1f%%), last loss %.3f\n",
                static_cast<long long>(b), bare, workers, loop, loop / bare, 100 * (1 - loop / bare),
                loss_seen);
  }
  if (!synth_dir.empty()) {
    std::error_code ec;
    fs::remove_all(synth_dir, ec);
  }
  return 0;
}
