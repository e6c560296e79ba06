#include "yolocpp/cloud/autodown.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "yolocpp/cloud/quote.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cloud {

namespace {

// The watchdog itself (POSIX sh + curl + python3 for one JSON lookup; all on Lambda's Ubuntu images and RunPod's
// official images). Its settings come from ./config (no secret there); the key is read from the key file at each
// API call. The provider's my_id/terminate functions (CloudProvider::watchdog_api) go where the marker is.
const char* kWatchdog = R"SH(#!/bin/sh
# yolocpp autodown watchdog (written by yolocpp; safe to read). Terminates this machine through its provider's
# API when max_hours or the budget is reached, or when no training ran and nothing happened for the idle
# time. It stops by itself once the key file is gone (the yolocpp client deletes it at the end of its job).
D=$(cd "$(dirname "$0")" && pwd)
H=$(cd "$D/../.." && pwd)
. "$D/config"
KEY="$H/.config/yolocpp/$KEYFILE"
JOBS="$H/yolocpp/jobs"
echo $$ > "$D/pid"
START=$(date +%s)
log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $*" >> "$D/autodown.log"; }
# The key goes to curl on stdin as a config line (printf is a shell builtin): never into any argv.
api() {
  k=$(cat "$KEY" 2>/dev/null)
  [ -n "$k" ] || return 1
  if [ -n "${3:-}" ]; then
    printf 'header = "Authorization: Bearer %s"\n' "$k" | curl -sS -m 30 -K - -A yolocpp-autodown \
      -X "$1" -H 'Content-Type: application/json' --data "$3" "$API$2"
  else
    printf 'header = "Authorization: Bearer %s"\n' "$k" | curl -sS -m 30 -K - -A yolocpp-autodown "$API$2"
  fi
}
@PROVIDER_FUNCTIONS@mtime() { stat -c %Y "$1" 2>/dev/null || echo 0; }
log "armed for $NAME: max_s=$MAX_S budget_cents=$BUDGET_C idle_s=$IDLE_S every_s=$EVERY"
while [ -f "$KEY" ]; do
  now=$(date +%s)
  el=$((now - LAUNCH))
  reason=""
  ahead=$((el + EVERY + 15))
  if [ "$MAX_S" -gt 0 ] && [ "$ahead" -ge "$MAX_S" ]; then reason="max_hours reached ($el s since the launch request)"; fi
  # Billing counts every started GRAN seconds (Lambda: minutes, RunPod: seconds): stop before the unit that
  # would pass the budget begins.
  if [ -z "$reason" ] && [ "$BUDGET_C" -gt 0 ] && [ $(( (ahead + GRAN - 1) / GRAN * GRAN * CENTS )) -gt $((BUDGET_C * 3600)) ]; then
    reason="budget reached (${el} s since the launch request at $CENTS cents/h)"
  fi
  busy=0
  for p in "$JOBS"/*/pid; do
    [ -f "$p" ] || continue
    j=$(dirname "$p")
    [ -f "$j/exit_code" ] && continue
    kill -0 "$(cat "$p" 2>/dev/null)" 2>/dev/null && busy=1
  done
  last=$START
  for f in "$D/heartbeat" "$JOBS"/*/exit_code "$JOBS"/*/train.log "$H"/yolocpp/data/*.part "$H"/.cache/yolocpp/build-*/.ninja_log; do
    t=$(mtime "$f")
    [ "$t" -gt "$last" ] && last=$t
  done
  if [ -z "$reason" ] && [ "$busy" = 0 ] && [ $((now - last)) -ge "$IDLE_S" ]; then
    reason="nothing ran for $((now - last)) s (autodown after ${IDLE_S} s idle)"
  fi
  if [ -n "$reason" ] && terminate "$reason"; then sleep 30; continue; fi
  sleep "$EVERY"
done
log "key file removed: the yolocpp client ended the job; watchdog stops"
rm -f "$D/pid"
)SH";

std::string config_text(const AutodownPlan& p) {
  const int64_t max_s = p.max_hours > 0 ? static_cast<int64_t>(std::ceil(p.max_hours * 3600)) : 0;
  const int64_t budget_c = p.budget_usd > 0 ? static_cast<int64_t>(std::floor(p.budget_usd * 100)) : 0;
  const int64_t idle_s = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(p.idle_minutes * 60)));
  return fmt::format("API={}\nNAME={}\nLAUNCH={}\nCENTS={}\nBUDGET_C={}\nMAX_S={}\nIDLE_S={}\nEVERY={}\nGRAN={}\n"
                     "KEYFILE={}\n",
                     quote::sh(p.api_url), quote::sh(p.instance_name), static_cast<int64_t>(p.launch_epoch),
                     p.price_cents_per_hour, budget_c, max_s, idle_s, static_cast<int64_t>(p.every_s()),
                     std::max(1, p.billing_granularity_s), quote::sh(p.key_file_name));
}

}  // namespace

