// `yolocpp MODE key=value ...`: a thin dispatch to the library. Usage text lives here so `yolocpp help` and
// `yolocpp MODE help` stay next to the dispatch table they describe. Errors end as one `error: ...` line and
// a non-zero exit (1 for a bad setting or a failed run, 2 for a bad command line), never a stack trace.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "cli/modes.hpp"
#include "yolocpp/log.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/version.hpp"

namespace {

using yolocpp::config::Settings;

namespace cli = yolocpp::cli;

struct Mode {
  const char* name;
  // `sub` is the cloud sub-command; every other mode ignores it.
  int (*run)(const std::string& sub, const Settings& s);
  const char* summary;
  const char* settings;  // the settings that matter for this mode
  const char* examples;
};

// A mode without sub-commands, in the table's signature.
template <int (*Run)(const Settings&)>
int plain(const std::string&, const Settings& s) {
  return Run(s);
}

const std::vector<Mode>& modes() {
  static const std::vector<Mode> m = {
      {"train", plain<cli::run_train>, "train a detection model on a dataset",
       "model data epochs time patience batch imgsz device workers project name exist_ok pretrained optimizer "
       "lr0 lrf momentum weight_decay warmup_epochs cos_lr close_mosaic resume amp fraction freeze seed "
       "deterministic single_cls rect cache save_period val plots and the augmentation settings (hsv_h hsv_s "
       "hsv_v degrees translate scale shear perspective flipud fliplr bgr mosaic mixup)",
       "yolocpp synth out=demo && yolocpp train data=demo/dataset.yaml model=yolo11n.yaml epochs=100 imgsz=640\n"
       "  yolocpp train data=my.yaml model=yolo11n.yaml batch=-1 patience=20 name=exp\n"
       "  yolocpp train resume=True model=runs/detect/exp/weights/last.pt"},
      {"val", plain<cli::run_val>, "validate a model (mAP, precision, recall) on a dataset split",
       "model data split batch imgsz conf iou max_det half device rect save_json plots project name",
       "yolocpp val model=runs/detect/train/weights/best.pt data=demo/dataset.yaml\n"
       "  yolocpp val model=runs/detect/train/weights/best.pt split=val conf=0.001 iou=0.7  (data= from the checkpoint)"},
      {"predict", plain<cli::run_predict>, "run a model on images, folders or videos",
       "model source imgsz conf iou max_det classes agnostic_nms half device vid_stride save save_txt save_conf "
       "save_crop show_labels show_conf show_boxes line_width project name",
       "yolocpp predict model=yolo11n.pt source=bus.jpg\n"
       "  yolocpp predict model=best.pt source=images/ conf=0.5 save_txt=True classes=[0,2]"},
#ifndef YOLOCPP_TRAIN_ONLY
      {"export", plain<cli::run_export>, "export a model to another format",
       "model format imgsz batch half dynamic simplify opset optimize nms device",
       "yolocpp export model=yolo11n.pt format=onnx\n"
       "  yolocpp export model=best.pt format=onnx imgsz=[480,640] dynamic=True"},
#endif
      {"check", plain<cli::run_check>, "check a dataset: images (decoded), labels, instances per class, problems",
       "data single_cls strict",
       "yolocpp check data=demo/dataset.yaml\n"
       "  yolocpp check data=demo/dataset.yaml strict=True   (exit 1 on any corrupt file)\n"
       "  yolocpp check            (the built-in demo dataset)"},
      {"pack", plain<cli::run_pack>, "pack a dataset into one relocatable, verified .tar.gz",
       "data out",
       "yolocpp pack data=my.yaml out=my-dataset.tar.gz"},
      {"synth", plain<cli::run_synth>, "generate the synthetic isometric demo dataset",
       "out images seed imgsz val_fraction",
       "yolocpp synth out=demo images=200 seed=0\n"
       "  yolocpp synth out=small images=40 imgsz=320 val_fraction=0.25"},
      {"cfg", plain<cli::run_cfg>, "print the effective settings (defaults < cfg=FILE < command line) as yaml",
       "cfg and any other setting",
       "yolocpp cfg\n"
       "  yolocpp cfg epochs=3 imgsz=320\n"
       "  yolocpp cfg cfg=my.yaml > args.yaml"},
      {"info", plain<cli::run_info>, "print a model's layers, parameters and GFLOPs",
       "model imgsz",
       "yolocpp info model=yolo11n.yaml\n"
       "  yolocpp info model=yolo11s.yaml imgsz=640"},
#ifndef YOLOCPP_TRAIN_ONLY
      {"cloud", cli::run_cloud,
       "run a training job on a rented cloud GPU (Lambda Cloud); sub-commands: train attach logs ls down gc",
       "api_url gpu region budget max_hours host ssh_port ssh_key keep bootstrap instance export, plus every "
       "train setting (forwarded to the remote `yolocpp train`)",
       "yolocpp cloud train data=my.yaml model=yolo11n.pt epochs=100 gpu=gpu_1x_a100_sxm4 budget=5\n"
       "  yolocpp cloud ls\n"
       "  yolocpp cloud logs NAME        (or name=NAME, instance=<id>)\n"
       "  yolocpp cloud attach NAME\n"
       "  yolocpp cloud down NAME\n"
       "  yolocpp cloud gc"},
#endif
  };
  return m;
}

const std::vector<std::string>& cloud_subs() {
  static const std::vector<std::string> s = {"train", "attach", "logs", "ls", "down", "gc"};
  return s;
}

bool is_help(const std::string& a) { return a == "help" || a == "--help" || a == "-h"; }

void print_usage() {
  std::printf(
      "yolocpp %s: YOLO11 detection training, validation, export and inference (Ultralytics-compatible "
      "settings)\n\n"
      "usage: yolocpp MODE key=value ...\n"
      "       yolocpp cloud SUB key=value ...\n"
      "       yolocpp MODE help      (settings and examples for one mode)\n"
      "       yolocpp help | version\n\n"
      "modes:\n",
      YOLOCPP_VERSION);
  for (const auto& m : modes()) std::printf("  %-8s %s\n", m.name, m.summary);
  std::printf(
      "\nSettings use Ultralytics' names and defaults (`yolocpp cfg` lists them all); cfg=FILE.yaml applies a\n"
      "yaml of settings first, then the command line wins. Booleans: True/False.\n\n"
      "examples:\n"
      "  yolocpp synth out=demo\n"
      "  yolocpp train data=demo/dataset.yaml model=yolo11n.yaml epochs=10 imgsz=640\n"
      "  yolocpp val model=runs/detect/train/weights/best.pt data=demo/dataset.yaml\n"
      "  yolocpp predict model=yolo11n.pt source=bus.jpg conf=0.25\n"
      "  yolocpp export model=yolo11n.pt format=onnx\n"
      "  yolocpp cfg epochs=3\n");
}

void print_mode_help(const Mode& m) {
  std::printf("yolocpp %s: %s\n\nusage: yolocpp %s%s key=value ...\n\nsettings that matter: %s\n\nexamples:\n  %s\n",
              m.name, m.summary, m.name, std::string(m.name) == "cloud" ? " SUB" : "", m.settings, m.examples);
}


std::string closest(const std::string& word, const std::vector<std::string>& names) {
  std::string best;
  size_t best_d = 3;  // at most 2 edits: "trian", "expot", "predcit"
  for (const auto& n : names) {
    size_t d = yolocpp::config::edit_distance(word, n);
    if (d < best_d) best_d = d, best = n;
  }
  return best;
}

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "error: %s\n", msg.c_str());
  return 2;
}

