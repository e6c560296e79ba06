#include "yolocpp/cloud/runpod_api.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <regex>
#include <thread>

#include "yolocpp/cloud/secrets.hpp"
#include "yolocpp/config/settings.hpp"
#include "yolocpp/util/log.hpp"
#include "yolocpp/version.hpp"

namespace yolocpp::cloud {

using nlohmann::json;

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::string str(const json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
int64_t num(const json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}
double real(const json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string shorten(const std::string& s, size_t n = 300) { return s.size() <= n ? s : s.substr(0, n) + "..."; }

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += {'%', hex[c >> 4], hex[c & 15]};
  }
  return out;
}

// USD per hour -> whole cents, rounded up (the ledger's unit; never below the real rate, so a budget holds).
int64_t cents_up(double usd_per_hour) { return static_cast<int64_t>(std::ceil(usd_per_hour * 100 - 1e-6)); }

// A pod as the provider-neutral Machine. The SSH endpoint: ssh.direct, else runtime.ports' public 22/tcp.
Machine machine_of_pod(const json& p) {
  Machine m;
  m.id = str(p, "id");
  m.name = str(p, "name");
  m.status = str(p, "status");
  m.region = str(p, "dataCenterId");
  if (auto g = p.find("gpu"); g != p.end() && g->is_object()) {
    m.type = str(*g, "id");
    m.gpus = static_cast<int>(num(*g, "count"));
  }
  m.price_cents_per_hour = cents_up(real(p, "cost"));
  if (auto s = p.find("ssh"); s != p.end() && s->is_object())
    if (auto d = s->find("direct"); d != s->end() && d->is_object()) {
      m.ssh_host = str(*d, "host");
      m.ssh_port = static_cast<int>(num(*d, "port"));
    }
  if (m.ssh_host.empty())
    if (auto rt = p.find("runtime"); rt != p.end() && rt->is_object())
      if (auto ports = rt->find("ports"); ports != rt->end() && ports->is_array())
        for (const auto& q : *ports)
          if (num(q, "private") == 22 && str(q, "type") == "tcp" && !str(q, "ip").empty() && num(q, "public") > 0) {
            m.ssh_host = str(q, "ip");
            m.ssh_port = static_cast<int>(num(q, "public"));
          }
  m.ready = m.status == "RUNNING" && !m.ssh_host.empty() && m.ssh_port > 0;
  m.gone = m.status == "TERMINATED";
  m.failed = m.status == "ERROR";
  return m;
}

std::vector<json> list_of(const json& d, const char* key) {
  // v2 wraps lists; a bare array (v1's shape) is accepted too.
  std::vector<json> out;
  const json* a = d.is_array() ? &d : (d.is_object() && d.contains(key) && d[key].is_array() ? &d[key] : nullptr);
  if (a)
    for (const auto& v : *a)
      if (v.is_object()) out.push_back(v);
  return out;
}

}  // namespace

std::string image_cuda_version(const std::string& image) {
  // Tags of runpod/containers 1.0.x: ...-cu1281-torch280-...; cu<major:2><minor:1>[patch].
  std::smatch m;
  static const std::regex re("-cu(1[0-9])([0-9])[0-9]*-");
  if (std::regex_search(image, m, re)) return m[1].str() + "." + m[2].str();
  return {};
}

RunPodApi::RunPodApi(RunPodOptions opt) : opt_(std::move(opt)) {
  while (!opt_.base_url.empty() && opt_.base_url.back() == '/') opt_.base_url.pop_back();
  if (opt_.base_url.empty()) throw ConfigError("setting 'api_url' is empty: set it to https://api.runpod.io/v2");
  if (opt_.user_agent.empty()) opt_.user_agent = std::string("yolocpp/") + YOLOCPP_VERSION + " (linux; x86_64)";
  if (!opt_.http) opt_.http = std::make_shared<HttpClient>(opt_.user_agent);
  if (opt_.retry.max_attempts < 1) opt_.retry.max_attempts = 1;
  register_secret(opt_.api_key);
}

std::unique_ptr<RunPodApi> RunPodApi::from_settings(const config::Settings& s) {
  RunPodOptions o;
  if (s.was_set("api_url") && !s.is_none("api_url")) o.base_url = s.str("api_url");
  check_api_url(o.base_url);
  if (!s.is_none("pod_image")) o.image = s.str("pod_image");
  if (!s.is_none("pod_disk")) {
    const int64_t d = s.integer("pod_disk");
    if (d < 1 || d > 4096)
      throw ConfigError("pod_disk=" + s.str("pod_disk") + " must be 1..4096 (GB of container disk)");
    o.disk_gb = static_cast<int>(d);
  }
  o.api_key = load_runpod_key();
  return std::make_unique<RunPodApi>(std::move(o));
}

