// Ferret silent COT (ot/ferret.hpp): the half-tree kernels, the COT correlation on 10^7 COTs with
// chosen and random choice bits, bootstrapping over many iterations, the derandomisation check,
// and typed errors when the peer aborts mid-extension.
#include <gtest/gtest.h>

#include <array>
#include <utility>
#include <cmath>
#include <vector>

#include "../common/errors.hpp"
#include "ot_test_util.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/core/workers.hpp"
#include "peregrine/ot/derived.hpp"
#include "peregrine/ot/ferret.hpp"

using namespace peregrine;
using namespace peregrine::ot;
using peregrine::ot::test_util::IknpSession;
using peregrine::ot::test_util::run_parties;
using peregrine::ot::test_util::test_seed;

namespace {

// Small instances: iterations of a few thousand COTs, so that tests cross many bootstraps.
constexpr FerretParams kTinySetup{32 << 7, 512, 32, 7, 11};
constexpr FerretParams kTinyMain{64 << 7, 1024, 64, 7, 12};

/// Both Ferret directions on top of an IKNP session.
struct FerretSession {
  IknpSession base;
  std::unique_ptr<FerretCotSender> s01;    // party 0 sends
  std::unique_ptr<FerretCotReceiver> r01;  // party 1 receives
  explicit FerretSession(const FerretParams& setup = kFerretSetup, const FerretParams& main = kFerretMain) {
    run_parties([&] { s01 = std::make_unique<FerretCotSender>(*base.ch0, *base.p0.sender, base.prg0, setup, main); },
                [&] { r01 = std::make_unique<FerretCotReceiver>(*base.ch1, *base.p1.receiver, base.prg1, setup, main); });
  }
};

/// n COTs in calls of `step`, chosen (random bits from `prg`) or random choices; returns mismatches.
std::size_t check(FerretSession& f, std::size_t n, std::size_t step, bool chosen, Prg& prg) {
  std::size_t bad = 0, ones = 0;
  std::vector<Block> m0(step), mb(step);
  std::vector<std::uint8_t> c(step);
  const Block d = f.s01->delta();
  for (std::size_t off = 0; off < n; off += step) {
    const std::size_t b = std::min(step, n - off);
    std::span<Block> s0(m0.data(), b), s1(mb.data(), b);
    std::span<std::uint8_t> cs(c.data(), b);
    if (chosen) {
      prg.fill(c.data(), b);
      for (auto& v : cs) v &= 1;
      run_parties([&] { f.s01->send_cot(s0); }, [&] { f.r01->recv_cot(cs, s1); });
    } else {
      run_parties([&] { f.s01->send_random_cot(s0); }, [&] { f.r01->recv_random_cot(cs, s1, prg); });
    }
    for (std::size_t i = 0; i < b; ++i) {
      bad += (mb[i] != (c[i] ? m0[i] ^ d : m0[i])) || c[i] > 1;
      bad += mb[i].lsb() != (m0[i].lsb() ^ (c[i] != 0));
      ones += c[i];
    }
  }
  // The choice bits (pseudo-random under LPN when not chosen) are balanced.
  const double tol = 3 * std::sqrt(static_cast<double>(n)) + n / 100.0;  // ≥ 6σ
  EXPECT_NEAR(static_cast<double>(ones), n / 2.0, tol);
  return bad;
}

}  // namespace

