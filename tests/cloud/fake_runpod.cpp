#include "cloud/fake_runpod.hpp"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace yolocpp::test {

using nlohmann::json;

namespace {

struct Gpu {
  std::string id, name;
  int memory;
  double secure, community;
  int max_count;
};

// The spec's example prices for an RTX 4090 (0.31 community / 0.44 secure per GPU-hour) and an A40.
const std::vector<Gpu>& gpus() {
  static const std::vector<Gpu> g = {{"NVIDIA GeForce RTX 4090", "RTX 4090", 24, 0.44, 0.31, 8},
                                     {"NVIDIA A40", "A40", 48, 0.44, 0.0, 8},
                                     {"NVIDIA H100 80GB HBM3", "H100 SXM", 80, 3.99, 2.69, 8}};
  return g;
}
const Gpu* find_gpu(const std::string& id) {
  for (const auto& g : gpus())
    if (g.id == id) return &g;
  return nullptr;
}

// The no-capacity text RunPod returns (breaking-changes.md; the same from GraphQL, llm-autoeval #3).
const char* kNoCapacity =
    "There are no longer any instances available with the requested specifications. Please refresh and try again.";

void problem(httplib::Response& res, int status, const std::string& title, const std::string& detail,
             const std::vector<std::string>& errors = {}) {
  json p = {{"title", title}, {"status", status}, {"detail", detail}};
  if (!errors.empty()) p["errors"] = errors;
  res.status = status;
  res.set_content(p.dump(), "application/problem+json");
}
void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

struct Fault {
  int n = 0;
  std::string prefix;
  int retry_after = 0;
};

std::string iso(double t) {
  std::time_t s = static_cast<std::time_t>(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&s));
  return buf;
}

}  // namespace

struct FakeRunPod::Impl {
  httplib::Server svr;
  std::thread thread;
  std::mutex mu;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double wall0 = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::mt19937_64 rng{4242};
  Options opt;
  std::map<std::string, std::vector<std::string>> stock = {{"NVIDIA GeForce RTX 4090", {"EU-RO-1", "US-TX-3"}},
                                                           {"NVIDIA A40", {"EU-SE-1"}}};
  std::set<std::string> refused;
  Fault f429;
  int create500 = 0, delete_fail = 0;
  std::vector<FakePod> pods;
  std::vector<json> creates, vols;
  std::vector<std::string> lines, bodies, events;
  std::vector<double> minute;  // request times in the current minute window

