#pragma once
// dist::tcp_rendezvous: the bootstrap of torchrun-style launches (RANK, WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT). Rank 0 listens on MASTER_PORT, every other rank connects to MASTER_ADDR; rank 0
// sends its `blob` (the 128-byte NCCL unique id) to each and releases them all once the last one
// has arrived, so the call is also a barrier. Everything is bounded by `timeout_s`: a rank that
// never shows up makes the others throw CollectiveTimeout naming the missing ranks.
// POSIX sockets (Linux/macOS); no data ever moves through here, only the bootstrap.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/dist/communicator.hpp"

namespace rfcf::dist {

namespace detail {

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Socket& operator=(Socket&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

using Clock = std::chrono::steady_clock;

inline int remaining_ms(Clock::time_point deadline) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return ms > 0 ? static_cast<int>(ms) : 0;
}

// Waits until fd is readable (POLLIN) or writable (POLLOUT); false on timeout.
inline bool wait_fd(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

inline void send_all(int fd, const void* data, size_t n, Clock::time_point deadline, const std::string& who) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    check<CollectiveTimeout>(wait_fd(fd, POLLOUT, deadline), who, ": rendezvous send timed out");
    const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    check<DeviceError>(k > 0, who, ": rendezvous send failed: ", std::strerror(errno));
    p += k;
    n -= static_cast<size_t>(k);
  }
}

inline void recv_all(int fd, void* data, size_t n, Clock::time_point deadline, const std::string& who) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    check<CollectiveTimeout>(wait_fd(fd, POLLIN, deadline), who, ": rendezvous receive timed out");
    const ssize_t k = ::recv(fd, p, n, 0);
    check<DeviceError>(k > 0, who, ": rendezvous peer closed the connection or failed (",
                       k == 0 ? "closed" : std::strerror(errno), ")");
    p += k;
    n -= static_cast<size_t>(k);
  }
}

constexpr uint32_t kRendezvousMagic = 0x72666366;  // "rfcf"

}  // namespace detail

struct RendezvousOptions {
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  double timeout_s = 300;
  // Rank 0 only: called with the port actually bound (master_port 0 picks a free one; tests).
  std::function<void(int)> on_listening;
};

// Returns rank 0's blob on every rank (rank 0 gets its own back).
inline std::vector<uint8_t> tcp_rendezvous(int rank, int world, const std::vector<uint8_t>& blob,
                                           const RendezvousOptions& o) {
  using namespace detail;
  const std::string who = "rank " + std::to_string(rank) + "/" + std::to_string(world) + " (tcp rendezvous " +
                          o.master_addr + ":" + std::to_string(o.master_port) + ")";
  check<ConfigError>(world >= 1 && rank >= 0 && rank < world, who, ": rank outside the world");
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout_s));
  if (world == 1) return blob;
  if (rank == 0) {
    Socket server(::socket(AF_INET, SOCK_STREAM, 0));
    check<DeviceError>(server.fd() >= 0, who, ": socket() failed: ", std::strerror(errno));
    const int yes = 1;
    ::setsockopt(server.fd(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons(static_cast<uint16_t>(o.master_port));
    check<DeviceError>(::bind(server.fd(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, who,
                       ": cannot listen on port ", o.master_port, ": ", std::strerror(errno));
    check<DeviceError>(::listen(server.fd(), world) == 0, who, ": listen() failed: ", std::strerror(errno));
    socklen_t len = sizeof addr;
    ::getsockname(server.fd(), reinterpret_cast<sockaddr*>(&addr), &len);
    if (o.on_listening) o.on_listening(ntohs(addr.sin_port));
    std::vector<Socket> peers(static_cast<size_t>(world));
    for (int joined = 1; joined < world; ++joined) {
      if (!wait_fd(server.fd(), POLLIN, deadline)) {
        std::string missing;
        for (int r = 1; r < world; ++r)
          if (peers[static_cast<size_t>(r)].fd() < 0) missing += " " + std::to_string(r);
        fail<CollectiveTimeout>(who, ": ranks", missing, " did not join within ", o.timeout_s, " s");
      }
      Socket s(::accept(server.fd(), nullptr, nullptr));
      check<DeviceError>(s.fd() >= 0, who, ": accept() failed: ", std::strerror(errno));
      uint32_t hello[3];
      recv_all(s.fd(), hello, sizeof hello, deadline, who);
      check<DeviceError>(hello[0] == detail::kRendezvousMagic, who, ": a connection that is not an rfcf rank");
      check<ConfigError>(static_cast<int>(hello[2]) == world, who, ": a rank believes WORLD_SIZE=", hello[2]);
      const int r = static_cast<int>(hello[1]);
      check<ConfigError>(r > 0 && r < world && peers[static_cast<size_t>(r)].fd() < 0, who, ": rank ", r,
                         " joined twice or is outside the world");
      peers[static_cast<size_t>(r)] = std::move(s);
    }
    const uint64_t n = blob.size();
    for (int r = 1; r < world; ++r) {
      send_all(peers[static_cast<size_t>(r)].fd(), &n, sizeof n, deadline, who);
      send_all(peers[static_cast<size_t>(r)].fd(), blob.data(), blob.size(), deadline, who);
    }
    return blob;
  }
  // Other ranks: connect (rank 0 may not be listening yet: retry until the deadline).
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(o.master_port);
  check<ConfigError>(::getaddrinfo(o.master_addr.c_str(), port.c_str(), &hints, &found) == 0 && found, who,
                     ": cannot resolve MASTER_ADDR '", o.master_addr, "'");
  sockaddr_in target;
  std::memcpy(&target, found->ai_addr, sizeof target);
  ::freeaddrinfo(found);
  Socket s;
  for (;;) {
    s = Socket(::socket(AF_INET, SOCK_STREAM, 0));
    if (::connect(s.fd(), reinterpret_cast<sockaddr*>(&target), sizeof target) == 0) break;
    check<CollectiveTimeout>(remaining_ms(deadline) > 0, who, ": rank 0 did not accept a connection within ",
                             o.timeout_s, " s (", std::strerror(errno), ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const uint32_t hello[3] = {detail::kRendezvousMagic, static_cast<uint32_t>(rank), static_cast<uint32_t>(world)};
  send_all(s.fd(), hello, sizeof hello, deadline, who);
  uint64_t n = 0;
  recv_all(s.fd(), &n, sizeof n, deadline, who);
  check<DeviceError>(n < (1u << 20), who, ": implausible blob size ", n);
  std::vector<uint8_t> out(static_cast<size_t>(n));
  recv_all(s.fd(), out.data(), out.size(), deadline, who);
  return out;
}

}  // namespace rfcf::dist
