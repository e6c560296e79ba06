// Unit tests of the trainer's pieces (ultralytics 8.3.58 engine/trainer.py BaseTrainer): parameter groups,
// optimizer=auto, warmup, schedules, accumulation, EMA, GradScaler, results.csv format, device selection, freezing,
// optimizer state round trip.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>

#include "common/test_util.hpp"
#include "yolocpp/train/console.hpp"
#include "yolocpp/train/ema.hpp"
#include "yolocpp/train/optim.hpp"
#include "yolocpp/train/schedule.hpp"
#include "yolocpp/train/trainer.hpp"
#include "yolocpp/nn/model.hpp"
#include "yolocpp/util/error.hpp"

using namespace yolocpp;
using namespace yolocpp::engine;

namespace {
std::string g6(double v) { return fmt_g6(v); }
}  // namespace

TEST(TrainerOptim, ParamGroupsOfYolo11n) {
  for (int nc : {80, 22, 3}) {
    auto model = nn::build_model("yolo11n.yaml", nc);
    ParamGroups g = split_param_groups(*model);
    EXPECT_EQ(g.params[0].size(), 87u) << "bias group, nc=" << nc;
    EXPECT_EQ(g.params[1].size(), 88u) << "weight group, nc=" << nc;
    EXPECT_EQ(g.params[2].size(), 81u) << "bn weight group, nc=" << nc;
    EXPECT_EQ(g.total(), 256u);
    // Global index 174 (last of pg1) is the frozen DFL weight; pg0 starts with the first BN bias.
    EXPECT_EQ(g.names[1].back(), "model.23.dfl.conv.weight");
    EXPECT_EQ(g.names[0].front(), "model.0.bn.bias");
    EXPECT_EQ(g.names[1].front(), "model.0.conv.weight");
    EXPECT_EQ(g.names[2].front(), "model.0.bn.weight");
  }
}

TEST(TrainerOptim, AutoChoiceMatchesTheWorkedRun) {
  // 344 images, batch 16, 30 epochs, nc=22: ceil(344/64)*30 = 180 iterations -> AdamW lr 0.000385.
  OptimizerChoice c = choose_optimizer("auto", 0.01, 0.937, 22, 344, 16, 64, 30);
  EXPECT_TRUE(c.automatic);
  EXPECT_EQ(c.iterations, 180);
  EXPECT_EQ(c.name, "AdamW");
  EXPECT_DOUBLE_EQ(c.lr, 0.000385);
  EXPECT_DOUBLE_EQ(c.momentum, 0.9);
  EXPECT_DOUBLE_EQ(choose_optimizer("auto", 0.01, 0.937, 80, 344, 16, 64, 30).lr, 0.000119);
  EXPECT_DOUBLE_EQ(choose_optimizer("auto", 0.01, 0.937, 1, 344, 16, 64, 30).lr, 0.002);
  EXPECT_DOUBLE_EQ(choose_optimizer("auto", 0.01, 0.937, 20, 344, 16, 64, 30).lr, 0.000417);
  // ceil(100000/64) * 7 = 10941 > 10000 -> SGD(0.01, 0.9); batch above nbs divides by batch.
  OptimizerChoice big = choose_optimizer("auto", 0.02, 0.937, 80, 100000, 16, 64, 7);
  EXPECT_EQ(big.iterations, 10941);
  EXPECT_EQ(big.name, "SGD");
  EXPECT_DOUBLE_EQ(big.lr, 0.01);
  EXPECT_EQ(choose_optimizer("auto", 0.01, 0.937, 80, 1000, 128, 64, 10).iterations, 80);
  // Explicit choices keep lr0 / momentum.
  OptimizerChoice sgd = choose_optimizer("SGD", 0.02, 0.95, 80, 10, 16, 64, 1);
  EXPECT_EQ(sgd.name, "SGD");
  EXPECT_FALSE(sgd.automatic);
  EXPECT_DOUBLE_EQ(sgd.lr, 0.02);
  EXPECT_THROW(choose_optimizer("Lion", 0.01, 0.9, 80, 10, 16, 64, 1), ConfigError);
}

