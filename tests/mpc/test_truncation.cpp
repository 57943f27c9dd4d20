// Wrap bits, truncation and extension (src/peregrine/mpc/truncation.hpp): both parties as threads
// over an in-memory channel, deterministic seeds, outputs reconstructed and compared with the
// cleartext reference (arithmetic shift of the signed value, sign/zero extension). Every
// TruncMode × MsbHint combination, ring widths 8…64, truncation boundaries and carry-stressing
// share splits, an exhaustive run over Z_{2^8}, and the argument checks.
#include "../common/mpc_fixture.hpp"
#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "peregrine/mpc/cost.hpp"
#include "peregrine/mpc/truncation.hpp"

using namespace peregrine;
using namespace peregrine::mpc;
using peregrine::mpc::test_util::bxor;
using peregrine::mpc::test_util::Dataset;
using peregrine::mpc::test_util::error_name_of;
using peregrine::mpc::test_util::from_signed;
using peregrine::mpc::test_util::on_both;
using peregrine::mpc::test_util::SessionPair;
using peregrine::mpc::test_util::short_timeout;
using peregrine::mpc::test_util::special_first_shares;
using peregrine::mpc::test_util::test_seed;

namespace {

const char* name_of(TruncMode m) { return m == TruncMode::kExact ? "exact" : "approx"; }
const char* name_of(MsbHint h) {
  return h == MsbHint::kUnknown ? "unknown" : (h == MsbHint::kZero ? "zero" : "one");
}

/// Forces the sign bit of v to agree with the hint (kZero: v ≥ 0, kOne: v < 0, signed).
u64 apply_hint(const Ring& r, u64 v, MsbHint h) {
  const u64 top = (r.mask >> 1) + 1;
  if (h == MsbHint::kZero) return v & (r.mask >> 1);
  if (h == MsbHint::kOne) return (v | top) & r.mask;
  return v & r.mask;
}

/// Values at the edges of the ring and at the truncation boundaries: 0, ±1, max, min, and
/// k·2^f + {−1, 0, 1} for small k, the extreme multiples and a few random multiples.
std::vector<u64> trunc_edges(const Ring& r, int f, Prg& gen) {
  const u64 max = r.mask >> 1, min = max + 1;
  std::vector<u64> v = {0, 1, r.mask, max, min, max - 1, min + 1, 2, r.mask - 1};
  const u64 step = u64{1} << f;
  std::vector<u64> mults;
  for (std::int64_t k : {-4, -3, -2, -1, 1, 2, 3, 4}) mults.push_back(static_cast<u64>(k) * step);
  mults.push_back(min);                  // −2^{ℓ−1} (a multiple of 2^f)
  mults.push_back(min + step);           // smallest multiple above the minimum
  mults.push_back((max + 1) - step);     // largest positive multiple
  for (int i = 0; i < 3; ++i) mults.push_back(gen.next_u64() << f);
  for (u64 m : mults)
    for (u64 d : {r.mask, u64{0}, u64{1}}) v.push_back((m + d) & r.mask);  // m − 1, m, m + 1
  return v;
}

/// Every edge value under the special server shares (and 2^f − 1, 2^f, x itself, one random),
/// then n_random uniform values with uniform splits; all forced to agree with `hint`.
Dataset trunc_dataset(const Ring& r, int f, MsbHint hint, std::size_t n_random, Prg& gen) {
  Dataset d(r);
  auto firsts = special_first_shares(r);
  firsts.push_back((u64{1} << f) - 1);
  firsts.push_back(u64{1} << f);
  for (u64 e : trunc_edges(r, f, gen)) {
    const u64 x = apply_hint(r, e, hint);
    for (u64 a : firsts) d.add(x, a);
    d.add(x, x);  // client share 0
    d.add_random(x, gen);
  }
  for (std::size_t i = 0; i < n_random; ++i) d.add_random(apply_hint(r, gen.next_u64(), hint), gen);
  return d;
}

/// floor(x / 2^f) of the signed value of x, back in the ring.
u64 shift_ref(const Ring& r, u64 x, int f) { return from_signed(r, r.centred(x) >> f); }

/// Checks reconstructed truncation outputs: bit-exact for kExact, ref − 1 or ref for kApprox.
void check_truncation(const Dataset& d, const std::pair<ArithShares, ArithShares>& y, int f,
                      TruncMode mode, const std::string& what) {
  const Ring& r = d.ring;
  ASSERT_EQ(y.first.ring, r) << what;
  ASSERT_EQ(y.second.ring, r) << what;
  ASSERT_EQ(y.first.v.size(), d.size()) << what;
  ASSERT_EQ(y.second.v.size(), d.size()) << what;
  for (std::size_t i = 0; i < d.size(); ++i) {
    ASSERT_LE(y.first.v[i], r.mask) << what << " i=" << i;
    ASSERT_LE(y.second.v[i], r.mask) << what << " i=" << i;
    const u64 got = (y.first.v[i] + y.second.v[i]) & r.mask, ref = shift_ref(r, d.x[i], f);
    const u64 err = (ref - got) & r.mask;  // 0 exact, 1 when got = ref − 1
    const bool ok = mode == TruncMode::kExact ? err == 0 : (err == 0 || err == 1);
    ASSERT_TRUE(ok) << what << " i=" << i << " x=" << d.x[i] << " (signed " << r.centred(d.x[i])
                    << ") x0=" << d.sh[0].v[i] << " x1=" << d.sh[1].v[i] << " expected "
                    << (mode == TruncMode::kExact ? "" : "{ref-1, ref}, ref=") << ref << " (signed "
                    << r.centred(ref) << ") got " << got << " (signed " << r.centred(got) << ")";
  }
}

std::vector<int> f_values(int ell) {
  std::vector<int> fs = {1};
  if (12 < ell - 1) fs.push_back(12);
  if (ell - 1 > 1) fs.push_back(ell - 1);
  return fs;
}

const int kWidths[] = {8, 16, 32, 37, 41, 64};

using TruncParam = std::tuple<TruncMode, MsbHint>;

class Truncate : public ::testing::TestWithParam<TruncParam> {};

std::string param_name(const ::testing::TestParamInfo<TruncParam>& info) {
  return std::string(name_of(std::get<0>(info.param))) + "_" + name_of(std::get<1>(info.param));
}

}  // namespace

