#include "cloud/fake_lambda.hpp"

#include <httplib.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

namespace yolocpp::test {

using nlohmann::json;

namespace {

struct TypeInfo {
  std::string name, description, gpu;
  int cents, vcpus, mem, storage, gpus;
};

// Prices of the 2026-09-20 snapshot (spec §2.5), specs from the API fixture.
const std::vector<TypeInfo>& catalogue() {
  static const std::vector<TypeInfo> c = {
      {"gpu_1x_a10", "1x A10 (24 GB PCIe)", "A10 (24 GB PCIe)", 129, 30, 200, 1400, 1},
      {"gpu_1x_a100_sxm4", "1x A100 (40 GB SXM4)", "A100 (40 GB SXM4)", 199, 30, 200, 512, 1},
      {"gpu_1x_h100_pcie", "1x H100 (80 GB PCIe)", "H100 (80 GB PCIe)", 329, 26, 200, 1024, 1},
      {"gpu_1x_h100_sxm5", "1x H100 (80 GB SXM5)", "H100 (80 GB SXM5)", 429, 26, 225, 2816, 1},
      {"gpu_8x_a100", "8x A100 (40 GB SXM4)", "A100 (40 GB SXM4)", 1592, 124, 1800, 5916, 8},
  };
  return c;
}

const std::map<std::string, std::string>& region_names() {
  static const std::map<std::string, std::string> r = {
      {"us-west-2", "Arizona, USA"},  {"us-east-1", "Virginia, USA"}, {"us-south-1", "Texas, USA"},
      {"us-west-1", "California, USA"}, {"europe-central-1", "Germany"}, {"asia-northeast-1", "Tokyo, Japan"}};
  return r;
}

json region_json(const std::string& code) {
  auto it = region_names().find(code);
  return {{"name", code}, {"description", it == region_names().end() ? code : it->second}};
}

json type_json(const TypeInfo& t) {
  return {{"name", t.name},
          {"description", t.description},
          {"gpu_description", t.gpu},
          {"price_cents_per_hour", t.cents},
          {"specs", {{"vcpus", t.vcpus}, {"memory_gib", t.mem}, {"storage_gib", t.storage}, {"gpus", t.gpus}}}};
}

const TypeInfo* find_type(const std::vector<TypeInfo>& types, const std::string& name) {
  for (const auto& t : types)
    if (t.name == name) return &t;
  return nullptr;
}

std::string hex32(std::mt19937_64& rng) {
  static const char* h = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 32; ++i) s += h[rng() % 16];
  return s;
}

std::string b64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out += t[(val >> bits) & 0x3F];
      bits -= 6;
    }
  }
  if (bits > -6) out += t[((val << 8) >> (bits + 8)) & 0x3F];
  while (out.size() % 4) out += '=';
  return out;
}

struct Fault {
  int n = 0;
  std::string prefix;
  int retry_after = -1;
};

struct Key {
  std::string id, name, public_key;
};

}  // namespace

struct FakeLambda::Impl {
  httplib::Server svr;
  std::thread thread;
  std::mutex mu;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  std::mt19937_64 rng{12345};
  Options opt;
  std::map<std::string, std::vector<std::string>> capacity = {
      {"gpu_1x_a100_sxm4", {"us-west-2", "us-east-1", "us-south-1"}},
      {"gpu_1x_a10", {"us-east-1"}},
      {"gpu_8x_a100", {"us-west-1"}}};
  std::vector<std::string> refused_regions;
  int hang_n = 0;
  double hang_s = 0;
  Fault f429, f5xx;
  int fail_terminate_n = 0;
  std::vector<TypeInfo> types = catalogue();
  double list_delay_s = 0;
  int odd_n = 0;
  std::string odd_body;
  std::vector<pid_t> user_data_pids;
  std::vector<FakeInstance> insts;  // in launch order
  std::vector<Key> keys;
  std::vector<FakeFilesystem> fss;
  std::vector<FakeEvent> events;
  std::vector<std::string> lines, auths;
  int launch_posts = 0;

