// SyncBatchNorm (dist/sync_bn.hpp): two Gloo ranks on loopback, each on half the batch, against one process
// on the whole batch, through nn::Conv's BatchNorm. With sync BN the forward outputs, input gradients,
// all-reduced parameter gradients, running statistics and weights after SGD steps match to float rounding;
// without it (each rank normalising its own half) they do not, so the comparison can fail.
#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "ddp/loopback_group.hpp"
#include "yolocpp/dist/distributed.hpp"
#include "yolocpp/dist/sync_bn.hpp"
#include "yolocpp/nn/conv.hpp"
#include "yolocpp/nn/model.hpp"

using namespace yolocpp;
using namespace yolocpp::engine;

namespace {

// Two nn::Conv blocks (conv + BN + SiLU) and a linear head: small, but BN sits where the real model has it.
struct NetImpl : torch::nn::Module {
  nn::Conv c1{nullptr}, c2{nullptr};
  torch::nn::Linear fc{nullptr};
  explicit NetImpl(uint64_t seed) {
    torch::manual_seed(seed);
    c1 = register_module("c1", nn::Conv(3, 8, 3, 1));
    c2 = register_module("c2", nn::Conv(8, 8, 3, 2));
    fc = register_module("fc", torch::nn::Linear(8 * 6 * 6, 4));
    // Non-trivial affine parameters, so a wrong weight/bias gradient path shows.
    torch::NoGradGuard ng;
    for (auto* bn : {&c1->bn, &c2->bn}) {
      (*bn)->weight.uniform_(0.5, 1.5);
      (*bn)->bias.uniform_(-0.5, 0.5);
    }
  }
  torch::Tensor forward(torch::Tensor x) { return fc->forward(c2->forward(c1->forward(x)).flatten(1)); }
};
TORCH_MODULE(Net);

std::vector<torch::Tensor> grads_of(torch::nn::Module& m) {
  std::vector<torch::Tensor> g;
  for (auto& p : m.parameters())
    if (p.requires_grad()) g.push_back(p.grad().clone());  // yolo11n's DFL conv is fixed: no gradient
  return g;
}
std::vector<torch::Tensor> detached(const std::vector<torch::Tensor>& v) {
  std::vector<torch::Tensor> out;
  for (auto& t : v) out.push_back(t.detach().clone());
  return out;
}
std::vector<torch::Tensor> bn_stats(Net& net) {
  return {net->c1->bn->running_mean.clone(), net->c1->bn->running_var.clone(), net->c2->bn->running_mean.clone(),
          net->c2->bn->running_var.clone()};
}

// max |a - b| / max |b| over a list (a relative error that ignores near-zero entries' noise).
double rel_err(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double num = 0, den = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, (a[i] - b[i]).abs().max().item<double>());
    den = std::max(den, b[i].abs().max().item<double>());
  }
  return num / den;
}

constexpr int kSteps = 2;
constexpr double kLr = 0.1;

struct Snapshot {
  torch::Tensor out1, xgrad1;  // step 1: output rows and input gradient of this rank's rows
  std::vector<torch::Tensor> grads1, stats, weights;
  std::string error;
};

// One process on the whole batch.
Snapshot run_reference(const torch::Tensor& X, const torch::Tensor& Y) {
  Net net(0);
  net->train();
  torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(kLr).momentum(0.9));
  Snapshot s;
  for (int step = 0; step < kSteps; ++step) {
    auto x = X.clone().requires_grad_(true);
    sgd.zero_grad();
    auto out = net->forward(x);
    torch::mse_loss(out, Y).backward();
    if (step == 0) s.out1 = out.detach().clone(), s.xgrad1 = x.grad().clone(), s.grads1 = grads_of(*net);
    sgd.step();
  }
  s.stats = bn_stats(net);
  s.weights = detached(net->parameters());
  return s;
}

std::vector<int64_t> rows_of(int rank, int world, int64_t n) {
  std::vector<int64_t> rows;
  for (int64_t i = rank; i < n; i += world) rows.push_back(i);
  return rows;
}

