// SSH/SFTP transport against a real OpenSSH server on loopback (sshd_fixture): quoting, exec, transfers with
// hash checks, host-key pinning, and an upload that survives the server being killed and restarted.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "cloud/sshd_fixture.hpp"
#include "common/test_util.hpp"
#include "yolocpp/cloud/quote.hpp"
#include "yolocpp/cloud/sftp.hpp"
#include "yolocpp/cloud/ssh.hpp"
#include "yolocpp/util/fs.hpp"

namespace yolocpp::test {
namespace {

using cloud::quote::sh;

const std::vector<std::string>& hostile() {
  static const std::vector<std::string> v = {
      "",          "plain",          "two words",       "it's",        "'",       "''",  "\"dq\"",
      "$(touch /tmp/yolocpp-pwned)", "`id`",            "a;b",         "a&&b|c",  "*",   "~",
      "$HOME",     "back\\slash",    "new\nline",       "tab\there",   "-n",      "--",  "a'b'c'",
      "\x01\x7f\xff utf8 é ✓",       "!event",          "#comment",    "{a,b}",   "> /tmp/x"};
  return v;
}

TEST(SshQuote, EscapesKnownCases) {
  EXPECT_EQ(sh("abc"), "'abc'");
  EXPECT_EQ(sh(""), "''");
  EXPECT_EQ(sh("it's"), "'it'\\''s'");
  EXPECT_EQ(cloud::quote::join({"a b", "c"}), "'a b' 'c'");
  EXPECT_EQ(cloud::quote::path("~/x y"), "\"$HOME\"/'x y'");
  EXPECT_EQ(cloud::quote::path("/abs"), "'/abs'");
  EXPECT_THROW(sh(std::string("a\0b", 3)), CloudError);
}

TEST(SshQuote, HostileStringsRoundTripThroughLocalShell) {
  for (const auto& s : hostile()) {
    // printf '%s' <quoted> must print exactly the original bytes.
    std::string cmd = "printf '%s' " + sh(s);
    FILE* p = ::popen(("sh -c " + sh(cmd)).c_str(), "r");
    std::string out;
    char buf[256];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
    EXPECT_EQ(out, s) << "quoted as " << sh(s);
  }
  EXPECT_FALSE(fs::exists("/tmp/yolocpp-pwned"));
}

TEST(SshParse, HostSpecs) {
  auto t = cloud::parse_host("ubuntu@192.0.2.7:2222", 22);
  EXPECT_EQ(t.user, "ubuntu");
  EXPECT_EQ(t.host, "192.0.2.7");
  EXPECT_EQ(t.port, 2222);
  EXPECT_EQ(t.host_id, "192.0.2.7:2222");
  t = cloud::parse_host("me@[::1]:23", 22);
  EXPECT_EQ(t.host, "::1");
  EXPECT_EQ(t.port, 23);
  t = cloud::parse_host("ubuntu@host", 2200);
  EXPECT_EQ(t.port, 2200);
  EXPECT_THROW(cloud::parse_host("ubuntu@host:x", 22), ConfigError);
  EXPECT_THROW(cloud::parse_host("ubuntu@", 22), ConfigError);
}

class SshTest : public ::testing::Test {
 protected:
  void SetUp() override {
    YOLOCPP_REQUIRE_SSHD();
    sshd = std::make_unique<SshdFixture>();
  }
  std::unique_ptr<SshdFixture> sshd;
};

TEST_F(SshTest, ExecStreamsAndExitCodes) {
  cloud::SshSession s(sshd->target());
  s.connect();
  auto r = s.run("echo out; echo err >&2; exit 7");
  EXPECT_EQ(r.status, 7);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(s.run("true").status, 0);
  EXPECT_EQ(s.run("exit 255").status, 255);
  // stdin reaches the command, then EOF.
  EXPECT_EQ(s.run("wc -c", std::string(100000, 'x')).out, "100000\n");
  // HOME is the fixture's, so remote files stay in the temp dir.
  EXPECT_EQ(s.run("printf %s \"$HOME\"").out, sshd->home().string());
  EXPECT_THROW(s.check("echo nope >&2; exit 3"), CloudError);
  // Hostile strings survive the remote shell too.
  for (const auto& h : hostile()) {
    auto e = s.run("printf '%s' " + sh(h));
    EXPECT_EQ(e.out, h);
  }
  // Streaming: chunks arrive while the command runs (the first line before the sleep ends).
  std::vector<std::pair<double, std::string>> chunks;
  auto t0 = std::chrono::steady_clock::now();
  int st = s.exec("echo first; sleep 1; echo second", [&](std::string_view d) {
    chunks.emplace_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), std::string(d));
  }, {});
  EXPECT_EQ(st, 0);
  ASSERT_GE(chunks.size(), 2u);
  EXPECT_LT(chunks.front().first, 0.8);
  EXPECT_EQ(chunks.front().second, "first\n");
}

TEST_F(SshTest, HostKeyPinnedAndChangeRefused) {
  {
    cloud::SshSession s(sshd->target());
    s.connect();
  }
  std::string pins = util::read_file(sshd->known_hosts());
  EXPECT_NE(pins.find("127.0.0.1:" + std::to_string(sshd->port()) + " ssh-ed25519 "), std::string::npos);
  {
    cloud::SshSession s(sshd->target());
    s.connect();  // same key: accepted, file unchanged
  }
  EXPECT_EQ(util::read_file(sshd->known_hosts()), pins);
  sshd->stop();
  sshd->new_host_key();
  sshd->start();
  cloud::SshSession s(sshd->target());
  try {
    s.connect();
    FAIL() << "a changed host key was accepted";
  } catch (const cloud::HostKeyError& e) {
    EXPECT_NE(std::string(e.what()).find("changed"), std::string::npos) << e.what();
  }
  // connect_retry does not retry a host-key mismatch.
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(s.connect_retry(30), cloud::HostKeyError);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5);
  EXPECT_EQ(util::read_file(sshd->known_hosts()), pins);
  // A different pin name (another instance id) is a different machine: first use pins it.
  auto t = sshd->target();
  t.host_id = "instance-2";
  cloud::SshSession other(t);
  EXPECT_NO_THROW(other.connect());
}

