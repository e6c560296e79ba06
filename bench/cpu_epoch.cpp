// The CPU training epoch against the pure compute of the same step, and validation's share of an epoch
// (where a CPU epoch's time goes). At torch threads=2 with the trainer's CPU settings (workers=0: batches are made on
// the training thread, float batches, NCHW, fp32):
//   1. pure compute: the step of bench/train_rig.hpp (forward, loss, backward, clip + SGD + EMA every
//      accumulate iterations) over the epoch's own batches preloaded in memory;
//   2. whole epoch: the same step fed by the Loader (mosaic/affine/HSV/flip), loader time and step time apart,
//      interleaved batch by batch with 1 so both see the same load; overhead = epoch time / pure time - 1
//      (target < 10 %); then the pure step cut into forward / loss+assigner / backward / clip+SGD+EMA, with
//      flush-to-zero of denormals off (the trainer's setting) and on;
//   3. the real engine::Trainer, one epoch (a temporary data yaml whose val split is one image), its
//      results.csv time against the pure compute above;
//   4. one validation pass of the EMA (the trainer's per-epoch validation: rect val loader, batch 2x, conf=0.001,
//      iou=0.7, with the val loss) split into loader / preprocess / forward / loss / NMS / matching+AP, for
//      the EMA after the epoch above and for a "saturated" copy whose class biases are 0 (every score ~0.5, so
//      NMS at conf=0.001 gets the full 30000 candidates: the upper bound an early or fine-tuned model nears).
// Prints ratios measured in this run; never passes or fails on time. The machine's load average is printed
// before and after: other processes on the same cores inflate every figure, the ratios much less.
//
// Usage: bench_cpu_epoch [--data DATA.yaml] [--imgsz 320] [--batch 8] [--threads 2] [--trainer 1] [--val 1]
//                        [--batches N]  (first N batches only; 0 = the whole epoch) [--breakdown 8]
//                        [--cache False|ram]
// No --data: ../shared/datasets/coc_buildings when present, else the demo dataset.
#include <sys/resource.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "train_rig.hpp"
#include "yolocpp/config/settings.hpp"
#include "yolocpp/data/dataset.hpp"
#include "yolocpp/data/synth.hpp"
#include "yolocpp/train/ema.hpp"
#include "yolocpp/data/loader/loader.hpp"
#include "yolocpp/train/trainer.hpp"
#include "yolocpp/val/validator.hpp"

using namespace yolocpp;
namespace fs = std::filesystem;
using bench::now;

namespace {

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  return def;
}

// User + system CPU seconds of this process (all threads): less sensitive to other processes than wall time.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec * 1e-6;
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// The trainer's epoch 1 wall time from results.csv (column 2: seconds since the epoch loop started).
std::optional<double> trainer_epoch_seconds(const fs::path& data_yaml, const data::DatasetInfo& ds, int imgsz,
                                            int batch, const std::string& cache, const fs::path& work) {
  // A data yaml with the same train split and a one-image val split (the trainer insists on val:), so the
  // epoch's time is training plus a validation of one image (~0.1 s).
  const fs::path yaml = work / "train_only.yaml";
  {
    const fs::path first = ds.split("train").images.front();
    fs::create_directories(work / "val1" / "images");
    fs::create_directories(work / "val1" / "labels");
    fs::copy_file(first, work / "val1" / "images" / first.filename(), fs::copy_options::overwrite_existing);
    const fs::path label = data::label_path_for(first);
    std::ofstream(work / "val1" / "labels" / (first.stem().string() + ".txt")) << std::ifstream(label).rdbuf();
    std::ofstream y(yaml);
    y << "path: " << fs::absolute(data_yaml).parent_path().string() << "\n";
    y << "train: [";
    const auto& src = ds.split("train").sources;
    for (size_t i = 0; i < src.size(); ++i) y << (i ? ", '" : "'") << src[i].string() << "'";
    y << "]\n";
    y << "val: '" << (work / "val1" / "images").string() << "'\n";
    y << "names:\n";
    for (size_t i = 0; i < ds.names.size(); ++i) y << "  " << i << ": '" << ds.names[i] << "'\n";
  }
  auto s = config::Settings::from_args({"model=yolo11n.yaml", "data=" + yaml.string(), "epochs=1",
                                        "imgsz=" + std::to_string(imgsz), "batch=" + std::to_string(batch),
                                        "workers=0", "device=cpu", "val=False", "plots=False", "cache=" + cache,
                                        // the bench step's optimizer, and mosaic on (close_mosaic would
                                        // close it in a 1-epoch run)
                                        "optimizer=SGD", "lr0=0.01", "momentum=0.937", "close_mosaic=0",
                                        "project=" + (work / "runs").string(), "name=epoch1", "exist_ok=True"});
  s.set("mode", "train");
  engine::Trainer trainer(s);
  auto res = trainer.train();
  std::ifstream csv(res.save_dir / "results.csv");
  std::string header, row;
  if (!std::getline(csv, header) || !std::getline(csv, row)) return std::nullopt;
  std::stringstream ss(row);
  std::string cell;
  std::getline(ss, cell, ',');
  std::getline(ss, cell, ',');
  return std::stod(cell);
}

