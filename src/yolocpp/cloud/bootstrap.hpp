// Getting a yolocpp binary onto the remote machine (bootstrap=source|upload|none).
//   source: yolocpp's own source archive of exactly this version (share/yolocpp/src/yolocpp-src.tar.gz beside
//           the running binary: installed with it, or made by the build; never the current directory) is
//           verified (its YOLOCPP_SOURCE marker names this version), uploaded, and built there against the
//           machine's LibTorch (the instance's PyTorch, or a system libtorch). The build is cached on the machine
//           under a key of (source archive hash, torch version, CUDA version): a second job reuses it.
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

// The source archive of the running version (see above); CloudError naming the path looked at and the way
// out when it is missing or is not yolocpp's tree of this version.
fs::path own_source_archive(const fs::path& binary = self_binary());

// "torch 2.4.1 cuda 12.4", "torch 1.13.1 cuda cpu": the LibTorch a remote build would link against, and the
// CMake flags that find it. CloudError when the machine has none.
struct RemoteTorch {
  std::string version, cuda;     // cuda "cpu" for a CPU-only LibTorch
  std::string cmake_flags;       // e.g. -DYOLOCPP_TORCH_FROM_PYTHON=ON
  bool gpu = false;              // nvidia-smi answered
  std::string summary() const;
};
RemoteTorch probe_remote_torch(SshSession& ssh);

// The build cache key: archive hash prefix, torch version and CUDA, as a file-name-safe word.
std::string build_key(const std::string& archive_sha256, const RemoteTorch& t);

// Returns the remote path of the yolocpp binary to run. Streams build output / upload progress to the log.
// `require_gpu`: a rented GPU instance without a working GPU stack is an error (host= machines only warn).
std::string bootstrap(SshSession& ssh, const RemoteLayout& l, BootstrapMode mode, const Progress& progress = {},
                      bool require_gpu = false);

}  // namespace yolocpp::cloud