// ---- wrap bits --------------------------------------------------------------------------------

TEST(WrapBits, MatchesShareCarry) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(30));
  for (int ell : kWidths) {
    const Ring r(ell);
    for (int k : {1, 12, ell - 1, ell}) {
      if (k < 1 || k > ell) continue;
      Dataset d(r);
      auto firsts = special_first_shares(r);
      const u64 mk = k == 64 ? ~u64{0} : (u64{1} << k) - 1;
      firsts.push_back(mk);
      firsts.push_back(mk >> 1);
      firsts.push_back((mk >> 1) + 1);
      for (u64 x : test_util::edge_and_random(r, gen, 40))
        for (u64 a : firsts) d.add(x, a);
      for (int i = 0; i < 600; ++i) d.add_random(gen.next_u64(), gen);
      auto [b0, b1] = on_both(sp, [&](MpcSession& s, int p) { return wrap_bits(s, d.sh[p], k); });
      ASSERT_EQ(b0.n, d.size());
      ASSERT_EQ(b1.n, d.size());
      const BoolShares b = bxor(b0, b1);
      for (std::size_t i = 0; i < d.size(); ++i) {
        const unsigned __int128 sum = static_cast<unsigned __int128>(d.sh[0].v[i] & mk) + (d.sh[1].v[i] & mk);
        const int want = static_cast<int>(sum >> k) & 1;
        ASSERT_EQ(b.get(i), want) << "ell=" << ell << " k=" << k << " i=" << i << " x0=" << d.sh[0].v[i]
                                  << " x1=" << d.sh[1].v[i];
      }
    }
  }
}

TEST(WrapBits, Empty) {
  SessionPair sp;
  auto [b0, b1] = on_both(sp, [&](MpcSession& s, int) { return wrap_bits(s, ArithShares{Ring(16), {}}, 16); });
  EXPECT_EQ(b0.n, 0u);
  EXPECT_EQ(b1.n, 0u);
}

