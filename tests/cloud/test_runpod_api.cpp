// The RunPod v2 client against the fake RunPod API: catalog prices, the create body, network volumes, the
// problem-object errors (no code, the status decides), 429 + Retry-After, and the key never in an error text.
#include <gtest/gtest.h>

#include "cloud/fake_runpod.hpp"
#include "yolocpp/cloud/runpod_api.hpp"
#include "yolocpp/cloud/secrets.hpp"

namespace yolocpp::test {
namespace {

using cloud::RunPodApi;
using cloud::RunPodOptions;

struct Api {
  FakeRunPod fake;
  std::vector<double> slept;
  std::unique_ptr<RunPodApi> api;
  explicit Api(const std::string& key = "") {
    RunPodOptions o;
    o.base_url = fake.base_url();
    o.api_key = key.empty() ? fake.api_key() : key;
    o.sleep = [this](double s) { slept.push_back(s); };
    api = std::make_unique<RunPodApi>(o);
  }
};

TEST(RunPodApi, OfferIsPerGpuPriceTimesCountWithDataCentersByAvailability) {
  Api a;
  auto o = a.api->offer("NVIDIA GeForce RTX 4090", 2);
  EXPECT_EQ(o.price_cents_per_hour, 88);  // 0.44 per GPU-hour x 2
  EXPECT_EQ(o.gpus, 2);
  ASSERT_EQ(o.regions.size(), 2u);
  EXPECT_EQ(o.regions[0], "EU-RO-1");                                     // HIGH before MEDIUM
  EXPECT_THROW(a.api->offer("NVIDIA GeForce RTX 4090", 9), ConfigError);  // above maxCount
  try {
    a.api->offer("NVIDIA Nope", 1);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("NVIDIA A40"), std::string::npos) << e.what();
  }
}

TEST(RunPodApi, CreateBodyAlwaysHasCountPortsAndPublicKey) {
  Api a;
  cloud::LaunchSpec s;
  s.type = "NVIDIA A40";
  s.name = "yolocpp-x";
  s.public_key = "ssh-ed25519 AAAAC3Nza test";
  auto b = a.api->create_body(s, "EU-SE-1");
  EXPECT_EQ(b["gpu"]["count"], 1);
  EXPECT_EQ(b["ports"][0], "22/tcp");
  EXPECT_EQ(b["env"]["PUBLIC_KEY"], s.public_key);
  EXPECT_EQ(b["disk"], 50);
  EXPECT_EQ(cloud::image_cuda_version("runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2204"), "12.8");
  EXPECT_EQ(cloud::image_cuda_version("runpod/pytorch:1.0.3-cu1300-torch291-ubuntu2404"), "13.0");
  EXPECT_EQ(cloud::image_cuda_version("ubuntu:24.04"), "");
  // An empty / "null" key would make a pod nobody can log into: refused before any create.
  s.public_key = "null";
  EXPECT_THROW(a.api->launch(s), CloudError);
  EXPECT_TRUE(a.fake.create_bodies().empty());
}

TEST(RunPodApi, LaunchRetriesA429AfterRetryAfterThenTerminatesAndConfirms) {
  Api a;
  a.fake.fail_429(1, "/pods", 7);
  cloud::LaunchSpec s;
  s.type = "NVIDIA GeForce RTX 4090";
  s.name = "yolocpp-rl";
  s.public_key = "ssh-ed25519 AAAAC3Nza test";
  auto r = a.api->launch(s);
  EXPECT_FALSE(r.id.empty());
  ASSERT_FALSE(a.slept.empty());
  EXPECT_EQ(a.slept[0], 7);  // the header's value, not a guess
  EXPECT_EQ(a.fake.count("create"), 1);
  a.api->terminate_and_confirm(r.id, 10, 0.01);
  EXPECT_TRUE(a.fake.active_pods().empty());
  EXPECT_FALSE(a.api->find(r.id).has_value());  // 404 after the delete
  a.api->terminate(r.id);                       // and a repeat delete (404) is success
}

TEST(RunPodApi, NetworkVolumesRoundTrip) {
  Api a;
  EXPECT_TRUE(a.api->volumes().empty());
  EXPECT_THROW(a.api->create_volume("data", 5, "EU-RO-1"), ConfigError);  // 10..4096 GB
  auto v = a.api->create_volume("data", 20, "EU-RO-1");
  EXPECT_FALSE(v.id.empty());
  EXPECT_EQ(v.size_gb, 20);
  EXPECT_EQ(v.region, "EU-RO-1");
  ASSERT_EQ(a.api->volumes().size(), 1u);
  a.api->delete_volume(v.id);
  EXPECT_TRUE(a.api->volumes().empty());
  a.api->delete_volume(v.id);  // already gone: fine
}

TEST(RunPodApi, WrongKeyIsOneClearErrorWithoutTheKey) {
  const std::string wrong = "rpa_WRONGKEY_0123456789abcdef";
  Api a(wrong);
  try {
    a.api->list();
    FAIL();
  } catch (const cloud::ApiError& e) {
    std::string w = e.what();
    EXPECT_EQ(e.http_status, 401);
    EXPECT_NE(w.find("HTTP 401 Unauthorized: invalid api key"), std::string::npos) << w;
    EXPECT_NE(w.find("RUNPOD_API_KEY"), std::string::npos) << w;
    EXPECT_EQ(w.find(wrong), std::string::npos) << w;
  }
}

}  // namespace
}  // namespace yolocpp::test
