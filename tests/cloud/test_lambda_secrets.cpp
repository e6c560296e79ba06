// The API key: environment vs key file, file-mode checks, 0600 on write, and that the key never shows up in
// any error, log line or verbose HTTP trace.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "cloud/fake_lambda.hpp"
#include "common/test_util.hpp"
#include "yolocpp/cloud/lambda_api.hpp"
#include "yolocpp/cloud/secrets.hpp"
#include "yolocpp/config/settings.hpp"
#include "yolocpp/util/log.hpp"

using namespace yolocpp;
using namespace yolocpp::cloud;
using yolocpp::test::FakeLambda;
using yolocpp::test::TempDir;

namespace {

// Restores an environment variable at scope exit.
struct EnvGuard {
  std::string name, old;
  bool had;
  EnvGuard(const char* n, const char* value) : name(n) {
    const char* o = std::getenv(n);
    had = o != nullptr;
    if (o) old = o;
    if (value) setenv(n, value, 1);
    else unsetenv(n);
  }
  ~EnvGuard() {
    if (had) setenv(name.c_str(), old.c_str(), 1);
    else unsetenv(name.c_str());
  }
};

unsigned mode_of(const std::filesystem::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 0777;
}

}  // namespace

TEST(LambdaSecrets, EnvironmentWinsOverKeyFile) {
  TempDir tmp;
  EnvGuard cfg("YOLOCPP_CONFIG_DIR", tmp.path().c_str());
  EnvGuard env("LAMBDA_API_KEY", "  env-key-abcdef123456\n");
  save_api_key("file-key-abcdef123456");
  EXPECT_EQ(load_api_key(), "env-key-abcdef123456");  // trimmed
}

TEST(LambdaSecrets, KeyFileWrittenAs0600AndReadBack) {
  TempDir tmp;
  EnvGuard cfg("YOLOCPP_CONFIG_DIR", (tmp.path() / "cfg").c_str());
  EnvGuard env("LAMBDA_API_KEY", nullptr);
  ::umask(022);  // a typical umask would make ordinary files 0644
  save_api_key("secret_abc_0123456789");
  auto path = tmp.path() / "cfg" / "lambda_api_key";
  ASSERT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(load_api_key(), "secret_abc_0123456789");
  // Overwriting an existing file that somebody made 0644 brings it back to 0600.
  ::chmod(path.c_str(), 0644);
  save_api_key("secret_abc_9876543210");
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(load_api_key(), "secret_abc_9876543210");
}

TEST(LambdaSecrets, GroupOrWorldReadableKeyFileIsRefused) {
  TempDir tmp;
  EnvGuard env("LAMBDA_API_KEY", nullptr);
  auto path = tmp.path() / "key";
  { std::ofstream(path) << "world-readable-key-0001\n"; }
  for (unsigned mode : {0644u, 0640u, 0604u, 0660u}) {
    ::chmod(path.c_str(), mode);
    try {
      load_api_key(path);
      FAIL() << "mode " << std::oct << mode << " accepted";
    } catch (const CloudError& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("chmod 600 " + path.string()), std::string::npos) << m;
      EXPECT_EQ(m.find("world-readable-key-0001"), std::string::npos) << m;
    }
  }
  ::chmod(path.c_str(), 0600);
  EXPECT_EQ(load_api_key(path), "world-readable-key-0001");
  ::chmod(path.c_str(), 0400);
  EXPECT_EQ(load_api_key(path), "world-readable-key-0001");
}

TEST(LambdaSecrets, MissingKeyNamesBothPlaces) {
  TempDir tmp;
  EnvGuard cfg("YOLOCPP_CONFIG_DIR", tmp.path().c_str());
  EnvGuard env("LAMBDA_API_KEY", nullptr);
  try {
    load_api_key();
    FAIL();
  } catch (const CloudError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("LAMBDA_API_KEY"), std::string::npos);
    EXPECT_NE(m.find((tmp.path() / "lambda_api_key").string()), std::string::npos) << m;
  }
}

