#include "yolocpp/dist/distributed.hpp"

// c10d's backend headers are guarded by the macros PyTorch's own build defines. Gloo needs its headers
// (Debian: libgloo-dev; a PyTorch wheel ships them under torch/include); NCCL needs nccl.h on the include
// path (scripts/gpu-run passes the wheel's nvidia/nccl/include) and a CUDA LibTorch. YOLOCPP_NO_GLOO /
// YOLOCPP_NO_NCCL switch a backend off where its headers exist but do not match the LibTorch (gpu-run probes).
#if !defined(YOLOCPP_NO_GLOO) && __has_include(<gloo/context.h>)
#define USE_C10D_GLOO 1
#endif
#if !defined(YOLOCPP_NO_NCCL) && __has_include(<nccl.h>) && __has_include(<c10/cuda/CUDAFunctions.h>)
#define USE_C10D_NCCL 1
#endif

#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef USE_C10D_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "yolocpp/util/log.hpp"
#include "yolocpp/util/net.hpp"

extern char** environ;

namespace yolocpp::engine {

// PyTorch 2 split backends (Gloo, NCCL) out of ProcessGroup into c10d::Backend; 1.13's backends are
// ProcessGroups. Both expose the same collective calls, so only the handle type differs. (Kept here rather
// than in util/torch_compat.hpp because nothing else includes c10d.)
#if TORCH_VERSION_MAJOR >= 2
using PgBase = c10d::Backend;
#else
using PgBase = c10d::ProcessGroup;
#endif

struct Distributed::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<PgBase> pg;
};

struct Distributed::Pending {
  c10::intrusive_ptr<c10d::Work> work;
  torch::Tensor buf;
};