Billing RunPodApi::billing() const {
  // "billed by the second for compute and storage" (docs.runpod.io/pods/pricing); whether billing starts at the
  // create, at host assignment or at RUNNING is not documented, so the meter runs from the create request.
  return {1, "per-second (RunPod pods); meter from the create request (upper bound)"};
}

WatchdogApi RunPodApi::watchdog_api() const {
  // The pod finds its id by its unique name in GET /pods ({"pods": [...]}) and deletes itself with
  // DELETE /pods/{id} (204; 404 = already gone). Stopping would keep billing the disk: always delete.
  WatchdogApi w;
  w.key_file_name = "runpod_api_key";
  w.shell_functions = R"SH(my_id() {
  if [ -s "$D/instance_id" ]; then cat "$D/instance_id"; return 0; fi
  api GET /pods | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
    pods = d["pods"] if isinstance(d, dict) else d
except Exception:
    sys.exit(1)
for p in pods:
    if isinstance(p, dict) and p.get("name") == sys.argv[1] and p.get("status") != "TERMINATED":
        print(p.get("id", ""))
        break
' "$NAME" 2>/dev/null
}
terminate() {
  id=$(my_id)
  if [ -z "$id" ]; then log "cannot find the id of pod $NAME yet ($1)"; return 1; fi
  log "terminating instance $id through the API: $1"
  k=$(cat "$KEY" 2>/dev/null)
  [ -n "$k" ] || return 1
  code=$(printf 'header = "Authorization: Bearer %s"\n' "$k" | curl -sS -m 30 -K - -A yolocpp-autodown \
    -o /dev/null -w '%{http_code}' -X DELETE "$API/pods/$id" 2>/dev/null)
  case "$code" in
    200|204|404) log "terminate accepted (HTTP $code)"; return 0 ;;
  esac
  log "terminate not accepted (HTTP $code)"
  return 1
}
)SH";
  return w;
}

void RunPodApi::sleep(double s) {
  if (s <= 0) return;
  if (opt_.sleep) opt_.sleep(s);
  else std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

double RunPodApi::backoff(int attempt, const HttpResponse& r) const {
  if (r.status == 429) {
    std::string ra = r.header("retry-after");
    char* end = nullptr;
    double v = ra.empty() ? -1 : std::strtod(ra.c_str(), &end);
    // Retry-After in integer seconds; RunPod's sample code waits 5 s when it is missing.
    return std::min(v >= 0 && end && *end == '\0' ? v : 5.0, opt_.retry.max_delay_s);
  }
  return std::min(opt_.retry.base_delay_s * std::pow(2.0, attempt - 1), opt_.retry.max_delay_s);
}

void RunPodApi::pace(const HttpResponse& r) {
  // RateLimit: "minute";r=0;t=12, "hour";r=2999;t=3000 (IETF draft syntax): a window with nothing left means
  // the next request would be a 429; wait for its reset instead (capped like Retry-After).
  const std::string h = r.header("ratelimit");
  if (h.empty()) return;
  static const std::regex item("\"([^\"]*)\"\\s*;\\s*r\\s*=\\s*([0-9]+)\\s*;\\s*t\\s*=\\s*([0-9]+)");
  double wait = 0;
  for (auto it = std::sregex_iterator(h.begin(), h.end(), item); it != std::sregex_iterator(); ++it)
    if ((*it)[2].str() == "0") wait = std::max(wait, std::stod((*it)[3].str()));
  if (wait > 0) {
    wait = std::min(wait, opt_.retry.max_delay_s);
    log::warn("RunPod API rate limit window exhausted; waiting {:.0f} s", wait);
    sleep(wait);
  }
}

HttpResponse RunPodApi::send(const std::string& method, const std::string& path, const std::string& body,
                             double timeout_s) {
  HttpRequest req;
  req.method = method;
  req.url = opt_.base_url + path;
  req.headers = {{"Authorization", "Bearer " + opt_.api_key}, {"Accept", "application/json"}};
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  req.body = body;
  req.timeout_s = timeout_s;
  req.connect_timeout_s = opt_.connect_timeout_s;
  HttpResponse r = opt_.http->send(req);
  if (r.status != 429) pace(r);
  return r;
}

ApiError RunPodApi::error_of(const std::string& method, const std::string& path, const HttpResponse& r) const {
  std::string where = "RunPod API " + method + " " + path;
  if (r.status == 0)
    return ApiError(redact(where + ": " + (r.timed_out ? "no answer (timed out)" : "request failed") + ": " + r.error +
                               " (url " + opt_.base_url + "; check the network and setting 'api_url')",
                           opt_.api_key),
                    0, r.timed_out ? "http/timeout" : "http/transport");
  // RFC 9457 problem object: title, status, detail (+ errors[] on 422). No code: the status decides.
  std::string what = where + ": HTTP " + std::to_string(r.status);
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && (j.contains("detail") || j.contains("title"))) {
    std::string title = str(j, "title"), detail = str(j, "detail");
    if (!title.empty()) what += " " + title;
    if (!detail.empty()) what += ": " + detail;
    if (auto e = j.find("errors"); e != j.end() && e->is_array())
      for (const auto& x : *e)
        if (x.is_string()) what += "; " + x.get<std::string>();
  } else if (!r.body.empty()) {
    what += " (body: " + shorten(r.body) + ")";
  }
  if (r.status == 401 || r.status == 403)
    what += "; fix: check RUNPOD_API_KEY or " + runpod_key_file().string() +
            " (a key with All or Restricted-with-pods access, from the RunPod console)";
  if (r.status == 402) what += "; add credit to the RunPod account (a pod needs about one hour of its cost in balance)";
  if (auto id = r.header("x-request-id"); !id.empty()) what += " [x-request-id " + id + "]";
  return ApiError(redact(what, opt_.api_key), r.status, "http/" + std::to_string(r.status));
}

