// Settings: Ultralytics defaults, override order, validation messages, yaml round trip.
#include <gtest/gtest.h>

#include <fstream>

#include "common/test_util.hpp"
#include "yolocpp/config/settings.hpp"
#include "yolocpp/util/error.hpp"

using yolocpp::ConfigError;
using yolocpp::config::Settings;
using yolocpp::test::TempDir;

namespace {

// The ConfigError message of `f`, or "" when it does not throw.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string args_error(std::vector<std::string> tokens) {
  return error_of([&] { Settings::from_args(tokens); });
}

void write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
}

}  // namespace

TEST(Settings, DefaultsMatchUltralyticsBooleans) {
  auto s = Settings::defaults();
  EXPECT_TRUE(s.boolean("save"));
  EXPECT_FALSE(s.boolean("cache"));
  EXPECT_FALSE(s.boolean("exist_ok"));
  EXPECT_TRUE(s.boolean("pretrained"));
  EXPECT_TRUE(s.boolean("verbose"));
  EXPECT_TRUE(s.boolean("deterministic"));
  EXPECT_FALSE(s.boolean("single_cls"));
  EXPECT_FALSE(s.boolean("rect"));
  EXPECT_FALSE(s.boolean("cos_lr"));
  EXPECT_FALSE(s.boolean("resume"));
  EXPECT_TRUE(s.boolean("amp"));
  EXPECT_FALSE(s.boolean("multi_scale"));
  EXPECT_TRUE(s.boolean("val"));
  EXPECT_FALSE(s.boolean("half"));
  EXPECT_TRUE(s.boolean("plots"));
  EXPECT_TRUE(s.boolean("simplify"));
  EXPECT_FALSE(s.boolean("nms"));
  EXPECT_TRUE(s.boolean("show_labels"));
  EXPECT_FALSE(s.boolean("keep"));
}

TEST(Settings, DefaultsMatchUltralyticsIntegers) {
  auto s = Settings::defaults();
  EXPECT_EQ(s.integer("epochs"), 100);
  EXPECT_EQ(s.integer("patience"), 100);
  EXPECT_EQ(s.integer("batch"), 16);
  EXPECT_EQ(s.integer("imgsz"), 640);
  EXPECT_EQ(s.int_list("imgsz"), std::vector<int64_t>({640}));
  EXPECT_EQ(s.integer("save_period"), -1);
  EXPECT_EQ(s.integer("workers"), 8);
  EXPECT_EQ(s.integer("seed"), 0);
  EXPECT_EQ(s.integer("close_mosaic"), 10);
  EXPECT_EQ(s.integer("max_det"), 300);
  EXPECT_EQ(s.integer("vid_stride"), 1);
  EXPECT_EQ(s.integer("nbs"), 64);
  EXPECT_EQ(s.integer("images"), 200);
  EXPECT_EQ(s.integer("ssh_port"), 22);
}

TEST(Settings, DefaultsMatchUltralyticsFloats) {
  auto s = Settings::defaults();
  EXPECT_DOUBLE_EQ(s.number("fraction"), 1.0);
  EXPECT_DOUBLE_EQ(s.number("iou"), 0.7);
  EXPECT_DOUBLE_EQ(s.number("lr0"), 0.01);
  EXPECT_DOUBLE_EQ(s.number("lrf"), 0.01);
  EXPECT_DOUBLE_EQ(s.number("momentum"), 0.937);
  EXPECT_DOUBLE_EQ(s.number("weight_decay"), 0.0005);
  EXPECT_DOUBLE_EQ(s.number("warmup_epochs"), 3.0);
  EXPECT_DOUBLE_EQ(s.number("warmup_momentum"), 0.8);
  EXPECT_DOUBLE_EQ(s.number("warmup_bias_lr"), 0.1);
  EXPECT_DOUBLE_EQ(s.number("box"), 7.5);
  EXPECT_DOUBLE_EQ(s.number("cls"), 0.5);
  EXPECT_DOUBLE_EQ(s.number("dfl"), 1.5);
  EXPECT_DOUBLE_EQ(s.number("hsv_h"), 0.015);
  EXPECT_DOUBLE_EQ(s.number("hsv_s"), 0.7);
  EXPECT_DOUBLE_EQ(s.number("hsv_v"), 0.4);
  EXPECT_DOUBLE_EQ(s.number("translate"), 0.1);
  EXPECT_DOUBLE_EQ(s.number("scale"), 0.5);
  EXPECT_DOUBLE_EQ(s.number("fliplr"), 0.5);
  EXPECT_DOUBLE_EQ(s.number("flipud"), 0.0);
  EXPECT_DOUBLE_EQ(s.number("mosaic"), 1.0);
  EXPECT_DOUBLE_EQ(s.number("mixup"), 0.0);
  EXPECT_DOUBLE_EQ(s.number("val_fraction"), 0.2);
}

