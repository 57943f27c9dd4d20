// Local operators on shares (src/peregrine/linear/local_ops.hpp): each test splits random tensors
// into two shares with a seeded PRG, applies the operator to both shares, reconstructs and compares
// with a plaintext reference written here (by multi-index, independent of the library's loops).
// Average pooling is checked twice: exactly against c·Σ mod 2^ℓ before truncation, and after a
// cleartext floor-shift by f against the real average within the documented tolerance. Ring widths
// ℓ ∈ {8, 37, 64}; edge cases (empty tensors, 1×1 windows, whole-image windows, channel padding,
// slices with steps 2/3 and ends past the extent, concat on every axis) and every error path.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "peregrine/linear/local_ops.hpp"

using namespace peregrine;
using namespace peregrine::linear;
using mpc::ArithShares;
using mpc::Party;
using mpc::Ring;
using mpc::u64;

namespace {

constexpr int kBits[] = {8, 37, 64};
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

Prg test_prg(std::uint8_t tag) {
  Seed s{};
  s[0] = tag;
  s[7] = 0xA7;
  return Prg::from_seed(s);
}

std::vector<u64> random_ring(const Ring& r, std::size_t n, Prg& prg) {
  std::vector<u64> x(n);
  for (auto& v : x) v = prg.next_u64() & r.mask;
  return x;
}

/// Signed values uniform in [−bound, bound], encoded in the ring.
std::vector<u64> random_signed(const Ring& r, std::size_t n, std::int64_t bound, Prg& prg) {
  std::vector<u64> x(n);
  for (auto& v : x) {
    const auto s = static_cast<std::int64_t>(prg.uniform_below(static_cast<u64>(2 * bound + 1))) - bound;
    v = static_cast<u64>(s) & r.mask;
  }
  return x;
}

std::size_t count_of(const Dims& d) {
  std::size_t n = 1;
  for (auto e : d) n *= e;
  return n;
}

/// Multi-index of flat offset `n` in `dims` (row-major).
std::vector<std::size_t> unravel(std::size_t n, const Dims& dims) {
  std::vector<std::size_t> idx(dims.size());
  for (std::size_t i = dims.size(); i-- > 0;) {
    idx[i] = n % dims[i];
    n /= dims[i];
  }
  return idx;
}

std::size_t ravel(const std::vector<std::size_t>& idx, const Dims& dims) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < dims.size(); ++i) n = n * dims[i] + idx[i];
  return n;
}

template <class F>
void expect_invalid(F&& f, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << what << ": no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << what << ": " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": wrong exception type: " << e.what();
  }
}

/// Splits x, applies `op` to both shares and reconstructs.
template <class Op>
std::vector<u64> on_shares(const Ring& r, const std::vector<u64>& x, Prg& prg, Op&& op) {
  auto [x0, x1] = mpc::split(r, x, prg);
  ArithShares y0 = op(x0, Party::kServer), y1 = op(x1, Party::kClient);
  EXPECT_EQ(y0.ring, r);
  EXPECT_EQ(y1.ring, r);
  for (u64 w : y0.v) EXPECT_EQ(w & ~r.mask, 0u) << "share left its ring";
  for (u64 w : y1.v) EXPECT_EQ(w & ~r.mask, 0u) << "share left its ring";
  return mpc::reconstruct(y0, y1);
}

// ---- plaintext references -------------------------------------------------------------------

struct PoolCase {
  std::size_t C, H, W, kh, kw, sh, sw, pt, pb, pl, pr;
};

/// Window sums (as plain integers, wrapping in u64) and window divisors of an average pool.
struct PoolRef {
  std::size_t Ho, Wo;
  std::vector<u64> sums;            ///< Σ window, mod 2^64
  std::vector<std::size_t> inside;  ///< number of window positions inside the image
};

