// Mixed precision pieces testable on CPU: the AMP mode chosen from amp / amp_dtype / device, the scoped
// autocast switch of util/torch_compat.hpp, the device-side GradScaler (CPU rule; CUDA uses PyTorch's fused
// kernels with the same rule), the sync-free gradient clip against LibTorch's, and the uint8 loader path used
// on CUDA against the float one.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <limits>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/test_util.hpp"
#include "yolocpp/data/loader/loader.hpp"
#include "yolocpp/train/optim.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/torch_compat.hpp"

using namespace yolocpp;
using namespace yolocpp::engine;
namespace fs = std::filesystem;

namespace {

std::string config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

void set_grad(torch::Tensor& p, const torch::Tensor& g) {
  torch::NoGradGuard ng;
  p.mutable_grad() = g.clone();
}

}  // namespace

TEST(AmpPlan, DtypeNamesAndErrors) {
  EXPECT_EQ(parse_amp_dtype("float16"), at::kHalf);
  EXPECT_EQ(parse_amp_dtype("fp16"), at::kHalf);
  EXPECT_EQ(parse_amp_dtype("half"), at::kHalf);
  EXPECT_EQ(parse_amp_dtype("bfloat16"), at::kBFloat16);
  EXPECT_EQ(parse_amp_dtype("BF16"), at::kBFloat16);
  const std::string e = config_error([] { parse_amp_dtype("int8"); });
  EXPECT_NE(e.find("amp_dtype=int8"), std::string::npos) << e;
  EXPECT_NE(e.find("bfloat16"), std::string::npos) << e;
  EXPECT_NE(e.find("float16"), std::string::npos) << e;
}

TEST(AmpPlan, ModesPerDevice) {
  const torch::Device cpu(torch::kCPU), gpu(torch::kCUDA, 0);  // a Device value needs no CUDA runtime
  // CUDA: fp16 scaled (Ultralytics' default), bf16 unscaled, amp=False fp32.
  AmpPlan p = plan_amp(true, "float16", false, gpu);
  EXPECT_TRUE(p.autocast && p.scaled);
  EXPECT_EQ(p.dtype, at::kHalf);
  EXPECT_NE(p.line.find("float16 autocast with dynamic loss scaling"), std::string::npos) << p.line;
  p = plan_amp(true, "bf16", true, gpu);
  EXPECT_TRUE(p.autocast);
  EXPECT_FALSE(p.scaled);
  EXPECT_EQ(p.dtype, at::kBFloat16);
  p = plan_amp(false, "bfloat16", true, gpu);
  EXPECT_FALSE(p.autocast || p.scaled);
  EXPECT_NE(p.line.find("amp=False"), std::string::npos) << p.line;
  // CPU: off by default as upstream, even with amp=True; an explicit bf16 turns on bf16 autocast.
  p = plan_amp(true, "float16", false, cpu);
  EXPECT_FALSE(p.autocast || p.scaled);
  EXPECT_NE(p.line.find("off on cpu (amp=True autocasts on CUDA only"), std::string::npos) << p.line;
  p = plan_amp(true, "bfloat16", false, cpu);  // the value without being asked for (e.g. a default): off
  EXPECT_FALSE(p.autocast);
  p = plan_amp(true, "float16", true, cpu);  // CPU autocast is bf16 only
  EXPECT_FALSE(p.autocast);
  EXPECT_NE(p.line.find("CPU autocast is bfloat16 only"), std::string::npos) << p.line;
  p = plan_amp(true, "bfloat16", true, cpu);
  EXPECT_TRUE(p.autocast);
  EXPECT_FALSE(p.scaled);
  EXPECT_EQ(p.dtype, at::kBFloat16);
  EXPECT_NE(p.line.find("CPU bfloat16 autocast"), std::string::npos) << p.line;
  EXPECT_FALSE(plan_amp(false, "bfloat16", true, cpu).autocast);
  EXPECT_NE(config_error([&] { plan_amp(true, "fp8", true, cpu); }).find("amp_dtype=fp8"), std::string::npos);
}

