#include "yolocpp/cloud/lambda_api.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <sstream>
#include <thread>

#include "yolocpp/cloud/secrets.hpp"
#include "yolocpp/config/settings.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"
#include "yolocpp/version.hpp"

namespace yolocpp::cloud {

using nlohmann::json;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Optional string members: absent or null -> "" (the spec marks name, ip, hostname... optional).
std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
int64_t num(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}
std::vector<std::string> strs(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it != j.end() && it->is_array())
    for (const auto& v : *it)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

Region parse_region(const json& j) {
  if (j.is_string()) return {j.get<std::string>(), ""};  // tolerate the bare-string form some clients assume
  return {str(j, "name"), str(j, "description")};
}

InstanceType parse_type(const json& j) {
  InstanceType t;
  t.name = str(j, "name");
  t.description = str(j, "description");
  t.gpu_description = str(j, "gpu_description");
  t.price_cents_per_hour = num(j, "price_cents_per_hour");
  if (auto it = j.find("specs"); it != j.end() && it->is_object()) {
    t.vcpus = (int)num(*it, "vcpus");
    t.memory_gib = (int)num(*it, "memory_gib");
    t.storage_gib = (int)num(*it, "storage_gib");
    t.gpus = (int)num(*it, "gpus");
  }
  return t;
}

Instance parse_instance(const json& j) {
  Instance i;
  i.id = str(j, "id");
  i.name = str(j, "name");
  i.status = str(j, "status");
  i.ip = str(j, "ip");
  i.private_ip = str(j, "private_ip");
  i.hostname = str(j, "hostname");
  if (auto it = j.find("region"); it != j.end() && !it->is_null()) i.region = parse_region(*it);
  if (auto it = j.find("instance_type"); it != j.end() && it->is_object()) i.type = parse_type(*it);
  i.ssh_key_names = strs(j, "ssh_key_names");
  i.file_system_names = strs(j, "file_system_names");
  if (auto a = j.find("actions"); a != j.end() && a->is_object())
    if (auto t = a->find("terminate"); t != a->end() && t->is_object() && t->contains("available"))
      i.terminate_available = (*t)["available"].is_boolean() ? (*t)["available"].get<bool>() : true;
  return i;
}

Filesystem parse_filesystem(const json& j) {
  Filesystem f;
  f.id = str(j, "id");
  f.name = str(j, "name");
  f.mount_point = str(j, "mount_point");
  if (f.mount_point.empty() && !f.name.empty()) f.mount_point = "/lambda/nfs/" + f.name;  // the documented default
  if (auto it = j.find("region"); it != j.end() && !it->is_null()) f.region = parse_region(*it).name;
  if (auto it = j.find("is_in_use"); it != j.end() && it->is_boolean()) f.in_use = it->get<bool>();
  if (auto it = j.find("bytes_used"); it != j.end() && it->is_number()) f.bytes_used = it->get<int64_t>();
  return f;
}

SshKey parse_key(const json& j) {
  SshKey k{str(j, "id"), str(j, "name"), str(j, "public_key"), str(j, "private_key")};
  if (!k.private_key.empty()) register_secret(k.private_key);
  return k;
}

// "ssh-ed25519 AAAA... comment" -> "ssh-ed25519 AAAA...": the comment does not identify the key.
std::string normalize_public_key(const std::string& k) {
  std::istringstream in(k);
  std::string type, blob;
  in >> type >> blob;
  return blob.empty() ? type : type + " " + blob;
}

std::string shorten(const std::string& s, size_t n = 300) { return s.size() <= n ? s : s.substr(0, n) + "..."; }

}  // namespace

bool ApiError::transient() const {
  return http_status == 0 || http_status == 429 || http_status >= 500;
}

LambdaApi::LambdaApi(LambdaApiOptions opt) : opt_(std::move(opt)) {
  while (!opt_.base_url.empty() && opt_.base_url.back() == '/') opt_.base_url.pop_back();
  if (opt_.base_url.empty()) throw ConfigError("setting 'api_url' is empty: set it to https://cloud.lambda.ai/api/v1");
  if (opt_.user_agent.empty()) opt_.user_agent = std::string("yolocpp/") + YOLOCPP_VERSION;
  if (!opt_.http) opt_.http = std::make_shared<HttpClient>(opt_.user_agent);
  if (opt_.retry.max_attempts < 1) opt_.retry.max_attempts = 1;
  register_secret(opt_.api_key);
}

