// `yolocpp train` end to end on CPU: (1) it learns (mAP50 on a synthetic val split far above an untrained
// model), (2) a run killed mid-epoch resumes from its last completed epoch and finishes with every
// results.csv row once, (3) the users' command runs on a copy of coc_buildings and leaves a run folder that
// `yolocpp val` accepts.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "common/test_util.hpp"
#include "yolocpp/util/tb_events.hpp"

using yolocpp::test::run_cmd;
using yolocpp::test::TempDir;
namespace fs = std::filesystem;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  std::string l;
  while (std::getline(in, l))
    if (!l.empty()) out.push_back(l);
  return out;
}

const char* kHeader =
    "epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),"
    "metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2";

// Column `col` of the last results.csv row.
double last_value(const fs::path& csv, int col) {
  auto rows = lines_of(csv);
  std::stringstream ss(rows.back());
  std::string cell;
  for (int i = 0; i <= col; ++i) std::getline(ss, cell, ',');
  return std::stod(cell);
}

// mAP50 from the "all" row of a validation table: "all  images  instances  P  R  mAP50  mAP50-95".
double all_row_map50(const std::string& out) {
  std::istringstream in(out);
  std::string line;
  double v = -1;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string first;
    ls >> first;
    if (first != "all") continue;
    double images, inst, p, r, m50;
    if (ls >> images >> inst >> p >> r >> m50) v = m50;
  }
  return v;
}

std::string bin() { return YOLOCPP_BIN; }
yolocpp::test::CmdResult cli(const std::string& a) { return yolocpp::test::yolocpp(a); }

fs::path make_synth(const fs::path& dir, int images, int imgsz) {
  auto r = cli("synth out=" + dir.string() + " images=" + std::to_string(images) + " imgsz=" +
                   std::to_string(imgsz) + " val_fraction=0.25 seed=3");
  EXPECT_EQ(r.rc, 0) << r.out;
  return dir / "dataset.yaml";
}

}  // namespace

// Learning: 30 train / 10 val synthetic images at 160 px, yolo11n from scratch, 25 epochs of 8 optimizer steps.
// Settings chosen for a tiny dataset: nbs=batch so every batch steps, no warmup (100 warmup iterations would be
// most of the run). Measured on 2 shared cores: 150 s, final best.pt mAP50 0.202 (last-epoch EMA 0.202); the
// threshold is half of that to absorb thread-count effects, while an untrained model scores < 0.01.
TEST(TrainE2E, LearnsSynthFromScratch) {
  TempDir tmp;
  const fs::path yaml = make_synth(tmp / "synth", 40, 160);
  const std::string common = " data=" + yaml.string() + " imgsz=160 device=cpu project=" + (tmp / "runs").string();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_cmd("cd " + tmp.path().string() + " && " + bin() + " train model=yolo11n.yaml" + common +
                   " name=learn epochs=25 batch=4 nbs=4 warmup_epochs=0 close_mosaic=5 optimizer=AdamW lr0=0.002 "
                   "workers=0 plots=False");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.rc, 0) << r.out;
  const fs::path run = tmp / "runs" / "learn";
  const double map50 = last_value(run / "results.csv", 7);
  const double final_map50 = all_row_map50(r.out);
  std::printf("[learn] 25 epochs in %.0f s; last-epoch EMA mAP50 %.4f, final best.pt mAP50 %.4f\n", secs, map50,
              final_map50);
  EXPECT_EQ(lines_of(run / "results.csv").size(), 26u);
  EXPECT_GT(final_map50, 0.10) << r.out;
  // The same model untrained scores nearly nothing on the same split.
  auto u = cli("val model=yolo11n.yaml data=" + yaml.string() + " imgsz=160 device=cpu project=" +
                   (tmp / "runs").string() + " name=untrained");
  ASSERT_EQ(u.rc, 0) << u.out;
  EXPECT_LT(all_row_map50(u.out), 0.01) << u.out;
}