namespace {

std::string first_line(const std::string& s) {
  auto p = s.find('\n');
  return p == std::string::npos ? s : s.substr(0, p);
}

// c10::Error::what() carries a C++ backtrace; users get the one-line reason.
std::string reason(const std::exception& e) {
  if (auto* ce = dynamic_cast<const c10::Error*>(&e)) return first_line(ce->what_without_backtrace());
  return first_line(e.what());
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  errno = 0;
  long x = std::strtol(v, &end, 10);
  if (errno || *end != '\0' || x < INT32_MIN || x > INT32_MAX)
    throw ConfigError(fmt::format("environment variable {}='{}' is not an integer (torchrun and yolocpp's "
                                  "launcher set it; unset it to train in a single process)", name, v));
  return static_cast<int>(x);
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// A timeout in seconds from the environment (fractions allowed), or the fallback when unset.
std::chrono::milliseconds env_seconds(const char* name, std::chrono::milliseconds fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  errno = 0;
  const double x = std::strtod(v, &end);
  if (errno || *end != '\0' || !(x > 0) || x > 1e9)
    throw ConfigError(fmt::format("environment variable {}='{}' must be a positive number of seconds", name, v));
  return std::chrono::milliseconds(static_cast<int64_t>(x * 1000.0 + 0.5));
}

double seconds_of(std::chrono::milliseconds t) { return static_cast<double>(t.count()) / 1000.0; }

// Every rank announces itself under its own key and waits until all WORLD_SIZE keys exist, so a rank that
// never started (or died before this point) is named instead of leaving the others in a 30-minute wait.
// Rank 0 serves the store, so it alone decides a timeout: it publishes the missing ranks and lingers until
// the ranks that did arrive have read them (at most 3 s); the others wait a little longer than rank 0 and
// report the same verdict, instead of a bare "broken pipe" when rank 0's store goes away.
void rendezvous(c10d::Store& store, int rank, int world, std::chrono::milliseconds timeout) {
  auto key = [](int r) { return "yolocpp/rendezvous/" + std::to_string(r); };
  auto ack = [](int r) { return "yolocpp/rendezvous/ack/" + std::to_string(r); };
  const std::string failed_key = "yolocpp/rendezvous/failed";
  auto bytes = [](const std::string& v) { return std::vector<uint8_t>(v.begin(), v.end()); };
  auto timed_out = [&](const std::string& missing) {
    return DistributedError(fmt::format(
        "rank {}: rendezvous timed out after {:g} s: rank(s) {} of WORLD_SIZE={} never arrived; start every "
        "rank 0..{} with the same MASTER_ADDR/MASTER_PORT (check their own output for an earlier error), or "
        "allow more time with YOLOCPP_DDP_RENDEZVOUS_TIMEOUT=<seconds>",
        rank, seconds_of(timeout), missing, world, world - 1));
  };
  store.set(key(rank), bytes(std::to_string(rank)));
  std::vector<std::string> all;
  for (int r = 0; r < world; ++r) all.push_back(key(r));
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout + (rank == 0 ? std::chrono::milliseconds(0) : std::chrono::seconds(5));
  auto pause = std::chrono::milliseconds(5);
  for (;;) {
    if (rank != 0 && store.check({failed_key})) {
      const std::vector<uint8_t> v = store.get(failed_key);
      store.set(ack(rank), bytes("1"));
      throw timed_out(std::string(v.begin(), v.end()));
    }
    if (store.check(all)) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::vector<int> missing, arrived;
      for (int r = 0; r < world; ++r) (store.check({key(r)}) ? arrived : missing).push_back(r);
      if (rank == 0) {
        store.set(failed_key, bytes(fmt::format("{}", fmt::join(missing, ","))));
        const auto linger = std::chrono::steady_clock::now() + std::chrono::seconds(3);
        for (;;) {
          bool all_read = true;
          for (int r : arrived)
            if (r != 0 && !store.check({ack(r)})) all_read = false;
          if (all_read || std::chrono::steady_clock::now() >= linger) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
      throw timed_out(fmt::format("{}", fmt::join(missing, ",")));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Environment, devices, sharding, buckets

DistEnv dist_env_from_environment() {
  DistEnv e;
  e.world_size = env_int("WORLD_SIZE", 1);
  e.rank = env_int("RANK", 0);
  e.local_rank = env_int("LOCAL_RANK", e.rank);
  e.master_port = env_int("MASTER_PORT", 29500);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) e.master_addr = a;
  if (e.world_size < 1) throw ConfigError(fmt::format("WORLD_SIZE={} must be at least 1", e.world_size));
  if (e.rank < 0 || e.rank >= e.world_size)
    throw ConfigError(fmt::format("RANK={} is outside 0..WORLD_SIZE-1 (WORLD_SIZE={})", e.rank, e.world_size));
  if (e.local_rank < 0) throw ConfigError(fmt::format("LOCAL_RANK={} must be >= 0", e.local_rank));
  if (e.master_port < 1 || e.master_port > 65535)
    throw ConfigError(fmt::format("MASTER_PORT={} is not a TCP port (1..65535)", e.master_port));
  return e;
}

bool in_distributed_child() {
  const char* w = std::getenv("WORLD_SIZE");
  return w && std::atoi(w) > 1;
}

int per_rank_batch(int batch, int world_size) {
  if (world_size < 1) throw ConfigError("world size must be at least 1");
  if (batch < world_size)
    throw ConfigError(fmt::format("batch={} is smaller than the {} ranks it is split across; use batch>={} "
                                  "(batch is the global batch, each rank gets batch/{})",
                                  batch, world_size, world_size, world_size));
  if (batch % world_size != 0)
    log::warn("batch={} is not a multiple of {} ranks: each rank takes {} ({} in all)", batch, world_size,
              batch / world_size, batch / world_size * world_size);
  return batch / world_size;
}

std::vector<int> distributed_sampler_indices(int n, int rank, int world_size, uint64_t seed, int epoch,
                                             bool shuffle) {
  std::vector<int> order(n);
  if (shuffle) {
    auto gen = at::detail::createCPUGenerator(seed + static_cast<uint64_t>(epoch));
    auto perm = torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kLong));
    auto acc = perm.accessor<int64_t, 1>();
    for (int i = 0; i < n; ++i) order[i] = static_cast<int>(acc[i]);
  } else {
    std::iota(order.begin(), order.end(), 0);
  }
  return shard_order(order, rank, world_size);
}

std::vector<std::vector<size_t>> plan_buckets(const std::vector<size_t>& bytes, const std::vector<size_t>& order,
                                              size_t cap_bytes) {
  std::vector<std::vector<size_t>> out;
  size_t fill = 0;
  for (size_t i : order) {
    if (i >= bytes.size()) throw std::out_of_range("plan_buckets: index beyond the size list");
    if (out.empty() || (fill + bytes[i] > cap_bytes && !out.back().empty())) {
      out.emplace_back();
      fill = 0;
    }
    out.back().push_back(i);
    fill += bytes[i];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Process group

DistOptions resolve_timeouts(DistOptions opt) {
  if (opt.timeout.count() <= 0) opt.timeout = env_seconds("YOLOCPP_DDP_TIMEOUT", std::chrono::minutes(30));
  if (opt.rendezvous_timeout.count() <= 0)
    opt.rendezvous_timeout = env_seconds("YOLOCPP_DDP_RENDEZVOUS_TIMEOUT", std::chrono::minutes(5));
  return opt;
}

Distributed::Distributed() : impl_(std::make_unique<Impl>()) {}
Distributed::~Distributed() = default;

namespace {

c10::intrusive_ptr<PgBase> make_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                        torch::Device device, const DistOptions& opt, bool loopback,
                                        std::string& name) {
  name = opt.backend;
  if (name == "auto" || name.empty()) name = device.is_cuda() ? "nccl" : "gloo";
  if (name == "nccl") {
#ifdef USE_C10D_NCCL
    if (!device.is_cuda()) throw ConfigError("backend nccl needs CUDA devices; use device=0,1,... or gloo on CPU");
    c10::cuda::set_device(device.index());
    auto o = c10d::ProcessGroupNCCL::Options::create();
    o->timeout = opt.timeout;
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, o);
#else
    throw ConfigError("this yolocpp build has no NCCL (it was built against a CPU LibTorch or without nccl.h); "
                      "rebuild with scripts/gpu-run's settings, or train on CPU with device=cpu");
#endif
  }
  if (name == "gloo") {
#ifdef USE_C10D_GLOO
    auto o = c10d::ProcessGroupGloo::Options::create(opt.timeout);
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (!opt.gloo_host.empty())
      o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(opt.gloo_host));
    else if (ifname && *ifname)
      o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (loopback)
      o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    o->threads = 2;
    return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, o);
#else
    throw ConfigError("this yolocpp build has no Gloo backend (gloo headers were missing: install libgloo-dev "
                      "and rebuild)");
#endif
  }
  throw ConfigError(fmt::format("distributed backend '{}' is unknown; use nccl (CUDA) or gloo (CPU)", name));
}

}  // namespace

std::unique_ptr<Distributed> Distributed::with_store(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                     int world_size, torch::Device device, DistOptions opt) {
  opt = resolve_timeouts(opt);
  try {
    rendezvous(*store, rank, world_size, opt.rendezvous_timeout);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw DistributedError(fmt::format("rank {}: rendezvous through the store failed: {}", rank, reason(e)));
  }
  std::unique_ptr<Distributed> d(new Distributed());
  d->rank_ = rank;
  d->world_ = world_size;
  d->device_ = device;
  d->opt_ = opt;
  d->impl_->store = store;
  try {
    d->impl_->pg = make_backend(store, rank, world_size, device, opt, true, d->backend_);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw DistributedError(fmt::format("rank {}: could not form the {} process group of {} ranks: {}", rank,
                                       d->backend_, world_size, reason(e)));
  }
  return d;
}

std::unique_ptr<Distributed> Distributed::from_env(const DistEnv& env, torch::Device device, DistOptions opt) {
  // A peer that dies leaves half-open sockets: writing to them must fail with EPIPE (which Gloo turns into
  // an error we report), not kill this rank silently with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  opt = resolve_timeouts(opt);
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(env.master_port);
  so.isServer = env.rank == 0;
  so.numWorkers = static_cast<size_t>(env.world_size);
  // Our own rendezvous below counts arrivals per rank (and can name the missing ones); the store's
  // waitWorkers could only report a timeout.
  so.waitWorkers = false;
  so.timeout = opt.rendezvous_timeout;  // also bounds a non-zero rank's connection attempts to rank 0
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  } catch (const std::exception& e) {
    const std::string who = env.rank == 0
                                ? "check that the port is free on this machine"
                                : fmt::format("rank 0 never came up there within {:g} s (YOLOCPP_DDP_RENDEZVOUS_"
                                              "TIMEOUT): check that rank 0 runs, that the port is reachable from "
                                              "this machine", seconds_of(opt.rendezvous_timeout));
    throw DistributedError(fmt::format("rank {}: rendezvous at MASTER_ADDR={} MASTER_PORT={} failed ({}); {}, "
                                       "and that WORLD_SIZE={} matches",
                                       env.rank, env.master_addr, env.master_port, reason(e), who, env.world_size));
  }
  try {
    rendezvous(*store, env.rank, env.world_size, opt.rendezvous_timeout);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw DistributedError(fmt::format("rank {}: rendezvous at MASTER_ADDR={} MASTER_PORT={} failed ({}); a peer "
                                       "or rank 0 stopped during the rendezvous", env.rank, env.master_addr,
                                       env.master_port, reason(e)));
  }
  // From here on the store serves the backends' own setup and failure reports: the collective timeout.
  store->setTimeout(opt.timeout);
  std::unique_ptr<Distributed> d(new Distributed());
  d->rank_ = env.rank;
  d->world_ = env.world_size;
  d->device_ = device;
  d->opt_ = opt;
  d->impl_->store = store;
  try {
    d->impl_->pg = make_backend(store, env.rank, env.world_size, device, opt, is_loopback(env.master_addr),
                                d->backend_);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw DistributedError(fmt::format("rank {}: could not form the {} process group of {} ranks: {}", env.rank,
                                       d->backend_, env.world_size, reason(e)));
  }
  return d;
}