PoolRef ref_pool(const std::vector<u64>& x, const PoolCase& p) {
  PoolRef r;
  r.Ho = (p.H + p.pt + p.pb - p.kh) / p.sh + 1;
  r.Wo = (p.W + p.pl + p.pr - p.kw) / p.sw + 1;
  for (std::size_t c = 0; c < p.C; ++c)
    for (std::size_t oy = 0; oy < r.Ho; ++oy)
      for (std::size_t ox = 0; ox < r.Wo; ++ox) {
        u64 s = 0;
        std::size_t n = 0;
        for (std::size_t i = 0; i < p.kh; ++i)
          for (std::size_t j = 0; j < p.kw; ++j) {
            const auto y = static_cast<std::int64_t>(oy * p.sh + i) - static_cast<std::int64_t>(p.pt);
            const auto xx = static_cast<std::int64_t>(ox * p.sw + j) - static_cast<std::int64_t>(p.pl);
            if (y < 0 || xx < 0 || y >= static_cast<std::int64_t>(p.H) || xx >= static_cast<std::int64_t>(p.W))
              continue;  // a padding zero
            s += x[(c * p.H + static_cast<std::size_t>(y)) * p.W + static_cast<std::size_t>(xx)];
            ++n;
          }
        r.sums.push_back(s);
        r.inside.push_back(n);
      }
  return r;
}

/// round(2^f / k), half up, as ⌊(2^{f+1} + k) / 2k⌋ in 128-bit integers (exact).
u64 ref_multiplier(std::size_t k, int f) {
  const unsigned __int128 num = (static_cast<unsigned __int128>(1) << (f + 1)) + k;
  return static_cast<u64>(num / (2 * static_cast<unsigned __int128>(k)));
}

std::vector<u64> ref_pad(const std::vector<u64>& x, const Dims& dims, const Dims& pb, const Dims& pe,
                         Dims& out_dims) {
  out_dims.resize(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) out_dims[i] = dims[i] + pb[i] + pe[i];
  std::vector<u64> out(count_of(out_dims), 0);
  for (std::size_t n = 0; n < x.size(); ++n) {
    auto idx = unravel(n, dims);
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] += pb[i];
    out[ravel(idx, out_dims)] = x[n];
  }
  return out;
}

/// ONNX Slice for positive steps, written out from the spec.
std::vector<u64> ref_slice(const std::vector<u64>& x, const Dims& dims, const std::vector<std::int64_t>& st,
                           const std::vector<std::int64_t>& en, const std::vector<std::int64_t>& sp,
                           Dims& out_dims) {
  std::vector<std::vector<std::size_t>> picks(dims.size());
  out_dims.resize(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const auto d = static_cast<std::int64_t>(dims[i]);
    std::int64_t b = st[i] < 0 ? st[i] + d : st[i], e = en[i] < 0 ? en[i] + d : en[i];
    b = std::min(std::max(b, std::int64_t{0}), d);
    e = std::min(std::max(e, std::int64_t{0}), d);
    for (std::int64_t k = b; k < e; k += sp[i]) picks[i].push_back(static_cast<std::size_t>(k));
    out_dims[i] = picks[i].size();
  }
  std::vector<u64> out(count_of(out_dims));
  for (std::size_t n = 0; n < out.size(); ++n) {
    auto idx = unravel(n, out_dims);
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = picks[i][idx[i]];
    out[n] = x[ravel(idx, dims)];
  }
  return out;
}

std::vector<u64> ref_concat(const std::vector<std::vector<u64>>& xs, const std::vector<Dims>& dims,
                            std::size_t axis, Dims& out_dims) {
  out_dims = dims[0];
  out_dims[axis] = 0;
  for (const auto& d : dims) out_dims[axis] += d[axis];
  std::vector<u64> out(count_of(out_dims));
  std::size_t offset = 0;
  for (std::size_t p = 0; p < xs.size(); ++p) {
    for (std::size_t n = 0; n < xs[p].size(); ++n) {
      auto idx = unravel(n, dims[p]);
      idx[axis] += offset;
      out[ravel(idx, out_dims)] = xs[p][n];
    }
    offset += dims[p][axis];
  }
  return out;
}

const PoolCase kPoolCases[] = {
    // C  H  W kh kw sh sw pt pb pl pr
    {3, 5, 6, 1, 1, 1, 1, 0, 0, 0, 0},  // 1×1 window: identity times 2^f
    {2, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0},  // the usual 2×2/2
    {2, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1},  // 3×3/1 same padding
    {3, 7, 6, 3, 3, 2, 2, 1, 0, 2, 1},  // asymmetric padding, stride 2
    {2, 6, 7, 3, 2, 3, 1, 0, 2, 1, 0},  // non-square window, mixed strides
    {4, 4, 5, 4, 5, 1, 1, 0, 0, 0, 0},  // window = whole image
    {1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},  // one pixel
    {2, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2},  // windows mostly padding
    {0, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0},  // empty (no channels)
};

