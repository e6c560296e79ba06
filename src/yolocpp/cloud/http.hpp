// A small blocking HTTP client on libcurl: one request at a time, explicit timeouts, TLS verification on,
// and no exceptions for HTTP status codes (the caller decides what a 429 or a 5xx means). Transport failures
// (DNS, connect, TLS, timeout) come back as status 0 with `error` set, so retry policies see them too.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace yolocpp::cloud {

struct HttpRequest {
  std::string method = "GET";  // GET, POST, DELETE
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                // sent as is (POST)
  double timeout_s = 30;           // whole request
  double connect_timeout_s = 10;
};

struct HttpResponse {
  long status = 0;                            // 0: no HTTP answer (see error / timed_out)
  std::string body;
  std::map<std::string, std::string> headers; // names lower-cased; last value wins
  bool timed_out = false;
  std::string error;                          // libcurl's message when status == 0
  double seconds = 0;                         // wall time of the request
  std::string header(const std::string& lower_name) const;
};

class HttpClient {
 public:
  explicit HttpClient(std::string user_agent);
  virtual ~HttpClient() = default;
  // Sends the request. With log::verbose(), logs method, URL, status and time, with every registered secret
  // (secrets.hpp) redacted and the Authorization header never shown.
  virtual HttpResponse send(const HttpRequest& req);

 private:
  std::string user_agent_;
};

}  // namespace yolocpp::cloud
