#include "yolocpp/train/trainer.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <functional>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "yolocpp/data/dataset.hpp"
#include "yolocpp/data/scan.hpp"
#include "yolocpp/data/synth.hpp"
#include "yolocpp/train/checkpointing.hpp"
#include "yolocpp/train/console.hpp"
#include "yolocpp/dist/distributed.hpp"
#include "yolocpp/train/ema.hpp"
#include "yolocpp/data/loader/loader.hpp"
#include "yolocpp/loss/detection_loss.hpp"
#include "yolocpp/train/optim.hpp"
#include "yolocpp/metrics/plots/plots.hpp"
#include "yolocpp/config/run_dir.hpp"
#include "yolocpp/train/tensorboard.hpp"
#include "yolocpp/train/schedule.hpp"
#include "yolocpp/dist/sync_bn.hpp"
#include "yolocpp/val/validator.hpp"
#include "yolocpp/io/checkpoint.hpp"
#include "yolocpp/io/model_io.hpp"
#include "yolocpp/io/weights.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"
#include "yolocpp/util/torch_compat.hpp"

namespace yolocpp::engine {

namespace {

// glibc serves allocations above M_MMAP_THRESHOLD with a fresh mmap (page faults on first touch, munmap on
// free) and raises that threshold on its own only when such a block is freed. A training step allocates and
// frees the same large activation tensors every iteration, so whether they come from the heap or from fresh
// mmaps depended on incidental frees elsewhere: a RAM image cache (which frees nothing) made CPU epochs ~7%
// slower than decoding every image, and both sped up 5-10% with the thresholds pinned (coc_buildings, 320,
// 2 threads). Pinning keeps up to 256 MB of freed memory for reuse instead of returning it at once. Users who
// tune glibc themselves (MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_) keep their values.
void pin_malloc_thresholds() {
#if defined(__GLIBC__)
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
  if (!std::getenv("MALLOC_TRIM_THRESHOLD_")) ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

bool given(const config::Settings& s, const char* key) { return s.has(key) && !s.is_none(key); }

std::string lower(std::string v) {
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v;
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

double round5(double v) { return std::round(v * 1e5) / 1e5; }

// Early stopping on fitness (ultralytics 8.3.58 utils/torch_utils.py EarlyStopping); patience 0 disables it.
struct EarlyStopping {
  explicit EarlyStopping(int64_t patience) : patience(patience > 0 ? patience : INT64_MAX) {}
  int64_t patience;
  double best_fitness = 0.0;
  int64_t best_epoch = 0;
  bool possible_stop = false;
  // epoch is 1-based. Returns true when training should stop.
  bool operator()(int64_t epoch, std::optional<double> fitness) {
    if (!fitness) return false;
    if (*fitness >= best_fitness) best_epoch = epoch, best_fitness = *fitness;
    const int64_t delta = epoch - best_epoch;
    possible_stop = patience != INT64_MAX && delta >= patience - 1;
    return patience != INT64_MAX && delta >= patience;
  }
};

// NaN/Inf guard (below, at every epoch end): how many reloads of last.pt a run gets before it gives up.
constexpr int kMaxNanRecoveries = 3;

bool all_finite(const std::vector<torch::Tensor>& ts) {
  torch::NoGradGuard no_grad;
  for (const auto& t : ts)
    if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>()) return false;
  return true;
}

// Test hook (tests/engine/test_nan_guard.cpp): YOLOCPP_TEST_NAN_EPOCHS=1,2 turns the loss of those 0-based
// epochs into NaN, so the recovery path runs deterministically instead of waiting for a real divergence.
std::set<int> test_nan_epochs() {
  std::set<int> out;
  if (const char* e = std::getenv("YOLOCPP_TEST_NAN_EPOCHS"))
    for (const char* p = e; *p;) {
      char* end = nullptr;
      long v = std::strtol(p, &end, 10);
      if (end == p) break;
      out.insert(static_cast<int>(v));
      p = *end == ',' ? end + 1 : end;
    }
  return out;
}

// A resume request: the checkpoint and the settings of the run that wrote it.
struct ResumeState {
  fs::path path;
  io::Checkpoint ck;
  fs::path save_dir;
};

ResumeState prepare_resume(config::Settings& args) {
  const std::string r = args.str("resume");
  const std::string rl = lower(r);
  ResumeState st;
  if (rl == "true" || rl == "1") {
    // Ultralytics resumes the model= checkpoint when it is a last.pt, else the newest run.
    if (given(args, "model") && ends_with(args.str("model"), ".pt") && fs::exists(args.str("model")) &&
        fs::path(args.str("model")).filename() == "last.pt")
      st.path = args.str("model");
    else
      st.path = find_latest_last(given(args, "project") ? fs::path(args.str("project")) : fs::path("runs"));
  } else {
    st.path = r;
  }
  if (!fs::exists(st.path))
    throw ConfigError("resume=" + r + ": no such checkpoint; pass resume=True or resume=path/to/weights/last.pt");
  st.ck = io::load_checkpoint(st.path.string());
  // An Ultralytics last.pt resumes too: its EMA network, torch optimizer state and train_args.
  if (st.ck.epoch < 0 || (st.ck.optimizer.empty() && !st.ck.ultralytics_optimizer))
    throw ConfigError(st.path.string() + " is from a finished training, nothing to resume; start a new training "
                      "with model=" + st.path.string() + " instead of resume");
  if (st.ck.train_args_yaml.empty())
    throw ConfigError(st.path.string() + " has no training arguments, so it cannot be resumed");
  // The run's own arguments, with the few overrides Ultralytics allows on resume.
  config::Settings saved = config::Settings::defaults();
  saved.load_yaml_text(st.ck.train_args_yaml, st.path.string() + " train_args");
  for (const char* k : {"device", "workers", "batch"})
    if (args.was_set(k)) saved.set(k, args.str(k).empty() ? "null" : args.str(k));
  YAML::Node y = YAML::Load(st.ck.train_args_yaml);
  st.save_dir = y["save_dir"] ? fs::path(y["save_dir"].as<std::string>()) : st.path.parent_path().parent_path();
  if (!fs::is_directory(st.save_dir)) st.save_dir = st.path.parent_path().parent_path();
  saved.set("resume", st.path.string());
  args = saved;
  return st;
}

// The model named by model= (yaml -> fresh, checkpoint -> its yaml + transferred weights) for nc classes.
nn::DetectionModel build_train_model(const config::Settings& args, int nc) {
  std::string m = given(args, "model") ? args.str("model") : "";
  if (m.empty()) {
    m = "yolo11n.yaml";
    log::info("model= not given: training {} from scratch", m);
  }
  if (ends_with(lower(m), ".yaml") || ends_with(lower(m), ".yml")) {
    nn::DetectionModel model = nn::build_model(m, nc);
    // pretrained=path.pt adds weights to a yaml model.
    const std::string pre = given(args, "pretrained") ? args.str("pretrained") : "";
    const std::string pl = lower(pre);
    if (!pre.empty() && pl != "true" && pl != "false") {
      io::Checkpoint ck = io::load_checkpoint(resolve_weights_path(pre));
      const int n = io::transfer_weights(*model, ck.best_weights());
      log::info("Transferred {}/{} items from pretrained weights", n, io::state_keys(*model).size());
    }
    return model;
  }
  const std::string path = resolve_weights_path(m);
  io::Checkpoint ck = io::load_checkpoint(path);
  YAML::Node yaml = YAML::Load(ck.model_yaml);
  nn::DetectionModel model(yaml, nc);
  const int n = io::transfer_weights(*model, ck.best_weights());
  log::info("Transferred {}/{} items from pretrained weights", n, io::state_keys(*model).size());
  return model;
}

std::string metrics_json(const std::vector<std::pair<std::string, double>>& kv) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : kv) j[k] = v;
  return j.dump();
}

}  // namespace

