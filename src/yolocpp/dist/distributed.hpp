// Distributed data parallel over PyTorch's c10d (https://pytorch.org/docs/stable/distributed.html): torchrun-style
// rendezvous through a TCPStore, NCCL on CUDA / Gloo on CPU, gradient all-reduce in buckets that overlaps the backward
// pass, DistributedSampler-equivalent sharding, and a local launcher for device=0,1,2,3 that runs one process per
// device and stops every rank when one of them dies.
//
// Why not torch::nn::parallel / c10d::Reducer: the C++ Reducer needs Python-side setup (bucket indices,
// logger, comm hooks) and its API changed between 1.13 and 2.x; the bucketed hook below is small, works the
// same on both, and is tested against single-process gradients (tests/ddp).
//
// BatchNorm: by default each rank normalises with its own batch statistics, as Ultralytics does (it never
// converts to SyncBatchNorm); rank 0's BN running statistics are what the checkpoints hold. `sync_bn=True`
// switches nn::Conv's BatchNorms to dist/sync_bn.hpp's SyncBatchNorm (LibTorch C++ has none of its own).
//
// Timeouts: the rendezvous (every rank reaching rank 0's TCPStore and announcing itself) has its own, short
// timeout (YOLOCPP_DDP_RENDEZVOUS_TIMEOUT seconds, default 300), so a rank that never starts ends the others in
// minutes with the missing ranks named; collectives keep the long one (YOLOCPP_DDP_TIMEOUT, default 1800 s).
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "yolocpp/config/device.hpp"
#include "yolocpp/data/shard.hpp"
#include "yolocpp/util/error.hpp"

namespace c10d {
class Store;
}  // namespace c10d

namespace yolocpp::engine {

// A rank could not join, a collective failed or timed out, or a peer rank stopped.
struct DistributedError : Error { using Error::Error; };

// What torchrun (and our launcher) puts in the environment.
struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool active() const { return world_size > 1; }
};

// Reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT. WORLD_SIZE unset -> a single process.
// A malformed or inconsistent value -> ConfigError naming the variable.
DistEnv dist_env_from_environment();

// device=0,1,2,3 -> {0, 1, 2, 3} (config/device.hpp).
using config::parse_device_list;

// The global batch split across ranks (Ultralytics: batch // world_size). batch < world -> ConfigError.
int per_rank_batch(int batch, int world_size);

// The order DistributedSampler itself makes (data/shard.hpp shards it): randperm(n) from a generator seeded with seed + epoch (or
// 0..n-1 without shuffle), sharded as above.
std::vector<int> distributed_sampler_indices(int n, int rank, int world_size, uint64_t seed, int epoch,
                                             bool shuffle);

// Bucket plan: consecutive runs of `order` whose byte sizes sum to at most cap_bytes (a tensor bigger than
// the cap gets a bucket of its own). Returns the buckets as lists of positions into `bytes`.
std::vector<std::vector<size_t>> plan_buckets(const std::vector<size_t>& bytes, const std::vector<size_t>& order,
                                              size_t cap_bytes);

struct DistOptions {
  std::string backend = "auto";  // auto: nccl for CUDA devices, gloo for CPU
  // Collective timeout: a collective a peer never joins ends with DistributedError after this long.
  // 0: YOLOCPP_DDP_TIMEOUT seconds from the environment, else 30 minutes (PyTorch's default).
  std::chrono::milliseconds timeout{0};
  // Rendezvous timeout: how long ranks wait for all WORLD_SIZE ranks to reach the store (a rank that never
  // starts or dies early is named in the error). 0: YOLOCPP_DDP_RENDEZVOUS_TIMEOUT seconds, else 5 minutes.
  std::chrono::milliseconds rendezvous_timeout{0};
  // Gloo: the network interface/host to bind (GLOO_SOCKET_IFNAME is honoured too); empty = MASTER_ADDR's
  // loopback for a single machine, the host's name otherwise.
  std::string gloo_host;
};

// DistOptions with its 0 (= from the environment) timeouts filled in; a malformed or non-positive
// YOLOCPP_DDP_TIMEOUT / YOLOCPP_DDP_RENDEZVOUS_TIMEOUT -> ConfigError naming it.
DistOptions resolve_timeouts(DistOptions opt);

// One process group. Every collective is blocking from the caller's view except the bucketed gradient
// all-reduce (GradReducer); a failure becomes DistributedError naming this rank and what failed.
class Distributed {
 public:
  // Rendezvous from the environment (torchrun names) through a TCPStore served by rank 0.
  static std::unique_ptr<Distributed> from_env(const DistEnv& env, torch::Device device, DistOptions opt = {});
  // Over an existing store (tests: one TCPStore per rank thread, or a FileStore).
  static std::unique_ptr<Distributed> with_store(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                 int world_size, torch::Device device, DistOptions opt = {});
  ~Distributed();

  int rank() const { return rank_; }
  int world_size() const { return world_; }
  bool is_main() const { return rank_ == 0; }
  const std::string& backend() const { return backend_; }
  torch::Device device() const { return device_; }

