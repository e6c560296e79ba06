#include "cloud/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace yolocpp::test {

struct TcpProxy::Conn {
  int a = -1, b = -1;  // client side, server side
  std::atomic<bool> silent{false};
  std::atomic<bool> stop{false};
  std::thread pump;
  ~Conn() {
    stop.store(true);
    if (pump.joinable()) pump.join();
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
};

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  s.sin_port = htons(static_cast<uint16_t>(port));
  return s;
}

}  // namespace

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback(0);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 16) != 0)
    throw std::runtime_error("TcpProxy: cannot listen on 127.0.0.1");
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TcpProxy::~TcpProxy() {
  stop_.store(true);
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  if (acceptor_.joinable()) acceptor_.join();
  std::lock_guard<std::mutex> lk(mu_);
  conns_.clear();
}

void TcpProxy::blackhole_existing() {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& c : conns_) c->silent.store(true);
}

void TcpProxy::accept_loop() {
  while (!stop_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int a = ::accept(listen_fd_, nullptr, nullptr);
    if (a < 0) continue;
    int b = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in t = loopback(target_port_);
    if (::connect(b, reinterpret_cast<sockaddr*>(&t), sizeof t) != 0) {
      ::close(a);
      ::close(b);
      continue;
    }
    ++accepted_;
    auto c = std::make_shared<Conn>();
    c->a = a;
    c->b = b;
    Conn* raw = c.get();
    c->pump = std::thread([raw] {
      char buf[65536];
      while (!raw->stop.load()) {
        if (raw->silent.load()) {  // a blackhole: nothing read, nothing written, nothing closed
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        pollfd ps[2] = {{raw->a, POLLIN, 0}, {raw->b, POLLIN, 0}};
        if (::poll(ps, 2, 50) <= 0) continue;
        for (int i = 0; i < 2; ++i) {
          if (!(ps[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
          int from = i == 0 ? raw->a : raw->b, to = i == 0 ? raw->b : raw->a;
          ssize_t n = ::read(from, buf, sizeof buf);
          if (n <= 0) {
            ::shutdown(to, SHUT_WR);
            raw->stop.store(true);
            break;
          }
          for (ssize_t off = 0; off < n;) {
            ssize_t w = ::send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
            if (w <= 0) break;
            off += w;
          }
        }
      }
    });
    std::lock_guard<std::mutex> lk(mu_);
    conns_.push_back(std::move(c));
  }
}

}  // namespace yolocpp::test
