// Falcon depthwise layouts (src/peregrine/linear/depthwise.hpp; TECHNIQUES.md §2.7): every layout
// family checked coefficient by coefficient against a plaintext depthwise convolution through a
// plain negacyclic product (no HE), the negative control, the §2.3 table, and the validator
// against that product on random layouts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "peregrine/core/error.hpp"
#include "peregrine/core/prg.hpp"
#include "peregrine/linear/depthwise.hpp"

using namespace peregrine;
using namespace peregrine::linear;

namespace {

Seed seed(std::uint8_t tag) {
  Seed s{};
  s[0] = 0xd3;
  s[1] = tag;
  return s;
}

/// Encodes random inputs (zero where the mask says so) and random kernels into one input and one
/// kernel polynomial as the layout places them (collisions add up), multiplies them negacyclically
/// mod 2^64, and compares every slot's whole window with its direct convolution. False when any
/// index leaves [0, N) or any window coefficient differs.
bool plain_check(const DwLayout& L, Prg& gen) {
  const std::size_t N = L.N, S = L.Hw * L.Ww, delta = L.delta();
  std::vector<u64> in(N, 0), ker(N, 0), prod(N, 0);
  std::vector<std::vector<u64>> T(L.g(), std::vector<u64>(S, 0)), K(L.g(), std::vector<u64>(L.kh * L.kw));
  for (std::size_t c = 0; c < L.g(); ++c) {
    for (std::size_t p = 0; p < S; ++p)
      if (L.in_mask.empty() || L.in_mask[p]) {
        T[c][p] = gen.next_u64() | 1;
        if (L.a[c] + p >= N) return false;
        in[L.a[c] + p] += T[c][p];
      }
    if (L.b[c] < delta || L.b[c] >= N) return false;
    for (std::size_t l = 0; l < L.kh; ++l)
      for (std::size_t lp = 0; lp < L.kw; ++lp) {
        K[c][l * L.kw + lp] = gen.next_u64() | 1;
        ker[L.b[c] - l * L.Ww - lp] += K[c][l * L.kw + lp];
      }
  }
  for (std::size_t k = 0; k < N; ++k) {
    if (!ker[k]) continue;
    for (std::size_t i = 0; i < N; ++i) {
      const u64 v = in[i] * ker[k];
      if (i + k < N) prod[i + k] += v;
      else prod[i + k - N] -= v;
    }
  }
  for (std::size_t c = 0; c < L.g(); ++c)
    for (std::size_t i = 0; i + L.kh <= L.Hw; ++i)
      for (std::size_t j = 0; j + L.kw <= L.Ww; ++j) {
        u64 want = 0;
        for (std::size_t l = 0; l < L.kh; ++l)
          for (std::size_t lp = 0; lp < L.kw; ++lp) want += T[c][(i + l) * L.Ww + j + lp] * K[c][l * L.kw + lp];
        const std::size_t at = L.a[c] + L.b[c] + i * L.Ww + j;
        if (at >= N || prod[at] != want) return false;
      }
  return true;
}

std::vector<bool> padded_mask(std::size_t Hw, std::size_t Ww, std::size_t pad) {
  std::vector<bool> m(Hw * Ww);
  for (std::size_t i = 0; i < Hw; ++i)
    for (std::size_t j = 0; j < Ww; ++j) m[i * Ww + j] = i >= pad && i + pad < Hw && j >= pad && j + pad < Ww;
  return m;
}

bool is_ap_free(const std::vector<std::size_t>& u) {
  for (std::size_t x : u)
    for (std::size_t y : u)
      for (std::size_t z : u)
        if (x != y && x + y == 2 * z) return false;
  return true;
}

}  // namespace

TEST(DwLayout, ApFreeSets) {
  EXPECT_EQ(ap_free_set_greedy(13), (std::vector<std::size_t>{0, 1, 3, 4, 9, 10, 12, 13}));
  EXPECT_EQ(ap_free_set_greedy(127).size(), 32u);
  for (std::size_t x : {0u, 4u, 10u, 19u, 30u, 40u, 56u}) {
    const auto u = ap_free_set(x);
    EXPECT_TRUE(is_ap_free(u)) << x;
    EXPECT_GE(u.size(), ap_free_set_greedy(x).size()) << x;
    EXPECT_LE(u.back(), x);
  }
  EXPECT_EQ(ap_free_set(19).size(), 9u);  // TECHNIQUES.md §2.3: 9 instead of the greedy 8
  EXPECT_EQ(ap_free_set(8).size(), 5u);   // r_3(9) = 5
}

