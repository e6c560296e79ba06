// LambdaApi against the local fake (tests/cloud/fake_lambda.*): every endpoint, the envelope and error codes,
// capacity fall-through, ambiguous launches, 429/5xx retries, terminate confirmation. Every test ends by
// asserting that the fake has no instance left that is not 'terminated'.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "cloud/fake_lambda.hpp"
#include "yolocpp/cloud/lambda_api.hpp"
#include "yolocpp/cloud/secrets.hpp"

using namespace yolocpp;
using namespace yolocpp::cloud;
using yolocpp::test::FakeLambda;

namespace {

struct Fixture {
  FakeLambda fake;
  std::vector<double> sleeps;  // every back-off the client asked for
  LambdaApi api;

  explicit Fixture(double launch_timeout_s = 5)
      : api([&] {
          LambdaApiOptions o;
          o.base_url = fake.base_url();
          o.api_key = fake.api_key();
          o.timeout_s = 5;
          o.launch_timeout_s = launch_timeout_s;
          o.retry.base_delay_s = 0.05;
          o.retry.max_delay_s = 5;
          o.retry.launch_interval_s = 0;
          o.sleep = [this](double s) {
            sleeps.push_back(s);
            std::this_thread::sleep_for(std::chrono::duration<double>(std::min(s, 0.2)));
          };
          return o;
        }()) {
    fake.add_ssh_key("laptop", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests me@laptop");
  }
  // Tear down through the API itself, then insist the fake agrees.
  void cleanup_and_check() {
    for (const auto& i : fake.active_instances()) api.terminate_and_confirm(i.id, 10, 0.1);
    EXPECT_TRUE(fake.active_instances().empty());
  }
  LaunchRequest request(const std::string& name, const std::string& region = "auto") {
    LaunchRequest r;
    r.region = region;
    r.instance_type = "gpu_1x_a100_sxm4";
    r.ssh_key_name = "laptop";
    r.name = name;
    return r;
  }
};

}  // namespace

TEST(LambdaApi, InstanceTypesParsesPricesSpecsAndCapacity) {
  Fixture f;
  auto types = f.api.instance_types();
  ASSERT_EQ(types.size(), 5u);
  const auto& a100 = types.at("gpu_1x_a100_sxm4");
  EXPECT_EQ(a100.type.price_cents_per_hour, 199);
  EXPECT_EQ(a100.type.gpus, 1);
  EXPECT_EQ(a100.type.vcpus, 30);
  EXPECT_EQ(a100.type.storage_gib, 512);
  EXPECT_EQ(a100.type.gpu_description, "A100 (40 GB SXM4)");
  ASSERT_EQ(a100.regions_with_capacity.size(), 3u);
  EXPECT_EQ(a100.regions_with_capacity[0].name, "us-west-2");
  EXPECT_EQ(a100.regions_with_capacity[1].description, "Virginia, USA");
  EXPECT_TRUE(types.at("gpu_1x_h100_sxm5").regions_with_capacity.empty());
  EXPECT_EQ(types.at("gpu_8x_a100").type.price_cents_per_hour, 1592);
  try {
    f.api.instance_type("gpu_1x_a100_80gb");
    FAIL() << "unknown type accepted";
  } catch (const CloudError& e) {
    EXPECT_NE(std::string(e.what()).find("gpu_1x_a10,"), std::string::npos) << e.what();
  }
  f.cleanup_and_check();
}

TEST(LambdaApi, LaunchGetListWaitTerminateLifecycle) {
  Fixture f;
  auto r = f.api.launch_auto(f.request("yolocpp-job1"));
  EXPECT_EQ(r.region, "us-west-2");  // first region with capacity
  EXPECT_FALSE(r.adopted);
  EXPECT_EQ(r.attempts, 1);
  ASSERT_EQ(r.instance_id.size(), 32u);

  Instance booting = f.api.get_instance(r.instance_id);
  EXPECT_EQ(booting.status, "booting");
  EXPECT_TRUE(booting.ip.empty());  // absent while booting
  EXPECT_FALSE(booting.terminate_available);
  EXPECT_EQ(booting.name, "yolocpp-job1");
  EXPECT_EQ(booting.type.price_cents_per_hour, 199);
  EXPECT_EQ(booting.region.name, "us-west-2");
  EXPECT_EQ(booting.ssh_key_names, std::vector<std::string>{"laptop"});

  int polls = 0;
  Instance up = f.api.wait_active(r.instance_id, 10, 0.05, [&](const Instance&) { ++polls; });
  EXPECT_TRUE(up.ready());
  EXPECT_EQ(up.ip, "127.0.0.1");
  EXPECT_GE(polls, 2);  // it was booting at first

  auto list = f.api.list_instances();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id, r.instance_id);
  EXPECT_EQ(f.api.find_by_name("yolocpp-job1").size(), 1u);
  EXPECT_TRUE(f.api.find_by_name("yolocpp-other").empty());

