// Lambda Cloud behind the provider interface: a thin adapter over LambdaApi (lambda_api.hpp), which keeps every
// Lambda-specific rule (the {"data"} envelope, error codes, one launch per 12 s, region fall-through, the
// ambiguous-launch search by name). What the job driver used to call on LambdaApi directly is here.
#pragma once
#include "yolocpp/cloud/cloud_provider.hpp"
#include "yolocpp/cloud/lambda_api.hpp"

namespace yolocpp::cloud {

Machine machine_of(const Instance& i);

class LambdaProvider : public CloudProvider {
 public:
  explicit LambdaProvider(LambdaApi api) : api_(std::move(api)) {}
  LambdaApi& api() { return api_; }

  std::string name() const override { return "lambda"; }
  std::string display() const override { return "Lambda"; }
  std::string base_url() const override { return api_.base_url(); }
  const std::string& api_key() const override { return api_.api_key(); }
  std::string login_user() const override { return "ubuntu"; }
  std::string boot_hint() const override { return "Lambda takes ~3-5 min"; }
  bool runs_user_data() const override { return true; }
  Billing billing() const override;
  WatchdogApi watchdog_api() const override;

  Offer offer(const std::string& type, int gpu_count) override;
  LaunchOutcome launch(const LaunchSpec& spec) override;
  std::vector<Machine> list() override;
  std::vector<Machine> find_by_name(const std::string& name) override;
  std::optional<Machine> find(const std::string& id) override;
  Machine get(const std::string& id) override;
  Machine wait_ready(const std::string& id, double timeout_s, double poll_s,
                     const std::function<void(const Machine&)>& on_poll) override;
  void terminate_and_confirm(const std::string& id, double timeout_s, double poll_s) override;

  std::vector<Volume> volumes() override;
  Volume create_volume(const std::string& name, int64_t size_gb, const std::string& region) override;
  void delete_volume(const std::string& id) override;

 private:
  LambdaApi api_;
};

}  // namespace yolocpp::cloud