struct Phases {
  double forward = 0, loss = 0, backward = 0, optim = 0;
  int64_t images = 0;
  double total() const { return forward + loss + backward + optim; }
};

// The pure step of bench::Rig cut into its phases (clip + SGD + EMA once per `accumulate` batches).
Phases step_phases(bench::Rig& rig, const std::vector<engine::Batch>& batches, int n) {
  Phases p;
  for (int i = 0; i < n; ++i) {
    const auto& b = batches[static_cast<size_t>(i) % batches.size()];
    double a = now();
    auto preds = rig.model->forward_raw(b.img);
    double m = now();
    p.forward += m - a;
    auto out = rig.criterion(preds, bench::to_dev(b, torch::kCPU), std::array<int64_t, 2>{b.img.size(2), b.img.size(3)});
    (void)out.items[0].item<double>();
    a = now();
    p.loss += a - m;
    out.total.backward();
    m = now();
    p.backward += m - a;
    if ((i + 1) % rig.accumulate == 0 || i + 1 == n) {
      engine::clip_grad_norm(rig.params, 10.0);
      rig.opt->step();
      rig.opt->zero_grad();
      rig.ema->update(rig.model);
      p.optim += now() - m;
    }
    p.images += b.size();
  }
  return p;
}

void print_phases(const char* what, const Phases& p) {
  const double t = p.total();
  std::printf("  %s: %.2f images/s | forward %.2f s (%.0f%%) | loss+assigner %.2f s (%.0f%%) | backward %.2f s "
              "(%.0f%%) | clip+SGD+EMA %.2f s (%.0f%%)\n", what, p.images / t, p.forward, 100 * p.forward / t,
              p.loss, 100 * p.loss / t, p.backward, 100 * p.backward / t, p.optim, 100 * p.optim / t);
  std::fflush(stdout);
}

struct ValShare {
  double total = 0, loader = 0;
  engine::ValSpeed speed;  // ms per image
  double candidates = 0;   // (box, class) pairs above conf per image, first batch
  double map50 = 0;
  int64_t images = 0;
};

ValShare time_validation(engine::Validator& v, nn::DetectionModel& model, engine::Loader& loader, int nc,
                         const std::vector<std::string>& names, const loss::DetectionLoss& crit) {
  ValShare r;
  {  // the loader alone, one pass
    loader.set_epoch(0);
    const double a = now();
    while (loader.next()) {
    }
    r.loader = now() - a;
  }
  {  // candidates the NMS sees on the first batch
    torch::NoGradGuard ng;
    loader.set_epoch(0);
    auto b = loader.next();
    model->eval();
    torch::Tensor x = b->img.scalar_type() == torch::kUInt8 ? b->img.to(torch::kFloat).div(255.0) : b->img;
    torch::Tensor scores = model->forward(x).slice(1, 4);
    r.candidates = (scores > v.options().conf).sum().item<double>() / static_cast<double>(b->size());
  }
  const double a = now();
  auto res = v.run(model, loader, nc, names, &crit);
  r.total = now() - a;
  r.speed = res.speed;
  r.images = res.images;
  r.map50 = res.metrics.map50;
  return r;
}