TEST(TrainerOptim, OptimizerLinesAsUpstreamPrintsThem) {
  auto model = nn::build_model("yolo11n.yaml", 22);
  ParamGroups g = split_param_groups(*model);
  OptimizerChoice c = choose_optimizer("auto", 0.01, 0.937, 22, 344, 16, 64, 30);
  const double decay = scaled_weight_decay(0.0005, 16, accumulate_steps(64, 16), 64);
  EXPECT_EQ(optimizer_line(c, g, decay),
            "optimizer: AdamW(lr=0.000385, momentum=0.9) with parameter groups 81 weight(decay=0.0), "
            "88 weight(decay=0.0005), 87 bias(decay=0.0)");
  EXPECT_EQ(auto_optimizer_line(0.01, 0.937),
            "optimizer: 'optimizer=auto' found, ignoring 'lr0=0.01' and 'momentum=0.937' and determining best "
            "'optimizer', 'lr0' and 'momentum' automatically... ");
  EXPECT_EQ(py_float(0.0), "0.0");
  EXPECT_EQ(py_float(1e-05), "1e-05");
  EXPECT_EQ(py_float(0.0001), "0.0001");
  EXPECT_EQ(py_float(0.0005625), "0.0005625");
  EXPECT_EQ(py_float(2.0), "2.0");
}

TEST(TrainerOptim, GroupsGetTheirDecayAndOptimizerType) {
  auto model = nn::build_model("yolo11n.yaml", 3);
  ParamGroups g = split_param_groups(*model);
  auto opt = make_optimizer(choose_optimizer("SGD", 0.01, 0.937, 3, 10, 16, 64, 1), g, 0.0005);
  ASSERT_EQ(opt->param_groups().size(), 3u);
  auto wd = [&](size_t k) {
    return static_cast<torch::optim::SGDOptions&>(opt->param_groups()[k].options()).weight_decay();
  };
  EXPECT_EQ(wd(0), 0.0);
  EXPECT_EQ(wd(1), 0.0005);
  EXPECT_EQ(wd(2), 0.0);
  EXPECT_TRUE(static_cast<torch::optim::SGDOptions&>(opt->param_groups()[1].options()).nesterov());
  EXPECT_TRUE(has_momentum(*opt, 0));
  set_group_momentum(*opt, 2, 0.85);
  EXPECT_EQ(static_cast<torch::optim::SGDOptions&>(opt->param_groups()[2].options()).momentum(), 0.85);
  set_group_lr(*opt, 1, 0.123);
  EXPECT_EQ(group_lr(*opt, 1), 0.123);
  auto adam = make_optimizer(choose_optimizer("auto", 0.01, 0.937, 3, 10, 16, 64, 1), g, 0.0005);
  EXPECT_FALSE(has_momentum(*adam, 0));  // Adam-family: no momentum warmup
  auto& ao = static_cast<torch::optim::AdamWOptions&>(adam->param_groups()[0].options());
  EXPECT_EQ(std::get<0>(ao.betas()), 0.9);
  EXPECT_EQ(std::get<1>(ao.betas()), 0.999);
  EXPECT_EQ(ao.weight_decay(), 0.0);
  EXPECT_EQ(static_cast<torch::optim::AdamWOptions&>(adam->param_groups()[1].options()).weight_decay(), 0.0005);
}

TEST(TrainerSchedule, AccumulationAndScaledDecay) {
  EXPECT_EQ(accumulate_steps(64, 16), 4);
  EXPECT_EQ(accumulate_steps(64, 24), 3);  // 2.67
  EXPECT_EQ(accumulate_steps(64, 40), 2);  // 1.6
  EXPECT_EQ(accumulate_steps(64, 128), 1);  // round(0.5) = 0 -> at least 1
  EXPECT_EQ(accumulate_steps(10, 4), 2);    // 2.5 rounds half to even, not up
  EXPECT_EQ(accumulate_steps(14, 4), 4);    // 3.5 -> 4
  EXPECT_DOUBLE_EQ(scaled_weight_decay(0.0005, 16, 4, 64), 0.0005);
  EXPECT_DOUBLE_EQ(scaled_weight_decay(0.0005, 24, 3, 64), 0.0005625);
  EXPECT_DOUBLE_EQ(scaled_weight_decay(0.0005, 128, 1, 64), 0.001);
  EXPECT_EQ(warmup_iterations(3.0, 22), 100);
  EXPECT_EQ(warmup_iterations(3.0, 50), 150);
  EXPECT_EQ(warmup_iterations(0.5, 401), 200);  // round(200.5) half-even
  EXPECT_EQ(warmup_iterations(0.0, 50), -1);
}