void check_api_url(const std::string& url) {
  // The Bearer key goes wherever api_url points: only to TLS endpoints, or to this machine (local servers).
  auto host_of = [](const std::string& rest) {
    std::string h = rest.substr(0, rest.find_first_of("/?#"));
    if (auto at = h.rfind('@'); at != std::string::npos) h = h.substr(at + 1);
    if (!h.empty() && h[0] == '[') return h.substr(1, h.find(']') == std::string::npos ? std::string::npos : h.find(']') - 1);
    return h.substr(0, h.find(':'));
  };
  if (url.rfind("https://", 0) == 0 && !host_of(url.substr(8)).empty()) return;
  if (url.rfind("http://", 0) == 0) {
    std::string h = host_of(url.substr(7));
    if (h == "localhost" || h == "::1" || h.rfind("127.", 0) == 0) return;
    throw ConfigError("api_url=" + url + ": plain http is allowed only to this machine (127.0.0.1, localhost); the "
                      "API key would travel unencrypted to " + (h.empty() ? std::string("that host") : h) +
                      ". Use https://");
  }
  throw ConfigError("api_url=" + url + " is not an https:// URL (e.g. https://cloud.lambdalabs.com/api/v1)");
}

LambdaApi LambdaApi::from_settings(const config::Settings& s) {
  LambdaApiOptions o;
  if (!s.is_none("api_url")) o.base_url = s.str("api_url");
  check_api_url(o.base_url);
  o.api_key = load_api_key();
  return LambdaApi(std::move(o));
}

void LambdaApi::sleep(double s) {
  if (s <= 0) return;
  if (opt_.sleep) opt_.sleep(s);
  else std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

double LambdaApi::backoff(int attempt, const HttpResponse& r) const {
  if (r.status == 429) {
    // Retry-After in seconds when the server sends one (spec §1.4: not documented whether it does).
    std::string ra = r.header("retry-after");
    char* end = nullptr;
    double v = ra.empty() ? -1 : std::strtod(ra.c_str(), &end);
    if (v >= 0 && end && *end == '\0') return std::min(v, opt_.retry.max_delay_s);
  }
  return std::min(opt_.retry.base_delay_s * std::pow(2.0, attempt - 1), opt_.retry.max_delay_s);
}

HttpResponse LambdaApi::send(const std::string& method, const std::string& path, const std::string& body,
                             double timeout_s) {
  HttpRequest req;
  req.method = method;
  req.url = opt_.base_url + path;
  req.headers = {{"Authorization", "Bearer " + opt_.api_key}, {"Accept", "application/json"}};
  if (method == "POST") req.headers.emplace_back("Content-Type", "application/json");
  req.body = body;
  req.timeout_s = timeout_s;
  req.connect_timeout_s = opt_.connect_timeout_s;
  return opt_.http->send(req);
}

ApiError LambdaApi::error_of(const std::string& method, const std::string& path, const HttpResponse& r) const {
  std::string where = "Lambda API " + method + " " + path;
  if (r.status == 0) {
    std::string code = r.timed_out ? "http/timeout" : "http/transport";
    return ApiError(redact(where + ": " + (r.timed_out ? "no answer (timed out)" : "request failed") + ": " +
                               r.error + " (url " + opt_.base_url + "; check the network and setting 'api_url')",
                           opt_.api_key),
                    0, code);
  }
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& e = j["error"];
    std::string code = str(e, "code"), msg = str(e, "message"), sugg = str(e, "suggestion");
    std::string what = where + ": HTTP " + std::to_string(r.status) + " " + code + ": " + msg;
    if (!sugg.empty()) what += " (" + sugg + ")";
    if (r.status == 401 || code == "global/invalid-api-key")
      what += "; fix: check LAMBDA_API_KEY or " + default_key_file().string() + " (create a key on the console)";
    return ApiError(redact(what, opt_.api_key), r.status, code, redact(sugg, opt_.api_key));
  }
  // No envelope. A 403 here comes from Cloudflare in front of the API (e.g. "error code: 1010"), not from
  // Lambda's auth (spec §1.2): say so, so nobody rotates a good key.
  if (r.status == 403)
    return ApiError(redact(where + ": HTTP 403 blocked at Lambda's edge, not an API-key error (body: " +
                               shorten(r.body) + "); retry later or from another network",
                           opt_.api_key),
                    403, "http/edge-blocked");
  std::string what = where + ": HTTP " + std::to_string(r.status);
  if (r.status == 429) what += " rate limited (Lambda allows about 1 request/s, 1 launch per 12 s)";
  if (!r.body.empty()) what += " (body: " + shorten(r.body) + ")";
  return ApiError(redact(what, opt_.api_key), r.status, "http/" + std::to_string(r.status));
}

