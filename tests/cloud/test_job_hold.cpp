// Cloud jobs that hold on a real instance: the client is killed, loses its terminal, has its output piped into
// `head`, gets Ctrl-C with `| tee`; the budget runs out mid-training; the launch answer is odd or late; the
// terminate keeps failing; sshd restarts mid-training. Each test ends (TearDown) with no instance running on
// the fake and the API key in no file but the key files.
#include "cloud/job_fixture.hpp"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

namespace yolocpp::test {
namespace {


// Remote processes of a job still alive (by the job folder in their command line).
int remote_processes(const SshdFixture& sshd, const std::string& job) {
  const std::string mark = (sshd.home() / "yolocpp/jobs" / job).string();
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), {});
    for (char& ch : cmd)
      if (ch == '\0') ch = ' ';
    if (cmd.find(mark) != std::string::npos && cmd.find("train") != std::string::npos) ++n;
  }
  return n;
}

TEST_F(CloudJob, WatchdogArmedAtBootAndKeyRemovedAtTheEnd) {
  auto r = run_cmd(cli("cloud train " + cloud_args("wd", 1)));
  ASSERT_EQ(r.rc, 0) << r.out;
  // user_data ran at "boot" and armed the watchdog before SSH was used ...
  EXPECT_EQ(fake->count("user_data"), 1);
  std::string log = read_text(sshd->home() / "yolocpp/autodown/autodown.log");
  EXPECT_NE(log.find("armed for yolocpp-"), std::string::npos) << log;
  // ... and the normal teardown took the key off the instance and stopped it.
  EXPECT_FALSE(fs::exists(sshd->home() / ".config/yolocpp/lambda_api_key"));
  int pid = std::atoi(read_text(sshd->home() / "yolocpp/autodown/pid").c_str());
  bool gone = pid <= 0;
  for (int i = 0; i < 50 && !gone; ++i) {
    gone = ::kill(pid, 0) != 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(gone) << "watchdog pid " << pid << " still running\n" << log;
  // The key reached the instance only inside user_data and the 0600 key file: never a command line or log.
  const auto insts = fake->instances();
  ASSERT_EQ(insts.size(), 1u);
  EXPECT_NE(insts[0].user_data.find(fake->api_key()), std::string::npos);
  EXPECT_EQ(r.out.find(fake->api_key()), std::string::npos);
  // Every second of the instance's life is in the cost table, and cost.json says so.
  auto cost = nlohmann::json::parse(read_text(work / "runs/detect/wd/cost.json"));
  double phases = 0;
  for (const auto& p : cost["phases"])
    if (p["billed"].get<bool>()) phases += p["seconds"].get<double>();
  double life = cost["terminated_at"].get<double>() - cost["launch_requested_at"].get<double>();
  EXPECT_NEAR(phases, life, 1.0) << cost.dump(2);
  EXPECT_NE(r.out.find("boot"), std::string::npos) << r.out;
}

TEST_F(CloudJob, KilledClientIsCoveredByTheInstanceWatchdog) {
  Child c(cli("cloud train " + cloud_args("dead", 3) + " autodown=0.05"));
  ASSERT_TRUE(c.wait_for("training on")) << c.text;
  ::kill(c.pid, SIGKILL);  // no teardown at all: laptop closed
  c.finish();
  ASSERT_EQ(fake->active_instances().size(), 1u);
  // The remote training runs to its end, then the watchdog notices nobody collected the results and
  // terminates the instance through the API (idle 3 s here; 30 min by default).
  EXPECT_TRUE(wait_no_active(240)) << read_text(sshd->home() / "yolocpp/autodown/autodown.log");
  std::string log = read_text(sshd->home() / "yolocpp/autodown/autodown.log");
  EXPECT_NE(log.find("terminating instance"), std::string::npos) << log;
  EXPECT_NE(log.find("autodown"), std::string::npos) << log;
  EXPECT_TRUE(fs::exists(sshd->home() / "yolocpp/jobs/dead/exit_code"));  // training had ended first
  // `cloud ls` now reports the job's instance as gone.
  auto ls = run_cmd(cli("cloud ls api_url=" + fake->base_url()));
  EXPECT_EQ(ls.rc, 0) << ls.out;
}

TEST_F(CloudJob, BudgetReachedMidTrainingBringsBothWeightsBack) {
  // $1.00 per minute, budget $2.50: Lambda bills started minutes, so the job must be terminated before its
  // third minute begins; with 90 s of headroom for stop/download/terminate it stops after ~30 s.
  fake->add_type("gpu_1x_testbudget", 6000, 1, {"us-west-2"});
  fs::copy_file(fs::path(YOLOCPP_SOURCE_DIR) / "cfg/models/yolo11.yaml", work / "net.yaml");  // no estimate
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_cmd(cli("cloud train " + cloud_args("bud", 400) +
                       " model=net.yaml gpu=gpu_1x_testbudget budget=2.5"));
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.rc, 3) << r.out;
  EXPECT_NE(r.out.find("budget=2.50 USD would be passed within 90 s"), std::string::npos) << r.out;
  fs::path run = work / "runs/detect/bud";
  EXPECT_TRUE(exists_nonempty(run / "weights/best.pt")) << r.out;
  EXPECT_TRUE(exists_nonempty(run / "weights/last.pt")) << r.out;
  EXPECT_TRUE(fs::exists(run / "cost.json"));
  ASSERT_EQ(fake->instances().size(), 1u);
  double billed = fake->billed_usd(fake->instances()[0].id);
  EXPECT_LE(billed, 2.5 + 1.0) << "billed " << billed;  // within budget + one billed minute
  EXPECT_GT(took, 20.0);  // it did train for a while
  EXPECT_EQ(remote_processes(*sshd, "bud"), 0);
  // best.pt is a checkpoint yolocpp reads.
  auto v = run_cmd(cli("val model=runs/detect/bud/weights/best.pt data=demo/dataset.yaml imgsz=64 batch=4 workers=0 plots=False"));
  EXPECT_EQ(v.rc, 0) << v.out;
}

