// Upload throughput: yolocpp's upload path (exec channel, cloud/sftp.hpp) vs OpenSSH `scp` to the same sshd,
// in one run, printing the ratio (target >= 0.8x). Starts its own sshd on 127.0.0.1 in a temp folder (like
// tests/cloud/sshd_fixture), or uses host=user@addr[:port] ssh_key=FILE when given.
//   bench_upload [mb=64] [reps=3] [host=user@addr:port ssh_key=FILE]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "yolocpp/cloud/quote.hpp"
#include "yolocpp/util/net.hpp"
#include "yolocpp/cloud/sftp.hpp"
#include "yolocpp/cloud/ssh.hpp"

namespace fs = std::filesystem;
using namespace yolocpp;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int sh(const std::string& cmd) { return std::system(cmd.c_str()); }


struct LocalSshd {
  fs::path dir;
  int port = 0;
  pid_t pid = -1;
  LocalSshd() {
    dir = fs::temp_directory_path() / ("yolocpp-bench-sshd-" + std::to_string(::getpid()));
    fs::create_directories(dir / "home");
    std::string d = cloud::quote::sh(dir.string());
    if (sh("ssh-keygen -q -t ed25519 -N '' -f " + d + "/host -C h && ssh-keygen -q -t ed25519 -N '' -f " + d +
           "/client -C c && cp " + d + "/client.pub " + d + "/authorized_keys") != 0)
      throw std::runtime_error("ssh-keygen failed");
    port = util::free_loopback_port();
    std::ofstream c(dir / "sshd_config");
    c << "Port " << port << "\nListenAddress 127.0.0.1\nHostKey " << (dir / "host").string()
      << "\nPidFile " << (dir / "pid").string() << "\nAuthorizedKeysFile " << (dir / "authorized_keys").string()
      << "\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nPermitRootLogin prohibit-password\n"
      << "Subsystem sftp internal-sftp\nSetEnv HOME=" << (dir / "home").string() << "\n";
    c.close();
    if (::getuid() == 0) fs::create_directories("/run/sshd");
    pid = ::fork();
    if (pid == 0) {
      std::string cfg = (dir / "sshd_config").string();
      std::string log = (dir / "sshd.log").string();
      ::execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-E", log.c_str(), "-f", cfg.c_str(), (char*)nullptr);
      ::_exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ~LocalSshd() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto eq = s.find('=');
    if (eq != std::string::npos) a[s.substr(0, eq)] = s.substr(eq + 1);
  }
  size_t mb = a.count("mb") ? std::stoul(a["mb"]) : 64;
  int reps = a.count("reps") ? std::stoi(a["reps"]) : 3;

  std::unique_ptr<LocalSshd> local;
  cloud::SshTarget t;
  fs::path kh = fs::temp_directory_path() / ("yolocpp-bench-kh-" + std::to_string(::getpid()));
  if (a.count("host")) {
    t = cloud::parse_host(a["host"], 22);
    if (a.count("ssh_key")) t.key_file = a["ssh_key"];
  } else {
    local = std::make_unique<LocalSshd>();
    const char* u = std::getenv("USER");
    t = cloud::parse_host(std::string(u && *u ? u : "root") + "@127.0.0.1:" + std::to_string(local->port), 22);
    t.key_file = local->dir / "client";
  }
  t.known_hosts = kh;

  fs::path file = fs::temp_directory_path() / ("yolocpp-bench-upload-" + std::to_string(::getpid()) + ".bin");
  {
    std::mt19937_64 rng(1);
    std::vector<uint64_t> buf(1 << 17);  // 1 MiB of incompressible data per write
    std::ofstream out(file, std::ios::binary);
    for (size_t i = 0; i < mb; ++i) {
      for (auto& x : buf) x = rng();
      out.write(reinterpret_cast<const char*>(buf.data()), buf.size() * 8);
    }
  }
  const double bytes = static_cast<double>(fs::file_size(file));

  cloud::SshSession ssh(t);
  ssh.connect();
  std::vector<double> ours, scp;
  for (int r = 0; r < reps; ++r) {
    ssh.check("rm -f \"$HOME\"/bench-ours.bin \"$HOME\"/bench-ours.bin.part \"$HOME\"/bench-scp.bin");
    double t0 = now_s();
    cloud::upload(ssh, file, "~/bench-ours.bin");  // includes both sha256 checks, as the job does
    ours.push_back(bytes / (now_s() - t0) / (1 << 20));

    std::string dest = t.user + "@" + t.host + ":bench-scp.bin";
    std::string cmd = "scp -q -P " + std::to_string(t.port) + " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null" +
                      (t.key_file.empty() ? "" : " -i " + cloud::quote::sh(t.key_file.string())) + " " +
                      cloud::quote::sh(file.string()) + " " + cloud::quote::sh(dest);
    t0 = now_s();
    if (sh(cmd) != 0) {
      std::fprintf(stderr, "scp failed: %s\n", cmd.c_str());
      return 1;
    }
    scp.push_back(bytes / (now_s() - t0) / (1 << 20));
    std::printf("rep %d: yolocpp %.1f MiB/s, scp %.1f MiB/s\n", r + 1, ours.back(), scp.back());
  }
  std::sort(ours.begin(), ours.end());
  std::sort(scp.begin(), scp.end());
  double o = ours[ours.size() / 2], s = scp[scp.size() / 2];
  std::printf("upload %zu MiB to %s (median of %d): yolocpp %.1f MiB/s (upload + remote sha256 verify), "
              "OpenSSH scp %.1f MiB/s, ratio %.2fx (target >= 0.8x)\n",
              mb, t.host_id.c_str(), reps, o, s, o / s);
  ssh.check("rm -f \"$HOME\"/bench-ours.bin \"$HOME\"/bench-scp.bin");
  fs::remove(file);
  fs::remove(kh);
  return 0;
}