TEST(TrainerSchedule, LinearAndCosineLambdas) {
  EXPECT_DOUBLE_EQ(lr_lambda(0, 100, 0.01, false), 1.0);
  EXPECT_DOUBLE_EQ(lr_lambda(50, 100, 0.01, false), 0.505);
  EXPECT_DOUBLE_EQ(lr_lambda(100, 100, 0.01, false), 0.01);
  EXPECT_NEAR(lr_lambda(4, 30, 0.01, false), 0.868, 1e-15);
  EXPECT_DOUBLE_EQ(lr_lambda(0, 100, 0.01, true), 1.0);
  EXPECT_NEAR(lr_lambda(50, 100, 0.01, true), 0.505, 1e-12);
  EXPECT_NEAR(lr_lambda(100, 100, 0.01, true), 0.01, 1e-12);
  EXPECT_NEAR(lr_lambda(25, 100, 0.01, true), 1.0 - 0.99 * (1.0 - std::sqrt(0.5)) / 2.0, 1e-12);
  EXPECT_NEAR(lr_lambda(25, 100, 0.01, false), 0.7525, 1e-12);  // cosine stays higher early on
}

TEST(TrainerSchedule, WarmupInterpolation) {
  // SGD defaults: lr0 0.01, warmup_bias_lr 0.1, momentum 0.8 -> 0.937, nw = 100, batch 16 (accumulate 1 -> 4).
  WarmupValues v0 = warmup_values(0, 100, 64, 16, 0.1, 0.01, 1.0, 0.8, 0.937);
  EXPECT_EQ(v0.accumulate, 1);
  EXPECT_DOUBLE_EQ(v0.bias_lr, 0.1);
  EXPECT_DOUBLE_EQ(v0.lr, 0.0);
  EXPECT_DOUBLE_EQ(v0.momentum, 0.8);
  WarmupValues v50 = warmup_values(50, 100, 64, 16, 0.1, 0.01, 1.0, 0.8, 0.937);
  EXPECT_EQ(v50.accumulate, 2);  // interp 2.5 -> half-even 2
  EXPECT_DOUBLE_EQ(v50.bias_lr, 0.055);
  EXPECT_DOUBLE_EQ(v50.lr, 0.005);
  EXPECT_NEAR(v50.momentum, 0.8685, 1e-15);
  WarmupValues v84 = warmup_values(84, 100, 64, 16, 0.1, 0.01, 0.99, 0.8, 0.937);
  EXPECT_EQ(v84.accumulate, 4);  // 3.52
  EXPECT_NEAR(v84.lr, 0.84 * 0.0099, 1e-15);
  WarmupValues v100 = warmup_values(100, 100, 64, 16, 0.1, 0.01, 0.97, 0.8, 0.937);
  EXPECT_DOUBLE_EQ(v100.bias_lr, 0.0097);
  EXPECT_DOUBLE_EQ(v100.lr, 0.0097);
  EXPECT_DOUBLE_EQ(v100.momentum, 0.937);
}