json LambdaApi::call(const std::string& method, const std::string& path, const std::string& body, Retry retry,
                     double timeout_s) {
  for (int attempt = 1;; ++attempt) {
    HttpResponse r = send(method, path, body, timeout_s);
    if (r.status >= 200 && r.status < 300) {
      json j = json::parse(r.body, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("data"))
        throw ApiError(redact("Lambda API " + method + " " + path + ": HTTP " + std::to_string(r.status) +
                                  " without the {\"data\": ...} envelope (body: " + shorten(r.body) +
                                  "); is setting 'api_url' (" + opt_.base_url + ") the API's v1 root?",
                              opt_.api_key),
                       r.status, "http/bad-envelope");
      return j["data"];
    }
    ApiError err = error_of(method, path, r);
    bool again = retry == Retry::Transient ? err.transient() : (retry == Retry::RateLimitOnly && r.status == 429);
    if (!again || attempt >= opt_.retry.max_attempts) throw err;
    double d = backoff(attempt, r);
    // Said as it happens: a silent minute of retries looks like a hang.
    log::warn("{} {}: {}; retry {}/{} in {:.0f} s", method, path,
              r.status == 0 ? "Lambda API unreachable" : "Lambda API answered HTTP " + std::to_string(r.status),
              attempt, opt_.retry.max_attempts - 1, d);
    log::debug("{}", err.what());
    sleep(d);
  }
}

std::map<std::string, InstanceTypeOffer> LambdaApi::instance_types() {
  json d = call("GET", "/instance-types", "", Retry::Transient, opt_.timeout_s);
  std::map<std::string, InstanceTypeOffer> out;
  if (!d.is_object()) return out;
  for (auto it = d.begin(); it != d.end(); ++it) {
    InstanceTypeOffer o;
    if (auto t = it->find("instance_type"); t != it->end()) o.type = parse_type(*t);
    if (o.type.name.empty()) o.type.name = it.key();
    if (auto r = it->find("regions_with_capacity_available"); r != it->end() && r->is_array())
      for (const auto& reg : *r) o.regions_with_capacity.push_back(parse_region(reg));
    out[it.key()] = o;
  }
  return out;
}

InstanceTypeOffer LambdaApi::instance_type(const std::string& name) {
  auto all = instance_types();
  auto it = all.find(name);
  if (it != all.end()) return it->second;
  std::string names;
  for (const auto& [k, v] : all) names += (names.empty() ? "" : ", ") + k;
  throw CloudError("unknown instance type '" + name + "' (setting 'gpu'); Lambda offers: " + names);
}

std::vector<Instance> LambdaApi::list_instances() {
  json d = call("GET", "/instances", "", Retry::Transient, opt_.timeout_s);
  std::vector<Instance> out;
  if (d.is_array())
    for (const auto& j : d) out.push_back(parse_instance(j));
  return out;
}

Instance LambdaApi::get_instance(const std::string& id) {
  return parse_instance(call("GET", "/instances/" + id, "", Retry::Transient, opt_.timeout_s));
}

std::optional<Instance> LambdaApi::find_instance(const std::string& id) {
  try {
    return get_instance(id);
  } catch (const ApiError& e) {
    if (e.not_found()) return std::nullopt;
    throw;
  }
}

std::vector<Instance> LambdaApi::find_by_name(const std::string& name) {
  std::vector<Instance> out;
  for (auto& i : list_instances())
    if (i.name == name && i.status != "terminated") out.push_back(std::move(i));
  return out;
}

