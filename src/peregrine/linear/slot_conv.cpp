#include "peregrine/linear/slot_conv.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "peregrine/core/error.hpp"
#include "peregrine/he/encoder.hpp"
#include "peregrine/he/encryptor.hpp"
#include "peregrine/he/evaluator.hpp"
#include "peregrine/he/keys.hpp"
#include "peregrine/he/serialize.hpp"

namespace peregrine::linear {

namespace {

constexpr std::size_t kFrameHeader = net::kFrameHeaderBytes;

std::size_t next_pow2(std::size_t v) {
  std::size_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

u64 reduce_signed(std::int64_t v, u64 t) {
  const std::int64_t r = v % static_cast<std::int64_t>(t);
  return static_cast<u64>(r < 0 ? r + static_cast<std::int64_t>(t) : r);
}

/// Slot vector of one copy: v'[ρ][s] = v[ρ ⊕ swap][(s + step) mod N/2] (a left rotation of both
/// rows by `step`, after the row swap when `swap`): what rotate_rows(swap_rows(ct), step) holds.
std::vector<u64> rotated(std::span<const u64> v, bool swap, int step) {
  const std::size_t n = v.size(), half = n / 2;
  std::vector<u64> out(n);
  const std::size_t shift = static_cast<std::size_t>((step % static_cast<long>(half) + static_cast<long>(half))) % half;
  for (std::size_t rho = 0; rho < 2; ++rho) {
    const std::size_t src = (rho ^ (swap ? 1 : 0)) * half;
    for (std::size_t s = 0; s < half; ++s) out[rho * half + s] = v[src + (s + shift) % half];
  }
  return out;
}

/// Whether output (oy, ox) reads inside the image through tap k: its anchor (oy·s_h, ox·s_w) moved
/// by the tap's offset (ky − pad_top, kx − pad_left). Outside, the tap's weight is 0.
bool tap_inside(const Conv2dMeta& m, std::size_t k, std::size_t oy, std::size_t ox) {
  const long iy = static_cast<long>(oy * m.stride_h + k / m.kw) - static_cast<long>(m.pad_top);
  const long ix = static_cast<long>(ox * m.stride_w + k % m.kw) - static_cast<long>(m.pad_left);
  return iy >= 0 && iy < static_cast<long>(m.H) && ix >= 0 && ix < static_cast<long>(m.W);
}

}  // namespace

const char* to_string(SlotRotation r) noexcept {
  switch (r) {
    case SlotRotation::kPerTap: return "per-tap";
    case SlotRotation::kHoisted: return "hoisted";
    case SlotRotation::kClientRotated: return "client-rotated";
  }
  return "?";
}

SlotConvPlan::SlotConvPlan(const Conv2dMeta& meta, he::HeParamsPtr params, SlotRotation rotation,
                           std::optional<int> square_plus_x_frac)
    : meta_(meta), params_(std::move(params)), rotation_(rotation), poly_frac_(square_plus_x_frac) {
  meta_.validate();
  require(params_ != nullptr && !params_->t_is_power_of_two() && params_->plain_ntt() != nullptr,
          ErrorCode::kInvalidArgument, "slot conv needs batching parameters (prime t ≡ 1 mod 2N)");
  require(params_->has_special_prime(), ErrorCode::kInvalidArgument, "slot conv needs a special prime (Galois keys)");
  require(meta_.groups == 1, ErrorCode::kUnsupported, "slot conv: grouped convolutions are not supported");
  require(!poly_frac_ || (*poly_frac_ >= 0 && *poly_frac_ < 62 && (u64{1} << *poly_frac_) < params_->t()),
          ErrorCode::kInvalidArgument, "slot conv: x²+x scale 2^f must be below t");
  const std::size_t n = params_->n(), half = n / 2, hw = meta_.H * meta_.W;
  require(next_pow2(hw) <= half, ErrorCode::kUnsupported, "slot conv: H·W exceeds N/2 slots (no spatial split)");
  // As many channels per half-row as fit, but no more than the layer fills: with fewer channels
  // than blocks every diagonal would still be visited, so the blocks grow instead (padding slots
  // carry weight 0) and each output costs c_n − 1 rotations for the channels it really mixes.
  cn_ = std::min(half / next_pow2(hw), next_pow2((std::max(meta_.C, meta_.M) + 1) / 2));
  block_ = half / cn_;
  const std::size_t per = 2 * cn_;
  n_in_ = (meta_.C + per - 1) / per;
  n_out_ = (meta_.M + per - 1) / per;
  const std::size_t ho = meta_.out_h(), wo = meta_.out_w();
  require((ho - 1) * meta_.stride_h < meta_.H && (wo - 1) * meta_.stride_w < meta_.W, ErrorCode::kUnsupported,
          "slot conv: output anchors outside the image (padding beyond the kernel's reach)");

  // Taps and whether any anchor reads inside the image through them.
  const std::size_t taps = meta_.kh * meta_.kw;
  std::vector<bool> tap_used(taps, false);
  tap_steps_.resize(taps);
  for (std::size_t ky = 0; ky < meta_.kh; ++ky)
    for (std::size_t kx = 0; kx < meta_.kw; ++kx) {
      const long dy = static_cast<long>(ky) - static_cast<long>(meta_.pad_top);
      const long dx = static_cast<long>(kx) - static_cast<long>(meta_.pad_left);
      const std::size_t k = ky * meta_.kw + kx;
      tap_steps_[k] = static_cast<int>(dy * static_cast<long>(meta_.W) + dx);
      for (std::size_t oy = 0; oy < ho && !tap_used[k]; ++oy)
        for (std::size_t ox = 0; ox < wo && !tap_used[k]; ++ox) tap_used[k] = tap_inside(meta_, k, oy, ox);
    }

  // Non-zero diagonal terms: (o, r) mixes input channel c(i, ρ⊕σ, (b + r) mod c_n) into output
  // channel m(o, ρ, b).
  terms_.assign(n_out_ * cn_, {});
  std::vector<std::set<std::pair<std::uint8_t, std::uint32_t>>> copies(n_in_);
  for (std::size_t o = 0; o < n_out_; ++o)
    for (std::size_t r = 0; r < cn_; ++r)
      for (std::size_t i = 0; i < n_in_; ++i)
        for (std::uint8_t sw = 0; sw < 2; ++sw) {
          bool any = false;
          for (std::size_t rho = 0; rho < 2 && !any; ++rho)
            for (std::size_t b = 0; b < cn_; ++b) {
              const std::size_t m = o * per + rho * cn_ + b;
              const std::size_t c = i * per + (rho ^ sw) * cn_ + (b + r) % cn_;
              if (m < meta_.M && c < meta_.C) {
                any = true;
                break;
              }
            }
          if (!any) continue;
          for (std::uint32_t k = 0; k < taps; ++k) {
            if (!tap_used[k]) continue;
            terms_[o * cn_ + r].push_back({static_cast<std::uint32_t>(i), sw, k});
            copies[i].insert({sw, k});
          }
        }
  copies_.resize(n_in_);
  for (std::size_t i = 0; i < n_in_; ++i) copies_[i].assign(copies[i].begin(), copies[i].end());

  // Planned work, Galois steps and the noise bound (variances in units of the BFV noise).
  const double nd = static_cast<double>(n), t = static_cast<double>(params_->t());
  const auto& primes = params_->spec().coeff_primes;
  const double qmax = static_cast<double>(*std::max_element(primes.begin(), primes.end()));
  const double pp = static_cast<double>(params_->spec().special_prime);
  // One key switch: L digits below q_max (variance ≤ q²/3) times CBD(21) errors (10.5) over N
  // terms, divided by P, plus the mod-down rounding u0 + u1·s (variance (1 + 2N/3)/12 ≤ N/18 + 1).
  const double v_ks = static_cast<double>(params_->levels()) * nd * (qmax * qmax / 3.0) * 10.5 / (pp * pp) + nd / 18.0 + 1.0;
  // Fresh symmetric encryption (10.5) plus the wrap of x_C + x_S mod t (≤ 1/2) and the
  // Q mod t = 1 rounding term of a product with a full-range plaintext (≈ 1/12), per coefficient.
  double v_fresh = 10.5 + 0.5 + 1.0 / 12.0;
  // Fused x²+x: Enc(x_C²) + Enc(x_C) ⊙ (2·x_S + 2^f) + …: one more full-range product before the
  // rotations and the conv (the third log2 t of §5.5).
  const std::size_t per_input = poly_frac_ ? 2 : 1;
  if (poly_frac_) v_fresh = v_fresh + nd * v_fresh * t * t / 12.0;
  std::set<int> steps;
  counts_ = {};
  for (std::size_t i = 0; i < n_in_; ++i) {
    bool swap_used = false, rot0 = false, rot1 = false;
    for (const auto& [sw, k] : copies_[i]) {
      if (sw) swap_used = true;
      if (tap_steps_[k] != 0) (sw ? rot1 : rot0) = true;
      if (rotation_ != SlotRotation::kClientRotated && tap_steps_[k] != 0) {
        ++counts_.key_switches;
        steps.insert(tap_steps_[k]);
      }
    }
    if (rotation_ == SlotRotation::kClientRotated) {
      counts_.upload_ciphertexts += per_input * copies_[i].size();
      if (poly_frac_) counts_.products += copies_[i].size();
      continue;
    }
    counts_.upload_ciphertexts += per_input;
    if (poly_frac_) ++counts_.products;
    if (swap_used) {
      ++counts_.key_switches;
      steps.insert(0);
    }
    if (rotation_ == SlotRotation::kHoisted)
      counts_.decompositions += (swap_used ? 1 : 0) + (rot0 ? 1 : 0) + (rot1 ? 1 : 0);
  }
  if (rotation_ == SlotRotation::kPerTap) counts_.decompositions = counts_.key_switches;
  double v_max = 0;
  for (std::size_t o = 0; o < n_out_; ++o) {
    double v = 0;
    for (std::size_t r = 0; r < cn_; ++r) {
      const auto& ts = terms_[o * cn_ + r];
      if (ts.empty()) continue;
      counts_.products += ts.size();
      for (const Term& tm : ts) {
        double v_in = v_fresh;
        if (rotation_ != SlotRotation::kClientRotated) v_in += v_ks * ((tm.swap ? 1 : 0) + (tap_steps_[tm.tap] != 0 ? 1 : 0));
        v += nd * v_in * t * t / 12.0;  // e·D, D's coefficients ≈ uniform in Z_t (§5.2)
      }
      if (r > 0) {
        v += v_ks;
        ++counts_.key_switches;
        ++counts_.decompositions;
        steps.insert(static_cast<int>(r * block_));
      }
    }
    v_max = std::max(v_max, v);
  }
  counts_.download_ciphertexts = n_out_;
  galois_steps_.assign(steps.begin(), steps.end());

  // Flood and response level: after Enc_pk(0) (≤ 21·(2N + 1)) and the flood, switching from Q to
  // Q_L divides the noise by Q/Q_L and adds ≤ (1 + N)/2; it must stay below Q_L/(4t) (one bit of
  // margin under Δ/2).
  noise_bound_ = 7.4 * std::sqrt(v_max) + 1.0;
  flood_bits_ = static_cast<int>(std::ceil(std::log2(noise_bound_))) + 40;
  require(flood_bits_ <= he::kMaxFloodBits, ErrorCode::kUnsupported, "slot conv: noise bound too large to flood");
  const double top_noise = noise_bound_ + std::ldexp(1.0, flood_bits_) + 21.0 * (2.0 * nd + 1.0);
  double log_q_top = 0;
  for (u64 q : primes) log_q_top += std::log2(static_cast<double>(q));
  response_level_ = 0;
  for (std::size_t level = 1; level <= primes.size() && response_level_ == 0; ++level) {
    double log_q = 0;
    for (std::size_t j = 0; j < level; ++j) log_q += std::log2(static_cast<double>(primes[j]));
    const double noise = level == primes.size() ? top_noise : top_noise / std::exp2(log_q_top - log_q) + (1.0 + nd) / 2.0;
    if (std::log2(noise) < log_q - std::log2(4.0 * t)) response_level_ = level;
  }
  require(response_level_ != 0, ErrorCode::kUnsupported,
          "slot conv: the response cannot be flooded by 40 bits and still decrypt (t too large for these parameters)");
}

std::vector<std::uint64_t> SlotConvPlan::galois_elements() const {
  std::vector<std::uint64_t> out;
  for (int s : galois_steps_) out.push_back(he::galois_element_for_step(s, params_->n()));
  return out;
}

LayerCost SlotConvPlan::cost() const {
  LayerCost c;
  const auto& p = *params_;
  c.bytes_client_to_server = counts_.upload_ciphertexts * (kFrameHeader + he::ciphertext_bytes(p, p.levels(), true));
  c.bytes_server_to_client = counts_.download_ciphertexts * (kFrameHeader + he::ciphertext_bytes(p, response_level_, false));
  c.products = counts_.products;
  return c;
}

std::size_t SlotConvPlan::galois_key_bytes() const {
  return galois_steps_.empty() ? 0 : kFrameHeader + he::galois_keys_bytes(*params_, galois_steps_.size());
}

double SlotConvPlan::estimated_seconds() const {
  const double n = static_cast<double>(params_->n()) / 8192.0, l = static_cast<double>(params_->levels()) / 2.0;
  const double moved = static_cast<double>(counts_.upload_ciphertexts + counts_.download_ciphertexts);
  return n * l * l * (1.2e-3 * static_cast<double>(counts_.decompositions) + 0.5e-3 * static_cast<double>(counts_.key_switches)) +
         n * l * (0.15e-3 * static_cast<double>(counts_.products) + 1e-3 * moved);
}

double SlotConvPlan::score() const {
  const LayerCost c = cost();
  return static_cast<double>(c.bytes_client_to_server + c.bytes_server_to_client) + 375e6 * estimated_seconds();
}

SlotConvPlan best_slot_conv(const Conv2dMeta& meta, he::HeParamsPtr params, std::optional<int> square_plus_x_frac) {
  std::optional<SlotConvPlan> best;
  std::optional<Error> last;
  for (SlotRotation r : {SlotRotation::kPerTap, SlotRotation::kHoisted, SlotRotation::kClientRotated}) {
    try {
      SlotConvPlan p(meta, params, r, square_plus_x_frac);
      if (!best || p.score() < best->score()) best = std::move(p);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kUnsupported) throw;
      last = e;
    }
  }
  if (!best) throw *last;
  return std::move(*best);
}

std::size_t SlotConvPlan::in_slot(std::size_t c, std::size_t p) const noexcept {
  const std::size_t j = c % (2 * cn_);
  return (j / cn_) * (params_->n() / 2) + (j % cn_) * block_ + p;
}

std::size_t SlotConvPlan::out_slot(std::size_t m, std::size_t oy, std::size_t ox) const noexcept {
  return in_slot(m, oy * meta_.stride_h * meta_.W + ox * meta_.stride_w);
}

SlotConvKernels::SlotConvKernels(const SlotConvPlan& plan, std::span<const std::int64_t> weights) : cn_(plan.channels_per_row()) {
  const Conv2dMeta& m = plan.meta();
  const std::size_t taps = m.kh * m.kw;
  require(weights.size() == m.M * m.C * taps, ErrorCode::kInvalidArgument, "slot conv: weights have the wrong size");
  const auto& params = plan.params();
  const u64 t = params->t();
  for (std::int64_t w : weights)
    require(w > -static_cast<std::int64_t>(t / 2) && w < static_cast<std::int64_t>(t / 2), ErrorCode::kInvalidArgument,
            "slot conv: a weight is not below t/2 in magnitude");
  he::BatchEncoder enc(params);
  he::Evaluator ev(params);
  const std::size_t n = params->n(), half = n / 2, per = 2 * cn_, block = plan.block();
  const std::size_t ho = m.out_h(), wo = m.out_w();
  d_.resize(plan.n_out() * cn_);
  std::vector<u64> slots(n);
  for (std::size_t o = 0; o < plan.n_out(); ++o)
    for (std::size_t r = 0; r < cn_; ++r)
      for (const SlotConvPlan::Term& tm : plan.terms(o, r)) {
        std::fill(slots.begin(), slots.end(), 0);
        for (std::size_t rho = 0; rho < 2; ++rho)
          for (std::size_t b = 0; b < cn_; ++b) {
            const std::size_t mo = o * per + rho * cn_ + b;
            const std::size_t bi = (b + r) % cn_;
            const std::size_t c = tm.in * per + (rho ^ tm.swap) * cn_ + bi;
            if (mo >= m.M || c >= m.C) continue;
            const std::int64_t w = weights[(mo * m.C + c) * taps + tm.tap];
            if (w == 0) continue;
            for (std::size_t oy = 0; oy < ho; ++oy)
              for (std::size_t ox = 0; ox < wo; ++ox)
                if (tap_inside(m, tm.tap, oy, ox))
                  slots[rho * half + bi * block + oy * m.stride_h * m.W + ox * m.stride_w] = reduce_signed(w, t);
          }
        d_[o * cn_ + r].push_back(ev.prepare(enc.encode(slots)));
      }
}

namespace {

/// Slot vectors of a share [C,H,W]: one per input ciphertext, in the plan's layout.
std::vector<std::vector<u64>> pack_input(const SlotConvPlan& plan, std::span<const u64> x) {
  const Conv2dMeta& m = plan.meta();
  const std::size_t hw = m.H * m.W, n = plan.params()->n();
  require(x.size() == m.C * hw, ErrorCode::kInvalidArgument, "slot conv: input share has the wrong size");
  const u64 t = plan.params()->t();
  std::vector<std::vector<u64>> out(plan.n_in(), std::vector<u64>(n, 0));
  for (std::size_t c = 0; c < m.C; ++c)
    for (std::size_t p = 0; p < hw; ++p) {
      require(x[c * hw + p] < t, ErrorCode::kInvalidArgument, "slot conv: share value not below t");
      out[c / (2 * plan.channels_per_row())][plan.in_slot(c, p)] = x[c * hw + p];
    }
  return out;
}

std::size_t output_size(const Conv2dMeta& m) { return m.M * m.out_h() * m.out_w(); }

}  // namespace

std::vector<std::uint64_t> run_slot_conv_client(net::Channel& ch, const HeClient& he, const SlotConvPlan& plan,
                                                std::span<const std::uint64_t> x_client, Prg& prg,
                                                int* noise_budget) {
  const auto& params = plan.params();
  require(he.params->params_id() == params->params_id(), ErrorCode::kParamsMismatch, "slot conv: client HE parameters");
  const auto packed = pack_input(plan, x_client);
  he::BatchEncoder enc(params);
  he::Encryptor encryptor(params, he.sk);
  const u64 t = params->t();
  auto send = [&](const std::vector<u64>& v) {
    ch.send_frame(he::serialize(*params, encryptor.encrypt_symmetric(enc.encode(v), prg)));
    if (plan.square_plus_x_frac()) {  // and Enc(x_C²), squared in the clear
      std::vector<u64> sq(v.size());
      for (std::size_t j = 0; j < v.size(); ++j) sq[j] = static_cast<u64>(static_cast<unsigned __int128>(v[j]) * v[j] % t);
      ch.send_frame(he::serialize(*params, encryptor.encrypt_symmetric(enc.encode(sq), prg)));
    }
  };
  for (std::size_t i = 0; i < plan.n_in(); ++i) {
    if (plan.rotation() == SlotRotation::kClientRotated) {
      for (const auto& [sw, k] : plan.copies(i)) send(rotated(packed[i], sw != 0, plan.tap_step(k)));
    } else {
      send(packed[i]);
    }
  }
  ch.flush();
  he::Decryptor dec(params, he.sk);
  const Conv2dMeta& m = plan.meta();
  const std::size_t ho = m.out_h(), wo = m.out_w();
  std::vector<u64> y(output_size(m));
  const std::size_t limit = he::ciphertext_bytes(*params, plan.response_level(), false);
  for (std::size_t o = 0; o < plan.n_out(); ++o) {
    const he::Ciphertext ct = he::deserialize_ciphertext(*params, ch.recv_frame(limit));
    require(ct.level() == plan.response_level(), ErrorCode::kMalformedInput, "slot conv: response at the wrong level");
    const std::vector<u64> slots = enc.decode(dec.decrypt(ct));
    if (noise_budget != nullptr) {
      const int b = dec.noise_budget_bits(ct);
      *noise_budget = o == 0 ? b : std::min(*noise_budget, b);
    }
    for (std::size_t mo = o * 2 * plan.channels_per_row(); mo < std::min(m.M, (o + 1) * 2 * plan.channels_per_row()); ++mo)
      for (std::size_t oy = 0; oy < ho; ++oy)
        for (std::size_t ox = 0; ox < wo; ++ox) y[(mo * ho + oy) * wo + ox] = slots[plan.out_slot(mo, oy, ox)];
  }
  return y;
}

std::vector<std::uint64_t> run_slot_conv_server(net::Channel& ch, const HeServer& he, const SlotConvPlan& plan,
                                                const SlotConvKernels& kernels, std::span<const std::uint64_t> x_server,
                                                std::span<const std::int64_t> bias, Prg& prg, SlotConvCounts* counts) {
  const auto& params = plan.params();
  require(he.params->params_id() == params->params_id(), ErrorCode::kParamsMismatch, "slot conv: server HE parameters");
  const Conv2dMeta& m = plan.meta();
  require(bias.empty() || bias.size() == m.M, ErrorCode::kInvalidArgument, "slot conv: bias has the wrong size");
  for (std::uint64_t g : plan.galois_elements())
    require(he.galois.keys.count(g) == 1, ErrorCode::kInvalidArgument, "slot conv: a Galois key the plan needs is missing");
  const auto packed = pack_input(plan, x_server);
  he::BatchEncoder enc(params);
  he::Evaluator ev(params);
  SlotConvCounts done;
  const std::size_t top = params->levels();
  const std::size_t limit = he::ciphertext_bytes(*params, top, true);
  auto receive_one = [&]() {
    he::Ciphertext ct = he::deserialize_ciphertext(*params, ch.recv_frame(limit));
    require(ct.level() == top, ErrorCode::kMalformedInput, "slot conv: input ciphertext at the wrong level");
    ++done.upload_ciphertexts;
    return ct;
  };
  const u64 tm = params->t();
  // The layer's input for the server's slot vector xs: Enc(x_C) + xs, or, fused,
  // Enc(x_C²) + Enc(x_C) ⊙ (2·xs + 2^f) + (xs² + 2^f·xs) (§5.3), all mod t.
  auto receive = [&](const std::vector<u64>& xs) {
    he::Ciphertext a = receive_one();
    if (!plan.square_plus_x_frac()) {
      ev.add_plain_inplace(a, enc.encode(xs));
      return a;
    }
    he::Ciphertext b = receive_one();
    const u64 two_f = u64{1} << *plan.square_plus_x_frac();
    std::vector<u64> lin(xs.size()), cst(xs.size());
    for (std::size_t j = 0; j < xs.size(); ++j) {
      lin[j] = static_cast<u64>((static_cast<unsigned __int128>(2) * xs[j] + two_f) % tm);
      cst[j] = static_cast<u64>((static_cast<unsigned __int128>(xs[j]) * xs[j] + static_cast<unsigned __int128>(two_f) * xs[j]) % tm);
    }
    ev.to_ntt(a);
    ev.multiply_plain_inplace(a, ev.prepare(enc.encode(lin)));
    ++done.products;
    ev.add_inplace(a, b);
    ev.add_plain_inplace(a, enc.encode(cst));
    return a;
  };
  // copies[i][j]: the ciphertext of copy j of input i (plan.copies(i)[j]), NTT form.
  std::vector<std::vector<he::Ciphertext>> copies(plan.n_in());
  for (std::size_t i = 0; i < plan.n_in(); ++i) {
    const auto& want = plan.copies(i);
    copies[i].resize(want.size());
    if (plan.rotation() == SlotRotation::kClientRotated) {
      for (std::size_t j = 0; j < want.size(); ++j)
        copies[i][j] = receive(rotated(packed[i], want[j].first != 0, plan.tap_step(want[j].second)));
    } else {
      he::Ciphertext x = receive(packed[i]);
      he::Ciphertext swapped;
      const bool swap_used = std::any_of(want.begin(), want.end(), [](const auto& c) { return c.first != 0; });
      if (swap_used) {
        swapped = ev.swap_rows(x, he.galois);
        ++done.key_switches;
        ++done.decompositions;
      }
      for (std::uint8_t sw = 0; sw < 2; ++sw) {
        const he::Ciphertext& base = sw ? swapped : x;
        std::vector<std::size_t> idx;
        std::vector<std::uint64_t> elts;
        for (std::size_t j = 0; j < want.size(); ++j) {
          if (want[j].first != sw) continue;
          const int step = plan.tap_step(want[j].second);
          if (step == 0) {
            copies[i][j] = base;
          } else {
            idx.push_back(j);
            elts.push_back(he::galois_element_for_step(step, params->n()));
          }
        }
        if (elts.empty()) continue;
        if (plan.rotation() == SlotRotation::kHoisted) {
          auto rs = ev.apply_galois_hoisted(base, elts, he.galois);
          for (std::size_t e = 0; e < idx.size(); ++e) copies[i][idx[e]] = std::move(rs[e]);
          ++done.decompositions;
        } else {
          for (std::size_t e = 0; e < idx.size(); ++e) copies[i][idx[e]] = ev.apply_galois(base, elts[e], he.galois);
          done.decompositions += idx.size();
        }
        done.key_switches += idx.size();
      }
    }
    for (auto& c : copies[i]) ev.to_ntt(c);
  }
  auto copy_of = [&](const SlotConvPlan::Term& tm) -> const he::Ciphertext& {
    const auto& want = plan.copies(tm.in);
    const auto it = std::lower_bound(want.begin(), want.end(), std::make_pair(tm.swap, tm.tap));
    return copies[tm.in][static_cast<std::size_t>(it - want.begin())];
  };

  const u64 t = params->t();
  const std::size_t n = params->n(), per = 2 * plan.channels_per_row();
  const std::size_t ho = m.out_h(), wo = m.out_w();
  std::vector<u64> y(output_size(m));
  for (std::size_t o = 0; o < plan.n_out(); ++o) {
    std::optional<he::Ciphertext> acc;
    for (std::size_t r = 0; r < plan.channels_per_row(); ++r) {
      const auto& ts = plan.terms(o, r);
      if (ts.empty()) continue;
      std::vector<const he::Ciphertext*> cts;
      std::vector<const he::PlaintextNtt*> pts;
      for (std::size_t j = 0; j < ts.size(); ++j) {
        cts.push_back(&copy_of(ts[j]));
        pts.push_back(&kernels.get(o, r, j));
      }
      he::Ciphertext z = ev.dot_plain(cts, pts);
      done.products += ts.size();
      if (r > 0) {
        z = ev.rotate_rows(z, static_cast<int>(r * plan.block()), he.galois);
        ++done.key_switches;
        ++done.decompositions;
      }
      if (acc)
        ev.add_inplace(*acc, z);
      else
        acc = std::move(z);
    }
    require(acc.has_value(), ErrorCode::kInvalidArgument, "slot conv: an output ciphertext without terms");
    std::vector<u64> mask(n);
    for (auto& v : mask) v = prg.uniform_below(t);
    ev.from_ntt(*acc);
    ev.sub_plain_inplace(*acc, enc.encode(mask));
    ev.rerandomize_and_flood_inplace(*acc, he.pk, plan.flood_bits(), prg);
    ev.mod_switch_to_inplace(*acc, plan.response_level());
    ch.send_frame(he::serialize(*params, *acc));
    ++done.download_ciphertexts;
    for (std::size_t mo = o * per; mo < std::min(m.M, (o + 1) * per); ++mo) {
      const u64 b = bias.empty() ? 0 : reduce_signed(bias[mo], t);
      for (std::size_t oy = 0; oy < ho; ++oy)
        for (std::size_t ox = 0; ox < wo; ++ox) {
          const u64 v = mask[plan.out_slot(mo, oy, ox)] + b;
          y[(mo * ho + oy) * wo + ox] = v >= t ? v - t : v;
        }
    }
  }
  ch.flush();
  if (counts != nullptr) *counts = done;
  return y;
}

std::vector<std::uint64_t> square_plus_x_mod_t(std::span<const std::uint64_t> x, int frac_bits, std::uint64_t t) {
  require(frac_bits >= 0 && frac_bits < 62 && (u64{1} << frac_bits) < t, ErrorCode::kInvalidArgument, "x²+x: 2^f must be below t");
  std::vector<u64> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const unsigned __int128 v = x[i] % t;
    y[i] = static_cast<u64>((v * v + (static_cast<unsigned __int128>(1) << frac_bits) * v) % t);
  }
  return y;
}