  // Rank 0's values into every rank's tensors (in place). Tensors of mixed dtypes are fine.
  void broadcast(const std::vector<torch::Tensor>& tensors, int root = 0);
  // Parameters and buffers of a module from rank 0, so every rank starts from the same weights.
  void broadcast_module(torch::nn::Module& m, int root = 0);
  // In-place sum over ranks (one flat buffer per dtype).
  void allreduce_sum(const std::vector<torch::Tensor>& tensors);
  double allreduce_mean(double v);
  void barrier();

  // Marks this rank as failed in the store (best effort) so peers can name it in their own error.
  void report_failure(const std::string& what) noexcept;
  // The first failure another rank reported, if any ("rank 1: ...").
  std::optional<std::string> peer_failure() noexcept;

  // An in-flight collective (the bucketed gradient all-reduce).
  struct Pending;
  std::shared_ptr<Pending> allreduce_async(torch::Tensor flat);
  // Waits for it; on failure throws DistributedError "rank R: <what> failed: ...".
  void wait(Pending& p, const std::string& what);
  [[noreturn]] void fail(const std::string& what, const std::string& cause);

 private:
  struct Impl;
  Distributed();
  int rank_ = 0, world_ = 1;
  torch::Device device_{torch::kCPU};
  std::string backend_;
  DistOptions opt_;
  std::unique_ptr<Impl> impl_;
};

// Gradient all-reduce in buckets, launched from autograd hooks as soon as every gradient of a bucket is
// accumulated, so communication overlaps the rest of the backward pass. finish() (before the optimizer
// step, after every backward of an accumulation window) launches what is left, waits, averages by the
// world size and writes the result back into .grad. Buckets are launched strictly in plan order on every
// rank, which c10d requires (collectives must match up across ranks).
//
// Gradient accumulation needs no special case: the hook reads .grad after accumulation, and whatever was
// accumulated before is already identical on every rank, so its average is itself.
class GradReducer {
 public:
  static constexpr size_t kDefaultBucketBytes = 25u << 20;  // PyTorch DDP's bucket_cap_mb default

  // params: the trainable parameters (requires_grad). Buckets follow reverse registration order, the
  // order backward roughly produces gradients in.
  GradReducer(Distributed& dist, std::vector<torch::Tensor> params, size_t bucket_bytes = kDefaultBucketBytes);
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  // Launch remaining buckets, wait for all, average, copy back. Call once per backward.
  void finish();

  size_t num_buckets() const { return buckets_.size(); }
  const std::vector<std::vector<size_t>>& buckets() const { return buckets_; }
  // How many buckets the hooks launched during the last backward, before finish() (overlap evidence).
  size_t launched_in_backward() const { return last_launched_in_backward_; }

 private:
  struct Bucket;
  void on_grad_ready(size_t param_index);
  void launch_ready_locked();
  void launch_locked(size_t b);
  void reset_locked();

  Distributed& dist_;
  std::vector<torch::Tensor> params_;
  std::vector<std::vector<size_t>> buckets_;
  std::vector<size_t> bucket_of_, offset_of_;
  std::vector<std::unique_ptr<Bucket>> state_;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;  // hooks live on these; keep them alive
  std::mutex mu_;
  size_t next_launch_ = 0;
  size_t launched_in_backward_ = 0, last_launched_in_backward_ = 0;
  std::vector<uintptr_t> hook_keys_;
  bool in_finish_ = false;
  std::string hook_error_;
};

// Local launcher: one process per rank, this same binary with RANK/LOCAL_RANK/WORLD_SIZE/MASTER_ADDR/
// MASTER_PORT set. The parent watches its children: the first rank that fails is named, the others get
// `grace` to end on their own (their collectives fail once a peer's sockets close), then SIGTERM, then
// SIGKILL. SIGINT/SIGTERM to the parent are forwarded to every rank.
struct LaunchOptions {
  std::vector<std::string> argv;        // empty: this process's own command line (/proc/self/cmdline)
  std::string exe;                      // empty: /proc/self/exe
  std::vector<std::pair<std::string, std::string>> env;  // extra variables for every rank
  std::filesystem::path log_dir;        // non-empty: rank r's stdout+stderr go to log_dir/rank{r}.log
  std::chrono::milliseconds grace{std::chrono::seconds(15)};
  int master_port = 0;                  // 0: a free port on 127.0.0.1
};
struct RankExit {
  int rank = 0;
  int exit_code = 0;    // -1 when killed by a signal
  int signal = 0;
  bool terminated_by_launcher = false;
};
struct LaunchResult {
  int rc = 0;                   // 0 when every rank succeeded
  int first_failed_rank = -1;
  std::string message;          // "rank 1 was killed by signal 9 (SIGKILL); stopped the other ranks"
  std::vector<RankExit> ranks;
};
LaunchResult launch_local(int world_size, const LaunchOptions& opt);

// True inside a rank started by a launcher or torchrun (WORLD_SIZE > 1 in the environment).
bool in_distributed_child();

}  // namespace yolocpp::engine
