#include "yolocpp/cloud/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <mutex>

#include "yolocpp/cloud/secrets.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cloud {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t on_body(char* p, size_t sz, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, sz * n);
  return sz * n;
}

size_t on_header(char* p, size_t sz, size_t n, void* ud) {
  auto* h = static_cast<std::map<std::string, std::string>*>(ud);
  std::string line(p, sz * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon), value = line.substr(colon + 1);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
    (*h)[name] = value;
  }
  return sz * n;
}

}  // namespace

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

HttpClient::HttpClient(std::string user_agent) : user_agent_(std::move(user_agent)) { global_init(); }

HttpResponse HttpClient::send(const HttpRequest& req) {
  HttpResponse res;
  CURL* c = curl_easy_init();
  if (!c) {
    res.error = "curl_easy_init failed";
    return res;
  }
  curl_slist* hdrs = nullptr;
  for (const auto& [k, v] : req.headers) hdrs = curl_slist_append(hdrs, (k + ": " + v).c_str());
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  if (req.method == "POST" || !req.body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)req.body.size());
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  // An explicit User-Agent: Lambda's Cloudflare front rejects some default client signatures (spec §1.2).
  curl_easy_setopt(c, CURLOPT_USERAGENT, user_agent_.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(req.timeout_s * 1000));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(req.connect_timeout_s * 1000));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: safe in threaded programs
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // never replay a POST (or the key) to another host
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &res.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &res.headers);
  auto t0 = std::chrono::steady_clock::now();
  CURLcode rc = curl_easy_perform(c);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (rc == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res.status);
  } else {
    res.status = 0;
    res.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
    res.error = curl_easy_strerror(rc);
  }
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  if (log::verbose())
    log::debug("http {} {} -> {} ({:.2f} s){}", req.method, redact(req.url), res.status, res.seconds,
               res.error.empty() ? "" : " " + redact(res.error));
  return res;
}

}  // namespace yolocpp::cloud
