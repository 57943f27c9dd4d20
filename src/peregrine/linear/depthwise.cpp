#include "peregrine/linear/depthwise.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "peregrine/core/error.hpp"
#include "peregrine/he/serialize.hpp"

namespace peregrine::linear {

namespace {

std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

/// The relative geometry of a tile shared by every slot: input positions m = i·Ww + j (in_mask),
/// kernel positions k = l·Ww + l' (a term lands at a + b + m − k), the distinct m − k (shifted by
/// δ to be ≥ 0), and the window W = {i·Ww + j : i ≤ Hw − kh, j ≤ Ww − kw}.
struct Geometry {
  std::size_t S = 0, delta = 0;
  std::vector<std::size_t> in_pos, k_pos, diffs, window;  // diffs hold m − k + δ
  std::vector<char> in_window;                            // [S]: is this offset in W
  std::size_t max_in = 0, max_window = 0;

  Geometry(std::size_t Hw, std::size_t Ww, std::size_t kh, std::size_t kw, const std::vector<bool>& mask) {
    S = Hw * Ww;
    delta = (kh - 1) * Ww + (kw - 1);
    for (std::size_t p = 0; p < S; ++p)
      if (mask.empty() || mask[p]) in_pos.push_back(p);
    for (std::size_t l = 0; l < kh; ++l)
      for (std::size_t lp = 0; lp < kw; ++lp) k_pos.push_back(l * Ww + lp);
    std::vector<char> seen(S + delta, 0);
    for (std::size_t m : in_pos)
      for (std::size_t k : k_pos) seen[m + delta - k] = 1;
    for (std::size_t d = 0; d < seen.size(); ++d)
      if (seen[d]) diffs.push_back(d);
    in_window.assign(S, 0);
    for (std::size_t i = 0; i + kh <= Hw; ++i)
      for (std::size_t j = 0; j + kw <= Ww; ++j) {
        window.push_back(i * Ww + j);
        in_window[i * Ww + j] = 1;
      }
    max_in = in_pos.empty() ? 0 : in_pos.back();
    max_window = window.empty() ? 0 : window.back();
  }
};

/// Exact search for the largest 3-AP-free subset of {0, …, n − 1}, n ≤ kExactLimit + 1.
constexpr std::size_t kExactLimit = 40;

struct ApSearch {
  std::vector<std::size_t> r;                   // r[k]: best size in k consecutive integers
  std::vector<std::vector<std::size_t>> best;   // best[n]: a best set in [0, n)
  std::vector<std::size_t> cur, top;
  std::vector<char> in;

