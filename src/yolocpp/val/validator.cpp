#include "yolocpp/val/validator.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <sstream>

#include "yolocpp/data/loader/batch.hpp"
#include "yolocpp/metrics/plots/plots.hpp"
#include "yolocpp/metrics/boxes.hpp"
#include "yolocpp/metrics/confusion.hpp"
#include "yolocpp/metrics/nms.hpp"
#include "yolocpp/metrics/report.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::engine {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

double round_to(double v, double scale) { return std::round(v * scale) / scale; }

}  // namespace

void append_json_predictions(const std::string& im_file, const torch::Tensor& pred, nlohmann::json& out) {
  const std::string stem = fs::path(im_file).stem().string();
  const bool numeric = !stem.empty() && stem.size() < 18 &&
                       std::all_of(stem.begin(), stem.end(), [](char c) { return c >= '0' && c <= '9'; });
  nlohmann::json image_id = numeric ? nlohmann::json(std::stoll(stem)) : nlohmann::json(stem);
  auto p = pred.to(torch::kCPU, torch::kFloat32).contiguous();
  auto a = p.accessor<float, 2>();
  for (int64_t i = 0; i < p.size(0); ++i) {
    // xyxy -> top-left xywh in float32 first, as upstream converts before rounding.
    const float x1 = a[i][0], y1 = a[i][1], w = a[i][2] - a[i][0], h = a[i][3] - a[i][1];
    out.push_back({{"image_id", image_id},
                   {"category_id", static_cast<int>(a[i][5])},
                   {"bbox", {round_to(x1, 1e3), round_to(y1, 1e3), round_to(w, 1e3), round_to(h, 1e3)}},
                   {"score", round_to(a[i][4], 1e5)}});
  }
}

Validator::Validator(ValidatorOptions opt) : opt_(std::move(opt)) {
  if (opt_.half && !opt_.device.is_cuda()) {
    log::warn("half=True is only supported on CUDA; validating in FP32 on CPU");
    opt_.half = false;
  }
}

std::unique_ptr<Loader> Validator::make_loader(const data::DatasetInfo& ds, const std::string& split) const {
  LoaderOptions lo;
  lo.mode = LoaderMode::Val;
  lo.imgsz = opt_.imgsz;
  lo.batch = opt_.batch;
  lo.workers = opt_.workers;
  lo.rect = opt_.rect;
  lo.cache = opt_.cache;
  lo.single_cls = opt_.single_cls;
  return std::make_unique<Loader>(ds, split, lo);
}

ValResult Validator::run(const ForwardFn& forward, Loader& loader, int nc, const std::vector<std::string>& names) {
  if (!forward) throw ConfigError("validator: no forward function given");
  RawForward f = [&](const torch::Tensor& x) { return std::make_pair(forward(x), std::vector<torch::Tensor>{}); };
  return loop(f, loader, nc, names, nullptr);
}

ValResult Validator::run(nn::DetectionModel& model, Loader& loader, int nc, const std::vector<std::string>& names,
                         const loss::DetectionLoss* loss) {
  const bool was_training = model->is_training();
  model->eval();
  model->to(opt_.device, opt_.half ? torch::kHalf : torch::kFloat32);
  RawForward f = [&](const torch::Tensor& x) {
    auto raw = model->forward_raw(x);
    auto decoded = model->decode(raw);
    return std::make_pair(decoded, raw);
  };
  ValResult r;
  try {
    r = loop(f, loader, nc, names, loss);
  } catch (...) {
    if (opt_.half) model->to(torch::kFloat32);
    if (was_training) model->train();
    throw;
  }
  if (opt_.half) model->to(torch::kFloat32);  // the trainer keeps training the FP32 weights
  if (was_training) model->train();
  return r;
}

ValResult Validator::run(nn::DetectionModel& model, const data::DatasetInfo& ds, const std::string& split) {
  if (!opt_.single_cls && model->nc() != ds.nc)
    throw ModelError("the model predicts " + std::to_string(model->nc()) + " classes but dataset '" + ds.source +
                     "' has nc=" + std::to_string(ds.nc) +
                     "; validate a model trained on this dataset (or pass single_cls=True)");
  auto loader = make_loader(ds, split);
  return run(model, *loader, ds.nc, ds.names, nullptr);
}