json RunPodApi::call(const std::string& method, const std::string& path, const std::string& body, Retry retry,
                     double timeout_s) {
  for (int attempt = 1;; ++attempt) {
    HttpResponse r = send(method, path, body, timeout_s);
    if (r.status >= 200 && r.status < 300) {
      if (r.status == 204 || r.body.empty()) return json();
      json j = json::parse(r.body, nullptr, false);
      if (j.is_discarded())
        throw ApiError(redact("RunPod API " + method + " " + path + ": HTTP " + std::to_string(r.status) +
                                  " with a body that is not JSON (" + shorten(r.body) + "); is setting 'api_url' (" +
                                  opt_.base_url + ") the v2 root?",
                              opt_.api_key),
                       r.status, "http/bad-body");
      return j;
    }
    ApiError err = error_of(method, path, r);
    bool again = retry == Retry::Transient ? err.transient() : r.status == 429;
    if (!again || attempt >= opt_.retry.max_attempts) throw err;
    double d = backoff(attempt, r);
    log::warn("{} {}: {}; retry {}/{} in {:.0f} s", method, path,
              r.status == 0 ? "RunPod API unreachable" : "RunPod API answered HTTP " + std::to_string(r.status),
              attempt, opt_.retry.max_attempts - 1, d);
    log::debug("{}", err.what());
    sleep(d);
  }
}

Offer RunPodApi::offer(const std::string& type, int gpu_count) {
  if (gpu_count < 1) throw ConfigError("gpu_count=" + std::to_string(gpu_count) + " must be at least 1");
  const std::string q = "?include=AVAILABILITY&product=POD&cloud=" + opt_.cloud + "&count=" + std::to_string(gpu_count);
  json g;
  try {
    g = call("GET", "/catalog/gpus/" + url_encode(type) + q, "", Retry::Transient, opt_.timeout_s);
  } catch (const ApiError& e) {
    if (e.http_status != 404) throw;
    std::string names;
    try {
      for (const auto& t :
           list_of(call("GET", "/catalog/gpus?product=POD&cloud=" + opt_.cloud, "", Retry::Transient, opt_.timeout_s),
                   "gpus"))
        names += (names.empty() ? "" : ", ") + str(t, "id");
    } catch (const CloudError&) {}
    throw ConfigError("gpu=" + type +
                      " is not a RunPod GPU type (setting 'gpu' takes RunPod's GPU id, e.g. gpu=\"NVIDIA "
                      "GeForce RTX 4090\")" +
                      (names.empty() ? "" : "; RunPod offers: " + names));
  }
  Offer o;
  o.type = str(g, "id").empty() ? type : str(g, "id");
  o.description = str(g, "name");
  o.gpus = gpu_count;
  double per_gpu = 0;
  if (auto p = g.find("price"); p != g.end() && p->is_object())
    per_gpu = real(*p, opt_.cloud == "COMMUNITY" ? "community" : "secure");
  if (per_gpu <= 0)
    throw CloudError("RunPod lists no " + opt_.cloud + " price for " + o.type + " (not offered in that cloud)");
  // The catalog price is for ONE GPU; the pod's rate is price x gpu.count.
  o.price_cents_per_hour = cents_up(per_gpu * gpu_count);
  if (auto mc = g.find("maxCount"); mc != g.end() && mc->is_object()) {
    int64_t max = num(*mc, opt_.cloud == "COMMUNITY" ? "community" : "secure");
    if (max > 0 && gpu_count > max)
      throw ConfigError("gpu_count=" + std::to_string(gpu_count) + " but a RunPod pod holds at most " +
                        std::to_string(max) + " x " + o.type);
  }
  // Data centers with stock, most available first (availability is a hint: creates still fail, spec'd below).
  std::vector<std::pair<int, std::string>> dcs;
  if (auto d = g.find("dataCenters"); d != g.end() && d->is_array())
    for (const auto& dc : *d) {
      std::string a = str(dc, "availability");
      int rank = a == "HIGH" ? 0 : a == "MEDIUM" ? 1 : a == "LOW" ? 2 : 9;
      if (rank < 9 && !str(dc, "id").empty()) dcs.push_back({rank, str(dc, "id")});
    }
  std::stable_sort(dcs.begin(), dcs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [rank, id] : dcs) o.regions.push_back(id);
  return o;
}

