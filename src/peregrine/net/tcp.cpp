// TCP channel over POSIX sockets: non-blocking sockets, poll() for timeouts, MSG_NOSIGNAL on every
// send (no SIGPIPE, no global signal handler), EINTR and partial reads/writes handled.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>

#include "peregrine/net/channel.hpp"

namespace peregrine::net {

namespace {

using Clock = std::chrono::steady_clock;

std::string errno_text(int err) {
  char buf[256];
  // GNU strerror_r returns a char*; XSI returns int. Handle both.
  auto r = strerror_r(err, buf, sizeof buf);
  if constexpr (std::is_same_v<decltype(r), char*>)
    return std::string(r);
  else
    return std::string(r == 0 ? buf : "unknown error");
}

/// Milliseconds left until `deadline`, rounded up, clamped to [0, INT_MAX].
int ms_left(Clock::time_point deadline) {
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<long long>(ms, INT_MAX));
}

/// Polls fd for `events` until ready (true) or `deadline` (false). EINTR is retried.
bool poll_until(int fd, short events, Clock::time_point deadline, int* poll_errno) {
  for (;;) {
    const int wait_ms = ms_left(deadline);
    pollfd pfd{fd, events, 0};
    const int rc = ::poll(&pfd, 1, wait_ms);
    if (rc > 0) return true;  // ready, or POLLERR/POLLHUP: the next call reports the cause
    if (rc == 0) {
      if (Clock::now() >= deadline) return false;
      continue;
    }
    if (errno == EINTR) continue;
    *poll_errno = errno;
    return true;  // let the caller's next syscall fail with a proper error
  }
}

struct AddrInfoDeleter {
  void operator()(addrinfo* a) const noexcept { ::freeaddrinfo(a); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

AddrInfoPtr resolve(const std::string& host, std::uint16_t port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr)
    throw Error(ErrorCode::kInvalidArgument,
                "cannot resolve host '" + host + "': " + ::gai_strerror(rc));
  return AddrInfoPtr(res);
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // best effort
}

class TcpChannel final : public Channel {
 public:
  TcpChannel(int fd, const ChannelOptions& o)
      : Channel(o),
        fd_(fd),
        in_(kInBuffer),
        session_deadline_(o.session_timeout.count() > 0 ? Clock::now() + o.session_timeout
                                                        : Clock::time_point::max()) {}
  ~TcpChannel() override {
    close_output();
    ::close(fd_);
  }

 protected:
  void write_raw(const std::uint8_t* p, std::size_t n) override {
    while (n > 0) {
      const ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL);
      if (w > 0) {
        p += w;
        n -= static_cast<std::size_t>(w);
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wait_ready(POLLOUT, "send to the peer made no progress within the timeout");
        continue;
      }
      throw Error(ErrorCode::kPeerClosed, "send failed: " + errno_text(w < 0 ? errno : EPIPE));
    }
  }

  void read_raw(std::uint8_t* p, std::size_t n) override {
    for (;;) {
      const std::size_t have = in_end_ - in_pos_;
      const std::size_t take = std::min(n, have);
      if (take > 0) {
        std::memcpy(p, in_.data() + in_pos_, take);
        in_pos_ += take;
        p += take;
        n -= take;
      }
      if (n == 0) return;
      // Buffer empty. Large requests go straight into the destination.
      if (n >= in_.size()) {
        const std::size_t r = recv_some(p, n);
        p += r;
        n -= r;
        if (n == 0) return;
      } else {
        in_pos_ = 0;
        in_end_ = recv_some(in_.data(), in_.size());
      }
    }
  }

 private:
  static constexpr std::size_t kInBuffer = std::size_t{1} << 16;

  /// Receives 1..cap bytes, waiting at most read_timeout for the first one.
  std::size_t recv_some(std::uint8_t* p, std::size_t cap) {
    for (;;) {
      const ssize_t r = ::recv(fd_, p, cap, 0);
      if (r > 0) return static_cast<std::size_t>(r);
      if (r == 0) throw Error(ErrorCode::kPeerClosed, "peer closed the connection");
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait_ready(POLLIN, "no data from the peer within the read timeout");
        continue;
      }
      throw Error(ErrorCode::kPeerClosed, "recv failed: " + errno_text(errno));
    }
  }