TEST(LambdaSecrets, RedactCoversBearerAndBasicForms) {
  const std::string key = "redact-me-0a1b2c3d4e5f";
  register_secret(key);
  EXPECT_EQ(redact("Authorization: Bearer " + key), "Authorization: Bearer [REDACTED]");
  // base64("redact-me-0a1b2c3d4e5f:") is what HTTP Basic (curl -u KEY:) sends.
  EXPECT_EQ(redact("Authorization: Basic cmVkYWN0LW1lLTBhMWIyYzNkNGU1Zjo="), "Authorization: Basic [REDACTED]");
  EXPECT_EQ(redact("x" + key + "y" + key), "x[REDACTED]y[REDACTED]");
  EXPECT_EQ(redact("nothing here"), "nothing here");
  register_secret("abc");  // too short to be a secret worth scrubbing: ignored
  EXPECT_EQ(redact("abc"), "abc");
}

TEST(LambdaSecrets, KeyNeverAppearsInErrorsOrVerboseLogs) {
  FakeLambda fake;
  const std::string key = fake.api_key();
  log::set_debug(true);
  testing::internal::CaptureStderr();
  testing::internal::CaptureStdout();
  std::string errors;
  {
    LambdaApiOptions o;
    o.base_url = fake.base_url();
    o.api_key = key;
    o.retry.base_delay_s = 0.01;
    o.retry.launch_interval_s = 0;
    LambdaApi api(o);
    fake.fail_429(2);
    fake.fail_5xx(2);
    api.list_instances();  // retried: logs each failure in verbose mode
    try {
      api.get_instance("00000000000000000000000000000000");
    } catch (const CloudError& e) {
      errors += e.what();
    }
    try {  // a launch with an unknown key name: a definite 400
      LaunchRequest r{"us-west-2", "gpu_1x_a100_sxm4", "missing", "yolocpp-redact", "", "", {}};
      api.launch(r);
    } catch (const CloudError& e) {
      errors += e.what();
    }
    // A URL that itself carries the key (a mistaken api_url): the transport error must not echo it.
    LambdaApiOptions bad = o;
    bad.base_url = "http://127.0.0.1:9/api/v1?token=" + key;
    bad.retry.max_attempts = 2;
    bad.connect_timeout_s = 1;
    try {
      LambdaApi(bad).list_instances();
    } catch (const CloudError& e) {
      errors += e.what();
    }
    // A wrong key is reported as such, without echoing it.
    LambdaApiOptions wrong = o;
    wrong.api_key = key + "-typo";
    try {
      LambdaApi(wrong).instance_types();
    } catch (const CloudError& e) {
      errors += e.what();
    }
  }
  std::string out = testing::internal::GetCapturedStdout() + testing::internal::GetCapturedStderr();
  log::set_debug(false);
  EXPECT_NE(out.find("http GET"), std::string::npos) << "verbose HTTP log expected:\n" << out;
  EXPECT_NE(out.find("[REDACTED]"), std::string::npos) << out;  // the token URL was logged, scrubbed
  EXPECT_NE(errors.find("global/object-does-not-exist"), std::string::npos) << errors;
  EXPECT_NE(errors.find("global/invalid-api-key"), std::string::npos) << errors;
  EXPECT_EQ(out.find(key), std::string::npos) << out;
  EXPECT_EQ(errors.find(key), std::string::npos) << errors;
  EXPECT_TRUE(fake.active_instances().empty());
}

TEST(LambdaSecrets, FromSettingsUsesApiUrlAndTheKey) {
  FakeLambda fake;
  TempDir tmp;
  EnvGuard cfg("YOLOCPP_CONFIG_DIR", tmp.path().c_str());
  EnvGuard env("LAMBDA_API_KEY", nullptr);
  auto s = config::Settings::from_args({"api_url=" + fake.base_url() + "/"});  // trailing slash tolerated
  EXPECT_THROW(LambdaApi::from_settings(s), CloudError);  // no key anywhere yet
  save_api_key(fake.api_key());
  LambdaApi api = LambdaApi::from_settings(s);
  EXPECT_EQ(api.base_url(), fake.base_url());
  EXPECT_EQ(api.instance_types().size(), 5u);
  auto auths = fake.auth_headers_seen();
  ASSERT_FALSE(auths.empty());
  EXPECT_EQ(auths.back(), "Bearer " + fake.api_key());
}