TEST(WrapMsbKnown, MatchesShareCarry) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(31));
  for (int ell : kWidths) {
    const Ring r(ell);
    for (MsbHint hint : {MsbHint::kZero, MsbHint::kOne}) {
      Dataset d(r);
      for (u64 x : test_util::edge_and_random(r, gen, 30))
        for (u64 a : special_first_shares(r)) d.add(apply_hint(r, x, hint), a);
      for (int i = 0; i < 500; ++i) d.add_random(apply_hint(r, gen.next_u64(), hint), gen);
      for (int out_bits : {1, ell, 64}) {
        const Ring out(out_bits);
        auto [w0, w1] = on_both(sp, [&](MpcSession& s, int p) { return wrap_msb_known(s, d.sh[p], hint, out); });
        ASSERT_EQ(w0.ring, out);
        ASSERT_EQ(w1.ring, out);
        ASSERT_EQ(w0.v.size(), d.size());
        ASSERT_EQ(w1.v.size(), d.size());
        const auto w = reconstruct(w0, w1);
        for (std::size_t i = 0; i < d.size(); ++i) {
          const unsigned __int128 sum = static_cast<unsigned __int128>(d.sh[0].v[i]) + d.sh[1].v[i];
          const u64 want = (sum >> ell) != 0 ? 1 : 0;
          ASSERT_EQ(w[i], want) << "ell=" << ell << " hint=" << name_of(hint) << " out=" << out_bits
                                << " i=" << i << " x=" << d.x[i] << " x0=" << d.sh[0].v[i]
                                << " x1=" << d.sh[1].v[i];
        }
      }
    }
  }
}

// ---- truncation ---------------------------------------------------------------------------------

TEST_P(Truncate, AllWidthsAndShifts) {
  const auto [mode, hint] = GetParam();
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(static_cast<std::uint8_t>(40 + 3 * static_cast<int>(mode) + static_cast<int>(hint))));
  for (int ell : kWidths) {
    const Ring r(ell);
    for (int f : f_values(ell)) {
      const Dataset d = trunc_dataset(r, f, hint, ell == 64 ? 300 : 700, gen);
      auto y = on_both(sp, [&](MpcSession& s, int p) { return truncate(s, d.sh[p], f, mode, hint); });
      std::ostringstream what;
      what << name_of(mode) << "/" << name_of(hint) << " ell=" << ell << " f=" << f;
      check_truncation(d, y, f, mode, what.str());
      if (HasFatalFailure()) return;
    }
  }
}

TEST_P(Truncate, ExhaustiveEll8) {
  // Every x in Z_{2^8} allowed by the hint, each under 16 share splits (0, x, the carry-stressing
  // shares, 2^f − 1, 2^f and random ones), for every shift 1 ≤ f ≤ 7.
  const auto [mode, hint] = GetParam();
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(static_cast<std::uint8_t>(50 + 3 * static_cast<int>(mode) + static_cast<int>(hint))));
  const Ring r(8);
  for (int f = 1; f < 8; ++f) {
    Dataset d(r);
    for (u64 x = 0; x < 256; ++x) {
      if (apply_hint(r, x, hint) != x) continue;
      std::vector<u64> firsts = special_first_shares(r);
      firsts.push_back(x);
      firsts.push_back((u64{1} << f) - 1);
      firsts.push_back(u64{1} << f);
      while (firsts.size() < 16) firsts.push_back(gen.next_u64());
      for (u64 a : firsts) d.add(x, a);
    }
    auto y = on_both(sp, [&](MpcSession& s, int p) { return truncate(s, d.sh[p], f, mode, hint); });
    check_truncation(d, y, f, mode, std::string(name_of(mode)) + "/" + name_of(hint) + " ell=8 f=" + std::to_string(f));
    if (HasFatalFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(ModesAndHints, Truncate,
                         ::testing::Combine(::testing::Values(TruncMode::kExact, TruncMode::kApprox),
                                            ::testing::Values(MsbHint::kUnknown, MsbHint::kZero, MsbHint::kOne)),
                         param_name);

TEST(Truncation, DefaultArgumentsAreExactUnknown) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(32));
  const Ring r(37);
  const Dataset d = trunc_dataset(r, 12, MsbHint::kUnknown, 500, gen);
  auto y = on_both(sp, [&](MpcSession& s, int p) { return truncate(s, d.sh[p], 12); });
  check_truncation(d, y, 12, TruncMode::kExact, "default args");
}