void Distributed::report_failure(const std::string& what) noexcept {
  try {
    std::string msg = fmt::format("rank {}: {}", rank_, first_line(what));
    impl_->store->set("yolocpp/failed/" + std::to_string(rank_), std::vector<uint8_t>(msg.begin(), msg.end()));
  } catch (...) {
  }
}

std::optional<std::string> Distributed::peer_failure() noexcept {
  try {
    for (int r = 0; r < world_; ++r) {
      if (r == rank_) continue;
      std::string key = "yolocpp/failed/" + std::to_string(r);
      if (impl_->store->check({key})) {
        auto v = impl_->store->get(key);
        return std::string(v.begin(), v.end());
      }
    }
  } catch (...) {
  }
  return std::nullopt;
}

void Distributed::fail(const std::string& what, const std::string& cause) {
  std::string msg = fmt::format("rank {}: {} failed ({})", rank_, what, cause);
  if (auto peer = peer_failure())
    msg += fmt::format("; {} — fix that and rerun", *peer);
  else
    msg += "; another rank stopped or is unreachable (its own output, or the launcher's line, names it)";
  throw DistributedError(msg);
}

std::shared_ptr<Distributed::Pending> Distributed::allreduce_async(torch::Tensor flat) {
  auto p = std::make_shared<Pending>();
  p->buf = flat;
  std::vector<at::Tensor> v{flat};
  try {
    p->work = impl_->pg->allreduce(v, c10d::AllreduceOptions{});
  } catch (const std::exception& e) {
    fail("launching a gradient all-reduce", reason(e));
  }
  return p;
}

