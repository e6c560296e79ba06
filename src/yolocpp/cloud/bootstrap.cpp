#include "yolocpp/cloud/bootstrap.hpp"

#include <sys/utsname.h>

#include <cctype>
#include <cstdio>
#include <sstream>

#include "yolocpp/cloud/quote.hpp"
#include "yolocpp/version.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cloud {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string local_cmd(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw CloudError("cannot run: " + cmd);
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  if (rc) *rc = st;
  else if (st != 0) throw CloudError("local command failed: " + cmd);
  return out;
}

}  // namespace

BootstrapMode parse_bootstrap(const std::string& v) {
  if (v == "source" || v.empty()) return BootstrapMode::Source;
  if (v == "upload") return BootstrapMode::Upload;
  if (v == "none") return BootstrapMode::None;
  throw ConfigError("bootstrap=" + v + " is not valid: use source (build this version there), upload (copy this "
                    "binary, same platform) or none (yolocpp already on the remote PATH)");
}

fs::path self_binary() { return fs::read_symlink("/proc/self/exe"); }

fs::path own_source_archive(const fs::path& binary) {
  // <prefix>/bin/yolocpp -> <prefix>/share/yolocpp/src/: the same layout in an install and in a build tree.
  fs::path a = binary.parent_path().parent_path() / "share/yolocpp/src/yolocpp-src.tar.gz";
  auto way_out = " (reinstall yolocpp, or use bootstrap=upload to copy this binary, or bootstrap=none)";
  if (!fs::is_regular_file(a))
    throw CloudError("bootstrap=source: this yolocpp (" + binary.string() + ") has no source archive of its own at " +
                     a.string() + way_out);
  int rc = 0;
  std::string marker = local_cmd("tar -xzOf " + quote::sh(a.string()) + " yolocpp-src/YOLOCPP_SOURCE 2>/dev/null", &rc);
  std::string want = std::string("yolocpp ") + YOLOCPP_VERSION + "\n";
  if (rc != 0 || marker != want)
    throw CloudError("bootstrap=source: " + a.string() + " is not the yolocpp " + YOLOCPP_VERSION +
                     " source tree (its YOLOCPP_SOURCE says '" + trim(marker) + "')" + way_out);
  return a;
}

std::string RemoteTorch::summary() const {
  return "torch " + version + " (" + (cuda == "cpu" ? std::string("CPU only") : "CUDA " + cuda) + ")" +
         (gpu ? "" : ", no NVIDIA GPU");
}

RemoteTorch probe_remote_torch(SshSession& ssh) {
  RemoteTorch t;
  t.gpu = ssh.run("nvidia-smi -L >/dev/null 2>&1").status == 0;
  // The instance's PyTorch first (Lambda Stack): its LibTorch is what a GPU build must link.
  auto py = ssh.run("python3 -c 'import os, torch; p = torch.utils.cmake_prefix_path; "
                    "print(torch.__version__, torch.version.cuda or \"cpu\", "
                    "int(os.path.isdir(os.path.join(p, \"Torch\"))))' 2>/dev/null");
  std::istringstream in(py.out);
  std::string ver, cuda, has_cmake;
  if (py.status == 0 && (in >> ver >> cuda >> has_cmake) && has_cmake == "1") {
    t.version = ver;
    t.cuda = cuda;
    t.cmake_flags = "-DYOLOCPP_TORCH_FROM_PYTHON=ON";
    return t;
  }
  // Else a system LibTorch (Debian/Ubuntu libtorch-dev).
  auto deb = ssh.run("dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null");
  if (deb.status == 0 && !trim(deb.out).empty()) {
    t.version = "deb" + trim(deb.out);
    t.cuda = "cpu";
    return t;
  }
  throw CloudError("bootstrap=source: no LibTorch on " + ssh.target().host_id + " (python3 torch " +
                   (py.status == 0 ? "has no CMake config" : "is not importable") +
                   ", no libtorch-dev): use a Lambda Stack image (PyTorch preinstalled), install torch there, or "
                   "use bootstrap=upload");
}

std::string build_key(const std::string& archive_sha256, const RemoteTorch& t) {
  std::string k = archive_sha256.substr(0, 16) + "-torch" + t.version + "-" + (t.cuda == "cpu" ? "cpu" : "cu" + t.cuda);
  for (char& ch : k)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-') ch = '_';
  return k;
}