TEST(Truncation, ApproxErrorIsNotAlwaysZero) {
  // Sanity that the checks above would see the −1: with random splits the dropped low carry is 1
  // for about half of the elements whose low bits are uniform. (Informational: kApprox is allowed
  // to be exact, so only report.)
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(33));
  const Ring r(32);
  Dataset d(r);
  for (int i = 0; i < 2000; ++i) d.add_random(apply_hint(r, gen.next_u64(), MsbHint::kZero), gen);
  auto y = on_both(sp, [&](MpcSession& s, int p) {
    return truncate(s, d.sh[p], 12, TruncMode::kApprox, MsbHint::kZero);
  });
  check_truncation(d, y, 12, TruncMode::kApprox, "approx/zero ell=32 f=12");
  const auto got = reconstruct(y.first, y.second);
  std::size_t off_by_one = 0;
  for (std::size_t i = 0; i < d.size(); ++i) off_by_one += got[i] != shift_ref(r, d.x[i], 12);
  RecordProperty("approx_off_by_one_of_2000", static_cast<int>(off_by_one));
}

TEST(Truncation, EmptyInput) {
  SessionPair sp;
  for (TruncMode mode : {TruncMode::kExact, TruncMode::kApprox})
    for (MsbHint hint : {MsbHint::kUnknown, MsbHint::kZero, MsbHint::kOne}) {
      auto [y0, y1] = on_both(sp, [&](MpcSession& s, int) {
        return truncate(s, ArithShares{Ring(32), {}}, 5, mode, hint);
      });
      EXPECT_TRUE(y0.v.empty());
      EXPECT_TRUE(y1.v.empty());
    }
}

// ---- extension ----------------------------------------------------------------------------------

TEST(Extend, ZeroAndSignedAllHints) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(34));
  const std::pair<int, int> widths[] = {{8, 16}, {16, 37}, {37, 64}, {32, 41}, {63, 64}, {1, 7}};
  for (const auto& [ell, to] : widths) {
    const Ring r(ell), out(to);
    for (bool is_signed : {false, true})
      for (MsbHint hint : {MsbHint::kUnknown, MsbHint::kZero, MsbHint::kOne}) {
        Dataset d(r);
        for (u64 x : test_util::edge_and_random(r, gen, 30))
          for (u64 a : special_first_shares(r)) d.add(apply_hint(r, x, hint), a);
        for (int i = 0; i < 500; ++i) d.add_random(apply_hint(r, gen.next_u64(), hint), gen);
        auto [y0, y1] = on_both(sp, [&](MpcSession& s, int p) { return extend(s, d.sh[p], to, is_signed, hint); });
        ASSERT_EQ(y0.ring, out);
        ASSERT_EQ(y1.ring, out);
        ASSERT_EQ(y0.v.size(), d.size());
        ASSERT_EQ(y1.v.size(), d.size());
        const auto y = reconstruct(y0, y1);
        for (std::size_t i = 0; i < d.size(); ++i) {
          ASSERT_LE(y0.v[i], out.mask);
          ASSERT_LE(y1.v[i], out.mask);
          const u64 want = is_signed ? from_signed(out, r.centred(d.x[i])) : d.x[i];
          ASSERT_EQ(y[i], want) << (is_signed ? "signed" : "zero") << " " << ell << "->" << to
                                << " hint=" << name_of(hint) << " i=" << i << " x=" << d.x[i]
                                << " x0=" << d.sh[0].v[i] << " x1=" << d.sh[1].v[i];
        }
      }
  }
}

// ---- argument checks ----------------------------------------------------------------------------