TEST(AmpAutocast, CpuBf16GuardCastsConvAndRestores) {
  torch::manual_seed(0);
  auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3));
  auto x = torch::randn({1, 3, 8, 8});
  const at::ScalarType before = compat::autocast_dtype(torch::kCPU);
  ASSERT_FALSE(compat::autocast_enabled(torch::kCPU));
  torch::Tensor y;
  {
    compat::AutocastGuard g(torch::kCPU, at::kBFloat16);
    EXPECT_TRUE(compat::autocast_enabled(torch::kCPU));
    y = conv->forward(x);
    {
      compat::AutocastGuard inner(torch::kCPU, at::kBFloat16, /*enabled=*/false);  // a no-op
      EXPECT_TRUE(compat::autocast_enabled(torch::kCPU));
    }
  }
  EXPECT_EQ(y.scalar_type(), at::kBFloat16);
  EXPECT_FALSE(compat::autocast_enabled(torch::kCPU));
  EXPECT_EQ(compat::autocast_dtype(torch::kCPU), before);
  EXPECT_EQ(conv->forward(x).scalar_type(), at::kFloat);  // off again
  // bf16 keeps ~3 significant digits: close to, but not equal to, the fp32 result.
  auto ref = conv->forward(x);
  EXPECT_FALSE(torch::equal(y.to(at::kFloat), ref));
  EXPECT_TRUE(torch::allclose(y.to(at::kFloat), ref, 0.05, 0.05));
  // Disabled guard: nothing changes.
  {
    compat::AutocastGuard g(torch::kCPU, at::kBFloat16, false);
    EXPECT_FALSE(compat::autocast_enabled(torch::kCPU));
    EXPECT_EQ(conv->forward(x).scalar_type(), at::kFloat);
  }
}

TEST(AmpGradScaler, ScaleUnscaleInfBackoffAndGrowth) {
  auto x = torch::tensor({1.0f, -2.0f}, torch::requires_grad());
  GradScaler s(true, 65536.0, 2.0, 0.5, /*growth_interval=*/3);
  EXPECT_EQ(s.get_scale(), 65536.0);
  auto scaled = s.scale((x * 3.0).sum());
  EXPECT_EQ(scaled.dim(), 0);
  EXPECT_FLOAT_EQ(scaled.item<float>(), -3.0f * 65536.0f);
  scaled.backward();
  EXPECT_FLOAT_EQ(x.grad()[0].item<float>(), 3.0f * 65536.0f);
  s.unscale_({x});
  EXPECT_TRUE(s.grads_finite());
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({3.0f, 3.0f})));  // exact: the scale is a power of two
  s.update();
  EXPECT_EQ(s.growth_tracker(), 1);
  EXPECT_EQ(s.get_scale(), 65536.0);
  // An inf gradient (an fp16 overflow): detected, the step is to be skipped, the scale halves, the count restarts.
  set_grad(x, torch::tensor({1.0f, std::numeric_limits<float>::infinity()}));
  s.unscale_({x});
  EXPECT_FALSE(s.grads_finite());
  s.update();
  EXPECT_EQ(s.get_scale(), 32768.0);
  EXPECT_EQ(s.growth_tracker(), 0);
  // A nan counts too; update clears the flag, so the next clean step is finite again.
  set_grad(x, torch::tensor({std::nanf(""), 1.0f}));
  s.unscale_({x});
  EXPECT_FALSE(s.grads_finite());
  s.update();
  EXPECT_EQ(s.get_scale(), 16384.0);
  // growth_interval (3) clean steps in a row double the scale, and only then.
  for (int k = 1; k <= 3; ++k) {
    set_grad(x, torch::tensor({16384.0f, 32768.0f}));
    s.unscale_({x});
    EXPECT_TRUE(s.grads_finite()) << k;
    EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({1.0f, 2.0f})));
    s.update();
    EXPECT_EQ(s.get_scale(), k < 3 ? 16384.0 : 32768.0) << k;
    EXPECT_EQ(s.growth_tracker(), k < 3 ? k : 0) << k;
  }
  // Parameters without a gradient (frozen) are skipped.
  auto frozen = torch::ones({2});
  s.unscale_({x, frozen});
  EXPECT_FALSE(frozen.grad().defined());
}