TEST_F(SshTest, WrongKeyIsAnAuthError) {
  auto t = sshd->target();
  t.key_file = sshd->dir() / "host_ed25519";  // a valid key that is not authorized
  cloud::SshSession s(t);
  EXPECT_THROW(s.connect(), cloud::AuthError);
}

fs::path random_file(const fs::path& p, size_t bytes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string data(bytes, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  std::ofstream(p, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
  return p;
}

TEST_F(SshTest, UploadDownloadVerified) {
  TempDir tmp;
  auto local = random_file(tmp / "blob.bin", 3 * 1024 * 1024 + 17, 1);
  std::string sha = util::sha256_file(local);
  cloud::SshSession s(sshd->target());
  s.connect();
  uint64_t last = 0;
  auto st = cloud::upload(s, local, "~/up/blob.bin", [&](uint64_t done, uint64_t total, double) {
    EXPECT_GE(done, last);
    EXPECT_EQ(total, fs::file_size(local));
    last = done;
  });
  EXPECT_FALSE(st.skipped);
  EXPECT_EQ(last, fs::file_size(local));
  EXPECT_EQ(st.sent, fs::file_size(local));
  EXPECT_EQ(util::sha256_file(sshd->home() / "up/blob.bin"), sha);
  EXPECT_FALSE(fs::exists(sshd->home() / "up/blob.bin.part"));
  EXPECT_EQ(cloud::remote_sha256(s, "~/up/blob.bin"), sha);
  EXPECT_EQ(cloud::remote_size(s, "~/up/blob.bin"), static_cast<int64_t>(fs::file_size(local)));
  EXPECT_EQ(cloud::remote_sha256(s, "~/up/missing"), "");

  // Same file again: skipped by hash.
  auto again = cloud::upload(s, local, "~/up/blob.bin");
  EXPECT_TRUE(again.skipped);
  EXPECT_EQ(again.sent, 0u);

  // A matching partial upload resumes from its size; a foreign one restarts.
  fs::remove(sshd->home() / "up/blob.bin");
  {
    std::ifstream in(local, std::ios::binary);
    std::string half(1000000, '\0');
    in.read(half.data(), 1000000);
    std::ofstream(sshd->home() / "up/blob.bin.part", std::ios::binary) << half;
  }
  auto resumed = cloud::upload(s, local, "~/up/blob.bin");
  EXPECT_EQ(resumed.resumed_from, 1000000u);
  EXPECT_EQ(resumed.sent, fs::file_size(local) - 1000000);
  EXPECT_EQ(util::sha256_file(sshd->home() / "up/blob.bin"), sha);
  fs::remove(sshd->home() / "up/blob.bin");
  std::ofstream(sshd->home() / "up/blob.bin.part", std::ios::binary) << std::string(5000, 'z');
  auto restarted = cloud::upload(s, local, "~/up/blob.bin");
  EXPECT_EQ(restarted.resumed_from, 0u);
  EXPECT_EQ(util::sha256_file(sshd->home() / "up/blob.bin"), sha);

  // Download over SFTP (pipelined reads), verified and atomic.
  auto dl = cloud::download(s, "~/up/blob.bin", tmp / "back" / "blob.bin");
  EXPECT_EQ(dl.bytes, fs::file_size(local));
  EXPECT_EQ(util::sha256_file(tmp / "back" / "blob.bin"), sha);
  EXPECT_THROW(cloud::download(s, "~/up/none.bin", tmp / "none.bin"), CloudError);
  EXPECT_FALSE(fs::exists(tmp / "none.bin"));
}

TEST_F(SshTest, UploadSurvivesServerRestart) {
  TempDir tmp;
  const size_t size = 48 * 1024 * 1024;
  auto local = random_file(tmp / "big.bin", size, 2);
  auto target = sshd->target();
  target.timeout_s = 5;
  cloud::SshSession s(target);
  s.connect();
  std::atomic<bool> killed{false};
  std::thread restarter;
  auto st = cloud::upload_resumable(
      s, local, "~/big.bin",
      [&](uint64_t done, uint64_t, double) {
        if (!killed && done > size / 3) {
          killed = true;
          sshd->stop();  // drops this very connection mid-transfer
          restarter = std::thread([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(1500));
            sshd->start();
          });
        }
      },
      5, 60);
  if (restarter.joinable()) restarter.join();
  EXPECT_TRUE(killed);
  EXPECT_EQ(st.attempts, 2);
  EXPECT_EQ(util::sha256_file(sshd->home() / "big.bin"), util::sha256_file(local));
  EXPECT_FALSE(fs::exists(sshd->home() / "big.bin.part"));
  // It resumed (the part the server had written before dying), or restarted cleanly: either way, the
  // second attempt moved exactly the remaining bytes.
  EXPECT_EQ(st.resumed_from + st.sent, size);
  std::printf("[ info ] upload after restart: resumed from %llu of %zu bytes\n",
              static_cast<unsigned long long>(st.resumed_from), size);
}

}  // namespace
}  // namespace yolocpp::test