// A run SIGKILLed mid-epoch resumes from its last completed epoch (its last.pt) and ends with every row once.
TEST(TrainE2E, ResumeAfterKillMidEpoch) {
  TempDir tmp;
  const fs::path yaml = make_synth(tmp / "synth", 32, 128);
  const fs::path run = tmp / "runs" / "r";
  const std::string cmd = "cd " + tmp.path().string() + " && exec " + bin() + " train model=yolo11n.yaml data=" +
                          yaml.string() + " imgsz=128 device=cpu epochs=5 batch=8 nbs=8 warmup_epochs=0 "
                          "close_mosaic=2 workers=0 project=" + (tmp / "runs").string() + " name=r > " +
                          (tmp / "first.log").string() + " 2>&1";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait for epoch 1's checkpoint, then kill during epoch 2.
  bool ready = false;
  for (int i = 0; i < 1200 && !ready; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    ready = fs::exists(run / "weights" / "last.pt") && lines_of(run / "results.csv").size() >= 2;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) FAIL() << "training exited before epoch 1 ended";
  }
  ASSERT_TRUE(ready);
  kill(pid, SIGKILL);
  int st;
  waitpid(pid, &st, 0);
  const size_t rows_at_kill = lines_of(run / "results.csv").size() - 1;
  ASSERT_GE(rows_at_kill, 1u);
  ASSERT_LT(rows_at_kill, 5u) << "killed too late to test a resume";

  auto r = run_cmd("cd " + tmp.path().string() + " && " + bin() + " train resume=" +
                   (run / "weights" / "last.pt").string());
  ASSERT_EQ(r.rc, 0) << r.out;
  // last.pt may lag results.csv by the epoch whose row was written just before the kill.
  EXPECT_TRUE(has(r.out, "from epoch " + std::to_string(rows_at_kill + 1)) ||
              has(r.out, "from epoch " + std::to_string(rows_at_kill)))
      << r.out;
  auto rows = lines_of(run / "results.csv");
  ASSERT_EQ(rows.size(), 6u) << "header + 5 epochs";
  EXPECT_EQ(rows[0], kHeader);
  for (int e = 1; e <= 5; ++e) EXPECT_EQ(rows[e].substr(0, rows[e].find(',')), std::to_string(e));
  EXPECT_TRUE(fs::exists(run / "weights" / "best.pt"));
  EXPECT_FALSE(fs::exists(tmp / "runs" / "r2")) << "resume continues in the same run folder";

  // A finished run cannot be resumed.
  auto again = run_cmd("cd " + tmp.path().string() + " && " + bin() + " train resume=" +
                       (run / "weights" / "last.pt").string());
  EXPECT_NE(again.rc, 0);
  EXPECT_TRUE(has(again.out, "finished")) << again.out;
}