TEST(AmpGradScaler, DisabledIsTheIdentity) {
  GradScaler off(false);  // amp=False, bf16 and CPU
  auto y = torch::tensor({2.0f}, torch::requires_grad());
  auto loss = (y * 5).sum();
  EXPECT_TRUE(off.scale(loss).is_same(loss));
  loss.backward();
  set_grad(y, torch::tensor({std::numeric_limits<float>::infinity()}));
  off.unscale_({y});
  EXPECT_TRUE(off.grads_finite());  // never skips, as upstream's disabled scaler
  off.update();
  EXPECT_EQ(off.get_scale(), 1.0);
  EXPECT_TRUE(std::isinf(y.grad()[0].item<float>()));  // untouched
}

TEST(AmpClip, SyncFreeClipEqualsLibTorchBitForBit) {
  torch::manual_seed(3);
  for (double scale : {0.01, 100.0}) {  // below (no clip) and above the max norm
    std::vector<torch::Tensor> a, b;
    for (auto shape : std::vector<std::vector<int64_t>>{{16, 3, 3, 3}, {16}, {32, 16, 1, 1}, {7}}) {
      auto p = torch::zeros(shape, torch::requires_grad());
      auto q = torch::zeros(shape, torch::requires_grad());
      auto g = torch::randn(shape) * scale;
      set_grad(p, g);
      set_grad(q, g);
      a.push_back(p), b.push_back(q);
    }
    a.push_back(torch::zeros({3}, torch::requires_grad()));  // no grad: ignored by both
    b.push_back(torch::zeros({3}, torch::requires_grad()));
    const double ref = torch::nn::utils::clip_grad_norm_(a, 10.0);
    const torch::Tensor norm = clip_grad_norm(b, 10.0);
    EXPECT_EQ(norm.item<float>(), static_cast<float>(ref)) << scale;
    for (size_t k = 0; k + 1 < a.size(); ++k) EXPECT_TRUE(torch::equal(a[k].grad(), b[k].grad())) << scale << " " << k;
    if (scale > 1) {
      EXPECT_GT(ref, 10.0);
      double n2 = 0;
      for (size_t k = 0; k + 1 < b.size(); ++k) n2 += b[k].grad().pow(2).sum().item<double>();
      EXPECT_NEAR(std::sqrt(n2), 10.0, 1e-3);
    }
  }
}

// CUDA takes uint8 batches and divides on the device; that must give the very tensors the CPU path gets.
TEST(AmpLoader, Uint8ThenDivideEqualsFloatImages) {
  test::TempDir tmp;
  std::vector<data::ImageLabels> items;
  cv::RNG rng(5);
  for (int i = 0; i < 6; ++i) {
    const cv::Size sz(96 + 16 * i, 80 + 8 * i);
    cv::Mat img(sz, CV_8UC3);
    rng.fill(img, cv::RNG::UNIFORM, 0, 256);  // every byte value, so a rounding difference would show
    data::ImageLabels it;
    it.image = tmp / ("im" + std::to_string(i) + ".png");
    cv::imwrite(it.image.string(), img);
    it.state = data::LabelState::Found;
    it.width = sz.width, it.height = sz.height;
    it.boxes.push_back({i % 2, 0.5f, 0.5f, 0.4f, 0.3f});
    items.push_back(it);
  }
  auto run = [&](bool float_img) {
    LoaderOptions o;
    o.mode = LoaderMode::Train;
    o.imgsz = 64;
    o.batch = 4;
    o.seed = 11;
    o.hyp.mosaic = 1.0;
    o.hyp.hsv_h = 0.015, o.hyp.hsv_s = 0.7, o.hyp.hsv_v = 0.4;
    o.hyp.fliplr = 0.5;
    o.float_img = float_img;
    Loader l(items, o);
    l.set_epoch(0);
    std::vector<Batch> out;
    while (auto b = l.next()) out.push_back(std::move(*b));
    return out;
  };
  const auto f = run(true), u = run(false);
  ASSERT_EQ(f.size(), 2u);
  ASSERT_EQ(u.size(), f.size());
  for (size_t k = 0; k < f.size(); ++k) {
    EXPECT_EQ(f[k].img.scalar_type(), torch::kFloat32);
    ASSERT_EQ(u[k].img.scalar_type(), torch::kUInt8);
    EXPECT_EQ(u[k].img.nbytes() * 4, f[k].img.nbytes());
    const torch::Tensor dev = uint8_images_to_float(u[k].img);  // the trainer's conversion
    EXPECT_TRUE(torch::equal(dev, f[k].img)) << "batch " << k;
    EXPECT_TRUE(torch::equal(u[k].bboxes, f[k].bboxes));
    EXPECT_GT(f[k].img.max().item<float>(), 0.9f);  // real pixels, not an empty canvas
  }
}