  auto restarted = f.api.restart({r.instance_id});
  ASSERT_EQ(restarted.size(), 1u);
  EXPECT_EQ(f.fake.count("restart"), 1);

  auto t = f.api.terminate({r.instance_id});
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].status, "terminating");
  f.api.terminate_and_confirm(r.instance_id, 10, 0.05);  // a second terminate (500 unknown) is fine too
  EXPECT_FALSE(f.api.find_instance(r.instance_id).has_value());  // 404 after termination
  EXPECT_TRUE(f.fake.active_instances().empty());
  EXPECT_EQ(f.fake.count("launch"), 1);
}

TEST(LambdaApi, NotFoundAndInvalidKeyCarrySpecCodes) {
  Fixture f;
  try {
    f.api.get_instance("0123456789abcdef0123456789abcdef");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.http_status, 404);
    EXPECT_EQ(e.code, "global/object-does-not-exist");
    EXPECT_TRUE(e.not_found());
  }
  LambdaApiOptions o;
  o.base_url = f.fake.base_url();
  o.api_key = "wrong-key-000000000000";
  o.retry.max_attempts = 3;
  LambdaApi bad(o);
  try {
    bad.list_instances();
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.http_status, 401);
    EXPECT_EQ(e.code, "global/invalid-api-key");
    EXPECT_NE(std::string(e.what()).find("LAMBDA_API_KEY"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("wrong-key-000000000000"), std::string::npos) << e.what();
  }
  // A 401 is not retried: exactly one request reached the server with the bad key.
  auto auths = f.fake.auth_headers_seen();
  EXPECT_EQ(std::count(auths.begin(), auths.end(), "Bearer wrong-key-000000000000"), 1);
  // The good client sends the Bearer form (spec §1.2).
  EXPECT_EQ(std::count(auths.begin(), auths.end(), "Bearer " + f.fake.api_key()), 1);
  f.cleanup_and_check();
}

TEST(LambdaApi, RegionAutoFallsThroughCapacityRefusal) {
  Fixture f;
  f.fake.refuse_capacity("us-west-2");  // listed with capacity, refused at launch time
  f.fake.refuse_capacity("us-east-1");
  auto r = f.api.launch_auto(f.request("yolocpp-job2"));
  EXPECT_EQ(r.region, "us-south-1");
  EXPECT_EQ(r.regions_tried, (std::vector<std::string>{"us-west-2", "us-east-1", "us-south-1"}));
  EXPECT_EQ(f.fake.count("capacity"), 2);
  EXPECT_EQ(f.fake.count("launch"), 1);
  EXPECT_EQ(f.fake.instances().at(0).region, "us-south-1");
  f.cleanup_and_check();
}

TEST(LambdaApi, CapacityEverywhereRefusedAndPinnedRegionCheckedLocally) {
  Fixture f;
  for (auto reg : {"us-west-2", "us-east-1", "us-south-1"}) f.fake.refuse_capacity(reg);
  try {
    f.api.launch_auto(f.request("yolocpp-job3"));
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_TRUE(e.capacity());
    EXPECT_NE(std::string(e.what()).find("us-south-1"), std::string::npos) << e.what();
  }
  // A pinned region without listed capacity is refused before spending a launch slot.
  int posts = f.fake.launch_posts();
  try {
    f.api.launch_auto(f.request("yolocpp-job3", "europe-central-1"));
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_TRUE(e.capacity());
    EXPECT_NE(std::string(e.what()).find("us-west-2"), std::string::npos) << e.what();
  }
  EXPECT_EQ(f.fake.launch_posts(), posts);
  // Sold out everywhere (H100): no launch POST either.
  auto req = f.request("yolocpp-job3");
  req.instance_type = "gpu_1x_h100_sxm5";
  EXPECT_THROW(f.api.launch_auto(req), ApiError);
  EXPECT_EQ(f.fake.launch_posts(), posts);
  EXPECT_EQ(f.fake.count("launch"), 0);
  f.cleanup_and_check();
}

