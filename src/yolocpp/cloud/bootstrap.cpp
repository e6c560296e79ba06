#include "yolocpp/cloud/bootstrap.hpp"

#include <sys/utsname.h>

#include <cstdio>
#include <sstream>

#include "yolocpp/cloud/quote.hpp"
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

std::string source_hash(const fs::path& checkout) {
  int rc = 0;
  std::string files = local_cmd("git -C " + quote::sh(checkout.string()) + " ls-files -z 2>/dev/null", &rc);
  if (rc != 0 || files.empty())
    throw CloudError("bootstrap=source needs this yolocpp source checkout (git ls-files failed in " +
                     checkout.string() + "); run from the checkout, or use bootstrap=upload / bootstrap=none");
  std::string manifest;
  size_t pos = 0;
  while (pos < files.size()) {
    size_t end = files.find('\0', pos);
    std::string f = files.substr(pos, end - pos);
    pos = end + 1;
    fs::path p = checkout / f;
    if (fs::is_regular_file(p)) manifest += f + " " + util::sha256_file(p) + "\n";
  }
  return util::sha256_hex(manifest);
}

fs::path make_source_archive(const fs::path& checkout, const fs::path& out_dir, const std::string& hash) {
  fs::create_directories(out_dir);
  fs::path out = out_dir / ("yolocpp-src-" + hash.substr(0, 16) + ".tar.gz");
  if (fs::exists(out)) return out;
  fs::path tmp = out.string() + ".tmp";
  local_cmd("cd " + quote::sh(checkout.string()) + " && git ls-files -z | tar --null -T - --owner=0 --group=0 "
            "--mtime=@0 -czf " + quote::sh(tmp.string()));
  fs::rename(tmp, out);
  return out;
}

std::string check_gpu_stack(SshSession& ssh) {
  auto drv = ssh.run("nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 | head -1");
  if (drv.status != 0)
    throw CloudError("no NVIDIA driver on " + ssh.target().host_id + " (nvidia-smi: " + trim(drv.out) +
                     "): a GPU instance with the Lambda Stack image is needed, or use bootstrap=none with a CPU build");
  auto torch = ssh.run("python3 -c 'import torch; print(torch.__version__, torch.version.cuda, "
                       "torch.cuda.is_available())' 2>&1");
  if (torch.status != 0)
    throw CloudError("python3 torch is not importable on " + ssh.target().host_id + " (" + trim(torch.out) +
                     "): bootstrap=source builds against the instance's PyTorch LibTorch; install torch or use "
                     "bootstrap=upload");
  std::istringstream in(torch.out);
  std::string ver, cuda, avail;
  in >> ver >> cuda >> avail;
  if (cuda == "None" || avail != "True")
    throw CloudError("the remote torch " + ver + " has no usable CUDA (torch.version.cuda=" + cuda +
                     ", cuda.is_available()=" + avail + ", driver: " + trim(drv.out) + ")");
  return "GPU " + trim(drv.out) + ", torch " + ver + " (CUDA " + cuda + ")";
}

std::string bootstrap(SshSession& ssh, const RemoteLayout& l, BootstrapMode mode, const Progress& progress) {
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
    std::string bin = l.root() + "/bin/yolocpp-" + sha.substr(0, 16);
    auto st = upload_resumable(ssh, self, bin, progress);
    ssh.check("chmod +x " + quote::sh(bin));
    auto v = ssh.run(quote::sh(bin) + " version");
    if (v.status != 0)
      throw CloudError("the uploaded binary does not run on " + ssh.target().host_id + ": " + trim(v.out + v.err) +
                       " (missing shared libraries? use bootstrap=source)");
    log::info("remote: {} ({})", trim(v.out), st.skipped ? "already there" : "uploaded " + human_bytes(st.bytes));
    return bin;
  }
  // source
  fs::path checkout = trim(local_cmd("git rev-parse --show-toplevel 2>/dev/null || true"));
  if (checkout.empty()) checkout = fs::current_path();
  std::string hash = source_hash(checkout);
  std::string h16 = hash.substr(0, 16);
  std::string bin = "$HOME/.cache/yolocpp/build-" + h16 + "/bin/yolocpp";
  std::string bin_abs = l.home + "/.cache/yolocpp/build-" + h16 + "/bin/yolocpp";
  if (ssh.run("test -x " + quote::sh(bin_abs)).status == 0) {
    log::info("remote: reusing the build of this source ({})", h16);
    return bin_abs;
  }
  log::info("remote: {}", check_gpu_stack(ssh));
  fs::path archive = make_source_archive(checkout, util::cache_dir() / "src", hash);
  std::string src = l.home + "/.cache/yolocpp/src-" + h16;
  upload_resumable(ssh, archive, l.root() + "/src/" + archive.filename().string(), progress);
  std::string script =
      "set -e\nmkdir -p " + quote::sh(src) + "\ntar -xzf " + quote::sh(l.root() + "/src/" + archive.filename().string()) +
      " -C " + quote::sh(src) + "\ncd " + quote::sh(src) +
      "\n# fresh instances hold the apt lock for a while (unattended-upgrades, spec §4.1)\n"
      "sudo -n systemctl stop unattended-upgrades 2>/dev/null || true\n"
      "if [ -x scripts/install-deps ]; then scripts/install-deps; fi\n"
      "cmake -S . -B " + quote::sh(l.home + "/.cache/yolocpp/build-" + h16) +
      " -G Ninja -DCMAKE_BUILD_TYPE=Release -DYOLOCPP_TORCH_FROM_PYTHON=ON -DYOLOCPP_BENCH=OFF\n"
      "cmake --build " + quote::sh(l.home + "/.cache/yolocpp/build-" + h16) + " --target yolocpp_cli\n";
  log::info("remote: building yolocpp {} (first time for this source; cached afterwards)", h16);
  std::string err_tail;
  int rc = ssh.exec("sh -s", [](std::string_view d) { std::fwrite(d.data(), 1, d.size(), stdout); std::fflush(stdout); },
                    [&](std::string_view d) {
                      std::fwrite(d.data(), 1, d.size(), stderr);
                      err_tail.append(d);
                      if (err_tail.size() > 2000) err_tail.erase(0, err_tail.size() - 2000);
                    },
                    script);
  if (rc != 0) throw CloudError("the remote build of yolocpp failed (exit " + std::to_string(rc) + "): " + trim(err_tail));
  return bin_abs;
}

}  // namespace yolocpp::cloud