LaunchResult LambdaApi::launch(const LaunchRequest& req) {
  if (req.name.empty())
    throw CloudError("launch needs a unique instance name (yolocpp-<job id>): it is how a launch that timed out "
                     "is found again instead of launched twice");
  if (req.ssh_key_name.empty()) throw CloudError("launch needs an SSH key name registered with Lambda");
  json body = {{"region_name", req.region},
               {"instance_type_name", req.instance_type},
               {"ssh_key_names", json::array({req.ssh_key_name})},
               {"name", req.name}};
  if (!req.hostname.empty()) body["hostname"] = req.hostname;
  if (!req.user_data.empty()) body["user_data"] = req.user_data;
  if (!req.file_system_names.empty()) body["file_system_names"] = req.file_system_names;
  const std::string path = "/instance-operations/launch";
  LaunchResult res;
  res.region = req.region;
  std::string last;
  for (int attempt = 1; attempt <= opt_.retry.max_attempts; ++attempt) {
    double wait = last_launch_ + opt_.retry.launch_interval_s - now_s();
    if (wait > 0) sleep(wait);  // one launch per 12 s: a 429 here would waste the slot anyway
    last_launch_ = now_s();
    ++res.attempts;
    HttpResponse r = send("POST", path, body.dump(), opt_.launch_timeout_s);
    if (r.status >= 200 && r.status < 300) {
      json j = json::parse(r.body, nullptr, false);
      if (!j.is_discarded() && j.is_object() && j.contains("data") && j["data"].contains("instance_ids") &&
          j["data"]["instance_ids"].is_array() && !j["data"]["instance_ids"].empty() &&
          j["data"]["instance_ids"][0].is_string() && !j["data"]["instance_ids"][0].get<std::string>().empty()) {
        res.instance_id = j["data"]["instance_ids"][0].get<std::string>();
        log::info("launched {} ({} in {}): instance {}", req.name, req.instance_type, req.region, res.instance_id);
        return res;
      }
      last = "HTTP " + std::to_string(r.status) + " without instance_ids";  // ambiguous: resolve by name below
    } else {
      ApiError err = error_of("POST", path, r);
      if (r.status == 429) {  // rejected before any work: safe to send again after the back-off
        sleep(backoff(attempt, r));
        last = err.what();
        continue;
      }
      if (r.status >= 400 && r.status < 500) throw err;  // capacity, quota, bad parameters, auth: definite
      last = err.what();
    }
    // Ambiguous (timeout, 5xx, lost connection, odd 2xx): the instance may exist. Look for our name a few
    // times (creation can lag the failed answer) before deciding nothing was created.
    log::warn("launch of {} did not return a clear answer ({}); looking for it by name for up to {:.0f} s", req.name,
              last, opt_.ambiguous_wait_s);
    // An instance can show up in the list well after the answer that failed: keep looking for a while
    // before concluding that nothing was created (a second launch would bill twice).
    // Time is counted in slept seconds (tests inject an instant sleep), so the window is the same either way.
    double waited = 0;
    for (int look = 0;; ++look) {
      if (look) {
        if (waited >= opt_.ambiguous_wait_s) break;
        double d = std::min(std::min(5.0, backoff(look, HttpResponse{})), opt_.ambiguous_wait_s - waited);
        sleep(std::max(0.1, d));
        waited += std::max(0.1, d);
      }
      std::vector<Instance> found;
      try {
        found = find_by_name(req.name);
      } catch (const ApiError& e) {
        if (!e.transient()) throw;
        continue;
      }
      if (!found.empty()) {
        // Keep the oldest-listed one; anything beyond it is a duplicate and is terminated at once.
        res.instance_id = found[0].id;
        res.adopted = true;
        if (!found[0].region.name.empty()) res.region = found[0].region.name;
        for (size_t k = 1; k < found.size(); ++k) {
          log::warn("terminating duplicate instance {} named {}", found[k].id, req.name);
          terminate({found[k].id});
        }
        log::info("adopted instance {} named {} after the ambiguous launch", res.instance_id, req.name);
        return res;
      }
    }
    log::warn("no instance named {} exists, so the launch did not happen; launching again", req.name);
    sleep(backoff(attempt, HttpResponse{}));
  }
  throw CloudError(redact("launch of " + req.name + " (" + req.instance_type + " in " + req.region +
                              ") failed after " + std::to_string(res.attempts) + " attempts: " + last,
                          opt_.api_key));
}