int scale_for(int ell) { return ell == 8 ? 3 : 12; }

}  // namespace

// ---- residual add -----------------------------------------------------------------------------

TEST(LocalOps, ResidualAdd) {
  Prg prg = test_prg(1);
  for (int ell : kBits) {
    Ring r(ell);
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{257}}) {
      auto a = random_ring(r, n, prg), b = random_ring(r, n, prg);
      auto [a0, a1] = mpc::split(r, a, prg);
      auto [b0, b1] = mpc::split(r, b, prg);
      auto s = mpc::reconstruct(residual_add(a0, b0), residual_add(a1, b1));
      ASSERT_EQ(s.size(), n);
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(s[i], (a[i] + b[i]) & r.mask);
    }
  }
  expect_invalid([] { residual_add(ArithShares{Ring(8), {1, 2}}, ArithShares{Ring(8), {1}}); },
                 "length mismatch");
  expect_invalid([] { residual_add(ArithShares{Ring(8), {1}}, ArithShares{Ring(9), {1}}); },
                 "ring mismatch");
}

// ---- average pooling --------------------------------------------------------------------------

TEST(LocalOps, AvgPoolMultiplier) {
  EXPECT_EQ(avg_pool_multiplier(1, 12), 4096u);
  EXPECT_EQ(avg_pool_multiplier(4, 12), 1024u);
  EXPECT_EQ(avg_pool_multiplier(9, 12), 455u);   // 455.11
  EXPECT_EQ(avg_pool_multiplier(3, 12), 1365u);  // 1365.33
  EXPECT_EQ(avg_pool_multiplier(6, 12), 683u);   // 682.67
  EXPECT_EQ(avg_pool_multiplier(2, 0), 1u);      // 0.5 rounds up
  EXPECT_EQ(avg_pool_multiplier(3, 0), 0u);      // 0.33 rounds down
  EXPECT_EQ(avg_pool_multiplier(1, 63), u64{1} << 63);
  EXPECT_EQ(avg_pool_multiplier(std::numeric_limits<std::size_t>::max(), 63), 1u);  // no overflow
  for (std::size_t k = 1; k < 200; ++k)
    for (int f : {0, 3, 12, 20}) ASSERT_EQ(avg_pool_multiplier(k, f), ref_multiplier(k, f)) << k << " " << f;
  expect_invalid([] { avg_pool_multiplier(0, 12); }, "k = 0");
  expect_invalid([] { avg_pool_multiplier(4, 64); }, "f = 64");
  expect_invalid([] { avg_pool_multiplier(4, -1); }, "f = -1");
}

// Exact: the reconstruction equals round(2^f/k)·Σ mod 2^ℓ for uniform ring elements (wrap-around
// included), for both divisor modes, and f at both ends of its range.
TEST(LocalOps, AvgPoolSumExactModRing) {
  Prg prg = test_prg(2);
  for (int ell : kBits) {
    Ring r(ell);
    for (int f : {0, scale_for(ell), ell - 1}) {
      for (const PoolCase& p : kPoolCases) {
        for (bool include_pad : {true, false}) {
          auto x = random_ring(r, p.C * p.H * p.W, prg);
          auto got = on_shares(r, x, prg, [&](const ArithShares& s, Party me) {
            return avg_pool_sum(s, p.C, p.H, p.W, p.kh, p.kw, p.sh, p.sw, p.pt, p.pb, p.pl, p.pr, f, me,
                                include_pad);
          });
          const PoolRef ref = ref_pool(x, p);
          ASSERT_EQ(got.size(), p.C * ref.Ho * ref.Wo);
          ASSERT_EQ(got.size(), ref.sums.size());
          EXPECT_EQ(ref.Ho, pool_out_dim(p.H, p.kh, p.sh, p.pt, p.pb));
          EXPECT_EQ(ref.Wo, pool_out_dim(p.W, p.kw, p.sw, p.pl, p.pr));
          for (std::size_t i = 0; i < got.size(); ++i) {
            const std::size_t k = include_pad ? p.kh * p.kw : ref.inside[i];
            ASSERT_GE(ref.inside[i], 1u);
            ASSERT_EQ(got[i], (ref.sums[i] * ref_multiplier(k, f)) & r.mask)
                << "l=" << ell << " f=" << f << " i=" << i << " pad=" << include_pad;
          }
        }
      }
    }
  }
}