// §2.7 (a): every family, random shapes, N = 128 … 4096 with g at its maximum: every valid
// coefficient equals the plaintext depthwise convolution, and the validator agrees.
TEST(DwLayout, EveryFamilyComputesTheDepthwiseConvolution) {
  Prg gen = Prg::from_seed(seed(1));
  std::size_t checked = 0;
  for (std::size_t N : {128u, 256u, 512u, 4096u})
    for (int trial = 0; trial < 6; ++trial) {
      const std::size_t kh = 1 + gen.uniform_below(3), kw = 1 + gen.uniform_below(3);
      const std::size_t Hw = kh + gen.uniform_below(6), Ww = kw + gen.uniform_below(6);
      const std::size_t pad = std::min({kh, kw, Hw, Ww}) > 1 && gen.uniform_below(2) ? 1 : 0;
      std::vector<std::optional<DwLayout>> layouts = {
          dw_closed_form(DwFamily::kApFree, N, Hw, Ww, kh, kw, 1000),
          dw_closed_form(DwFamily::kApFree, N, Hw, Ww, kh, kw, 1000, ap_free_set_greedy(N)),
          dw_closed_form(DwFamily::kSchemeB, N, Hw, Ww, kh, kw, 1000),
          dw_greedy(N, Hw, Ww, kh, kw, 1000),
          dw_greedy(N, Hw, Ww, kh, kw, 1000, padded_mask(Hw, Ww, pad)),
          dw_ap_free_compact(N, Hw, Ww, kh, kw, 1000, padded_mask(Hw, Ww, pad))};
      for (const auto& L : layouts) {
        if (!L) continue;
        const std::string what = std::string(dw_family_name(L->family)) + " N=" + std::to_string(N) + " tile " +
                                 std::to_string(Hw) + "x" + std::to_string(Ww) + " k " + std::to_string(kh) + "x" +
                                 std::to_string(kw) + " g=" + std::to_string(L->g());
        EXPECT_EQ(dw_layout_violation(*L), std::nullopt) << what;
        EXPECT_TRUE(plain_check(*L, gen)) << what;
        ++checked;
      }
    }
  EXPECT_GT(checked, 80u);
  // The zero-aware packers use the padding: on a small padded plane they hold more channels than
  // the closed form (MobileNetV2-like 3×3 and 6×6 planes, tiles 5×5 and 8×8 with a zero border).
  for (std::size_t T : {5u, 8u}) {
    const auto ap = dw_closed_form(DwFamily::kApFree, 4096, T, T, 3, 3, 1000);
    const auto compact = dw_ap_free_compact(4096, T, T, 3, 3, 1000, padded_mask(T, T, 1));
    ASSERT_TRUE(ap && compact);
    EXPECT_GT(compact->g(), ap->g()) << T;
    EXPECT_EQ(dw_layout_violation(*compact), std::nullopt);
    EXPECT_TRUE(plain_check(*compact, gen)) << T;
  }
  const auto greedy = dw_greedy(4096, 5, 5, 3, 3, 1000, padded_mask(5, 5, 1));
  EXPECT_GT(greedy->g(), dw_greedy(4096, 5, 5, 3, 3, 1000)->g());
}

// §2.7 (b): a 3-term progression in U must fail, in the validator and in the product.
TEST(DwLayout, ThreeTermProgressionIsCaught) {
  Prg gen = Prg::from_seed(seed(2));
  const std::vector<std::size_t> bad = {0, 1, 2};
  const auto L = dw_closed_form(DwFamily::kApFree, 4096, 10, 10, 3, 3, 3, bad);
  ASSERT_TRUE(L && L->g() == 3);
  EXPECT_NE(dw_layout_violation(*L), std::nullopt);
  EXPECT_FALSE(plain_check(*L, gen));
  const std::vector<std::size_t> good = {0, 1, 3};
  const auto G = dw_closed_form(DwFamily::kApFree, 4096, 10, 10, 3, 3, 3, good);
  EXPECT_EQ(dw_layout_violation(*G), std::nullopt);
  EXPECT_TRUE(plain_check(*G, gen));
}