void Validator::plot_batch(const Batch& b, const std::vector<torch::Tensor>& preds, const std::vector<std::string>& names,
                           int64_t index) const {
  try {
    plots::plot_train_batch(b, names, opt_.save_dir / ("val_batch" + std::to_string(index) + "_labels.jpg"));
    // The same images with the predictions above conf 0.25 (as upstream draws them) in place of the labels.
    Batch p = b;
    std::vector<torch::Tensor> bi, cl, bx;
    const float W = static_cast<float>(b.width()), H = static_cast<float>(b.height());
    for (size_t i = 0; i < preds.size(); ++i) {
      torch::Tensor d = preds[i].to(torch::kCPU);
      if (d.size(0)) d = d.index({d.select(1, 4) > 0.25});
      if (!d.size(0)) continue;
      torch::Tensor xyxy = d.slice(1, 0, 4).clone();  // clipped to the image, as the native-space boxes are
      xyxy.select(1, 0).clamp_(0, W), xyxy.select(1, 2).clamp_(0, W);
      xyxy.select(1, 1).clamp_(0, H), xyxy.select(1, 3).clamp_(0, H);
      torch::Tensor xywh = torch::stack({(xyxy.select(1, 0) + xyxy.select(1, 2)) / 2 / W,
                                         (xyxy.select(1, 1) + xyxy.select(1, 3)) / 2 / H,
                                         (xyxy.select(1, 2) - xyxy.select(1, 0)) / W,
                                         (xyxy.select(1, 3) - xyxy.select(1, 1)) / H}, 1);
      bi.push_back(torch::full({d.size(0)}, static_cast<float>(i)));
      cl.push_back(d.select(1, 5).view({-1, 1}));
      bx.push_back(xywh);
    }
    p.batch_idx = bi.empty() ? torch::zeros({0}) : torch::cat(bi);
    p.cls = cl.empty() ? torch::zeros({0, 1}) : torch::cat(cl);
    p.bboxes = bx.empty() ? torch::zeros({0, 4}) : torch::cat(bx);
    plots::plot_train_batch(p, names, opt_.save_dir / ("val_batch" + std::to_string(index) + "_pred.jpg"));
  } catch (const std::exception& e) {
    log::warn("plots: could not write val_batch{} images: {}", index, e.what());
  }
}

