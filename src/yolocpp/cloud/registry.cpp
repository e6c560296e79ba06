#include "yolocpp/cloud/registry.hpp"

#include <fstream>
#include <sstream>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>

#include "yolocpp/cloud/secrets.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cloud {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool valid_job_id(const std::string& id) {
  if (id.empty() || id.size() > 48) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return std::isalnum((unsigned char)c) || c == '-' || c == '_'; });
}

}  // namespace

bool is_live_state(const std::string& s) {
  static const char* live[] = {"launching", "starting", "bootstrapping", "uploading", "training",
                               "downloading", "terminating", "kept", "running", "download-failed"};
  for (const char* l : live)
    if (s == l) return true;
  return false;
}

std::string process_start_token(int pid) {
  if (pid <= 0) return "";
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return "";
  // Field 22 (starttime), counted after the ")" that ends the command name (which may hold spaces).
  auto close = line.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream f(line.substr(close + 1));
  std::string w;
  for (int field = 3; field <= 22 && (f >> w); ++field)
    if (field == 22) return w;
  return "";
}

bool driver_alive(const JobRecord& j) {
  if (j.pid <= 0) return false;
  std::string now = process_start_token(j.pid);
  if (now.empty()) return false;
  return j.pid_start.empty() || now == j.pid_start;
}

json to_json(const JobRecord& j) {
  json o = {{"id", j.id},           {"provider", j.provider}, {"name", j.name},       {"state", j.state}, {"created_at", j.created_at},
            {"updated_at", j.updated_at}, {"host", j.host}, {"remote_dir", j.remote_dir}, {"pid", j.pid}, {"pid_start", j.pid_start},
            {"keep", j.keep},       {"extra", j.extra}};
  if (j.instance) {
    const auto& i = *j.instance;
    o["instance"] = {{"id", i.id},
                     {"name", i.name},
                     {"region", i.region},
                     {"type", i.type},
                     {"price_cents_per_hour", i.price_cents_per_hour},
                     {"launched_at", i.launched_at},
                     {"terminated_at", i.terminated_at},
                     {"status", i.status}};
  } else {
    o["instance"] = nullptr;
  }
  return o;
}

JobRecord job_from_json(const json& o) {
  JobRecord j;
  j.id = o.value("id", "");
  j.provider = o.value("provider", "lambda");  // records written before RunPod existed are Lambda's
  j.name = o.value("name", "");
  j.state = o.value("state", "");
  j.created_at = o.value("created_at", 0.0);
  j.updated_at = o.value("updated_at", 0.0);
  j.host = o.value("host", "");
  j.remote_dir = o.value("remote_dir", "");
  j.pid = o.value("pid", 0);
  j.pid_start = o.value("pid_start", "");
  j.keep = o.value("keep", false);
  if (o.contains("extra") && o["extra"].is_object()) j.extra = o["extra"];
  if (o.contains("instance") && o["instance"].is_object()) {
    const json& i = o["instance"];
    InstanceRecord r;
    r.id = i.value("id", "");
    r.name = i.value("name", "");
    r.region = i.value("region", "");
    r.type = i.value("type", "");
    r.price_cents_per_hour = i.value("price_cents_per_hour", (int64_t)0);
    r.launched_at = i.value("launched_at", 0.0);
    r.terminated_at = i.value("terminated_at", 0.0);
    r.status = i.value("status", "");
    j.instance = r;
  }
  return j;
}

Registry::Registry(fs::path dir) : dir_(std::move(dir)) {}

fs::path Registry::default_dir() { return config_dir() / "jobs"; }

fs::path Registry::path_of(const std::string& job_id) const {
  if (!valid_job_id(job_id))
    throw CloudError("invalid job id '" + job_id + "' (letters, digits, '-' and '_' only, at most 48)");
  return dir_ / (job_id + ".json");
}

void Registry::save(JobRecord job) {
  fs::path p = path_of(job.id);
  double now = unix_now();
  if (job.created_at == 0) job.created_at = now;
  job.updated_at = now;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw IoError("cannot create the cloud job registry " + dir_.string() + ": " + ec.message());
  util::atomic_write(p, to_json(job).dump(2) + "\n");
}

std::optional<JobRecord> Registry::load(const std::string& job_id) const {
  fs::path p = path_of(job_id);
  if (!fs::exists(p)) return std::nullopt;
  json o = json::parse(util::read_file(p), nullptr, false);
  if (o.is_discarded() || !o.is_object())
    throw CloudError("cloud job record " + p.string() + " is not valid JSON; delete it if the job is gone");
  return job_from_json(o);
}

std::vector<JobRecord> Registry::list() const {
  std::vector<JobRecord> out;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    if (e.path().extension() != ".json") continue;
    json o = json::parse(util::read_file(e.path()), nullptr, false);
    if (o.is_discarded() || !o.is_object()) {
      log::warn("skipping unreadable cloud job record {}", e.path().string());
      continue;
    }
    out.push_back(job_from_json(o));
  }
  std::sort(out.begin(), out.end(), [](const JobRecord& a, const JobRecord& b) {
    return a.created_at != b.created_at ? a.created_at < b.created_at : a.id < b.id;
  });
  return out;
}

void Registry::remove(const std::string& job_id) {
  std::error_code ec;
  fs::remove(path_of(job_id), ec);
}

std::optional<JobRecord> Registry::find(const std::string& key) const {
  std::optional<JobRecord> hit;
  for (auto& j : list()) {
    bool m = j.id == key || j.name == key ||
             (j.instance && (j.instance->id == key || (!j.instance->name.empty() && j.instance->name == key)));
    if (m) hit = j;  // list() is oldest first: the last match is the most recent
  }
  return hit;
}

std::optional<JobRecord> Registry::owner_of(const std::string& key) const {
  std::optional<JobRecord> hit;
  for (auto& j : list())
    if (j.instance && ((!j.instance->id.empty() && j.instance->id == key) || j.instance->name == key)) hit = j;
  return hit;
}

std::string Registry::new_job_id() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  std::random_device rd;
  std::mt19937 rng(rd() ^ (unsigned)::getpid());
  char hex[8];
  std::snprintf(hex, sizeof hex, "%06x", (unsigned)(rng() & 0xffffff));
  return std::string(buf) + "-" + hex;
}

std::string Registry::instance_name(const std::string& job_id) { return "yolocpp-" + job_id; }

std::optional<std::string> Registry::job_id_from_instance_name(const std::string& name) {
  const std::string prefix = "yolocpp-";
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) return std::nullopt;
  std::string id = name.substr(prefix.size());
  if (!valid_job_id(id)) return std::nullopt;
  return id;
}

}  // namespace yolocpp::cloud