// After a cleartext floor-shift by f (what an exact mpc::truncate yields), the result is within the
// documented tolerance 1 + |S|/2^{f+1} LSB of the real average S/k, for values that do not wrap.
TEST(LocalOps, AvgPoolTruncatedWithinTolerance) {
  Prg prg = test_prg(3);
  for (int ell : kBits) {
    Ring r(ell);
    const int f = scale_for(ell);
    for (const PoolCase& p : kPoolCases) {
      for (bool include_pad : {true, false}) {
        const std::size_t kmax = p.kh * p.kw;
        // |c·S| ≤ (2^f/k + 1/2)·k·B ≤ B·(2^f + k) must stay below 2^{ℓ−1}, and 2^{f+1} of headroom
        // is more than the real inputs of a CNN need.
        const long double room = std::ldexp(1.0L, std::min(ell - 1, 62));
        const auto bound = static_cast<std::int64_t>(
            std::min<long double>(room / (std::ldexp(1.0L, f) + static_cast<long double>(kmax)) - 1, 1e15L));
        ASSERT_GE(bound, 1);
        auto x = random_signed(r, p.C * p.H * p.W, bound, prg);
        auto got = on_shares(r, x, prg, [&](const ArithShares& s, Party me) {
          return avg_pool_sum(s, p.C, p.H, p.W, p.kh, p.kw, p.sh, p.sw, p.pt, p.pb, p.pl, p.pr, f, me,
                              include_pad);
        });
        // Signed window sums in the clear.
        const PoolRef ref = ref_pool(x, p);
        for (std::size_t i = 0; i < got.size(); ++i) {
          const std::size_t k = include_pad ? kmax : ref.inside[i];
          const std::int64_t S = r.centred(ref.sums[i]);
          const std::int64_t y = r.centred(got[i]) >> f;  // arithmetic shift = floor
          const long double avg = static_cast<long double>(S) / static_cast<long double>(k);
          const long double tol = 1.0L + std::fabs(static_cast<long double>(S)) / std::ldexp(1.0L, f + 1);
          ASSERT_LE(std::fabs(static_cast<long double>(y) - avg), tol)
              << "l=" << ell << " i=" << i << " S=" << S << " k=" << k << " y=" << y;
          // And in real units against the float average of the real values x/2^f.
          const double real_avg = static_cast<double>(S) / std::ldexp(1.0, f) / static_cast<double>(k);
          ASSERT_LE(std::fabs(static_cast<double>(y) / std::ldexp(1.0, f) - real_avg),
                    static_cast<double>(tol) / std::ldexp(1.0, f) + 1e-12);
        }
      }
    }
  }
}

TEST(LocalOps, GlobalAvgPoolSum) {
  Prg prg = test_prg(4);
  for (int ell : kBits) {
    Ring r(ell);
    const int f = scale_for(ell);
    for (auto [C, H, W] : {std::tuple<std::size_t, std::size_t, std::size_t>{3, 4, 4}, {2, 1, 1}, {5, 3, 7},
                           {0, 2, 2}, {1, 8, 8}}) {
      const u64 c = ref_multiplier(H * W, f);
      // Exact mod 2^ℓ on uniform ring elements.
      auto x = random_ring(r, C * H * W, prg);
      auto got = on_shares(r, x, prg, [&](const ArithShares& s, Party) { return global_avg_pool_sum(s, C, H, W, f); });
      ASSERT_EQ(got.size(), C);
      for (std::size_t ch = 0; ch < C; ++ch) {
        u64 s = 0;
        for (std::size_t i = 0; i < H * W; ++i) s += x[ch * H * W + i];
        ASSERT_EQ(got[ch], (s * c) & r.mask);
      }
      // Same as avg_pool_sum with the window = the whole image.
      auto pooled = on_shares(r, x, prg, [&](const ArithShares& s, Party me) {
        return avg_pool_sum(s, C, H, W, H, W, 1, 1, 0, 0, 0, 0, f, me);
      });
      EXPECT_EQ(pooled, got);
      // Tolerance after truncation, on non-wrapping signed values.
      const long double room = std::ldexp(1.0L, std::min(ell - 1, 62));
      const auto bound = static_cast<std::int64_t>(
          std::min<long double>(room / (std::ldexp(1.0L, f) + static_cast<long double>(H * W)) - 1, 1e15L));
      auto xs = random_signed(r, C * H * W, bound, prg);
      auto g2 = on_shares(r, xs, prg, [&](const ArithShares& s, Party) { return global_avg_pool_sum(s, C, H, W, f); });
      for (std::size_t ch = 0; ch < C; ++ch) {
        std::int64_t S = 0;
        for (std::size_t i = 0; i < H * W; ++i) S += r.centred(xs[ch * H * W + i]);
        const std::int64_t y = r.centred(g2[ch]) >> f;
        const long double avg = static_cast<long double>(S) / static_cast<long double>(H * W);
        ASSERT_LE(std::fabs(static_cast<long double>(y) - avg),
                  1.0L + std::fabs(static_cast<long double>(S)) / std::ldexp(1.0L, f + 1));
      }
    }
  }
}

