#include "yolocpp/cloud/cloud_provider.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "yolocpp/cloud/lambda_provider.hpp"
#include "yolocpp/cloud/runpod_api.hpp"
#include "yolocpp/config/settings.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cloud {

SshTarget CloudProvider::ssh_target(const Machine& m, int default_port, const fs::path& key) const {
  SshTarget t;
  const char* u = std::getenv("YOLOCPP_CLOUD_USER");  // images differ; the provider's default otherwise
  t.user = u && *u ? u : login_user();
  t.host = m.ssh_host;
  t.port = m.ssh_port > 0 ? m.ssh_port : default_port;  // RunPod: the public port mapped to the pod's 22/tcp
  t.key_file = key;
  t.host_id = m.id;  // pinned per machine: IPs (and RunPod's mapped ports) are reused, ids are not
  t.known_hosts = default_known_hosts();
  return t;
}

std::string provider_name(const config::Settings& s) {
  std::string p = s.is_none("provider") ? "lambda" : s.str("provider");
  std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return (char)std::tolower(c); });
  if (p != "lambda" && p != "runpod")
    throw ConfigError("provider=" + s.str("provider") +
                      " is not supported: use provider=lambda (Lambda Cloud) or "
                      "provider=runpod (RunPod pods)");
  return p;
}

std::unique_ptr<CloudProvider> make_provider(const std::string& name, const config::Settings& s) {
  if (name == "runpod") return RunPodApi::from_settings(s);
  if (name == "lambda") return std::make_unique<LambdaProvider>(LambdaApi::from_settings(s));
  throw ConfigError("unknown cloud provider '" + name + "' (lambda, runpod)");
}

std::vector<std::unique_ptr<CloudProvider>> available_providers(const config::Settings& s) {
  std::vector<std::unique_ptr<CloudProvider>> out;
  // provider= given: only it, and a missing key is an error. Otherwise every provider with a key; api_url then
  // belongs to Lambda (the default provider), RunPod uses its default endpoint.
  if (s.was_set("provider")) {
    out.push_back(make_provider(provider_name(s), s));
    return out;
  }
  try {
    out.push_back(make_provider("lambda", s));
  } catch (const CloudError& e) {
    log::debug("Lambda: {}", e.what());
  }
  config::Settings r = s;
  if (s.was_set("api_url")) r.set("api_url", "https://api.runpod.io/v2");
  try {
    out.push_back(RunPodApi::from_settings(r));
  } catch (const CloudError& e) {
    log::debug("RunPod: {}", e.what());
  }
  return out;
}

}  // namespace yolocpp::cloud