TEST(Settings, DefaultsMatchUltralyticsStringsAndNones) {
  auto s = Settings::defaults();
  EXPECT_EQ(s.str("task"), "detect");
  EXPECT_EQ(s.str("mode"), "train");
  EXPECT_EQ(s.str("optimizer"), "auto");
  EXPECT_EQ(s.str("split"), "val");
  EXPECT_EQ(s.str("format"), "torchscript");
  EXPECT_EQ(s.str("copy_paste_mode"), "flip");
  EXPECT_EQ(s.str("api_url"), "https://cloud.lambdalabs.com/api/v1");
  EXPECT_EQ(s.str("gpu"), "gpu_1x_a100_sxm4");
  EXPECT_EQ(s.str("region"), "auto");
  EXPECT_EQ(s.str("bootstrap"), "source");
  for (const char* k : {"model", "data", "time", "device", "project", "name", "freeze", "conf", "source", "classes",
                        "embed", "line_width", "opset", "workspace", "cfg", "out", "budget", "host", "ssh_key",
                        "instance", "export", "max_hours"}) {
    EXPECT_TRUE(s.is_none(k)) << k;
    EXPECT_EQ(s.str(k), "") << k;
    EXPECT_FALSE(s.was_set(k)) << k;
  }
  EXPECT_FALSE(s.is_none("epochs"));
  EXPECT_TRUE(s.int_list("classes").empty());
}

TEST(Settings, KeyOrderFollowsUltralytics) {
  auto keys = Settings::defaults().keys();
  ASSERT_GE(keys.size(), 100u);
  EXPECT_EQ(keys[0], "task");
  EXPECT_EQ(keys[1], "mode");
  EXPECT_EQ(keys[2], "model");
  EXPECT_EQ(keys[3], "data");
  EXPECT_EQ(keys[4], "epochs");
  EXPECT_EQ(keys[5], "time");
  auto pos = [&](const std::string& k) { return std::find(keys.begin(), keys.end(), k) - keys.begin(); };
  EXPECT_LT(pos("multi_scale"), pos("val"));
  EXPECT_LT(pos("plots"), pos("source"));
  EXPECT_LT(pos("nms"), pos("lr0"));
  EXPECT_LT(pos("copy_paste_mode"), pos("cfg"));
  EXPECT_LT(pos("cfg"), pos("out"));
  EXPECT_EQ(keys.back(), "autodown");
  // Segmentation/classification/pose-only keys are left out.
  for (const char* k : {"overlap_mask", "mask_ratio", "dropout", "pose", "kobj", "retina_masks", "tracker"})
    EXPECT_EQ(pos(k), static_cast<long>(keys.size())) << k;
}

TEST(Settings, CommandLineOverridesAndMarksSet) {
  auto s = Settings::from_args({"epochs=3", "lr0=0.002", "name=exp", "amp=False", "device=0,1"});
  EXPECT_EQ(s.integer("epochs"), 3);
  EXPECT_DOUBLE_EQ(s.number("lr0"), 0.002);
  EXPECT_EQ(s.str("name"), "exp");
  EXPECT_FALSE(s.boolean("amp"));
  EXPECT_EQ(s.str("device"), "0,1");
  EXPECT_TRUE(s.was_set("epochs"));
  EXPECT_FALSE(s.was_set("batch"));
  EXPECT_EQ(s.integer("batch"), 16);
}

TEST(Settings, LaterTokenWinsAndSpacedEqualsJoin) {
  auto s = Settings::from_args({"epochs=3", "epochs=5", "batch", "=", "8", "imgsz=", "320", "--seed=7"});
  EXPECT_EQ(s.integer("epochs"), 5);
  EXPECT_EQ(s.integer("batch"), 8);
  EXPECT_EQ(s.integer("imgsz"), 320);
  EXPECT_EQ(s.integer("seed"), 7);
}