std::vector<int64_t> freeze_layers(const config::Settings& s) {
  if (!given(s, "freeze")) return {};
  auto v = s.int_list("freeze");
  const std::string raw = s.str("freeze");
  if (v.size() == 1 && raw.find('[') == std::string::npos && raw.find(',') == std::string::npos) {
    std::vector<int64_t> r;
    for (int64_t k = 0; k < v[0]; ++k) r.push_back(k);
    return r;
  }
  return v;
}

std::vector<std::string> freeze_parameters(torch::nn::Module& model, const std::vector<int64_t>& layers) {
  std::vector<std::string> prefixes{".dfl"};  // the DFL projection is a fixed 0..15 ramp, never trained
  for (int64_t k : layers) prefixes.push_back(fmt::format("model.{}.", k));
  std::vector<std::string> frozen;
  for (auto& p : model.named_parameters()) {
    bool f = false;
    for (const auto& pre : prefixes) f = f || p.key().find(pre) != std::string::npos;
    if (f) {
      p.value().set_requires_grad(false);
      frozen.push_back(p.key());
    } else if (!p.value().requires_grad() && p.value().is_floating_point()) {
      p.value().set_requires_grad(true);
    }
  }
  return frozen;
}

std::string resolve_weights_path(const std::string& name) { return io::resolve_weights(name); }

Trainer::Trainer(config::Settings s) : args_(std::move(s)) {}

namespace {
TrainResult run_training(config::Settings args, const DistEnv& env, std::unique_ptr<Distributed>& dist);
}  // namespace

TrainResult Trainer::train() {
  const std::string dev = given(args_, "device") ? args_.str("device") : "";
  // device=0,1,...: this process only launches one rank per device (each rerunning this command with
  // RANK/LOCAL_RANK/WORLD_SIZE set) and reports how they ended.
  if (!in_distributed_child()) {
    const std::vector<int> ids = parse_device_list(dev);
    if (ids.size() > 1) {
      for (int id : ids) select_device(std::to_string(id));  // CUDA absent or index too high: say so here
      log::info("DDP: launching {} ranks, one per device {}", ids.size(), dev);
      LaunchResult lr = launch_local(static_cast<int>(ids.size()), LaunchOptions{});
      if (lr.rc != 0) throw DistributedError("distributed training failed: " + lr.message);
      return TrainResult{};
    }
  }
  const DistEnv env = dist_env_from_environment();
  pin_malloc_thresholds();
  std::unique_ptr<Distributed> dist;
  try {
    return run_training(args_, env, dist);
  } catch (const std::exception& e) {
    // Peers blocked in a collective learn which rank stopped and why, instead of a bare socket error.
    if (dist) dist->report_failure(e.what());
    throw;
  }
}