// Replays an 8.3.58 run (BaseTrainer warmup, ModelEMA decay): 344 images, batch 16, 30 epochs, auto -> AdamW lr
// 0.000385: the lr/pg columns at the end of each epoch and the optimizer step counts.
TEST(TrainerSchedule, WorkedRunLrColumnsAndStepCounts) {
  const int epochs = 30, nbs = 64, batch = 16;
  const int64_t nb = 22, nw = warmup_iterations(3.0, nb);
  ASSERT_EQ(nw, 100);
  const double lr0 = 0.000385;
  int accumulate = accumulate_steps(nbs, batch);
  int64_t last = -1, steps = 0;
  std::vector<std::string> lr_col;
  std::vector<int64_t> steps_per_epoch;
  for (int e = 0; e < epochs; ++e) {
    const double lf = lr_lambda(e, epochs, 0.01, false);
    double lr = lr0 * lf, bias_lr = lr;
    int64_t s0 = steps;
    for (int64_t i = 0; i < nb; ++i) {
      const int64_t ni = i + nb * e;
      if (ni <= nw) {
        WarmupValues v = warmup_values(ni, nw, nbs, batch, 0.0, lr0, lf, 0.8, 0.937);
        accumulate = v.accumulate, lr = v.lr, bias_lr = v.bias_lr;
      }
      if (ni - last >= accumulate) ++steps, last = ni;
    }
    EXPECT_EQ(g6(lr), g6(bias_lr)) << "auto sets warmup_bias_lr=0: all groups equal";
    lr_col.push_back(g6(lr));
    steps_per_epoch.push_back(steps - s0);
  }
  EXPECT_EQ(lr_col[0], "8.085e-05");
  EXPECT_EQ(lr_col[1], "0.000160087");
  EXPECT_EQ(lr_col[2], "0.000233734");
  EXPECT_EQ(lr_col[3], "0.00030179");
  EXPECT_EQ(lr_col[4], "0.00033418");
  EXPECT_EQ(lr_col[5], "0.000321475");
  EXPECT_EQ(lr_col[29], "1.6555e-05");
  EXPECT_EQ(std::vector<int64_t>(steps_per_epoch.begin(), steps_per_epoch.begin() + 5),
            (std::vector<int64_t>{19, 11, 9, 7, 5}));
  EXPECT_EQ(steps, 189);
}

TEST(TrainerEma, DecayRampAndUpdate) {
  EXPECT_NEAR(ModelEMA::decay_at(1), 0.9999 * (1 - std::exp(-1.0 / 2000)), 1e-16);
  EXPECT_NEAR(ModelEMA::decay_at(1), 4.99825e-4, 1e-9);
  EXPECT_NEAR(ModelEMA::decay_at(2000), 0.9999 * (1 - std::exp(-1.0)), 1e-15);
  EXPECT_NEAR(ModelEMA::decay_at(100000), 0.9999, 1e-12);
  EXPECT_EQ(ModelEMA::decay_at(0), 0.0);

  auto model = nn::build_model("yolo11n.yaml", 2);
  ModelEMA ema(model);
  EXPECT_EQ(ema.updates(), 0);
  EXPECT_FALSE(ema.model()->is_training());
  auto find = [](torch::nn::Module& m, const std::string& k) {
    for (auto& e : state_entries(m))
      if (e.first == k) return e.second;
    return torch::Tensor();
  };
  torch::Tensor w_model = find(*model, "model.0.conv.weight");
  torch::Tensor rm_model = find(*model, "model.0.bn.running_mean");
  const torch::Tensor w_old = find(*ema.model(), "model.0.conv.weight").clone();
  ASSERT_TRUE(torch::equal(w_old, w_model));
  {
    torch::NoGradGuard ng;
    w_model.add_(1.0);
    rm_model.fill_(2.0);
  }
  ema.update(model);
  ema.update(model);
  const double d1 = ModelEMA::decay_at(1), d2 = ModelEMA::decay_at(2);
  // two updates towards (w_old + 1): ema = w_old + (1 - d1 * d2)
  auto w_ema = find(*ema.model(), "model.0.conv.weight");
  EXPECT_TRUE(torch::allclose(w_ema, w_old + (1.0 - d1 * d2), 1e-6, 1e-6));
  auto rm_ema = find(*ema.model(), "model.0.bn.running_mean");
  EXPECT_TRUE(torch::allclose(rm_ema, torch::full_like(rm_ema, 2.0 * (1.0 - d1 * d2)), 1e-6, 1e-7));
  EXPECT_EQ(ema.updates(), 2);
  EXPECT_FALSE(w_ema.requires_grad());
}

