#include "yolocpp/cloud/sftp.hpp"

#include <fcntl.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "yolocpp/cloud/quote.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cloud {

namespace {

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// SFTP does not expand "~" and resolves relative paths against the login directory, which need not be $HOME
// (sshd SetEnv, su-style setups): resolve "~/" against the shell's $HOME so both transports name one file.
std::string sftp_path(SshSession& ssh, const std::string& p) {
  if (p != "~" && p.rfind("~/", 0) != 0) return p;
  std::string home = trim(ssh.check("printf '%s\\n' \"$HOME\""));
  return p == "~" ? home : home + p.substr(1);
}

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

std::string human_bytes(double b) {
  const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (b >= 1024 && i < 4) b /= 1024, ++i;
  char buf[32];
  std::snprintf(buf, sizeof buf, i == 0 ? "%.0f %s" : "%.1f %s", b, unit[i]);
  return buf;
}

std::string remote_sha256(SshSession& ssh, const std::string& remote_path) {
  std::string q = quote::path(remote_path);
  std::string out = trim(ssh.check("if [ -f " + q + " ]; then sha256sum < " + q + " | cut -d' ' -f1; fi"));
  if (!out.empty() && !is_hex64(out)) throw CloudError("unexpected sha256sum output for " + remote_path + ": " + out);
  return out;
}

int64_t remote_size(SshSession& ssh, const std::string& remote_path) {
  std::string q = quote::path(remote_path);
  std::string out = trim(ssh.check("if [ -f " + q + " ]; then wc -c < " + q + "; else echo -1; fi"));
  try {
    return std::stoll(out);
  } catch (const std::exception&) {
    throw CloudError("unexpected size output for " + remote_path + ": " + out);
  }
}

std::string sha256_prefix(const fs::path& file, uint64_t n) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError("cannot read " + file.string());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  while (n > 0) {
    in.read(buf.data(), static_cast<std::streamsize>(std::min<uint64_t>(n, buf.size())));
    auto got = in.gcount();
    if (got <= 0) throw IoError(file.string() + " is shorter than expected while hashing");
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(got));
    n -= static_cast<uint64_t>(got);
  }
  unsigned char md[32];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) s += hex[md[i] >> 4], s += hex[md[i] & 15];
  return s;
}

TransferStats upload(SshSession& ssh, const fs::path& local, const std::string& remote, const Progress& progress,
                     std::string local_sha) {
  TransferStats st;
  if (!fs::is_regular_file(local)) throw IoError("cannot upload " + local.string() + ": not a file");
  st.bytes = fs::file_size(local);
  st.sha256 = local_sha.empty() ? util::sha256_file(local) : local_sha;
  st.attempts = 1;
  const std::string f = quote::path(remote), p = quote::path(remote + ".part");

  // One round trip for the state of both files.
  std::string state = ssh.check("mkdir -p \"$(dirname " + f + ")\" && if [ -f " + f + " ]; then printf 'final '; " +
                                "sha256sum < " + f + " | cut -d' ' -f1; fi; if [ -f " + p +
                                " ]; then printf 'part '; wc -c < " + p + "; fi");
  std::istringstream in(state);
  std::string tag, val;
  int64_t part = -1;
  while (in >> tag >> val) {
    if (tag == "final" && val == st.sha256) {
      st.skipped = true;
      return st;
    }
    if (tag == "part") part = std::stoll(val);
  }

  uint64_t offset = 0;
  if (part > 0 && static_cast<uint64_t>(part) <= st.bytes) {
    // Resume only what provably is our file's prefix (a .part from another version of the file restarts).
    std::string remote_prefix = trim(ssh.check("sha256sum < " + p + " | cut -d' ' -f1"));
    if (remote_prefix == sha256_prefix(local, static_cast<uint64_t>(part))) offset = static_cast<uint64_t>(part);
    else log::info("{}: the partial upload on the remote does not match this file; restarting", remote);
  }
  st.resumed_from = offset;

  std::ifstream file(local, std::ios::binary);
  file.seekg(static_cast<std::streamoff>(offset));
  double t0 = now_s();
  std::string err;
  int rc = ssh.exec_upload(
      std::string("cat ") + (offset ? ">> " : "> ") + p,
      [&](char* buf, size_t cap) -> size_t {
        file.read(buf, static_cast<std::streamsize>(cap));
        return static_cast<size_t>(file.gcount());
      },
      [&](uint64_t sent) {
        st.sent = sent;
        if (progress) progress(offset + sent, st.bytes, now_s() - t0);
      },
      &err);
  st.seconds = now_s() - t0;
  if (rc != 0) throw CloudError("upload of " + local.string() + " to " + remote + " failed: " + trim(err));

  std::string verdict = trim(ssh.check("h=$(sha256sum < " + p + " | cut -d' ' -f1); if [ \"$h\" = " +
                                       quote::sh(st.sha256) + " ]; then mv -f " + p + " " + f +
                                       " && echo ok; else rm -f " + p + "; echo \"bad $h\"; fi"));
  if (verdict != "ok")
    throw CloudError("upload of " + local.string() + " to " + remote + " arrived corrupted (local sha256 " +
                     st.sha256 + ", remote " + verdict.substr(verdict.find(' ') + 1) + "); the partial file was removed, retry");
  return st;
}