// The users' command, shrunk for CPU (epochs=1, imgsz=128, fraction=0.25), on a copy of coc_buildings.
TEST(TrainE2E, UsersCommandOnCocBuildings) {
  YOLOCPP_REQUIRE_SHARED();
  TempDir tmp;
  const fs::path src = yolocpp::test::datasets_dir() / "coc_buildings";
  fs::create_directories(tmp / "coc");
  for (const char* part : {"data.yaml", "images", "labels"})
    fs::copy(src / part, tmp / "coc" / part, fs::copy_options::recursive);
  // model=yolo11n.pt as the users type it: the Ultralytics-format fixture stands in for the released file.
  fs::copy_file(yolocpp::test::fixtures_dir() / "yolo11n_random.pt", tmp / "yolo11n.pt");
  auto r = run_cmd("cd " + tmp.path().string() + " && " + bin() +
                   " train data=coc/data.yaml model=yolo11n.pt epochs=1 batch=16 imgsz=128 patience=20 name=aoe2_v2 "
                   "flipud=0.0 fliplr=0.5 degrees=10 scale=0.5 mosaic=1.0 mixup=0.1 hsv_h=0.015 hsv_s=0.7 hsv_v=0.4 "
                   "fraction=0.25 device=cpu");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(has(r.out, "Transferred ")) << r.out;
  EXPECT_TRUE(has(r.out, "optimizer: AdamW(lr=0.000385, momentum=0.9) with parameter groups 81 weight(decay=0.0), "
                         "88 weight(decay=0.0005), 87 bias(decay=0.0)"))
      << r.out;
  EXPECT_TRUE(has(r.out, "Results saved to runs/detect/aoe2_v2")) << r.out;
  const fs::path run = tmp / "runs" / "detect" / "aoe2_v2";
  auto args = lines_of(run / "args.yaml");
  EXPECT_TRUE(std::find(args.begin(), args.end(), "epochs: 1") != args.end());
  // The value, not its spelling: config currently canonicalises 10.0 as "1e+01" (reported to its owner).
  EXPECT_TRUE(std::any_of(args.begin(), args.end(), [](const std::string& l) {
    return l.rfind("degrees: ", 0) == 0 && std::stod(l.substr(9)) == 10.0;
  }));
  EXPECT_TRUE(std::find(args.begin(), args.end(), "save_dir: runs/detect/aoe2_v2") != args.end());
  auto rows = lines_of(run / "results.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], kHeader);
  EXPECT_TRUE(fs::exists(run / "weights" / "last.pt"));
  ASSERT_TRUE(fs::exists(run / "weights" / "best.pt"));
  auto v = run_cmd("cd " + tmp.path().string() + " && " + bin() + " val model=" + (run / "weights" / "best.pt").string() +
                   " data=coc/data.yaml imgsz=128 device=cpu");
  EXPECT_EQ(v.rc, 0) << v.out;
  EXPECT_GE(all_row_map50(v.out), 0.0) << v.out;
}

// CPU bf16 autocast (amp=True amp_dtype=bfloat16 given explicitly): one epoch on a tiny synth set. The default
// (amp=True on CPU) is fp32 exactly as amp=False; bf16 gives finite losses that differ from fp32's (autocast
// really ran) by well under 20% (it is sane).
TEST(TrainE2E, CpuBf16AutocastOneEpoch) {
  TempDir tmp;
  const fs::path yaml = make_synth(tmp / "synth", 12, 64);
  auto train = [&](const std::string& name, const std::string& extra) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = run_cmd("cd " + tmp.path().string() + " && " + bin() + " train model=yolo11n.yaml data=" +
                     yaml.string() + " imgsz=64 device=cpu epochs=1 batch=4 nbs=4 warmup_epochs=0 workers=0 "
                     "seed=1 plots=False project=" + (tmp / "runs").string() + " name=" + name + " " + extra);
    std::printf("[%s] %.1f s\n", name.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return r;
  };
  auto loss = [&](const std::string& name, int k) { return last_value(tmp / "runs" / name / "results.csv", 2 + k); };
  auto dflt = train("default", "");
  ASSERT_EQ(dflt.rc, 0) << dflt.out;
  EXPECT_TRUE(has(dflt.out, "AMP: off on cpu")) << dflt.out;
  auto fp32 = train("fp32", "amp=False");
  ASSERT_EQ(fp32.rc, 0) << fp32.out;
  EXPECT_TRUE(has(fp32.out, "AMP: off (amp=False)")) << fp32.out;
  auto bf16 = train("bf16", "amp=True amp_dtype=bf16");
  ASSERT_EQ(bf16.rc, 0) << bf16.out;
  EXPECT_TRUE(has(bf16.out, "AMP: CPU bfloat16 autocast")) << bf16.out;
  int differ = 0;
  for (int k = 0; k < 3; ++k) {
    const double a = loss("fp32", k), d = loss("default", k), b = loss("bf16", k);
    std::printf("[loss %d] fp32 %.5f default %.5f bf16 %.5f (rel %.4f)\n", k, a, d, b, std::fabs(b - a) / a);
    EXPECT_EQ(d, a) << "amp=True on CPU without amp_dtype=bfloat16 must stay fp32, loss " << k;
    ASSERT_TRUE(std::isfinite(b) && b > 0) << k;
    EXPECT_LT(std::fabs(b - a) / a, 0.2) << k;
    differ += b != a;
  }
  EXPECT_GE(differ, 1) << "bf16 autocast gave the fp32 losses to 5 decimals: did it run?";
  // Still a usable checkpoint (fp32 weights, as Ultralytics saves).
  EXPECT_TRUE(fs::exists(tmp / "runs" / "bf16" / "weights" / "best.pt"));
}

// Without cache=, training keeps the decoded images in RAM when they fit 10% of the available memory (our mosaic
// draws partners from the whole dataset, so otherwise it decodes ~4.4 images per sample); an explicit
// cache=False keeps decoding. Both give the same losses to the last digit: the cache changes no pixel.
TEST(TrainE2E, AutoRamCacheUnlessCacheFalseSameLosses) {
  TempDir tmp;
  const fs::path yaml = make_synth(tmp / "synth", 12, 64);
  auto train = [&](const std::string& name, const std::string& extra) {
    return run_cmd("cd " + tmp.path().string() + " && " + bin() + " train model=yolo11n.yaml data=" + yaml.string() +
                   " imgsz=64 device=cpu epochs=2 batch=4 nbs=4 warmup_epochs=0 workers=0 seed=3 val=False"
                   " plots=False project=" + (tmp / "runs").string() + " name=" + name + " " + extra);
  };
  auto dflt = train("auto", "");
  ASSERT_EQ(dflt.rc, 0) << dflt.out;
  EXPECT_TRUE(has(dflt.out, "Keeping decoded images in RAM")) << dflt.out;
  auto off = train("off", "cache=False");
  ASSERT_EQ(off.rc, 0) << off.out;
  EXPECT_FALSE(has(off.out, "Keeping decoded images in RAM")) << off.out;
  EXPECT_FALSE(has(off.out, "Caching images")) << off.out;
  for (int k = 0; k < 3; ++k)
    EXPECT_EQ(last_value(tmp / "runs" / "auto" / "results.csv", 2 + k),
              last_value(tmp / "runs" / "off" / "results.csv", 2 + k)) << "train loss " << k;
}

// plots=True (the default) leaves train_batch0-2.jpg, results.png and both confusion matrices in the run
// folder, each a complete image file (this test links no OpenCV: JPEG start/end markers, PNG signature, IHDR
// size and final IEND chunk); plots=False leaves none of them. 20 synthetic images (15 train, batch 4 -> 4
// batches, so a 4th train_batch would show), 1 epoch at 64 px.
TEST(TrainE2E, PlotsWrittenOnlyWhenAsked) {
  TempDir tmp;
  const fs::path yaml = make_synth(tmp / "synth", 20, 64);
  auto train = [&](const std::string& name, const std::string& extra) {
    return run_cmd("cd " + tmp.path().string() + " && " + bin() + " train model=yolo11n.yaml data=" + yaml.string() +
                   " imgsz=64 device=cpu epochs=1 batch=4 nbs=4 warmup_epochs=0 workers=0 seed=3 project=" +
                   (tmp / "runs").string() + " name=" + name + " " + extra);
  };
  auto bytes = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto be32 = [](const std::string& s, size_t at) {
    return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) |
           (uint32_t(uint8_t(s[at + 2])) << 8) | uint32_t(uint8_t(s[at + 3]));
  };
  const std::vector<std::string> files = {"train_batch0.jpg", "train_batch1.jpg", "train_batch2.jpg", "results.png",
                                          "confusion_matrix.png", "confusion_matrix_normalized.png"};
  auto on = train("on", "");
  ASSERT_EQ(on.rc, 0) << on.out;
  const fs::path dir = tmp / "runs" / "on";
  EXPECT_FALSE(has(on.out, "plots: could not write")) << on.out;
  for (const auto& f : files) {
    const std::string b = bytes(dir / f);
    ASSERT_GT(b.size(), 100u) << f;
    if (f.size() > 4 && f.substr(f.size() - 4) == ".jpg") {
      EXPECT_EQ(b.substr(0, 2), std::string("\xFF\xD8")) << f;
      EXPECT_EQ(b.substr(b.size() - 2), std::string("\xFF\xD9")) << f;
    } else {
      EXPECT_EQ(b.substr(0, 8), std::string("\x89PNG\r\n\x1A\n", 8)) << f;
      EXPECT_EQ(b.substr(12, 4), "IHDR") << f;
      EXPECT_EQ(b.substr(b.size() - 8, 4), "IEND") << f;
      if (f == "results.png") {
        EXPECT_EQ(be32(b, 16), 1800u);  // 5 charts of 360 x 2 rows of 300
        EXPECT_EQ(be32(b, 20), 600u);
      }
    }
  }
  EXPECT_FALSE(fs::exists(dir / "train_batch3.jpg"));
  auto off = train("off", "plots=False");
  ASSERT_EQ(off.rc, 0) << off.out;
  for (const auto& f : files) EXPECT_FALSE(fs::exists(tmp / "runs" / "off" / f)) << f;
  EXPECT_TRUE(fs::exists(tmp / "runs" / "off" / "results.csv"));
}