TEST_F(CloudJob, TerminalClosedSighupDetachesAndFinishes) {
  Child c(cli("cloud train " + cloud_args("hup", 2)));
  ASSERT_TRUE(c.wait_for("training on")) << c.text;
  ::kill(c.pid, SIGHUP);
  int rc = c.finish();
  EXPECT_EQ(rc, 0) << c.text;
  EXPECT_TRUE(exists_nonempty(work / "runs/detect/hup/weights/best.pt")) << c.text;
  EXPECT_TRUE(fake->active_instances().empty());
}

TEST_F(CloudJob, OutputPipedIntoHeadStillFinishes) {
  auto r = run_cmd("bash -c " + sh("set -o pipefail; " + cli("cloud train " + cloud_args("head", 2)) +
                                   " | head -3 > " + sh((work / "head.txt").string()) + "; echo rc=$?"));
  EXPECT_NE(r.out.find("rc=0"), std::string::npos) << r.out;
  EXPECT_TRUE(exists_nonempty(work / "runs/detect/head/weights/best.pt")) << r.out;
  EXPECT_TRUE(exists_nonempty(work / "runs/detect/head/cost.json"));
  EXPECT_TRUE(fake->active_instances().empty());
}

TEST_F(CloudJob, CtrlCToThePipelineWithTeeTerminates) {
  // The terminal's Ctrl-C goes to the whole foreground process group: yolocpp and tee. tee dies first, so
  // yolocpp's "stopping" lines hit a closed pipe: it must still tear down.
  fs::path out = work / "tee.out";
  std::string cmd = "exec setsid bash -c " + sh(cli("cloud train " + cloud_args("tee", 50)) + " 2>&1 | tee " +
                                                    sh(out.string()) + "; echo \"rc=${PIPESTATUS[0]}\" > " +
                                                    sh((work / "rc").string()));
  Child c(cmd);
  ASSERT_TRUE(c.wait_for("training on")) << c.text;
  ::kill(-c.pid, SIGINT);  // the process group, as the terminal does
  c.finish();
  std::string rc = read_text(work / "rc");
  EXPECT_EQ(rc, "rc=130\n") << rc << "\n" << read_text(out);
  EXPECT_TRUE(wait_no_active(5)) << read_text(out);
  EXPECT_GE(fake->count("terminate"), 1);
}

