// A TCP forwarder on 127.0.0.1 between a client and a server (the test sshd) that can turn the connections it
// carries into a blackhole: bytes stop moving in both directions while both sockets stay open, with no FIN
// and no RST - what a dead Wi-Fi, a suspended NAT entry or a dropped route looks like to the client.
// Connections accepted after blackhole_existing() forward normally (the route came back).
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace yolocpp::test {

class TcpProxy {
 public:
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  // Every connection open now goes silent (forever); new ones are forwarded.
  void blackhole_existing();
  int connections() const { return accepted_.load(); }

 private:
  struct Conn;
  void accept_loop();
  int target_port_;
  int port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::shared_ptr<Conn>> conns_;
};

}  // namespace yolocpp::test