void Distributed::wait(Pending& p, const std::string& what) {
  try {
    p.work->wait();
  } catch (const std::exception& e) {
    fail(what, reason(e));
  }
}

namespace {

// Tensors grouped by (dtype, device), each group packed into one contiguous buffer: the backends want one
// tensor per call, and one call per group keeps the number of collectives small.
template <class Fn>
void for_each_flat_group(const std::vector<torch::Tensor>& tensors, Fn&& fn) {
  std::vector<bool> done(tensors.size(), false);
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (done[i] || !tensors[i].defined()) continue;
    std::vector<size_t> members;
    for (size_t j = i; j < tensors.size(); ++j)
      if (!done[j] && tensors[j].defined() && tensors[j].scalar_type() == tensors[i].scalar_type() &&
          tensors[j].device() == tensors[i].device()) {
        members.push_back(j);
        done[j] = true;
      }
    int64_t total = 0;
    for (size_t j : members) total += tensors[j].numel();
    torch::NoGradGuard ng;
    auto flat = torch::empty({total}, tensors[i].options().requires_grad(false));
    int64_t off = 0;
    for (size_t j : members) {
      auto n = tensors[j].numel();
      flat.narrow(0, off, n).view(tensors[j].sizes()).copy_(tensors[j]);
      off += n;
    }
    fn(flat);
    off = 0;
    for (size_t j : members) {
      auto n = tensors[j].numel();
      tensors[j].copy_(flat.narrow(0, off, n).view(tensors[j].sizes()));
      off += n;
    }
  }
}

}  // namespace