TEST_F(CloudJob, OddLaunchAnswerIsResolvedByNameExactlyOneInstance) {
  fake->odd_launch_answers(1, R"({"data": {"instance_ids": [12345]}})");  // a number where a string belongs
  auto r = run_cmd(cli("cloud train " + cloud_args("odd", 1)));
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(fake->instances().size(), 1u);
  EXPECT_NE(r.out.find("adopted instance"), std::string::npos) << r.out;
  EXPECT_TRUE(exists_nonempty(work / "runs/detect/odd/weights/best.pt")) << r.out;
}

TEST_F(CloudJob, BadSettingsRefusedBeforeAnyLaunch) {
  struct Case { std::string extra, expect; };
  for (const Case& c : {Case{"name=../x", "not a valid job name"}, Case{"name=a/b", "contains '/'"},
                        Case{"export=tflite", "export=tflite is not supported"},
                        Case{"autodown=soon", "autodown=soon is not valid"},
                        Case{"api_url=http://192.0.2.1/api/v1", "plain http is allowed only to this machine"}}) {
    auto r = run_cmd(cli("cloud train " + cloud_args("ok", 1) + " " + c.extra));
    EXPECT_NE(r.rc, 0) << c.extra << "\n" << r.out;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.extra << "\n" << r.out;
  }
  // api_url cannot come from a cfg= file (a shared file must not redirect the key).
  std::ofstream(work / "evil.yaml") << "epochs: 1\napi_url: https://collector.example/api/v1\n";
  auto r = run_cmd(cli("cloud train " + cloud_args("ok", 1) + " cfg=evil.yaml"));
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("api_url cannot be set from a cfg file"), std::string::npos) << r.out;
  EXPECT_EQ(fake->launch_posts(), 0);
  EXPECT_TRUE(fake->instances().empty());
  EXPECT_FALSE(fs::exists(work / "x"));
}

TEST_F(CloudJob, HostNameEscapeRefusedAndNothingDeleted) {
  fs::create_directories(sshd->home() / "victim");
  std::ofstream(sshd->home() / "victim" / "precious.txt") << "keep me";
  auto r = run_cmd(cli("cloud train " + cloud_args("x", 1) + " host=" + sshd->host_spec() + " name=../../victim"));
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_TRUE(fs::exists(sshd->home() / "victim" / "precious.txt"));
}

TEST_F(CloudJob, CorruptDatasetRefusedBeforeLaunch) {
  // Every label of the train split broken: the trainer would have nothing to train on.
  for (const auto& e : fs::directory_iterator(work / "demo/labels/train")) std::ofstream(e.path()) << "0 0.5 0.5\n";
  auto r = run_cmd(cli("cloud train " + cloud_args("bad", 1)));
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("has no usable image"), std::string::npos) << r.out;
  EXPECT_EQ(fake->launch_posts(), 0);
}

TEST_F(CloudJob, HostModeCtrlCStopsTheRemoteTrainer) {
  Child c(cli("cloud train " + cloud_args("hstop", 200) + " host=" + sshd->host_spec()));
  ASSERT_TRUE(c.wait_for("training on")) << c.text;
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ASSERT_GE(remote_processes(*sshd, "hstop"), 1) << c.text;
  ::kill(c.pid, SIGINT);
  int rc = c.finish();
  EXPECT_EQ(rc, 130) << c.text;
  EXPECT_NE(c.text.find("stopped the remote trainer"), std::string::npos) << c.text;
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(remote_processes(*sshd, "hstop"), 0);
}

