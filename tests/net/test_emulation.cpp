// Link emulation: presets, the model's accounting, data integrity, close semantics.
// No timing assertions (DESIGN.md §7): the model is checked through the emulator's own counters
// (EmulationStats): the pieces and bytes it carried, the link time the model assigned them (exact,
// computed from bytes, bandwidth and delay, not measured) and that it handed no piece to the
// transport before its due time.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "net_test_util.hpp"

namespace peregrine::net::testing {
namespace {

using namespace std::chrono_literals;

/// Every piece pushed was handed to the transport, none before its due time.
void expect_delivered_on_time(const EmulationStats& s) {
  EXPECT_GT(s.pieces, 0u);
  EXPECT_EQ(s.delivered_pieces, s.pieces);
  EXPECT_EQ(s.delivered_early, 0u) << "pieces handed to the transport before their due time";
}

TEST(Emulation, Presets) {
  const ChannelOptions lan = lan_profile(), wan = wan_profile();
  EXPECT_EQ(lan.emulate_bits_per_second, 3'000'000'000ULL);
  EXPECT_EQ(lan.emulate_one_way_delay, 150us);
  EXPECT_EQ(wan.emulate_bits_per_second, 400'000'000ULL);
  EXPECT_EQ(wan.emulate_one_way_delay, 20ms);
  EXPECT_EQ(lan.read_timeout, ChannelOptions{}.read_timeout);
}

class EmulationTest : public ::testing::TestWithParam<Transport> {};

TEST_P(EmulationTest, NoEmulationNoCounters) {
  auto [a, b] = make_pair_for(GetParam(), ChannelOptions{});
  a->send_value<std::uint32_t>(7);
  a->flush();
  EXPECT_EQ(b->recv_value<std::uint32_t>(), 7u);
  const EmulationStats s = a->emulation_stats();
  EXPECT_EQ(s.pieces, 0u);
  EXPECT_EQ(s.bytes, 0u);
  EXPECT_EQ(s.modelled_ns, 0u);
}

TEST_P(EmulationTest, BandwidthModel) {
  // 1 MB at 80 Mbit/s (100 ns per byte) is 0.1 s of serialisation, in 16 pieces of <= 64 KiB.
  ChannelOptions o;
  o.emulate_bits_per_second = 80'000'000;
  constexpr std::size_t kN = 1'000'000;
  std::vector<std::uint8_t> data(kN);
  for (std::size_t i = 0; i < kN; ++i) data[i] = static_cast<std::uint8_t>(i * 31 + 7);
  run_two(
      make_pair_for(GetParam(), o),
      [&](ChannelPtr a) {
        a->send_span(std::span<const std::uint8_t>(data));
        a->flush();
        EXPECT_EQ(a->recv_value<std::uint8_t>(), 1);
        EXPECT_EQ(a->stats().bytes_sent, kN);  // the emulator adds no bytes
        const EmulationStats s = a->emulation_stats();
        EXPECT_EQ(s.bytes, kN);
        EXPECT_EQ(s.pieces, 16u);
        EXPECT_EQ(s.modelled_ns, 100'000'000u);
        expect_delivered_on_time(s);
      },
      [&](ChannelPtr b) {
        std::vector<std::uint8_t> got(kN);
        b->recv_span(std::span<std::uint8_t>(got));
        EXPECT_TRUE(got == data);
        b->send_value<std::uint8_t>(1);
        b->flush();
        const EmulationStats s = b->emulation_stats();
        EXPECT_EQ(s.bytes, 1u);
        EXPECT_EQ(s.modelled_ns, 100u);
        expect_delivered_on_time(s);
      });
}

TEST_P(EmulationTest, DelayModelOnPingPong) {
  // No bandwidth limit: each exchange is one 4-byte piece each way, 10 ms of link time each.
  ChannelOptions o;
  o.emulate_one_way_delay = 10ms;
  constexpr int kExchanges = 5;
  const auto check = [](Channel& c) {
    EXPECT_EQ(c.stats().rounds, static_cast<std::uint64_t>(kExchanges));
    const EmulationStats s = c.emulation_stats();
    EXPECT_EQ(s.pieces, static_cast<std::uint64_t>(kExchanges));
    EXPECT_EQ(s.bytes, kExchanges * sizeof(int));
    EXPECT_EQ(s.modelled_ns, kExchanges * 10'000'000u);
    expect_delivered_on_time(s);
  };
  run_two(
      make_pair_for(GetParam(), o),
      [&](ChannelPtr a) {
        for (int i = 0; i < kExchanges; ++i) {
          a->send_value<int>(i);
          EXPECT_EQ(a->recv_value<int>(), -i);
        }
        check(*a);
      },
      [&](ChannelPtr b) {
        for (int i = 0; i < kExchanges; ++i) b->send_value<int>(-b->recv_value<int>());
        b->flush();
        check(*b);
      });
}

TEST_P(EmulationTest, WanProfileRoundTrip) {
  // A 100000-byte frame (+ its 8-byte length) each way: 400 Mbit/s is 20 ns per byte, and every
  // piece (at least two: the frame is above 64 KiB) adds the 20 ms one-way delay.
  const auto check = [](Channel& c) {
    const EmulationStats s = c.emulation_stats();
    EXPECT_EQ(s.bytes, 100'008u);
    EXPECT_GE(s.pieces, 2u);
    EXPECT_EQ(s.modelled_ns, s.pieces * 20'000'000u + 100'008u * 20u);
    expect_delivered_on_time(s);
  };
  run_two(
      make_pair_for(GetParam(), wan_profile()),
      [&](ChannelPtr a) {
        a->send_frame(std::vector<std::uint8_t>(100000, 3));
        EXPECT_EQ(a->recv_frame().size(), 100000u);
        check(*a);
      },
      [&](ChannelPtr b) {
        const auto f = b->recv_frame();
        b->send_frame(f);
        b->flush();
        check(*b);
      });
}

TEST_P(EmulationTest, LargeTransferIntactUnderLan) {
  constexpr std::size_t kN = std::size_t{16} << 20;
  std::vector<std::uint8_t> data(kN);
  for (std::size_t i = 0; i < kN; ++i) data[i] = static_cast<std::uint8_t>(i ^ (i >> 8));
  ChannelOptions o = lan_profile();
  o.max_frame_bytes = kN;
  run_two(
      make_pair_for(GetParam(), o),
      [&](ChannelPtr a) { a->send_frame(data); },  // destruction delivers what is in flight
      [&](ChannelPtr b) {
        EXPECT_TRUE(b->recv_frame() == data);
        EXPECT_EQ(error_code_of([&] { b->recv_value<std::uint8_t>(); }), ErrorCode::kPeerClosed);
      });
}

TEST_P(EmulationTest, InFlightDataDeliveredBeforeClose) {
  ChannelOptions o;
  o.emulate_one_way_delay = 30ms;
  o.read_timeout = 2000ms;
  auto [a, b] = make_pair_for(GetParam(), o);
  a->send_value<std::uint64_t>(5);
  a.reset();
  EXPECT_EQ(b->recv_value<std::uint64_t>(), 5u);
  EXPECT_EQ(error_code_of([&] { b->recv_value<std::uint8_t>(); }), ErrorCode::kPeerClosed);
}

TEST_P(EmulationTest, StallGivesTimeout) {
  ChannelOptions o = wan_profile();
  o.read_timeout = 200ms;
  auto [a, b] = make_pair_for(GetParam(), o);
  EXPECT_EQ(error_code_of([&] { b->recv_value<std::uint32_t>(); }), ErrorCode::kTimeout);
}

TEST_P(EmulationTest, ClosedPeerSurfacesOnSender) {
  ChannelOptions o;
  o.emulate_one_way_delay = 1ms;
  o.read_timeout = 200ms;
  auto [a, b] = make_pair_for(GetParam(), o);
  b.reset();
  const std::vector<std::uint8_t> chunk(1 << 16, 5);
  EXPECT_EQ(error_code_of([&] {
              for (int i = 0; i < 4096; ++i) {
                a->send_span(std::span<const std::uint8_t>(chunk));
                a->flush();
                std::this_thread::sleep_for(1ms);
              }
            }),
            ErrorCode::kPeerClosed);
}

INSTANTIATE_TEST_SUITE_P(Transports, EmulationTest,
                         ::testing::Values(Transport::kMemory, Transport::kTcp), transport_name);

}  // namespace
}  // namespace peregrine::net::testing