void Distributed::broadcast(const std::vector<torch::Tensor>& tensors, int root) {
  for_each_flat_group(tensors, [&](torch::Tensor& flat) {
    std::vector<at::Tensor> v{flat};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    try {
      impl_->pg->broadcast(v, o)->wait();
    } catch (const std::exception& e) {
      fail(fmt::format("broadcast from rank {}", root), reason(e));
    }
  });
}

void Distributed::broadcast_module(torch::nn::Module& m, int root) {
  std::vector<torch::Tensor> all;
  for (auto& p : m.parameters()) all.push_back(p);
  for (auto& b : m.buffers()) all.push_back(b);
  broadcast(all, root);
}

void Distributed::allreduce_sum(const std::vector<torch::Tensor>& tensors) {
  for_each_flat_group(tensors, [&](torch::Tensor& flat) {
    std::vector<at::Tensor> v{flat};
    try {
      impl_->pg->allreduce(v, c10d::AllreduceOptions{})->wait();
    } catch (const std::exception& e) {
      fail("all-reduce", reason(e));
    }
  });
}

double Distributed::allreduce_mean(double v) {
  auto t = torch::full({1}, v, torch::TensorOptions().dtype(torch::kDouble).device(device_));
  allreduce_sum({t});
  return t.item<double>() / world_;
}