TEST(FerretKernels, HalfTreeLevelsSumToDeltaAndTheReceiverMissesOneLeaf) {
  Prg prg = Prg::from_seed(test_seed(40));
  for (int h : {1, 2, 5, 9}) {
    const std::size_t L = std::size_t{1} << h;
    Block seed, delta;
    prg.fill(&seed, sizeof seed);
    prg.fill(&delta, sizeof delta);
    delta.lo |= 1;
    std::vector<Block> v(L), k0(h), w(L), scratch(L), kb(h);
    detail::half_tree_sender(seed, delta, h, v.data(), k0.data(), scratch.data());
    Block all{};
    for (auto& x : v) all ^= x;
    EXPECT_EQ(all, delta) << "h = " << h;
    std::vector<std::uint8_t> b(h);
    for (int trial = 0; trial < 4; ++trial) {
      std::size_t want = 0;
      for (int i = 0; i < h; ++i) {
        b[i] = prg.next_u64() & 1;
        kb[i] = b[i] ? k0[i] ^ delta : k0[i];  // K_i^{b_i} = K_i^0 ⊕ b_i·Δ
        want = 2 * want + (1 - b[i]);
      }
      const std::size_t a = detail::half_tree_receiver(kb.data(), b.data(), h, w.data(), scratch.data());
      ASSERT_EQ(a, want);
      for (std::size_t j = 0; j < L; ++j) EXPECT_EQ(w[j], j == a ? v[j] ^ delta : v[j]) << h << " " << j;
    }
  }
}

TEST(FerretKernels, LpnEncodeIsLinearAndDeterministic) {
  Prg prg = Prg::from_seed(test_seed(41));
  const FerretParams& p = kTinyMain;
  std::vector<Block> t1(p.k), t2(p.k), t12(p.k);
  prg.fill(t1.data(), t1.size() * sizeof(Block));
  prg.fill(t2.data(), t2.size() * sizeof(Block));
  for (std::size_t i = 0; i < p.k; ++i) t12[i] = t1[i] ^ t2[i];
  const std::size_t rows = 3000;
  std::vector<Block> a(rows), b(rows), c(rows), a2(rows);
  detail::lpn_encode(p, 128, rows, t1.data(), a.data());
  detail::lpn_encode(p, 128, rows, t2.data(), b.data());
  detail::lpn_encode(p, 128, rows, t12.data(), c.data());
  detail::lpn_encode(p, 128, rows, t1.data(), a2.data());
  for (std::size_t j = 0; j < rows; ++j) {
    ASSERT_EQ(c[j], a[j] ^ b[j]);
    ASSERT_EQ(a[j], a2[j]);
  }
  // Row j of a split call equals row j of one call (pairs of rows share their AES blocks).
  std::vector<Block> s(rows);
  detail::lpn_encode(p, 128, 1024, t1.data(), s.data());
  detail::lpn_encode(p, 128 + 1024, rows - 1024, t1.data(), s.data() + 1024);
  EXPECT_EQ(s, a);
  // Every column of the public matrix is hit about 10·rows/k times (a unit table counts them).
  std::vector<std::size_t> hits(p.k, 0);
  std::vector<Block> unit(p.k), out(1);
  for (std::size_t col = 0; col < 64; ++col) {
    std::fill(unit.begin(), unit.end(), Block{});
    unit[col] = Block{1, 0};
    std::size_t count = 0;
    for (std::size_t j = 0; j < 8192; j += 2) {
      std::vector<Block> o(2);
      detail::lpn_encode(p, j, 2, unit.data(), o.data());
      count += o[0].lo + o[1].lo;
    }
    hits[col] = count;  // parity per row: a row hitting the column twice counts 0
    EXPECT_LT(count, 8192 * 10 / p.k * 3 + 10) << col;
  }
  std::size_t total = 0;
  for (std::size_t col = 0; col < 64; ++col) total += hits[col];
  EXPECT_GT(total, 64 * (8192 * 10 / p.k) / 2);
}

TEST(Ferret, TenMillionCorrelatedOtsWithChosenAndRandomBits) {
  FerretSession f;
  Prg prg = Prg::from_seed(test_seed(42));
  EXPECT_EQ(check(f, 5'000'000, 1'000'000, /*chosen=*/true, prg), 0u);
  EXPECT_EQ(check(f, 5'000'000, 1'000'000, /*chosen=*/false, prg), 0u);
  // 10^7 outputs cross the first bootstrap of the main instance (10 001 981 usable per iteration
  // plus the 43 069 left by the set-up iteration).
  EXPECT_EQ(f.s01->stats().cots_out, 10'000'000u);
  EXPECT_EQ(f.s01->stats().base_cots, kFerretSetup.reserve());
}