TEST(Settings, OverrideOrderDefaultThenCfgFileThenCommandLine) {
  TempDir dir;
  write(dir / "my.yaml", "epochs: 7\nbatch: 4\nname: fromfile\n");
  // cfg= is applied first even when it comes last on the line, so the command line wins.
  auto s = Settings::from_args({"batch=2", "cfg=" + (dir / "my.yaml").string()});
  EXPECT_EQ(s.integer("epochs"), 7);  // from the file
  EXPECT_EQ(s.integer("batch"), 2);   // command line beats the file
  EXPECT_EQ(s.str("name"), "fromfile");
  EXPECT_EQ(s.integer("patience"), 100);  // default
  EXPECT_TRUE(s.was_set("epochs"));
  EXPECT_EQ(s.str("cfg"), (dir / "my.yaml").string());
}

TEST(Settings, DidYouMeanForTypos) {
  EXPECT_EQ(args_error({"lr=1"}), "unknown setting 'lr' (did you mean 'lr0'?)");
  EXPECT_NE(args_error({"epoch=3"}).find("did you mean 'epochs'"), std::string::npos);
  EXPECT_NE(args_error({"imsz=3"}).find("did you mean 'imgsz'"), std::string::npos);
  EXPECT_NE(args_error({"img_size=320"}).find("did you mean 'imgsz'"), std::string::npos);
  EXPECT_NE(args_error({"batch_size=8"}).find("did you mean 'batch'"), std::string::npos);
  EXPECT_NE(args_error({"pateince=5"}).find("did you mean 'patience'"), std::string::npos);
  EXPECT_NE(args_error({"weight_decy=0.1"}).find("did you mean 'weight_decay'"), std::string::npos);
  EXPECT_NE(args_error({"Epochs=3"}).find("did you mean 'epochs'"), std::string::npos);
  // Nothing close: no wrong guess, a pointer to the list instead.
  std::string far = args_error({"zzzzqqqq=1"});
  EXPECT_NE(far.find("unknown setting 'zzzzqqqq'"), std::string::npos);
  EXPECT_EQ(far.find("did you mean"), std::string::npos);
  EXPECT_NE(far.find("yolocpp cfg"), std::string::npos);
  EXPECT_EQ(Settings::suggest("momentun"), "momentum");
}

TEST(Settings, TypeErrorsNameKeyAndValue) {
  EXPECT_EQ(args_error({"epochs=ten"}), "setting 'epochs' must be an integer, got 'ten'");
  EXPECT_EQ(args_error({"epochs=10.5"}), "setting 'epochs' must be an integer, got '10.5'");
  EXPECT_NE(args_error({"lr0=fast"}).find("setting 'lr0' must be a number, got 'fast'"), std::string::npos);
  EXPECT_NE(args_error({"amp=maybe"}).find("setting 'amp' must be a boolean (True or False), got 'maybe'"),
            std::string::npos);
  EXPECT_NE(args_error({"imgsz=big"}).find("'imgsz'"), std::string::npos);
  EXPECT_NE(args_error({"optimizer=adamw"}).find("one of SGD, Adam"), std::string::npos);
  EXPECT_NE(args_error({"cache=yes"}).find("'cache'"), std::string::npos);
  EXPECT_NE(args_error({"epochs=None"}).find("'epochs'"), std::string::npos);
  EXPECT_NE(args_error({"task=segment"}).find("one of detect"), std::string::npos);
}

