// The whole `yolocpp cloud train` against the fake Lambda API (tests/cloud/fake_lambda) and a real sshd on
// loopback, with bootstrap=upload (this build's binary) and a tiny synthetic dataset. Every test ends with the
// fake's ledger showing no instance left running, and the API key nowhere but its key file.
#include "cloud/job_fixture.hpp"

namespace yolocpp::test {
namespace {

TEST_F(CloudJob, TrainBringsBackWeightsAndTerminates) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_cmd(cli("cloud train " + cloud_args("cj", 1)));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out.find(fake->api_key()), std::string::npos);
  fs::path run = work / "runs/detect/cj";
  for (const char* f : {"weights/best.pt", "weights/last.pt", "results.csv", "args.yaml", "cost.json"})
    EXPECT_TRUE(fs::exists(run / f)) << f << "\n" << r.out;
  EXPECT_EQ(fake->count("launch"), 1);
  EXPECT_GE(fake->count("terminate"), 1);
  // The per-epoch output of the remote trainer reached the local console.
  EXPECT_NE(r.out.find("1/1"), std::string::npos) << r.out;
  auto v = run_cmd(cli("val model=runs/detect/cj/weights/best.pt data=demo/dataset.yaml imgsz=64 batch=4 workers=0 plots=False"));
  EXPECT_EQ(v.rc, 0) << v.out;
  std::ifstream cj(run / "cost.json");
  std::string cost((std::istreambuf_iterator<char>(cj)), {});
  EXPECT_NE(cost.find("gpu_1x_a100_sxm4"), std::string::npos) << cost;
  std::printf("[ info ] cloud train end to end: %.1f s\n", secs);

  // A second run with the same dataset does not upload it again.
  auto again = run_cmd(cli("cloud train " + cloud_args("cj2", 1)));
  ASSERT_EQ(again.rc, 0) << again.out;
  EXPECT_NE(again.out.find("dataset already on the remote"), std::string::npos) << again.out;
}

TEST_F(CloudJob, KilledClientThenAttachFinishes) {
  Child c(cli("cloud train " + cloud_args("att", 2)));
  ASSERT_TRUE(c.wait_for("training on")) << c.text;
  ::kill(c.pid, SIGKILL);  // no teardown at all: the instance and the remote job live on
  c.finish();
  ASSERT_EQ(fake->active_instances().size(), 1u);
  auto logs = run_cmd(cli("cloud logs name=att api_url=" + fake->base_url()));
  EXPECT_EQ(logs.rc, 0) << logs.out;
  auto r = run_cmd(cli("cloud attach name=att api_url=" + fake->base_url()));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("2/2"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(work / "runs/detect/att/weights/best.pt")) << r.out;
  EXPECT_TRUE(fake->active_instances().empty());
}

TEST_F(CloudJob, CtrlCDuringUploadTerminates) {
  Child c(cli("cloud train " + cloud_args("int", 1)));
  ASSERT_TRUE(c.wait_for("upload")) << c.text;
  ::kill(c.pid, SIGINT);
  int rc = c.finish();
  EXPECT_EQ(rc, 130) << c.text;
  EXPECT_GE(fake->count("terminate"), 1) << c.text;
  EXPECT_TRUE(fake->active_instances().empty()) << c.text;
  EXPECT_NE(c.text.find("terminated instance"), std::string::npos) << c.text;
}

TEST_F(CloudJob, HostModeNeedsNoApi) {
  auto r = run_cmd(cli("cloud train " + cloud_args("hm", 1) + " host=" + sshd->host_spec()));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(fs::exists(work / "runs/detect/hm/weights/best.pt"));
  EXPECT_EQ(fake->count("launch"), 0);
  // No nvidia-smi on this "remote" (a CPU host): the command is today's, without a device=.
  std::string run_sh = read_text(sshd->home() / "yolocpp/jobs/hm/run.sh");
  EXPECT_NE(run_sh.find("'train'"), std::string::npos) << run_sh;
  EXPECT_EQ(run_sh.find("device="), std::string::npos) << run_sh;
}

// ---- Many GPUs (issue 7) ----------------------------------------------------------------------------------
// A loopback "remote" cannot run `yolocpp train device=0,...,7` (no GPUs), so these jobs use bootstrap=none
// with a fake `yolocpp` first on the remote PATH: it records its argv (one per line in $HOME/train_argv) and
// leaves the files a finished run leaves, so the whole job - launch, upload, start, download, terminate - runs.
const char* kFakeYolocpp = R"SH(#!/bin/sh
case "$1" in
  version) echo "yolocpp 0.0.0-fake (records its argv)"; exit 0 ;;
  train) ;;
  *) echo "fake yolocpp: unexpected mode $1" >&2; exit 2 ;;
esac
printf '%s\n' "$@" > "$HOME/train_argv"
for a in "$@"; do
  case "$a" in project=*) p="${a#project=}" ;; name=*) n="${a#name=}" ;; esac
done
mkdir -p "$p/$n/weights" || exit 1
for f in best.pt last.pt; do echo fake > "$p/$n/weights/$f"; done
echo "epoch,metrics/mAP50(B)" > "$p/$n/results.csv"
echo "task: detect" > "$p/$n/args.yaml"
echo "      1/1  fake epoch"
)SH";

