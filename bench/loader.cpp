// Loader throughput (images/s) with the users' augmentation settings (mosaic=1.0 mixup=0.1 degrees=10
// scale=0.5 fliplr=0.5, HSV defaults) by worker count; ratios are against workers=0 (batches made on the
// consumer thread) measured in the same run. First, JPEG decoding alone: cv::imread (IMREAD_COLOR, as the
// loader) of the split's images, so the decode share of the loader is visible: with mosaic every output sample
// decodes 4 images (plus 4 more for the mixup fraction), so decode costs ~(4 + 4 * mixup) / decode images/s per
// sample unless cache=ram keeps the decoded, resized images.
//   bench_loader [data=<dataset yaml>] [batches=N] [cache=False|ram|disk] [imgsz=640] [batch=16]
//                [workers=0,1,2,4] [decode=N]   (decode: how many images to decode, 0 = the whole split)
// No data=: ../shared/datasets/coc_buildings when present, else the demo dataset.
#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "yolocpp/data/dataset.hpp"
#include "yolocpp/data/synth.hpp"
#include "yolocpp/data/loader/loader.hpp"

using namespace yolocpp;
namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// OpenCV's own account of its JPEG codec (e.g. "JPEG: /usr/lib/.../libjpeg.so (ver 62)"); whether that
// libjpeg is libjpeg-turbo shows with `dpkg -S` on the library ldd names.
std::string opencv_jpeg_line() {
  std::stringstream ss(cv::getBuildInformation());
  std::string line;
  while (std::getline(ss, line))
    if (line.find("JPEG:") != std::string::npos) {
      std::string out;  // the line with its alignment spaces squeezed
      for (char c : line)
        if (c != ' ' || (!out.empty() && out.back() != ' ')) out += c;
      return out;
    }
  return "JPEG: (not in OpenCV's build information)";
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_arg, cache = "False", workers_arg = "0,1,2,4";
  size_t max_batches = 0, decode_n = 0;
  int imgsz = 640, batch = 16;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("data=", 0) == 0) data_arg = a.substr(5);
    else if (a.rfind("batches=", 0) == 0) max_batches = std::stoul(a.substr(8));
    else if (a.rfind("cache=", 0) == 0) cache = a.substr(6);
    else if (a.rfind("imgsz=", 0) == 0) imgsz = std::stoi(a.substr(6));
    else if (a.rfind("batch=", 0) == 0) batch = std::stoi(a.substr(6));
    else if (a.rfind("workers=", 0) == 0) workers_arg = a.substr(8);
    else if (a.rfind("decode=", 0) == 0) decode_n = std::stoul(a.substr(7));
    else { std::fprintf(stderr, "unknown argument %s\n", argv[i]); return 2; }
  }
  if (data_arg.empty())
    for (const char* c : {"../shared/datasets/coc_buildings/data.yaml", "../../shared/datasets/coc_buildings/data.yaml"})
      if (fs::exists(c)) {
        data_arg = c;
        break;
      }
  if (data_arg.empty()) data_arg = data::ensure_demo_dataset().string();
  auto ds = data::load_dataset(data_arg);
  std::printf("dataset %s, %u hardware threads, cache=%s, imgsz %d, batch %d\n", data_arg.c_str(),
              std::thread::hardware_concurrency(), cache.c_str(), imgsz, batch);
  std::printf("OpenCV %s, %s\n", CV_VERSION, opencv_jpeg_line().c_str());

  // Decode alone, on this thread (the loader's workers=0 case). One untimed pass first warms the page cache
  // so the figure is decoding, not the disk.
  std::vector<fs::path> files = ds.split("train").images;
  if (decode_n && files.size() > decode_n) files.resize(decode_n);
  for (const auto& f : files) (void)cv::imread(f.string(), cv::IMREAD_COLOR);
  double decode_ips = 0;
  {
    const auto t0 = std::chrono::steady_clock::now();
    double pixels = 0;
    for (const auto& f : files) {
      cv::Mat m = cv::imread(f.string(), cv::IMREAD_COLOR);
      pixels += static_cast<double>(m.total());
    }
    const double s = seconds_since(t0);
    decode_ips = files.size() / s;
    std::printf("decode only (cv::imread): %zu images in %.2f s, %.1f images/s, %.1f Mpixel/s (mean %.2f Mpixel/image)\n",
                files.size(), s, decode_ips, pixels / s / 1e6, pixels / files.size() / 1e6);
  }

  engine::LoaderOptions o;
  o.mode = engine::LoaderMode::Train;
  o.imgsz = imgsz;
  o.batch = batch;
  o.seed = 0;
  o.cache = engine::parse_cache_mode(cache);
  o.hyp.mosaic = 1.0;
  o.hyp.mixup = 0.1;
  o.hyp.degrees = 10;
  o.hyp.scale = 0.5;
  o.hyp.fliplr = 0.5;
  // Images decoded per output sample: mosaic takes 4, the mixup fraction adds a second mosaic.
  const double decodes_per_sample = o.cache == engine::CacheMode::None ? 4.0 * (1.0 + o.hyp.mixup) : 0.0;

  std::vector<int> worker_counts;
  {
    std::stringstream ss(workers_arg);
    std::string tok;
    while (std::getline(ss, tok, ',')) worker_counts.push_back(std::stoi(tok));
  }
  double base = 0;
  std::printf("%8s %10s %10s %10s %8s %14s\n", "workers", "images", "seconds", "images/s", "ratio", "decode share");
  for (int w : worker_counts) {
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
    const double s = seconds_since(t0);
    const double ips = images / s;
    if (base == 0) base = ips;
    // Single-threaded decode time per sample / loader time per sample: the share of one worker's time spent
    // decoding (with w workers the loader's wall time is shared, so the figure is per worker-second).
    const double share = decodes_per_sample / decode_ips * ips / std::max(w, 1);
    std::printf("%8d %10zu %10.2f %10.1f %7.2fx %13.0f%%\n", w, images, s, ips, ips / base, 100 * share);
    std::fflush(stdout);
  }
  return 0;
}