LaunchResult LambdaApi::launch_auto(LaunchRequest req) {
  InstanceTypeOffer offer = instance_type(req.instance_type);
  std::vector<std::string> regions;
  std::string with_capacity;
  for (const auto& r : offer.regions_with_capacity) {
    regions.push_back(r.name);
    with_capacity += (with_capacity.empty() ? "" : ", ") + r.name;
  }
  const std::string code = "instance-operations/launch/insufficient-capacity";
  if (!req.region.empty() && req.region != "auto") {
    // Refuse locally instead of spending the one-per-12-s launch slot on a sure refusal (spec §1.4).
    if (std::find(regions.begin(), regions.end(), req.region) == regions.end())
      throw ApiError("no capacity for " + req.instance_type + " in region " + req.region + " now (regions with "
                         "capacity: " + (with_capacity.empty() ? "none" : with_capacity) +
                         "); use region=auto or another gpu=",
                     400, code);
    regions = {req.region};
  }
  if (regions.empty())
    throw ApiError("no capacity for " + req.instance_type + " in any region now; try another gpu= or later", 400,
                   code);
  LaunchResult res;
  std::string refusals;
  for (const auto& region : regions) {
    req.region = region;
    res.regions_tried.push_back(region);
    try {
      LaunchResult r = launch(req);
      r.attempts += res.attempts;
      r.regions_tried = res.regions_tried;
      return r;
    } catch (const ApiError& e) {
      if (!e.capacity()) throw;
      log::warn("no capacity for {} in {} at launch time; trying the next region", req.instance_type, region);
      refusals += (refusals.empty() ? "" : ", ") + region;
      res.attempts += 1;
    }
  }
  throw ApiError("no capacity for " + req.instance_type + " in any region tried (" + refusals +
                     "); try another gpu= or later",
                 400, code);
}

std::vector<Instance> LambdaApi::terminate(const std::vector<std::string>& ids, double deadline_s) {
  json body = {{"instance_ids", ids}};
  for (int attempt = 1;; ++attempt) {
    try {
      json d = call("POST", "/instance-operations/terminate", body.dump(), Retry::Never, opt_.timeout_s);
      std::vector<Instance> out;
      if (d.is_object() && d.contains("terminated_instances") && d["terminated_instances"].is_array())
        for (const auto& j : d["terminated_instances"]) out.push_back(parse_instance(j));
      return out;
    } catch (const ApiError& e) {
      // A repeat terminate of a terminating instance has answered 500 global/unknown (spec §1.3/§1.7), and a
      // timed-out terminate may have worked: look at the instances before retrying; if every one is going or
      // gone, the goal is reached. Terminate is idempotent, so sending it again is safe.
      if (!(e.transient() || e.not_found())) throw;
      std::vector<Instance> out;
      bool all_gone = true;
      for (const auto& id : ids) {
        auto i = find_instance(id);
        if (i && !i->gone()) all_gone = false;
        if (i) out.push_back(*i);
      }
      if (all_gone) return out;
      double d = backoff(attempt, HttpResponse{});
      if (attempt >= opt_.retry.max_attempts || (deadline_s > 0 && now_s() + d > deadline_s)) throw;
      log::debug("{} (attempt {}/{}), retrying in {:.1f} s", e.what(), attempt, opt_.retry.max_attempts, d);
      sleep(d);
    }
  }
}

void LambdaApi::terminate_and_confirm(const std::string& id, double timeout_s, double poll_s) {
  const double deadline = now_s() + timeout_s;
  std::string last_error, last_status = "unknown";
  bool sent = false;
  for (int poll = 0;; ++poll) {
    // Send until one request was accepted; then again every third poll while the instance does not show
    // 'terminating' (a terminate refused during boot, spec §1.7 open question 1).
    if (!sent || (poll % 3 == 0 && last_status != "terminating")) {
      try {
        terminate({id}, deadline);
        sent = true;
      } catch (const CloudError& e) {
        last_error = e.what();
        log::warn("terminate {}: {}", id, last_error);
      }
    }
    try {
      auto i = find_instance(id);
      if (!i || i->status == "terminated") {
        log::info("instance {} terminated", id);
        return;
      }
      last_status = i->status;
    } catch (const CloudError& e) {
      last_error = e.what();
    }
    if (now_s() >= deadline)
      throw CloudError("instance " + id + " is still '" + last_status + "' " + std::to_string((int)timeout_s) +
                       " s after the terminate request and may still be billing: terminate it on the Lambda "
                       "console or with `yolocpp cloud down instance=" + id + "`" +
                       (last_error.empty() ? "" : " (last error: " + last_error + ")"));
    sleep(poll_s);
  }
}

std::vector<Instance> LambdaApi::restart(const std::vector<std::string>& ids) {
  json d = call("POST", "/instance-operations/restart", json({{"instance_ids", ids}}).dump(), Retry::RateLimitOnly,
                opt_.timeout_s);
  std::vector<Instance> out;
  if (d.is_object() && d.contains("restarted_instances"))
    for (const auto& j : d["restarted_instances"]) out.push_back(parse_instance(j));
  return out;
}