// §2.7 (c): the AP-free (greedy U) and scheme-B columns of the §2.3 table: g, n_in = n_out and
// the §0.7 bytes (|ct_in| = 55 808 B, |ct_out| = 25 600 B + |V|·4.75 B) on the full-plane tile.
TEST(DwLayout, TechniquesTableReproduces) {
  struct Row {
    std::size_t C, H, g_b, n_b, g_ap, n_ap;
    double mb_b, mb_ap;
  };
  const Row rows[] = {{32, 32, 2, 16, 2, 16, 1.46, 1.46},   {96, 32, 2, 48, 2, 48, 4.38, 4.38},
                      {144, 16, 3, 48, 4, 36, 4.08, 3.11},  {192, 8, 6, 32, 8, 24, 2.66, 2.01},
                      {384, 4, 11, 35, 16, 24, 2.88, 1.98}, {960, 2, 16, 60, 32, 30, 4.90, 2.46}};
  const auto bytes = [](std::size_t n, std::size_t g, std::size_t H) {
    return static_cast<double>(n) * (55808.0 + 25600.0 + 4.75 * static_cast<double>(g * H * H)) / 1e6;
  };
  for (const Row& r : rows) {
    const std::size_t Hw = r.H + 2;
    const auto B = dw_closed_form(DwFamily::kSchemeB, 4096, Hw, Hw, 3, 3, r.C);
    const auto A = dw_closed_form(DwFamily::kApFree, 4096, Hw, Hw, 3, 3, r.C, ap_free_set_greedy(4096));
    ASSERT_TRUE(A && B);
    EXPECT_EQ(B->g(), r.g_b) << r.C;
    EXPECT_EQ(A->g(), r.g_ap) << r.C;
    EXPECT_EQ((r.C + B->g() - 1) / B->g(), r.n_b) << r.C;
    EXPECT_EQ((r.C + A->g() - 1) / A->g(), r.n_ap) << r.C;
    EXPECT_NEAR(bytes(r.n_b, r.g_b, r.H), r.mb_b, 0.006) << r.C;
    EXPECT_NEAR(bytes(r.n_ap, r.g_ap, r.H), r.mb_ap, 0.006) << r.C;
    EXPECT_EQ(dw_layout_violation(*A), std::nullopt) << r.C;
    EXPECT_EQ(dw_layout_violation(*B), std::nullopt) << r.C;
  }
}

// §2.7 (d): the validator accepts exactly the layouts whose product is right, on random (a, b)
// lists and on perturbations of valid layouts.
TEST(DwLayout, ValidatorAgreesWithTheProduct) {
  Prg gen = Prg::from_seed(seed(4));
  std::size_t valid = 0, invalid = 0;
  for (int trial = 0; trial < 600; ++trial) {
    const std::size_t N = 128, kh = 1 + gen.uniform_below(3), kw = 1 + gen.uniform_below(3);
    const std::size_t Hw = kh + gen.uniform_below(3), Ww = kw + gen.uniform_below(3);
    std::optional<DwLayout> L;
    if (trial % 2 == 0) {
      L = DwLayout{};
      L->N = N;
      L->Hw = Hw;
      L->Ww = Ww;
      L->kh = kh;
      L->kw = kw;
      const std::size_t g = 2 + gen.uniform_below(2);
      for (std::size_t c = 0; c < g; ++c) {
        L->a.push_back(gen.uniform_below(N - Hw * Ww + 2));
        L->b.push_back(L->delta() + gen.uniform_below(N - L->delta() + 1) - (trial % 8 == 0 ? 1 : 0));
      }
    } else {
      L = trial % 4 == 1 ? dw_greedy(N, Hw, Ww, kh, kw, 4) : dw_closed_form(DwFamily::kApFree, N, Hw, Ww, kh, kw, 4);
      if (!L || L->g() < 2) continue;
      const std::size_t c = gen.uniform_below(L->g()), by = 1 + gen.uniform_below(3);
      if (gen.uniform_below(2) == 0) {  // keep about half valid
        const bool ok = !dw_layout_violation(*L).has_value();
        EXPECT_TRUE(ok && plain_check(*L, gen)) << "trial " << trial;
        ++valid;
        continue;
      }
      if (gen.uniform_below(2)) L->a[c] = L->a[c] >= by ? L->a[c] - by : L->a[c] + by;
      else L->b[c] += by;
    }
    const bool ok = !dw_layout_violation(*L).has_value();
    EXPECT_EQ(ok, plain_check(*L, gen)) << "trial " << trial << (ok ? "" : ": " + *dw_layout_violation(*L));
    (ok ? valid : invalid)++;
  }
  EXPECT_GT(valid, 50u);
  EXPECT_GT(invalid, 50u);
}