namespace {

TrainResult run_training(config::Settings args, const DistEnv& env, std::unique_ptr<Distributed>& dist) {
  const bool ddp = env.active();
  const bool main_rank = !ddp || env.rank == 0;
  std::optional<ResumeState> resume;
  {
    const std::string r = given(args, "resume") ? lower(args.str("resume")) : "false";
    if (r != "false" && r != "0" && !r.empty()) resume = prepare_resume(args);
  }
  if (args.has("mode")) args.set("mode", "train");

  // 1. dataset
  std::string data_arg = given(args, "data") ? args.str("data") : "";
  if (data_arg.empty()) {
    data_arg = data::ensure_demo_dataset().string();
    log::info("data= not given: training on the built-in demo dataset {}", data_arg);
    args.set("data", data_arg);
  }
  data::DatasetInfo ds = data::load_dataset(data_arg);
  const bool single_cls = args.boolean("single_cls");
  const int nc = single_cls ? 1 : ds.nc;
  std::vector<std::string> names = single_cls ? std::vector<std::string>{"item"} : ds.names;

  // 2. device, seed, process group (before the run folder: a rendezvous that fails leaves nothing behind)
  const std::string dev_arg = given(args, "device") ? args.str("device") : "";
  torch::Device device = torch::kCPU;
  if (ddp) {
    // A rank launched for device=0,1,... (or by torchrun without device=) uses its LOCAL_RANK's device.
    const std::vector<int> ids = parse_device_list(dev_arg);
    if (ids.size() > 1) {
      if (env.local_rank >= static_cast<int>(ids.size()))
        throw ConfigError(fmt::format("LOCAL_RANK={} but device={} lists only {} devices", env.local_rank, dev_arg,
                                      ids.size()));
      device = select_device(std::to_string(ids[static_cast<size_t>(env.local_rank)]));
    } else if (dev_arg.empty() && torch::cuda::is_available()) {
      device = select_device(std::to_string(env.local_rank));
    } else {
      device = select_device(dev_arg);
    }
    dist = Distributed::from_env(env, device);
    log::info("DDP: rank {}/{} on {} ({})", dist->rank(), dist->world_size(), device.str(), dist->backend());
  } else {
    device = select_device(dev_arg);
  }
  const int64_t seed = args.integer("seed");
  torch::manual_seed(static_cast<uint64_t>(seed));
  if (device.is_cuda()) {
    torch::cuda::manual_seed_all(static_cast<uint64_t>(seed));
    if (args.boolean("deterministic")) at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
    // cuDNN benchmark mode times the convolution algorithms once per input shape and keeps the fastest
    // (as bench/gpu_train.cpp); the choice can vary run to run, so deterministic=True keeps it off.
    else at::globalContext().setBenchmarkCuDNN(true);
  }

  // Run folder and args.yaml (rank 0 only).
  TrainResult res;
  if (resume) {
    res.save_dir = resume->save_dir;
  } else if (!main_rank) {
    // Only rank 0 owns a run folder; the others never write into it.
  } else {
    RunDir rd = make_run_dir(given(args, "project") ? fs::path(args.str("project")) : fs::path(),
                             given(args, "name") ? args.str("name") : "", args.boolean("exist_ok"), "train");
    res.save_dir = rd.path;
  }
  const fs::path wdir = res.save_dir / "weights";
  if (main_rank) fs::create_directories(wdir);
  res.last = wdir / "last.pt";
  res.best = wdir / "best.pt";
  const std::string args_yaml = args.dump_yaml() + "save_dir: " + res.save_dir.string() + "\n";
  if (!resume && main_rank) write_run_args(res.save_dir, args);
  std::optional<TrainBoard> board;
  if (main_rank && args.boolean("tensorboard")) board.emplace(res.save_dir);
  // plots=True (rank 0): train_batch0-2.jpg, results.png per epoch, the final confusion matrices. A plot
  // that fails to write is a warning: it never costs a training run.
  const bool plots = main_rank && args.boolean("plots");
  auto try_plot = [&](const char* what, const std::function<void()>& f) {
    try {
      f();
    } catch (const std::exception& e) {
      log::warn("plots: could not write {}: {}", what, e.what());
    }
  };

  // 3. model, freeze
  nn::DetectionModel model = build_train_model(args, nc);
  model->names = names;
  if (resume) {
    const int n = io::transfer_weights(*model, resume->ck.weights);
    if (n != static_cast<int>(io::state_keys(*model).size()))
      throw ModelError(resume->path.string() + " does not match its own model description; it cannot be resumed");
  }
  for (const auto& f : freeze_parameters(*model, freeze_layers(args))) log::info("Freezing layer '{}'", f);
  const std::vector<int64_t> frozen_layers = freeze_layers(args);
  model->to(device);
  const bool cuda = device.is_cuda();
  if (cuda) {
    // channels_last (NHWC) weights: cuDNN's fastest convolution kernels on tensor cores take NHWC, and with
    // NCHW weights every conv would transpose. set_data keeps each parameter's identity (the optimizer, EMA
    // and checkpoints see the same tensors; checkpoints write .contiguous() copies). CPU keeps NCHW.
    torch::NoGradGuard ng;
    for (auto& p : model->parameters())
      if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  }
  if (dist) dist->broadcast_module(*model);  // every rank starts from rank 0's parameters and buffers
  if (dist && args.boolean("sync_bn")) {
    const int n = enable_sync_batchnorm(*model, *dist);
    if (main_rank) log::info("Using SyncBatchNorm across {} ranks ({} BatchNorm layers)", dist->world_size(), n);
  }
  if (main_rank) log::info("{}", nn::summary_line(*model));

  // 4. AMP: CUDA fp16 (scaled) or bf16 autocast; CPU only with an explicit amp_dtype=bfloat16 (plan_amp).
  const AmpPlan amp = plan_amp(args.boolean("amp"), args.str("amp_dtype"), args.was_set("amp_dtype"), device);
  if (main_rank) log::info("{}", amp.line);
  GradScaler scaler(amp.scaled);

  // 5. loaders
  auto sz = args.int_list("imgsz");
  int imgsz = sz.empty() ? 640 : static_cast<int>(sz[0]);
  if (imgsz % 32) {
    const int fixed = (imgsz + 31) / 32 * 32;
    log::warn("imgsz={} must be a multiple of max stride 32, updating to {}", imgsz, fixed);
    imgsz = fixed;
  }
  double batch_f = args.number("batch");
  if (batch_f < 1) {
    log::warn("batch={} (AutoBatch) is not supported yet; using batch=16 (give batch= what fits your device)",
              args.str("batch"));
    batch_f = 16;
  }
  // `batch` is the global batch (accumulation, weight decay and warmup follow it, as upstream); each rank
  // loads batch / world_size images per step.
  const int batch = static_cast<int>(batch_f);
  const int rank_batch = dist ? per_rank_batch(batch, dist->world_size()) : batch;
  int workers = static_cast<int>(args.integer("workers"));
  if (!device.is_cuda()) workers = 0;  // as upstream: CPU time goes to the model, not the loader

  data::ScanResult scan = data::scan_split(ds, "train");
  for (const auto& w : scan.warnings) log::warn("{}", w);
  std::vector<data::ImageLabels> items = std::move(scan.items);
  const double fraction = args.number("fraction");
  if (fraction < 1.0) {
    const size_t keep = std::max<size_t>(1, static_cast<size_t>(round_half_even(items.size() * fraction)));
    items.resize(std::min(items.size(), keep));
  }
  if (items.empty())
    throw DataError("dataset '" + ds.source + "' has no usable training images; check its train: split and labels");
  const int64_t n_train = static_cast<int64_t>(items.size());

  LoaderOptions lo;
  lo.mode = LoaderMode::Train;
  lo.imgsz = imgsz;
  lo.batch = rank_batch;
  lo.workers = workers;
  if (dist) lo.rank = dist->rank(), lo.world_size = dist->world_size();
  lo.seed = static_cast<uint64_t>(seed);
  lo.rect = args.boolean("rect");
  lo.shuffle = !args.boolean("rect");
  lo.cache = parse_cache_mode(args.str("cache"));
  // cache not given: keep the decoded images in RAM when they need at most 10% of the available memory
  // (shared by the ranks of this machine), see LoaderOptions::auto_ram_fraction. An explicit cache=False
  // keeps every decode, as upstream.
  if (lo.cache == CacheMode::None && !args.was_set("cache"))
    lo.auto_ram_fraction = 0.10 / static_cast<double>(dist ? dist->world_size() : 1);
  lo.single_cls = single_cls;
  // CUDA: the loader hands over uint8 images (a 4x smaller host->device copy) and the step divides by 255 on
  // the device to the very floats the loader would have made (uint8_images_to_float; test_engine
  // AmpLoader.*). CPU: the worker threads convert, as before.
  lo.float_img = !device.is_cuda();
  auto& h = lo.hyp;
  h.hsv_h = args.number("hsv_h"), h.hsv_s = args.number("hsv_s"), h.hsv_v = args.number("hsv_v");
  h.degrees = args.number("degrees"), h.translate = args.number("translate"), h.scale = args.number("scale");
  h.shear = args.number("shear"), h.perspective = args.number("perspective");
  h.flipud = args.number("flipud"), h.fliplr = args.number("fliplr"), h.bgr = args.number("bgr");
  h.mosaic = args.number("mosaic"), h.mixup = args.number("mixup");
  if (plots && !resume) try_plot("labels.jpg", [&] { plots::plot_labels(items, names, single_cls, res.save_dir / "labels.jpg"); });
  Loader train_loader(std::move(items), lo);

  const std::string val_split = ds.has_split("val") ? "val" : (ds.has_split("test") ? "test" : "");
  ValidatorOptions vo;
  vo.imgsz = imgsz;
  vo.batch = rank_batch * 2;
  vo.conf = given(args, "conf") ? args.number("conf") : 0.001;
  vo.iou = args.number("iou");
  vo.max_det = static_cast<int>(args.integer("max_det"));
  vo.single_cls = single_cls;
  vo.half = false;  // the EMA stays FP32: a half round trip would erode its weights
  vo.workers = workers * 2;
  vo.cache = lo.cache;
  vo.device = device;
  vo.save_dir = res.save_dir;
  Validator validator(vo);
  std::unique_ptr<Loader> val_loader;
  if (!main_rank) {
    // Only rank 0 validates.
  } else if (!val_split.empty()) val_loader = validator.make_loader(ds, val_split);
  else log::warn("dataset '{}' has no val or test split: training without validation", ds.source);

  ModelEMA ema(model);
  ema.model()->names = names;
  if (resume) {
    io::transfer_weights(*ema.model(), resume->ck.ema.empty() ? resume->ck.weights : resume->ck.ema);
    ema.set_updates(resume->ck.ema_updates);
  }

  // 6. optimizer, schedule, early stopping
  const int nbs = static_cast<int>(args.integer("nbs"));
  const int epochs_arg = static_cast<int>(args.integer("epochs"));
  int epochs = epochs_arg;
  const int accumulate0 = accumulate_steps(nbs, batch);
  const double decay = scaled_weight_decay(args.number("weight_decay"), batch, accumulate0, nbs);
  const std::string opt_name = args.str("optimizer");
  if (lower(opt_name) == "auto") log::info("{}", auto_optimizer_line(args.number("lr0"), args.number("momentum")));
  const OptimizerChoice choice = choose_optimizer(opt_name, args.number("lr0"), args.number("momentum"), nc, n_train,
                                                  batch, nbs, epochs);
  double warmup_bias_lr = choice.automatic ? 0.0 : args.number("warmup_bias_lr");
  ParamGroups groups = split_param_groups(*model);
  std::unique_ptr<torch::optim::Optimizer> opt = make_optimizer(choice, groups, decay);
  log::info("{}", optimizer_line(choice, groups, decay));
  if (resume && !resume->ck.optimizer.empty()) load_optimizer_state(*opt, resume->ck.optimizer);
  else if (resume) import_torch_optimizer_state(*opt, *resume->ck.ultralytics_optimizer, resume->path.string());
  const double initial_lr = choice.lr;
  const double lrf = args.number("lrf");
  const bool cos_lr = args.boolean("cos_lr");
  EarlyStopping stopper(args.integer("patience"));
  std::vector<torch::Tensor> trainable;
  for (auto& p : model->parameters())
    if (p.requires_grad()) trainable.push_back(p);

  loss::LossHyp lh;
  lh.nc = nc;
  lh.reg_max = model->reg_max();
  lh.strides.clear();
  auto st = model->stride().to(torch::kCPU);
  for (int64_t i = 0; i < st.numel(); ++i) lh.strides.push_back(st[i].item<double>());
  lh.box = args.number("box"), lh.cls = args.number("cls"), lh.dfl = args.number("dfl");
  loss::DetectionLoss criterion(lh);

  int start_epoch = 0;
  std::optional<double> best_fitness;
  std::optional<double> fitness;
  std::vector<std::pair<std::string, double>> last_metrics = {
      {"metrics/precision(B)", 0}, {"metrics/recall(B)", 0}, {"metrics/mAP50(B)", 0},
      {"metrics/mAP50-95(B)", 0},  {"val/box_loss", 0},      {"val/cls_loss", 0}, {"val/dfl_loss", 0}};
  const fs::path csv = res.save_dir / "results.csv";
  double time_offset = 0;
  if (resume) {
    start_epoch = static_cast<int>(resume->ck.epoch) + 1;
    best_fitness = resume->ck.best_fitness;
    if (start_epoch >= epochs)
      throw ConfigError(fmt::format("{} training to {} epochs is finished, nothing to resume; start a new training "
                                    "with model={} instead",
                                    resume->path.string(), epochs, resume->path.string()));
    if (main_rank) truncate_results(csv, start_epoch);  // rows of an epoch whose checkpoint never landed
    auto rows = read_results(csv);
    if (!rows.empty() && rows.back().size() > 1) time_offset = rows.back()[1];
    log::info("Resuming training {} from epoch {} to {} total epochs", resume->path.string(), start_epoch + 1, epochs);
  }
  const int close_mosaic = static_cast<int>(args.integer("close_mosaic"));
  if (close_mosaic > 0 && start_epoch > epochs - close_mosaic) {
    log::info("Closing dataloader mosaic");
    train_loader.close_mosaic();
  }

  // Batches per epoch: the loader's plan exists only after set_epoch, so count it here.
  const int64_t nb = static_cast<int64_t>(train_loader.size());  // this rank's shard (the same count on every rank)
  const int64_t nw = warmup_iterations(args.number("warmup_epochs"), nb);
  const double time_limit_h = given(args, "time") ? args.number("time") : 0.0;
  const double momentum = args.number("momentum"), warmup_momentum = args.number("warmup_momentum");
  int64_t last_opt_step = -1;
  int accumulate = accumulate0;
  const double t0 = now_seconds();

  log::info("Image sizes {} train, {} val", imgsz, imgsz);
  log::info("Using {} dataloader workers", workers);
  log::info("Logging results to {}", res.save_dir.string());
  log::info("Starting training for {}", time_limit_h > 0 ? fmt::format("{} hours...", time_limit_h)
                                                         : fmt::format("{} epochs...", epochs));
  res.start_epoch = start_epoch;
  std::unique_ptr<GradReducer> reducer;
  if (dist) reducer = std::make_unique<GradReducer>(*dist, trainable);
  // Rank 0 decides to stop (validation fitness, time limit); the others must take the same decision.
  auto agree = [&](bool flag) {
    if (!dist) return flag;
    torch::Tensor t = torch::tensor({flag ? 1 : 0}, torch::kInt64).to(device);
    dist->broadcast({t}, 0);
    return t.item<int64_t>() != 0;
  };
  // End of an epoch: rank 0's stop decision and epoch count (time= rescales it) for every rank.
  auto agree_end = [&](bool stop, int& n_epochs) {
    torch::Tensor t = torch::tensor({stop ? int64_t{1} : int64_t{0}, static_cast<int64_t>(n_epochs)}, torch::kInt64)
                          .to(device);
    dist->broadcast({t}, 0);
    t = t.to(torch::kCPU);
    n_epochs = static_cast<int>(t[1].item<int64_t>());
    return t[0].item<int64_t>() != 0;
  };
  auto optimizer_step = [&]() {
    // The only device->host read of a step is the scaler's skip decision (fp16 AMP; none otherwise):
    // unscaling, the inf check, the clip and the scale update all stay on the device.
    scaler.unscale_(trainable);
    clip_grad_norm(trainable, 10.0);
    if (scaler.grads_finite()) opt->step();
    scaler.update();
    opt->zero_grad();
    ema.update(model);
  };

  const std::set<int> nan_epochs = test_nan_epochs();
  int nan_recoveries = 0;
  int epoch = start_epoch;
  for (; epoch < epochs; ++epoch) {
    const double lf = lr_lambda(epoch, epochs, lrf, cos_lr);
    for (size_t g = 0; g < 3; ++g) set_group_lr(*opt, g, initial_lr * lf);  // the scheduler step
    model->train();
    for (const auto& named : model->named_modules()) {  // frozen layers' BatchNorms keep their statistics
      for (int64_t k : frozen_layers)
        if (named.key().rfind(fmt::format("model.{}.", k), 0) == 0) named.value()->eval();
    }
    if (close_mosaic > 0 && epoch == epochs - close_mosaic) {
      log::info("Closing dataloader mosaic");
      train_loader.close_mosaic();
    }
    train_loader.set_epoch(epoch);
    if (main_rank) std::printf("\n%s\n", epoch_header().c_str());
    EpochProgress bar(nb);
    std::array<double, 3> tloss{0, 0, 0};
    // CUDA: the loss items are summed on the device and read on the host only every 10 iterations and at
    // epoch end, so the step never waits for the GPU just to print a progress bar (tloss is that stale in
    // between). CPU reads every iteration as before (there a read costs nothing).
    torch::Tensor tloss_sum;
    auto read_tloss = [&](int64_t n) {
      if (!tloss_sum.defined() || n == 0) return;
      auto sum = tloss_sum.to(torch::kCPU);
      for (int k = 0; k < 3; ++k) tloss[k] = sum[k].item<double>() / static_cast<double>(n);
    };
    int64_t i = 0;
    int64_t last_nlabels = 0, last_width = 0;  // the last batch's, to redo the bar's line at epoch end
    std::string desc;
    bool time_up = false;
    while (auto b = train_loader.next()) {
      const int64_t ni = i + nb * epoch;
      if (plots && ni < 3)  // the first 3 batches of the first epoch, as they enter the model
        try_plot("train_batch", [&] {
          plots::plot_train_batch(*b, names, res.save_dir / fmt::format("train_batch{}.jpg", ni));
        });
      if (ni <= nw) {
        const WarmupValues wv = warmup_values(ni, nw, nbs, batch, warmup_bias_lr, initial_lr, lf, warmup_momentum,
                                              momentum);
        accumulate = wv.accumulate;
        set_group_lr(*opt, 0, wv.bias_lr);
        set_group_lr(*opt, 1, wv.lr);
        set_group_lr(*opt, 2, wv.lr);
        for (size_t g = 0; g < 3; ++g)
          if (has_momentum(*opt, g)) set_group_momentum(*opt, g, wv.momentum);
      }
      torch::Tensor img = b->img;
      // CUDA: a copy from pinned (page-locked) host memory is a true async DMA, so non_blocking lets the
      // step queue up behind it; from pageable memory it would stage and block.
      if (cuda) img = img.pin_memory();
      img = img.to(device, /*non_blocking=*/true);
      img = uint8_images_to_float(img);  // CUDA gets uint8 (a 4x smaller copy); same floats as the CPU's
      if (cuda) img = img.contiguous(torch::MemoryFormat::ChannelsLast);  // NHWC input, as the weights
      loss::Targets tg{b->batch_idx.to(device, /*non_blocking=*/cuda), b->cls.to(device, /*non_blocking=*/cuda),
                       b->bboxes.to(device, /*non_blocking=*/cuda)};
      std::vector<torch::Tensor> raw;
      {
        compat::AutocastGuard autocast(device.type(), amp.dtype, amp.autocast);
        raw = model->forward_raw(img);
      }
      // Loss and assigner in float32 (BCE and the assigner are fp32 under autocast too), whatever the forward ran in.
      if (amp.autocast)
        for (auto& r : raw) r = r.to(torch::kFloat32);
      loss::LossOutput out = criterion(raw, tg, std::array<int64_t, 2>{img.size(2), img.size(3)});
      if (cuda) {
        torch::Tensor it = out.items.detach().to(torch::kFloat64);
        tloss_sum = tloss_sum.defined() ? tloss_sum + it : it;
      } else {
        auto items = out.items.to(torch::kCPU, torch::kFloat64);
        for (int k = 0; k < 3; ++k) tloss[k] = (tloss[k] * i + items[k].item<double>()) / (i + 1);
      }
      // DDP averages gradients over ranks while the loss is per-rank-batch scaled: times world_size keeps
      // the gradient of the global batch (as upstream does).
      torch::Tensor total = dist ? out.total * static_cast<double>(dist->world_size()) : out.total;
      if (nan_epochs.count(epoch)) total = total * std::numeric_limits<double>::quiet_NaN();
      scaler.scale(total).backward();
      // After every backward (also inside an accumulation window): the hooks' buckets are awaited and
      // averaged, so .grad is the same on every rank before the step.
      if (reducer) reducer->finish();
      if (ni - last_opt_step >= accumulate) {
        optimizer_step();
        last_opt_step = ni;
        if (time_limit_h > 0) time_up = agree(now_seconds() - t0 > time_limit_h * 3600);
      }
      ++i;
      if (cuda && i % 10 == 0) read_tloss(i);
      last_nlabels = b->bboxes.size(0), last_width = img.size(3);
      desc = progress_desc(epoch, epochs, 0.0, tloss, last_nlabels, last_width);
      if (main_rank) bar.update(i, desc);
      if (time_up) break;
    }
    if (cuda && i > 0) {
      // Epoch end: the exact mean loss for the bar and results.csv.
      read_tloss(i);
      desc = progress_desc(epoch, epochs, 0.0, tloss, last_nlabels, last_width);
    }
    if (main_rank) bar.finish(desc);
    // NaN/Inf guard: a non-finite loss or weight means this epoch diverged. Reload last.pt (model, EMA,
    // optimizer) and go on with the next epoch, as Ultralytics does; this epoch is neither validated nor
    // saved, so no non-finite weight ever reaches last.pt or best.pt. EMA weights are equal on every rank,
    // so rank 0's verdict holds for all.
    if (agree(!std::isfinite(tloss[0] + tloss[1] + tloss[2]) || !all_finite(ema.model()->parameters()) ||
              !all_finite(model->parameters()))) {
      if (!fs::is_regular_file(res.last))
        throw ConfigError(fmt::format("training diverged (NaN/Inf loss) in epoch {}, before any checkpoint was saved; "
                                      "lower lr0 (now {}) or check the dataset's labels",
                                      epoch + 1, args.str("lr0")));
      if (++nan_recoveries > kMaxNanRecoveries)
        throw ConfigError(fmt::format("training diverged (NaN/Inf loss) again in epoch {} after {} reloads of {}; "
                                      "lower lr0 (now {}) or check the dataset's labels",
                                      epoch + 1, kMaxNanRecoveries, res.last.string(), args.str("lr0")));
      log::warn("epoch {}: NaN/Inf loss or weights; reloading {} and continuing (recovery {}/{})", epoch + 1,
                res.last.string(), nan_recoveries, kMaxNanRecoveries);
      io::Checkpoint good = io::load_checkpoint(res.last.string());
      io::transfer_weights(*model, good.weights);
      io::transfer_weights(*ema.model(), good.ema.empty() ? good.weights : good.ema);
      ema.set_updates(good.ema_updates);
      if (!good.optimizer.empty()) load_optimizer_state(*opt, good.optimizer);
      res.epochs_done = epoch + 1;
      continue;
    }
    if (!main_rank) {
      // Rank 0 validates, logs and saves; this rank waits in the broadcast of its stop decision.
      const bool stop = agree_end(false, epochs);
      res.epochs_done = epoch + 1;
      if (stop) break;
      continue;
    }
    std::array<double, 3> lrs{};
    for (size_t g = 0; g < 3; ++g) lrs[g] = group_lr(*opt, g);

    ema.model()->names = names;
    const bool final_epoch = epoch + 1 >= epochs || time_up;
    if (val_loader && (args.boolean("val") || final_epoch || stopper.possible_stop)) {
      ValResult vr = validator.run(ema.model(), *val_loader, nc, names, &criterion);
      const auto& m = vr.metrics;
      last_metrics = {{"metrics/precision(B)", round5(m.mp)}, {"metrics/recall(B)", round5(m.mr)},
                      {"metrics/mAP50(B)", round5(m.map50)},  {"metrics/mAP50-95(B)", round5(m.map)}};
      const auto vl = vr.loss.value_or(std::array<double, 3>{0, 0, 0});
      last_metrics.push_back({"val/box_loss", round5(vl[0])});
      last_metrics.push_back({"val/cls_loss", round5(vl[1])});
      last_metrics.push_back({"val/dfl_loss", round5(vl[2])});
      fitness = round5(m.fitness());
    } else if (!val_loader) {
      fitness = -(tloss[0] + tloss[1] + tloss[2]);  // no validation: the negative training loss
    }
    if (fitness && !std::isfinite(*fitness)) fitness.reset();  // never a best, never compared
    if (fitness && (!best_fitness || *best_fitness == 0.0 || *best_fitness < *fitness)) best_fitness = fitness;

    std::vector<double> row{static_cast<double>(epoch + 1), std::round((now_seconds() - t0 + time_offset) * 1e3) / 1e3,
                            tloss[0], tloss[1], tloss[2]};
    for (const auto& kv : last_metrics) row.push_back(kv.second);
    for (double lr : lrs) row.push_back(lr);
    append_results_row(csv, row);
    if (board) board->epoch(row);
    if (plots) try_plot("results.png", [&] { plots::plot_results(csv, res.save_dir / "results.png"); });

    bool stop = stopper(epoch + 1, fitness);
    if (stop) {
      res.stop_reason = "early stopping";
      log::info("Stopping training early as no improvement observed in last {} epochs. Best results observed at "
                "epoch {}, best model saved as best.pt. To update EarlyStopping(patience={}) pass a new patience "
                "value, i.e. `patience=300` or use `patience=0` to disable EarlyStopping.",
                stopper.patience, stopper.best_epoch, stopper.patience);
    }
    if (time_limit_h > 0) {
      const double elapsed = now_seconds() - t0;
      const double per_epoch = elapsed / (epoch - start_epoch + 1);
      epochs = std::max(epoch + 1, static_cast<int>(std::ceil(time_limit_h * 3600 / std::max(per_epoch, 1e-9))));
      if (elapsed > time_limit_h * 3600 || time_up) {
        stop = true;
        res.stop_reason = "time limit";
        log::info("Stopping training: time={} hours reached", time_limit_h);
      }
    }

    if (args.boolean("save") || final_epoch || stop) {
      auto kv = last_metrics;
      kv.push_back({"fitness", fitness.value_or(0.0)});
      TrainCheckpoint tc{epoch, best_fitness, save_optimizer_state(*opt), args_yaml, metrics_json(kv),
                         export_torch_optimizer_state(*opt)};
      io::Checkpoint ck = make_train_checkpoint(model, ema, tc);
      io::save_checkpoint(ck, res.last.string());
      if (best_fitness && fitness && *best_fitness == *fitness) io::save_checkpoint(ck, res.best.string());
      const int64_t period = args.integer("save_period");
      if (period > 0 && epoch % period == 0)
        io::save_checkpoint(ck, (wdir / fmt::format("epoch{}.pt", epoch)).string());
    }
    res.epochs_done = epoch + 1;
    if (dist) stop = agree_end(stop, epochs);
    if (stop) break;
  }
  if (const char* dump = std::getenv("YOLOCPP_DDP_TEST_DUMP"); dump && dist) {
    // Test hook (tests/e2e/test_ddp_train.cpp, which has no LibTorch to read a .pt): every rank's final
    // model parameters then EMA parameters as raw float32, to show the ranks ended identical. Buffers (BN
    // running statistics) are left out: each rank's come from its own batches. Nothing else reads this.
    std::vector<torch::Tensor> flat;
    for (const auto& p : model->parameters()) flat.push_back(p.detach().reshape(-1));
    for (const auto& p : ema.model()->parameters()) flat.push_back(p.detach().reshape(-1));
    torch::Tensor all = torch::cat(flat).to(torch::kCPU, torch::kFloat32).contiguous();
    util::atomic_write(fs::path(dump) / fmt::format("rank{}.f32", dist->rank()),
                       std::string(static_cast<const char*>(all.data_ptr()), all.numel() * sizeof(float)));
  }
  if (dist) dist->barrier();  // every rank is done with collectives before rank 0 goes on alone
  if (!main_rank) return res;
  log::info("{} epochs completed in {:.3f} hours.", res.epochs_done - start_epoch, (now_seconds() - t0) / 3600.0);

  // End: strip, then validate best.pt (fused) with per-class rows.
  for (const fs::path& p : {res.last, res.best})
    if (fs::exists(p)) strip_checkpoint(p);
  res.best_fitness = best_fitness;
  if (fs::exists(res.best) && val_loader) {
    log::info("Validating {}...", res.best.string());
    nn::DetectionModel bm = io::load_model(res.best.string());
    bm->names = names;
    bm->fuse();
    bm->to(device);
    ValidatorOptions fo = vo;
    fo.verbose = true;
    fo.confusion = plots;
    fo.plot_batches = plots;
    Validator final_val(fo);
    ValResult vr = final_val.run(bm, *val_loader, nc, names, nullptr);
    res.final_metrics = vr.metrics;
    if (plots && !vr.confusion.empty())
      try_plot("confusion matrices", [&] { plots::plot_confusion_matrices(vr.confusion, names, res.save_dir); });
    if (plots) try_plot("PR/F1/P/R curves", [&] { plots::plot_curves(vr.metrics, names, res.save_dir); });
  }
  if (board) board->plots(res.save_dir, res.epochs_done);
  log::info("Results saved to {}", res.save_dir.string());
  return res;
}

}  // namespace

}  // namespace yolocpp::engine