TEST(LocalOps, AvgPoolErrors) {
  const ArithShares x{Ring(37), std::vector<u64>(2 * 4 * 4, 1)};
  const auto ok = [&] { return avg_pool_sum(x, 2, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0, 12, Party::kServer); };
  EXPECT_EQ(ok().v.size(), 2u * 2 * 2);
  expect_invalid([&] { avg_pool_sum(x, 2, 4, 5, 2, 2, 2, 2, 0, 0, 0, 0, 12, Party::kServer); }, "length");
  expect_invalid([&] { avg_pool_sum(x, 2, 4, 4, 0, 2, 2, 2, 0, 0, 0, 0, 12, Party::kServer); }, "kh = 0");
  expect_invalid([&] { avg_pool_sum(x, 2, 4, 4, 2, 2, 0, 2, 0, 0, 0, 0, 12, Party::kServer); }, "sh = 0");
  expect_invalid([&] { avg_pool_sum(x, 2, 4, 4, 5, 2, 1, 1, 0, 0, 0, 0, 12, Party::kServer); }, "window > H");
  expect_invalid([&] { avg_pool_sum(x, 2, 4, 4, 2, 2, 1, 1, 2, 0, 0, 0, 12, Party::kServer); }, "pad = kh");
  expect_invalid([&] { avg_pool_sum(x, 2, 4, 4, 2, 2, 1, 1, 0, 0, 0, 2, 12, Party::kServer); }, "pad = kw");
  expect_invalid([&] { avg_pool_sum(x, 2, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0, 37, Party::kServer); }, "f = l");
  expect_invalid([&] { avg_pool_sum(x, 2, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0, -1, Party::kServer); }, "f < 0");
  expect_invalid([&] { avg_pool_sum(x, 2, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0, 12, static_cast<Party>(2)); }, "party");
  const ArithShares empty{Ring(37), {}};
  expect_invalid([&] { avg_pool_sum(empty, 2, 0, 4, 1, 1, 1, 1, 0, 0, 0, 0, 12, Party::kServer); }, "H = 0");
  constexpr std::size_t big = std::numeric_limits<std::size_t>::max();
  expect_invalid([&] { avg_pool_sum(x, big, big, 2, 1, 1, 1, 1, 0, 0, 0, 0, 12, Party::kServer); },
                 "C·H·W overflows");
  expect_invalid([&] { avg_pool_sum(x, 2, 4, 4, big, 2, 1, 1, big - 1, big - 1, 0, 0, 12, Party::kServer); },
                 "padded extent overflows");
  expect_invalid([] { pool_out_dim(4, 0, 1, 0, 0); }, "pool_out_dim k = 0");
  expect_invalid([] { pool_out_dim(big, 2, 1, 1, 0); }, "pool_out_dim overflow");
  expect_invalid([&] { global_avg_pool_sum(x, 2, 4, 3, 12); }, "global length");
  expect_invalid([&] { global_avg_pool_sum(empty, 0, 0, 4, 12); }, "global H = 0");
  expect_invalid([&] { global_avg_pool_sum(x, 2, 4, 4, 40); }, "global f > l");
  expect_invalid([&] { global_avg_pool_sum(x, 2, big, big, 12); }, "global H·W overflows");
  EXPECT_TRUE(global_avg_pool_sum(empty, 0, 4, 4, 12).v.empty());
}