Instance LambdaApi::wait_active(const std::string& id, double timeout_s, double poll_s,
                                const std::function<void(const Instance&)>& on_poll) {
  const double deadline = now_s() + timeout_s;
  for (;;) {
    Instance i = get_instance(id);
    if (on_poll) on_poll(i);
    if (i.ready()) return i;
    if (i.status == "unhealthy" || i.status == "terminated" || i.status == "terminating" || i.status == "preempted")
      throw CloudError("instance " + id + " became '" + i.status + "' while starting; terminate it and try "
                       "another region or gpu=");
    if (now_s() >= deadline)
      throw CloudError("instance " + id + " is still '" + i.status + "' after " + std::to_string((int)timeout_s) +
                       " s (stuck booting); terminate it and try another region");
    sleep(poll_s);
  }
}

std::vector<SshKey> LambdaApi::list_ssh_keys() {
  json d = call("GET", "/ssh-keys", "", Retry::Transient, opt_.timeout_s);
  std::vector<SshKey> out;
  if (d.is_array())
    for (const auto& j : d) out.push_back(parse_key(j));
  return out;
}

SshKey LambdaApi::add_ssh_key(const std::string& name, const std::string& public_key) {
  json body = {{"name", name}, {"public_key", public_key}};
  return parse_key(call("POST", "/ssh-keys", body.dump(), Retry::RateLimitOnly, opt_.timeout_s));
}

SshKey LambdaApi::generate_ssh_key(const std::string& name) {
  json body = {{"name", name}};  // no public_key: Lambda makes the pair and returns private_key once
  return parse_key(call("POST", "/ssh-keys", body.dump(), Retry::RateLimitOnly, opt_.timeout_s));
}

void LambdaApi::delete_ssh_key(const std::string& id) {
  try {
    call("DELETE", "/ssh-keys/" + id, "", Retry::Transient, opt_.timeout_s);
  } catch (const ApiError& e) {
    if (!e.not_found()) throw;  // already gone (perhaps by our own retried request)
  }
}

bool valid_filesystem_name(const std::string& name) {
  if (name.empty() || name.size() > 60 || !std::isalpha(static_cast<unsigned char>(name[0]))) return false;
  for (unsigned char c : name)
    if (!std::isalnum(c) && c != '-') return false;
  return true;
}

std::vector<Filesystem> LambdaApi::list_filesystems() {
  json d = call("GET", "/file-systems", "", Retry::Transient, opt_.timeout_s);
  std::vector<Filesystem> out;
  if (d.is_array())
    for (const auto& f : d) out.push_back(parse_filesystem(f));
  return out;
}

std::optional<Filesystem> LambdaApi::find_filesystem(const std::string& name) {
  for (auto& f : list_filesystems())
    if (f.name == name) return f;
  return std::nullopt;
}

Filesystem LambdaApi::create_filesystem(const std::string& name, const std::string& region) {
  if (!valid_filesystem_name(name))
    throw ConfigError("filesystem=" + name + " is not a valid Lambda filesystem name: a letter first, then letters, "
                      "digits and '-', at most 60 characters");
  json body = {{"name", name}, {"region", region}};
  // Retrying is safe: names are unique per account, so a create whose answer was lost makes the retry answer
  // global/duplicate, and the filesystem of that name is the one this call made (the caller creates only
  // after finding none).
  try {
    return parse_filesystem(call("POST", "/filesystems", body.dump(), Retry::Transient, opt_.timeout_s));
  } catch (const ApiError& e) {
    if (e.code != "global/duplicate") throw;
    if (auto f = find_filesystem(name)) return *f;
    throw;
  }
}

std::string LambdaApi::ensure_ssh_key(const std::string& public_key) {
  std::string want = normalize_public_key(public_key);
  bool known_type = want.rfind("ssh-", 0) == 0 || want.rfind("ecdsa-", 0) == 0 || want.rfind("sk-", 0) == 0;
  if (!known_type || want.find(' ') == std::string::npos)
    throw CloudError("not an OpenSSH public key (expected 'ssh-ed25519 AAAA...'): " + shorten(public_key, 40));
  for (const auto& k : list_ssh_keys())
    if (normalize_public_key(k.public_key) == want) return k.name;
  std::string name = "yolocpp-" + util::sha256_hex(want).substr(0, 12);
  add_ssh_key(name, want);
  return name;
}

}  // namespace yolocpp::cloud