void Distributed::barrier() {
  try {
    impl_->pg->barrier(c10d::BarrierOptions{})->wait();
  } catch (const std::exception& e) {
    fail("barrier", reason(e));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Bucketed gradient all-reduce

struct GradReducer::Bucket {
  torch::Tensor buf;
  size_t pending = 0;
  bool launched = false;
  std::shared_ptr<Distributed::Pending> work;
};

GradReducer::GradReducer(Distributed& dist, std::vector<torch::Tensor> params, size_t bucket_bytes)
    : dist_(dist) {
  for (auto& p : params)
    if (p.defined() && p.requires_grad()) params_.push_back(p);
  if (params_.empty()) throw ConfigError("distributed training: the model has no trainable parameters");
  const size_t n = params_.size();
  std::vector<size_t> bytes(n), order(n);
  for (size_t i = 0; i < n; ++i) {
    bytes[i] = params_[i].numel() * params_[i].element_size();
    order[i] = n - 1 - i;
  }
  // One bucket holds one dtype on one device (it is one flat tensor): split the plan where either changes.
  for (auto& b : plan_buckets(bytes, order, bucket_bytes)) {
    std::vector<size_t> cur;
    for (size_t i : b) {
      if (!cur.empty() && (params_[i].scalar_type() != params_[cur[0]].scalar_type() ||
                           params_[i].device() != params_[cur[0]].device())) {
        buckets_.push_back(cur);
        cur.clear();
      }
      cur.push_back(i);
    }
    buckets_.push_back(cur);
  }
  bucket_of_.assign(n, 0);
  offset_of_.assign(n, 0);
  for (size_t b = 0; b < buckets_.size(); ++b) {
    int64_t off = 0;
    for (size_t i : buckets_[b]) {
      bucket_of_[i] = b;
      offset_of_[i] = static_cast<size_t>(off);
      off += params_[i].numel();
    }
    auto st = std::make_unique<Bucket>();
    st->buf = torch::zeros({off}, params_[buckets_[b][0]].options().requires_grad(false));
    state_.push_back(std::move(st));
  }
  reset_locked();
  for (size_t i = 0; i < n; ++i) {
    auto acc = torch::autograd::impl::grad_accumulator(params_[i]);
    if (!acc) throw ConfigError("distributed training: a trainable parameter is not a leaf tensor");
    hook_keys_.push_back(acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [this, i](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
          on_grad_ready(i);
          return outputs;
        })));
    accumulators_.push_back(std::move(acc));
  }
}

GradReducer::~GradReducer() {
  // The hooks capture `this`; a reducer never outlives training, but drop them so a model used later
  // (validation, export) does not call into a dead object.
  for (size_t i = 0; i < accumulators_.size(); ++i) accumulators_[i]->del_post_hook(hook_keys_[i]);
}

void GradReducer::reset_locked() {
  for (size_t b = 0; b < buckets_.size(); ++b) {
    state_[b]->pending = buckets_[b].size();
    state_[b]->launched = false;
    state_[b]->work.reset();
  }
  next_launch_ = 0;
}

void GradReducer::on_grad_ready(size_t i) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!hook_error_.empty()) return;
  try {
    auto& st = *state_[bucket_of_[i]];
    if (st.launched || st.pending == 0) {
      hook_error_ = "a parameter's gradient arrived twice before finish(); call finish() after every backward";
      return;
    }
    const auto& g = params_[i].grad();
    auto slice = st.buf.narrow(0, static_cast<int64_t>(offset_of_[i]), params_[i].numel()).view(params_[i].sizes());
    {
      torch::NoGradGuard ng;
      if (g.defined())
        slice.copy_(g);
      else
        slice.zero_();
    }
    --st.pending;
    launch_ready_locked();
  } catch (const std::exception& e) {
    hook_error_ = reason(e);
  }
}

void GradReducer::launch_ready_locked() {
  while (next_launch_ < buckets_.size() && state_[next_launch_]->pending == 0) launch_locked(next_launch_++);
}

void GradReducer::launch_locked(size_t b) {
  auto& st = *state_[b];
  st.work = dist_.allreduce_async(st.buf);
  st.launched = true;
  if (!in_finish_) ++launched_in_backward_;
}

