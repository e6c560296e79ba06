// A game-agent style loop: load a detector once, then per frame detect -> act. Here the "game" is a folder
// of frames read in name order, and the "action" is printing what is on screen; the loop ends with the mean
// detection latency, the number an agent's frame budget is planned against.
//
//   agent_loop best.pt frames/ [conf=0.25] [imgsz=640]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "yolocpp/detector.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL(.pt|.onnx) FRAMES_DIR [conf=0.25] [imgsz=640]\n", argv[0]);
    return 2;
  }
  yolocpp::DetectorOptions opt;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("conf=", 0) == 0) opt.conf = std::stof(a.substr(5));
    else if (a.rfind("imgsz=", 0) == 0) opt.imgsz = std::stoi(a.substr(6));
  }
  try {
    yolocpp::Detector detector(argv[1], opt);
    std::printf("model %s: %zu classes, imgsz %d, %s\n", argv[1], detector.names().size(), detector.imgsz(),
                detector.backend_name().c_str());

    std::vector<fs::path> frames;
    for (const auto& e : fs::directory_iterator(argv[2])) {
      const auto ext = e.path().extension().string();
      if (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp") frames.push_back(e.path());
    }
    std::sort(frames.begin(), frames.end());
    if (frames.empty()) {
      std::fprintf(stderr, "no frames (.jpg/.png/.bmp) in %s\n", argv[2]);
      return 1;
    }

    double total_ms = 0;
    for (size_t f = 0; f < frames.size(); ++f) {
      cv::Mat frame = cv::imread(frames[f].string());
      const auto t0 = std::chrono::steady_clock::now();
      const auto dets = detector.detect(frame);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      total_ms += ms;

      std::map<std::string, int> counts;  // the agent's view of the scene
      for (const auto& d : dets) ++counts[d.name];
      std::printf("frame %zu %s: %zu objects", f + 1, frames[f].filename().string().c_str(), dets.size());
      for (const auto& [name, n] : counts) std::printf(", %s=%d", name.c_str(), n);
      std::printf(" (%.1f ms)\n", ms);
    }
    std::printf("mean latency %.2f ms over %zu frames\n", total_ms / frames.size(), frames.size());
  } catch (const yolocpp::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