void print_val(const char* what, const ValShare& s, double epoch_s) {
  const double n = static_cast<double>(s.images);
  const double pre = s.speed.preprocess * n / 1e3, inf = s.speed.inference * n / 1e3,
               lo = s.speed.loss * n / 1e3, nms = s.speed.postprocess * n / 1e3;
  // The validator times preprocess/forward/loss/NMS itself; what is left of its wall time is the loader
  // (timed alone just before) and the matching + AP.
  const double metric = std::max(0.0, s.total - pre - inf - lo - nms - s.loader);
  std::printf("validation, %s: %lld images in %.2f s (%.1f images/s), %.0f candidates/image above conf, mAP50 %.3f\n",
              what, static_cast<long long>(s.images), s.total, n / s.total, s.candidates, s.map50);
  std::printf("  loader %.2f s (%.0f%%) | preprocess %.2f s (%.0f%%) | forward %.2f s (%.0f%%) | loss %.2f s (%.0f%%) | "
              "NMS %.2f s (%.0f%%) | matching+AP %.2f s (%.0f%%)\n",
              s.loader, 100 * s.loader / s.total, pre, 100 * pre / s.total, inf, 100 * inf / s.total, lo,
              100 * lo / s.total, nms, 100 * nms / s.total, metric, 100 * metric / s.total);
  std::printf("  share of (train epoch + validation): %.1f%%; validation / train epoch = %.3f\n",
              100 * s.total / (epoch_s + s.total), s.total / epoch_s);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const int imgsz = std::stoi(arg(argc, argv, "--imgsz", "320"));
  const int batch = std::stoi(arg(argc, argv, "--batch", "8"));
  const int threads = std::stoi(arg(argc, argv, "--threads", "2"));
  const bool run_trainer = arg(argc, argv, "--trainer", "1") == "1";
  const bool run_val = arg(argc, argv, "--val", "1") == "1";
  const size_t max_batches = std::stoul(arg(argc, argv, "--batches", "0"));  // 0: the whole epoch
  const std::string cache = arg(argc, argv, "--cache", "False");               // the trainer's cache= setting
  const int breakdown_n = std::stoi(arg(argc, argv, "--breakdown", "8"));     // 0: no step breakdown
  std::string data = arg(argc, argv, "--data", "");
  if (data.empty())
    for (const char* c : {"../shared/datasets/coc_buildings/data.yaml", "../../shared/datasets/coc_buildings/data.yaml"})
      if (fs::exists(c)) {
        data = c;
        break;
      }
  if (data.empty()) data = data::ensure_demo_dataset().string();
  at::set_num_threads(threads);
  const torch::Device cpu(torch::kCPU);
  data::DatasetInfo ds = data::load_dataset(data);
  const int nc = static_cast<int>(ds.names.size());
  std::printf("data %s (nc=%d), imgsz %d, batch %d, torch threads %d, loader workers 0 (the CPU trainer's), "
              "cache=%s\n", data.c_str(), nc, imgsz, batch, torch::get_num_threads(), cache.c_str());
  std::printf("load average at start: %s\n", loadavg().c_str());
  std::fflush(stdout);

  // Two copies of the step, one per side, so each keeps its own accumulate cadence.
  bench::Rig rig(cpu, false, false, nc, batch);       // fed by the loader
  bench::Rig rig_pure(cpu, false, false, nc, batch);  // fed the preloaded batches
  {
    // The same initial weights on both sides: the step's cost depends on the values (denormals, assigner).
    torch::NoGradGuard ng;
    auto src = engine::state_entries(*rig.model);
    auto dst = engine::state_entries(*rig_pure.model);
    for (size_t i = 0; i < src.size(); ++i) dst[i].second.copy_(src[i].second);
  }
  engine::LoaderOptions lo;
  lo.mode = engine::LoaderMode::Train;
  lo.imgsz = imgsz;
  lo.batch = batch;
  lo.workers = 0;
  lo.float_img = true;  // as the trainer
  lo.cache = engine::parse_cache_mode(cache);  // ram: filled by the preload pass, so the loop reads it
  engine::Loader loader(ds, "train", lo);

  // The epoch's own batches, preloaded (batch k is a pure function of seed, epoch and k).
  std::vector<engine::Batch> batches;
  double load_alone = 0;
  {
    loader.set_epoch(0);
    const double a = now();
    while (auto b = loader.next()) {
      batches.push_back(std::move(*b));
      if (max_batches && batches.size() >= max_batches) break;
    }
    load_alone = now() - a;
  }
  int64_t n_images = 0, n_targets = 0;
  for (const auto& b : batches) n_images += b.size(), n_targets += b.cls.size(0);
  std::printf("epoch: %zu batches, %lld images, %.1f targets/image; loader alone %.2f s (%.1f images/s), "
              "accumulate %d\n", batches.size(), static_cast<long long>(n_images),
              static_cast<double>(n_targets) / n_images, load_alone, n_images / load_alone, rig.accumulate);
  std::fflush(stdout);
  for (int i = 0; i < rig.accumulate && i < static_cast<int>(batches.size()); ++i) {  // warm-up
    rig.step(batches[i].img, bench::to_dev(batches[i], cpu));
    rig_pure.step(batches[i].img, bench::to_dev(batches[i], cpu));
  }
  rig.iterations = rig_pure.iterations = 0;

  // Interleaved, batch by batch: the pure step on preloaded batch k, then the loop's loader.next() (which
  // makes batch k again) and its step. Both sides see the same load from other processes on these shared
  // cores, so their ratio holds even when the wall times do not.
  double t_pure = 0, t_load = 0, t_step = 0, c_pure = 0, c_loop = 0;
  int64_t images = 0;
  loader.set_epoch(0);
  for (size_t k = 0; k < batches.size(); ++k) {
    const auto& pb = batches[k];
    auto pure_step = [&] {
      const double a = now(), ca = cpu_seconds();
      rig_pure.step(pb.img, bench::to_dev(pb, cpu));
      t_pure += now() - a;
      c_pure += cpu_seconds() - ca;
    };
    // Alternate which side goes first, so neither always runs on caches the other just filled.
    if (k % 2 == 0) pure_step();
    const double a = now(), ca = cpu_seconds();
    auto b = loader.next();
    const double m = now();
    t_load += m - a;
    rig.step(b->img, bench::to_dev(*b, cpu));
    t_step += now() - m;
    c_loop += cpu_seconds() - ca;
    images += b->size();
    if (k % 2 == 1) pure_step();
  }
  const double epoch_s = t_load + t_step;
  const double pure = images / t_pure, epoch_ips = images / epoch_s;
  std::printf("pure compute (preloaded batches): %.2f s, %.2f images/s (process CPU %.1f s)\n", t_pure, pure, c_pure);
  std::printf("whole epoch (loader + step): %.2f s, %.2f images/s (process CPU %.1f s); loader %.2f s (%.1f%%), "
              "step %.2f s (step / pure step %.3f)\n", epoch_s, epoch_ips, c_loop, t_load, 100 * t_load / epoch_s,
              t_step, t_step / t_pure);
  std::printf("=> epoch / pure compute = %.3f, loop overhead %.1f%% of pure compute time (target < 10%% at 2 "
              "threads); in process CPU time %.1f%%\n", epoch_ips / pure, 100 * (epoch_s / t_pure - 1),
              100 * (c_loop / c_pure - 1));
  std::printf("load average: %s\n", loadavg().c_str());
  std::fflush(stdout);

  // Where the pure step's time goes: the first `breakdown_n` preloaded batches stepped on rig_pure's weights
  // (as they are after the epoch), with flush-to-zero of denormals off (the trainer's setting) and on.
  if (breakdown_n > 0) {
    std::printf("\n--- step breakdown over %d preloaded batches (rig_pure's weights) ---\n", breakdown_n);
    const Phases off = step_phases(rig_pure, batches, breakdown_n);
    print_phases("flush-denormal off", off);
    at::globalContext().setFlushDenormal(true);
    const Phases on = step_phases(rig_pure, batches, breakdown_n);
    at::globalContext().setFlushDenormal(false);
    print_phases("flush-denormal on ", on);
    std::printf("  flush-denormal on / off, whole step: %.3f\n", on.total() / off.total());
    std::printf("load average: %s\n", loadavg().c_str());
    std::fflush(stdout);
  }

  const fs::path work = fs::temp_directory_path() / "yolocpp_bench_cpu_epoch";
  std::error_code ec;
  fs::remove_all(work, ec);
  fs::create_directories(work);
  if (run_trainer) {
    std::printf("\n--- engine::Trainer, 1 epoch, validation of 1 image ---\n");
    std::fflush(stdout);
    std::optional<double> secs;
    try {
      secs = trainer_epoch_seconds(data, ds, imgsz, batch, cache, work);
    } catch (const std::exception& e) {
      std::printf("trainer failed: %s\n", e.what());
    }
    if (secs) {
      const double ips = static_cast<double>(n_images) / *secs;
      std::printf("\ntrainer epoch 1: %.2f s, %.2f images/s; trainer / pure compute = %.3f, overhead %.1f%% "
                  "(epoch 1 is all warmup: more optimizer+EMA steps than accumulate %d; 1-image validation included)\n",
                  *secs, ips, ips / pure, 100 * (1 - ips / pure), rig.accumulate);
    } else {
      std::printf("trainer: no results.csv row\n");
    }
    std::printf("load average: %s\n", loadavg().c_str());
    std::fflush(stdout);
  }

  if (run_val && ds.has_split("val")) {
    std::printf("\n--- validation of the EMA (val split), as the trainer runs it after each epoch ---\n");
    engine::ValidatorOptions vo;
    vo.imgsz = imgsz;
    vo.batch = batch * 2;
    vo.conf = 0.001;
    vo.iou = 0.7;
    vo.max_det = 300;
    vo.workers = 0;
    vo.device = cpu;
    vo.print = false;
    engine::Validator v(vo);
    auto val_loader = v.make_loader(ds, "val");
    nn::DetectionModel& ema = rig.ema->model();
    ema->names = ds.names;
    ValShare s1 = time_validation(v, ema, *val_loader, nc, ds.names, rig.criterion);
    print_val("EMA after 1 epoch from scratch", s1, epoch_s);
    {
      // Class biases of Detect's last convs to 0: every class score near sigmoid(0), the NMS worst case.
      torch::NoGradGuard ng;
      int zeroed = 0;
      for (auto& kv : ema->named_parameters()) {
        const std::string& k = kv.key();
        if (k.find(".cv3.") != std::string::npos && k.size() > 7 && k.compare(k.size() - 7, 7, ".2.bias") == 0) {
          kv.value().zero_();
          ++zeroed;
        }
      }
      std::printf("(saturated copy: %d class-bias tensors set to 0)\n", zeroed);
    }
    ValShare s2 = time_validation(v, ema, *val_loader, nc, ds.names, rig.criterion);
    print_val("saturated scores (NMS worst case)", s2, epoch_s);
    std::printf("load average at end: %s\n", loadavg().c_str());
  }
  fs::remove_all(work, ec);
  return 0;
}