void GradReducer::finish() {
  std::lock_guard<std::mutex> lk(mu_);
  if (!hook_error_.empty()) {
    std::string e = hook_error_;
    hook_error_.clear();
    reset_locked();
    throw DistributedError(fmt::format("rank {}: gradient all-reduce: {}", dist_.rank(), e));
  }
  in_finish_ = true;
  struct Reset {
    GradReducer* r;
    ~Reset() {
      r->in_finish_ = false;
      r->reset_locked();
    }
  } reset{this};
  // Parameters that took no part in this backward still join the all-reduce (another rank may have a
  // gradient for them), with their current .grad or zeros.
  torch::NoGradGuard ng;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    auto& st = *state_[b];
    if (st.launched || st.pending == 0) continue;
    for (size_t i : buckets_[b]) {
      auto slice = st.buf.narrow(0, static_cast<int64_t>(offset_of_[i]), params_[i].numel());
      const auto& g = params_[i].grad();
      if (g.defined()) slice.view(params_[i].sizes()).copy_(g);
      else slice.zero_();
    }
    st.pending = 0;
  }
  launch_ready_locked();
  const double inv = 1.0 / dist_.world_size();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    auto& st = *state_[b];
    dist_.wait(*st.work, "gradient all-reduce");
    st.buf.mul_(inv);
    for (size_t i : buckets_[b]) {
      auto avg = st.buf.narrow(0, static_cast<int64_t>(offset_of_[i]), params_[i].numel()).view(params_[i].sizes());
      auto& g = params_[i].mutable_grad();
      if (g.defined()) g.copy_(avg);
      else g = avg.clone();
    }
  }
  last_launched_in_backward_ = launched_in_backward_;
  launched_in_backward_ = 0;
}

// ---------------------------------------------------------------------------------------------------------
// Local launcher


namespace {

std::atomic<int> g_forward_signal{0};
extern "C" void launcher_on_signal(int sig) { g_forward_signal.store(sig); }

std::vector<std::string> self_cmdline() {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::string> out;
  std::string cur;
  for (char c : all) {
    if (c == '\0') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string signal_name(int sig) {
  switch (sig) {
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    default: return "signal " + std::to_string(sig);
  }
}

}  // namespace

LaunchResult launch_local(int world, const LaunchOptions& opt) {
  if (world < 2) throw ConfigError("launch_local needs at least 2 ranks");
  std::vector<std::string> argv = opt.argv.empty() ? self_cmdline() : opt.argv;
  std::string exe = opt.exe;
  if (exe.empty()) {
    std::error_code ec;
    exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) exe = "/proc/self/exe";
  }
  if (argv.empty()) argv.push_back(exe);
  const int port = opt.master_port > 0 ? opt.master_port : util::free_loopback_port();
  if (!opt.log_dir.empty()) std::filesystem::create_directories(opt.log_dir);

  // Everything the children need is built before fork(): between fork and exec only async-signal-safe
  // calls are allowed (the parent may have LibTorch and loader threads running).
  static const std::set<std::string> ours{"RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                                         "LOCAL_WORLD_SIZE"};
  std::vector<std::string> base_env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    std::string k = kv.substr(0, kv.find('='));
    bool skip = ours.count(k) > 0;
    for (auto& [ek, ev] : opt.env) skip = skip || ek == k;
    if (!skip) base_env.push_back(kv);
  }
  for (auto& [k, v] : opt.env) base_env.push_back(k + "=" + v);

  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  struct Child {
    pid_t pid = -1;
    bool done = false;
    RankExit exit;
  };
  std::vector<Child> kids(world);

  struct sigaction sa {}, old_int{}, old_term{};
  sa.sa_handler = launcher_on_signal;
  sigemptyset(&sa.sa_mask);
  g_forward_signal.store(0);
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);

  auto kill_all = [&](int sig) {
    for (auto& k : kids)
      if (k.pid > 0 && !k.done) ::kill(k.pid, sig);
  };

