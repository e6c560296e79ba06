// The CLI front door, run as a user would: exit codes and the one-line messages.
#include <gtest/gtest.h>

#include <fstream>

#include "common/test_util.hpp"

namespace {
// The built binary (a plain name: `yolocpp` is also the namespace).
yolocpp::test::CmdResult cli(const std::string& args) { return yolocpp::test::yolocpp(args); }
bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
int count_lines(const std::string& text) { return static_cast<int>(std::count(text.begin(), text.end(), '\n')); }
}  // namespace

TEST(Cli, HelpExitsZeroAndListsModes) {
  for (const char* a : {"help", "--help", "-h"}) {
    auto r = cli(a);
    EXPECT_EQ(r.rc, 0) << a << "\n" << r.out;
    for (const char* m : {"train", "val", "predict", "export", "check", "pack", "synth", "cfg", "info", "cloud"})
      EXPECT_TRUE(has(r.out, std::string("  ") + m + " ")) << m << "\n" << r.out;
  }
}

TEST(Cli, NoArgumentsPrintsUsageAndExitsTwo) {
  auto r = cli("");
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(has(r.out, "usage: yolocpp MODE key=value")) << r.out;
}

TEST(Cli, ModeHelpNamesItsSettings) {
  auto r = cli("train help");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(has(r.out, "yolocpp train data=")) << r.out;
  EXPECT_TRUE(has(r.out, "patience")) << r.out;
  r = cli("predict help");
  EXPECT_EQ(r.rc, 0);
  EXPECT_TRUE(has(r.out, "source")) << r.out;
  r = cli("cloud help");
  EXPECT_EQ(r.rc, 0);
  EXPECT_TRUE(has(r.out, "budget")) << r.out;
  EXPECT_TRUE(has(r.out, "yolocpp cloud ls")) << r.out;
}

TEST(Cli, VersionPrintsVersion) {
  auto r = cli("version");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out.rfind("yolocpp ", 0), 0u) << r.out;
  EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(r.out[8]))) << r.out;
}

TEST(Cli, UnknownModeExitsTwoWithDidYouMean) {
  auto r = cli("trian epochs=3");
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(has(r.out, "error: unknown mode 'trian' (did you mean 'train'?)")) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  r = cli("expot");
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(has(r.out, "did you mean 'export'")) << r.out;
  r = cli("cloud lss");
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(has(r.out, "did you mean 'ls'")) << r.out;
}

TEST(Cli, CfgPrintsEffectiveSettings) {
  auto r = cli("cfg epochs=3");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(has(r.out, "\nepochs: 3\n")) << r.out;
  EXPECT_TRUE(has(r.out, "\nmode: cfg\n")) << r.out;
  EXPECT_TRUE(has(r.out, "\nbatch: 16\n")) << r.out;
  EXPECT_TRUE(has(r.out, "\nlr0: 0.01\n")) << r.out;
  EXPECT_EQ(r.out.rfind("task: detect\n", 0), 0u) << r.out;
  // The task may come first, as with Ultralytics' `yolo detect train`.
  r = cli("detect cfg imgsz=320");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(has(r.out, "\nimgsz: 320\n")) << r.out;
}

TEST(Cli, CfgFileThenCommandLine) {
  yolocpp::test::TempDir dir;
  {
    std::ofstream f(dir / "my.yaml");
    f << "epochs: 7\npatience: 5\n";
  }
  auto r = cli("cfg cfg=" + (dir / "my.yaml").string() + " patience=9");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(has(r.out, "\nepochs: 7\n")) << r.out;
  EXPECT_TRUE(has(r.out, "\npatience: 9\n")) << r.out;
}

TEST(Cli, BadSettingExitsOneNamingTheFix) {
  auto r = cli("cfg lr=1");
  EXPECT_EQ(r.rc, 1);
  EXPECT_TRUE(has(r.out, "error: unknown setting 'lr' (did you mean 'lr0'?)")) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  r = cli("cfg epochs=ten");
  EXPECT_EQ(r.rc, 1);
  EXPECT_TRUE(has(r.out, "error: setting 'epochs' must be an integer, got 'ten'")) << r.out;
  r = cli("train epochs 10");
  EXPECT_EQ(r.rc, 1);
  EXPECT_TRUE(has(r.out, "epochs=VALUE")) << r.out;
  // Settings are checked before a mode runs, so a typo never starts a long job.
  r = cli("train fliplr=2");
  EXPECT_EQ(r.rc, 1);
  EXPECT_TRUE(has(r.out, "'fliplr'")) << r.out;
}