  double now() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
  void event(const std::string& what, const std::string& detail) { events.push_back({now(), what, detail}); }

  // Status as a function of time: the ledger keeps timestamps, the status follows from them.
  void refresh(FakeInstance& i) {
    double t = now();
    if (i.terminate_requested_at >= 0) {
      if (t >= i.terminate_requested_at + opt.terminate_s) {
        if (i.status != "terminated") {
          i.terminated_at = i.terminate_requested_at + opt.terminate_s;
          event("terminated", i.id);
          i.status = "terminated";
          lose_local_state(i);
        }
        i.status = "terminated";
      } else {
        i.status = "terminating";
      }
    } else if (t >= i.active_at) {
      if (i.status != "active") {
        event("active", i.id);
        mount(i);
        run_user_data(i);
      }
      i.status = "active";
    } else {
      i.status = "booting";
    }
  }

  FakeFilesystem* filesystem(const std::string& name) {
    for (auto& f : fss)
      if (f.name == name) return &f;
    return nullptr;
  }
  bool in_use(const std::string& name, const FakeInstance* except = nullptr) {
    for (const auto& i : insts)
      if (&i != except && i.status != "terminated" &&
          std::find(i.file_systems.begin(), i.file_systems.end(), name) != i.file_systems.end())
        return true;
    return false;
  }
  // The NFS mount appears with the running instance (as a link to the filesystem's files).
  void mount(const FakeInstance& i) {
    if (opt.nfs_dir.empty()) return;
    namespace fs = std::filesystem;
    std::error_code ec;
    for (const auto& name : i.file_systems)
      if (FakeFilesystem* f = filesystem(name)) {
        fs::path store = fs::path(opt.nfs_dir) / ".store" / f->id;
        fs::create_directories(store, ec);
        if (!fs::is_symlink(f->mount_point)) fs::create_directory_symlink(store, f->mount_point, ec);
      }
  }
  // Terminated: its mounts go (unless another running instance holds them), and with them its local disk.
  void lose_local_state(const FakeInstance& i) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!opt.nfs_dir.empty())
      for (const auto& name : i.file_systems)
        if (FakeFilesystem* f = filesystem(name); f && !in_use(name, &i)) fs::remove(f->mount_point, ec);
    if (opt.wipe_home_on_terminate && !opt.user_home.empty())
      for (const auto& e : fs::directory_iterator(opt.user_home, ec)) fs::remove_all(e.path(), ec);
  }
  json filesystem_json(const FakeFilesystem& f) {
    return {{"id", f.id},
            {"name", f.name},
            {"mount_point", f.mount_point},
            {"created", "2026-12-03T10:00:00+00:00"},
            {"created_by", {{"id", "u1"}, {"email", "user@example.com"}, {"status", "active"}}},
            {"is_in_use", in_use(f.name)},
            {"region", region_json(f.region)}};
  }
  std::string make_filesystem(const std::string& name, const std::string& region) {
    FakeFilesystem f;
    f.id = hex32(rng);
    f.name = name;
    f.region = region;
    f.mount_point = opt.nfs_dir.empty() ? "/lambda/nfs/" + name : opt.nfs_dir + "/" + name;
    f.created_at = now();
    fss.push_back(f);
    event("filesystem-create", f.id);
    return f.id;
  }

  // cloud-init's part: the user_data script, fed to bash on stdin (never written to a file by the fake).
  void run_user_data(const FakeInstance& i) {
    for (pid_t& p : user_data_pids)
      if (p > 0 && ::waitpid(p, nullptr, WNOHANG) == p) p = -1;
    if (i.user_data.empty() || opt.user_home.empty()) return;
    int fds[2];
    if (::pipe(fds) != 0) return;
    // Everything the child needs is prepared before fork(): only async-signal-safe calls happen in between.
    std::string home = "HOME=" + opt.user_home, path = "PATH=" + opt.user_path;
    char* envp[] = {home.data(), path.data(), nullptr};
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setsid();
      ::dup2(fds[0], 0);
      ::close(fds[0]);
      ::close(fds[1]);
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::execle("/bin/bash", "bash", "-s", (char*)nullptr, envp);
      ::_exit(127);
    }
    ::close(fds[0]);
    if (pid > 0) {
      ::signal(SIGPIPE, SIG_IGN);
      size_t off = 0;
      while (off < i.user_data.size()) {
        ssize_t w = ::write(fds[1], i.user_data.data() + off, i.user_data.size() - off);
        if (w <= 0) break;
        off += static_cast<size_t>(w);
      }
      user_data_pids.push_back(pid);
      event("user_data", i.id);
    }
    ::close(fds[1]);
  }
  bool listed(const FakeInstance& i) const { return now() >= i.launched_at + list_delay_s; }
  json instance_json(FakeInstance& i) {
    refresh(i);
    const TypeInfo* t = find_type(types, i.type);
    auto action = [&](bool ok, const std::string& reason) {
      json a = {{"available", ok}};
      if (!ok) a["reason_code"] = reason, a["reason_description"] = "Not available: " + reason;
      return a;
    };
    bool booting = i.status == "booting", going = i.status == "terminating" || i.status == "terminated";
    std::string why = booting ? "vm-has-not-launched" : "vm-is-terminating";
    json j = {{"id", i.id},
              {"status", i.status},
              {"ssh_key_names", json::array({i.ssh_key_name})},
              {"file_system_names", i.file_systems},
              {"region", region_json(i.region)},
              {"instance_type", type_json(*t)},
              {"hostname", i.hostname},
              {"is_reserved", false},
              {"actions",
               {{"migrate", action(false, "vm-is-too-old")},
                {"rebuild", action(!booting && !going, why)},
                {"restart", action(!booting && !going, why)},
                {"cold_reboot", action(!booting && !going, why)},
                {"terminate", action(!booting && !going, why)}}}};
    if (!i.name.empty()) j["name"] = i.name;  // optional in the spec: absent when not given
    if (i.status == "active") {              // ip is absent while booting (spec §1.6)
      j["ip"] = "127.0.0.1";
      j["private_ip"] = "10.0.0.2";
      j["jupyter_token"] = "jt" + i.id.substr(0, 8);
      j["jupyter_url"] = "https://jupyter.example/" + i.id;
    }
    return j;
  }

  FakeInstance* find(const std::string& id) {
    for (auto& i : insts)
      if (i.id == id) {
        refresh(i);
        return &i;
      }
    return nullptr;
  }

  std::string create(const std::string& name, const std::string& region, const std::string& type,
                     const std::string& key, const std::string& user_data = "",
                     const std::vector<std::string>& file_systems = {}) {
    FakeInstance i;
    i.file_systems = file_systems;
    i.user_data = user_data;
    if (const TypeInfo* t = find_type(types, type)) i.cents_per_hour = t->cents;
    i.id = hex32(rng);
    i.name = name;
    i.region = region;
    i.type = type;
    i.ssh_key_name = key;
    i.hostname = "lambda-" + i.id.substr(0, 8);
    i.launched_at = now();
    i.active_at = i.launched_at + opt.boot_s;
    i.status = "booting";
    insts.push_back(i);
    event("launch", i.id);
    return i.id;
  }
};

