// NaN/Inf guard of the trainer: a diverged epoch reloads last.pt and training goes on; a run that
// keeps diverging stops with one ConfigError; nothing non-finite is ever saved. The divergence is injected
// with the trainer's YOLOCPP_TEST_NAN_EPOCHS hook (the loss of the listed 0-based epochs is multiplied by NaN),
// which makes the recovery path deterministic instead of depending on when a real divergence happens.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>

#include "common/test_util.hpp"
#include "yolocpp/config/settings.hpp"
#include "yolocpp/data/synth.hpp"
#include "yolocpp/train/trainer.hpp"
#include "yolocpp/io/checkpoint.hpp"
#include "yolocpp/util/error.hpp"

using namespace yolocpp;
namespace fs = std::filesystem;

namespace {

struct NanEpochs {
  explicit NanEpochs(const char* v) { setenv("YOLOCPP_TEST_NAN_EPOCHS", v, 1); }
  ~NanEpochs() { unsetenv("YOLOCPP_TEST_NAN_EPOCHS"); }
};

fs::path tiny_synth(const fs::path& dir) {
  data::SynthOptions o;
  o.out = dir;
  o.images = 10;
  o.imgsz = 64;
  o.seed = 5;
  o.val_fraction = 0.2;
  return data::generate_synth(o);
}

engine::Trainer tiny_trainer(const fs::path& tmp, const fs::path& yaml, int epochs, const std::string& name) {
  auto s = config::Settings::from_args({"model=yolo11n.yaml", "data=" + yaml.string(), "epochs=" + std::to_string(epochs),
                                        "imgsz=64", "batch=4", "nbs=4", "workers=0", "device=cpu", "plots=False",
                                        "warmup_epochs=0", "close_mosaic=0", "project=" + (tmp / "runs").string(),
                                        "name=" + name});
  s.set("mode", "train");
  return engine::Trainer(s);
}

bool all_finite(const io::Checkpoint& ck) {
  for (const auto* m : {&ck.weights, &ck.ema})
    for (const auto& [k, t] : *m)
      if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>()) return false;
  return !ck.weights.empty();
}

size_t lines(const fs::path& p) {
  std::ifstream in(p);
  size_t n = 0;
  for (std::string l; std::getline(in, l);) n += !l.empty();
  return n;
}

std::string config_error_of(engine::Trainer& t) {
  try {
    t.train();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<finished>";
}

}  // namespace

TEST(NanGuard, DivergedEpochReloadsLastAndTrainingContinues) {
  test::TempDir tmp;
  const fs::path yaml = tiny_synth(tmp / "synth");
  NanEpochs hook("1");
  auto t = tiny_trainer(tmp.path(), yaml, 4, "recover");
  engine::TrainResult r = t.train();
  EXPECT_EQ(r.epochs_done, 4);
  // Epoch 2 (0-based 1) was neither logged nor saved: header + 3 rows.
  EXPECT_EQ(lines(r.save_dir / "results.csv"), 4u);
  ASSERT_TRUE(fs::exists(r.last));
  ASSERT_TRUE(fs::exists(r.best));
  EXPECT_TRUE(all_finite(io::load_checkpoint(r.last.string())));
  EXPECT_TRUE(all_finite(io::load_checkpoint(r.best.string())));
  ASSERT_TRUE(r.best_fitness.has_value());
  EXPECT_TRUE(std::isfinite(*r.best_fitness));
}

TEST(NanGuard, PersistentDivergenceStopsAfterThreeReloadsWithFiniteCheckpoints) {
  test::TempDir tmp;
  const fs::path yaml = tiny_synth(tmp / "synth");
  NanEpochs hook("1,2,3,4");
  auto t = tiny_trainer(tmp.path(), yaml, 6, "persist");
  const std::string e = config_error_of(t);
  EXPECT_NE(e.find("diverged (NaN/Inf loss) again in epoch 5 after 3 reloads"), std::string::npos) << e;
  EXPECT_NE(e.find("lower lr0"), std::string::npos) << e;
  const fs::path w = tmp / "runs" / "persist" / "weights";
  EXPECT_TRUE(all_finite(io::load_checkpoint((w / "last.pt").string())));
  EXPECT_TRUE(all_finite(io::load_checkpoint((w / "best.pt").string())));
}

TEST(NanGuard, DivergenceBeforeAnyCheckpointIsAClearError) {
  test::TempDir tmp;
  const fs::path yaml = tiny_synth(tmp / "synth");
  NanEpochs hook("0");
  auto t = tiny_trainer(tmp.path(), yaml, 2, "first");
  const std::string e = config_error_of(t);
  EXPECT_NE(e.find("diverged (NaN/Inf loss) in epoch 1, before any checkpoint was saved"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(tmp / "runs" / "first" / "weights" / "best.pt"));
}