TEST(Cli, EveryModeAnswersMissingInputsWithOneErrorLine) {
  // Every mode of the table runs its real implementation (there are no fallbacks): given inputs that do not
  // exist it fails with one `error:` line and a non-zero exit; synth and `cloud ls` need none and succeed. Runs
  // in a temporary folder so synth leaves nothing behind.
  yolocpp::test::TempDir dir;
  for (const char* m : {"train", "val", "predict", "export", "info", "check", "pack", "synth", "cloud ls"}) {
    auto r = yolocpp::test::run_cmd("cd '" + dir.path().string() + "' && " + YOLOCPP_BIN + " " + m +
                                    " data=none.yaml model=none.pt source=none.jpg images=1 out=o instance=none");
    const bool needs_input = std::string(m) != "synth" && std::string(m) != "cloud ls";
    EXPECT_EQ(r.rc != 0, needs_input) << m << "\n" << r.out;
    EXPECT_EQ(has(r.out, "error: "), needs_input) << m << "\n" << r.out;
    EXPECT_FALSE(has(r.out, "not yet available")) << m << "\n" << r.out;
    EXPECT_FALSE(has(r.out, "terminate called")) << m << "\n" << r.out;
    EXPECT_FALSE(has(r.out, "Segmentation")) << m << "\n" << r.out;
  }
}

TEST(Cli, UnsupportedTaskIsAClearError) {
  auto r = cli("segment train");
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(has(r.out, "detection only")) << r.out;
}

// Accepted-but-ignored settings say so once (never silently dropped); left at their defaults they say nothing.
TEST(Cli, IgnoredSettingsWarnOnce) {
  YOLOCPP_REQUIRE_SHARED();
  yolocpp::test::TempDir t;
  const auto fx = yolocpp::test::fixtures_dir();
  const std::string base = "predict model=" + (fx / "yolo11n_nc3_random.pt").string() + " source=" +
                           (fx / "bus.jpg").string() + " save=False project=" + t.path().string() + " name=p exist_ok=True";
  auto r = cli(base + " save_crop=True show=True augment=True visualize=True embed=[1,2]");
  ASSERT_EQ(r.rc, 0) << r.out;
  for (const char* w : {"save_crop is not supported yet; ignored", "show is not supported", "augment (test-time",
                        "visualize (feature-map images) is not supported", "embed (feature vectors) is not supported"}) {
    const auto first = r.out.find(w);
    EXPECT_NE(first, std::string::npos) << w << "\n" << r.out;
    EXPECT_EQ(r.out.find(w, first + 1), std::string::npos) << "warned twice: " << w;
  }
  r = cli(base + " save_crop=False");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_FALSE(has(r.out, "not supported")) << r.out;
  std::filesystem::copy_file(fx / "yolo11n_nc3_random.pt", t / "best.pt");
  r = cli("export model=" + (t / "best.pt").string() + " format=onnx imgsz=64 nms=True int8=True optimize=True");
  ASSERT_EQ(r.rc, 0) << r.out;
  for (const char* w : {"nms=True is not supported yet", "int8 quantization is not supported yet", "optimize is a TorchScript"})
    EXPECT_TRUE(has(r.out, w)) << w << "\n" << r.out;
}

// The examples in the help texts run: no datasets or formats yolocpp does not have.
TEST(Cli, HelpExamplesNameOnlyWhatExists) {
  YOLOCPP_REQUIRE_SHARED();
  std::string all = cli("help").out;
  for (const char* m : {"train", "val", "predict", "export", "check"}) all += cli(std::string(m) + " help").out;
  EXPECT_FALSE(has(all, "coco8")) << all;
  EXPECT_FALSE(has(all, "torchscript")) << all;
  yolocpp::test::TempDir t;
  const std::string in = "cd " + t.path().string() + " && " + YOLOCPP_BIN + " ";
  ASSERT_EQ(yolocpp::test::run_cmd(in + "synth out=demo images=8 imgsz=160").rc, 0);
  auto r = yolocpp::test::run_cmd(in + "check data=demo/dataset.yaml");
  EXPECT_EQ(r.rc, 0) << r.out;
  std::filesystem::copy_file(yolocpp::test::fixtures_dir() / "yolo11n_nc3_random.pt", t / "best.pt");
  r = yolocpp::test::run_cmd(in + "export model=best.pt format=onnx imgsz=[480,640] dynamic=True");
  EXPECT_EQ(r.rc, 0) << r.out;
}