TEST(TrainerOptim, GradScalerOnAToyTensor) {
  auto x = torch::tensor({1.0f, -2.0f}, torch::requires_grad());
  GradScaler s(true, 65536.0, 2.0, 0.5, /*growth_interval=*/2);
  auto loss = (x * 3.0).sum();
  auto scaled = s.scale(loss);
  EXPECT_FLOAT_EQ(scaled.item<float>(), -3.0f * 65536.0f);
  scaled.backward();
  EXPECT_FLOAT_EQ(x.grad()[0].item<float>(), 3.0f * 65536.0f);
  s.unscale_({x});
  EXPECT_TRUE(s.grads_finite());
  EXPECT_FLOAT_EQ(x.grad()[0].item<float>(), 3.0f);
  s.update();
  EXPECT_EQ(s.get_scale(), 65536.0);
  s.unscale_({x});
  s.update();  // second clean step in a row: grow
  EXPECT_EQ(s.get_scale(), 131072.0);
  {
    torch::NoGradGuard ng;
    x.mutable_grad()[1] = std::numeric_limits<float>::infinity();
  }
  s.unscale_({x});
  EXPECT_FALSE(s.grads_finite());  // inf -> skip the step
  s.update();
  EXPECT_EQ(s.get_scale(), 65536.0);
  EXPECT_EQ(s.growth_tracker(), 0);
  // Disabled (CPU): identity, never reports inf. More cases in test_amp.cpp.
  GradScaler off(false);
  auto y = torch::tensor({2.0f}, torch::requires_grad());
  EXPECT_FLOAT_EQ(off.scale((y * 5).sum()).item<float>(), 10.0f);
}

TEST(TrainerOptim, OptimizerStateRoundTrip) {
  auto model = nn::build_model("yolo11n.yaml", 2);
  ParamGroups g = split_param_groups(*model);
  auto opt = make_optimizer(choose_optimizer("AdamW", 0.001, 0.9, 2, 10, 16, 64, 1), g, 0.0005);
  auto out = model->forward_raw(torch::rand({1, 3, 64, 64}));
  (out[0].sum() + out[1].sum() + out[2].sum()).backward();
  opt->step();
  const std::string bytes = save_optimizer_state(*opt);
  ASSERT_GT(bytes.size(), 1000u);
  auto model2 = nn::build_model("yolo11n.yaml", 2);
  auto opt2 = make_optimizer(choose_optimizer("AdamW", 0.001, 0.9, 2, 10, 16, 64, 1), split_param_groups(*model2), 0.0005);
  load_optimizer_state(*opt2, bytes);
  // 255 entries: every parameter except the frozen-by-default DFL weight (it has no grad here either).
  EXPECT_EQ(opt2->state().size(), opt->state().size());
  // State keys are parameter addresses, so compare order-free summaries: every entry stepped once and the
  // first-moment buffers carry the same total.
  auto summary = [](torch::optim::Optimizer& o) {
    double total = 0;
    int64_t steps = 0;
    for (auto& kv : o.state()) {
      auto& st = static_cast<torch::optim::AdamWParamState&>(*kv.second);
      total += st.exp_avg().abs().sum().item<double>();
      steps += st.step();
    }
    return std::make_pair(total, steps);
  };
  auto a = summary(*opt), b = summary(*opt2);
  EXPECT_GT(a.first, 0.0);
  EXPECT_DOUBLE_EQ(a.first, b.first);
  EXPECT_EQ(b.second, static_cast<int64_t>(opt->state().size()));
}

