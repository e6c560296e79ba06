// Loader throughput (images/s) with the users' augmentation settings (mosaic=1.0 mixup=0.1 degrees=10
// scale=0.5 fliplr=0.5, HSV defaults) at imgsz 640, batch 16, by worker count; ratios are against
// workers=0 (batches made on the consumer thread) measured in the same run.
//   bench_loader [data=<dataset yaml>] [batches=N] [cache=False|ram|disk]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "yolocpp/data/dataset.hpp"
#include "yolocpp/data/synth.hpp"
#include "yolocpp/engine/loader.hpp"

using namespace yolocpp;

int main(int argc, char** argv) {
  std::string data_arg, cache = "False";
  size_t max_batches = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("data=", 0) == 0) data_arg = a.substr(5);
    else if (a.rfind("batches=", 0) == 0) max_batches = std::stoul(a.substr(8));
    else if (a.rfind("cache=", 0) == 0) cache = a.substr(6);
    else { std::fprintf(stderr, "unknown argument %s\n", argv[i]); return 2; }
  }
  if (data_arg.empty()) data_arg = data::ensure_demo_dataset().string();
  auto ds = data::load_dataset(data_arg);
  std::printf("dataset %s, %u hardware threads, cache=%s\n", data_arg.c_str(), std::thread::hardware_concurrency(),
              cache.c_str());

  engine::LoaderOptions o;
  o.mode = engine::LoaderMode::Train;
  o.imgsz = 640;
  o.batch = 16;
  o.seed = 0;
  o.cache = engine::parse_cache_mode(cache);
  o.hyp.mosaic = 1.0;
  o.hyp.mixup = 0.1;
  o.hyp.degrees = 10;
  o.hyp.scale = 0.5;
  o.hyp.fliplr = 0.5;

  double base = 0;
  std::printf("%8s %10s %10s %10s %8s\n", "workers", "images", "seconds", "images/s", "ratio");
  for (int w : {0, 1, 2, 4}) {
    o.workers = w;
    engine::Loader loader(ds, "train", o);
    if (o.cache != engine::CacheMode::None) {  // fill the cache outside the timing
      while (loader.next()) {
      }
      loader.set_epoch(1);
    }
    const auto t0 = std::chrono::steady_clock::now();
    size_t images = 0, batches = 0;
    while (auto b = loader.next()) {
      images += static_cast<size_t>(b->size());
      if (max_batches && ++batches >= max_batches) break;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double ips = images / s;
    if (w == 0) base = ips;
    std::printf("%8d %10zu %10.2f %10.1f %7.2fx\n", w, images, s, ips, ips / base);
    std::fflush(stdout);
  }
  return 0;
}
