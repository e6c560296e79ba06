// `yolocpp predict model=best.pt source=img.jpg|folder|'glob*.jpg'|list.txt|video.mp4 conf=0.25 iou=0.7
// imgsz=640 save=True save_txt=False save_conf=False save_json=False ...`: the predict pipeline (predict/predictor.hpp)
// on every image/frame of the source, one console line each, annotated copies in runs/detect/predictN.
#include <glob.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "cli/modes.hpp"
#include "yolocpp/predict/predictor.hpp"
#include "yolocpp/config/run_dir.hpp"
#include "yolocpp/val/validator.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cli {

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kImageExt = {".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm"};
const std::vector<std::string> kVideoExt = {".asf", ".avi", ".gif", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".ts", ".wmv", ".webm"};

bool given(const Settings& s, const char* key) { return s.has(key) && !s.is_none(key); }

std::string lower_ext(const fs::path& p) {
  std::string e = p.extension().string();
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}
bool is_image(const fs::path& p) { auto e = lower_ext(p); return std::find(kImageExt.begin(), kImageExt.end(), e) != kImageExt.end(); }
bool is_video(const fs::path& p) { auto e = lower_ext(p); return std::find(kVideoExt.begin(), kVideoExt.end(), e) != kVideoExt.end(); }

std::vector<fs::path> glob_paths(const std::string& pattern) {
  std::vector<fs::path> out;
  glob_t g{};
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  std::sort(out.begin(), out.end());
  return out;
}

// Every image/video file the source names, in Ultralytics' order (sorted within a folder or glob).
std::vector<fs::path> resolve_source(const std::string& source) {
  if (source.rfind("http://", 0) == 0 || source.rfind("https://", 0) == 0 || source.rfind("rtsp://", 0) == 0)
    throw ConfigError("source=" + source + ": URLs and streams are not supported by yolocpp predict; download the "
                      "file and pass its path");
  std::vector<fs::path> candidates;
  const fs::path p(source);
  if (source.find_first_of("*?[") != std::string::npos) {
    candidates = glob_paths(source);
    if (candidates.empty()) throw DataError("source=" + source + ": the pattern matches no file");
  } else if (fs::is_directory(p)) {
    for (const auto& e : fs::directory_iterator(p))
      if (e.is_regular_file()) candidates.push_back(e.path());
    std::sort(candidates.begin(), candidates.end());
  } else if (fs::is_regular_file(p) && lower_ext(p) == ".txt") {
    // One path per line, relative to the list file's folder (as Ultralytics resolves them).
    std::ifstream f(p);
    std::string line;
    int n = 0;
    while (std::getline(f, line)) {
      ++n;
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
      if (line.empty()) continue;
      fs::path q(line);
      if (q.is_relative()) q = p.parent_path() / q;
      if (!fs::exists(q)) throw DataError(fmt::format("{}:{}: '{}' does not exist", source, n, line));
      candidates.push_back(q);
    }
  } else if (fs::is_regular_file(p)) {
    candidates.push_back(p);
  } else {
    throw DataError("source=" + source + " does not exist; pass an image, a folder, a glob ('dir/*.jpg'), a .txt list "
                    "of paths or a video file");
  }
  std::vector<fs::path> out;
  for (auto& c : candidates)
    if (is_image(c) || is_video(c)) out.push_back(c);
  if (out.empty())
    throw DataError(fmt::format("source={}: no images or videos found. Supported formats are images: {} and videos: {}",
                                source, fmt::join(kImageExt, " "), fmt::join(kVideoExt, " ")));
  return out;
}

// Distinct, stable colours per class (golden-ratio hue steps), BGR.
cv::Scalar class_colour(int c) {
  const double h = std::fmod(0.07 + c * 0.618033988749895, 1.0) * 180.0;
  cv::Mat hsv(1, 1, CV_8UC3, cv::Scalar(h, 210, 240)), bgr;
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
  const auto v = bgr.at<cv::Vec3b>(0, 0);
  return cv::Scalar(v[0], v[1], v[2]);
}

struct DrawOptions {
  int line_width = 0;  // 0: scaled to the image
  bool labels = true, conf = true, boxes = true;
};