// Two ranks in threads, each with its own TCPStore client and Gloo group, each on rows r, r+2, ...
std::vector<Snapshot> run_two_ranks(const torch::Tensor& X, const torch::Tensor& Y, bool sync) {
  const test::LoopbackStore group;
  std::vector<Snapshot> out(2);
  std::vector<Net> nets{Net(0), Net(1)};  // rank 1 differs until the broadcast; seeded here, not in threads
  auto run_rank = [&](int r) {
    try {
      auto dist = group.join(r, 2, std::chrono::seconds(30));
      Net& net = nets[r];
      net->train();
      dist->broadcast_module(*net);
      if (sync) EXPECT_EQ(enable_sync_batchnorm(*net, *dist), 2);
      GradReducer reducer(*dist, net->parameters());
      auto idx = torch::tensor(rows_of(r, 2, X.size(0)));
      torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(kLr).momentum(0.9));
      for (int step = 0; step < kSteps; ++step) {
        auto x = X.index_select(0, idx).requires_grad_(true);
        sgd.zero_grad();
        auto y = net->forward(x);
        torch::mse_loss(y, Y.index_select(0, idx)).backward();
        reducer.finish();
        if (step == 0) {
          out[r].out1 = y.detach().clone();
          // Each rank back-propagates its own mean loss (2x its share of the global one): see sync_bn.hpp.
          out[r].xgrad1 = x.grad() / 2.0;
          out[r].grads1 = grads_of(*net);
        }
        sgd.step();
      }
      out[r].stats = bn_stats(net);
      out[r].weights = detached(net->parameters());
      disable_sync_batchnorm(*net);
    } catch (const std::exception& e) {
      out[r].error = e.what();
    }
  };
  std::thread t0(run_rank, 0), t1(run_rank, 1);
  t0.join();
  t1.join();
  return out;
}

struct Errors {
  double out = 0, xgrad = 0, grads = 0, stats = 0, weights = 0;
};

Errors compare(const std::vector<Snapshot>& ranks, const Snapshot& ref, int64_t n) {
  Errors e;
  for (int r = 0; r < 2; ++r) {
    auto idx = torch::tensor(rows_of(r, 2, n));
    e.out = std::max(e.out, rel_err({ranks[r].out1}, {ref.out1.index_select(0, idx)}));
    e.xgrad = std::max(e.xgrad, rel_err({ranks[r].xgrad1}, {ref.xgrad1.index_select(0, idx)}));
    e.grads = std::max(e.grads, rel_err(ranks[r].grads1, ref.grads1));
    e.stats = std::max(e.stats, rel_err(ranks[r].stats, ref.stats));
    e.weights = std::max(e.weights, rel_err(ranks[r].weights, ref.weights));
  }
  return e;
}

}  // namespace

TEST(SyncBatchNorm, TwoRanksOnHalfBatchesMatchOneProcessOnTheFullBatch) {
  torch::manual_seed(7);
  // A per-channel offset and scale, so the two halves' statistics differ clearly from the whole batch's.
  auto X = torch::randn({8, 3, 12, 12}) * torch::tensor({1.0, 3.0, 0.5}).view({1, 3, 1, 1}) + 2.0;
  X.index({torch::indexing::Slice(0, 8, 2)}).add_(1.5);  // rank 0's rows are shifted: unequal halves
  auto Y = torch::randn({8, 4});
  const Snapshot ref = run_reference(X, Y);

  const auto synced = run_two_ranks(X, Y, true);
  ASSERT_EQ(synced[0].error, "");
  ASSERT_EQ(synced[1].error, "");
  const Errors s = compare(synced, ref, X.size(0));
  EXPECT_LT(s.out, 1e-5) << "forward outputs";
  EXPECT_LT(s.xgrad, 1e-5) << "input gradients";
  EXPECT_LT(s.grads, 1e-5) << "parameter gradients after the GradReducer";
  EXPECT_LT(s.stats, 1e-5) << "BN running_mean / running_var";
  EXPECT_LT(s.weights, 1e-5) << "weights after " << kSteps << " SGD steps";
  // Both ranks hold the same weights and the same BN statistics (the global ones).
  EXPECT_LT(rel_err(synced[0].weights, synced[1].weights), 1e-7);
  EXPECT_EQ(rel_err(synced[0].stats, synced[1].stats), 0.0);

  const auto local = run_two_ranks(X, Y, false);
  ASSERT_EQ(local[0].error, "");
  ASSERT_EQ(local[1].error, "");
  const Errors l = compare(local, ref, X.size(0));
  // Per-rank BatchNorm: every quantity is off by far more than the synced tolerance.
  EXPECT_GT(l.out, 1e-2);
  EXPECT_GT(l.xgrad, 1e-2);
  EXPECT_GT(l.grads, 1e-2);
  EXPECT_GT(l.stats, 1e-2);
  std::printf("[sync_bn] rel err synced/local: out %.2g/%.2g xgrad %.2g/%.2g grads %.2g/%.2g stats %.2g/%.2g "
              "weights %.2g/%.2g\n", s.out, l.out, s.xgrad, l.xgrad, s.grads, l.grads, s.stats, l.stats, s.weights,
              l.weights);
}

