// Eval forward latency of yolo11n at 640: batch 1 and 16, unfused vs Conv+BN fused, median of N runs.
// Prints the fused/unfused ratio measured in the same run. Usage: bench_model_forward [model.yaml] [runs]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "yolocpp/nn/model.hpp"

namespace {

double median_ms(yolocpp::nn::DetectionModelImpl& m, const torch::Tensor& x, int runs) {
  torch::NoGradGuard g;
  m.forward(x);  // warm-up: allocator, kernels, anchor cache
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto a = std::chrono::steady_clock::now();
    auto y = m.forward(x);
    if (y.is_cuda()) torch::cuda::synchronize();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const std::string name = argc > 1 ? argv[1] : "yolo11n.yaml";
  const int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  const auto device = torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  torch::manual_seed(0);
  auto model = yolocpp::nn::build_model(name);
  model->to(device);
  model->eval();
  std::printf("%s on %s, %d threads, median of %d runs (batch 16: %d)\n", name.c_str(),
              device == torch::kCUDA ? "CUDA" : "CPU", torch::get_num_threads(), runs, std::max(1, runs / 2));
  struct Row { int batch; int runs; double unfused = 0, fused = 0; };
  std::vector<Row> rows{{1, runs}, {16, std::max(1, runs / 2)}};
  for (auto& r : rows) r.unfused = median_ms(*model, torch::rand({r.batch, 3, 640, 640}, device), r.runs);
  model->fuse();  // the same weights, fused in place: the comparison isolates the fusion
  for (auto& r : rows) r.fused = median_ms(*model, torch::rand({r.batch, 3, 640, 640}, device), r.runs);
  std::printf("%-8s %12s %12s %14s\n", "batch", "unfused ms", "fused ms", "fused/unfused");
  for (const auto& r : rows)
    std::printf("%-8d %12.1f %12.1f %14.3f\n", r.batch, r.unfused, r.fused, r.fused / r.unfused);
  return 0;
}