// ---- zero padding -----------------------------------------------------------------------------

TEST(LocalOps, ZeroPad) {
  Prg prg = test_prg(5);
  const std::vector<std::tuple<Dims, Dims, Dims>> cases = {
      {{3, 4, 5}, {0, 1, 1}, {0, 1, 1}},  // spatial "same" padding
      {{3, 4, 5}, {2, 0, 0}, {1, 0, 0}},  // channels only
      {{3, 4, 5}, {1, 2, 0}, {0, 3, 2}},  // channels and asymmetric spatial
      {{2, 3, 2, 3}, {1, 0, 1, 0}, {0, 1, 0, 2}},
      {{7}, {3}, {0}},
      {{}, {}, {}},                        // rank 0: one element, nothing to pad
      {{3, 0, 4}, {1, 1, 1}, {0, 1, 0}},   // empty input, non-empty output (all zeros)
      {{0, 2}, {0, 0}, {0, 0}},            // empty in and out
      {{2, 3}, {0, 0}, {0, 0}},            // no padding
  };
  for (int ell : kBits) {
    Ring r(ell);
    for (const auto& [dims, pb, pe] : cases) {
      auto x = random_ring(r, count_of(dims), prg);
      auto got = on_shares(r, x, prg, [&](const ArithShares& s, Party) { return zero_pad(s, dims, pb, pe); });
      Dims ref_dims;
      auto ref = ref_pad(x, dims, pb, pe, ref_dims);
      EXPECT_EQ(pad_dims(dims, pb, pe), ref_dims);
      ASSERT_EQ(got, ref);
    }
  }
  const ArithShares x{Ring(8), std::vector<u64>(6, 1)};
  expect_invalid([&] { zero_pad(x, {2, 3}, {1}, {1, 1}); }, "pads_begin rank");
  expect_invalid([&] { zero_pad(x, {2, 3}, {1, 1}, {1, 1, 0}); }, "pads_end rank");
  expect_invalid([&] { zero_pad(x, {2, 4}, {0, 0}, {0, 0}); }, "length");
  constexpr std::size_t big = std::numeric_limits<std::size_t>::max();
  expect_invalid([&] { zero_pad(x, {2, 3}, {0, big}, {0, 0}); }, "extent overflows");
  expect_invalid([&] { zero_pad(x, {2, 3}, {big / 4, 0}, {0, 0}); }, "count overflows");
  expect_invalid([&] { zero_pad(ArithShares{Ring(8), {}}, {0, big}, {1, 0}, {0, 0}); }, "hidden overflow");
}

// ---- strided slice ----------------------------------------------------------------------------