namespace {

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}
void ok(httplib::Response& res, const json& data) { reply(res, 200, {{"data", data}}); }
void error(httplib::Response& res, int status, const std::string& code, const std::string& msg,
           const std::string& suggestion = "") {
  json e = {{"code", code}, {"message", msg}};
  if (!suggestion.empty()) e["suggestion"] = suggestion;
  reply(res, status, {{"error", e}});
}

bool take(Fault& f, const std::string& path) {
  if (f.n <= 0) return false;
  if (!f.prefix.empty() && path.rfind(f.prefix, 0) != 0) return false;
  --f.n;
  return true;
}

}  // namespace

FakeLambda::FakeLambda() : FakeLambda(Options{}) {}

FakeLambda::FakeLambda(Options o) : impl_(std::make_unique<Impl>()), opt_(o) {
  Impl& I = *impl_;
  I.opt = o;
  auto& svr = I.svr;
  const std::string root = "/api/v1";

  // Auth, request log and the request-level faults, before any route runs.
  svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    Impl& I = *impl_;
    std::lock_guard<std::mutex> lk(I.mu);
    std::string auth = req.get_header_value("Authorization");
    I.auths.push_back(auth);
    std::string path = req.path.substr(std::min(req.path.size(), std::string("/api/v1").size()));
    if (path == "/instance-operations/launch") ++I.launch_posts;
    if (auth != "Bearer " + opt_.api_key && auth != "Basic " + b64(opt_.api_key + ":")) {
      error(res, 401, "global/invalid-api-key", "API key was invalid, expired, or deleted.",
            "Check your API key or create a new one, then try again.");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (take(I.f429, path)) {
      I.event("429", path);
      res.status = 429;
      if (I.f429.retry_after >= 0) res.set_header("Retry-After", std::to_string(I.f429.retry_after));
      res.set_content("Too Many Requests", "text/plain");  // body shape undocumented (spec §1.4)
      return httplib::Server::HandlerResponse::Handled;
    }
    if (take(I.f5xx, path)) {
      I.event("5xx", path);
      error(res, 503, "provider/internal-unavailable", "Provider unavailable", "Try again shortly");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->lines.push_back(req.method + " " + req.path + " " + std::to_string(res.status));
  });

  svr.Get(root + "/instance-types", [this](const httplib::Request&, httplib::Response& res) {
    Impl& I = *impl_;
    std::lock_guard<std::mutex> lk(I.mu);
    json d = json::object();
    for (const auto& t : I.types) {
      json regions = json::array();
      for (const auto& r : I.capacity[t.name]) regions.push_back(region_json(r));
      d[t.name] = {{"instance_type", type_json(t)}, {"regions_with_capacity_available", regions}};
    }
    ok(res, d);
  });

  svr.Post(root + "/instance-operations/launch", [this](const httplib::Request& req, httplib::Response& res) {
    Impl& I = *impl_;
    double hang = 0;
    std::string id;
    {
      std::lock_guard<std::mutex> lk(I.mu);
      json b = json::parse(req.body, nullptr, false);
      if (b.is_discarded() || !b.is_object())
        return error(res, 400, "global/invalid-parameters", "Request body is not valid JSON.");
      for (const char* k : {"region_name", "instance_type_name", "ssh_key_names"})
        if (!b.contains(k))
          return error(res, 400, "global/invalid-parameters", std::string("Missing required field: ") + k);
      if (!b["ssh_key_names"].is_array() || b["ssh_key_names"].size() != 1)
        return error(res, 400, "global/invalid-parameters", "Exactly one SSH key name must be given.");
      if (b.contains("quantity") && b["quantity"].is_number() && b["quantity"].get<int>() > 1)
        return error(res, 400, "global/invalid-parameters", "Requested too many instances.");
      if (b.contains("name") && (!b["name"].is_string() || b["name"].get<std::string>().size() > 64))
        return error(res, 400, "global/invalid-parameters", "Instance name must be a string of at most 64 characters.");
      std::string type = b["instance_type_name"].get<std::string>(), region = b["region_name"].get<std::string>();
      std::string key = b["ssh_key_names"][0].get<std::string>();
      if (!find_type(I.types, type))
        return error(res, 400, "global/object-does-not-exist", "Specified instance type does not exist.");
      if (b.contains("user_data") && (!b["user_data"].is_string() || b["user_data"].get<std::string>().size() > (1u << 20)))
        return error(res, 400, "global/invalid-parameters", "user_data must be a string of at most 1 MB.");
      bool known_key = false;
      for (const auto& k : I.keys) known_key |= k.name == key;
      if (!known_key) return error(res, 400, "global/object-does-not-exist", "Specified SSH key does not exist.");
      std::vector<std::string> fs_names;
      if (b.contains("file_system_names")) {
        if (!b["file_system_names"].is_array())
          return error(res, 400, "global/invalid-parameters", "file_system_names must be an array of strings.");
        for (const auto& v : b["file_system_names"]) {
          if (!v.is_string()) return error(res, 400, "global/invalid-parameters", "file_system_names must be an array of strings.");
          FakeFilesystem* f = I.filesystem(v.get<std::string>());
          if (!f) return error(res, 400, "global/object-does-not-exist", "Specified file system does not exist.");
          if (f->region != region)
            return error(res, 400, "instance-operations/launch/file-system-in-wrong-region",
                         "File system is in a different region than the instance.",
                         "Launch the instance in the file system's region.");
          fs_names.push_back(f->name);
        }
      }
      const auto& cap = I.capacity[type];
      bool refused = std::find(I.refused_regions.begin(), I.refused_regions.end(), region) != I.refused_regions.end();
      if (refused || std::find(cap.begin(), cap.end(), region) == cap.end()) {
        I.event("capacity", region);
        return error(res, 400, "instance-operations/launch/insufficient-capacity",
                     "Not enough capacity to fulfill launch request.",
                     "Choose an instance type with more availability, or try again later.");
      }
      id = I.create(b.value("name", ""), region, type, key, b.value("user_data", ""), fs_names);
      if (I.hang_n > 0) {
        --I.hang_n;
        hang = I.hang_s;
        I.event("hang", id);
      }
      if (I.odd_n > 0) {
        --I.odd_n;
        I.event("odd-answer", id);
        res.status = 200;
        res.set_content(I.odd_body, "application/json");
        return;
      }
    }
    if (hang > 0) std::this_thread::sleep_for(std::chrono::duration<double>(hang));
    ok(res, {{"instance_ids", json::array({id})}});
  });

  svr.Get(root + "/instances", [this](const httplib::Request&, httplib::Response& res) {
    Impl& I = *impl_;
    std::lock_guard<std::mutex> lk(I.mu);
    json d = json::array();
    for (auto& i : I.insts) {
      I.refresh(i);
      if (!I.listed(i)) continue;
      if (i.status != "terminated") d.push_back(I.instance_json(i));  // terminated ones drop off the list
    }
    ok(res, d);
  });

  svr.Get(root + R"(/instances/([0-9a-f]+))", [this](const httplib::Request& req, httplib::Response& res) {
    Impl& I = *impl_;
    std::lock_guard<std::mutex> lk(I.mu);
    FakeInstance* i = I.find(req.matches[1]);
    if (!i || i->status == "terminated")
      return error(res, 404, "global/object-does-not-exist", "Specified instance does not exist.");
    ok(res, I.instance_json(*i));
  });

  svr.Post(root + R"(/instances/([0-9a-f]+))", [this](const httplib::Request& req, httplib::Response& res) {
    Impl& I = *impl_;
    std::lock_guard<std::mutex> lk(I.mu);
    FakeInstance* i = I.find(req.matches[1]);
    if (!i || i->status == "terminated")
      return error(res, 404, "global/object-does-not-exist", "Specified instance does not exist.");
    json b = json::parse(req.body, nullptr, false);
    if (b.is_discarded() || !b.contains("name") || !b["name"].is_string())
      return error(res, 400, "global/invalid-parameters", "Missing required field: name");
    i->name = b["name"].get<std::string>();
    ok(res, I.instance_json(*i));
  });

  auto ids_of = [](const httplib::Request& req, std::vector<std::string>& ids) {
    json b = json::parse(req.body, nullptr, false);
    if (b.is_discarded() || !b.contains("instance_ids") || !b["instance_ids"].is_array()) return false;
    for (const auto& v : b["instance_ids"]) ids.push_back(v.get<std::string>());
    return true;
  };

  svr.Post(root + "/instance-operations/terminate", [this, ids_of](const httplib::Request& req,
                                                                   httplib::Response& res) {
    Impl& I = *impl_;
    std::lock_guard<std::mutex> lk(I.mu);
    std::vector<std::string> ids;
    if (!ids_of(req, ids)) return error(res, 400, "global/invalid-parameters", "Missing required field: instance_ids");
    if (I.fail_terminate_n > 0) {
      --I.fail_terminate_n;
      I.event("terminate-fail", ids.empty() ? "" : ids[0]);
      return error(res, 500, "global/unknown", "An unknown error occurred.");
    }
    json out = json::array();
    // Terminate is accepted while booting even though actions.terminate.available says false then (whether
    // Lambda refuses it is open question 1 of the spec; the client copes with both).
    for (const auto& id : ids) {
      FakeInstance* i = I.find(id);
      if (!i || i->status == "terminated")
        return error(res, 404, "global/object-does-not-exist", "Specified instance does not exist.");
      if (i->status == "terminating")  // what Lambda answered to a repeat terminate (spec §1.3)
        return error(res, 500, "global/unknown", "An unknown error occurred.");
    }
    for (const auto& id : ids) {
      FakeInstance* i = I.find(id);
      i->terminate_requested_at = I.now();
      I.event("terminate", id);
      out.push_back(I.instance_json(*i));
    }
    ok(res, {{"terminated_instances", out}});
  });

  svr.Post(root + "/instance-operations/restart", [this, ids_of](const httplib::Request& req, httplib::Response& res) {
    Impl& I = *impl_;
    std::lock_guard<std::mutex> lk(I.mu);
    std::vector<std::string> ids;
    if (!ids_of(req, ids)) return error(res, 400, "global/invalid-parameters", "Missing required field: instance_ids");
    json out = json::array();
    for (const auto& id : ids) {
      FakeInstance* i = I.find(id);
      if (!i || i->status == "terminated")
        return error(res, 404, "global/object-does-not-exist", "Specified instance does not exist.");
      I.event("restart", id);
      out.push_back(I.instance_json(*i));
    }
    ok(res, {{"restarted_instances", out}});
  });

  // Filesystems: the list path has a hyphen, create and delete have none (as in Lambda's API).
  svr.Get(root + "/file-systems", [this](const httplib::Request&, httplib::Response& res) {
    Impl& I = *impl_;
    std::lock_guard<std::mutex> lk(I.mu);
    for (auto& i : I.insts) I.refresh(i);
    json d = json::array();
    for (const auto& f : I.fss) d.push_back(I.filesystem_json(f));
    ok(res, d);
  });
  svr.Post(root + "/filesystems", [this](const httplib::Request& req, httplib::Response& res) {
    Impl& I = *impl_;
    std::lock_guard<std::mutex> lk(I.mu);
    json b = json::parse(req.body, nullptr, false);
    if (b.is_discarded() || !b.is_object() || !b.contains("name") || !b["name"].is_string() || !b.contains("region") ||
        !b["region"].is_string())
      return error(res, 400, "global/invalid-parameters", "Missing required fields: name, region");
    std::string name = b["name"], region = b["region"];
    bool good = !name.empty() && name.size() <= 60 && std::isalpha(static_cast<unsigned char>(name[0]));
    for (unsigned char c : name) good &= std::isalnum(c) || c == '-';
    if (!good)
      return error(res, 400, "global/invalid-parameters", "Name must match ^[a-zA-Z]+[0-9a-zA-Z-]*$ (at most 60 characters).");
    if (!region_names().count(region)) return error(res, 400, "global/invalid-parameters", "Invalid region: " + region);
    if (I.filesystem(name)) return error(res, 400, "global/duplicate", "A file system with this name already exists.");
    std::string id = I.make_filesystem(name, region);
    ok(res, I.filesystem_json(*I.filesystem(name)));
    (void)id;
  });
  svr.Delete(root + R"(/filesystems/([0-9a-f]+))", [this](const httplib::Request& req, httplib::Response& res) {
    Impl& I = *impl_;
    std::lock_guard<std::mutex> lk(I.mu);
    for (auto& i : I.insts) I.refresh(i);
    for (size_t n = 0; n < I.fss.size(); ++n)
      if (I.fss[n].id == req.matches[1]) {
        if (I.in_use(I.fss[n].name))
          return error(res, 400, "filesystems/filesystem-in-use", "File system is mounted on a running instance.");
        std::string id = I.fss[n].id;
        I.fss.erase(I.fss.begin() + n);
        return ok(res, {{"deleted_ids", json::array({id})}});
      }
    error(res, 404, "global/object-does-not-exist", "Specified file system does not exist.");
  });

  svr.Get(root + "/ssh-keys", [this](const httplib::Request&, httplib::Response& res) {
    Impl& I = *impl_;
    std::lock_guard<std::mutex> lk(I.mu);
    json d = json::array();
    for (const auto& k : I.keys) d.push_back({{"id", k.id}, {"name", k.name}, {"public_key", k.public_key}});
    ok(res, d);
  });

  svr.Post(root + "/ssh-keys", [this](const httplib::Request& req, httplib::Response& res) {
    Impl& I = *impl_;
    json b = json::parse(req.body, nullptr, false);
    if (b.is_discarded() || !b.contains("name") || !b["name"].is_string() || b["name"].get<std::string>().empty() ||
        b["name"].get<std::string>().size() > 64)
      return error(res, 400, "global/invalid-parameters", "name must be a string of 1 to 64 characters.");
    std::string name = b["name"], pub = b.value("public_key", ""), priv;
    if (pub.size() > 4096) return error(res, 400, "global/invalid-parameters", "public_key is too long.");
    {
      std::lock_guard<std::mutex> lk(I.mu);
      for (const auto& k : I.keys)
        if (k.name == name) return error(res, 400, "global/invalid-parameters", "SSH key name already in use.");
    }
    if (pub.empty()) {
      // Generate a real pair, as Lambda does, so the private key is usable by an SSH client.
      namespace fs = std::filesystem;
      fs::path dir = fs::temp_directory_path() / ("fake-lambda-key-" + std::to_string(::getpid()) + "-" +
                                                  std::to_string(std::random_device{}()));
      fs::create_directories(dir);
      std::string cmd = "ssh-keygen -q -t ed25519 -N '' -C generated -f '" + (dir / "k").string() + "' >/dev/null 2>&1";
      if (std::system(cmd.c_str()) == 0) {
        std::ifstream a(dir / "k"), p(dir / "k.pub");
        std::stringstream sa, sp;
        sa << a.rdbuf();
        sp << p.rdbuf();
        priv = sa.str();
        pub = sp.str();
        while (!pub.empty() && pub.back() == '\n') pub.pop_back();
      }
      std::error_code ec;
      fs::remove_all(dir, ec);
      if (priv.empty()) return error(res, 500, "global/unknown", "Key generation failed.");
    }
    std::lock_guard<std::mutex> lk(I.mu);
    Key k{hex32(I.rng), name, pub};
    I.keys.push_back(k);
    json d = {{"id", k.id}, {"name", k.name}, {"public_key", k.public_key}};
    if (!priv.empty()) d["private_key"] = priv;
    ok(res, d);
  });

  svr.Delete(root + R"(/ssh-keys/([0-9a-f]+))", [this](const httplib::Request& req, httplib::Response& res) {
    Impl& I = *impl_;
    std::lock_guard<std::mutex> lk(I.mu);
    for (size_t n = 0; n < I.keys.size(); ++n)
      if (I.keys[n].id == req.matches[1]) {
        I.keys.erase(I.keys.begin() + n);
        return ok(res, json::object());
      }
    error(res, 404, "global/object-does-not-exist", "Specified SSH key does not exist.");
  });

  port_ = svr.bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("fake Lambda: cannot bind 127.0.0.1");
  I.thread = std::thread([this] { impl_->svr.listen_after_bind(); });
  for (int i = 0; i < 200 && !svr.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

FakeLambda::~FakeLambda() {
  impl_->svr.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  for (pid_t p : impl_->user_data_pids)
    if (p > 0) ::waitpid(p, nullptr, 0);
}

void FakeLambda::delay_listing(double seconds) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->list_delay_s = seconds;
}
void FakeLambda::odd_launch_answers(int n, const std::string& body) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->odd_n = n;
  impl_->odd_body = body;
}
void FakeLambda::add_type(const std::string& name, int64_t cents, int gpus, const std::vector<std::string>& regions) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->types.push_back({name, std::to_string(gpus) + "x test GPU", "test GPU", static_cast<int>(cents), 8, 64, 100, gpus});
  impl_->capacity[name] = regions;
}
double FakeLambda::billed_usd(const std::string& id) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  for (auto& i : impl_->insts)
    if (i.id == id) {
      impl_->refresh(i);
      double end = i.terminate_requested_at >= 0 ? i.terminate_requested_at : impl_->now();
      double minutes = std::ceil(std::max(0.0, end - i.launched_at) / 60.0 - 1e-9);
      return i.cents_per_hour / 100.0 * minutes / 60.0;
    }
  return 0;
}

