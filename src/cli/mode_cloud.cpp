// `yolocpp cloud SUB ...`: train (the remote job), attach, logs, ls, down, gc.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/modes.hpp"
#include "yolocpp/cloud/cloud_provider.hpp"
#include "yolocpp/cloud/job.hpp"
#include "yolocpp/cloud/lambda_api.hpp"
#include "yolocpp/cloud/provider.hpp"
#include "yolocpp/cloud/registry.hpp"
#include "yolocpp/io/weights.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cli {

namespace fs = std::filesystem;

namespace {

// The job or instance a sub-command is about: instance=ID, else name=NAME.
std::string target_name(const Settings& s, const char* sub) {
  if (!s.is_none("instance")) return s.str("instance");
  if (s.was_set("name")) return s.str("name");
  throw ConfigError(std::string("cloud ") + sub + " needs name=JOB_NAME or instance=INSTANCE_ID (see `yolocpp cloud ls`)");
}

}  // namespace

// cloud train, plus what the instance's train-only build cannot do: fetch released weights (resolved here, once,
// into the local cache, then uploaded with the job) and export (run here on the downloaded best.pt).
int cloud_train_and_export(const Settings& given) {
  Settings s = given;
  if (!s.is_none("model")) {
    const std::string m = s.str("model");
    if (fs::path(m).extension() == ".pt" && !fs::exists(m) && io::is_known_asset(fs::path(m).filename().string()))
      s.set("model", io::resolve_weights(m));
  }
  int rc = cloud::cloud_train(s);
  std::string fmt = s.str("export");
  std::transform(fmt.begin(), fmt.end(), fmt.begin(), [](unsigned char c) { return (char)std::tolower(c); });
  if ((rc == 0 || rc == 3) && fmt == "onnx") {
    fs::path project = s.is_none("project") ? fs::path("runs/detect") : fs::path(s.str("project"));
    fs::path best = project / (s.is_none("name") ? std::string("train") : s.str("name")) / "weights" / "best.pt";
    if (!fs::exists(best)) {
      log::warn("export=onnx: {} is not there, nothing to export", best.string());
      return rc;
    }
    Settings e = Settings::defaults();
    e.set("mode", "export");
    e.set("model", best.string());
    e.set("format", "onnx");
    e.set("imgsz", s.str("imgsz"));
    int er = run_export(e);
    if (rc == 0) rc = er;
  }
  return rc;
}

int run_cloud(const std::string& sub, const Settings& s) {
  if (sub == "train") return cloud_train_and_export(s);
  if (sub == "attach") {
    target_name(s, "attach");
    return cloud::cloud_attach(s);
  }
  if (sub == "logs") {
    target_name(s, "logs");
    return cloud::cloud_logs(s);
  }
  cloud::Registry reg;
  if (sub == "ls") {
    // Every provider with a key (provider= narrows it); without any key, what the registry knows (host= jobs
    // need none).
    std::vector<std::unique_ptr<cloud::CloudProvider>> providers;
    try {
      providers = cloud::available_providers(s);
    } catch (const CloudError& e) {
      log::warn("{} (listing local jobs only)", e.what());
    }
    if (providers.empty()) log::warn("no cloud API key found (listing local jobs only)");
    std::vector<cloud::CloudProvider*> ps;
    for (auto& p : providers) ps.push_back(p.get());
    std::printf("%s", cloud::format_fleet(cloud::fleet(ps, reg)).c_str());
    return 0;
  }
  if (sub == "down") {
    // The job's own provider when the registry knows the job, else provider= (default lambda).
    const std::string key = target_name(s, "down");
    std::string provider = cloud::provider_name(s);
    if (!s.was_set("provider"))
      if (auto j = reg.find(key); j && j->instance && !j->provider.empty()) provider = j->provider;
    auto api = cloud::make_provider(provider, s);
    std::string id = cloud::down(*api, reg, key);
    std::printf("terminated %s\n", id.c_str());
    return 0;
  }
  if (sub == "gc") {
    auto providers = cloud::available_providers(s);
    if (providers.empty())
      throw CloudError("cloud gc: no API key found (LAMBDA_API_KEY / RUNPOD_API_KEY or their key files)");
    std::vector<std::string> ids;
    for (auto& p : providers)
      for (const auto& id : cloud::gc(*p, reg)) ids.push_back(id);
    std::printf("terminated %zu orphaned instance(s)\n", ids.size());
    for (const auto& id : ids) std::printf("  %s\n", id.c_str());
    return 0;
  }
  throw ConfigError("unknown cloud sub-command '" + sub + "'");
}

}  // namespace yolocpp::cli