// Every byte value: the conversion is a correctly rounded x / 255 (what the loader computes), on the CPU and, when
// a GPU is present, on CUDA too (where a host-scalar divisor would become a reciprocal multiply, 1 ulp off).
TEST(AmpLoader, Uint8ConversionIsTrueDivision) {
  const torch::Tensor bytes = torch::arange(256, torch::kInt32).to(torch::kUInt8).view({1, 1, 16, 16});
  const torch::Tensor cpu = uint8_images_to_float(bytes);
  ASSERT_EQ(cpu.scalar_type(), torch::kFloat32);
  auto acc = cpu.reshape({-1});
  for (int i = 0; i < 256; ++i) {
    volatile float x = static_cast<float>(i), d = 255.0f;  // volatile: no constant folding into a multiply
    EXPECT_EQ(acc[i].item<float>(), x / d) << i;
  }
  const torch::Tensor f = torch::rand({2, 3});
  EXPECT_TRUE(uint8_images_to_float(f).is_same(f));  // float input passes through
}

TEST(AmpLoader, Uint8ConversionOnCudaEqualsTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Tensor bytes = torch::arange(256, torch::kInt32).to(torch::kUInt8).view({1, 1, 16, 16});
  const torch::Tensor cpu = uint8_images_to_float(bytes);
  const torch::Tensor gpu = uint8_images_to_float(bytes.to(torch::Device(torch::kCUDA, 0))).to(torch::kCPU);
  EXPECT_TRUE(torch::equal(gpu, cpu));
  const torch::Tensor naive = bytes.to(torch::Device(torch::kCUDA, 0)).to(torch::kFloat32).div_(255.0).to(torch::kCPU);
  std::printf("[cuda] host-scalar div_(255.0) differs from true division for %lld of 256 byte values\n",
              static_cast<long long>(naive.ne(cpu).sum().item<int64_t>()));
}

// CUDA only (skipped here): the fused kernels follow the CPU rule step for step, and autocast casts convs.
TEST(AmpGradScaler, CudaFusedKernelsFollowTheCpuRule) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device gpu(torch::kCUDA, 0);
  GradScaler c(true, 1024.0, 2.0, 0.5, 2), g(true, 1024.0, 2.0, 0.5, 2);
  auto pc = torch::zeros({3}, torch::requires_grad());
  auto pg = torch::zeros({3}, torch::TensorOptions().device(gpu).requires_grad(true));
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<std::vector<float>> steps = {{1024, 2048, -512}, {1, inf, 2}, {std::nanf(""), 0, 0},
                                                 {256, 256, 256},   {4, 8, 16},  {32, 64, 128}};
  for (size_t k = 0; k < steps.size(); ++k) {
    set_grad(pc, torch::tensor(steps[k]));
    set_grad(pg, torch::tensor(steps[k]).to(gpu));
    (void)g.scale(torch::ones({}, torch::TensorOptions().device(gpu)));  // state on the GPU
    c.unscale_({pc});
    g.unscale_({pg});
    EXPECT_EQ(c.grads_finite(), g.grads_finite()) << k;
    if (c.grads_finite()) EXPECT_TRUE(torch::equal(pc.grad(), pg.grad().to(torch::kCPU))) << k;
    c.update();
    g.update();
    EXPECT_EQ(c.get_scale(), g.get_scale()) << k;
    EXPECT_EQ(c.growth_tracker(), g.growth_tracker()) << k;
  }
  auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3));
  conv->to(gpu);
  auto x = torch::randn({1, 3, 8, 8}, torch::TensorOptions().device(gpu));
  for (auto dt : {at::kHalf, at::kBFloat16}) {
    compat::AutocastGuard ac(torch::kCUDA, dt);
    EXPECT_EQ(conv->forward(x).scalar_type(), dt);
  }
  EXPECT_EQ(conv->forward(x).scalar_type(), at::kFloat);
  EXPECT_FALSE(compat::autocast_enabled(torch::kCUDA));
}