namespace {

// A world of one: a TCPStore of its own and a one-rank Gloo group.
std::unique_ptr<Distributed> world_of_one() {
  c10d::TCPStoreOptions so;
  so.port = 0;
  so.isServer = true;
  so.waitWorkers = false;
  auto store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", so);
  DistOptions opt;
  opt.timeout = std::chrono::seconds(30);
  return Distributed::with_store(store, 0, 1, torch::kCPU, opt);
}

torch::nn::BatchNorm2d make_bn(int64_t c) {
  torch::manual_seed(3);
  torch::nn::BatchNorm2d bn(torch::nn::BatchNorm2dOptions(c).eps(1e-3).momentum(0.03));
  torch::NoGradGuard ng;
  bn->weight.uniform_(0.5, 1.5);
  bn->bias.uniform_(-0.5, 0.5);
  bn->running_mean.uniform_(-1, 1);
  bn->running_var.uniform_(0.5, 2);
  return bn;
}

}  // namespace

TEST(SyncBatchNorm, WorldOfOneIsExactlyBatchNorm) {
  auto dist = world_of_one();
  auto a = make_bn(5), b = make_bn(5);
  a->train(), b->train();
  torch::manual_seed(11);
  auto x = torch::randn({4, 5, 6, 7}) * 2 + 1;
  auto ya = sync_batch_norm(*a, x, *dist);
  auto yb = torch::batch_norm(x, b->weight, b->bias, b->running_mean, b->running_var, true, 0.03, 1e-3, false);
  b->num_batches_tracked += 1;
  EXPECT_TRUE(torch::equal(ya, yb));
  EXPECT_TRUE(torch::equal(a->running_mean, b->running_mean));
  EXPECT_TRUE(torch::equal(a->running_var, b->running_var));
  EXPECT_EQ(a->num_batches_tracked.item<int64_t>(), 1);
}

// The synchronised path itself (forced, world of one) against torch::batch_norm: values, every gradient,
// running statistics; and a bf16 input (autocast) keeps its dtype.
TEST(SyncBatchNorm, SynchronisedPathMatchesBatchNormInAWorldOfOne) {
  auto dist = world_of_one();
  auto a = make_bn(5), b = make_bn(5);
  torch::manual_seed(12);
  auto x0 = torch::randn({4, 5, 6, 7}) * 3 + 10;  // a large mean: the variance must survive it
  auto dy = torch::randn({4, 5, 6, 7});
  auto xa = x0.clone().requires_grad_(true), xb = x0.clone().requires_grad_(true);
  auto ya = engine::detail::sync_batch_norm_train(*a, xa, *dist);
  auto yb = torch::batch_norm(xb, b->weight, b->bias, b->running_mean, b->running_var, true, 0.03, 1e-3, false);
  (ya * dy).sum().backward();
  (yb * dy).sum().backward();
  EXPECT_LT(rel_err({ya}, {yb}), 2e-6);
  EXPECT_LT(rel_err({xa.grad()}, {xb.grad()}), 2e-5);
  EXPECT_LT(rel_err({a->weight.grad()}, {b->weight.grad()}), 2e-5);
  EXPECT_LT(rel_err({a->bias.grad()}, {b->bias.grad()}), 1e-6);
  EXPECT_LT(rel_err({a->running_mean}, {b->running_mean}), 1e-6);
  EXPECT_LT(rel_err({a->running_var}, {b->running_var}), 1e-6);
  EXPECT_EQ(a->num_batches_tracked.item<int64_t>(), 1);
  // The test has teeth: a different momentum would show in the running statistics.
  EXPECT_GT(rel_err({a->running_mean}, {make_bn(5)->running_mean}), 1e-3);

  auto xh = x0.to(torch::kBFloat16).requires_grad_(true);
  auto yh = engine::detail::sync_batch_norm_train(*a, xh, *dist);
  EXPECT_EQ(yh.scalar_type(), torch::kBFloat16);
  yh.to(torch::kFloat32).sum().backward();
  EXPECT_EQ(xh.grad().scalar_type(), torch::kBFloat16);
  EXPECT_LT(rel_err({yh.to(torch::kFloat32)}, {yb.detach()}), 2e-2);
}

// nn::Conv: the switch reaches every Conv's BatchNorm, leaves the state dict alone, is ignored in eval mode
// and by fuse(), and can be switched off again.
TEST(SyncBatchNorm, ConvSwitchKeepsStateAndEvalPath) {
  auto dist = world_of_one();
  Net net(5);
  const auto keys_before = net->named_parameters().keys();
  const auto bufs_before = net->named_buffers().keys();
  EXPECT_EQ(enable_sync_batchnorm(*net, *dist), 2);
  EXPECT_EQ(net->named_parameters().keys(), keys_before);
  EXPECT_EQ(net->named_buffers().keys(), bufs_before);
  ASSERT_TRUE(net->c1->bn_train_fn);
  // Training forward goes through the hook: in a world of one it is plain BN, so it still updates the stats.
  auto x = torch::randn({2, 3, 12, 12});
  const auto rm0 = net->c1->bn->running_mean.clone();
  net->train();
  net->forward(x);
  EXPECT_GT((net->c1->bn->running_mean - rm0).abs().max().item<double>(), 1e-4);
  net->eval();
  const auto rm1 = net->c1->bn->running_mean.clone();
  auto y_eval = net->forward(x);
  EXPECT_TRUE(torch::equal(net->c1->bn->running_mean, rm1));
  net->c1->fuse();
  net->c2->fuse();
  EXPECT_LT((net->forward(x) - y_eval).abs().max().item<double>(), 1e-4);
  EXPECT_EQ(disable_sync_batchnorm(*net), 2);  // fused Convs keep a null bn; the hook is dropped regardless
  EXPECT_FALSE(net->c1->bn_train_fn);
}

