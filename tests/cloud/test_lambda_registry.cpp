// The local job registry and the fleet commands built on it: launch_for_job's claim, `cloud ls` rows with
// running cost, `cloud down NAME|ID` (confirmed terminated), and `cloud gc` terminating orphans only.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cloud/fake_lambda.hpp"
#include "common/test_util.hpp"
#include "yolocpp/cloud/provider.hpp"
#include "yolocpp/cloud/registry.hpp"

using namespace yolocpp;
using namespace yolocpp::cloud;
using yolocpp::test::FakeLambda;
using yolocpp::test::TempDir;

namespace {

LambdaApi api_for(FakeLambda& fake) {
  LambdaApiOptions o;
  o.base_url = fake.base_url();
  o.api_key = fake.api_key();
  o.retry.base_delay_s = 0.02;
  o.retry.launch_interval_s = 0;
  return LambdaApi(o);
}

// A pid that certainly is not running any more.
int dead_pid() {
  pid_t p = ::fork();
  if (p == 0) ::_exit(0);
  ::waitpid(p, nullptr, 0);
  return (int)p;
}

}  // namespace

TEST(LambdaRegistry, SaveLoadListFindAtomically) {
  TempDir tmp;
  Registry reg(tmp.path() / "jobs");
  EXPECT_TRUE(reg.list().empty());
  JobRecord a;
  a.id = "20260921-100000-aaaaaa";
  a.name = "exp";
  a.state = "training";
  a.instance = InstanceRecord{"0123456789abcdef0123456789abcdef", Registry::instance_name(a.id), "us-west-2",
                              "gpu_1x_a100_sxm4", 199, 1000, 0, "active"};
  a.extra["epochs"] = 3;
  reg.save(a);
  JobRecord b;
  b.id = "20260921-110000-bbbbbb";
  b.name = "exp";  // the same run name again: find() returns the newer job
  b.state = "done";
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  reg.save(b);

  auto back = reg.load(a.id);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->state, "training");
  ASSERT_TRUE(back->instance);
  EXPECT_EQ(back->instance->price_cents_per_hour, 199);
  EXPECT_EQ(back->instance->name, "yolocpp-20260921-100000-aaaaaa");
  EXPECT_EQ(back->extra["epochs"], 3);
  EXPECT_GT(back->created_at, 0);
  EXPECT_EQ(reg.list().size(), 2u);
  EXPECT_EQ(reg.find("exp")->id, b.id);
  EXPECT_EQ(reg.find("0123456789abcdef0123456789abcdef")->id, a.id);
  EXPECT_EQ(reg.find("yolocpp-20260921-100000-aaaaaa")->id, a.id);
  EXPECT_EQ(reg.owner_of("0123456789abcdef0123456789abcdef")->id, a.id);
  EXPECT_FALSE(reg.find("nope"));
  for (const auto& e : std::filesystem::directory_iterator(reg.dir()))
    EXPECT_EQ(e.path().extension(), ".json") << e.path();  // no temporaries left
  EXPECT_THROW(reg.load("../etc/passwd"), CloudError);
  reg.remove(b.id);
  EXPECT_EQ(reg.list().size(), 1u);
}

TEST(LambdaRegistry, JobIdsAndInstanceNames) {
  std::string id = Registry::new_job_id();
  EXPECT_EQ(id.size(), 22u);  // YYYYMMDD-HHMMSS-xxxxxx
  EXPECT_NE(id, Registry::new_job_id());
  std::string name = Registry::instance_name(id);
  EXPECT_LE(name.size(), 64u);  // Lambda's name limit
  EXPECT_EQ(Registry::job_id_from_instance_name(name), id);
  EXPECT_FALSE(Registry::job_id_from_instance_name("my-notebook"));
  EXPECT_FALSE(Registry::job_id_from_instance_name("yolocpp-"));
  EXPECT_FALSE(Registry::job_id_from_instance_name("yolocpp-a/b"));
  EXPECT_TRUE(is_live_state("training"));
  EXPECT_FALSE(is_live_state("done"));
}