TEST(Ferret, BootstrapsAcrossManyIterationsAndOddCallSizes) {
  FerretSession f(kTinySetup, kTinyMain);
  Prg prg = Prg::from_seed(test_seed(43));
  EXPECT_EQ(check(f, 60'000, 777, true, prg), 0u);
  EXPECT_EQ(check(f, 3'000, 1, false, prg) + check(f, 77'000, 4099, false, prg), 0u);
  const std::uint64_t usable = kTinyMain.n - kTinyMain.reserve();
  EXPECT_GE(f.s01->stats().iterations, 140'000 / usable);
  EXPECT_EQ(f.s01->stats().iterations, f.r01->stats().iterations);
}

TEST(Ferret, DerivedFlavoursRunUnchanged) {
  FerretSession f(kTinySetup, kTinyMain);
  OtSender snd(*f.s01, *f.base.ch0);
  OtReceiver rcv(*f.r01, *f.base.ch1, f.base.prg1);
  const std::size_t n = 5000;
  Prg prg = Prg::from_seed(test_seed(44));
  std::vector<std::uint64_t> msgs(n * 16), got(n);
  std::vector<std::uint8_t> c(n);
  for (auto& m : msgs) m = prg.next_u64() & 3;
  for (auto& v : c) v = prg.next_u64() & 15;
  run_parties([&] { snd.send_1_of_n(msgs, 4, 2); }, [&] { rcv.recv_1_of_n(c, got, 4, 2); });
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], msgs[i * 16 + c[i]]);
  // The pipelined 1-of-N over many batches, with Ferret iterations (refills) inside them: the
  // millionaire's shape (m = 3, l = 2), and a slot wider than one word (m = 4, l = 7).
  for (const auto [m, l, count] : {std::array<std::size_t, 3>{3, 2, 40000}, std::array<std::size_t, 3>{4, 7, 9000}}) {
    const std::size_t N = std::size_t{1} << m;
    std::vector<std::uint64_t> mm(count * N), gg(count);
    std::vector<std::uint8_t> cc(count);
    for (auto& v : mm) v = prg.next_u64() & ((1u << l) - 1);
    for (auto& v : cc) v = static_cast<std::uint8_t>(prg.next_u64() % N);
    run_parties([&] { snd.send_1_of_n(mm, static_cast<int>(m), static_cast<int>(l)); },
                [&] { rcv.recv_1_of_n(cc, gg, static_cast<int>(m), static_cast<int>(l)); });
    for (std::size_t i = 0; i < count; ++i) ASSERT_EQ(gg[i], mm[i * N + cc[i]]) << m << " " << l << " " << i;
  }
  std::vector<std::array<Block, 2>> r0(n);
  std::vector<Block> r1(n);
  run_parties([&] { snd.send_rot(r0); }, [&] { rcv.recv_rot(c, r1); });
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(r1[i], r0[i][c[i]]);
}

TEST(Ferret, JunkInTheDerandomisationPaddingIsRefused) {
  FerretSession f(kTinySetup, kTinyMain);
  std::vector<Block> m0(3);
  run_parties(
      [&] { EXPECT_EQ(test::error_code_of([&] { f.s01->send_cot(m0); }), ErrorCode::kProtocol); },
      [&] {
        std::vector<Block> raw(3);
        std::vector<std::uint8_t> c(3);
        Prg p = Prg::from_seed(test_seed(45));
        f.r01->recv_random_cot(c, raw, p);  // consumes the same outputs, sends nothing
        const std::uint8_t junk = 0xF8;     // bits 3..7 set past n = 3
        f.base.ch1->send(&junk, 1);
        f.base.ch1->flush();
      });
}

TEST(Ferret, JunkInTheOneOfNChoiceCorrectionsIsRefused) {
  FerretSession f(kTinySetup, kTinyMain);
  OtSender snd(*f.s01, *f.base.ch0);
  std::vector<std::uint64_t> msgs(3 * 8, 1);
  run_parties(
      [&] { EXPECT_EQ(test::error_code_of([&] { snd.send_1_of_n(msgs, 3, 2); }), ErrorCode::kProtocol); },
      [&] {
        std::vector<Block> raw(9);
        std::vector<std::uint8_t> c(9);
        Prg p = Prg::from_seed(test_seed(46));
        f.r01->recv_random_cot(c, raw, p);              // the 3·3 COTs of the three OTs
        const std::uint8_t junk[2] = {0x00, 0x02};     // bit 9 set past the 9 corrections
        f.base.ch1->send(junk, 2);
        f.base.ch1->flush();
      });
}

TEST(Ferret, PeerAbortsMidExtension) {
  FerretSession f(kTinySetup, kTinyMain);
  std::vector<Block> out(100'000);
  std::vector<std::uint8_t> c(out.size(), 1);
  run_parties(
      [&] {
        std::vector<Block> part(3000);
        f.s01->send_random_cot(part);  // serve a little, then abort
        f.s01.reset();
        f.base.p0 = {};
        f.base.ch0.reset();
      },
      [&] {
        try {
          f.r01->recv_cot(c, out);
          ADD_FAILURE() << "no exception";
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), ErrorCode::kPeerClosed) << e.what();
        }
      });
}