json RunPodApi::create_body(const LaunchSpec& spec, const std::string& dc) const {
  json gpu = {{"id", spec.type}, {"count", std::max(1, spec.gpu_count)}};  // count: always (see the file comment)
  if (auto cuda = image_cuda_version(opt_.image); !cuda.empty()) gpu["minCudaVersion"] = cuda;
  json b = {{"name", spec.name},
            {"image", opt_.image},
            {"cloud", opt_.cloud},
            {"gpu", gpu},
            {"disk", opt_.disk_gb},
            {"ports", json::array({"22/tcp"})},
            {"env", {{"PUBLIC_KEY", spec.public_key}}}};
  if (!dc.empty()) b["dataCenterIds"] = json::array({dc});
  if (!opt_.volume_id.empty())
    b["mounts"] = {{"network", json::array({{{"volumeId", opt_.volume_id}, {"path", "/workspace"}}})}};
  return b;
}

LaunchOutcome RunPodApi::launch(const LaunchSpec& spec) {
  if (spec.name.empty())
    throw CloudError(
        "a pod needs a unique name (yolocpp-<job id>): it is how a create that failed ambiguously is "
        "found again instead of created twice");
  // A "null" or empty PUBLIC_KEY gives a pod with port 22 mapped and no usable login (crabbox #1202).
  const std::string& pk = spec.public_key;
  if (pk.rfind("ssh-", 0) != 0 && pk.rfind("ecdsa-", 0) != 0 && pk.rfind("sk-", 0) != 0)
    throw CloudError("the pod's PUBLIC_KEY must be an OpenSSH public key line (got '" + shorten(pk, 20) + "')");
  Offer o = offer(spec.type, spec.gpu_count);
  std::vector<std::string> dcs = o.regions;
  const std::string all = [&] {
    std::string s;
    for (const auto& d : dcs) s += (s.empty() ? "" : ", ") + d;
    return s.empty() ? std::string("none") : s;
  }();
  if (!spec.region.empty() && spec.region != "auto") {
    // A named data center: only it (RunPod enforces dataCenterIds). Refused locally when the catalog lists
    // no stock there, so no create is spent on a sure refusal.
    if (std::find(dcs.begin(), dcs.end(), spec.region) == dcs.end())
      throw ApiError("no capacity for " + spec.type + " in data center " + spec.region +
                         " now (data centers with "
                         "stock: " +
                         all + "); use region=auto or another gpu=",
                     400, "capacity");
    dcs = {spec.region};
  }
  if (dcs.empty())
    throw ApiError("no capacity for " + std::to_string(spec.gpu_count) + " x " + spec.type + " in any RunPod " +
                       opt_.cloud + " data center now; try another gpu= or later",
                   400, "capacity");
  LaunchOutcome res;
  std::string refusals;
  for (const auto& dc : dcs) {
    const std::string body = create_body(spec, dc).dump();
    std::string last;
    bool next_dc = false;
    for (int attempt = 1; attempt <= opt_.retry.max_attempts && !next_dc; ++attempt) {
      ++res.attempts;
      HttpResponse r = send("POST", "/pods", body, opt_.create_timeout_s);
      if (r.status >= 200 && r.status < 300) {
        json j = json::parse(r.body, nullptr, false);
        if (!j.is_discarded() && j.is_object() && !str(j, "id").empty()) {
          res.id = str(j, "id");
          res.region = str(j, "dataCenterId").empty() ? dc : str(j, "dataCenterId");
          log::info("created pod {} ({} x {} in {}): {}", spec.name, spec.gpu_count, spec.type, res.region, res.id);
          return res;
        }
        last = "HTTP " + std::to_string(r.status) + " without a pod id";
      } else {
        ApiError err = error_of("POST", "/pods", r);
        if (r.status == 429) {  // refused before any work: the same create may be sent again
          double d = backoff(attempt, r);
          log::warn("POST /pods: rate limited; retrying in {:.0f} s (Retry-After)", d);
          sleep(d);
          continue;
        }
        if (r.status == 400 || r.status == 403) {
          // 400: no capacity (or over-narrow filters), 403: no access to that pool: the next data center.
          log::warn("{} refused the pod in {} ({}); trying the next data center", display(), dc,
                    r.status == 400 ? "no capacity" : "no access");
          log::debug("{}", err.what());
          refusals += (refusals.empty() ? "" : ", ") + dc;
          next_dc = true;
          continue;
        }
        if (r.status >= 400 && r.status < 500) throw err;  // 401, 402, 404, 422: definite; a retry cannot help
        last = err.what();
      }
      // Ambiguous (5xx, timeout, lost connection, odd 2xx): the pod may exist and bill. Look for the name.
      log::warn("create of pod {} did not return a clear answer ({}); looking for it by name for up to {:.0f} s",
                spec.name, last, opt_.ambiguous_wait_s);
      double waited = 0;
      for (int look = 0;; ++look) {
        if (look) {
          if (waited >= opt_.ambiguous_wait_s) break;
          double d =
              std::max(0.1, std::min(std::min(5.0, backoff(look, HttpResponse{})), opt_.ambiguous_wait_s - waited));
          sleep(d);
          waited += d;
        }
        std::vector<Machine> found;
        try {
          found = find_by_name(spec.name);
        } catch (const ApiError& e) {
          if (!e.transient()) throw;
          continue;
        }
        if (!found.empty()) {
          res.id = found[0].id;
          res.region = found[0].region.empty() ? dc : found[0].region;
          res.adopted = true;
          for (size_t k = 1; k < found.size(); ++k) {
            log::warn("terminating duplicate pod {} named {}", found[k].id, spec.name);
            terminate(found[k].id);
          }
          log::info("adopted pod {} named {} after the ambiguous create", res.id, spec.name);
          return res;
        }
      }
      log::warn("no pod named {} exists, so the create did not happen; creating again", spec.name);
      sleep(backoff(attempt, HttpResponse{}));
    }
    if (!next_dc)
      throw CloudError(redact("create of pod " + spec.name + " in " + dc + " failed after " +
                                  std::to_string(res.attempts) + " attempts: " + last,
                              opt_.api_key));
  }
  throw ApiError("no capacity for " + std::to_string(spec.gpu_count) + " x " + spec.type +
                     " in any data center "
                     "tried (" +
                     refusals + "); try another gpu= or later",
                 400, "capacity");
}

