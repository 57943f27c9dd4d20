// IKNP COT: the correlation m_b = m0 ⊕ b·Δ in both directions on ≥ 10^6 OTs, edge sizes, and
// typed errors when the peer aborts or stalls mid-extension.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <vector>

#include "ot_test_util.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/ot/iknp.hpp"

using namespace peregrine;
using namespace peregrine::ot;
using peregrine::ot::test_util::IknpSession;
using peregrine::ot::test_util::run_parties;
using peregrine::ot::test_util::test_seed;

namespace {

/// Runs n COTs from `snd` (party s) to `rcv` and checks the correlation. Returns mismatches.
std::size_t check_cots(CotSender& snd, CotReceiver& rcv, Prg& choice_prg, std::size_t n, bool sender_is_p0) {
  std::vector<Block> m0(n), mb(n);
  std::vector<std::uint8_t> c(n);
  choice_prg.fill(c.data(), n);
  for (auto& v : c) v &= 1;
  auto fs = [&] { snd.send_cot(m0); };
  auto fr = [&] { rcv.recv_cot(c, mb); };
  if (sender_is_p0) run_parties(fs, fr);
  else run_parties(fr, fs);
  const Block d = snd.delta();
  std::size_t bad = 0, ones = 0;
  for (std::size_t i = 0; i < n; ++i) {
    bad += (mb[i] != (c[i] ? m0[i] ^ d : m0[i]));
    ones += c[i];
    // lsb(Δ) = 1: the receiver's lsb carries its choice bit relative to m0.
    bad += (mb[i].lsb() != (m0[i].lsb() ^ (c[i] != 0)));
  }
  if (n > 1000) {
    EXPECT_GT(ones, n / 3);
    EXPECT_NE(m0[0], m0[1]);
  }
  return bad;
}

}  // namespace

TEST(Iknp, CorrelationMillionBothDirections) {
  IknpSession s;
  Prg cp = Prg::from_seed(test_seed(30));
  EXPECT_TRUE(s.p0.sender->delta().lsb());
  EXPECT_TRUE(s.p1.sender->delta().lsb());
  EXPECT_NE(s.p0.sender->delta(), s.p1.sender->delta());
  const auto before = s.ch1->stats().bytes_sent;
  EXPECT_EQ(check_cots(*s.p0.sender, *s.p1.receiver, cp, 1'000'000, true), 0u);
  // 128 bits per COT, n rounded up to a multiple of 128.
  EXPECT_EQ(s.ch1->stats().bytes_sent - before, (1'000'000 + 127) / 128 * 128 * 16);
  EXPECT_EQ(check_cots(*s.p1.sender, *s.p0.receiver, cp, 200'000, false), 0u);
}

TEST(Iknp, EdgeSizesAndRepeatedCalls) {
  IknpSession s;
  Prg cp = Prg::from_seed(test_seed(31));
  for (std::size_t n : {0u, 1u, 2u, 127u, 128u, 129u, 1023u, 1024u, 1025u, 8 * 128u + 5, 3000u})
    EXPECT_EQ(check_cots(*s.p0.sender, *s.p1.receiver, cp, n, true), 0u) << n;
  for (std::size_t n : {1u, 129u, 5000u})
    EXPECT_EQ(check_cots(*s.p1.sender, *s.p0.receiver, cp, n, false), 0u) << n;
}

TEST(Iknp, AllZeroAndAllOneChoices) {
  IknpSession s;
  for (std::uint8_t bit : {0, 1}) {
    const std::size_t n = 777;
    std::vector<Block> m0(n), mb(n);
    std::vector<std::uint8_t> c(n, bit);
    run_parties([&] { s.p0.sender->send_cot(m0); }, [&] { s.p1.receiver->recv_cot(c, mb); });
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(mb[i], bit ? m0[i] ^ s.p0.sender->delta() : m0[i]);
  }
}

TEST(Iknp, DeterministicUnderFixedSeeds) {
  IknpSession a, b;
  EXPECT_EQ(a.p0.sender->delta(), b.p0.sender->delta());
}

TEST(Iknp, ReceiverAbortsMidExtension) {
  IknpSession s;
  std::vector<Block> m0(100'000);
  run_parties(
      [&] {
        try {
          s.p0.sender->send_cot(m0);
          ADD_FAILURE() << "no exception";
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), ErrorCode::kPeerClosed) << e.what();
        }
      },
      [&] {
        // Serve only part of the extension, then abort (drop the objects and the channel).
        std::vector<Block> part(5000);
        std::vector<std::uint8_t> c(5000, 1);
        s.p1.receiver->recv_cot(c, part);
        s.p1 = {};
        s.ch1.reset();
      });
}

TEST(Iknp, SenderAbortsBeforeExtension) {
  IknpSession s;
  s.p0 = {};
  s.ch0.reset();
  std::vector<Block> out(200'000);
  std::vector<std::uint8_t> c(out.size(), 0);
  try {
    s.p1.receiver->recv_cot(c, out);
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kPeerClosed) << e.what();
  }
}

TEST(Iknp, SilentPeerTimesOut) {
  net::ChannelOptions opts;
  opts.read_timeout = std::chrono::milliseconds(200);
  IknpSession s(opts);
  std::vector<Block> m0(1000);
  try {
    s.p0.sender->send_cot(m0);  // the receiver never calls recv_cot
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kTimeout) << e.what();
  }
}

TEST(Iknp, ConstructorValidation) {
  auto [a, b] = net::make_memory_pair();
  std::vector<std::uint8_t> s(128, 1);
  std::vector<Block> k(128);
  s[0] = 0;
  EXPECT_THROW(IknpCotSender(*a, s, k), Error);
  s[0] = 1;
  EXPECT_THROW(IknpCotSender(*a, s, std::span<const Block>(k.data(), 127)), Error);
  std::vector<std::array<Block, 2>> kp(3);
  EXPECT_THROW(IknpCotReceiver(*b, kp), Error);
}

TEST(Iknp, SingleDirectionSetup) {
  auto [a, b] = net::make_memory_pair();
  Prg p0 = Prg::from_seed(test_seed(32)), p1 = Prg::from_seed(test_seed(33));
  std::unique_ptr<IknpCotSender> snd;
  std::unique_ptr<IknpCotReceiver> rcv;
  run_parties([&] { snd = IknpCotSender::setup(*a, p0); }, [&] { rcv = IknpCotReceiver::setup(*b, p1); });
  Prg cp = Prg::from_seed(test_seed(34));
  EXPECT_EQ(check_cots(*snd, *rcv, cp, 10'000, true), 0u);
}
