// `yolocpp cloud train provider=runpod` against the fake RunPod v2 API (tests/cloud/fake_runpod) and a real sshd
// on loopback as the pod. The pod's root login is emulated as the fixture's user (YOLOCPP_CLOUD_USER; sshd runs
// unprivileged), through bash; everything else follows RunPod: the SSH endpoint is the pod's public IP and the
// port mapped to 22/tcp as the API reports it (never ssh.runpod.io), and the only key sshd accepts is the one the
// client put in env PUBLIC_KEY (the fixture's authorized_keys starts empty; the fake's /start.sh adds it).
// Every test ends with 0 running pods and the API key in no output, log or file but its key files.
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "cloud/fake_runpod.hpp"
#include "cloud/job_fixture.hpp"

namespace yolocpp::test {
namespace {

class RunPodJob : public ::testing::Test {
 protected:
  void SetUp() override {
    YOLOCPP_REQUIRE_SSHD();
    if (!fs::exists(YOLOCPP_BIN)) GTEST_SKIP() << "the yolocpp binary is not built: " << YOLOCPP_BIN;
    if (run_cmd(std::string(YOLOCPP_BIN) + " train help").rc != 0) GTEST_SKIP() << "this build has no `yolocpp train`";
    sshd = std::make_unique<SshdFixture>();
    std::ofstream(sshd->dir() / "authorized_keys", std::ios::trunc).close();  // a fresh pod: no key yet
    FakeRunPod::Options o;
    o.ssh_port = sshd->port();
    o.authorized_keys = (sshd->dir() / "authorized_keys").string();
    fake = std::make_unique<FakeRunPod>(o);
    env = "cd " + sh(work.path().string()) +
          " && exec env -u RUNPOD_API_KEY -u LAMBDA_API_KEY YOLOCPP_CONFIG_DIR=" + sh((work / "config").string()) +
          " YOLOCPP_CACHE_DIR=" + sh((work / "cache").string()) + " YOLOCPP_CLOUD_USER=" + sh(sshd->user()) + " ";
    cloud::save_api_key(fake->api_key(), work / "config" / "runpod_api_key");
    auto r = run_cmd(env + YOLOCPP_BIN + " synth out=demo images=12 imgsz=64 val_fraction=0.25 seed=3");
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  void TearDown() override {
    if (!fake) return;
    EXPECT_TRUE(fake->active_pods().empty()) << fake->active_pods().size() << " pod(s) still running";
    for (const fs::path& root : {work.path(), sshd->home()})
      for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (!e.is_regular_file() || e.path().filename() == "runpod_api_key") continue;
        EXPECT_EQ(read_text(e.path()).find(fake->api_key()), std::string::npos) << "API key leaked into " << e.path();
      }
    for (const auto& b : fake->request_bodies())
      EXPECT_EQ(b.find(fake->api_key()), std::string::npos) << "API key sent in a request body: " << b;
  }
  std::string args(const std::string& name, int epochs) const {
    return "provider=runpod gpu=" + sh("NVIDIA GeForce RTX 4090") +
           " data=demo/dataset.yaml model=yolo11n.yaml epochs=" + std::to_string(epochs) +
           " imgsz=64 batch=4 workers=0 plots=False name=" + name + " api_url=" + fake->base_url() +
           " ssh_key=" + sh(sshd->client_key().string()) + " bootstrap=upload";
  }
  std::string cli(const std::string& a) const { return env + YOLOCPP_BIN + " " + a; }
  bool wait_no_active(double seconds) {
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (fake->active_pods().empty()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return fake->active_pods().empty();
  }
  void expect_no_key(const std::string& out) { EXPECT_EQ(out.find(fake->api_key()), std::string::npos) << out; }

  TempDir work;
  std::unique_ptr<SshdFixture> sshd;
  std::unique_ptr<FakeRunPod> fake;
  std::string env;
};

TEST_F(RunPodJob, TrainOnAPodBringsBackWeightsAndDeletesIt) {
  auto r = run_cmd(cli("cloud train " + args("rp", 1)));
  ASSERT_EQ(r.rc, 0) << r.out;
  expect_no_key(r.out);
  fs::path run = work / "runs/detect/rp";
  for (const char* f : {"weights/best.pt", "weights/last.pt", "results.csv", "args.yaml", "cost.json"})
    EXPECT_TRUE(fs::exists(run / f)) << f << "\n" << r.out;
  EXPECT_NE(r.out.find("1/1"), std::string::npos) << r.out;  // streamed
  // The create body: what RunPod needs and nothing it would refuse.
  auto bodies = fake->create_bodies();
  ASSERT_EQ(bodies.size(), 1u);
  const auto& b = bodies[0];
  EXPECT_EQ(b["gpu"]["id"], "NVIDIA GeForce RTX 4090");
  EXPECT_EQ(b["gpu"]["count"], 1);
  EXPECT_EQ(b["gpu"]["minCudaVersion"], "12.8");
  EXPECT_EQ(b["ports"], nlohmann::json::array({"22/tcp"}));
  EXPECT_EQ(b["image"].get<std::string>().rfind("runpod/pytorch:", 0), 0u) << b.dump();
  EXPECT_EQ(b["cloud"], "SECURE");
  EXPECT_EQ(b["dataCenterIds"], nlohmann::json::array({"EU-RO-1"}));  // the catalog's HIGH one first
  std::string pub = read_text(sshd->client_key().string() + ".pub");
  EXPECT_EQ(pub.rfind(b["env"]["PUBLIC_KEY"].get<std::string>(), 0), 0u) << b.dump();
  EXPECT_EQ(fake->count("start.sh"), 1);
  // The watchdog ran on the pod (armed over SSH: no cloud-init) and the normal end took the key away.
  std::string alog = read_text(sshd->home() / "yolocpp/autodown/autodown.log");
  EXPECT_NE(alog.find("armed for yolocpp-"), std::string::npos) << alog;
  EXPECT_FALSE(fs::exists(sshd->home() / ".config/yolocpp/runpod_api_key"));
  // Per-second billing: the ledger's total is the price times the whole seconds of the pod's life.
  auto cost = nlohmann::json::parse(read_text(run / "cost.json"));
  EXPECT_EQ(cost["billing_granularity_s"], 1) << cost.dump(2);
  EXPECT_EQ(cost["instance"]["price_cents_per_hour"], 44) << cost.dump(2);
  double life = cost["terminated_at"].get<double>() - cost["launch_requested_at"].get<double>();
  EXPECT_NEAR(cost["total_cost_usd"].get<double>(), 0.44 * std::ceil(life - 1e-9) / 3600, 1e-9) << cost.dump(2);
  EXPECT_NE(r.out.find("s billed"), std::string::npos) << r.out;
  ASSERT_EQ(fake->pods().size(), 1u);
  EXPECT_LE(fake->billed_usd(fake->pods()[0].id), cost["total_cost_usd"].get<double>() + 1e-9);
  // Nothing ever went to the SSH proxy; the pod was deleted with DELETE /v2/pods/{id}.
  EXPECT_EQ(fake->count("delete"), 1);
  auto ls = run_cmd(cli("cloud ls provider=runpod api_url=" + fake->base_url()));
  EXPECT_EQ(ls.rc, 0) << ls.out;
  EXPECT_NE(ls.out.find("runpod"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("done"), std::string::npos) << ls.out;
}

TEST_F(RunPodJob, NoCapacityIsAPlain400NextDataCenterThenARefusal) {
  fake->refuse_capacity("EU-RO-1");  // listed with stock, refused at create time
  auto r = run_cmd(cli("cloud train " + args("cap", 1)));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("trying the next data center"), std::string::npos) << r.out;
  ASSERT_EQ(fake->pods().size(), 1u);
  EXPECT_EQ(fake->pods()[0].data_center, "US-TX-3");
  EXPECT_EQ(fake->count("capacity"), 1);
  // Every data center refuses: one clear line, nothing left, nothing billed.
  fake->refuse_capacity("US-TX-3");
  auto none = run_cmd(cli("cloud train " + args("cap2", 1)));
  EXPECT_NE(none.rc, 0) << none.out;
  EXPECT_NE(none.out.find("no capacity for 1 x NVIDIA GeForce RTX 4090 in any data center tried (EU-RO-1, US-TX-3)"),
            std::string::npos)
      << none.out;
  EXPECT_EQ(fake->pods().size(), 1u);
  expect_no_key(r.out + none.out);
}

TEST_F(RunPodJob, RateLimitedCreateWaitsRetryAfterAndMakesOnePod) {
  fake->fail_429(2, "/pods", 2);
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_cmd(cli("cloud train " + args("rl", 1)));
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(fake->count("429"), 2);
  EXPECT_NE(r.out.find("rate limited; retrying in 2 s (Retry-After)"), std::string::npos) << r.out;
  EXPECT_GE(took, 4.0);  // both Retry-After waits were honoured
  EXPECT_EQ(fake->pods().size(), 1u);
  EXPECT_EQ(fake->count("create"), 1);
  expect_no_key(r.out);
}

TEST_F(RunPodJob, CreateAnswering500AfterCreatingIsAdoptedByName) {
  fake->fail_create_after_creating(1);
  auto r = run_cmd(cli("cloud train " + args("amb", 1)));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("adopted pod"), std::string::npos) << r.out;
  EXPECT_EQ(fake->count("create-500"), 1);
  EXPECT_EQ(fake->pods().size(), 1u);  // never a second pod for one job
  EXPECT_TRUE(fs::exists(work / "runs/detect/amb/weights/best.pt")) << r.out;
  expect_no_key(r.out);
}

TEST_F(RunPodJob, TerminateFailingThenHealingIsRetriedUntilConfirmed) {
  fake->fail_terminate(2);
  auto r = run_cmd(cli("cloud train " + args("tf", 1)));
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(fake->count("delete-fail"), 2);
  EXPECT_EQ(fake->count("delete"), 1);
  EXPECT_NE(r.out.find("terminated instance"), std::string::npos) << r.out;
  auto cost = nlohmann::json::parse(read_text(work / "runs/detect/tf/cost.json"));
  EXPECT_EQ(cost["final_status"], "terminated") << cost.dump(2);
  expect_no_key(r.out);
}

TEST_F(RunPodJob, KilledClientMidTrainingIsCoveredByThePodWatchdog) {
  Child c(cli("cloud train " + args("dead", 3) + " autodown=0.05"));
  ASSERT_TRUE(c.wait_for("training on")) << c.text;
  ::kill(c.pid, SIGKILL);
  c.finish();
  ASSERT_EQ(fake->active_pods().size(), 1u);
  // The key on the pod is in its 0600 file only.
  struct stat st {};
  ASSERT_EQ(::stat((sshd->home() / ".config/yolocpp/runpod_api_key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Training ends, nobody collects the results, the watchdog deletes the pod through the API.
  EXPECT_TRUE(wait_no_active(240)) << read_text(sshd->home() / "yolocpp/autodown/autodown.log");
  std::string alog = read_text(sshd->home() / "yolocpp/autodown/autodown.log");
  EXPECT_NE(alog.find("terminate accepted (HTTP 204)"), std::string::npos) << alog;
  EXPECT_TRUE(fs::exists(sshd->home() / "yolocpp/jobs/dead/exit_code"));
  bool deleted_by_pod = false;
  for (const auto& l : fake->request_lines())
    deleted_by_pod |= l.rfind("DELETE /v2/pods/", 0) == 0 && l.find(" 204") != std::string::npos;
  EXPECT_TRUE(deleted_by_pod);
  auto gc = run_cmd(cli("cloud gc provider=runpod api_url=" + fake->base_url()));
  EXPECT_EQ(gc.rc, 0) << gc.out;
  EXPECT_NE(gc.out.find("terminated 0 orphaned"), std::string::npos) << gc.out;
  expect_no_key(c.text + gc.out);
}

TEST_F(RunPodJob, GpuTypeUnknownAndBadSettingsRefusedBeforeAnyCreate) {
  auto r = run_cmd(cli("cloud train " + args("bad", 1) + " gpu=" + sh("NVIDIA GeForce GTX 9999")));
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("is not a RunPod GPU type"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("NVIDIA GeForce RTX 4090"), std::string::npos) << r.out;  // the known ones are named
  auto p = run_cmd(cli("cloud train " + args("bad", 1) + " provider=vast"));
  EXPECT_NE(p.rc, 0) << p.out;
  EXPECT_NE(p.out.find("setting 'provider' must be one of lambda, runpod"), std::string::npos) << p.out;
  EXPECT_TRUE(fake->create_bodies().empty());
  expect_no_key(r.out + p.out);
}

}  // namespace
}  // namespace yolocpp::test