// "gpus" GPU lines, as `nvidia-smi -L` prints them.
std::string fake_nvidia_smi(int gpus) {
  std::string s = "#!/bin/sh\n[ \"$1\" = -L ] || exit 9\n";
  for (int i = 0; i < gpus; ++i)
    s += "echo 'GPU " + std::to_string(i) + ": NVIDIA A100-SXM4-40GB (UUID: GPU-" + std::to_string(1000 + i) + ")'\n";
  return s;
}

class CloudJobGpus : public CloudJob {
 protected:
  void SetUp() override {
    CloudJob::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    sshd->add_command("yolocpp", kFakeYolocpp);
  }
  // Later tokens win: the fake binary instead of an upload, and the 8x type (offered by the fake in us-west-1).
  std::string gpu_args(const std::string& name, const std::string& extra) const {
    return cloud_args(name, 1) + " bootstrap=none gpu=gpu_8x_a100 " + extra;
  }
  // The argv the remote `yolocpp train` got ("" when it never ran).
  std::string remote_argv() const { return read_text(sshd->home() / "train_argv"); }
};

TEST_F(CloudJobGpus, EightGpuTypeTrainsOnEveryGpu) {
  auto r = run_cmd(cli("cloud train " + gpu_args("g8", "batch=16")));
  ASSERT_EQ(r.rc, 0) << r.out;
  std::string argv = remote_argv();
  EXPECT_EQ(argv.rfind("train\n", 0), 0u) << argv;
  EXPECT_NE(argv.find("\nbatch=16\n"), std::string::npos) << argv;
  EXPECT_NE(argv.find("\ndevice=0,1,2,3,4,5,6,7\n"), std::string::npos) << argv;
  EXPECT_NE(read_text(sshd->home() / "yolocpp/jobs/g8/run.sh").find("'device=0,1,2,3,4,5,6,7'"), std::string::npos);
  EXPECT_NE(r.out.find("training on 8 GPUs of gpu_8x_a100 with DDP: device=0,...,7, global batch 16 = 2 per GPU"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("waste the GPUs"), std::string::npos) << r.out;  // 2 per GPU
  EXPECT_NE(r.out.find("on 8 GPUs with DDP"), std::string::npos) << r.out;  // the estimate table
  EXPECT_EQ(fake->count("launch"), 1);
  ASSERT_EQ(fake->instances().size(), 1u);
  EXPECT_EQ(fake->instances()[0].type, "gpu_8x_a100");
  EXPECT_TRUE(fs::exists(work / "runs/detect/g8/weights/best.pt")) << r.out;
}

TEST_F(CloudJobGpus, UserDeviceIsRespected) {
  auto r = run_cmd(cli("cloud train " + gpu_args("g1", "device=0")));  // batch=4 is fine on one GPU
  ASSERT_EQ(r.rc, 0) << r.out;
  std::string argv = remote_argv();
  EXPECT_NE(argv.find("\ndevice=0\n"), std::string::npos) << argv;
  EXPECT_EQ(argv.find("device=0,"), std::string::npos) << argv;
  EXPECT_NE(r.out.find("uses 1 of the 8 GPUs"), std::string::npos) << r.out;
  EXPECT_EQ(fake->count("launch"), 1);
}

TEST_F(CloudJobGpus, ImpossibleSplitsFailBeforeAnyLaunch) {
  struct Case { std::string extra, expect; };
  for (const Case& c : {Case{"batch=4", "batch=128"}, Case{"batch=-1", "AutoBatch"}, Case{"device=9", "(0..7)"},
                        Case{"device=0,1 batch=1", "batch=1 is smaller than the 2 GPUs"}}) {
    auto r = run_cmd(cli("cloud train " + gpu_args("bad", c.extra)));
    EXPECT_NE(r.rc, 0) << c.extra << "\n" << r.out;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.extra << "\n" << r.out;
  }
  EXPECT_EQ(fake->launch_posts(), 0);  // the fake never saw a launch request
  EXPECT_TRUE(fake->instances().empty());
  EXPECT_EQ(remote_argv(), "");
}

TEST_F(CloudJobGpus, HostModeCountsGpusWithNvidiaSmi) {
  sshd->add_command("nvidia-smi", fake_nvidia_smi(2));
  auto r = run_cmd(cli("cloud train " + cloud_args("h2", 1) + " bootstrap=none batch=16 host=" + sshd->host_spec()));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(remote_argv().find("\ndevice=0,1\n"), std::string::npos) << remote_argv();
  EXPECT_NE(r.out.find("training on 2 GPUs of"), std::string::npos) << r.out;
  EXPECT_EQ(fake->count("launch"), 0);
}

TEST_F(CloudJobGpus, HostModeRefusesBadSplitBeforeUploading) {
  sshd->add_command("nvidia-smi", fake_nvidia_smi(8));
  auto r = run_cmd(cli("cloud train " + cloud_args("h8", 1) + " bootstrap=none host=" + sshd->host_spec()));
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("batch=4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("batch=128"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(sshd->home() / "yolocpp/data")) << "the dataset was uploaded";
  EXPECT_FALSE(fs::exists(sshd->home() / "yolocpp/jobs/h8")) << "the job was started";
  EXPECT_EQ(remote_argv(), "");
}

}  // namespace
}  // namespace yolocpp::test