TEST(LocalOps, StridedSlice) {
  Prg prg = test_prg(6);
  using V = std::vector<std::int64_t>;
  const std::vector<std::tuple<Dims, V, V, V>> cases = {
      {{3, 8, 9}, {0, 0, 0}, {kMax, kMax, kMax}, {1, 1, 1}},        // whole tensor
      {{3, 8, 9}, {0, 0, 0}, {kMax, kMax, kMax}, {1, 2, 2}},        // step 2 spatial
      {{3, 8, 9}, {0, 1, 2}, {3, 8, 9}, {1, 3, 3}},                 // step 3 with offsets
      {{6, 5, 7}, {1, 0, 1}, {100, 4, 1000}, {2, 3, 2}},            // ends beyond the extents
      {{6, 5, 7}, {-4, -3, -100}, {-1, kMax, -2}, {1, 1, 3}},       // negative starts/ends
      {{6, 5, 7}, {2, 9, 0}, {5, kMax, 7}, {1, 1, 1}},              // start past the end: empty
      {{6, 5, 7}, {4, 0, 0}, {2, 5, 7}, {1, 1, 1}},                 // end before start: empty
      {{10}, {std::numeric_limits<std::int64_t>::min()}, {kMax}, {kMax}},  // one element, huge step
      {{10}, {1}, {10}, {3}},
      {{2, 3, 4, 5}, {1, 0, 1, 0}, {2, 3, 4, 5}, {1, 2, 2, 3}},
      {{}, {}, {}, {}},                                             // rank 0
      {{0, 4}, {0, 1}, {kMax, 3}, {1, 1}},                          // empty input
  };
  for (int ell : kBits) {
    Ring r(ell);
    for (const auto& [dims, st, en, sp] : cases) {
      auto x = random_ring(r, count_of(dims), prg);
      auto got = on_shares(r, x, prg, [&](const ArithShares& s, Party) { return strided_slice(s, dims, st, en, sp); });
      Dims ref_dims;
      auto ref = ref_slice(x, dims, st, en, sp, ref_dims);
      EXPECT_EQ(slice_dims(dims, st, en, sp), ref_dims);
      ASSERT_EQ(got, ref);
    }
  }
  EXPECT_EQ(slice_dims({8}, {0}, {kMax}, {3}), Dims{3});
  EXPECT_EQ(slice_dims({8}, {1}, {8}, {2}), Dims{4});
  EXPECT_EQ(slice_dims({8}, {-1}, {kMax}, {1}), Dims{1});
  const ArithShares x{Ring(8), std::vector<u64>(6, 1)};
  expect_invalid([&] { strided_slice(x, {2, 3}, {0, 0}, {2, 3}, {1, 0}); }, "step 0");
  expect_invalid([&] { strided_slice(x, {2, 3}, {0, 0}, {2, 3}, {1, -1}); }, "negative step");
  expect_invalid([&] { strided_slice(x, {2, 3}, {0}, {2, 3}, {1, 1}); }, "starts rank");
  expect_invalid([&] { strided_slice(x, {2, 3}, {0, 0}, {2, 3, 1}, {1, 1}); }, "ends rank");
  expect_invalid([&] { strided_slice(x, {2, 3}, {0, 0}, {2, 3}, {1}); }, "steps rank");
  expect_invalid([&] { strided_slice(x, {3, 3}, {0, 0}, {2, 3}, {1, 1}); }, "length");
  expect_invalid([&] { strided_slice(ArithShares{Ring(8), {}}, {0, std::numeric_limits<std::size_t>::max()},
                                     {0, 0}, {1, 1}, {1, 1}); },
                 "extent > INT64_MAX");
}

// ---- concat -----------------------------------------------------------------------------------

TEST(LocalOps, ConcatEveryAxis) {
  Prg prg = test_prg(7);
  for (int ell : kBits) {
    Ring r(ell);
    const Dims base = {3, 4, 5};
    for (std::size_t axis = 0; axis < base.size(); ++axis) {
      // Three parts with extents 2, 0 (empty) and the base extent along `axis`.
      std::vector<Dims> dims(3, base);
      dims[0][axis] = 2;
      dims[1][axis] = 0;
      std::vector<std::vector<u64>> xs;
      std::vector<ArithShares> s0, s1;
      for (const auto& d : dims) {
        xs.push_back(random_ring(r, count_of(d), prg));
        auto [a, b] = mpc::split(r, xs.back(), prg);
        s0.push_back(std::move(a));
        s1.push_back(std::move(b));
      }
      auto got = mpc::reconstruct(concat(s0, dims, axis), concat(s1, dims, axis));
      Dims ref_dims;
      auto ref = ref_concat(xs, dims, axis, ref_dims);
      EXPECT_EQ(concat_dims(dims, axis), ref_dims);
      ASSERT_EQ(got, ref) << "axis " << axis;
      // A single part is the identity.
      EXPECT_EQ(mpc::reconstruct(concat(std::span(s0.data(), 1), std::span(dims.data(), 1), axis),
                                 concat(std::span(s1.data(), 1), std::span(dims.data(), 1), axis)),
                xs[0]);
    }
    // Rank 1 and rank 4.
    for (const auto& [dims, axis] : {std::pair<std::vector<Dims>, std::size_t>{{{3}, {5}, {1}}, 0},
                                     {{{2, 3, 1, 2}, {2, 3, 4, 2}}, 2},
                                     {{{2, 3, 1, 2}, {2, 3, 1, 2}}, 3},
                                     {{{0, 3}, {0, 2}}, 1}}) {
      std::vector<std::vector<u64>> xs;
      std::vector<ArithShares> s0, s1;
      for (const auto& d : dims) {
        xs.push_back(random_ring(r, count_of(d), prg));
        auto [a, b] = mpc::split(r, xs.back(), prg);
        s0.push_back(std::move(a));
        s1.push_back(std::move(b));
      }
      Dims ref_dims;
      auto ref = ref_concat(xs, dims, axis, ref_dims);
      ASSERT_EQ(mpc::reconstruct(concat(s0, dims, axis), concat(s1, dims, axis)), ref);
      EXPECT_EQ(concat_dims(dims, axis), ref_dims);
    }
  }
  const ArithShares a{Ring(8), std::vector<u64>(6, 1)}, b{Ring(8), std::vector<u64>(4, 1)};
  const ArithShares c{Ring(9), std::vector<u64>(6, 1)};
  expect_invalid([&] { concat(std::vector<ArithShares>{}, std::vector<Dims>{}, 0); }, "no inputs");
  expect_invalid([&] { concat(std::vector{a, b}, std::vector<Dims>{{2, 3}}, 0); }, "count mismatch");
  expect_invalid([&] { concat(std::vector{a, b}, std::vector<Dims>{{2, 3}, {2, 2}}, 0); }, "off-axis");
  expect_invalid([&] { concat(std::vector{a, b}, std::vector<Dims>{{2, 3}, {2, 2}}, 2); }, "axis = rank");
  expect_invalid([&] { concat(std::vector{a, b}, std::vector<Dims>{{2, 3}, {4}}, 0); }, "rank mismatch");
  expect_invalid([&] { concat(std::vector{a, c}, std::vector<Dims>{{2, 3}, {2, 3}}, 0); }, "ring mismatch");
  expect_invalid([&] { concat(std::vector{a, b}, std::vector<Dims>{{2, 3}, {2, 3}}, 0); }, "length");
  expect_invalid([&] { concat(std::vector{a}, std::vector<Dims>{Dims{}}, 0); }, "rank 0");
  constexpr std::size_t big = std::numeric_limits<std::size_t>::max();
  const ArithShares e{Ring(8), {}};
  expect_invalid([&] { concat(std::vector{e, e}, std::vector<Dims>{{big, 0}, {1, 0}}, 0); }, "extent overflows");
}

