// Base OT on ristretto255: correctness, session binding and rejection of invalid peer points.
#include <gtest/gtest.h>

#include <sodium.h>

#include <array>
#include <vector>

#include "ot_test_util.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/ot/base_ot.hpp"

using namespace peregrine;
using namespace peregrine::ot;
using peregrine::ot::test_util::run_parties;
using peregrine::ot::test_util::test_seed;

namespace {

void expect_code(const std::function<void()>& f, ErrorCode code) {
  try {
    f();
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
  }
}

}  // namespace

TEST(BaseOt, CorrectnessAndDistinctKeys) {
  for (std::size_t n : {1u, 5u, 128u}) {
    auto [a, b] = net::make_memory_pair();
    Prg ps = Prg::from_seed(test_seed(20)), pr = Prg::from_seed(test_seed(21));
    std::vector<std::array<Block, 2>> pairs(n);
    std::vector<std::uint8_t> choices(n);
    for (std::size_t i = 0; i < n; ++i) choices[i] = static_cast<std::uint8_t>((i * 7 + i / 3) & 1);
    if (n > 1) choices[n - 1] = 5;  // nonzero counts as 1
    std::vector<Block> got(n);
    run_parties([&] { base_ot_send(*a, ps, pairs, "test"); },
                [&] { base_ot_recv(*b, pr, choices, got, "test"); });
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(got[i], pairs[i][choices[i] ? 1 : 0]) << i;
      EXPECT_NE(got[i], pairs[i][choices[i] ? 0 : 1]) << i;
      if (i > 0) {
        EXPECT_NE(pairs[i][0], pairs[i - 1][0]);
      }
    }
    EXPECT_EQ(a->stats().bytes_sent, 32u);
    EXPECT_EQ(b->stats().bytes_sent, 32u * n);
  }
}

TEST(BaseOt, SessionLabelBindsKeys) {
  std::array<std::array<Block, 2>, 4> pairs;
  std::array<Block, 4> got;
  const std::array<std::uint8_t, 4> choices{0, 1, 0, 1};
  auto [a, b] = net::make_memory_pair();
  Prg ps = Prg::from_seed(test_seed(22)), pr = Prg::from_seed(test_seed(23));
  run_parties([&] { base_ot_send(*a, ps, pairs, "session-A"); },
              [&] { base_ot_recv(*b, pr, choices, got, "session-B"); });
  for (int i = 0; i < 4; ++i) EXPECT_NE(got[i], pairs[i][choices[i]]);
}

TEST(BaseOt, ReceiverRejectsInvalidA) {
  std::array<std::uint8_t, 32> bad;
  bad.fill(0xff);  // not a canonical encoding
  std::array<std::uint8_t, 32> zero{};  // the identity
  ASSERT_GE(sodium_init(), 0);
  std::array<std::uint8_t, 32> top{};  // a valid point with the (must-be-zero) top bit set
  std::uint8_t h[64] = {9};
  crypto_core_ristretto255_from_hash(top.data(), h);
  top[31] |= 0x80;
  for (const auto& pt : {bad, zero, top}) {
    auto [a, b] = net::make_memory_pair();
    a->send(pt.data(), pt.size());
    a->flush();
    Prg pr = Prg::from_seed(test_seed(24));
    std::array<std::uint8_t, 2> choices{0, 1};
    std::array<Block, 2> got;
    expect_code([&] { base_ot_recv(*b, pr, choices, got); }, ErrorCode::kProtocol);
  }
}

TEST(BaseOt, SenderRejectsInvalidB) {
  ASSERT_GE(sodium_init(), 0);
  for (int variant = 0; variant < 3; ++variant) {
    auto [a, b] = net::make_memory_pair();
    std::array<std::uint8_t, 32> good, bad;
    std::uint8_t h[64] = {1, 2, 3};
    crypto_core_ristretto255_from_hash(good.data(), h);
    bad = good;
    if (variant == 0) bad[31] |= 0x80;  // top bit set: non-canonical
    else if (variant == 1) bad.fill(0);  // identity
    else bad[0] |= 1;                    // a "negative" field element: not a valid encoding
    std::array<std::uint8_t, 32> A;
    run_parties(
        [&] {
          Prg ps = Prg::from_seed(test_seed(25));
          std::array<std::array<Block, 2>, 2> pairs;
          SCOPED_TRACE(variant);
          expect_code([&] { base_ot_send(*a, ps, pairs); }, ErrorCode::kProtocol);
        },
        [&] {
          b->recv(A.data(), 32);
          b->send(good.data(), 32);
          b->send(bad.data(), 32);
          b->flush();
        });
  }
}

TEST(BaseOt, PeerClosesGivesTypedError) {
  auto [a, b] = net::make_memory_pair();
  b.reset();
  Prg ps = Prg::from_seed(test_seed(26));
  std::array<std::array<Block, 2>, 3> pairs;
  try {
    base_ot_send(*a, ps, pairs);
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kPeerClosed) << e.what();
  }
}