TEST(Truncation, InvalidArgumentsRejectedBeforeTraffic) {
  SessionPair sp(short_timeout());
  const std::uint64_t before = sp.bytes_sent();
  MpcSession& s = *sp.s0;
  const std::string inv = "invalid_argument";
  const ArithShares x16{Ring(16), {1, 2, 3}};
  const ArithShares x1{Ring(1), {1, 0}};
  const ArithShares bad16{Ring(16), {1, 1u << 16, 3}};  // a share ≥ 2^ℓ
  // truncate: 1 ≤ f < ℓ, ℓ ≥ 2, shares < 2^ℓ.
  for (TruncMode mode : {TruncMode::kExact, TruncMode::kApprox})
    for (MsbHint hint : {MsbHint::kUnknown, MsbHint::kZero, MsbHint::kOne}) {
      EXPECT_EQ(error_name_of([&] { truncate(s, x16, 0, mode, hint); }), inv) << name_of(mode) << name_of(hint);
      EXPECT_EQ(error_name_of([&] { truncate(s, x16, 16, mode, hint); }), inv) << name_of(mode) << name_of(hint);
      EXPECT_EQ(error_name_of([&] { truncate(s, x16, 17, mode, hint); }), inv) << name_of(mode) << name_of(hint);
      EXPECT_EQ(error_name_of([&] { truncate(s, x16, -1, mode, hint); }), inv) << name_of(mode) << name_of(hint);
      EXPECT_EQ(error_name_of([&] { truncate(s, x1, 1, mode, hint); }), inv) << name_of(mode) << name_of(hint);
      EXPECT_EQ(error_name_of([&] { truncate(s, bad16, 4, mode, hint); }), inv) << name_of(mode) << name_of(hint);
    }
  // extend: ℓ < to_bits ≤ 64, shares < 2^ℓ.
  for (bool is_signed : {false, true})
    for (MsbHint hint : {MsbHint::kUnknown, MsbHint::kZero, MsbHint::kOne}) {
      EXPECT_EQ(error_name_of([&] { extend(s, x16, 16, is_signed, hint); }), inv);
      EXPECT_EQ(error_name_of([&] { extend(s, x16, 8, is_signed, hint); }), inv);
      EXPECT_EQ(error_name_of([&] { extend(s, x16, 65, is_signed, hint); }), inv);
      EXPECT_EQ(error_name_of([&] { extend(s, bad16, 32, is_signed, hint); }), inv);
    }
  EXPECT_EQ(error_name_of([&] { extend(s, ArithShares{Ring(64), {1}}, 64, true); }), inv);
  // wrap_msb_known: the hint must be known.
  EXPECT_EQ(error_name_of([&] { wrap_msb_known(s, x16, MsbHint::kUnknown, Ring(16)); }), inv);
  EXPECT_EQ(error_name_of([&] { wrap_msb_known(s, x16, MsbHint::kUnknown, Ring(64)); }), inv);
  EXPECT_EQ(error_name_of([&] { wrap_msb_known(s, bad16, MsbHint::kZero, Ring(16)); }), inv);
  // wrap_bits: 1 ≤ k ≤ ℓ, shares < 2^ℓ.
  EXPECT_EQ(error_name_of([&] { wrap_bits(s, x16, 0); }), inv);
  EXPECT_EQ(error_name_of([&] { wrap_bits(s, x16, 17); }), inv);
  EXPECT_EQ(error_name_of([&] { wrap_bits(s, bad16, 8); }), inv);
  EXPECT_EQ(sp.bytes_sent(), before) << "an invalid call sent something";
}

// ---- digit extraction (HEQuant, TECHNIQUES.md §3.5 / §3.9(b)) ------------------------------------