std::vector<std::string> mode_names() {
  std::vector<std::string> n;
  for (const auto& m : modes()) n.push_back(m.name);
  return n;
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

int dispatch(std::vector<std::string> args) {
  if (args.empty()) {
    print_usage();
    return 2;
  }
  // Ultralytics accepts the task first (`yolo detect train ...`); detect is the only task here.
  if (args[0] == "detect") args.erase(args.begin());
  if (args.empty() || is_help(args[0])) {
    print_usage();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "version" || args[0] == "--version" || args[0] == "-V") {
    std::printf("yolocpp %s\n", YOLOCPP_VERSION);
    return 0;
  }
  if (args[0] == "segment" || args[0] == "classify" || args[0] == "pose" || args[0] == "obb")
    return usage_error("task '" + args[0] + "' is not supported: yolocpp implements detection only (drop '" +
                       args[0] + "')");

  const std::string mode = args[0];
  args.erase(args.begin());
  const Mode* m = nullptr;
  for (const auto& x : modes())
    if (mode == x.name) m = &x;
  if (!m) {
    std::string hint = closest(mode, mode_names());
    return usage_error("unknown mode '" + mode + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                       "; modes: " + join(mode_names()) + "; see 'yolocpp help'");
  }

  std::string sub;
  if (mode == "cloud") {
    if (args.empty() || is_help(args[0])) {
      print_mode_help(*m);
      return args.empty() ? 2 : 0;
    }
    sub = args[0];
    args.erase(args.begin());
    if (std::find(cloud_subs().begin(), cloud_subs().end(), sub) == cloud_subs().end()) {
      std::string hint = closest(sub, cloud_subs());
      return usage_error("unknown cloud sub-command '" + sub + "'" +
                         (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                         "; sub-commands: train attach logs ls down gc; see 'yolocpp cloud help'");
    }
    // `yolocpp cloud down NAME` (and attach/logs): a bare first word is the job name, as the hints print it.
    if ((sub == "attach" || sub == "logs" || sub == "down") && !args.empty() && !is_help(args[0]) &&
        args[0].find('=') == std::string::npos && args[0].rfind("--", 0) != 0)
      args[0] = "name=" + args[0];
  }
  for (const auto& a : args)
    if (is_help(a)) {
      print_mode_help(*m);
      return 0;
    }

  Settings s = Settings::from_args(args);
  s.set("mode", mode);
  if (mode != "cfg") cli::warn_ignored_settings(s);

  return m->run(sub, s);
}

// c10 (LibTorch) messages carry a multi-line C++ backtrace after their first line: only that line is for users.
std::string first_line(const char* what) {
  std::string s(what ? what : "");
  s = s.substr(0, s.find('\n'));
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  // Results and progress on stdout, warnings and errors on stderr (the library's default sink is stderr only).
  yolocpp::log::set_sink(yolocpp::log::console_sink);
  try {
    return dispatch(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const yolocpp::Error& e) {
    std::fprintf(stderr, "error: %s\n", first_line(e.what()).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: internal error: %s\n", first_line(e.what()).c_str());
  } catch (...) {
    std::fprintf(stderr, "error: internal error (unknown exception)\n");
  }
  return 1;
}
