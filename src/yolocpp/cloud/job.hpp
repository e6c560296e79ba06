// `yolocpp cloud train`: the very same `yolocpp train`, run on a rented (or any SSH) machine.
//   1 estimate (refuse over budget) -> 2 launch / reuse instance= / host=, wait until SSH answers ->
//   3 bootstrap a yolocpp binary -> 4 upload the dataset as one verified pack archive (skipped when the same
//   sha256 is there) -> 5 train detached under setsid nohup, streaming the log (attach continues it) ->
//   6 download best.pt, last.pt, results.csv, args.yaml (+ best.onnx with export=onnx), sha256-verified ->
//   7 terminate and confirm through the API (success, failure, SIGINT/SIGTERM, budget) unless keep=True ->
//   8 cost.json + table in the local run folder.
// The job record (registry.hpp) is saved at every step so `cloud attach/logs/down` work from another process.
#pragma once
#include <string>

#include "yolocpp/config/settings.hpp"

namespace yolocpp::cloud {

// Each returns the process exit code (0 success). Errors throw (CloudError, ConfigError, DataError).
int cloud_train(const config::Settings& s);
// Reconnects to a running job (name= or instance=), continues streaming its log and finishes it exactly
// like cloud_train (download, terminate).
int cloud_attach(const config::Settings& s);
// Prints the job's whole remote log once.
int cloud_logs(const config::Settings& s);

// Installs SIGINT/SIGTERM handlers that set stop_flag() (the job loop tears down and terminates).
void install_stop_handlers();

}  // namespace yolocpp::cloud