TEST(TrainerConsole, ResultsCsvFormat) {
  EXPECT_EQ(results_header(),
            "epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),"
            "metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2");
  EXPECT_EQ(results_row({1, 19867.89453, 1.23456789, 0.5, 0, 8.085e-05}), "1,19867.9,1.23457,0.5,0,8.085e-05");
  test::TempDir tmp;
  const auto csv = tmp / "results.csv";
  std::vector<double> row(15, 0.25);
  for (int e = 1; e <= 3; ++e) {
    row[0] = e;
    append_results_row(csv, row);
  }
  EXPECT_EQ(read_results(csv).size(), 3u);
  truncate_results(csv, 2);
  auto rows = read_results(csv);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][0], 2.0);
  EXPECT_THROW(append_results_row(csv, {1, 2}), Error);
  EXPECT_EQ(epoch_header(), "      Epoch    GPU_mem   box_loss   cls_loss   dfl_loss  Instances       Size");
  EXPECT_EQ(progress_desc(0, 30, 0.0, {1.5, 2.25, 1.125}, 42, 640),
            "       1/30         0G        1.5       2.25      1.125         42        640");
}

TEST(TrainerSetup, DeviceAndFreeze) {
  EXPECT_EQ(select_device("cpu"), torch::Device(torch::kCPU));
  EXPECT_THROW(select_device("gpu"), ConfigError);
  if (!torch::cuda::is_available()) {
    try {
      select_device("0");
      FAIL() << "device=0 without CUDA must throw";
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()), "device=0 requested but CUDA is not available; use device=cpu");
    }
    EXPECT_THROW(select_device("cuda:0"), ConfigError);
  }
  auto model = nn::build_model("yolo11n.yaml", 2);
  auto frozen = freeze_parameters(*model, {});
  EXPECT_EQ(frozen, std::vector<std::string>{"model.23.dfl.conv.weight"});
  EXPECT_EQ(model->num_gradients(), model->num_params() - 16);
  frozen = freeze_parameters(*model, {0, 1});
  EXPECT_EQ(frozen.size(), 1u + 3u + 3u);  // dfl + (conv.weight, bn.weight, bn.bias) of layers 0 and 1
  auto s = config::Settings::from_args({"freeze=3"});
  EXPECT_EQ(freeze_layers(s), (std::vector<int64_t>{0, 1, 2}));
  s = config::Settings::from_args({"freeze=[4,7]"});
  EXPECT_EQ(freeze_layers(s), (std::vector<int64_t>{4, 7}));
  EXPECT_TRUE(freeze_layers(config::Settings::defaults()).empty());
}

// The 250-epoch coc_buildings reference run (Ultralytics 8.3, 344 train images, batch 16, auto -> AdamW): every
// lr/pg0..2 value of its results.csv must come out of our warmup + linear schedule at %.6g.
TEST(TrainerSchedule, ReferenceRunLrColumnsMatch) {
  YOLOCPP_REQUIRE_SHARED();
  const auto csv = test::datasets_dir() / "coc_buildings" / "reference_run" / "results.csv";
  ASSERT_TRUE(std::filesystem::exists(csv));
  auto rows = read_results(csv);
  ASSERT_EQ(rows.size(), 250u);
  const int epochs = 250, nbs = 64, batch = 16;
  OptimizerChoice c = choose_optimizer("auto", 0.01, 0.937, 22, 344, batch, nbs, epochs);
  ASSERT_EQ(c.name, "AdamW");
  const int64_t nb = (344 + batch - 1) / batch, nw = warmup_iterations(3.0, nb);
  int mismatches = 0;
  for (int e = 0; e < epochs; ++e) {
    const double lf = lr_lambda(e, epochs, 0.01, false);
    double lr = c.lr * lf, bias_lr = lr;
    for (int64_t i = 0; i < nb; ++i) {
      const int64_t ni = i + nb * e;
      if (ni <= nw) {
        WarmupValues v = warmup_values(ni, nw, nbs, batch, 0.0, c.lr, lf, 0.8, 0.937);
        lr = v.lr, bias_lr = v.bias_lr;
      }
    }
    const auto& r = rows[e];
    ASSERT_EQ(r.size(), 15u);
    EXPECT_EQ(r[0], e + 1);
    if (g6(bias_lr) != g6(r[12]) || g6(lr) != g6(r[13]) || g6(lr) != g6(r[14])) {
      ++mismatches;
      ADD_FAILURE() << "epoch " << e + 1 << ": ours " << g6(lr) << " reference " << g6(r[13]);
    }
  }
  EXPECT_EQ(mismatches, 0);
}