std::vector<Machine> RunPodApi::list() {
  std::vector<Machine> out;
  for (const auto& p : list_of(call("GET", "/pods", "", Retry::Transient, opt_.timeout_s), "pods"))
    out.push_back(machine_of_pod(p));
  return out;
}

std::vector<Machine> RunPodApi::find_by_name(const std::string& name) {
  // GET /pods ignores filters (v2): the match is client-side.
  std::vector<Machine> out;
  for (auto& m : list())
    if (m.name == name && !m.gone) out.push_back(std::move(m));
  return out;
}

Machine RunPodApi::get(const std::string& id) {
  return machine_of_pod(call("GET", "/pods/" + url_encode(id), "", Retry::Transient, opt_.timeout_s));
}

std::optional<Machine> RunPodApi::find(const std::string& id) {
  try {
    return get(id);
  } catch (const ApiError& e) {
    if (e.http_status == 404) return std::nullopt;
    throw;
  }
}

Machine RunPodApi::wait_ready(const std::string& id, double timeout_s, double poll_s,
                              const std::function<void(const Machine&)>& on_poll) {
  const double deadline = now_s() + timeout_s;
  for (;;) {
    auto m = find(id);
    if (!m) throw CloudError("pod " + id + " disappeared while starting (deleted elsewhere?)");
    if (on_poll) on_poll(*m);
    if (m->ready) return *m;
    // ERROR is terminal (a loop waiting only for RUNNING spins forever); EXITED means the container stopped.
    if (m->failed || m->gone || m->status == "EXITED")
      throw CloudError("pod " + id + " became '" + m->status +
                       "' while starting; it is terminated; try another "
                       "region= or gpu=");
    if (now_s() >= deadline)
      throw CloudError("pod " + id + " is still '" + m->status + "'" +
                       (m->status == "RUNNING" ? " without a public 22/tcp mapping" : "") + " after " +
                       std::to_string(static_cast<int>(timeout_s)) + " s; it is terminated; try another region=");
    sleep(poll_s);
  }
}

