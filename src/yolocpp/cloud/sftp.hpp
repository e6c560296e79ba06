// File transfer over an SshSession, both directions verified by sha256 on both ends (remote `sha256sum`).
//
// Uploads go through an exec channel running `cat >> FILE.part`, not SFTP writes: libssh 0.10's sftp_write is
// one synchronous request per call (round-trip bound, spec §4.2) and its async write API only exists from 0.11,
// whereas an exec channel is limited only by the SSH window. The data lands in FILE.part and is renamed to FILE
// only after the remote hash matches, so a dropped connection never leaves a plausible-looking torn FILE; on
// the next attempt the .part is resumed when the hash of its bytes equals the hash of the same local prefix,
// else restarted from zero. A FILE already there with the same sha256 is not sent again.
//
// Downloads use SFTP with pipelined async reads (sftp_async_read_begin, available in 0.10), written through
// util::AtomicFile, then checked against the remote sha256.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "yolocpp/cloud/ssh.hpp"

namespace yolocpp::cloud {

struct TransferStats {
  uint64_t bytes = 0;         // file size
  uint64_t sent = 0;          // bytes actually moved in this call (less than `bytes` when resumed)
  uint64_t resumed_from = 0;  // offset the last attempt continued from
  int attempts = 0;           // connections used (1 = no reconnect)
  bool skipped = false;       // the remote already had this exact file
  double seconds = 0;         // wall time of the data transfer
  std::string sha256;
  double mib_per_s() const { return seconds > 0 ? sent / seconds / (1024.0 * 1024.0) : 0; }
};

// (bytes done in this file, file size, seconds since the transfer started)
using Progress = std::function<void(uint64_t done, uint64_t total, double seconds)>;

// sha256 of a remote file, "" when it does not exist.
std::string remote_sha256(SshSession& ssh, const std::string& remote_path);
// Size of a remote file, -1 when it does not exist.
int64_t remote_size(SshSession& ssh, const std::string& remote_path);
// sha256 of the first `n` bytes of a local file.
std::string sha256_prefix(const fs::path& file, uint64_t n);

// One attempt (see the header comment). `remote` may start with "~/". `local_sha` may be passed when known.
TransferStats upload(SshSession& ssh, const fs::path& local, const std::string& remote, const Progress& progress = {},
                     std::string local_sha = {});
// upload() that survives dropped connections: reconnects (with backoff, up to `reconnect_timeout_s` each time)
// and continues from the verified .part, at most `attempts` connections in all.
TransferStats upload_resumable(SshSession& ssh, const fs::path& local, const std::string& remote,
                               const Progress& progress = {}, int attempts = 5, double reconnect_timeout_s = 120);

// SFTP download into `local` (atomic), verified against the remote sha256; retried like upload_resumable.
TransferStats download(SshSession& ssh, const std::string& remote, const fs::path& local,
                       const Progress& progress = {}, int attempts = 3, double reconnect_timeout_s = 120);

// "12.3 MiB" / "850 KiB": human sizes for progress lines.
std::string human_bytes(double bytes);

}  // namespace yolocpp::cloud