  bool extends(std::size_t v) const {  // v is larger than every element of cur
    for (std::size_t u : cur)
      if (2 * u >= v && in[2 * u - v] && 2 * u - v != u) return false;
    return true;
  }
  void dfs(std::size_t v, std::size_t n) {
    if (cur.size() > top.size()) top = cur;
    if (v >= n || cur.size() + r[n - v] <= top.size()) return;
    if (extends(v)) {
      cur.push_back(v);
      in[v] = 1;
      dfs(v + 1, n);
      in[v] = 0;
      cur.pop_back();
    }
    dfs(v + 1, n);
  }
  ApSearch() {
    r.assign(kExactLimit + 2, 0);
    best.resize(kExactLimit + 2);
    in.assign(kExactLimit + 2, 0);
    for (std::size_t n = 1; n <= kExactLimit + 1; ++n) {
      top = best[n - 1];  // a set of the previous size is a lower bound
      cur = {0};
      in[0] = 1;
      dfs(1, n);
      in[0] = 0;
      best[n] = top;
      r[n] = top.size();
    }
  }
};

}  // namespace

const char* dw_family_name(DwFamily f) noexcept {
  switch (f) {
    case DwFamily::kSchemeB: return "scheme-b";
    case DwFamily::kApFree: return "ap-free";
    case DwFamily::kGreedy: return "greedy";
  }
  return "?";
}

std::vector<std::size_t> ap_free_set_greedy(std::size_t max_value) {
  std::vector<std::size_t> out;
  for (std::size_t k = 0;; ++k) {
    std::size_t v = 0, p = 1;
    for (std::size_t bits = k; bits; bits >>= 1, p *= 3) v += (bits & 1) * p;
    if (v > max_value) break;
    out.push_back(v);
  }
  return out;
}

std::vector<std::size_t> ap_free_set(std::size_t max_value) {
  if (max_value > kExactLimit) return ap_free_set_greedy(max_value);
  static const ApSearch search;  // thread-safe initialisation (C++11 statics)
  return search.best[max_value + 1];
}

std::optional<std::string> dw_layout_violation(const DwLayout& L) {
  if (L.N == 0 || L.Hw < L.kh || L.Ww < L.kw || L.kh == 0 || L.kw == 0) return "empty or inconsistent tile";
  if (L.a.size() != L.b.size() || L.a.empty()) return "slot offsets missing";
  if (!L.in_mask.empty() && L.in_mask.size() != L.Hw * L.Ww) return "input mask size";
  const Geometry G(L.Hw, L.Ww, L.kh, L.kw, L.in_mask);
  const std::size_t N = L.N, g = L.g();
  std::vector<char> in_occ(N, 0), k_occ(N, 0);
  std::vector<std::uint32_t> owner(N, 0);
  for (std::size_t c = 0; c < g; ++c) {
    if (L.a[c] + G.max_in >= N) return "input of slot " + std::to_string(c) + " beyond N";
    for (std::size_t m : G.in_pos) {
      if (in_occ[L.a[c] + m]) return "input supports overlap at slot " + std::to_string(c);
      in_occ[L.a[c] + m] = 1;
    }
    if (L.b[c] < G.delta || L.b[c] >= N) return "kernel of slot " + std::to_string(c) + " outside [0, N)";
    for (std::size_t k : G.k_pos) {
      if (k_occ[L.b[c] - k]) return "kernel supports overlap at slot " + std::to_string(c);
      k_occ[L.b[c] - k] = 1;
    }
    const std::size_t w0 = L.a[c] + L.b[c];
    if (w0 + G.max_window >= N) return "window of slot " + std::to_string(c) + " beyond N";
    for (std::size_t w : G.window) {
      if (owner[w0 + w]) return "windows overlap at slot " + std::to_string(c);
      owner[w0 + w] = static_cast<std::uint32_t>(c + 1);
    }
  }
  for (std::size_t c1 = 0; c1 < g; ++c1)
    for (std::size_t c2 = 0; c2 < g; ++c2) {
      const std::size_t base = L.a[c1] + L.b[c2] - G.delta;  // ≥ 0: b ≥ δ
      for (std::size_t d : G.diffs) {
        std::size_t p = base + d;
        const bool wrapped = p >= N;
        p %= N;
        const std::uint32_t o = owner[p];
        if (o && (wrapped || c1 != c2 || o - 1 != c1))
          return "product of slots " + std::to_string(c1) + " x " + std::to_string(c2) + " lands on the window of slot " +
                 std::to_string(o - 1) + (wrapped ? " (wrapped)" : "");
      }
    }
  return std::nullopt;
}

namespace {
/// An empty layout of `family` for the tile (no slots yet).
DwLayout layout_of(DwFamily family, std::size_t N, std::size_t Hw, std::size_t Ww, std::size_t kh, std::size_t kw,
                   std::vector<bool> in_mask = {}) {
  DwLayout L;
  L.family = family;
  L.N = N;
  L.Hw = Hw;
  L.Ww = Ww;
  L.kh = kh;
  L.kw = kw;
  L.in_mask = std::move(in_mask);
  return L;
}
}  // namespace

std::optional<DwLayout> dw_closed_form(DwFamily family, std::size_t N, std::size_t Hw, std::size_t Ww, std::size_t kh,
                                       std::size_t kw, std::size_t max_g, std::span<const std::size_t> u) {
  require(family != DwFamily::kGreedy, ErrorCode::kInvalidArgument, "depthwise: the greedy layout is dw_greedy");
  if (Hw < kh || Ww < kw || kh == 0 || kw == 0 || max_g == 0) return std::nullopt;
  DwLayout L = layout_of(family, N, Hw, Ww, kh, kw);
  const std::size_t S = Hw * Ww, delta = L.delta();
  if (S > N) return std::nullopt;
  if (family == DwFamily::kSchemeB) {
    std::size_t g = 1;
    while (g < max_g && ((g + 1) * (g + 1) - g) * S <= N) ++g;  // (g² − g + 1)·S ≤ N for g + 1
    for (std::size_t c = 0; c < g; ++c) {
      L.a.push_back(c * S);
      L.b.push_back((g - 1) * c * S + delta);
    }
    return L;
  }
  const std::size_t max_u = (N / S - 1) / 2;  // (2·max U + 1)·S ≤ N
  std::vector<std::size_t> set;
  if (u.empty()) set = ap_free_set(max_u);
  else
    for (std::size_t v : u)
      if (v <= max_u) set.push_back(v);
  if (set.empty()) return std::nullopt;
  for (std::size_t k = 0; k < set.size() && k < max_g; ++k) {
    L.a.push_back(set[k] * S);
    L.b.push_back(set[k] * S + delta);
  }
  return L;
}

std::optional<DwLayout> dw_ap_free_compact(std::size_t N, std::size_t Hw, std::size_t Ww, std::size_t kh,
                                           std::size_t kw, std::size_t max_g, std::vector<bool> in_mask) {
  if (Hw < kh || Ww < kw || kh == 0 || kw == 0 || max_g == 0 || Hw * Ww > N) return std::nullopt;
  require(in_mask.empty() || in_mask.size() == Hw * Ww, ErrorCode::kInvalidArgument, "depthwise: input mask size");
  const Geometry G(Hw, Ww, kh, kw, in_mask);
  DwLayout L = layout_of(DwFamily::kApFree, N, Hw, Ww, kh, kw, std::move(in_mask));
  // g only grows as P shrinks: the first P (upwards) that validates is the best; the scan stops at
  // S, where the closed form holds (or nothing does).
  for (std::size_t P = std::max<std::size_t>(1, G.S / 3); P <= G.S; ++P) {
    if (G.delta + G.max_window >= N) break;
    const std::size_t max_u = (N - 1 - G.delta - G.max_window) / (2 * P);
    const std::vector<std::size_t> U = ap_free_set(max_u);
    L.a.clear();
    L.b.clear();
    for (std::size_t k = 0; k < U.size() && k < max_g; ++k) {
      L.a.push_back(U[k] * P);
      L.b.push_back(U[k] * P + G.delta);
    }
    if (!dw_layout_violation(L)) return L;
  }
  return std::nullopt;
}

std::optional<DwLayout> dw_greedy(std::size_t N, std::size_t Hw, std::size_t Ww, std::size_t kh, std::size_t kw,
                                  std::size_t max_g, std::vector<bool> in_mask) {
  if (Hw < kh || Ww < kw || kh == 0 || kw == 0 || max_g == 0 || Hw * Ww > N) return std::nullopt;
  require(in_mask.empty() || in_mask.size() == Hw * Ww, ErrorCode::kInvalidArgument, "depthwise: input mask size");
  const Geometry G(Hw, Ww, kh, kw, in_mask);
  DwLayout L = layout_of(DwFamily::kGreedy, N, Hw, Ww, kh, kw, std::move(in_mask));
  const std::size_t delta = G.delta;
  std::vector<char> in_occ(N, 0), k_occ(N, 0), garbage(N, 0);
  std::vector<std::uint32_t> owner(N, 0);
  std::size_t a = 0;
  for (std::size_t slot = 0; slot < max_g; ++slot) {
    bool placed = false;
    for (; 2 * a + delta + G.max_window < N && a + G.max_in < N; ++a) {
      const std::size_t w0 = 2 * a + delta;  // the new window's start (b = a + δ)
      auto fits = [&] {
        for (std::size_t m : G.in_pos)
          if (in_occ[a + m]) return false;
        for (std::size_t k : G.k_pos)
          if (k_occ[a + delta - k]) return false;
        for (std::size_t w : G.window)
          if (owner[w0 + w] || garbage[w0 + w]) return false;
        // New products: with every placed slot (both orders share a_c + b_new = a_new + b_c) and
        // with itself; none may touch a window, except the slot's own convolution on its own.
        for (std::size_t c = 0; c <= slot; ++c) {
          const std::size_t base = (c < slot ? L.a[c] : a) + a;  // + δ − δ
          for (std::size_t d : G.diffs) {
            std::size_t p = base + d;
            const bool wrapped = p >= N;
            if (wrapped) p -= N;
            const bool in_new = p >= w0 && p - w0 < G.S && G.in_window[p - w0];
            if (owner[p] || in_new) {
              if (c == slot && !wrapped && in_new) continue;  // own convolution
              return false;
            }
          }
        }
        return true;
      };
      if (!fits()) continue;
      for (std::size_t m : G.in_pos) in_occ[a + m] = 1;
      for (std::size_t k : G.k_pos) k_occ[a + delta - k] = 1;
      for (std::size_t w : G.window) owner[w0 + w] = static_cast<std::uint32_t>(slot + 1);
      for (std::size_t c = 0; c <= slot; ++c) {
        const std::size_t base = (c < slot ? L.a[c] : a) + a;
        for (std::size_t d : G.diffs) {
          std::size_t p = base + d;
          const bool wrapped = p >= N;
          if (wrapped) p -= N;
          if (c == slot && !wrapped && p >= w0 && p - w0 < G.S && G.in_window[p - w0]) continue;
          garbage[p] = 1;
        }
      }
      L.a.push_back(a);
      L.b.push_back(a + delta);
      placed = true;
      ++a;
      break;
    }
    if (!placed) break;
  }
  if (L.a.empty()) return std::nullopt;
  return L;
}

DepthwiseConvStrategy::DepthwiseConvStrategy(he::HeParamsPtr params, const Conv2dMeta& meta,
                                             std::vector<DwFamily> families)
    : params_(std::move(params)), meta_(meta) {
  meta_.validate();
  const Conv2dMeta& m = meta_;
  require(m.groups == m.C && m.M == m.C, ErrorCode::kInvalidArgument,
          "depthwise: the layer must be depthwise (groups = C = M)");
  if (families.empty()) families = {DwFamily::kApFree, DwFamily::kSchemeB, DwFamily::kGreedy};
  auto allowed = [&](DwFamily f) { return std::find(families.begin(), families.end(), f) != families.end(); };
  const std::size_t N = params_->n(), wh = m.padded_h(), ww = m.padded_w(), kh = m.kh, kw = m.kw;
  const std::size_t sh = m.stride_h, sw = m.stride_w;
  const double wmax = std::ldexp(1.0, m.weight_bits - 1);
  const std::size_t ct_in = he::ciphertext_bytes(*params_, params_->levels(), true);

  struct Tile {
    std::size_t Hw, Ww, step_h, step_w, n_h, n_w;
  };
  auto tile_of = [&](std::size_t Hw, std::size_t Ww) -> std::optional<Tile> {
    const std::size_t sth = ((Hw - kh + 1) / sh) * sh, stw = ((Ww - kw + 1) / sw) * sw;
    if (sth == 0 || stw == 0) return std::nullopt;
    return Tile{Hw, Ww, sth, stw, ceil_div(wh - kh + 1, sth), ceil_div(ww - kw + 1, stw)};
  };
  std::map<std::pair<std::size_t, std::size_t>, std::optional<ResponseParams>> rp_cache;  // (g, kept)
  auto score = [&](const Tile& t, std::size_t g) -> std::optional<double> {
    g = std::min(g, m.C);
    const std::size_t kept = g * ceil_div(t.step_h, sh) * ceil_div(t.step_w, sw);
    auto it = rp_cache.find({g, kept});
    if (it == rp_cache.end()) {
      const std::size_t taps[] = {g * kh * kw};
      it = rp_cache.emplace(std::pair{g, kept}, try_response_params(*params_, product_noise_bound(taps, wmax), kept)).first;
    }
    if (!it->second) return std::nullopt;
    const ResponseParams& rp = *it->second;
    const double cts = static_cast<double>(ceil_div(m.C, g) * t.n_h * t.n_w);
    return tile_latency_score(cts * static_cast<double>(ct_in + he::trimmed_bytes(*params_, rp.d0, rp.d1, kept)),
                              2 * cts, cts);
  };
  // The input mask of a tile: positions that hold a real input in at least one tile.
  auto mask_of = [&](const Tile& t) {
    std::vector<bool> mask(t.Hw * t.Ww, false);
    for (std::size_t u = 0; u < t.n_h; ++u)
      for (std::size_t i = 0; i < t.Hw; ++i) {
        const std::size_t gi = u * t.step_h + i;
        if (gi < m.pad_top || gi >= m.pad_top + m.H) continue;
        for (std::size_t v = 0; v < t.n_w; ++v)
          for (std::size_t j = 0; j < t.Ww; ++j) {
            const std::size_t gj = v * t.step_w + j;
            if (gj >= m.pad_left && gj < m.pad_left + m.W) mask[i * t.Ww + j] = true;
          }
      }
    return mask;
  };

  struct Candidate {
    double score;
    Tile tile;
    DwFamily family;
    bool zero_aware;                // the packer on the tile's exact supports (greedy, compact AP-free)
    std::optional<DwLayout> built;  // that packer's layout (built once; the closed forms are rebuilt)
  };
  std::vector<Candidate> cands;
  for (std::size_t Hw = kh; Hw <= wh; ++Hw)
    for (std::size_t Ww = kw; Ww <= ww && Hw * Ww <= N; ++Ww) {
      const auto t = tile_of(Hw, Ww);
      if (!t) continue;
      for (DwFamily f : {DwFamily::kApFree, DwFamily::kSchemeB}) {
        if (!allowed(f)) continue;
        const auto L = dw_closed_form(f, N, Hw, Ww, kh, kw, m.C);
        if (!L) continue;
        if (const auto s = score(*t, L->g())) cands.push_back({*s, *t, f, false, std::nullopt});
      }
    }
  if (allowed(DwFamily::kGreedy) || allowed(DwFamily::kApFree)) {
    // The zero-aware packers on the most promising tiles of the closed forms, and on the full plane.
    std::vector<Candidate> seeds = cands;
    std::sort(seeds.begin(), seeds.end(), [](const Candidate& x, const Candidate& y) { return x.score < y.score; });
    std::vector<std::pair<std::size_t, std::size_t>> tried;
    std::vector<Tile> tiles;
    for (const auto& c : seeds) {
      if (tiles.size() >= 6) break;
      if (std::find(tried.begin(), tried.end(), std::pair{c.tile.Hw, c.tile.Ww}) != tried.end()) continue;
      tried.emplace_back(c.tile.Hw, c.tile.Ww);
      tiles.push_back(c.tile);
    }
    if (wh * ww <= N && std::find(tried.begin(), tried.end(), std::pair{wh, ww}) == tried.end())
      if (const auto t = tile_of(wh, ww)) tiles.push_back(*t);
    for (const Tile& t : tiles)
      for (DwFamily f : {DwFamily::kApFree, DwFamily::kGreedy}) {
        if (!allowed(f)) continue;
        const auto L = f == DwFamily::kGreedy ? dw_greedy(N, t.Hw, t.Ww, kh, kw, m.C, mask_of(t))
                                              : dw_ap_free_compact(N, t.Hw, t.Ww, kh, kw, m.C, mask_of(t));
        if (!L) continue;
        if (const auto s = score(t, L->g())) cands.push_back({*s, t, f, true, L});
      }
  }
  std::stable_sort(cands.begin(), cands.end(), [](const Candidate& x, const Candidate& y) { return x.score < y.score; });
  // Validate by brute force before use (TECHNIQUES.md §2.4): the best candidate that passes.
  bool found = false;
  for (const Candidate& c : cands) {
    const Tile& t = c.tile;
    std::optional<DwLayout> L = c.zero_aware ? c.built : dw_closed_form(c.family, N, t.Hw, t.Ww, kh, kw, m.C);
    if (!L || dw_layout_violation(*L)) continue;
    tiling_ = DwTiling{t.Hw, t.Ww, t.step_h, t.step_w, t.n_h, t.n_w, std::move(*L)};
    found = true;
    break;
  }
  require(found, ErrorCode::kUnsupported, "depthwise: no tile and layout fits the ring degree N");
  build_plan();
  std::size_t kept = 0;
  for (const auto& v : plan_.valid) kept += v.size();
  response_ = choose_response_params(*params_, plan_.noise_bound, std::max<std::size_t>(1, kept / plan_.n_out()));
}

void DepthwiseConvStrategy::build_plan() {
  const Conv2dMeta& m = meta_;
  const DwTiling& t = tiling_;
  const DwLayout& L = t.layout;
  const std::size_t g = L.g(), groups = ceil_div(m.C, g), tiles = t.n_h * t.n_w;
  const std::size_t wh = m.padded_h(), ww = m.padded_w(), Ho = m.out_h(), Wo = m.out_w();
  const double wmax = std::ldexp(1.0, m.weight_bits - 1);
  plan_ = CoeffLayerPlan{};
  plan_.n_in = groups * tiles;
  plan_.n_kernels = groups;
  plan_.out_size = m.C * Ho * Wo;
  for (std::size_t gm = 0; gm < groups; ++gm) {
    const std::size_t slots = std::min(g, m.C - gm * g);
    const std::size_t taps[] = {slots * m.kh * m.kw};
    plan_.noise_bound = std::max(plan_.noise_bound, product_noise_bound(taps, wmax));
    for (std::size_t u = 0; u < t.n_h; ++u)
      for (std::size_t v = 0; v < t.n_w; ++v) {
        std::vector<std::pair<std::uint32_t, std::uint32_t>> pos;
        for (std::size_t c = 0; c < slots; ++c) {
          const std::size_t ch = gm * g + c, w0 = L.a[c] + L.b[c];
          for (std::size_t i = 0; i < t.step_h; i += m.stride_h) {
            const std::size_t gi = u * t.step_h + i;
            if (gi + m.kh > wh) break;
            for (std::size_t j = 0; j < t.step_w; j += m.stride_w) {
              const std::size_t gj = v * t.step_w + j;
              if (gj + m.kw > ww) break;
              pos.emplace_back(static_cast<std::uint32_t>(w0 + i * t.Ww + j),
                               static_cast<std::uint32_t>((ch * Ho + gi / m.stride_h) * Wo + gj / m.stride_w));
            }
          }
        }
        if (pos.empty()) continue;
        std::sort(pos.begin(), pos.end());
        std::vector<std::uint32_t> valid(pos.size()), out(pos.size());
        for (std::size_t k = 0; k < pos.size(); ++k) std::tie(valid[k], out[k]) = pos[k];
        plan_.products.push_back({{static_cast<std::uint32_t>(gm * tiles + u * t.n_w + v), static_cast<std::uint32_t>(gm)}});
        plan_.valid.push_back(std::move(valid));
        plan_.out_index.push_back(std::move(out));
      }
  }
}

std::vector<std::vector<u64>> DepthwiseConvStrategy::encode_input(std::span<const u64> share) const {
  const Conv2dMeta& m = meta_;
  const DwTiling& t = tiling_;
  const DwLayout& L = t.layout;
  require(share.size() == m.C * m.H * m.W, ErrorCode::kInvalidArgument, "depthwise: input share must hold C*H*W values");
  const std::size_t g = L.g(), groups = ceil_div(m.C, g), tiles = t.n_h * t.n_w;
  const u64 tmask = params_->t() - 1;
  std::vector<std::vector<u64>> polys(groups * tiles, std::vector<u64>(params_->n(), 0));
  for (std::size_t gm = 0; gm < groups; ++gm)
    for (std::size_t u = 0; u < t.n_h; ++u)
      for (std::size_t v = 0; v < t.n_w; ++v) {
        auto& p = polys[gm * tiles + u * t.n_w + v];
        for (std::size_t c = 0; c < g && gm * g + c < m.C; ++c) {
          const std::size_t ch = gm * g + c;
          for (std::size_t i = 0; i < t.Hw; ++i) {
            const std::size_t gi = u * t.step_h + i;
            if (gi < m.pad_top || gi >= m.pad_top + m.H) continue;  // zero padding (or beyond)
            for (std::size_t j = 0; j < t.Ww; ++j) {
              const std::size_t gj = v * t.step_w + j;
              if (gj < m.pad_left || gj >= m.pad_left + m.W) continue;
              p[L.a[c] + i * t.Ww + j] = share[(ch * m.H + gi - m.pad_top) * m.W + gj - m.pad_left] & tmask;
            }
          }
        }
      }
  return polys;
}

void DepthwiseConvStrategy::check_weights(std::span<const std::int64_t> weights) const { meta_.check_weights(weights); }

void DepthwiseConvStrategy::encode_kernel_into(std::span<const std::int64_t> weights, std::size_t k,
                                               std::span<std::int64_t> p) const {
  const Conv2dMeta& m = meta_;
  const DwLayout& L = tiling_.layout;
  std::fill(p.begin(), p.end(), 0);
  for (std::size_t c = 0; c < L.g() && k * L.g() + c < m.C; ++c) {
    const std::int64_t* w = weights.data() + (k * L.g() + c) * m.kh * m.kw;
    for (std::size_t l = 0; l < m.kh; ++l)
      for (std::size_t lp = 0; lp < m.kw; ++lp) p[L.b[c] - l * tiling_.Ww - lp] = w[l * m.kw + lp];
  }
}

PreparedConv prepare_depthwise(const DepthwiseConvStrategy& s, std::span<const std::int64_t> weights,
                               std::span<const std::int64_t> bias) {
  return prepare_conv_layer(s, weights, bias);
}

std::vector<u64> depthwise_client(net::Channel& ch, const HeClient& he, const DepthwiseConvStrategy& s,
                                  std::span<const u64> share, Prg& prg) {
  return conv_layer_client(ch, he, s, share, prg);
}

std::vector<u64> depthwise_server(net::Channel& ch, const HeServer& he, const DepthwiseConvStrategy& s,
                                  std::span<const u64> share, const PreparedConv& w, Prg& prg) {
  return conv_layer_server(ch, he, s, share, w, prg);
}

}  // namespace peregrine::linear
