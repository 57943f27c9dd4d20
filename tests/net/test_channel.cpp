// Channel semantics over both transports (in-memory pair and loopback TCP), both parties as threads.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <thread>
#include <vector>

#include "net_test_util.hpp"

namespace peregrine::net::testing {
namespace {

using namespace std::chrono_literals;

class ChannelTest : public ::testing::TestWithParam<Transport> {
 protected:
  Pair make(const ChannelOptions& o = {}) { return make_pair_for(GetParam(), o); }
  static ChannelOptions short_timeout() {
    ChannelOptions o;
    o.read_timeout = 200ms;
    return o;
  }
};

std::vector<std::uint8_t> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::uint8_t> v(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<std::uint8_t>(x);
  }
  return v;
}

TEST_P(ChannelTest, ValuesSpansAndFramesRoundTrip) {
  run_two(
      make(),
      [](ChannelPtr a) {
        a->send_value<std::uint64_t>(0x0123456789ABCDEFULL);
        a->send_value<double>(3.25);
        const std::vector<std::uint32_t> v{1, 2, 3, 0xFFFFFFFFu};
        a->send_span(std::span<const std::uint32_t>(v));
        a->send_frame(std::vector<std::uint8_t>{});
        const auto f = pattern(1000, 1);
        a->send_frame(f);
        a->flush();
        EXPECT_EQ(a->recv_value<std::int32_t>(), -7);
      },
      [](ChannelPtr b) {
        EXPECT_EQ(b->recv_value<std::uint64_t>(), 0x0123456789ABCDEFULL);
        EXPECT_EQ(b->recv_value<double>(), 3.25);
        std::vector<std::uint32_t> v(4);
        b->recv_span(std::span<std::uint32_t>(v));
        EXPECT_EQ(v, (std::vector<std::uint32_t>{1, 2, 3, 0xFFFFFFFFu}));
        EXPECT_TRUE(b->recv_frame().empty());
        EXPECT_EQ(b->recv_frame(), pattern(1000, 1));
        b->send_value<std::int32_t>(-7);
        b->flush();
      });
}

TEST_P(ChannelTest, LargePayloads64MiB) {
  constexpr std::size_t kN = std::size_t{64} << 20;
  const auto data = pattern(kN, 7);
  ChannelOptions o;
  o.max_frame_bytes = kN;
  run_two(
      make(o),
      [&](ChannelPtr a) {
        a->send_span(std::span<const std::uint8_t>(data));
        a->send_frame(data);
        a->flush();
        EXPECT_EQ(a->recv_value<std::uint8_t>(), 1);
        EXPECT_EQ(a->stats().bytes_sent, 2 * kN + 8);
      },
      [&](ChannelPtr b) {
        std::vector<std::uint8_t> got(kN);
        b->recv_span(std::span<std::uint8_t>(got));
        EXPECT_TRUE(got == data);
        const auto frame = b->recv_frame();
        EXPECT_TRUE(frame == data);
        b->send_value<std::uint8_t>(1);
        b->flush();
        EXPECT_EQ(b->stats().bytes_received, 2 * kN + 8);
      });
}

TEST_P(ChannelTest, ManySmallMessages) {
  constexpr std::uint32_t kCount = 100000;
  run_two(
      make(),
      [](ChannelPtr a) {
        for (std::uint32_t i = 0; i < kCount; ++i) a->send_value(i);
        a->flush();
      },
      [](ChannelPtr b) {
        for (std::uint32_t i = 0; i < kCount; ++i) ASSERT_EQ(b->recv_value<std::uint32_t>(), i);
      });
}

TEST_P(ChannelTest, CountersExact) {
  run_two(
      make(),
      [](ChannelPtr a) {
        a->send_value<std::uint32_t>(5);
        const std::vector<std::uint8_t> v(100, 9);
        a->send_span(std::span<const std::uint8_t>(v));
        a->flush();
        a->send_frame(std::vector<std::uint8_t>(10, 1));  // 8 + 10 bytes; same direction, same round
        a->flush();
        EXPECT_EQ(a->recv_value<std::uint64_t>(), 42u);
        const ChannelStats s = a->stats();
        EXPECT_EQ(s.bytes_sent, 4u + 100u + 18u);
        EXPECT_EQ(s.bytes_received, 8u);
        EXPECT_EQ(s.rounds, 1u);
      },
      [](ChannelPtr b) {
        EXPECT_EQ(b->recv_value<std::uint32_t>(), 5u);
        std::vector<std::uint8_t> v(100);
        b->recv_span(std::span<std::uint8_t>(v));
        EXPECT_EQ(b->recv_frame().size(), 10u);
        b->send_value<std::uint64_t>(42);
        b->flush();
        const ChannelStats s = b->stats();
        EXPECT_EQ(s.bytes_sent, 8u);
        EXPECT_EQ(s.bytes_received, 4u + 100u + 18u);
        EXPECT_EQ(s.rounds, 1u);
      });
}

TEST_P(ChannelTest, PingPongCountsOneRoundPerExchangePerSide) {
  constexpr int kExchanges = 10;
  run_two(
      make(),
      [](ChannelPtr a) {
        for (int i = 0; i < kExchanges; ++i) {
          a->send_value<std::uint64_t>(i);
          EXPECT_EQ(a->recv_value<std::uint64_t>(), static_cast<std::uint64_t>(i + 1));
        }
        EXPECT_EQ(a->stats().rounds, static_cast<std::uint64_t>(kExchanges));
        EXPECT_EQ(a->stats().bytes_sent, 8u * kExchanges);
        EXPECT_EQ(a->stats().bytes_received, 8u * kExchanges);
      },
      [](ChannelPtr b) {
        for (int i = 0; i < kExchanges; ++i) b->send_value(b->recv_value<std::uint64_t>() + 1);
        b->flush();
        EXPECT_EQ(b->stats().rounds, static_cast<std::uint64_t>(kExchanges));
        EXPECT_EQ(b->stats().bytes_sent, 8u * kExchanges);
        EXPECT_EQ(b->stats().bytes_received, 8u * kExchanges);
      });
}

TEST_P(ChannelTest, PeerClosesMidReceive) {
  auto [a, b] = make();
  a->send_value<std::uint64_t>(1);
  a->flush();
  auto fut = std::async(std::launch::async, [&b = b] {
    return error_code_of([&] {
      std::vector<std::uint8_t> buf(100);
      b->recv(buf.data(), buf.size());  // 8 bytes arrive, then the peer vanishes
    });
  });
  std::this_thread::sleep_for(50ms);
  a.reset();
  EXPECT_EQ(fut.get(), ErrorCode::kPeerClosed);
}

TEST_P(ChannelTest, PeerStallsGivesTimeout) {
  auto [a, b] = make(short_timeout());
  a->send_value<std::uint32_t>(3);  // buffered, never flushed: the peer sees nothing
  EXPECT_EQ(error_code_of([&] { b->recv_value<std::uint32_t>(); }), ErrorCode::kTimeout);
  a->flush();  // a is alive throughout
}

TEST_P(ChannelTest, StallAfterPartialDataGivesTimeout) {
  auto [a, b] = make(short_timeout());
  a->send_value<std::uint32_t>(3);
  a->flush();
  EXPECT_EQ(error_code_of([&] { b->recv_value<std::uint64_t>(); }), ErrorCode::kTimeout);
}

TEST_P(ChannelTest, OversizedFrameRejectedBeforeAllocation) {
  auto [a, b] = make(short_timeout());
  a->send_value<std::uint64_t>(std::uint64_t{1} << 62);  // declares 4 EiB
  a->flush();
  EXPECT_EQ(error_code_of([&] { b->recv_frame(); }), ErrorCode::kSizeLimit);
}

TEST_P(ChannelTest, FrameLimitsFromArgumentAndOptions) {
  ChannelOptions o = short_timeout();
  o.max_frame_bytes = 1000;
  auto [a, b] = make(o);
  a->send_frame(std::vector<std::uint8_t>(100));
  a->send_frame(std::vector<std::uint8_t>(1001));
  a->flush();
  EXPECT_EQ(error_code_of([&] { b->recv_frame(50); }), ErrorCode::kSizeLimit);
  std::vector<std::uint8_t> skip(100);
  b->recv(skip.data(), skip.size());
  EXPECT_EQ(error_code_of([&] { b->recv_frame(); }), ErrorCode::kSizeLimit);
}

TEST_P(ChannelTest, TruncatedFrameThenCloseGivesPeerClosed) {
  auto [a, b] = make(short_timeout());
  a->send_value<std::uint64_t>(1000);
  const std::vector<std::uint8_t> part(10, 1);
  a->send_span(std::span<const std::uint8_t>(part));
  a.reset();  // flushes the 18 bytes, then closes
  EXPECT_EQ(error_code_of([&] { b->recv_frame(); }), ErrorCode::kPeerClosed);
}

TEST_P(ChannelTest, TruncatedHeaderThenCloseGivesPeerClosed) {
  auto [a, b] = make(short_timeout());
  a->send_value<std::uint32_t>(1000);  // half a length prefix
  a.reset();
  EXPECT_EQ(error_code_of([&] { b->recv_frame(); }), ErrorCode::kPeerClosed);
}

TEST_P(ChannelTest, DataSentBeforeCloseIsStillDelivered) {
  auto [a, b] = make(short_timeout());
  a->send_value<std::uint64_t>(77);
  a.reset();  // destructor flushes
  EXPECT_EQ(b->recv_value<std::uint64_t>(), 77u);
  EXPECT_EQ(error_code_of([&] { b->recv_value<std::uint8_t>(); }), ErrorCode::kPeerClosed);
}

TEST_P(ChannelTest, SendToClosedPeerGivesPeerClosed) {
  auto [a, b] = make(short_timeout());
  b.reset();
  const std::vector<std::uint8_t> chunk(1 << 16, 5);
  EXPECT_EQ(error_code_of([&] {
              for (int i = 0; i < 4096; ++i) {  // TCP reports the reset on a later send
                a->send_span(std::span<const std::uint8_t>(chunk));
                a->flush();
                std::this_thread::sleep_for(1ms);
              }
            }),
            ErrorCode::kPeerClosed);
}

INSTANTIATE_TEST_SUITE_P(Transports, ChannelTest, ::testing::Values(Transport::kMemory, Transport::kTcp),
                         transport_name);

}  // namespace
}  // namespace peregrine::net::testing