TEST(Settings, RangeErrorsNameKeyAndValue) {
  EXPECT_EQ(args_error({"fraction=1.5"}), "setting 'fraction' must be a number in [0, 1], got '1.5'");
  EXPECT_EQ(args_error({"epochs=-1"}), "setting 'epochs' must be an integer in [0, 1000000], got '-1'");
  for (const char* k : {"hsv_h", "hsv_s", "hsv_v", "flipud", "fliplr", "mosaic", "mixup", "bgr", "copy_paste", "iou",
                        "conf"}) {
    std::string e = args_error({std::string(k) + "=1.01"});
    EXPECT_NE(e.find("'" + std::string(k) + "'"), std::string::npos) << k;
    EXPECT_NE(e.find("[0, 1]"), std::string::npos) << k;
    EXPECT_NE(args_error({std::string(k) + "=-0.1"}), "") << k;
    EXPECT_EQ(args_error({std::string(k) + "=1"}), "") << k;
  }
  EXPECT_NE(args_error({"imgsz=0"}).find("'imgsz'"), std::string::npos);
  EXPECT_NE(args_error({"imgsz=[640,-2]"}).find("'imgsz'"), std::string::npos);
  EXPECT_NE(args_error({"imgsz=[640,480,320]"}).find("at most 2"), std::string::npos);
  EXPECT_NE(args_error({"workers=-2"}).find("'workers'"), std::string::npos);
  EXPECT_NE(args_error({"batch=0"}).find("'batch'"), std::string::npos);
  EXPECT_NE(args_error({"batch=-2"}).find("'batch'"), std::string::npos);
  EXPECT_NE(args_error({"batch=1.5"}).find("'batch'"), std::string::npos);
}

TEST(Settings, BatchAcceptsAutoBatchForms) {
  EXPECT_EQ(Settings::from_args({"batch=-1"}).integer("batch"), -1);
  EXPECT_EQ(Settings::from_args({"batch=32.0"}).integer("batch"), 32);
  EXPECT_DOUBLE_EQ(Settings::from_args({"batch=0.7"}).number("batch"), 0.7);
}

TEST(Settings, BooleanSpellings) {
  for (const char* t : {"True", "true", "1", "TRUE"}) EXPECT_TRUE(Settings::from_args({std::string("rect=") + t}).boolean("rect")) << t;
  for (const char* f : {"False", "false", "0"})
    EXPECT_FALSE(Settings::from_args({std::string("save=") + f}).boolean("save")) << f;
  // Ultralytics reads None for a boolean as False.
  EXPECT_FALSE(Settings::from_args({"save=None"}).boolean("save"));
  // cache also takes ram/disk; pretrained and resume take a path.
  auto s = Settings::from_args({"cache=disk", "pretrained=w/best.pt", "resume=True"});
  EXPECT_EQ(s.str("cache"), "disk");
  EXPECT_TRUE(s.boolean("cache"));
  EXPECT_EQ(s.str("pretrained"), "w/best.pt");
  EXPECT_TRUE(s.boolean("resume"));
  EXPECT_EQ(Settings::from_args({"cache=RAM"}).str("cache"), "ram");
}

TEST(Settings, IntegersGivenAsFloatsAndQuotedValues) {
  auto s = Settings::from_args({"epochs=10.0", "name='my run'", "lr0=1e-3", "workers=\"2\""});
  EXPECT_EQ(s.integer("epochs"), 10);
  EXPECT_EQ(s.str("name"), "my run");
  EXPECT_DOUBLE_EQ(s.number("lr0"), 0.001);
  EXPECT_EQ(s.integer("workers"), 2);
}

TEST(Settings, ImgszScalarOrList) {
  EXPECT_EQ(Settings::from_args({"imgsz=320"}).int_list("imgsz"), std::vector<int64_t>({320}));
  EXPECT_EQ(Settings::from_args({"imgsz=[640,480]"}).int_list("imgsz"), std::vector<int64_t>({640, 480}));
  EXPECT_EQ(Settings::from_args({"imgsz=640,480"}).int_list("imgsz"), std::vector<int64_t>({640, 480}));
  EXPECT_EQ(Settings::from_args({"imgsz=(320, 256)"}).int_list("imgsz"), std::vector<int64_t>({320, 256}));
  auto s = Settings::from_args({"imgsz=[640,480]"});
  EXPECT_NE(s.dump_yaml().find("\nimgsz: [640, 480]\n"), std::string::npos);
}

TEST(Settings, FreezeAndClassesIntOrList) {
  auto s = Settings::from_args({"freeze=10", "classes=[0,2,3]"});
  EXPECT_EQ(s.integer("freeze"), 10);
  EXPECT_EQ(s.int_list("freeze"), std::vector<int64_t>({10}));
  EXPECT_EQ(s.int_list("classes"), std::vector<int64_t>({0, 2, 3}));
  EXPECT_EQ(Settings::from_args({"freeze=[0,1,2]"}).int_list("freeze"), std::vector<int64_t>({0, 1, 2}));
  EXPECT_NE(args_error({"classes=[0,x]"}).find("'classes'"), std::string::npos);
}

