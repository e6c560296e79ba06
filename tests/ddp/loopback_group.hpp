// Test helper: a process group of rank threads over one TCPStore served on 127.0.0.1 (port chosen by the OS).
#pragma once
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>

#include "yolocpp/dist/distributed.hpp"

namespace yolocpp::test {

// The store's server; ranks connect to port() from their own threads.
class LoopbackStore {
 public:
  LoopbackStore() {
    c10d::TCPStoreOptions so;
    so.port = 0;
    so.isServer = true;
    so.waitWorkers = false;
    server_ = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", so);
  }
  int port() const { return static_cast<int>(server_->getPort()); }

  // Rank `rank` of `world` joins a CPU (Gloo) group through its own store client.
  std::unique_ptr<engine::Distributed> join(int rank, int world, std::chrono::seconds timeout) const {
    c10d::TCPStoreOptions co;
    co.port = static_cast<uint16_t>(port());
    co.isServer = false;
    co.waitWorkers = false;
    co.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", co);
    engine::DistOptions opt;
    opt.timeout = timeout;
    return engine::Distributed::with_store(store, rank, world, torch::kCPU, opt);
  }

 private:
  c10::intrusive_ptr<c10d::TCPStore> server_;
};

}  // namespace yolocpp::test