ValResult Validator::loop(const RawForward& forward, Loader& loader, int nc, const std::vector<std::string>& names,
                          const loss::DetectionLoss* loss) {
  torch::NoGradGuard no_grad;
  const int nc_eff = opt_.single_cls ? 1 : nc;
  metrics::NmsOptions nms;
  nms.conf = opt_.conf;
  nms.iou = opt_.iou;
  nms.max_det = opt_.max_det;
  nms.multi_label = nc_eff > 1;  // upstream: multi-label only when there is more than one class
  nms.agnostic = opt_.single_cls;

  metrics::DetectionStats stats;
  ValResult res;
  std::optional<metrics::ConfusionMatrix> cm;
  if (opt_.confusion) cm.emplace(nc_eff);  // default conf 0.25, IoU 0.45 (utils/metrics.py ConfusionMatrix)
  double t_pre = 0, t_inf = 0, t_loss = 0, t_post = 0;
  torch::Tensor loss_sum = torch::zeros({3}, torch::kFloat64);
  int64_t nbatches = 0;
  nlohmann::json json = nlohmann::json::array();

  loader.set_epoch(loader.epoch());  // always from the first batch
  while (auto b = loader.next()) {
    auto t0 = Clock::now();
    torch::Tensor x = b->img.to(opt_.device, /*non_blocking=*/true);
    if (opt_.half && x.scalar_type() == torch::kUInt8)
      x = x.to(torch::kHalf).div_(255.0);  // upstream's half path: half(img) / 255
    else  // the trainer's conversion: true division, the loader's floats on CPU and CUDA alike
      x = uint8_images_to_float(x).to(opt_.half ? torch::kHalf : torch::kFloat32);
    sync(opt_.device);
    t_pre += seconds_since(t0);

    auto t1 = Clock::now();
    auto [decoded, raw] = forward(x);
    sync(opt_.device);
    t_inf += seconds_since(t1);

    if (loss && !raw.empty()) {
      auto t2 = Clock::now();
      std::vector<torch::Tensor> rawf;
      for (auto& r : raw) rawf.push_back(r.to(torch::kFloat32));
      loss::Targets tg{b->batch_idx.to(opt_.device), b->cls.to(opt_.device), b->bboxes.to(opt_.device)};
      auto out = (*loss)(rawf, tg);
      loss_sum += out.items.to(torch::kCPU, torch::kFloat64);
      sync(opt_.device);
      t_loss += seconds_since(t2);
    }
    ++nbatches;

    auto t3 = Clock::now();
    if (decoded.dim() != 3 || decoded.size(0) != b->size() || (!opt_.single_cls && decoded.size(1) != 4 + nc)) {
      std::ostringstream os;
      os << decoded.sizes();
      throw ModelError("validator: the model output has shape " + os.str() + " but a batch of " +
                       std::to_string(b->size()) + " images with nc=" + std::to_string(nc) +
                       " needs [B, 4+nc, N]; check that the model matches the dataset");
    }
    auto preds = metrics::non_max_suppression(decoded.to(torch::kFloat32), nms);
    t_post += seconds_since(t3);
    if (opt_.plot_batches && nbatches <= 3 && !opt_.save_dir.empty()) plot_batch(*b, preds, names, nbatches - 1);

    const int64_t H = b->height(), W = b->width();
    const auto scale = torch::tensor({float(W), float(H), float(W), float(H)});
    for (int64_t i = 0; i < b->size(); ++i) {
      const auto sel = b->batch_idx == static_cast<float>(i);
      torch::Tensor cls = b->cls.index({sel}).view({-1});
      torch::Tensor box = b->bboxes.index({sel});
      const cv::Size ori = b->ori_shape[static_cast<size_t>(i)];
      const metrics::HW hw0{ori.height, ori.width};
      const auto& rp = b->ratio_pad[static_cast<size_t>(i)];
      const metrics::RatioPad ratio_pad{rp[0], rp[1], rp[2], rp[3]};
      // GT and predictions both go to original-image pixels before matching (8.3.58 models/yolo/detect/val.py
      // _prepare_batch).
      torch::Tensor gt = metrics::scale_boxes({H, W}, metrics::xywh2xyxy(box) * scale, hw0, ratio_pad);
      torch::Tensor pred = preds[static_cast<size_t>(i)].clone();
      if (opt_.single_cls && pred.size(0)) pred.select(1, 5).zero_();
      torch::Tensor predn = metrics::scale_boxes({H, W}, pred, hw0, ratio_pad);
      stats.update(predn, gt, cls);
      if (cm) cm->process_batch(predn, gt, opt_.single_cls ? torch::zeros_like(cls) : cls);
      res.instances += cls.size(0);
      if (opt_.save_json) append_json_predictions(b->im_files[static_cast<size_t>(i)], predn, json);
    }
  }

  res.metrics = stats.compute(nc_eff);
  if (cm) res.confusion = cm->matrix();
  res.images = stats.seen();
  const double n = std::max<double>(1.0, static_cast<double>(res.images));
  res.speed = {t_pre * 1e3 / n, t_inf * 1e3 / n, t_loss * 1e3 / n, t_post * 1e3 / n};
  if (loss && nbatches > 0) {
    loss_sum /= static_cast<double>(nbatches);
    res.loss = std::array<double, 3>{loss_sum[0].item<double>(), loss_sum[1].item<double>(), loss_sum[2].item<double>()};
  }

  std::map<int, std::string> name_map;
  for (size_t c = 0; c < names.size(); ++c) name_map[static_cast<int>(c)] = names[c];
  res.table.push_back(metrics::table_header());
  res.table.push_back(metrics::table_all_row(res.metrics));
  if (opt_.verbose && nc_eff > 1)
    for (auto& row : metrics::table_class_rows(res.metrics, name_map)) res.table.push_back(row);
  if (opt_.print) {
    for (const auto& line : res.table) std::printf("%s\n", line.c_str());
    if (res.instances == 0)
      log::warn("no labels found in the {} set, can not compute metrics without labels", "validation");
    std::printf("%s\n", metrics::speed_line(res.speed.preprocess, res.speed.inference, res.speed.loss,
                                              res.speed.postprocess).c_str());
    std::fflush(stdout);
  }
  if (opt_.save_json) {
    if (opt_.save_dir.empty()) throw ConfigError("save_json=True needs a save directory for predictions.json");
    res.json = opt_.save_dir / "predictions.json";
    util::atomic_write(res.json, json.dump());
    if (opt_.print) log::info("Saving {}...", res.json.string());
  }
  return res;
}

}  // namespace yolocpp::engine