TEST(Settings, TokensWithoutEqualsSuggestKeyValue) {
  std::string e = args_error({"epochs", "10"});
  EXPECT_NE(e.find("epochs=VALUE"), std::string::npos) << e;
  e = args_error({"rect"});
  EXPECT_NE(e.find("rect=True"), std::string::npos) << e;
  e = args_error({"hello"});
  EXPECT_NE(e.find("key=value"), std::string::npos) << e;
  EXPECT_NE(args_error({"=5"}), "");
}

TEST(Settings, UltralyticsOnlyKeyOnCommandLineIsRejected) {
  std::string e = args_error({"overlap_mask=True"});
  EXPECT_NE(e.find("'overlap_mask'"), std::string::npos);
  EXPECT_NE(e.find("does not use"), std::string::npos);
}

TEST(Settings, CfgFileUnknownKeyNamesFileAndLine) {
  TempDir dir;
  auto path = (dir / "bad.yaml").string();
  write(path, "epochs: 3\nlr: 0.1\n");
  std::string e = args_error({"cfg=" + path});
  EXPECT_NE(e.find(path + ":2"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown setting 'lr' (did you mean 'lr0'?)"), std::string::npos) << e;

  write(path, "epochs: many\n");
  e = args_error({"cfg=" + path});
  EXPECT_NE(e.find(path + ":1"), std::string::npos) << e;
  EXPECT_NE(e.find("'epochs'"), std::string::npos) << e;

  e = args_error({"cfg=" + (dir / "missing.yaml").string()});
  EXPECT_NE(e.find("missing.yaml"), std::string::npos) << e;

  write(path, "- a\n- b\n");
  e = args_error({"cfg=" + path});
  EXPECT_NE(e.find("mapping"), std::string::npos) << e;
}

TEST(Settings, UltralyticsArgsYamlLoadsAsCfg) {
  // An Ultralytics args.yaml (with save_dir and seg/pose-only keys) is a valid cfg= file.
  TempDir dir;
  auto path = (dir / "args.yaml").string();
  write(path,
        "task: detect\nmode: train\nmodel: yolo11n.pt\nepochs: 250\ntime: null\nbatch: 16\nimgsz: 640\n"
        "save: true\ncache: false\ndevice: null\noverlap_mask: true\nmask_ratio: 4\nfreeze: null\n"
        "pose: 12.0\nlabel_smoothing: 0.0\ncopy_paste_mode: flip\ntracker: botsort.yaml\n"
        "save_dir: runs/detect/train2\n");
  auto s = Settings::from_args({"cfg=" + path});
  EXPECT_EQ(s.integer("epochs"), 250);
  EXPECT_EQ(s.str("model"), "yolo11n.pt");
  EXPECT_TRUE(s.is_none("time"));
}

TEST(Settings, DumpYamlRoundTripsThroughLoadYaml) {
  auto a = Settings::from_args({"epochs=3", "imgsz=[640,480]", "name=123", "project=a: b", "conf=0.25",
                                "classes=[1,2]", "freeze=4", "rect=True", "batch=0.5", "cache=ram",
                                "pretrained=false", "lr0=1e-4", "device=cpu", "source=it's here.jpg"});
  std::string text = a.dump_yaml();
  EXPECT_EQ(text.rfind("task: detect\nmode: train\nmodel: null\ndata: null\nepochs: 3\n", 0), 0u) << text;
  EXPECT_NE(text.find("\nsave: true\n"), std::string::npos);
  EXPECT_NE(text.find("\nrect: true\n"), std::string::npos);
  EXPECT_NE(text.find("\nfraction: 1.0\n"), std::string::npos);
  EXPECT_NE(text.find("\nname: '123'\n"), std::string::npos);  // stays a text for YAML readers
  TempDir dir;
  write(dir / "args.yaml", text);
  auto b = Settings::defaults();
  b.load_yaml((dir / "args.yaml").string());
  EXPECT_EQ(b.dump_yaml(), text);
  EXPECT_EQ(b.str("project"), "a: b");
  EXPECT_EQ(b.str("name"), "123");
  EXPECT_EQ(b.str("source"), "it's here.jpg");
  EXPECT_EQ(b.int_list("imgsz"), std::vector<int64_t>({640, 480}));
  EXPECT_DOUBLE_EQ(b.number("lr0"), 1e-4);
  EXPECT_DOUBLE_EQ(b.number("batch"), 0.5);
  EXPECT_EQ(b.str("cache"), "ram");
  EXPECT_FALSE(b.boolean("pretrained"));
  EXPECT_EQ(b.keys(), a.keys());
}

TEST(Settings, LoadYamlTextMatchesLoadYamlAndNamesItsSourceInErrors) {
  // Resume reads a checkpoint's train_args from memory: the same values as through a file, and an error names
  // the checkpoint (never a temp file).
  auto a = Settings::from_args({"epochs=7", "imgsz=[320,256]", "name=run x", "lr0=0.002"});
  TempDir dir;
  write(dir / "args.yaml", a.dump_yaml());
  auto f = Settings::defaults();
  f.load_yaml((dir / "args.yaml").string());
  auto t = Settings::defaults();
  t.load_yaml_text(a.dump_yaml(), "w/last.pt train_args");
  EXPECT_EQ(t.dump_yaml(), f.dump_yaml());
  EXPECT_EQ(t.integer("epochs"), 7);
  EXPECT_EQ(t.str("name"), "run x");
  try {
    Settings::defaults().load_yaml_text("epochs: 3\nbatch: many\n", "w/last.pt train_args");
    ADD_FAILURE() << "batch=many accepted";
  } catch (const yolocpp::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("w/last.pt train_args:2: "), std::string::npos) << e.what();
  }
  try {
    Settings::defaults().load_yaml_text("epochs: [1,\n", "w/last.pt train_args");
    ADD_FAILURE() << "broken yaml accepted";
  } catch (const yolocpp::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'w/last.pt train_args' is not valid YAML"), std::string::npos) << e.what();
  }
}

TEST(Settings, EveryDefaultSurvivesItsOwnValidation) {
  // defaults() -> dump -> load: nothing in default.yaml violates its own type table.
  auto d = Settings::defaults();
  for (const auto& k : d.keys()) {
    Settings s = Settings::defaults();
    ASSERT_NO_THROW(s.set(k, d.is_none(k) ? "None" : d.str(k))) << k;
    EXPECT_EQ(s.str(k), d.str(k)) << k;
  }
}

// args.yaml must spell floats as Python's repr() does, so Ultralytics users (and tools) read the same text.
TEST(Settings, FloatsAreWrittenLikePythonRepr) {
  auto s = yolocpp::config::Settings::from_args({"degrees=10", "lr0=0.00001", "scale=0.5", "weight_decay=5e-4"});
  const std::string y = s.dump_yaml();
  EXPECT_NE(y.find("\ndegrees: 10.0\n"), std::string::npos) << y;
  EXPECT_NE(y.find("\nlr0: 1e-05\n"), std::string::npos) << y;
  EXPECT_NE(y.find("\nscale: 0.5\n"), std::string::npos) << y;
  EXPECT_NE(y.find("\nweight_decay: 0.0005\n"), std::string::npos) << y;
  EXPECT_NE(y.find("\nmomentum: 0.937\n"), std::string::npos) << y;
  EXPECT_DOUBLE_EQ(s.number("degrees"), 10.0);
}

// amp_dtype (yolocpp-only): float16 by default; float16 | bfloat16 and their short names; anything else names
// the setting and the choices.
TEST(Settings, AmpDtypeChoices) {
  auto d = Settings::defaults();
  EXPECT_EQ(d.str("amp_dtype"), "float16");
  EXPECT_FALSE(d.was_set("amp_dtype"));
  for (const char* v : {"float16", "bfloat16", "fp16", "bf16", "half"}) {
    auto s = Settings::from_args({std::string("amp_dtype=") + v});
    EXPECT_EQ(s.str("amp_dtype"), v);
    EXPECT_TRUE(s.was_set("amp_dtype"));
  }
  const std::string e = args_error({"amp_dtype=int8"});
  EXPECT_NE(e.find("'amp_dtype'"), std::string::npos) << e;
  EXPECT_NE(e.find("one of float16, bfloat16"), std::string::npos) << e;
  EXPECT_NE(e.find("'int8'"), std::string::npos) << e;
  EXPECT_TRUE(Settings::from_args({"amp=True"}).boolean("amp"));  // amp itself stays Ultralytics' bool
  EXPECT_NE(args_error({"amp=bf16"}), "");
}
