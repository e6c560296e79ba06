// End-to-end predict latency for one image, batch 1, CPU: JPEG decode, letterbox, forward, NMS, rescale.
// LibTorch (.pt, letterbox auto -> 640x480 for bus.jpg) against OpenCV DNN (the same weights exported to a
// static 640x640 .onnx), plus LibTorch at 640x640 so the two backends are also compared on equal input.
// Median of N runs after warm-up; the ratios are measured in this same run.
//
//   bench_predict_latency [model.pt] [image.jpg] [runs=20] [threads=0 (LibTorch default)]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>

#include "yolocpp/predict/backend_torch.hpp"
#include "yolocpp/predict/predictor.hpp"
#include "yolocpp/io/model_io.hpp"
#include "yolocpp/export/onnx_export.hpp"
#include "yolocpp/util/fs.hpp"

namespace fs = std::filesystem;
using namespace yolocpp;

namespace {

double median_ms(int runs, const std::function<void()>& f) {
  for (int i = 0; i < 2; ++i) f();  // warm-up: allocator, anchors, DNN layer setup
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  // ../shared beside the checkout (this file is bench/ of it), or $YOLOCPP_SHARED.
  const char* env = std::getenv("YOLOCPP_SHARED");
  const fs::path shared = env && *env ? fs::path(env) : fs::path(__FILE__).parent_path().parent_path().parent_path() / "shared";
  const fs::path fixtures = shared / "fixtures/ultralytics";
  const std::string model = argc > 1 ? argv[1] : (fixtures / "yolo11n_random.pt").string();
  const std::string image = argc > 2 ? argv[2] : (fixtures / "bus.jpg").string();
  const int runs = argc > 3 ? std::stoi(argv[3]) : 20;
  const int threads = argc > 4 ? std::stoi(argv[4]) : 0;
  if (threads > 0) {
    torch::set_num_threads(threads);
    cv::setNumThreads(threads);
  }
  const std::string bytes = util::read_file(image);
  const std::vector<uchar> buf(bytes.begin(), bytes.end());

  // The ONNX twin of the .pt, written next to the build (static 640x640, as `yolocpp export` makes it).
  const fs::path onnx = fs::temp_directory_path() / "yolocpp_bench_predict_latency.onnx";
  {
    auto m = io::load_model(model);
    io::OnnxExportOptions eo;
    io::export_onnx(*m, onnx.string(), eo);
  }

  auto e2e = [&](engine::Predictor& p) {
    return [&p, &buf] {
      cv::Mat img = cv::imdecode(buf, cv::IMREAD_COLOR);
      auto r = p.predict({img});
      (void)r;
    };
  };

  engine::PredictOptions po;
  engine::Predictor torch_auto(engine::make_backend(model, engine::BackendKind::LibTorch), po);
  const double t_auto = median_ms(runs, e2e(torch_auto));
  const auto in_auto = torch_auto.last_input_hw();

  // Same LibTorch model on the full 640x640 square the ONNX graph uses (a different-shaped image path).
  struct Square : engine::TorchBackend {
    using TorchBackend::TorchBackend;
    std::optional<engine::Shape2> fixed_shape() const override { return engine::Shape2{640, 640}; }
  };
  engine::Predictor torch_sq(std::make_unique<Square>(model), po);
  const double t_sq = median_ms(runs, e2e(torch_sq));

  double t_ocv = -1;
  std::string ocv_err;
  try {
    engine::Predictor ocv(engine::make_backend(onnx.string(), engine::BackendKind::OpenCvDnn), po);
    t_ocv = median_ms(runs, e2e(ocv));
  } catch (const std::exception& e) {
    ocv_err = e.what();
  }

  std::printf("predict latency, batch 1, CPU (torch threads %d, OpenCV threads %d), median of %d runs, %s\n",
              torch::get_num_threads(), cv::getNumThreads(), runs, fs::path(image).filename().string().c_str());
  std::printf("  LibTorch   letterbox auto %lldx%lld : %8.2f ms  (1.00x)\n", static_cast<long long>(in_auto[0]),
              static_cast<long long>(in_auto[1]), t_auto);
  std::printf("  LibTorch   640x640             : %8.2f ms  (%.2fx)\n", t_sq, t_sq / t_auto);
  if (t_ocv > 0)
    std::printf("  OpenCV DNN 640x640             : %8.2f ms  (%.2fx; %.2fx of LibTorch 640x640)\n", t_ocv, t_ocv / t_auto,
                t_ocv / t_sq);
  else
    std::printf("  OpenCV DNN: not run (%s)\n", ocv_err.c_str());
  return 0;
}