TEST(Ferret, InconsistentParametersAreRefusedBeforeTraffic) {
  IknpSession s;
  const auto before = s.ch0->stats().bytes_sent + s.ch1->stats().bytes_sent;
  Prg prg = Prg::from_seed(test_seed(46));
  FerretParams bad = kTinyMain;
  bad.n += 1;
  EXPECT_THROW(FerretCotSender(*s.ch0, *s.p0.sender, prg, kTinySetup, bad), Error);
  FerretParams small = kTinySetup;  // the set-up iteration cannot seed the main one
  small.k = 8;
  small.t = 2;
  small.n = 2 << 7;
  EXPECT_THROW(FerretCotReceiver(*s.ch1, *s.p1.receiver, prg, small, kTinyMain), Error);
  EXPECT_EQ(s.ch0->stats().bytes_sent + s.ch1->stats().bytes_sent, before);
}

// Refills spread over worker threads (set_workers: trees and LPN rows in parallel, the sender's
// tree seeds drawn in order first) give exactly the outputs of one thread, across iterations.
TEST(Ferret, WorkerThreadsGiveTheSameOutputs) {
  for (const auto& [setup, main] : {std::pair{kTinySetup, kTinyMain}, std::pair{kFerretSetup, kFerretMain}}) {
    FerretSession one(setup, main), many(setup, main);  // same seeds: the same base COTs
    core::Workers w0(3), w1(2);
    many.s01->set_workers(&w0);
    many.r01->set_workers(&w1);
    const std::size_t n = main.n == kFerretMain.n ? 300'000 : 40'000;  // several chunks / iterations
    std::vector<Block> a0(n), a1(n), b0(n), b1(n);
    std::vector<std::uint8_t> ca(n), cb(n);
    Prg unused = Prg::from_seed(test_seed(44));
    run_parties([&] { one.s01->send_random_cot(a0); }, [&] { one.r01->recv_random_cot(ca, a1, unused); });
    run_parties([&] { many.s01->send_random_cot(b0); }, [&] { many.r01->recv_random_cot(cb, b1, unused); });
    EXPECT_TRUE(a0 == b0 && a1 == b1 && ca == cb) << "outputs differ with worker threads";
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n; ++i) bad += b1[i] != (cb[i] ? b0[i] ^ many.s01->delta() : b0[i]);
    EXPECT_EQ(bad, 0u);
  }
}
