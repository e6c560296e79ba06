// Getting a yolocpp binary onto the remote machine (bootstrap=source|upload|none).
//   source: a tar.gz of this checkout's git-tracked files (named by a hash of their contents) is uploaded and
//           built there against the instance's PyTorch LibTorch with CUDA (-DYOLOCPP_TORCH_FROM_PYTHON=ON);
//           the build is cached: ~/.cache/yolocpp/build-<hash>/bin/yolocpp is reused when present.
//   upload: this very binary is copied (same OS/arch only: checked with uname first).
//   none:   `yolocpp` on the remote PATH.
#pragma once
#include <filesystem>
#include <string>

#include "yolocpp/cloud/remote.hpp"
#include "yolocpp/cloud/sftp.hpp"

namespace yolocpp::cloud {

enum class BootstrapMode { Source, Upload, None };
BootstrapMode parse_bootstrap(const std::string& value);  // ConfigError naming the allowed values

// This process's executable (/proc/self/exe).
fs::path self_binary();

// A content hash of the git-tracked files of `checkout` (path + blob sha of each file in the working tree),
// so an edited but uncommitted tree gets a new build.
std::string source_hash(const fs::path& checkout);
// Writes <out_dir>/yolocpp-src-<hash16>.tar.gz of the tracked files; returns its path.
fs::path make_source_archive(const fs::path& checkout, const fs::path& out_dir, const std::string& hash);

// Driver, CUDA and torch versions on the remote; throws CloudError saying clearly what does not fit
// (no NVIDIA driver, no python3 torch, torch without CUDA). Returns a one-line summary.
std::string check_gpu_stack(SshSession& ssh);

// Returns the remote path of the yolocpp binary to run. Streams build output / upload progress to the log.
std::string bootstrap(SshSession& ssh, const RemoteLayout& l, BootstrapMode mode, const Progress& progress = {});

}  // namespace yolocpp::cloud
