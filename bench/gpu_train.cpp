// Training throughput of yolo11n: per batch size, images/s of the bare step (forward + loss + backward,
// and every `accumulate` iterations clip + optimizer + EMA, on one resident batch: the pure compute), then per
// loader worker count the images/s of the loader alone (no step) and of the whole loop (Loader with mosaic/
// affine/HSV/flip, copies, the same step), with the ratio whole loop / bare compute: the loop's overhead. The
// step is bench/train_rig.hpp (the trainer's). CUDA: AMP fp16 with dynamic loss scaling (or bf16, or fp32),
// channels_last, cuDNN benchmark mode, pinned non_blocking copies, uint8 batches scaled on the device. Without
// CUDA the same code runs on the CPU (smaller defaults, torch threads 2, float batches as the CPU trainer).
//
// Usage: bench_gpu_train [--data DATA.yaml] [--imgsz 640] [--batches 16,64] [--iters 60] [--amp 1] [--bf16 0]
//                        [--workers 0,2,4,8] [--threads N]
// No --data: ../shared/datasets/coc_buildings when it exists (from the repo root or build folder), else a
// synthetic dataset generated on the spot (the GPU machine has no ../shared).
#include <torch/torch.h>
#include <torch/version.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>

#include "yolocpp/data/dataset.hpp"
#include "yolocpp/data/synth.hpp"
#include "yolocpp/data/loader/loader.hpp"
#include "yolocpp/loss/detection_loss.hpp"
#include "yolocpp/train/optim.hpp"
#include "yolocpp/nn/model.hpp"
#include "train_rig.hpp"

using namespace yolocpp;
namespace fs = std::filesystem;

namespace {

using bench::img_to_dev;
using bench::now;
using bench::Rig;
using bench::sync;
using bench::to_dev;

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  return def;
}


std::vector<int> int_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string tok;
  while (std::getline(ss, tok, ',')) out.push_back(std::stoi(tok));
  return out;
}

// Loader alone: `iters` batches (wrapping epochs), nothing else; images/s.
double loader_only(const data::DatasetInfo& ds, const engine::LoaderOptions& lo, int iters) {
  engine::Loader loader(ds, "train", lo);
  int epoch = 0, it = 0;
  int64_t images = 0;
  loader.set_epoch(0);
  const double a = now();
  while (it < iters) {
    auto nb = loader.next();
    if (!nb) {
      loader.set_epoch(++epoch);
      continue;
    }
    images += nb->size();
    ++it;
  }
  return images / (now() - a);
}

}  // namespace

int main(int argc, char** argv) {
  const bool cuda = torch::cuda::is_available();
  const torch::Device dev = cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  const int imgsz = std::stoi(arg(argc, argv, "--imgsz", cuda ? "640" : "320"));
  const int iters = std::stoi(arg(argc, argv, "--iters", cuda ? "60" : "8"));
  const bool amp = arg(argc, argv, "--amp", "1") == "1" && cuda;
  const bool bf16 = arg(argc, argv, "--bf16", "0") == "1";
  const std::vector<int> worker_counts = int_list(arg(argc, argv, "--workers", cuda ? "0,2,4,8" : "0,1,2"));
  const std::vector<int> batches = int_list(arg(argc, argv, "--batches", cuda ? "16,64" : "8"));
  const int threads = std::stoi(arg(argc, argv, "--threads", cuda ? "0" : "2"));
  if (threads > 0) at::set_num_threads(threads);
  std::string data = arg(argc, argv, "--data", "");
  if (data.empty())
    for (const char* c : {"../shared/datasets/coc_buildings/data.yaml", "../../shared/datasets/coc_buildings/data.yaml"})
      if (fs::exists(c)) {
        data = c;
        break;
      }
  if (!cuda)
    std::printf("note: CUDA is not available, running on the CPU (%d torch threads) at imgsz=%d, fp32; the GPU "
                "figures come from scripts/gpu-run\n", torch::get_num_threads(), imgsz);
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
  std::printf("data %s (nc=%d), %d iterations per measurement\n", data.c_str(), nc, iters);

  for (int batch : batches) {
    Rig rig(dev, amp, bf16, nc, batch);
    engine::LoaderOptions lo;
    lo.imgsz = imgsz;
    lo.batch = batch;
    lo.workers = 0;
    lo.float_img = !cuda;  // on the GPU the uint8 batch travels (4x fewer bytes) and is scaled there
    std::optional<engine::Batch> first;
    {
      engine::Loader loader(ds, "train", lo);
      first = loader.next();
    }
    if (!first) {
      std::printf("batch %d: the train split is empty\n", batch);
      continue;
    }
    // Pure compute: one resident batch, stepped `iters` times (a multiple of accumulate keeps the share of
    // optimizer steps the loop sees).
    auto x = img_to_dev(first->img, dev);
    auto t = to_dev(*first, dev);
    for (int i = 0; i < rig.accumulate; ++i) rig.step(x, t);  // warm-up (cuDNN autotune, allocator)
    sync(dev);
    double a = now();
    for (int i = 0; i < iters; ++i) rig.step(x, t);
    sync(dev);
    const double bare = batch * iters / (now() - a);
    const int64_t b = first->size();
    std::printf("batch %3lld (accumulate %d): bare step %8.2f images/s\n", static_cast<long long>(b), rig.accumulate,
                bare);
    std::fflush(stdout);

    for (int w : worker_counts) {
      lo.workers = w;
      const double lonly = loader_only(ds, lo, iters);
      // Whole loop: loader batches, copies, step; the loss is read on the host every 10 iterations only.
      engine::Loader loader(ds, "train", lo);
      loader.set_epoch(0);
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
      // One self-describing line per worker count (scripts/gpu-run greps lines with "images/s").
      std::printf("  workers %2d: loader alone %8.2f images/s | whole loop %8.2f images/s | loop/bare %.3f "
                  "(overhead %.1f%%) | last loss %.3f\n", w, lonly, loop, loop / bare, 100 * (1 - loop / bare),
                  loss_seen);
      std::fflush(stdout);
    }
  }
  if (!synth_dir.empty()) {
    std::error_code ec;
    fs::remove_all(synth_dir, ec);
  }
  return 0;
}