namespace {

template <typename Fn>
TransferStats with_reconnect(SshSession& ssh, int attempts, double reconnect_timeout_s, const std::string& what,
                             Fn&& fn) {
  for (int attempt = 1;; ++attempt) {
    try {
      if (!ssh.connected()) ssh.connect_retry(reconnect_timeout_s, [&](const std::string& e) {
        log::warn("{}: reconnecting ({})", what, e);
      });
      TransferStats st = fn();
      st.attempts = attempt;
      return st;
    } catch (const Cancelled&) {
      throw;
    } catch (const HostKeyError&) {
      throw;
    } catch (const AuthError&) {
      throw;
    } catch (const CloudError& e) {
      if (ssh.cut_by_watchdog()) ssh.disconnect();  // the socket is shut down: a new connection is needed
      if (ssh.connected() || attempt >= attempts) throw;  // a remote-side failure, not a dropped connection
      log::warn("{}: {} (attempt {}/{})", what, e.what(), attempt, attempts);
    }
  }
}

}  // namespace

TransferStats upload_resumable(SshSession& ssh, const fs::path& local, const std::string& remote,
                               const Progress& progress, int attempts, double reconnect_timeout_s) {
  std::string sha = util::sha256_file(local);
  return with_reconnect(ssh, attempts, reconnect_timeout_s, "upload " + local.filename().string(),
                        [&] { return upload(ssh, local, remote, progress, sha); });
}

namespace {

struct SftpSession {
  sftp_session s = nullptr;
  sftp_file f = nullptr;
  ~SftpSession() {
    if (f) sftp_close(f);
    if (s) sftp_free(s);
  }
};

TransferStats download_once(SshSession& ssh, const std::string& remote, const fs::path& local,
                            const Progress& progress) {
  TransferStats st;
  st.sha256 = remote_sha256(ssh, remote);
  if (st.sha256.empty()) throw CloudError("cannot download " + remote + ": no such file on the remote");
  auto session = static_cast<ssh_session>(ssh.raw_session());
  SshSession::Busy busy(ssh);  // a silent link or Ctrl-C cuts the blocking SFTP reads below
  SftpSession sf;
  sf.s = sftp_new(session);
  if (!sf.s || sftp_init(sf.s) != SSH_OK)
    throw CloudError("SFTP is not available on " + ssh.target().host_id + ": " + ssh_get_error(session));
  sf.f = sftp_open(sf.s, sftp_path(ssh, remote).c_str(), O_RDONLY, 0);
  if (!sf.f) throw CloudError("cannot open " + remote + " over SFTP: " + ssh_get_error(session));
  sftp_attributes a = sftp_fstat(sf.f);
  if (!a) throw CloudError("cannot stat " + remote + " over SFTP");
  st.bytes = a->size;
  sftp_attributes_free(a);

  fs::create_directories(local.parent_path().empty() ? fs::path(".") : local.parent_path());
  util::AtomicFile out(local);
  auto& os = out.stream();
  // 32 requests of 64 KiB in flight: one round trip per 2 MiB instead of one per request.
  constexpr uint32_t kChunk = 64 * 1024;
  constexpr size_t kInFlight = 32;
  std::deque<uint32_t> ids;
  uint64_t requested = 0;
  auto request_more = [&] {
    while (requested < st.bytes && ids.size() < kInFlight) {
      int id = sftp_async_read_begin(sf.f, kChunk);
      if (id < 0) throw CloudError("SFTP read request failed for " + remote + ": " + ssh_get_error(session));
      ids.push_back(static_cast<uint32_t>(id));
      requested += kChunk;
    }
  };
  std::vector<char> buf(kChunk);
  double t0 = now_s();
  request_more();
  while (!ids.empty()) {
    throw_if_stopped("a download");
    int n = sftp_async_read(sf.f, buf.data(), kChunk, ids.front());
    ids.pop_front();
    if (n < 0) {
      throw_if_stopped("a download");
      if (ssh.cut_by_watchdog())  // with_reconnect drops the session (after the SFTP handles) and reconnects
        throw CloudError("the download of " + remote + " went silent (nothing arrived for " +
                         std::to_string(static_cast<int>(ssh.target().stall_s)) + " s); reconnecting");
      throw CloudError("SFTP read failed for " + remote + ": " + ssh_get_error(session));
    }
    if (n > 0) os.write(buf.data(), n);
    ssh.alive();
    st.sent += static_cast<uint64_t>(n);
    if (n < static_cast<int>(kChunk) && st.sent < st.bytes)
      throw CloudError("short SFTP read in the middle of " + remote + " (file changed while downloading?)");
    if (progress) progress(st.sent, st.bytes, now_s() - t0);
    request_more();
  }
  st.seconds = now_s() - t0;
  os.flush();
  if (st.sent != st.bytes)
    throw CloudError("download of " + remote + " ended at " + std::to_string(st.sent) + " of " +
                     std::to_string(st.bytes) + " bytes");
  std::string local_sha = util::sha256_file(out.temp_path());
  if (local_sha != st.sha256)
    throw CloudError("download of " + remote + " is corrupted (remote sha256 " + st.sha256 + ", received " +
                     local_sha + "); the file was not written, retry");
  out.commit();
  return st;
}

}  // namespace

TransferStats download(SshSession& ssh, const std::string& remote, const fs::path& local, const Progress& progress,
                       int attempts, double reconnect_timeout_s) {
  return with_reconnect(ssh, attempts, reconnect_timeout_s, "download " + remote,
                        [&] { return download_once(ssh, remote, local, progress); });
}

}  // namespace yolocpp::cloud
