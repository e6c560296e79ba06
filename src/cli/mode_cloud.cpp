// `yolocpp cloud SUB ...`: train (the remote job), attach, logs, ls, down, gc.
#include <cstdio>
#include <memory>

#include "cli/modes.hpp"
#include "yolocpp/cloud/job.hpp"
#include "yolocpp/cloud/lambda_api.hpp"
#include "yolocpp/cloud/provider.hpp"
#include "yolocpp/cloud/registry.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::cli {

namespace {

// The job or instance a sub-command is about: instance=ID, else name=NAME.
std::string target_name(const Settings& s, const char* sub) {
  if (!s.is_none("instance")) return s.str("instance");
  if (s.was_set("name")) return s.str("name");
  throw ConfigError(std::string("cloud ") + sub + " needs name=JOB_NAME or instance=INSTANCE_ID (see `yolocpp cloud ls`)");
}

}  // namespace

int run_cloud(const std::string& sub, const Settings& s) {
  if (sub == "train") return cloud::cloud_train(s);
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
    // Without an API key, list what the registry knows (host= jobs need no key).
    std::unique_ptr<cloud::LambdaApi> api;
    try {
      api = std::make_unique<cloud::LambdaApi>(cloud::LambdaApi::from_settings(s));
    } catch (const CloudError& e) {
      log::warn("{} (listing local jobs only)", e.what());
    }
    std::printf("%s", cloud::format_fleet(cloud::fleet(api.get(), reg)).c_str());
    return 0;
  }
  auto api = cloud::LambdaApi::from_settings(s);
  if (sub == "down") {
    std::string id = cloud::down(api, reg, target_name(s, "down"));
    std::printf("terminated %s\n", id.c_str());
    return 0;
  }
  if (sub == "gc") {
    auto ids = cloud::gc(api, reg);
    std::printf("terminated %zu orphaned instance(s)\n", ids.size());
    for (const auto& id : ids) std::printf("  %s\n", id.c_str());
    return 0;
  }
  throw ConfigError("unknown cloud sub-command '" + sub + "'");
}

}  // namespace yolocpp::cli
