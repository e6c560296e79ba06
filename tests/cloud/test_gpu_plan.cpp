// Many GPUs (issue 7): which device= cloud train adds for a multi-GPU machine, the checks that refuse a job
// before anything is launched, and the estimate's DDP scaling. Pure functions: no server, no sshd.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "yolocpp/cloud/estimate.hpp"
#include "yolocpp/cloud/job.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::test {
namespace {

using cloud::GpuPlan;
using cloud::plan_gpus;

config::Settings args(const std::vector<std::string>& a) { return config::Settings::from_args(a); }

// The ConfigError message of plan_gpus (fails the test when none is thrown).
std::string config_error(const config::Settings& s, int gpus, const std::string& machine) {
  try {
    plan_gpus(s, gpus, machine);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError for " << gpus << " GPUs";
  return "";
}

TEST(GpuPlan, AllGpusOfAMultiGpuTypeWhenDeviceUnset) {
  GpuPlan p = plan_gpus(args({"batch=128"}), 8, "gpu_8x_a100");
  EXPECT_EQ(p.device, "0,1,2,3,4,5,6,7");
  EXPECT_EQ(p.used, 8);
  EXPECT_EQ(p.message, "training on 8 GPUs of gpu_8x_a100 with DDP: device=0,...,7, global batch 128 = 16 per GPU");
  EXPECT_TRUE(p.warnings.empty());

  GpuPlan two = plan_gpus(args({"batch=32"}), 2, "gpu_2x_h100_sxm5");
  EXPECT_EQ(two.device, "0,1");
  EXPECT_EQ(two.used, 2);
}

TEST(GpuPlan, SingleGpuTypesAndUnknownHostsUnchanged) {
  for (int gpus : {-1, 0, 1}) {
    GpuPlan p = plan_gpus(args({"batch=-1"}), gpus, "m");  // AutoBatch is fine on one GPU
    EXPECT_EQ(p.device, "") << gpus;
    EXPECT_EQ(p.used, 1) << gpus;
    EXPECT_EQ(p.message, "") << gpus;
  }
}

TEST(GpuPlan, DefaultBatchIsSplitWithAWarning) {
  GpuPlan p = plan_gpus(args({}), 8, "gpu_8x_a100");  // batch defaults to 16 (global): 2 per GPU
  EXPECT_EQ(p.device, "0,1,2,3,4,5,6,7");
  EXPECT_NE(p.message.find("global batch 16 = 2 per GPU"), std::string::npos) << p.message;
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_NE(p.warnings[0].find("waste the GPUs"), std::string::npos) << p.warnings[0];
  EXPECT_NE(p.warnings[0].find("batch=128"), std::string::npos) << p.warnings[0];
  // 8 per GPU is enough: no warning.
  EXPECT_TRUE(plan_gpus(args({"batch=64"}), 8, "gpu_8x_a100").warnings.empty());
}

TEST(GpuPlan, BatchSmallerThanGpusOrAutoBatchRefused) {
  std::string m = config_error(args({"batch=4"}), 8, "gpu_8x_a100");
  EXPECT_NE(m.find("batch=4"), std::string::npos) << m;
  EXPECT_NE(m.find("batch=128"), std::string::npos) << m;
  EXPECT_NE(m.find("device=0"), std::string::npos) << m;
  for (const char* b : {"batch=-1", "batch=0.7"}) {
    m = config_error(args({b}), 8, "gpu_8x_a100");
    EXPECT_NE(m.find("AutoBatch"), std::string::npos) << m;
    EXPECT_NE(m.find("batch=128"), std::string::npos) << m;
  }
  // batch == GPUs is the smallest split: accepted (warned).
  EXPECT_EQ(plan_gpus(args({"batch=8"}), 8, "gpu_8x_a100").used, 8);
}

TEST(GpuPlan, UserDeviceRespectedAndValidated) {
  GpuPlan one = plan_gpus(args({"device=0", "batch=4"}), 8, "gpu_8x_a100");
  EXPECT_EQ(one.device, "");  // the user's device=0 is forwarded as given, nothing added
  EXPECT_EQ(one.used, 1);
  ASSERT_EQ(one.warnings.size(), 1u);
  EXPECT_NE(one.warnings[0].find("1 of the 8 GPUs"), std::string::npos) << one.warnings[0];

  GpuPlan two = plan_gpus(args({"device=0,1", "batch=32"}), 8, "gpu_8x_a100");
  EXPECT_EQ(two.device, "");
  EXPECT_EQ(two.used, 2);
  EXPECT_NE(two.message.find("2 of the 8 GPUs"), std::string::npos) << two.message;

  std::string m = config_error(args({"device=9"}), 8, "gpu_8x_a100");
  EXPECT_NE(m.find("device=9"), std::string::npos) << m;
  EXPECT_NE(m.find("8 GPUs (0..7)"), std::string::npos) << m;
  m = config_error(args({"device=0,1", "batch=1"}), 8, "gpu_8x_a100");
  EXPECT_NE(m.find("batch=1 "), std::string::npos) << m;
  m = config_error(args({"device=0,x"}), 8, "gpu_8x_a100");
  EXPECT_NE(m.find("'x' is not a CUDA device index"), std::string::npos) << m;
  m = config_error(args({"device=1,1"}), 8, "gpu_8x_a100");
  EXPECT_NE(m.find("twice"), std::string::npos) << m;
  m = config_error(args({"device=0"}), 0, "cpu_4x_general");
  EXPECT_NE(m.find("has no GPU"), std::string::npos) << m;
  // Unknown GPU count (host= without nvidia-smi): any index is accepted, the batch is still checked.
  EXPECT_EQ(plan_gpus(args({"device=5"}), -1, "u@h:22").used, 1);
  EXPECT_EQ(plan_gpus(args({"device=cuda:0,cuda:3", "batch=16"}), -1, "u@h:22").used, 2);
}

TEST(GpuPlan, CountsNvidiaSmiGpus) {
  EXPECT_EQ(cloud::count_nvidia_smi_gpus(""), 0);
  EXPECT_EQ(cloud::count_nvidia_smi_gpus("GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-1a)\n"), 1);
  EXPECT_EQ(cloud::count_nvidia_smi_gpus("GPU 0: NVIDIA H100 (UUID: GPU-1)\nGPU 1: NVIDIA H100 (UUID: GPU-2)\n"
                                         "  MIG 1g.10gb     Device  0: (UUID: MIG-3)\nGPU 2: NVIDIA H100 (UUID: GPU-4)"),
            3);
  EXPECT_EQ(cloud::count_nvidia_smi_gpus("No devices were found\n"), 0);
}

cloud::EstimateInput job(const std::string& type, int gpus, int used) {
  cloud::EstimateInput in;
  in.gpu_type = type;
  in.gpus = gpus;
  in.used_gpus = used;
  in.price_cents_per_hour = gpus == 8 ? 1592 : 199;
  in.epochs = 150;
  in.train_images = 7200;
  in.bootstrap = "upload";
  return in;
}

TEST(GpuPlanEstimate, EightGpusTrainAboutEightTimesPointEightFiveFaster) {
  EXPECT_DOUBLE_EQ(cloud::ddp_efficiency(1), 1.0);
  EXPECT_DOUBLE_EQ(cloud::ddp_efficiency(2), 0.9);
  EXPECT_DOUBLE_EQ(cloud::ddp_efficiency(4), 0.9);
  EXPECT_DOUBLE_EQ(cloud::ddp_efficiency(8), 0.85);
  cloud::Estimate e1 = cloud::estimate(job("gpu_1x_a100_sxm4", 1, 1));
  cloud::Estimate e8 = cloud::estimate(job("gpu_8x_a100", 8, 8));
  ASSERT_EQ(e1.phases[4].name, "train");
  ASSERT_EQ(e8.phases[4].name, "train");
  EXPECT_DOUBLE_EQ(e8.images_per_s, 300 * 8 * 0.85);
  // Same per-GPU rate (both SXM4 A100): the epochs run 8 x 0.85 = 6.8 times faster; +20 s start on both.
  EXPECT_NEAR((e1.phases[4].seconds - 20) / (e8.phases[4].seconds - 20), 8 * 0.85, 1e-9);
  double ratio = e1.phases[4].seconds / e8.phases[4].seconds;
  EXPECT_GT(ratio, 6.5);
  EXPECT_LT(ratio, 6.8);
  EXPECT_GT(e8.phases[1].seconds, e1.phases[1].seconds);  // the 8-GPU node boots longer
  // The whole instance bills: the 8x train phase costs 15.92/1.99/6.8 ~ 1.18x the 1x one, not 1/6.8 of it.
  EXPECT_NEAR(e8.phases[4].cost_usd / e1.phases[4].cost_usd, 1592.0 / 199 * (e8.phases[4].seconds / e1.phases[4].seconds), 1e-9);
  EXPECT_NE(e8.table().find("on 8 GPUs with DDP"), std::string::npos) << e8.table();
  EXPECT_EQ(e1.table().find("DDP"), std::string::npos) << e1.table();

  // device=0 on the 8x node: one GPU's speed at the 8x price.
  cloud::Estimate e8one = cloud::estimate(job("gpu_8x_a100", 8, 1));
  EXPECT_DOUBLE_EQ(e8one.phases[4].seconds, e1.phases[4].seconds);
}

TEST(GpuPlanEstimate, ValidationDoesNotScale) {
  cloud::EstimateInput a = job("gpu_8x_a100", 8, 8), b = a;
  b.val_images = 1000;
  double extra = cloud::estimate(b).phases[4].seconds - cloud::estimate(a).phases[4].seconds;
  EXPECT_NEAR(extra, 150 * 1000 / (2 * 300.0), 1e-6);  // rank 0 validates alone, at the one-GPU rate
}

}  // namespace
}  // namespace yolocpp::test
