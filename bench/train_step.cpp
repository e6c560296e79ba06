// Training throughput of yolo11n on this machine: one optimizer step = forward (train mode) + loss + backward +
// clip + AdamW step, batch 16 at 320 and 640 with random targets (no loader), then one whole epoch at 320 with
// the real Loader (mosaic, affine, HSV, flips) on a generated synthetic dataset. Prints images/s and the
// ratios (640 vs 320, epoch-with-loader vs bare steps) measured in the same run.
// Usage: bench_train_step [steps=3] [epoch_images=64]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "yolocpp/data/dataset.hpp"
#include "yolocpp/data/synth.hpp"
#include "yolocpp/data/loader/loader.hpp"
#include "yolocpp/loss/detection_loss.hpp"
#include "yolocpp/train/optim.hpp"
#include "yolocpp/nn/model.hpp"

using namespace yolocpp;
namespace fs = std::filesystem;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Rig {
  nn::DetectionModel model = nn::build_model("yolo11n.yaml", 5);
  engine::ParamGroups groups = engine::split_param_groups(*model);
  std::unique_ptr<torch::optim::Optimizer> opt =
      engine::make_optimizer(engine::choose_optimizer("AdamW", 0.001, 0.9, 5, 0, 16, 64, 1), groups, 0.0005);
  loss::DetectionLoss criterion{[] {
    loss::LossHyp h;
    h.nc = 5;
    return h;
  }()};
  std::vector<torch::Tensor> params;
  Rig() {
    model->train();
    for (auto& p : model->parameters())
      if (p.requires_grad()) params.push_back(p);
  }
  void step(const torch::Tensor& img, const loss::Targets& t) {
    auto out = criterion(model->forward_raw(img), t, std::array<int64_t, 2>{img.size(2), img.size(3)});
    out.total.backward();
    engine::clip_grad_norm(params, 10.0);
    opt->step();
    opt->zero_grad();
  }
};

double step_rate(Rig& rig, int imgsz, int batch, int steps) {
  auto img = torch::rand({batch, 3, imgsz, imgsz});
  const int per = 6;  // boxes per image
  auto bi = torch::arange(batch).repeat_interleave(per).to(torch::kFloat32);
  auto cls = torch::randint(0, 5, {batch * per, 1}).to(torch::kFloat32);
  auto xy = torch::rand({batch * per, 2}) * 0.6 + 0.2, wh = torch::rand({batch * per, 2}) * 0.2 + 0.05;
  loss::Targets t{bi, cls, torch::cat({xy, wh}, 1)};
  rig.step(img, t);  // warm-up
  const double a = now();
  for (int i = 0; i < steps; ++i) rig.step(img, t);
  return batch * steps / (now() - a);
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 3;
  const int epoch_images = argc > 2 ? std::atoi(argv[2]) : 64;
  std::printf("torch threads %d, batch 16, AdamW, CPU\n", torch::get_num_threads());
  Rig rig;
  const double r320 = step_rate(rig, 320, 16, steps);
  std::printf("train step  imgsz=320: %7.2f images/s (%.2f s per batch)\n", r320, 16 / r320);
  const double r640 = step_rate(rig, 640, 16, steps);
  std::printf("train step  imgsz=640: %7.2f images/s (%.2f s per batch)  ratio 640/320 %.3f (area ratio 0.25)\n",
              r640, 16 / r640, r640 / r320);

  const fs::path dir = fs::temp_directory_path() / "yolocpp_bench_train_step";
  data::SynthOptions so;
  so.out = dir;
  so.images = epoch_images;
  so.imgsz = 320;
  so.val_fraction = 0.25;  // the epoch uses the train split only
  const fs::path yaml = data::generate_synth(so);
  data::DatasetInfo ds = data::load_dataset(yaml.string());
  engine::LoaderOptions lo;
  lo.imgsz = 320;
  lo.batch = 16;
  lo.workers = 0;
  lo.float_img = true;
  engine::Loader loader(ds, "train", lo);
  loader.set_epoch(0);
  double t_load = 0;
  int64_t images = 0;
  const double a = now();
  double b0 = now();
  while (auto b = loader.next()) {
    t_load += now() - b0;
    rig.step(b->img, {b->batch_idx, b->cls, b->bboxes});
    images += b->size();
    b0 = now();
  }
  const double epoch_s = now() - a;
  const double er = images / epoch_s;
  std::printf("whole epoch imgsz=320 (%lld images, loader workers=0, mosaic): %7.2f images/s, loader %.1f%% of "
              "the epoch; ratio epoch/bare-step %.3f\n",
              static_cast<long long>(images), er, 100 * t_load / epoch_s, er / r320);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