  void wait_ready(short events, const char* timeout_what) {
    int perr = 0;
    const auto now = Clock::now();
    const auto read_deadline = now + options().read_timeout;
    const bool session_bound = session_deadline_ < read_deadline;
    if (!poll_until(fd_, events, session_bound ? session_deadline_ : read_deadline, &perr))
      throw Error(ErrorCode::kTimeout, session_bound ? "the session time limit has passed" : timeout_what);
    if (perr != 0) throw Error(ErrorCode::kPeerClosed, "poll failed: " + errno_text(perr));
  }

  int fd_;
  std::vector<std::uint8_t> in_;
  std::size_t in_pos_ = 0, in_end_ = 0;
  Clock::time_point session_deadline_;  ///< ChannelOptions::session_timeout after creation
};

/// One non-blocking connect attempt to `ai` until `deadline`. Returns the fd or -1 with *err set.
int try_connect(const addrinfo* ai, Clock::time_point deadline, int* err) {
  const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
  if (errno != EINPROGRESS && errno != EINTR) {
    *err = errno;
    ::close(fd);
    return -1;
  }
  int perr = 0;
  if (!poll_until(fd, POLLOUT, deadline, &perr)) {
    *err = ETIMEDOUT;
    ::close(fd);
    return -1;
  }
  int so_error = 0;
  socklen_t len = sizeof so_error;
  if (perr != 0) {
    so_error = perr;
  } else if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) {
    so_error = errno;
  }
  if (so_error != 0) {
    *err = so_error;
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

namespace {
/// A connected socket becomes a channel (TCP_NODELAY set); the fd is closed if that fails.
std::unique_ptr<Channel> adopt_socket(int fd, const ChannelOptions& opts) {
  set_nodelay(fd);
  try {
    return std::make_unique<TcpChannel>(fd, opts);
  } catch (...) {
    ::close(fd);
    throw;
  }
}
}  // namespace

std::unique_ptr<Channel> tcp_connect(const std::string& host, std::uint16_t port,
                                     std::chrono::milliseconds connect_timeout,
                                     const ChannelOptions& opts) {
  const auto deadline = Clock::now() + connect_timeout;
  const AddrInfoPtr addrs = resolve(host, port, false);
  int last_err = ETIMEDOUT;
  for (;;) {
    for (const addrinfo* ai = addrs.get(); ai != nullptr; ai = ai->ai_next) {
      const int fd = try_connect(ai, deadline, &last_err);
      if (fd >= 0) return adopt_socket(fd, opts);
      if (Clock::now() >= deadline) break;
    }
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero())
      throw Error(ErrorCode::kTimeout, "could not connect to " + host + ":" + std::to_string(port) +
                                           " within " + std::to_string(connect_timeout.count()) +
                                           " ms: " + errno_text(last_err));
    // Refused (peer not listening yet): retry shortly.
    std::this_thread::sleep_for(std::min<Clock::duration>(left, std::chrono::milliseconds(20)));
  }
}

TcpListener::TcpListener(const std::string& host, std::uint16_t port) {
  const AddrInfoPtr addrs = resolve(host, port, true);
  std::string last = "no address";
  for (const addrinfo* ai = addrs.get(); ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = "socket: " + errno_text(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      last = "bind: " + errno_text(errno);
      ::close(fd);
      continue;
    }
    if (::listen(fd, 64) != 0) {
      last = "listen: " + errno_text(errno);
      ::close(fd);
      continue;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      last = "getsockname: " + errno_text(errno);
      ::close(fd);
      continue;
    }
    fd_ = fd;
    port_ = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port)
                                     : ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    return;
  }
  throw Error(ErrorCode::kCrypto, "cannot listen on " + host + ":" + std::to_string(port) + ": " + last);
}

TcpListener::~TcpListener() {
  if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<Channel> TcpListener::accept(std::chrono::milliseconds timeout, const ChannelOptions& opts) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return adopt_socket(fd, opts);
    const int e = errno;
    if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;
    if (e != EAGAIN && e != EWOULDBLOCK)
      throw Error(ErrorCode::kCrypto, "accept failed: " + errno_text(e));
    int perr = 0;
    if (!poll_until(fd_, POLLIN, deadline, &perr))
      throw Error(ErrorCode::kTimeout,
                  "no peer connected within " + std::to_string(timeout.count()) + " ms");
    if (perr != 0) throw Error(ErrorCode::kCrypto, "poll failed: " + errno_text(perr));
  }
}

}  // namespace peregrine::net
