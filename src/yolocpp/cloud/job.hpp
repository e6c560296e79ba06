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
#include <vector>

#include "yolocpp/config/settings.hpp"

namespace yolocpp::cloud {

// Each returns the process exit code (0 success). Errors throw (CloudError, ConfigError, DataError).
int cloud_train(const config::Settings& s);
// Reconnects to a running job (name= or instance=), continues streaming its log and finishes it exactly
// like cloud_train (download, terminate).
int cloud_attach(const config::Settings& s);
// Prints the job's whole remote log once.
int cloud_logs(const config::Settings& s);

// How many of a machine's GPUs the remote `yolocpp train` uses (issue 7, "Many GPUs"). `yolocpp train
// device=0,1,...` runs one DDP rank per listed GPU with `batch` as the GLOBAL batch, so a multi-GPU machine
// is used whole by adding device=0,...,N-1 when the user did not choose a device.
struct GpuPlan {
  int gpus = 1;              // GPUs of the machine (specs.gpus, or nvidia-smi -L on a host= machine); -1 unknown
  int used = 1;              // GPUs the remote trainer will use
  std::string device;        // device= the job adds to the remote command; "" = add nothing (user's or default)
  std::string message;       // one log line when DDP is used ("training on 8 GPUs of gpu_8x_a100 with DDP: ...")
  std::vector<std::string> warnings;
};
// Decides device= for `machine` (a type name or host) with `gpus` GPUs (-1: unknown, nothing is checked).
// Throws ConfigError, before anything is launched or uploaded, when the job cannot run as asked: a user
// device= naming a GPU the machine lacks, or a batch that cannot be split across the GPUs (batch < GPUs, or
// AutoBatch batch=-1/0.x, which sizes one GPU only).
GpuPlan plan_gpus(const config::Settings& s, int gpus, const std::string& machine);
// The number of "GPU <n>: ..." lines in `nvidia-smi -L` output (MIG sub-devices are not counted).
int count_nvidia_smi_gpus(const std::string& nvidia_smi_l);

// Installs the job's signal handling: SIGINT/SIGTERM set stop_flag() (the job loop tears down and terminates);
// SIGHUP (terminal closed) detaches the job from the terminal instead of killing the client; SIGPIPE is
// ignored (a reader that went away, `| head`, makes writes fail instead of killing the client).
void install_stop_handlers();

// ConfigError unless `name` is a plain job name: letters, digits, '.', '_', '-', no "..", at most 64
// characters (it becomes a local and a remote folder name).
void validate_job_name(const std::string& name);

}  // namespace yolocpp::cloud