std::string bootstrap(SshSession& ssh, const RemoteLayout& l, BootstrapMode mode, const Progress& progress,
                      bool require_gpu) {
  if (mode == BootstrapMode::None) {
    auto r = ssh.run("command -v yolocpp && yolocpp version");
    if (r.status != 0)
      throw CloudError("bootstrap=none but there is no `yolocpp` on the remote PATH of " + ssh.target().host_id +
                       "; use bootstrap=upload or bootstrap=source");
    log::info("remote: {}", trim(r.out.substr(r.out.find('\n') + 1)));
    return "yolocpp";
  }
  if (mode == BootstrapMode::Upload) {
    utsname u{};
    ::uname(&u);
    std::string remote_platform = trim(ssh.check("uname -sm"));
    std::string local_platform = std::string(u.sysname) + " " + u.machine;
    if (remote_platform != local_platform)
      throw CloudError("bootstrap=upload copies this binary, built for " + local_platform + ", but " +
                       ssh.target().host_id + " is " + remote_platform + "; use bootstrap=source");
    fs::path self = self_binary();
    std::string sha = util::sha256_file(self);
    std::string bin = l.store() + "/bin/yolocpp-" + sha.substr(0, 16);
    auto st = upload_resumable(ssh, self, bin, progress);
    ssh.check("chmod +x " + quote::sh(bin));
    auto v = ssh.run(quote::sh(bin) + " version");
    if (v.status != 0)
      throw CloudError("the uploaded binary does not run on " + ssh.target().host_id + ": " + trim(v.out + v.err) +
                       " (missing shared libraries? use bootstrap=source)");
    log::info("remote: {} ({})", trim(v.out), st.skipped ? "already there" : "uploaded " + human_bytes(st.bytes));
    return bin;
  }
  // source: our own tree of this version (verified), built there against the machine's LibTorch.
  fs::path archive = own_source_archive();
  std::string sha = util::sha256_file(archive);
  RemoteTorch torch = probe_remote_torch(ssh);
  if (!torch.gpu || torch.cuda == "cpu") {
    std::string what = "remote " + ssh.target().host_id + ": " + torch.summary();
    if (require_gpu)
      throw CloudError(what + ": a GPU instance with the Lambda Stack image (PyTorch with CUDA) is needed");
    log::warn("{}: training there runs on the CPU", what);
  }
  const std::string key = build_key(sha, torch);
  // <key>/src holds the tree and <key>/src/build the build, the same layout as a checkout (compiler caches
  // keyed on relative paths then see the same paths).
  const std::string dir = l.build_dir(key);
  const std::string bin_abs = dir + "/src/build/bin/yolocpp";
  if (ssh.run("test -x " + quote::sh(bin_abs) + " && " + quote::sh(bin_abs) + " version >/dev/null 2>&1").status == 0) {
    log::info("remote: reusing the yolocpp build {} ({})", key, torch.summary());
    return bin_abs;
  }
  const std::string remote_archive = l.store() + "/src/yolocpp-src-" + sha.substr(0, 16) + ".tar.gz";
  upload_resumable(ssh, archive, remote_archive, progress);
  std::string script =
      "set -e\nD=" + quote::sh(dir) + "\nrm -rf \"$D/src\" && mkdir -p \"$D/src\"\n"
      "tar -xzf " + quote::sh(remote_archive) + " -C \"$D/src\" --strip-components=1\n"
      "grep -qx " + quote::sh(std::string("yolocpp ") + YOLOCPP_VERSION) + " \"$D/src/YOLOCPP_SOURCE\"\n"
      "cd \"$D/src\"\n"
      "# fresh instances hold the apt lock for a while (unattended-upgrades, spec §4.1)\n"
      "sudo -n systemctl stop unattended-upgrades 2>/dev/null || true\n"
      "scripts/install-deps --build-only\n"
      "G=\"\"; command -v ninja >/dev/null && G=\"-G Ninja\"\n"
      "cmake -S . -B build $G -DCMAKE_BUILD_TYPE=Release -DYOLOCPP_TRAIN_ONLY=ON " + torch.cmake_flags + "\n"
      "cmake --build build --target yolocpp_cli -j \"$(nproc)\"\n"
      "build/bin/yolocpp version\n";
  log::info("remote: building yolocpp {} against {} (first job with this version; cached afterwards)", YOLOCPP_VERSION,
            torch.summary());
  std::string err_tail;
  int rc;
  {
    SshSession::Busy busy(ssh, 1800);  // a long compile may print nothing for minutes
    rc = ssh.exec("sh -s", [](std::string_view d) { std::fwrite(d.data(), 1, d.size(), stdout); std::fflush(stdout); },
                  [&](std::string_view d) {
                    std::fwrite(d.data(), 1, d.size(), stderr);
                    err_tail.append(d);
                    if (err_tail.size() > 2000) err_tail.erase(0, err_tail.size() - 2000);
                  },
                  script);
  }
  if (rc != 0) throw CloudError("the remote build of yolocpp failed (exit " + std::to_string(rc) + "): " + trim(err_tail));
  return bin_abs;
}

}  // namespace yolocpp::cloud