TEST(LambdaRegistry, LaunchForJobRecordsClaimThenInstance) {
  FakeLambda fake;
  fake.add_ssh_key("k", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRegistryKey x");
  TempDir tmp;
  Registry reg(tmp.path() / "jobs");
  LambdaApi api = api_for(fake);
  fake.refuse_capacity("us-west-2");
  JobRecord job;
  job.name = "exp";
  JobLaunch how;
  how.ssh_key_name = "k";
  LaunchResult r = launch_for_job(api, reg, job, how);
  auto saved = reg.load(job.id);
  ASSERT_TRUE(saved && saved->instance);
  EXPECT_EQ(saved->state, "starting");
  EXPECT_EQ(saved->instance->id, r.instance_id);
  EXPECT_EQ(saved->instance->region, "us-east-1");
  EXPECT_EQ(saved->instance->price_cents_per_hour, 199);
  EXPECT_EQ(saved->instance->name, "yolocpp-" + job.id);
  EXPECT_EQ(fake.instances().at(0).name, "yolocpp-" + job.id);
  EXPECT_EQ(saved->pid, (int)::getpid());

  // A failing launch leaves a "failed" record with no instance id.
  JobRecord bad;
  JobLaunch nokey = how;
  nokey.ssh_key_name = "missing";
  EXPECT_THROW(launch_for_job(api, reg, bad, nokey), ApiError);
  EXPECT_EQ(reg.load(bad.id)->state, "failed");
  EXPECT_TRUE(reg.load(bad.id)->instance->id.empty());

  EXPECT_EQ(down(api, reg, "exp", 10, 0.05), r.instance_id);
  EXPECT_EQ(reg.load(job.id)->state, "terminated");
  EXPECT_EQ(reg.load(job.id)->instance->status, "terminated");
  EXPECT_GT(reg.load(job.id)->instance->terminated_at, 0);
  EXPECT_TRUE(fake.active_instances().empty());
}

TEST(LambdaRegistry, DownByInstanceIdNameAndUnknown) {
  FakeLambda fake;
  TempDir tmp;
  Registry reg(tmp.path() / "jobs");
  LambdaApi api = api_for(fake);
  std::string a = fake.add_instance("yolocpp-20260101-000000-abcdef");
  std::string b = fake.add_instance("someone-elses-box");
  EXPECT_EQ(down(api, reg, a, 10, 0.05), a);                          // bare instance id
  EXPECT_EQ(down(api, reg, "someone-elses-box", 10, 0.05), b);        // instance name
  EXPECT_THROW(down(api, reg, "no-such-thing", 10, 0.05), CloudError);
  EXPECT_TRUE(fake.active_instances().empty());
}

TEST(LambdaRegistry, GcTerminatesOrphansOnly) {
  FakeLambda fake;
  TempDir tmp;
  Registry reg(tmp.path() / "jobs");
  LambdaApi api = api_for(fake);

  auto job_with = [&](const std::string& id, const std::string& state, const std::string& inst, int pid = 0) {
    JobRecord j;
    j.id = id;
    j.name = "run-" + id.substr(id.size() - 6);
    j.state = state;
    j.pid = pid;
    j.pid_start = process_start_token(pid);
    j.instance = InstanceRecord{inst, Registry::instance_name(id), "us-west-2", "gpu_1x_a100_sxm4", 199, 1, 0, "active"};
    reg.save(j);
  };
  std::string training_id = "20260921-100000-aaaaaa", done_id = "20260921-100000-bbbbbb",
              kept_id = "20260921-100000-cccccc", crashed_id = "20260921-100000-dddddd",
              unknown_id = "20260921-100000-eeeeee", detached_id = "20260921-100000-ffffff";
  std::string training = fake.add_instance(Registry::instance_name(training_id));
  std::string done = fake.add_instance(Registry::instance_name(done_id));
  std::string kept = fake.add_instance(Registry::instance_name(kept_id));
  std::string crashed = fake.add_instance(Registry::instance_name(crashed_id));
  std::string unknown = fake.add_instance(Registry::instance_name(unknown_id));  // registry lost it
  std::string detached = fake.add_instance(Registry::instance_name(detached_id));
  std::string foreign = fake.add_instance("jupyter-notebook");                  // not ours: never touched
  job_with(training_id, "training", training, (int)::getpid());  // its client (this process) drives it
  // Its client died mid-training (SIGKILL, laptop closed): nobody will fetch and terminate, so it is an
  // orphan now (the instance's watchdog would end it too, later).
  job_with(detached_id, "training", detached, dead_pid());
  job_with(done_id, "done", done);
  job_with(kept_id, "kept", kept);
  job_with(crashed_id, "launching", "", dead_pid());  // crashed before the launch answered: id unknown

  // ls: every instance, running cost, orphans flagged.
  auto rows = fleet(&api, reg);
  ASSERT_EQ(rows.size(), 7u);  // 5 jobs + the unknown yolocpp instance + the foreign one
  int orphans = 0;
  for (const auto& r : rows) orphans += r.orphan;
  EXPECT_EQ(orphans, 4);  // done, crashed (found by name), unknown, detached (client gone)
  std::string table = format_fleet(rows);
  EXPECT_NE(table.find("not yolocpp's"), std::string::npos) << table;
  EXPECT_NE(table.find("<- orphan"), std::string::npos) << table;
  EXPECT_NE(table.find("is gone"), std::string::npos) << table;  // says why: the client pid is gone
  EXPECT_NE(table.find("total so far: $"), std::string::npos) << table;

  auto would = gc(api, reg, /*dry_run=*/true, 0.05);
  EXPECT_EQ(would.size(), 4u);
  EXPECT_EQ(fake.count("terminate"), 0);

  auto killed = gc(api, reg, false, 0.05);
  std::sort(killed.begin(), killed.end());
  std::vector<std::string> want = {done, crashed, unknown, detached};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(killed, want);
  auto active = fake.active_instances();
  std::vector<std::string> left;
  for (const auto& i : active) left.push_back(i.id);
  std::sort(left.begin(), left.end());
  std::vector<std::string> expect_left = {training, kept, foreign};
  std::sort(expect_left.begin(), expect_left.end());
  EXPECT_EQ(left, expect_left);
  EXPECT_EQ(reg.load(crashed_id)->instance->id, crashed);  // the record learned the id
  EXPECT_EQ(reg.load(crashed_id)->instance->status, "terminated");
  EXPECT_TRUE(gc(api, reg, false, 0.05).empty());  // idempotent

  // ls without the API (offline): registry rows only.
  EXPECT_EQ(fleet(nullptr, reg).size(), 5u);

  for (const auto& i : fake.active_instances()) api.terminate_and_confirm(i.id, 10, 0.05);
  EXPECT_TRUE(fake.active_instances().empty());
}