// Random signed digits (edge values ±(2^{B−1} − 1) and −2^{B−1} included) packed as V = Σ 2^{kB}·d_k
// mod 2^ℓ under random share splits (10^5 of them for ℓ = 36, B = 12, b = 3): every extracted digit
// equals the cleartext one, also with ℓ > b·B (bits above the digits), b = 1, and 2-bit digits.
// §3.9(b): the digits of random packed values under random masks, in the digit ring (out = B) and
// straight into a wider ring (out > B: the T_k − 2^B·T_{k+1} form with the top carry), with
// ℓ = bB (the top carry is the wrap mod 2^ℓ) and ℓ > bB.
TEST(DigitExtraction, SignedDigitsOfRandomMasks) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(90));
  struct Case { int ell, B, b; std::size_t n; int out; };
  for (const Case& c : {Case{36, 12, 3, 100000, 0}, Case{36, 12, 3, 30000, 39}, Case{37, 12, 3, 3000, 0},
                        Case{37, 12, 3, 3000, 64}, Case{40, 13, 3, 3000, 0}, Case{8, 2, 4, 3000, 0},
                        Case{8, 2, 4, 3000, 9}, Case{64, 21, 3, 3000, 0}, Case{64, 32, 2, 3000, 64},
                        Case{20, 20, 1, 1000, 0}, Case{17, 17, 1, 3000, 41}, Case{33, 16, 2, 3000, 40}}) {
    const Ring r(c.ell), out(c.out == 0 ? c.B : c.out);
    const std::int64_t lo = -(std::int64_t{1} << (c.B - 1));
    const u64 span = u64{1} << c.B;
    std::vector<std::vector<std::int64_t>> want(static_cast<std::size_t>(c.b), std::vector<std::int64_t>(c.n));
    std::vector<u64> v(c.n, 0);
    for (std::size_t i = 0; i < c.n; ++i)
      for (int k = 0; k < c.b; ++k) {
        const std::int64_t edges[] = {lo, lo + 1, -lo - 1, 0};
        const std::int64_t d = i < 4 ? edges[(i + static_cast<std::size_t>(k)) % 4]
                                     : lo + static_cast<std::int64_t>(gen.next_u64() % span);
        want[static_cast<std::size_t>(k)][i] = d;
        v[i] = r.reduce(v[i] + (static_cast<u64>(d) << (k * c.B)));
      }
    const auto sh = test_util::share(r, v, gen);
    auto [d0, d1] = on_both(sp, [&](MpcSession& s, int p) {
      return extract_digits(s, sh[static_cast<std::size_t>(p)], c.B, c.b, c.out);
    });
    ASSERT_EQ(d0.size(), static_cast<std::size_t>(c.b));
    for (int k = 0; k < c.b; ++k) {
      ASSERT_EQ(d0[static_cast<std::size_t>(k)].ring, out);
      const auto got = reconstruct(d0[static_cast<std::size_t>(k)], d1[static_cast<std::size_t>(k)]);
      for (std::size_t i = 0; i < c.n; ++i)
        ASSERT_EQ(got[i], out.reduce(static_cast<u64>(want[static_cast<std::size_t>(k)][i])))
            << "ell=" << c.ell << " B=" << c.B << " b=" << c.b << " out=" << c.out << " digit " << k << " i=" << i;
    }
  }
}