TEST(LambdaApi, LaunchTimeoutAdoptsInstanceByNameNeverDuplicates) {
  Fixture f(/*launch_timeout_s=*/0.5);
  f.fake.hang_launches(1, 1.5);  // creates the instance, answers after the client gave up
  auto r = f.api.launch_auto(f.request("yolocpp-job4"));
  EXPECT_TRUE(r.adopted);
  EXPECT_EQ(r.attempts, 1);
  ASSERT_EQ(f.fake.instances().size(), 1u);  // never a second instance
  EXPECT_EQ(r.instance_id, f.fake.instances()[0].id);
  EXPECT_EQ(f.fake.count("launch"), 1);
  EXPECT_EQ(f.fake.launch_posts(), 1);
  f.cleanup_and_check();
}

TEST(LambdaApi, LaunchWhoseInstanceShowsUpLateIsAdoptedNotRelaunched) {
  Fixture f(/*launch_timeout_s=*/0.5);
  f.fake.hang_launches(1, 1.0);    // the answer is lost (client timeout) ...
  f.fake.delay_listing(2.5);       // ... and the instance appears in the list only 2.5 s after its creation
  auto r = f.api.launch_auto(f.request("yolocpp-late"));
  EXPECT_TRUE(r.adopted);
  EXPECT_EQ(f.fake.launch_posts(), 1);
  ASSERT_EQ(f.fake.instances().size(), 1u);  // exactly one: the client kept looking instead of launching again
  EXPECT_EQ(r.instance_id, f.fake.instances()[0].id);
  f.cleanup_and_check();
}

TEST(LambdaApi, Launch5xxWithoutInstanceRelaunchesOnceItIsSureNothingExists) {
  Fixture f;
  f.fake.fail_5xx(1, "/instance-operations/launch");  // rejected before creating anything
  auto r = f.api.launch_auto(f.request("yolocpp-job5"));
  EXPECT_FALSE(r.adopted);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(f.fake.launch_posts(), 2);
  EXPECT_EQ(f.fake.instances().size(), 1u);
  // Between the two POSTs the client listed instances to look for its name.
  auto lines = f.fake.request_lines();
  auto first = std::find_if(lines.begin(), lines.end(), [](auto& l) { return l.find("launch 503") != std::string::npos; });
  ASSERT_NE(first, lines.end());
  EXPECT_NE(std::find_if(first, lines.end(), [](auto& l) { return l.rfind("GET /api/v1/instances 200", 0) == 0; }),
            lines.end());
  f.cleanup_and_check();
}

TEST(LambdaApi, RateLimitedRequestsAreRetriedHonouringRetryAfter) {
  Fixture f;
  f.fake.fail_429(3, "/instances", /*retry_after=*/2);
  auto list = f.api.list_instances();
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(f.fake.count("429"), 3);
  ASSERT_EQ(f.sleeps.size(), 3u);
  for (double s : f.sleeps) EXPECT_DOUBLE_EQ(s, 2.0);  // Retry-After wins over the 0.05 s back-off

  // Without Retry-After: exponential back-off 0.05, 0.1, 0.2.
  f.sleeps.clear();
  f.fake.fail_429(3, "/instance-types");
  f.api.instance_types();
  ASSERT_EQ(f.sleeps.size(), 3u);
  EXPECT_DOUBLE_EQ(f.sleeps[0], 0.05);
  EXPECT_DOUBLE_EQ(f.sleeps[1], 0.1);
  EXPECT_DOUBLE_EQ(f.sleeps[2], 0.2);

  // A 429 on launch was rejected before any work: sent again, one instance in the end.
  f.fake.fail_429(2, "/instance-operations/launch");
  auto r = f.api.launch_auto(f.request("yolocpp-job6"));
  EXPECT_FALSE(r.adopted);
  EXPECT_EQ(f.fake.launch_posts(), 3);
  EXPECT_EQ(f.fake.instances().size(), 1u);

  // More 429s than attempts: a clear error naming the rate limit.
  f.fake.fail_429(10, "/ssh-keys");
  try {
    f.api.list_ssh_keys();
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.http_status, 429);
    EXPECT_NE(std::string(e.what()).find("rate limited"), std::string::npos) << e.what();
  }
  f.fake.fail_429(0);
  f.cleanup_and_check();
}