// tensorboard=True: one event file in the run folder, CRC-valid, with the version record, one scalar event per
// epoch (results.csv's columns) and the final plots as image events; without it, no event file. The records are
// decoded field by field in tests/util/test_tb_events.cpp; here the counts and tags tell the run's story.
TEST(TrainE2E, TensorboardEventsPerEpoch) {
  TempDir tmp;
  const fs::path yaml = make_synth(tmp / "synth", 12, 64);
  auto train = [&](const std::string& name, const std::string& extra) {
    return run_cmd("cd " + tmp.path().string() + " && " + bin() + " train model=yolo11n.yaml data=" + yaml.string() +
                   " imgsz=64 device=cpu epochs=2 batch=4 nbs=4 warmup_epochs=0 workers=0 seed=3 project=" +
                   (tmp / "runs").string() + " name=" + name + " " + extra);
  };
  auto r = train("tb", "tensorboard=True plots=True");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(has(r.out, "TensorBoard: start with 'tensorboard --logdir")) << r.out;
  std::vector<fs::path> events;
  for (const auto& e : fs::directory_iterator(tmp / "runs" / "tb"))
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) events.push_back(e.path());
  ASSERT_EQ(events.size(), 1u);
  const auto recs = yolocpp::util::read_event_records(events[0]);
  ASSERT_GE(recs.size(), 1u + 2u + 1u);
  EXPECT_NE(recs[0].find("brain.Event:2"), std::string::npos);
  for (int i = 1; i <= 2; ++i) {
    EXPECT_NE(recs[i].find("metrics/mAP50(B)"), std::string::npos) << i;
    EXPECT_NE(recs[i].find("lr/pg0"), std::string::npos) << i;
  }
  bool results_png = false;
  for (size_t i = 3; i < recs.size(); ++i) results_png = results_png || recs[i].find("\x89PNG") != std::string::npos;
  EXPECT_TRUE(results_png) << "results.png should be logged as an image";
  auto off = train("notb", "plots=False");
  ASSERT_EQ(off.rc, 0) << off.out;
  for (const auto& e : fs::directory_iterator(tmp / "runs" / "notb"))
    EXPECT_EQ(e.path().filename().string().find("tfevents"), std::string::npos) << e.path();
}