std::string FakeLambda::base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/v1"; }

void FakeLambda::set_capacity(const std::string& type, const std::vector<std::string>& regions) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->capacity[type] = regions;
}
void FakeLambda::refuse_capacity(const std::string& region) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->refused_regions.push_back(region);
}
void FakeLambda::hang_launches(int n, double seconds) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->hang_n = n;
  impl_->hang_s = seconds;
}
void FakeLambda::fail_429(int n, const std::string& prefix, int retry_after) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->f429 = {n, prefix, retry_after};
}
void FakeLambda::fail_5xx(int n, const std::string& prefix) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->f5xx = {n, prefix, -1};
}
void FakeLambda::fail_terminate(int n) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->fail_terminate_n = n;
}
std::string FakeLambda::add_instance(const std::string& name, const std::string& region, const std::string& type) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->create(name, region, type, impl_->keys.empty() ? "none" : impl_->keys[0].name);
}
void FakeLambda::add_ssh_key(const std::string& name, const std::string& public_key) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->keys.push_back({hex32(impl_->rng), name, public_key});
}
std::vector<FakeInstance> FakeLambda::instances() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  for (auto& i : impl_->insts) impl_->refresh(i);
  return impl_->insts;
}
std::vector<FakeInstance> FakeLambda::active_instances() {
  std::vector<FakeInstance> out;
  for (auto& i : instances())
    if (i.status != "terminated") out.push_back(i);
  return out;
}
std::string FakeLambda::add_filesystem(const std::string& name, const std::string& region) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->make_filesystem(name, region);
}
std::vector<FakeFilesystem> FakeLambda::filesystems() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->fss;
}
std::vector<FakeEvent> FakeLambda::events() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->events;
}
int FakeLambda::count(const std::string& what) {
  int n = 0;
  for (const auto& e : events()) n += e.what == what;
  return n;
}
int FakeLambda::launch_posts() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->launch_posts;
}
std::vector<std::string> FakeLambda::request_lines() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->lines;
}
std::vector<std::string> FakeLambda::auth_headers_seen() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->auths;
}

}  // namespace yolocpp::test