TEST(LambdaApi, ServerErrorsAreRetriedOnGets) {
  Fixture f;
  f.fake.fail_5xx(4, "/instance-types");
  auto types = f.api.instance_types();
  EXPECT_EQ(types.size(), 5u);
  EXPECT_EQ(f.fake.count("5xx"), 4);
  EXPECT_EQ(f.sleeps.size(), 4u);
  f.cleanup_and_check();
}

TEST(LambdaApi, TerminateFailingTwiceThenConfirmed) {
  Fixture f;
  auto r = f.api.launch_auto(f.request("yolocpp-job7"));
  f.api.wait_active(r.instance_id, 10, 0.05);
  f.fake.fail_terminate(2);
  f.api.terminate_and_confirm(r.instance_id, 10, 0.05);
  EXPECT_EQ(f.fake.count("terminate-fail"), 2);
  EXPECT_EQ(f.fake.count("terminate"), 1);
  auto all = f.fake.instances();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].status, "terminated");
  EXPECT_GT(all[0].terminated_at, all[0].terminate_requested_at);
  EXPECT_TRUE(f.fake.active_instances().empty());
}

TEST(LambdaApi, TerminateOfBootingInstanceIsConfirmed) {
  FakeLambda::Options slow;
  Fixture f;
  auto r = f.api.launch_auto(f.request("yolocpp-job8"));
  EXPECT_EQ(f.api.get_instance(r.instance_id).status, "booting");
  f.api.terminate_and_confirm(r.instance_id, 10, 0.05);
  EXPECT_TRUE(f.fake.active_instances().empty());
}

TEST(LambdaApi, SshKeysListAddGenerateDeleteEnsure) {
  Fixture f;
  auto keys = f.api.list_ssh_keys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].name, "laptop");

  SshKey added = f.api.add_ssh_key("ci-key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKey ci");
  EXPECT_EQ(added.name, "ci-key");
  EXPECT_EQ(added.id.size(), 32u);
  EXPECT_TRUE(added.private_key.empty());
  EXPECT_THROW(f.api.add_ssh_key("ci-key", "ssh-ed25519 AAAAX dup"), ApiError);  // name taken

  SshKey gen = f.api.generate_ssh_key("generated-key");
  EXPECT_NE(gen.private_key.find("OPENSSH PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(gen.public_key.rfind("ssh-ed25519 ", 0), 0u);
  // A generated private key is a secret: redact() scrubs it from any text.
  EXPECT_EQ(redact("key: " + gen.private_key), "key: [REDACTED]");

  // ensure_ssh_key: the same public key with another comment/whitespace is found, not added again.
  EXPECT_EQ(f.api.ensure_ssh_key("  ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests other-comment\n"), "laptop");
  std::string name = f.api.ensure_ssh_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINewJobKey job");
  EXPECT_EQ(name.rfind("yolocpp-", 0), 0u);
  EXPECT_EQ(name.size(), 8u + 12u);
  EXPECT_EQ(f.api.ensure_ssh_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINewJobKey"), name);
  EXPECT_EQ(f.api.list_ssh_keys().size(), 4u);

  f.api.delete_ssh_key(added.id);
  f.api.delete_ssh_key(added.id);  // already gone: fine
  EXPECT_EQ(f.api.list_ssh_keys().size(), 3u);
  EXPECT_THROW(f.api.ensure_ssh_key("not a key"), CloudError);
  f.cleanup_and_check();
}

TEST(LambdaApi, LaunchErrorsThatAreDefiniteAreNotRetried) {
  Fixture f;
  auto req = f.request("yolocpp-job9", "us-west-2");
  req.ssh_key_name = "no-such-key";
  try {
    f.api.launch(req);
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code, "global/object-does-not-exist");
    EXPECT_EQ(e.http_status, 400);
  }
  EXPECT_EQ(f.fake.launch_posts(), 1);
  req.name = "";
  EXPECT_THROW(f.api.launch(req), CloudError);  // a nameless launch could not be recovered by name
  EXPECT_EQ(f.fake.launch_posts(), 1);
  f.cleanup_and_check();
}

TEST(LambdaApi, EdgeBlocked403AndTimeoutsAreNamed) {
  // Nothing listens on this port: a transport error, retried then reported with the URL.
  LambdaApiOptions o;
  o.base_url = "http://127.0.0.1:9/api/v1";
  o.api_key = "unreachable-key-1234567";
  o.retry.max_attempts = 2;
  o.retry.base_delay_s = 0.01;
  o.connect_timeout_s = 1;
  LambdaApi api(o);
  try {
    api.list_instances();
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.http_status, 0);
    EXPECT_EQ(e.code, "http/transport");
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:9"), std::string::npos) << e.what();
  }
}