TEST_F(CloudJob, SshdRestartMidTrainingReconnectsAndFinishes) {
  Child c(cli("cloud train " + cloud_args("rst", 6)));
  ASSERT_TRUE(c.wait_for("training on")) << c.text;
  ASSERT_TRUE(c.wait_for("1/6")) << c.text;
  sshd->stop();  // drops the live session; the detached trainer keeps going
  std::this_thread::sleep_for(std::chrono::seconds(8));
  sshd->start();
  int rc = c.finish();
  EXPECT_EQ(rc, 0) << c.text;
  EXPECT_NE(c.text.find("reconnected"), std::string::npos) << c.text;
  EXPECT_NE(c.text.find("6/6"), std::string::npos) << c.text;
  EXPECT_TRUE(exists_nonempty(work / "runs/detect/rst/weights/best.pt")) << c.text;
  EXPECT_EQ(fake->count("launch"), 1);
}

TEST_F(CloudJob, TerminateFailingForeverThenGcFinishesIt) {
  fake->fail_terminate(100000);
  ::setenv("YOLOCPP_CLOUD_TERMINATE_TIMEOUT", "4", 1);  // the child inherits it (300 s by default)
  auto r = run_cmd(cli("cloud train " + cloud_args("tf", 1)));
  ::unsetenv("YOLOCPP_CLOUD_TERMINATE_TIMEOUT");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("yolocpp cloud gc"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(work / "runs/detect/tf/cost.json")) << r.out;
  EXPECT_TRUE(exists_nonempty(work / "runs/detect/tf/weights/best.pt")) << r.out;
  ASSERT_EQ(fake->active_instances().size(), 1u);
  auto ls = run_cmd(cli("cloud ls api_url=" + fake->base_url()));
  EXPECT_NE(ls.out.find("terminate was never confirmed"), std::string::npos) << ls.out;
  fake->fail_terminate(0);  // Lambda healed
  auto gc = run_cmd(cli("cloud gc api_url=" + fake->base_url()));
  EXPECT_EQ(gc.rc, 0) << gc.out;
  EXPECT_NE(gc.out.find("terminated 1 orphaned"), std::string::npos) << gc.out;
  EXPECT_TRUE(fake->active_instances().empty());
  auto cost = nlohmann::json::parse(read_text(work / "runs/detect/tf/cost.json"));
  EXPECT_EQ(cost["final_status"], "terminated by gc/down") << cost.dump(2);
}

TEST_F(CloudJob, FailedDownloadKeepsTheInstanceUntilAttachFetchesTheResults) {
  std::ofstream(sshd->home() / "NO_SFTP") << "";  // downloads fail; everything else works
  auto r = run_cmd(cli("cloud train " + cloud_args("dl", 1)));
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("KEPT and BILLING"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("yolocpp cloud attach name=dl"), std::string::npos) << r.out;
  ASSERT_EQ(fake->active_instances().size(), 1u);  // the only copy of the results is not destroyed
  EXPECT_TRUE(fs::exists(sshd->home() / "yolocpp/jobs/dl/runs/dl/weights/best.pt"));
  auto ls = run_cmd(cli("cloud ls api_url=" + fake->base_url()));
  EXPECT_NE(ls.out.find("download-failed"), std::string::npos) << ls.out;
  EXPECT_EQ(ls.out.find("<- orphan"), std::string::npos) << ls.out;  // gc leaves it to the user
  fs::remove(sshd->home() / "NO_SFTP");
  auto a = run_cmd(cli("cloud attach name=dl api_url=" + fake->base_url()));
  EXPECT_EQ(a.rc, 0) << a.out;
  EXPECT_TRUE(exists_nonempty(work / "runs/detect/dl/weights/best.pt")) << a.out;
  EXPECT_TRUE(fake->active_instances().empty());
}

TEST_F(CloudJob, HintsAreCommandsThatRun) {
  // `cloud down NAME` as printed in hints works, as does name= and instance=.
  auto none = run_cmd(cli("cloud down nosuchjob api_url=" + fake->base_url()));
  EXPECT_NE(none.rc, 0);
  EXPECT_NE(none.out.find("no job, run name"), std::string::npos) << none.out;
  EXPECT_EQ(none.out.find("is not a key=value"), std::string::npos) << none.out;
}

}  // namespace
}  // namespace yolocpp::test