std::vector<std::uint64_t> slot_conv_reference(const Conv2dMeta& meta, std::uint64_t t, std::span<const std::uint64_t> x,
                                               std::span<const std::int64_t> weights, std::span<const std::int64_t> bias) {
  meta.validate();
  require(meta.groups == 1, ErrorCode::kUnsupported, "slot conv reference: groups must be 1");
  const std::size_t taps = meta.kh * meta.kw, ho = meta.out_h(), wo = meta.out_w();
  require(x.size() == meta.C * meta.H * meta.W && weights.size() == meta.M * meta.C * taps &&
              (bias.empty() || bias.size() == meta.M),
          ErrorCode::kInvalidArgument, "slot conv reference: sizes");
  std::vector<u64> y(meta.M * ho * wo);
  for (std::size_t mo = 0; mo < meta.M; ++mo)
    for (std::size_t oy = 0; oy < ho; ++oy)
      for (std::size_t ox = 0; ox < wo; ++ox) {
        unsigned __int128 acc = bias.empty() ? 0 : reduce_signed(bias[mo], t);
        for (std::size_t c = 0; c < meta.C; ++c)
          for (std::size_t ky = 0; ky < meta.kh; ++ky)
            for (std::size_t kx = 0; kx < meta.kw; ++kx) {
              const long iy = static_cast<long>(oy * meta.stride_h + ky) - static_cast<long>(meta.pad_top);
              const long ix = static_cast<long>(ox * meta.stride_w + kx) - static_cast<long>(meta.pad_left);
              if (iy < 0 || iy >= static_cast<long>(meta.H) || ix < 0 || ix >= static_cast<long>(meta.W)) continue;
              const u64 w = reduce_signed(weights[(mo * meta.C + c) * taps + ky * meta.kw + kx], t);
              acc += static_cast<unsigned __int128>(w) * x[(c * meta.H + static_cast<std::size_t>(iy)) * meta.W + static_cast<std::size_t>(ix)];
              acc %= t;
            }
        y[(mo * ho + oy) * wo + ox] = static_cast<u64>(acc % t);
      }
  return y;
}

}  // namespace peregrine::linear
