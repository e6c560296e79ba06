#include "yolocpp/cloud/remote.hpp"

#include <cmath>
#include <sstream>

#include "yolocpp/cloud/quote.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cloud {

namespace {
std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}
}  // namespace

std::string remote_home(SshSession& ssh) {
  std::string h = trim(ssh.check("printf '%s\\n' \"$HOME\""));
  if (h.empty() || h[0] != '/') throw CloudError("the remote $HOME on " + ssh.target().host_id + " is not an absolute path: '" + h + "'");
  return h;
}

std::string make_run_script(const RemoteLayout& l, const std::vector<std::string>& train_argv,
                            const std::vector<std::string>& after_argv) {
  std::string s = "#!/bin/sh\n# yolocpp cloud job " + l.name + " (written by yolocpp; safe to read)\n";
  s += "cd " + quote::sh(l.job_dir()) + " || exit 1\n";
  s += "echo $$ > pid.tmp && mv -f pid.tmp pid\n";
  s += quote::join(train_argv) + " >> train.log 2>&1 < /dev/null\n";
  s += "code=$?\n";
  if (!after_argv.empty()) s += "if [ $code -eq 0 ]; then " + quote::join(after_argv) + " >> train.log 2>&1 < /dev/null; code=$?; fi\n";
  s += "echo $code > exit_code.tmp && mv -f exit_code.tmp exit_code\n";
  return s;
}

void start_job(SshSession& ssh, const RemoteLayout& l, const std::string& script) {
  const std::string d = quote::sh(l.job_dir());
  ssh.check("mkdir -p " + d + " && cat > " + d + "/run.sh && chmod +x " + d + "/run.sh && rm -f " + d +
                "/exit_code " + d + "/pid",
            script);
  // The login shell's own streams go to /dev/null first, then a plain simple command is backgrounded: nothing
  // that outlives this exec holds the channel open, under any shell. (`cd D && cmd ... &` does not detach
  // under bash: bash backgrounds the whole && list in a subshell that keeps the channel's stdout/stderr until
  // training ends.) setsid: own session, so no SIGHUP when the SSH session ends.
  ssh.check("cd " + d + " || exit 1; exec < /dev/null > /dev/null 2>&1; setsid nohup sh ./run.sh &");
  for (int i = 0; i < 100; ++i) {
    if (job_status(ssh, l).started) return;
    throw_if_stopped("starting the remote job");
    ssh.run("sleep 0.1");
  }
  throw CloudError("the remote job did not start on " + ssh.target().host_id + " (no pid file in " + l.job_dir() + ")");
}

RemoteStatus job_status(SshSession& ssh, const RemoteLayout& l) {
  const std::string d = quote::sh(l.job_dir());
  std::string out = ssh.check("cd " + d + " 2>/dev/null || exit 0; "
                              "if [ -f pid ]; then echo started; if kill -0 \"$(cat pid)\" 2>/dev/null; then echo running; fi; fi; "
                              "if [ -f exit_code ]; then echo \"exit $(cat exit_code)\"; fi; "
                              "if [ -f train.log ]; then echo \"log $(wc -c < train.log)\"; fi");
  RemoteStatus st;
  std::istringstream in(out);
  std::string w;
  while (in >> w) {
    if (w == "started") st.started = true;
    else if (w == "running") st.running = true;
    else if (w == "exit") {
      int c;
      if (in >> c) st.exit_code = c;
    } else if (w == "log") {
      in >> st.log_bytes;
    }
  }
  return st;
}

void kill_job(SshSession& ssh, const RemoteLayout& l) {
  const std::string d = quote::sh(l.job_dir());
  // run.sh leads its own session/process group (setsid), so -PID reaches the trainer too.
  ssh.run("cd " + d + " 2>/dev/null && [ -f pid ] && p=$(cat pid) && kill -TERM -\"$p\" 2>/dev/null; "
          "sleep 1; [ -n \"$p\" ] && kill -KILL -\"$p\" 2>/dev/null; true");
}

FollowResult follow_log(SshSession& ssh, const RemoteLayout& l, uint64_t& offset,
                        const std::function<void(std::string_view)>& sink, int slice_s) {
  const std::string d = quote::sh(l.job_dir());
  // A quiet slice must end (and its exit status arrive) well within the link's stall time.
  slice_s = std::max(1, std::min(slice_s, static_cast<int>(ssh.target().stall_s / 2)));
  // tail --pid ends once run.sh has exited (after printing the rest); `timeout` bounds one slice.
  std::string cmd = "cd " + d + " && touch train.log && p=$(cat pid 2>/dev/null || echo 1) && timeout " +
                    std::to_string(slice_s) + " tail -c +" + std::to_string(offset + 1) +
                    " --pid=\"$p\" -F train.log 2>/dev/null; echo \"__yolocpp_tail_rc=$?\" >&2";
  std::string err;
  ssh.exec(cmd, [&](std::string_view data) {
    offset += data.size();
    sink(data);
  }, [&](std::string_view e) { err.append(e); });
  FollowResult r;
  r.offset = offset;
  if (err.find("__yolocpp_tail_rc=124") != std::string::npos) return r;  // slice over, job still running
  // tail ended: run.sh is gone. Finished only when exit_code exists and the whole log was delivered.
  RemoteStatus st = job_status(ssh, l);
  r.finished = st.exit_code.has_value() && offset >= st.log_bytes;
  if (!st.exit_code && !st.running && st.started)
    throw CloudError("the remote job in " + l.job_dir() + " stopped without writing its exit code (killed?)");
  return r;
}

bool arm_watchdog(SshSession& ssh, double max_hours) {
  int minutes = std::max(1, static_cast<int>(std::ceil(max_hours * 60)));
  auto r = ssh.run("sudo -n shutdown -h +" + std::to_string(minutes) + " 'yolocpp max_hours reached' 2>&1");
  if (r.status != 0) {
    log::warn("could not arm the remote shutdown watchdog (sudo -n shutdown failed: {}); only this process will "
              "terminate the instance", trim(r.out));
    return false;
  }
  log::info("remote watchdog: the machine shuts down in {} min (max_hours={})", minutes, max_hours);
  return true;
}

}  // namespace yolocpp::cloud