// C-pack's read-out (linear/hequant_conv.hpp): only the top digits first … b − 1, with arbitrary
// bits above digit b − 1 when ℓ > bB (the Kronecker product's garbage digits), into the digit ring
// and into wider rings; fewer carries are converted, so fewer bytes move than for all digits.
TEST(DigitExtraction, TopDigitsOnlyWithGarbageAbove) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(92));
  struct Case { int ell, B, b, first, out; };
  for (const Case& c : {Case{24, 12, 2, 1, 0}, Case{30, 10, 2, 1, 30}, Case{44, 11, 4, 3, 40}, Case{44, 11, 3, 2, 12},
                        Case{39, 13, 3, 1, 64}, Case{13, 4, 3, 2, 13}}) {
    const std::size_t n = 3000;
    const Ring r(c.ell), out(c.out == 0 ? c.B : c.out);
    const std::int64_t lo = -(std::int64_t{1} << (c.B - 1));
    std::vector<std::vector<std::int64_t>> want(static_cast<std::size_t>(c.b), std::vector<std::int64_t>(n));
    std::vector<u64> v(n);
    for (std::size_t i = 0; i < n; ++i) {
      v[i] = c.ell > c.b * c.B ? gen.next_u64() << (c.b * c.B) : 0;  // garbage above the digits
      for (int k = 0; k < c.b; ++k) {
        const std::int64_t d = i < 2 ? (i == 0 ? lo : -lo - 1) : lo + static_cast<std::int64_t>(gen.next_u64() % (u64{1} << c.B));
        want[static_cast<std::size_t>(k)][i] = d;
        v[i] += static_cast<u64>(d) << (k * c.B);
      }
      v[i] = r.reduce(v[i]);
    }
    const auto sh = test_util::share(r, v, gen);
    const auto before = sp.bytes_sent();
    auto [d0, d1] = on_both(sp, [&](MpcSession& s, int p) {
      return extract_digits(s, sh[static_cast<std::size_t>(p)], c.B, c.b, c.out, c.first);
    });
    const auto top_bytes = sp.bytes_sent() - before;
    ASSERT_EQ(d0.size(), static_cast<std::size_t>(c.b - c.first));
    for (int k = c.first; k < c.b; ++k) {
      const auto got = reconstruct(d0[static_cast<std::size_t>(k - c.first)], d1[static_cast<std::size_t>(k - c.first)]);
      for (std::size_t i = 0; i < n; ++i)
        ASSERT_EQ(got[i], out.reduce(static_cast<u64>(want[static_cast<std::size_t>(k)][i])))
            << "ell=" << c.ell << " B=" << c.B << " b=" << c.b << " first=" << c.first << " digit " << k << " i=" << i;
    }
    const auto mid = sp.bytes_sent();
    on_both(sp, [&](MpcSession& s, int p) { return extract_digits(s, sh[static_cast<std::size_t>(p)], c.B, c.b, c.out); });
    if (c.first > 1) {
      EXPECT_LT(top_bytes, sp.bytes_sent() - mid) << "the unread carries were converted";
    }
  }
}

TEST(DigitExtraction, InvalidArgumentsRejectedBeforeTraffic) {
  SessionPair sp(short_timeout());
  const ArithShares x{Ring(24), {1, 2, 3}};
  for (const auto& [B, b, out] : std::vector<std::tuple<int, int, int>>{{12, 3, 0}, {0, 2, 0}, {8, 0, 0}, {25, 1, 0},
                                                                       {8, 2, 65}, {8, 2, -1}}) {
    const auto before = sp.bytes_sent();
    EXPECT_EQ(error_name_of([&] { extract_digits(*sp.s0, x, B, b, out); }), "invalid_argument") << B << "x" << b;
    EXPECT_EQ(sp.bytes_sent(), before);
  }
  for (const int first : {-1, 2, 3}) {  // the first digit must be one of the b = 2
    const auto before = sp.bytes_sent();
    EXPECT_EQ(error_name_of([&] { extract_digits(*sp.s0, x, 8, 2, 0, first); }), "invalid_argument") << first;
    EXPECT_EQ(sp.bytes_sent(), before);
  }
}

// ---- shares in Z_t (the slot-encoded layers' prime; Flash's truncation option (c)) -------------

namespace {

std::int64_t centred_mod(u64 v, u64 t) { return v > t / 2 ? static_cast<std::int64_t>(v) - static_cast<std::int64_t>(t) : static_cast<std::int64_t>(v); }

std::int64_t floor_shift(std::int64_t v, int k) { return v >= 0 ? v >> k : -((-v + (std::int64_t{1} << k) - 1) >> k); }

}  // namespace