cv::Mat annotate(const cv::Mat& img, const torch::Tensor& det, const std::vector<std::string>& names, const DrawOptions& o) {
  cv::Mat out = img.clone();
  if (!o.boxes || det.numel() == 0) return out;
  const int lw = o.line_width > 0 ? o.line_width
                                  : std::max(static_cast<int>(std::lround((img.rows + img.cols) / 2.0 * 0.003)), 2);
  const int tf = std::max(lw - 1, 1);
  const double fs = lw / 3.0;
  auto d = det.contiguous();
  // Drawn lowest confidence first so the most confident box ends on top.
  for (int64_t i = d.size(0) - 1; i >= 0; --i) {
    const float* r = d[i].data_ptr<float>();
    const int c = static_cast<int>(r[5]);
    const cv::Scalar col = class_colour(c);
    const cv::Point p1(static_cast<int>(r[0]), static_cast<int>(r[1])), p2(static_cast<int>(r[2]), static_cast<int>(r[3]));
    cv::rectangle(out, p1, p2, col, lw, cv::LINE_AA);
    if (!o.labels && !o.conf) continue;
    std::string label = o.labels ? (c >= 0 && c < static_cast<int>(names.size()) ? names[c] : std::to_string(c)) : "";
    if (o.conf) label += fmt::format("{}{:.2f}", label.empty() ? "" : " ", r[4]);
    int base = 0;
    const cv::Size ts = cv::getTextSize(label, cv::FONT_HERSHEY_SIMPLEX, fs, tf, &base);
    const bool outside = p1.y - ts.height >= 3;
    const cv::Point q2(p1.x + ts.width, outside ? p1.y - ts.height - 3 : p1.y + ts.height + 3);
    cv::rectangle(out, p1, q2, col, cv::FILLED, cv::LINE_AA);
    const double lum = 0.299 * col[2] + 0.587 * col[1] + 0.114 * col[0];
    cv::putText(out, label, cv::Point(p1.x, outside ? p1.y - 2 : p1.y + ts.height + 2), cv::FONT_HERSHEY_SIMPLEX, fs,
                lum > 150 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255), tf, cv::LINE_AA);
  }
  return out;
}

// YOLO rows `cls cx cy w h [conf]` normalised to the original image, each value as %g (ultralytics 8.3.58
// engine/results.py Results.save_txt).
std::string label_lines(const torch::Tensor& det, int64_t h, int64_t w, bool save_conf) {
  std::string s;
  auto d = det.contiguous();
  for (int64_t i = 0; i < d.size(0); ++i) {
    const float* r = d[i].data_ptr<float>();
    // float32 arithmetic, as the xywhn of Ultralytics' Boxes (computed on the float32 tensor).
    const float cx = (r[0] + r[2]) / 2.0f / static_cast<float>(w), cy = (r[1] + r[3]) / 2.0f / static_cast<float>(h);
    const float bw = (r[2] - r[0]) / static_cast<float>(w), bh = (r[3] - r[1]) / static_cast<float>(h);
    s += fmt::format("{:g} {:g} {:g} {:g} {:g}", static_cast<double>(static_cast<int>(r[5])), double(cx), double(cy),
                     double(bw), double(bh));
    if (save_conf) s += fmt::format(" {:g}", double(r[4]));
    s += "\n";
  }
  return s;
}

}  // namespace

