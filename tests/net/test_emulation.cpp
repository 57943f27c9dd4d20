// Link emulation: presets, lower bounds on the modelled time, data integrity, close semantics.
// The only timing checks are lower bounds implied by the model (an emulator that is too fast is
// wrong); there are no upper bounds.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "net_test_util.hpp"

namespace peregrine::net::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
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

TEST_P(EmulationTest, BandwidthLowerBound) {
  // 1 MB at 80 Mbit/s is 0.1 s of serialisation.
  ChannelOptions o;
  o.emulate_bits_per_second = 80'000'000;
  constexpr std::size_t kN = 1'000'000;
  std::vector<std::uint8_t> data(kN);
  for (std::size_t i = 0; i < kN; ++i) data[i] = static_cast<std::uint8_t>(i * 31 + 7);
  auto pair = make_pair_for(GetParam(), o);
  const auto t0 = Clock::now();
  double elapsed = 0;
  run_two(
      std::move(pair),
      [&](ChannelPtr a) {
        a->send_span(std::span<const std::uint8_t>(data));
        a->flush();
        EXPECT_EQ(a->recv_value<std::uint8_t>(), 1);
        EXPECT_EQ(a->stats().bytes_sent, kN);  // the emulator adds no bytes
      },
      [&](ChannelPtr b) {
        std::vector<std::uint8_t> got(kN);
        b->recv_span(std::span<std::uint8_t>(got));
        elapsed = seconds_since(t0);
        EXPECT_TRUE(got == data);
        b->send_value<std::uint8_t>(1);
        b->flush();
      });
  EXPECT_GE(elapsed, 0.09);
}

TEST_P(EmulationTest, DelayLowerBoundOnPingPong) {
  ChannelOptions o;
  o.emulate_one_way_delay = 10ms;
  constexpr int kExchanges = 5;
  const auto t0 = Clock::now();
  run_two(
      make_pair_for(GetParam(), o),
      [](ChannelPtr a) {
        for (int i = 0; i < kExchanges; ++i) {
          a->send_value<int>(i);
          EXPECT_EQ(a->recv_value<int>(), -i);
        }
        EXPECT_EQ(a->stats().rounds, static_cast<std::uint64_t>(kExchanges));
      },
      [](ChannelPtr b) {
        for (int i = 0; i < kExchanges; ++i) b->send_value<int>(-b->recv_value<int>());
        b->flush();
        EXPECT_EQ(b->stats().rounds, static_cast<std::uint64_t>(kExchanges));
      });
  EXPECT_GE(seconds_since(t0), 2 * kExchanges * 0.010 * 0.95);
}

TEST_P(EmulationTest, WanProfileRoundTrip) {
  const auto t0 = Clock::now();
  run_two(
      make_pair_for(GetParam(), wan_profile()),
      [](ChannelPtr a) {
        a->send_frame(std::vector<std::uint8_t>(100000, 3));
        EXPECT_EQ(a->recv_frame().size(), 100000u);
      },
      [](ChannelPtr b) {
        const auto f = b->recv_frame();
        b->send_frame(f);
        b->flush();
      });
  // Two one-way delays plus 2 * 800 kbit at 400 Mbit/s.
  EXPECT_GE(seconds_since(t0), 0.040 + 0.004);
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