// ---- reshape / flatten ------------------------------------------------------------------------

TEST(LocalOps, ReshapeAndFlatten) {
  Prg prg = test_prg(8);
  for (int ell : kBits) {
    Ring r(ell);
    auto x = random_ring(r, 2 * 3 * 4, prg);
    auto got = on_shares(r, x, prg, [&](const ArithShares& s, Party) { return reshape(s, {2, 3, 4}, {6, 4}); });
    EXPECT_EQ(got, x);  // a no-op on the flat vector
    got = on_shares(r, x, prg, [&](const ArithShares& s, Party) {
      return reshape(s, {2, 3, 4}, flatten_dims({2, 3, 4}, 1));
    });
    EXPECT_EQ(got, x);
  }
  EXPECT_EQ(flatten_dims({2, 3, 4}, 0), (Dims{1, 24}));
  EXPECT_EQ(flatten_dims({2, 3, 4}, 1), (Dims{2, 12}));
  EXPECT_EQ(flatten_dims({2, 3, 4}, 3), (Dims{24, 1}));
  EXPECT_EQ(flatten_dims({}, 0), (Dims{1, 1}));
  EXPECT_EQ(reshape(ArithShares{Ring(8), {}}, {0, 5}, {5, 0}).v.size(), 0u);
  EXPECT_EQ(reshape(ArithShares{Ring(8), {7}}, {}, {1, 1}).v, std::vector<u64>{7});
  const ArithShares x{Ring(8), std::vector<u64>(6, 1)};
  expect_invalid([&] { reshape(x, {2, 3}, {7}); }, "count mismatch");
  expect_invalid([&] { reshape(x, {2, 4}, {8}); }, "length mismatch");
  constexpr std::size_t big = std::numeric_limits<std::size_t>::max();
  expect_invalid([&] { reshape(x, {2, 3}, {big, big, 0, 2}); }, "count mismatch with a zero extent");
  expect_invalid([&] { reshape(x, {big, 2}, {6}); }, "count overflows");
  expect_invalid([] { flatten_dims({2, 3}, 3); }, "flatten axis");
  expect_invalid([] { flatten_dims({big, 2, 0}, 2); }, "flatten hidden overflow");
  expect_invalid([] { element_count({big / 2, 3}); }, "element_count overflow");
  EXPECT_EQ(element_count({big, 0}), 0u);
  EXPECT_EQ(element_count({}), 1u);
}