void RunPodApi::terminate(const std::string& id, double deadline_s) {
  for (int attempt = 1;; ++attempt) {
    try {
      call("DELETE", "/pods/" + url_encode(id), "", Retry::RateLimitOnly, opt_.timeout_s);
      return;  // 204
    } catch (const ApiError& e) {
      if (e.http_status == 404) return;  // already gone (perhaps by our own earlier request)
      if (!e.transient()) throw;
      // A DELETE that timed out or answered 5xx may still have worked: look before sending it again.
      auto m = find(id);
      if (!m || m->gone) return;
      double d = backoff(attempt, HttpResponse{});
      if (attempt >= opt_.retry.max_attempts || (deadline_s > 0 && now_s() + d > deadline_s)) throw;
      log::debug("{} (attempt {}/{}), retrying in {:.1f} s", e.what(), attempt, opt_.retry.max_attempts, d);
      sleep(d);
    }
  }
}

void RunPodApi::terminate_and_confirm(const std::string& id, double timeout_s, double poll_s) {
  const double deadline = now_s() + timeout_s;
  std::string last_error, last_status = "unknown";
  bool sent = false;
  for (int poll = 0;; ++poll) {
    if (!sent || poll % 3 == 0) {
      try {
        terminate(id, deadline);
        sent = true;
      } catch (const CloudError& e) {
        last_error = e.what();
        log::warn("terminate pod {}: {}", id, last_error);
      }
    }
    try {
      auto m = find(id);
      if (!m || m->gone) {  // 404 or TERMINATED: gone either way (which one RunPod answers is not documented)
        log::info("pod {} terminated", id);
        return;
      }
      last_status = m->status;
    } catch (const CloudError& e) {
      last_error = e.what();
    }
    if (now_s() >= deadline)
      throw CloudError("pod " + id + " is still '" + last_status + "' " + std::to_string(static_cast<int>(timeout_s)) +
                       " s after the terminate request and may still be billing: terminate it on the RunPod console "
                       "or with `yolocpp cloud down provider=runpod instance=" +
                       id + "`" + (last_error.empty() ? "" : " (last error: " + last_error + ")"));
    sleep(poll_s);
  }
}

std::vector<Volume> RunPodApi::volumes() {
  std::vector<Volume> out;
  for (const auto& v : list_of(call("GET", "/network-volumes", "", Retry::Transient, opt_.timeout_s), "networkVolumes"))
    out.push_back({str(v, "id"), str(v, "name"), str(v, "dataCenter"), num(v, "size")});
  return out;
}

Volume RunPodApi::create_volume(const std::string& name, int64_t size_gb, const std::string& region) {
  if (size_gb < 10 || size_gb > 4096)
    throw ConfigError("a RunPod network volume is 10..4096 GB (asked: " + std::to_string(size_gb) + ")");
  if (name.empty() || region.empty()) throw ConfigError("a RunPod network volume needs a name and a data center");
  json b = {{"name", name}, {"size", size_gb}, {"dataCenter", region}};
  // Not retried on 5xx: a second POST could make a second volume, billed until deleted.
  json v = call("POST", "/network-volumes", b.dump(), Retry::RateLimitOnly, opt_.timeout_s);
  return {str(v, "id"), str(v, "name"), str(v, "dataCenter"), num(v, "size")};
}

void RunPodApi::delete_volume(const std::string& id) {
  try {
    call("DELETE", "/network-volumes/" + url_encode(id), "", Retry::Transient, opt_.timeout_s);
  } catch (const ApiError& e) {
    if (e.http_status != 404) throw;
  }
}

}  // namespace yolocpp::cloud
