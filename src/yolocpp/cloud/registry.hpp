// Local registry of cloud jobs and the instances yolocpp launched for them: one JSON file per job in
// config_dir()/jobs (atomic writes). It is what `cloud ls`, `cloud down` and `cloud gc` read, and it is
// written *before* a launch request (state "launching" with the chosen instance name), so a crash between
// the request and its answer still leaves a record to clean up from (spec §3.3). Instance names are
// "yolocpp-<job id>": recognisable as ours even when the registry is lost.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace yolocpp::cloud {

struct InstanceRecord {
  std::string id;      // "" until the launch answered (or the instance was found by name)
  std::string name;    // yolocpp-<job id>
  std::string region, type;
  int64_t price_cents_per_hour = 0;
  double launched_at = 0;     // unix seconds of the launch request
  double terminated_at = 0;   // 0 while not terminated
  std::string status;         // last status seen
};

struct JobRecord {
  std::string id;             // job id (see new_job_id)
  std::string provider = "lambda";  // whose API the instance belongs to (CloudProvider::name); "" for host= jobs
  std::string name;           // run name (runs/detect/NAME)
  std::string state;          // see is_live_state
  double created_at = 0, updated_at = 0;
  std::string host;           // user@addr[:port] for host= jobs (no instance)
  std::string remote_dir;     // job folder on the machine
  std::optional<InstanceRecord> instance;
  int pid = 0;                // local process driving the job
  std::string pid_start;      // its start time (/proc/PID/stat), so a reused pid is not taken for it
  bool keep = false;          // keep=True: the instance is meant to outlive the job
  nlohmann::json extra = nlohmann::json::object();  // free-form fields of the job code
};

// Live states own their instance (gc must not touch it while the client driving it is alive): launching,
// starting, bootstrapping, uploading, training, downloading, terminating, kept, download-failed (the results
// are still only on the instance: kept until `cloud attach` fetches them or `cloud down`). Finished: done,
// failed, cancelled, terminated, terminate-failed (the terminate was never confirmed: gc finishes it).
bool is_live_state(const std::string& state);

class Registry {
 public:
  explicit Registry(std::filesystem::path dir = default_dir());
  static std::filesystem::path default_dir();  // config_dir()/jobs
  const std::filesystem::path& dir() const { return dir_; }

  void save(JobRecord job);  // sets updated_at (and created_at when 0); atomic
  std::optional<JobRecord> load(const std::string& job_id) const;
  std::vector<JobRecord> list() const;  // oldest first; unreadable files are skipped with a warning
  void remove(const std::string& job_id);
  // By job id, run name, instance id or instance name (the most recent job when a name repeats).
  std::optional<JobRecord> find(const std::string& name_or_id) const;
  // The job whose instance has this id (or name).
  std::optional<JobRecord> owner_of(const std::string& instance_id_or_name) const;

  // "20260921-143015-a1b2c3": sortable, unique enough, and short (instance names must stay <= 64).
  static std::string new_job_id();
  static std::string instance_name(const std::string& job_id);  // "yolocpp-" + job id
  // The job id from an instance name we made; nullopt for other names.
  static std::optional<std::string> job_id_from_instance_name(const std::string& name);

 private:
  std::filesystem::path path_of(const std::string& job_id) const;
  std::filesystem::path dir_;
};

// The start time of a process as /proc/PID/stat gives it ("" when there is no such process).
std::string process_start_token(int pid);
// The job's driving process is still the one that wrote the record.
bool driver_alive(const JobRecord& j);

nlohmann::json to_json(const JobRecord& j);
JobRecord job_from_json(const nlohmann::json& j);

}  // namespace yolocpp::cloud
