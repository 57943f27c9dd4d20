// TCP-specific behaviour: connect/accept timeouts, retries, write stalls, port conflicts.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "net_test_util.hpp"

namespace peregrine::net::testing {
namespace {

using namespace std::chrono_literals;

std::uint16_t free_port() {
  TcpListener l("127.0.0.1", 0);
  return l.port();
}

TEST(Tcp, ListenerPicksAPort) {
  TcpListener l("127.0.0.1", 0);
  EXPECT_NE(l.port(), 0);
}

TEST(Tcp, ConnectToClosedPortGivesTimeout) {
  const std::uint16_t port = free_port();  // nobody listens there any more
  EXPECT_EQ(error_code_of([&] { tcp_connect("127.0.0.1", port, 200ms); }), ErrorCode::kTimeout);
}

TEST(Tcp, ConnectRetriesUntilListenerAppears) {
  const std::uint16_t port = free_port();
  auto fut = std::async(std::launch::async, [port] { return tcp_connect("127.0.0.1", port, 5000ms); });
  std::this_thread::sleep_for(100ms);
  TcpListener l("127.0.0.1", port);
  auto server = l.accept(5000ms);
  auto client = fut.get();
  client->send_value<std::uint16_t>(99);
  client->flush();
  EXPECT_EQ(server->recv_value<std::uint16_t>(), 99);
}

TEST(Tcp, AcceptWithoutPeerGivesTimeout) {
  TcpListener l("127.0.0.1", 0);
  EXPECT_EQ(error_code_of([&] { l.accept(200ms); }), ErrorCode::kTimeout);
}

TEST(Tcp, PortInUseGivesTypedError) {
  TcpListener l("127.0.0.1", 0);
  EXPECT_EQ(error_code_of([&] { TcpListener again("127.0.0.1", l.port()); }), ErrorCode::kCrypto);
}

TEST(Tcp, LocalhostNameResolves) {
  ChannelOptions o;
  o.read_timeout = 2000ms;
  TcpListener l("127.0.0.1", 0);
  auto c = tcp_connect("localhost", l.port(), 2000ms, o);
  auto s = l.accept(2000ms, o);
  s->send_frame(std::vector<std::uint8_t>{1, 2, 3});
  s->flush();
  EXPECT_EQ(c->recv_frame(), (std::vector<std::uint8_t>{1, 2, 3}));
}

TEST(Tcp, PeerNotReadingGivesSendTimeout) {
  ChannelOptions o;
  o.read_timeout = 200ms;
  auto [a, b] = make_tcp_pair(o);
  const std::vector<std::uint8_t> chunk(1 << 20, 1);
  // b never reads: once the socket buffers are full, a's send makes no progress.
  EXPECT_EQ(error_code_of([&] {
              for (int i = 0; i < 4096; ++i) {
                a->send_span(std::span<const std::uint8_t>(chunk));
                a->flush();
              }
            }),
            ErrorCode::kTimeout);
}

// A peer that drips one byte well inside read_timeout keeps every single wait short, but the
// session time limit still ends the session with a typed error (issue 7, hostile peers).
TEST(Tcp, DrippingPeerHitsTheSessionTimeLimit) {
  ChannelOptions slow;
  slow.read_timeout = 2000ms;
  slow.session_timeout = 600ms;
  auto [a, b] = make_tcp_pair(slow);
  std::thread drip([&, &a = a] {
    try {
      for (int i = 0; i < 40; ++i) {
        const std::uint8_t byte = 7;
        a->send(&byte, 1);
        a->flush();
        std::this_thread::sleep_for(50ms);
      }
    } catch (const Error&) {
    }
  });
  std::vector<std::uint8_t> got(64);
  std::string what;
  const auto code = error_code_of([&] {
    try {
      b->recv(got.data(), got.size());  // 64 bytes would take 3.2 s at this rate
    } catch (const Error& e) {
      what = e.what();
      throw;
    }
  });
  drip.join();
  EXPECT_EQ(code, ErrorCode::kTimeout);
  EXPECT_NE(what.find("session time limit"), std::string::npos) << what;
}

TEST(Tcp, MultipleSessionsOnOneListener) {
  TcpListener l("127.0.0.1", 0);
  for (int i = 0; i < 3; ++i) {
    auto c = tcp_connect("127.0.0.1", l.port(), 2000ms);
    auto s = l.accept(2000ms);
    c->send_value<int>(i);
    c->flush();
    EXPECT_EQ(s->recv_value<int>(), i);
  }
}

}  // namespace
}  // namespace peregrine::net::testing