double AutodownPlan::every_s() const { return std::clamp(std::floor(idle_minutes * 60 / 4), 1.0, 30.0); }

std::string watchdog_script(const AutodownPlan& p) {
  std::string w = kWatchdog;
  const std::string mark = "@PROVIDER_FUNCTIONS@";
  w.replace(w.find(mark), mark.size(), p.shell_functions);
  return w;
}

std::string autodown_user_data(const AutodownPlan& p) {
  std::string s = "#!/bin/bash\n"
                  "# yolocpp autodown for " + p.instance_name + ": installs and starts the instance's dead-man's switch\n"
                  "# (see the yolocpp README, section Cloud). cloud-init runs this as root at first boot.\n";
  s += "U=" + quote::sh(p.login_user) + "\n";
  s += "if [ \"$(id -u)\" = 0 ] && [ \"$U\" != root ] && id \"$U\" >/dev/null 2>&1; then\n"
       "  H=$(getent passwd \"$U\" | cut -d: -f6); AS=\"runuser -u $U --\"\n"
       "else\n"
       "  H=$HOME; AS=\"\"; U=$(id -un)\n"
       "fi\n"
       "umask 077\n"
       "mkdir -p \"$H/.config/yolocpp\" \"$H/yolocpp/autodown\" || exit 1\n";
  // printf is a builtin: the key is in no process's argv, only in the 0600 file.
  const std::string kf = "\"$H/.config/yolocpp/" + p.key_file_name;
  s += "printf '%s\\n' " + quote::sh(p.api_key) + " > " + kf + ".tmp\" && mv -f " + kf + ".tmp\" " + kf + "\"\n";
  s += "cat > \"$H/yolocpp/autodown/config\" <<'YOLOCPP_CFG'\n" + config_text(p) + "YOLOCPP_CFG\n";
  s += "cat > \"$H/yolocpp/autodown/watchdog.sh\" <<'YOLOCPP_WD'\n" + watchdog_script(p) + "YOLOCPP_WD\n";
  s += "if [ \"$(id -u)\" = 0 ] && [ \"$U\" != root ]; then chown -R \"$U\" \"$H/.config/yolocpp\" \"$H/yolocpp\"; fi\n";
  // An old watchdog of an earlier job on this machine (host= reuse) gives way to this one.
  s += "if [ -f \"$H/yolocpp/autodown/pid\" ]; then kill \"$(cat \"$H/yolocpp/autodown/pid\")\" 2>/dev/null; fi\n";
  s += "rm -f \"$H/yolocpp/autodown/instance_id\"\n";
  // One simple command with its own redirections (the script may itself be read from stdin, `bash -s`, so
  // the shell's stdin must stay as it is): nothing of this script's channel stays open in the watchdog.
  s += "$AS setsid nohup sh \"$H/yolocpp/autodown/watchdog.sh\" < /dev/null > /dev/null 2>&1 &\n";
  return s;
}

std::string autodown_heartbeat_cmd() {
  return "mkdir -p \"$HOME/yolocpp/autodown\" && touch \"$HOME/yolocpp/autodown/heartbeat\"";
}

bool ensure_autodown(SshSession& ssh, const AutodownPlan& p, const std::string& instance_id) {
  const std::string running =
      "p=$(cat \"$HOME/yolocpp/autodown/pid\" 2>/dev/null) && [ -n \"$p\" ] && kill -0 \"$p\" 2>/dev/null && "
      "grep -qx " + quote::sh("NAME=" + quote::sh(p.instance_name)) + " \"$HOME/yolocpp/autodown/config\"";
  if (ssh.run(running).status != 0) {
    // Not armed by user_data (host= machine, instance=, an image without cloud-init, or it died): arm now.
    // The script, key included, goes on stdin.
    ssh.check("bash -s", autodown_user_data(p));
    bool up = false;
    for (int i = 0; i < 50 && !up; ++i) {
      up = ssh.run(running).status == 0;
      if (!up) ssh.run("sleep 0.1");
    }
    if (!up) {
      log::warn("the autodown watchdog did not start on {}: only this process guards the instance now",
                ssh.target().host_id);
      return false;
    }
    log::info("autodown watchdog armed over SSH on {}", ssh.target().host_id);
  }
  if (!instance_id.empty())
    ssh.check("printf '%s\\n' " + quote::sh(instance_id) + " > \"$HOME/yolocpp/autodown/instance_id\"");
  ssh.run(autodown_heartbeat_cmd());
  return true;
}

void disarm_autodown(SshSession& ssh, const std::string& key_file_name) {
  const std::string k = "\"$HOME/.config/yolocpp/" + key_file_name;
  ssh.run("rm -f " + k + "\" " + k + ".tmp\"; "
          "p=$(cat \"$HOME/yolocpp/autodown/pid\" 2>/dev/null) && kill \"$p\" 2>/dev/null; true");
}

}  // namespace yolocpp::cloud