  double now() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }

  std::string new_id(size_t n) {
    static const char* a = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string s;
    for (size_t i = 0; i < n; ++i) s += a[rng() % 36];
    return s;
  }

  std::string status(FakePod& p) {
    double t = now();
    if (p.terminated_at >= 0) return "TERMINATED";
    if (t < p.created_at + opt.provision_s) return "PROVISIONING";
    if (t < p.running_at) return "STARTING";
    if (p.status != "RUNNING") {
      p.status = "RUNNING";
      start_sh(p);
    }
    return "RUNNING";
  }

  // What the official images' /start.sh does with PUBLIC_KEY: append it to root's authorized_keys (and start
  // sshd). Without it there is no sshd: here, no key, so no login.
  void start_sh(const FakePod& p) {
    std::string k = p.env.is_object() ? p.env.value("PUBLIC_KEY", "") : "";
    if (k.empty() || opt.authorized_keys.empty()) return;
    std::ofstream(opt.authorized_keys, std::ios::app) << k << "\n";
    events.push_back("start.sh");
  }

  bool mapped(FakePod& p) {
    bool has22 = false;
    for (const auto& x : p.ports) has22 |= x.is_string() && x.get<std::string>() == "22/tcp";
    return has22 && status(p) == "RUNNING" && now() >= p.ports_at;
  }

  json pod_json(FakePod& p) {
    std::string st = status(p);
    json actions = st == "RUNNING"      ? json::array({"stop", "restart", "terminate"})
                   : st == "TERMINATED" ? json::array()
                                        : json::array({"stop", "terminate"});
    json ssh_direct = nullptr, runtime = nullptr;
    if (st == "RUNNING") {
      json ports = json::array();
      if (mapped(p)) {
        ssh_direct = {{"host", "127.0.0.1"},
                      {"port", opt.ssh_port},
                      {"username", "root"},
                      {"command", "ssh root@127.0.0.1 -p " + std::to_string(opt.ssh_port)}};
        ports.push_back({{"private", 22}, {"public", opt.ssh_port}, {"type", "tcp"}, {"ip", "127.0.0.1"}});
      }
      runtime = {{"uptime", static_cast<int>(now() - p.running_at)}, {"gpus", json::array()}, {"ports", ports}};
    }
    json proxy = st == "PROVISIONING" ? json(nullptr)
                                      : json({{"host", "ssh.runpod.io"},
                                              {"port", 22},
                                              {"username", p.id + "-64410a1b"},
                                              {"command", "ssh " + p.id + "-64410a1b@ssh.runpod.io"}});
    return {{"id", p.id},
            {"name", p.name},
            {"status", st},
            {"actions", actions},
            {"image", p.image},
            {"args", ""},
            {"disk", 50},
            {"mounts", json::object()},
            {"ports", p.ports},
            {"env", p.env},
            {"registry", nullptr},
            {"cloud", "SECURE"},
            {"dataCenterId", p.data_center},
            {"cudaVersion", "12.8"},
            {"ssh", {{"proxy", proxy}, {"direct", ssh_direct}}},
            {"template", nullptr},
            {"cost", st == "TERMINATED" ? 0.0 : p.cost_per_hr},
            {"locked", false},
            {"runtime", runtime},
            {"createdAt", iso(wall0 + p.created_at)},
            {"startedAt", st == "RUNNING" ? json(iso(wall0 + p.running_at)) : json(nullptr)},
            {"globalNetworking", {{"enabled", false}}},
            {"gpu", {{"id", p.gpu}, {"count", p.gpu_count}}}};
  }

  FakePod* find(const std::string& id) {
    for (auto& p : pods)
      if (p.id == id) return &p;
    return nullptr;
  }

  json gpu_json(const Gpu& g, bool availability, int count) {
    json j = {{"id", g.id},
              {"name", g.name},
              {"manufacturer", "NVIDIA"},
              {"memory", g.memory},
              {"secure", g.secure > 0},
              {"community", g.community > 0},
              {"price", {{"secure", g.secure}, {"community", g.community}}},
              {"maxCount", {{"secure", g.max_count}, {"community", g.max_count}}}};
    if (availability) {
      const auto& dcs = stock[g.id];
      json d = json::array();
      for (size_t i = 0; i < dcs.size(); ++i)
        d.push_back({{"id", dcs[i]}, {"name", dcs[i]}, {"availability", i == 0 ? "HIGH" : "MEDIUM"}});
      j["availability"] = dcs.empty() || count > g.max_count ? "NONE" : "HIGH";
      if (!dcs.empty()) j["dataCenters"] = d;
      j["cudaVersions"] =
          json::array({{{"version", "12.8"}, {"available", true}}, {{"version", "12.4"}, {"available", true}}});
    }
    return j;
  }
};

FakeRunPod::FakeRunPod() : FakeRunPod(Options{}) {}