int run_predict(const Settings& s) {
  if (!given(s, "model"))
    throw ConfigError("predict needs a model: pass model=path/to/best.pt (or an exported best.onnx)");
  if (!given(s, "source"))
    throw ConfigError("predict needs a source: pass source=image.jpg, a folder, a glob 'dir/*.jpg', a .txt list or a video");
  const std::string model_path = s.str("model");
  const auto sources = resolve_source(s.str("source"));

  engine::PredictOptions po;
  auto sz = s.int_list("imgsz");
  if (sz.empty()) sz = {640};
  po.imgsz = sz.size() == 1 ? engine::Shape2{sz[0], sz[0]} : engine::Shape2{sz[0], sz[1]};
  po.conf = given(s, "conf") ? s.number("conf") : 0.25;
  po.iou = s.number("iou");
  po.max_det = static_cast<int>(s.integer("max_det"));
  po.agnostic = s.boolean("agnostic_nms");
  if (given(s, "classes")) po.classes = s.int_list("classes");
  const std::string device = given(s, "device") ? s.str("device") : "cpu";
  engine::Predictor pred(engine::make_backend(model_path, engine::BackendKind::Auto, device, s.boolean("half")), po);
  const auto& names = pred.names();

  const bool save = s.boolean("save"), save_txt = s.boolean("save_txt"), save_conf = s.boolean("save_conf");
  const bool save_json = s.boolean("save_json");
  const bool save_frames = given(s, "save_frames") && s.boolean("save_frames");
  DrawOptions draw;
  draw.line_width = given(s, "line_width") ? static_cast<int>(s.integer("line_width")) : 0;
  draw.labels = s.boolean("show_labels");
  draw.conf = s.boolean("show_conf");
  draw.boxes = !given(s, "show_boxes") || s.boolean("show_boxes");
  const int vid_stride = std::max<int>(1, static_cast<int>(s.integer("vid_stride")));

  fs::path save_dir;
  if (save || save_txt || save_json || save_frames) {
    save_dir = engine::make_run_dir(given(s, "project") ? s.str("project") : "", given(s, "name") ? s.str("name") : "",
                                    s.boolean("exist_ok"), "predict")
                   .path;
    if (save_txt) fs::create_directories(save_dir / "labels");
  }
  nlohmann::json json = nlohmann::json::array();
  int64_t n_labels = 0;
  const size_t nf = sources.size();

  // One image/frame through the pipeline, its console line and its outputs.
  auto handle = [&](const cv::Mat& frame, const std::string& prefix, const fs::path& path, const std::string& stem,
                    cv::VideoWriter* writer) -> cv::Mat {
    const double t_inf0 = pred.speed().inference;
    auto p = pred.predict({frame})[0];
    const double inf_ms = pred.speed().inference - t_inf0;
    const std::string counts = p.boxes.size(0) ? engine::count_summary(p.boxes, names) + ", " : "(no detections), ";
    std::printf("%s%s: %lldx%lld %s%.1fms\n", prefix.c_str(), path.string().c_str(),
                static_cast<long long>(p.input_hw[0]), static_cast<long long>(p.input_hw[1]), counts.c_str(), inf_ms);
    std::fflush(stdout);
    if (save_txt && p.boxes.size(0) > 0) {  // no file for an image without detections, as Ultralytics
      util::atomic_write(save_dir / "labels" / (stem + ".txt"), label_lines(p.boxes, p.orig_hw[0], p.orig_hw[1], save_conf));
      ++n_labels;
    }
    if (save_json) engine::append_json_predictions(stem, p.boxes, json);
    cv::Mat plotted;
    if (save || save_frames) plotted = annotate(frame, p.boxes, names, draw);
    if (save && !writer) {
      if (!cv::imwrite((save_dir / path.filename()).string(), plotted))
        throw IoError("could not write " + (save_dir / path.filename()).string());
    }
    if (writer && save) writer->write(plotted);
    if (save_frames) {
      fs::create_directories(save_dir / "frames");
      cv::imwrite((save_dir / "frames" / (stem + ".jpg")).string(), plotted);
    }
    return plotted;
  };

  for (size_t i = 0; i < nf; ++i) {
    const fs::path& path = sources[i];
    if (is_image(path)) {
      cv::Mat img = cv::imread(path.string(), cv::IMREAD_COLOR);
      if (img.empty()) throw DataError("image " + path.string() + " could not be read (corrupt or not an image)");
      handle(img, fmt::format("image {}/{} ", i + 1, nf), path, path.stem().string(), nullptr);
      continue;
    }
    cv::VideoCapture cap(path.string());
    if (!cap.isOpened()) throw DataError("video " + path.string() + " could not be opened by OpenCV's videoio");
    const int total = static_cast<int>(cap.get(cv::CAP_PROP_FRAME_COUNT) / vid_stride);
    const double fps = cap.get(cv::CAP_PROP_FPS);
    cv::VideoWriter writer;
    int frame_no = 0;
    cv::Mat frame;
    while (true) {
      bool ok = true;
      for (int k = 0; k < vid_stride - 1 && ok; ++k) ok = cap.grab();  // skipped frames are not decoded
      if (!ok || !cap.read(frame) || frame.empty()) break;
      ++frame_no;
      if (save && !writer.isOpened()) {
        // Ultralytics writes MJPG .avi on Linux; fall back to mp4v .mp4 where MJPG is unavailable.
        const double out_fps = fps > 0 ? fps / vid_stride : 30.0;
        const fs::path avi = save_dir / (path.stem().string() + ".avi");
        if (!writer.open(avi.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), out_fps, frame.size())) {
          const fs::path mp4 = save_dir / (path.stem().string() + ".mp4");
          if (!writer.open(mp4.string(), cv::VideoWriter::fourcc('m', 'p', '4', 'v'), out_fps, frame.size()))
            throw IoError("could not open a video writer for " + avi.string());
        }
      }
      handle(frame, fmt::format("video {}/{} (frame {}/{}) ", i + 1, nf, frame_no, total), path,
             fmt::format("{}_{}", path.stem().string(), frame_no), save ? &writer : nullptr);
    }
  }

  const auto& sp = pred.speed();
  const double n = std::max<int64_t>(sp.images, 1);
  const auto in = pred.last_input_hw();
  std::printf("Speed: %.1fms preprocess, %.1fms inference, %.1fms postprocess per image at shape (1, 3, %lld, %lld)\n",
              sp.preprocess / n, sp.inference / n, sp.postprocess / n, static_cast<long long>(in[0]),
              static_cast<long long>(in[1]));
  if (save_json) util::atomic_write(save_dir / "predictions.json", json.dump());
  if (!save_dir.empty()) {
    std::printf("Results saved to %s\n", save_dir.string().c_str());
    if (save_txt) std::printf("%lld label%s saved to %s\n", static_cast<long long>(n_labels), n_labels == 1 ? "" : "s",
                              (save_dir / "labels").string().c_str());
  }
  return 0;
}

}  // namespace yolocpp::cli