TEST(LambdaApi, FilesystemsCreateListAttachAtLaunchInTheirRegionOnly) {
  Fixture f;
  EXPECT_TRUE(f.api.list_filesystems().empty());
  EXPECT_FALSE(f.api.find_filesystem("aoe2-data").has_value());
  // A create whose first two answers are 503s is retried; names are unique, so this makes exactly one.
  f.fake.fail_5xx(2, "/filesystems");
  Filesystem fs = f.api.create_filesystem("aoe2-data", "us-east-1");
  EXPECT_EQ(fs.name, "aoe2-data");
  EXPECT_EQ(fs.region, "us-east-1");
  EXPECT_EQ(fs.mount_point, "/lambda/nfs/aoe2-data");  // the fake without nfs_dir reports Lambda's default
  EXPECT_EQ(fs.id.size(), 32u);
  EXPECT_FALSE(fs.in_use);
  ASSERT_EQ(f.fake.filesystems().size(), 1u);
  // The list path is /file-systems, create is /filesystems (Lambda's spelling difference).
  auto lines = f.fake.request_lines();
  EXPECT_NE(std::find(lines.begin(), lines.end(), "POST /api/v1/filesystems 200"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "GET /api/v1/file-systems 200"), lines.end());
  // A create that meets its own name (global/duplicate: the answer to an earlier try was lost) returns that
  // filesystem instead of failing, and makes no second one.
  Filesystem again = f.api.create_filesystem("aoe2-data", "us-east-1");
  EXPECT_EQ(again.id, fs.id);
  EXPECT_EQ(f.fake.filesystems().size(), 1u);
  EXPECT_EQ(f.fake.count("filesystem-create"), 1);
  EXPECT_THROW(f.api.create_filesystem("9starts-with-digit", "us-east-1"), ConfigError);

  // Launch with it outside its region: the API refuses with its own code, and nothing is created.
  auto req = f.request("yolocpp-fs1", "us-west-2");
  req.file_system_names = {"aoe2-data"};
  try {
    f.api.launch(req);
    FAIL() << "launch in the wrong region must be refused";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code, "instance-operations/launch/file-system-in-wrong-region");
  }
  EXPECT_EQ(f.fake.count("launch"), 0);
  // In its region it is attached and reported on the instance, and in use while the instance lives.
  req.region = "us-east-1";
  auto r = f.api.launch(req);
  Instance i = f.api.get_instance(r.instance_id);
  EXPECT_EQ(i.file_system_names, std::vector<std::string>{"aoe2-data"});
  EXPECT_TRUE(f.api.find_filesystem("aoe2-data")->in_use);
  f.cleanup_and_check();
  EXPECT_FALSE(f.api.find_filesystem("aoe2-data")->in_use);
}