FakeRunPod::FakeRunPod(Options o) : impl_(std::make_unique<Impl>()), opt_(o) {
  Impl& I = *impl_;
  I.opt = o;
  auto& svr = I.svr;
  const std::string root = "/v2";

  svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    Impl& I = *impl_;
    std::lock_guard<std::mutex> lk(I.mu);
    if (!req.body.empty()) I.bodies.push_back(req.body);
    // v2 takes the key only as a Bearer header (no ?api_key=, no Basic).
    if (req.get_header_value("Authorization") != "Bearer " + opt_.api_key) {
      problem(res, 401, "Unauthorized", req.has_header("Authorization") ? "invalid api key" : "missing bearer token");
      return httplib::Server::HandlerResponse::Handled;
    }
    const std::string ua = req.get_header_value("User-Agent");
    if (ua.empty() || ua.rfind("curl/", 0) == 0 || ua.rfind("python", 0) == 0) {
      problem(res, 403, "Forbidden", "client not allowed");  // the v2 edge's dislike of generic clients
      return httplib::Server::HandlerResponse::Handled;
    }
    double t = I.now();
    I.minute.erase(std::remove_if(I.minute.begin(), I.minute.end(), [&](double x) { return x < t - 60; }),
                   I.minute.end());
    I.minute.push_back(t);
    int left = std::max(0, opt_.quota_per_minute - static_cast<int>(I.minute.size()));
    int reset = std::max(1, static_cast<int>(std::ceil(I.minute.front() + 60 - t)));
    res.set_header("RateLimit-Policy", "\"minute\";q=" + std::to_string(opt_.quota_per_minute) +
                                           ";w=60, \"hour\";q=30000;w=3600, \"day\";q=500000;w=86400");
    res.set_header("RateLimit", "\"minute\";r=" + std::to_string(left) + ";t=" + std::to_string(reset) +
                                    ", \"hour\";r=29000;t=3000, \"day\";r=499000;t=80000");
    res.set_header("x-request-id", "req-" + I.new_id(12));
    std::string path = req.path.substr(std::min(req.path.size(), std::string("/v2").size()));
    bool over = static_cast<int>(I.minute.size()) > opt_.quota_per_minute;
    if (over || (I.f429.n > 0 && path.rfind(I.f429.prefix, 0) == 0)) {
      if (!over) --I.f429.n;
      I.events.push_back("429");
      res.set_header("Retry-After", std::to_string(over ? reset : I.f429.retry_after));
      problem(res, 429, "Too Many Requests", "rate limit exceeded for window \"minute\"");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->lines.push_back(req.method + " " + req.path + " " + std::to_string(res.status));
  });

  auto catalog_query_ok = [](const httplib::Request& req, httplib::Response& res) {
    if (req.has_param("include") && !req.has_param("product")) {
      problem(res, 400, "Bad Request", "product is required when include is set");
      return false;
    }
    return true;
  };
  svr.Get(root + "/catalog/gpus", [this, catalog_query_ok](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lk(impl_->mu);
    if (!catalog_query_ok(req, res)) return;
    json a = json::array();
    int count = req.has_param("count") ? std::atoi(req.get_param_value("count").c_str()) : 1;
    for (const auto& g : gpus()) a.push_back(impl_->gpu_json(g, req.has_param("include"), count));
    reply(res, 200, {{"gpus", a}});
  });
  svr.Get(root + R"(/catalog/gpus/(.+))",
          [this, catalog_query_ok](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> lk(impl_->mu);
            if (!catalog_query_ok(req, res)) return;
            const Gpu* g = find_gpu(httplib::detail::decode_url(req.matches[1], false));
            if (!g) return problem(res, 404, "Not Found", "gpu type not found");
            int count = req.has_param("count") ? std::atoi(req.get_param_value("count").c_str()) : 1;
            reply(res, 200, impl_->gpu_json(*g, req.has_param("include"), count));
          });

  svr.Post(root + "/pods", [this](const httplib::Request& req, httplib::Response& res) {
    Impl& I = *impl_;
    std::lock_guard<std::mutex> lk(I.mu);
    json b = json::parse(req.body, nullptr, false);
    if (b.is_discarded() || !b.is_object())
      return problem(res, 400, "Bad Request", "request body is not a JSON object");
    I.creates.push_back(b);
    static const std::set<std::string> allowed = {
        "name",  "image", "gpu",  "cpu",      "cloud",        "dataCenterIds", "disk",     "mounts",
        "ports", "env",   "args", "startSsh", "startJupyter", "templateId",    "registry", "globalNetworking",
        "locked"};
    std::vector<std::string> errs;
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!allowed.count(it.key())) errs.push_back("$: additional properties '" + it.key() + "' not allowed");
    if (b.contains("gpu") && b["gpu"].is_object())
      for (auto it = b["gpu"].begin(); it != b["gpu"].end(); ++it)
        if (it.key() != "id" && it.key() != "count" && it.key() != "allowedCudaVersions" &&
            it.key() != "minCudaVersion")
          errs.push_back("$.gpu: additional properties '" + it.key() + "' not allowed");
    if (!b.contains("name") || !b["name"].is_string() || b["name"].get<std::string>().empty())
      errs.push_back("$: missing property 'name'");
    if (!b.contains("image") && !b.contains("templateId")) errs.push_back("$: missing property 'image'");
    if (b.contains("gpu") == b.contains("cpu")) errs.push_back("$: exactly one of 'gpu' or 'cpu' is required");
    if (b.contains("env") && !b["env"].is_object()) errs.push_back("$.env: expected object");
    if (!errs.empty()) return problem(res, 422, "Unprocessable Entity", "validation failed", errs);
    const json& g = b["gpu"];
    // Live behaviour (runpod-mcp PR #77): without gpu.count every create fails with the capacity text.
    if (!g.contains("count")) {
      I.events.push_back("capacity");
      return problem(res, 400, "Bad Request", kNoCapacity);
    }
    const Gpu* gt = find_gpu(g.value("id", ""));
    std::vector<std::string> dcs;
    if (b.contains("dataCenterIds"))
      for (const auto& d : b["dataCenterIds"]) dcs.push_back(d.get<std::string>());
    std::string dc;
    if (gt)
      for (const auto& have : I.stock[gt->id])
        if (!I.refused.count(have) && (dcs.empty() || std::find(dcs.begin(), dcs.end(), have) != dcs.end())) {
          dc = have;
          break;
        }
    if (!gt || dc.empty() || g.value("count", 1) > gt->max_count) {
      I.events.push_back("capacity");
      return problem(res, 400, "Bad Request", kNoCapacity);
    }
    FakePod p;
    p.id = I.new_id(14);
    p.name = b["name"];
    p.status = "PROVISIONING";
    p.gpu = gt->id;
    p.gpu_count = g.value("count", 1);
    p.data_center = dc;
    p.image = b.value("image", "");
    p.cost_per_hr = gt->secure * p.gpu_count;
    p.env = b.value("env", json::object());
    p.ports = b.value("ports", json::array());
    p.created_at = I.now();
    p.running_at = p.created_at + I.opt.provision_s + I.opt.start_s;
    p.ports_at = p.running_at + I.opt.ports_s;
    I.pods.push_back(p);
    I.events.push_back("create");
    if (I.create500 > 0) {  // the pod exists and bills; the answer says otherwise (transformerlab PR #2305)
      --I.create500;
      I.events.push_back("create-500");
      return problem(res, 500, "Internal Server Error", "internal error");
    }
    reply(res, 201, I.pod_json(I.pods.back()));
  });

  svr.Get(root + "/pods", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lk(impl_->mu);
    json a = json::array();
    for (auto& p : impl_->pods)
      if (impl_->status(p) != "TERMINATED") a.push_back(impl_->pod_json(p));
    reply(res, 200, {{"pods", a}});
  });
  svr.Get(root + R"(/pods/([a-z0-9]+))", [this](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lk(impl_->mu);
    FakePod* p = impl_->find(req.matches[1]);
    if (!p || p->terminated_at >= 0) return problem(res, 404, "Not Found", "pod not found");
    reply(res, 200, impl_->pod_json(*p));
  });
  svr.Delete(root + R"(/pods/([a-z0-9]+))", [this](const httplib::Request& req, httplib::Response& res) {
    Impl& I = *impl_;
    std::lock_guard<std::mutex> lk(I.mu);
    FakePod* p = I.find(req.matches[1]);
    if (!p || p->terminated_at >= 0) return problem(res, 404, "Not Found", "pod not found");
    if (I.delete_fail > 0) {
      --I.delete_fail;
      I.events.push_back("delete-fail");
      return problem(res, 500, "Internal Server Error", "upstream error");
    }
    p->terminated_at = I.now();
    I.events.push_back("delete");
    res.status = 204;
  });

  svr.Get(root + "/network-volumes", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lk(impl_->mu);
    reply(res, 200, {{"networkVolumes", impl_->vols}});
  });
  svr.Post(root + "/network-volumes", [this](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lk(impl_->mu);
    json b = json::parse(req.body, nullptr, false);
    if (b.is_discarded() || !b.is_object())
      return problem(res, 400, "Bad Request", "request body is not a JSON object");
    std::vector<std::string> errs;
    for (auto it = b.begin(); it != b.end(); ++it)
      if (it.key() != "name" && it.key() != "size" && it.key() != "dataCenter" && it.key() != "type")
        errs.push_back("$: additional properties '" + it.key() + "' not allowed");
    if (!b.contains("size") || !b["size"].is_number_integer() || b["size"].get<int>() < 10 ||
        b["size"].get<int>() > 4096)
      errs.push_back("$.size: must be an integer 10..4096");
    if (!errs.empty()) return problem(res, 422, "Unprocessable Entity", "validation failed", errs);
    json v = {{"id", impl_->new_id(10)},
              {"name", b.value("name", "")},
              {"size", b["size"]},
              {"dataCenter", b.value("dataCenter", "")},
              {"type", b.value("type", "STANDARD")}};
    impl_->vols.push_back(v);
    reply(res, 201, v);
  });
  svr.Delete(root + R"(/network-volumes/([a-z0-9]+))", [this](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lk(impl_->mu);
    auto& v = impl_->vols;
    auto it = std::find_if(v.begin(), v.end(), [&](const json& x) { return x["id"] == req.matches[1].str(); });
    if (it == v.end()) return problem(res, 404, "Not Found", "network volume not found");
    v.erase(it);
    res.status = 204;
  });

  port_ = svr.bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("fake RunPod: cannot bind 127.0.0.1");
  I.thread = std::thread([this] { impl_->svr.listen_after_bind(); });
  for (int i = 0; i < 200 && !svr.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

FakeRunPod::~FakeRunPod() {
  impl_->svr.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::string FakeRunPod::base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v2"; }

void FakeRunPod::set_stock(const std::string& gpu, const std::vector<std::string>& dcs) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->stock[gpu] = dcs;
}
void FakeRunPod::refuse_capacity(const std::string& dc) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->refused.insert(dc);
}
void FakeRunPod::fail_429(int n, const std::string& prefix, int retry_after) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->f429 = {n, prefix, retry_after};
}
void FakeRunPod::fail_create_after_creating(int n) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->create500 = n;
}
void FakeRunPod::fail_terminate(int n) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->delete_fail = n;
}
std::vector<FakePod> FakeRunPod::pods() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  for (auto& p : impl_->pods) p.status = impl_->status(p);
  return impl_->pods;
}
std::vector<FakePod> FakeRunPod::active_pods() {
  std::vector<FakePod> out;
  for (auto& p : pods())
    if (p.status != "TERMINATED") out.push_back(p);
  return out;
}
std::vector<json> FakeRunPod::create_bodies() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->creates;
}
std::vector<std::string> FakeRunPod::request_lines() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->lines;
}
std::vector<std::string> FakeRunPod::request_bodies() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->bodies;
}
int FakeRunPod::count(const std::string& e) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return static_cast<int>(std::count(impl_->events.begin(), impl_->events.end(), e));
}
double FakeRunPod::billed_usd(const std::string& id) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  for (auto& p : impl_->pods)
    if (p.id == id) {
      double end = p.terminated_at >= 0 ? p.terminated_at : impl_->now();
      return p.cost_per_hr * std::ceil(std::max(0.0, end - p.created_at) - 1e-9) / 3600.0;
    }
  return 0;
}

}  // namespace yolocpp::test