  for (int r = 0; r < world; ++r) {
    std::vector<std::string> env = base_env;
    env.push_back("RANK=" + std::to_string(r));
    env.push_back("LOCAL_RANK=" + std::to_string(r));
    env.push_back("WORLD_SIZE=" + std::to_string(world));
    env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(world));
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back("MASTER_PORT=" + std::to_string(port));
    std::vector<char*> cenv;
    for (auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
    std::string log = opt.log_dir.empty() ? "" : (opt.log_dir / fmt::format("rank{}.log", r)).string();
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
      int err = errno;
      kill_all(SIGTERM);
      for (auto& k : kids)
        if (k.pid > 0) ::waitpid(k.pid, nullptr, 0);
      ::sigaction(SIGINT, &old_int, nullptr);
      ::sigaction(SIGTERM, &old_term, nullptr);
      throw DistributedError(fmt::format("could not start rank {}: fork failed: {}", r, std::strerror(err)));
    }
    if (pid == 0) {
      // A rank must not outlive the launcher (kill -9 of the parent would leave it blocked in a collective).
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(125);
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      if (!log.empty()) {
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
          ::dup2(fd, 1);
          ::dup2(fd, 2);
          ::close(fd);
        }
      }
      ::execve(exe.c_str(), cargv.data(), cenv.data());
      ::_exit(127);
    }
    kids[r].pid = pid;
    kids[r].exit.rank = r;
  }

  LaunchResult res;
  using clock = std::chrono::steady_clock;
  std::optional<clock::time_point> failed_at, termed_at;
  int forwarded = 0;
  size_t alive = world;
  while (alive > 0) {
    int sig = g_forward_signal.exchange(0);
    if (sig) {
      forwarded = sig;
      kill_all(sig);
      if (!failed_at) failed_at = clock::now() - opt.grace;  // interrupted: no grace before escalation
    }
    bool any = false;
    for (auto& k : kids) {
      if (k.done) continue;
      int st = 0;
      pid_t p = ::waitpid(k.pid, &st, WNOHANG);
      if (p != k.pid) continue;
      any = true;
      k.done = true;
      --alive;
      if (WIFSIGNALED(st)) {
        k.exit.exit_code = -1;
        k.exit.signal = WTERMSIG(st);
      } else {
        k.exit.exit_code = WEXITSTATUS(st);
      }
      bool failed = k.exit.signal != 0 || k.exit.exit_code != 0;
      if (failed && res.first_failed_rank < 0 && !k.exit.terminated_by_launcher && !forwarded) {
        res.first_failed_rank = k.exit.rank;
        failed_at = clock::now();
      }
    }
    if (alive == 0) break;
    auto now = clock::now();
    if (failed_at && !termed_at && now - *failed_at >= opt.grace) {
      for (auto& k : kids)
        if (!k.done) k.exit.terminated_by_launcher = true;
      kill_all(SIGTERM);
      termed_at = now;
    } else if (termed_at && now - *termed_at >= std::chrono::seconds(10)) {
      kill_all(SIGKILL);
      termed_at = now;  // re-send every 10 s until they are gone
    }
    if (!any) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);

  for (auto& k : kids) res.ranks.push_back(k.exit);
  if (forwarded) {
    res.rc = 128 + forwarded;
    res.message = fmt::format("interrupted by {}: stopped all {} ranks", signal_name(forwarded), world);
    return res;
  }
  if (res.first_failed_rank < 0) {
    res.rc = 0;
    return res;
  }
  const auto& f = res.ranks[res.first_failed_rank];
  res.message = f.signal ? fmt::format("rank {} was killed by {} ({})", f.rank, f.signal, signal_name(f.signal))
                         : fmt::format("rank {} exited with code {}", f.rank, f.exit_code);
  std::vector<int> stopped;
  for (auto& r : res.ranks)
    if (r.terminated_by_launcher) stopped.push_back(r.rank);
  if (stopped.empty())
    res.message += "; the other ranks stopped on their own";
  else
    res.message += fmt::format("; stopped rank(s) {} after {} s", fmt::join(stopped, ","),
                               std::chrono::duration_cast<std::chrono::seconds>(opt.grace).count());
  res.rc = f.signal ? 128 + f.signal : f.exit_code;
  return res;
}

}  // namespace yolocpp::engine