// The real yolo11n (every block type, 80+ BatchNorms, BN over 2x2 maps at P5) at imgsz 64: two ranks with sync
// BN on 2 images each against one process on all 4. Also shows that the BN backward's all-reduces and the
// GradReducer's hook-launched buckets interleave in the same order on both ranks (else Gloo would mismatch).
// fp64 shows the arithmetic is exact (to 1e-12); fp32 shows what float rounding, amplified through ~90
// layers, leaves (a few 1e-5 of the largest gradient).
class SyncBatchNormYolo11n : public ::testing::TestWithParam<torch::ScalarType> {};

TEST_P(SyncBatchNormYolo11n, TwoRanksMatchOneProcess) {
  const auto dt = GetParam();
  const double grad_tol = dt == torch::kFloat64 ? 1e-10 : 3e-4, stat_tol = dt == torch::kFloat64 ? 1e-12 : 1e-5;
  auto make = [dt] {
    torch::manual_seed(0);
    auto m = nn::build_model("yolo11n.yaml", 2);
    m->to(dt);
    m->train();
    return m;
  };
  torch::manual_seed(21);
  const auto X = torch::rand({4, 3, 64, 64}).to(dt);
  // A loss that touches every head output: mean of squares (per-batch mean, as the ranks' own losses are).
  auto loss_of = [](const std::vector<torch::Tensor>& raw) {
    torch::Tensor l = torch::zeros({}, raw[0].options());
    for (const auto& r : raw) l = l + r.pow(2).mean();
    return l;
  };
  auto ref = make();
  loss_of(ref->forward_raw(X)).backward();
  const auto ref_grads = grads_of(*ref);
  std::vector<torch::Tensor> ref_stats;
  for (const auto& b : ref->named_buffers())
    if (b.key().find("running_") != std::string::npos) ref_stats.push_back(b.value().clone());

  auto run = [&](bool sync, std::vector<torch::Tensor>& grads, std::vector<torch::Tensor>& stats) {
    const test::LoopbackStore group;
    std::vector<nn::DetectionModel> models{make(), make()};
    std::string err[2];
    int switched = 0;
    auto rank = [&](int r) {
      try {
        auto dist = group.join(r, 2, std::chrono::seconds(60));
        auto& m = models[r];
        if (sync) {
          const int n = enable_sync_batchnorm(*m, *dist);
          if (r == 0) switched = n;
        }
        GradReducer reducer(*dist, m->parameters());
        loss_of(m->forward_raw(X.index_select(0, torch::tensor(rows_of(r, 2, 4))))).backward();
        reducer.finish();
        disable_sync_batchnorm(*m);
      } catch (const std::exception& e) {
        err[r] = e.what();
      }
    };
    std::thread t0(rank, 0), t1(rank, 1);
    t0.join();
    t1.join();
    ASSERT_EQ(err[0], "");
    ASSERT_EQ(err[1], "");
    if (sync) EXPECT_GT(switched, 80);
    grads = grads_of(*models[0]);
    for (const auto& b : models[0]->named_buffers())
      if (b.key().find("running_") != std::string::npos) stats.push_back(b.value().clone());
  };
  std::vector<torch::Tensor> g_sync, s_sync, g_local, s_local;
  run(true, g_sync, s_sync);
  run(false, g_local, s_local);
  const double eg = rel_err(g_sync, ref_grads), es = rel_err(s_sync, ref_stats);
  const double lg = rel_err(g_local, ref_grads), ls = rel_err(s_local, ref_stats);
  EXPECT_LT(eg, grad_tol) << "parameter gradients";
  EXPECT_LT(es, stat_tol) << "BN running statistics";
  EXPECT_GT(lg, 0.1);  // per-rank BatchNorm is far off
  EXPECT_GT(ls, 1e-3);
  std::printf("[sync_bn] yolo11n@64 %s, 2x2 vs 1x4 images: grads rel err %.2g (per-rank BN %.2g), running stats "
              "%.2g (%.2g)\n", c10::toString(dt), eg, lg, es, ls);
}
INSTANTIATE_TEST_SUITE_P(Dtypes, SyncBatchNormYolo11n, ::testing::Values(torch::kFloat32, torch::kFloat64));