TEST(TruncationModT, WithinOneLsbOfTheShiftWithAnExactWrap) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(70));
  // The batch primes of he::HeParams::batch(30) and batch(36) (N = 8192).
  for (const auto& [t, ell_y, k] : {std::tuple<u64, int, int>{1073692673ULL, 28, 12}, {68719230977ULL, 34, 20},
                                    {1073692673ULL, 29, 1}}) {
    SCOPED_TRACE(std::to_string(t) + " ell_y=" + std::to_string(ell_y) + " k=" + std::to_string(k));
    const std::int64_t lim = (std::int64_t{1} << (ell_y - 1)) - 1;
    std::vector<std::int64_t> x = {0, 1, -1, lim, -lim, -lim - 1, std::int64_t{1} << k, -(std::int64_t{1} << k),
                                   (std::int64_t{1} << k) - 1, -(std::int64_t{1} << k) + 1};
    while (x.size() < 4000) x.push_back(static_cast<std::int64_t>(gen.uniform_below(2 * static_cast<u64>(lim) + 2)) - lim - 1);
    std::vector<u64> s0(x.size()), s1(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      const u64 xv = x[i] < 0 ? t - static_cast<u64>(-x[i]) : static_cast<u64>(x[i]);
      // Edge splits first: the client's share 0, t − 1, and the value itself.
      s1[i] = i < 10 ? 0 : i < 20 ? t - 1 : i < 30 ? xv : gen.uniform_below(t);
      s0[i] = (xv + t - s1[i]) % t;
    }
    auto y = on_both(sp, [&](MpcSession& s, int p) { return truncate_mod_t(s, p == 0 ? s0 : s1, t, k, ell_y); });
    std::size_t off[3] = {0, 0, 0};
    for (std::size_t i = 0; i < x.size(); ++i) {
      const std::int64_t got = centred_mod((y.first[i] + y.second[i]) % t, t);
      const std::int64_t d = got - floor_shift(x[i], k);
      ASSERT_TRUE(d >= -1 && d <= 1) << "x=" << x[i] << " got " << got;
      ++off[d + 1];
    }
    EXPECT_GT(off[1], x.size() / 4);  // mostly exact; the ±1 is the dropped low carry
    RecordProperty("off_by_minus_one_plus_one", std::to_string(off[0]) + "," + std::to_string(off[2]));
  }
}

TEST(TruncationModT, CostEstimateIsWithinAThirdOfTheMeasuredBytes) {
  SessionPair sp;
  const u64 t = 1073692673ULL;  // 30 bits
  const std::size_t n = 1 << 14;
  std::vector<u64> s0(n, 5), s1(n, t - 3);
  const auto c0 = sp.ch0->stats().bytes_sent, c1 = sp.ch1->stats().bytes_sent;
  (void)on_both(sp, [&](MpcSession& s, int p) { return truncate_mod_t(s, p == 0 ? s0 : s1, t, 8, 24); });
  const double measured = static_cast<double>(sp.ch0->stats().bytes_sent - c0 + sp.ch1->stats().bytes_sent - c1);
  const ProtocolCost est = truncate_mod_t_cost(n, 30, sp.s0->ot_backend());
  RecordProperty("bits_per_element", std::to_string(8 * measured / n));
  EXPECT_NEAR(measured / (est.bytes_c2s + est.bytes_s2c), 1.0, 0.33);
}

TEST(TruncationModT, B2AIntoZtGivesScaledBits) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(71));
  const u64 t = 1073692673ULL;
  const std::size_t n = 1000;
  BoolShares b0(n), b1(n);
  for (std::size_t i = 0; i < n; ++i) {
    b0.set(i, static_cast<int>(gen.next_u64() & 1));
    b1.set(i, static_cast<int>(gen.next_u64() & 1));
  }
  for (const u64 scale : {u64{1}, u64{12345}, t - 1}) {
    auto y = on_both(sp, [&](MpcSession& s, int p) { return b2a_mod_t(s, p == 0 ? b0 : b1, t, scale); });
    for (std::size_t i = 0; i < n; ++i)
      ASSERT_EQ((y.first[i] + y.second[i]) % t, (b0.get(i) ^ b1.get(i)) ? scale : 0) << i;
  }
}

TEST(TruncationModT, ArgumentChecks) {
  SessionPair sp;
  const u64 t = 1073692673ULL;
  const std::vector<u64> v = {1, 2}, big = {t};
  for (const auto& [tt, k, ell, in] : {std::tuple<u64, int, int, const std::vector<u64>*>{t + 1, 4, 20, &v},  // even t
                                       {t, 20, 20, &v},                                                       // k ≥ ell_y
                                       {t, 4, 31, &v},                                                        // 2^31 > t
                                       {t, 4, 20, &big}}) {                                                   // share ≥ t
    auto codes = on_both(sp, [&](MpcSession& s, int) { return error_name_of([&] { truncate_mod_t(s, *in, tt, k, ell); }); });
    EXPECT_EQ(codes.first, "invalid_argument");
    EXPECT_EQ(codes.second, "invalid_argument");
  }
}
