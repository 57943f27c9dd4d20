#include "peregrine/linear/hequant_conv.hpp"

#include <algorithm>
#include <cmath>

#include "peregrine/core/error.hpp"
#include "peregrine/mpc/truncation.hpp"

namespace peregrine::linear {

namespace {

std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

// The packed dimension's size inside one group: output rows (HW), Mg (K) or Cg (C).
std::size_t packed_extent(const Conv2dMeta& m, PackDim d) {
  switch (d) {
    case PackDim::kK: return m.M / m.groups;
    case PackDim::kC: return m.C / m.groups;
    case PackDim::kHW: break;
  }
  return m.out_h();
}

const Conv2dMeta& checked(const Conv2dMeta& m, const HeQuantPacking& p) {
  m.validate();
  require(p.b >= 1 && static_cast<std::size_t>(p.b) <= packed_extent(m, p.dim), ErrorCode::kUnsupported,
          "hequant conv: the digit count must be in [1, the packed dimension's size]");
  return m;
}

int plain_bits_checked(int B, int b) {
  const int ell = HeQuantConvStrategy::plain_bits(B, b);
  require(ell <= 44, ErrorCode::kUnsupported,
          "hequant conv: b digits of the accumulator width exceed the 44-bit plaintext ring");
  return ell;
}

// |w'| ≤ w_max·Σ_{k<b} 2^{kB} for K- and C-packed kernels (signed, + 1 bit); w_max for HW.
int packed_weight_bits(const Conv2dMeta& m, const HeQuantPacking& p, int B) {
  if (p.dim == PackDim::kHW || p.b == 1) return m.weight_bits;
  double spread = 0;
  for (int k = 0; k < p.b; ++k) spread += std::ldexp(1.0, k * B);
  const int bits = static_cast<int>(std::ceil(std::log2(std::ldexp(spread, m.weight_bits - 1) + 1))) + 1;
  require(bits <= 32, ErrorCode::kUnsupported, "hequant conv: packed kernel coefficients exceed 32 bits");
  return bits;
}

// The conv the HE layer runs, from the split conv.
Conv2dMeta inner_meta(const Conv2dMeta& m, const HeQuantPacking& p, int B, std::size_t R) {
  Conv2dMeta v = m;
  v.weight_bits = packed_weight_bits(m, p, B);
  switch (p.dim) {
    case PackDim::kHW:  // H' rows, no vertical padding
      v.H = (R - 1) * m.stride_h + m.kh;
      v.pad_top = v.pad_bottom = 0;
      break;
    case PackDim::kK: v.M = m.groups * ceil_div(m.M / m.groups, static_cast<std::size_t>(p.b)); break;
    case PackDim::kC: v.C = m.groups * ceil_div(m.C / m.groups, static_cast<std::size_t>(p.b)); break;
  }
  return v;
}

he::HeParamsPtr params_for(he::HeParamsPtr p, int ell) {
  if (!p) return he::HeParams::cheetah(ell);
  require(p->t() == (u64{1} << ell), ErrorCode::kInvalidArgument,
          "hequant conv: the HE parameters' plaintext modulus must be 2^{b*B}");
  return p;
}

}  // namespace

const char* pack_dim_name(PackDim d) noexcept {
  switch (d) {
    case PackDim::kK: return "k";
    case PackDim::kC: return "c";
    case PackDim::kHW: break;
  }
  return "hw";
}

int HeQuantConvStrategy::digit_bits(const Conv2dMeta& m, std::uint64_t act_bound) { return m.output_bits(act_bound); }

Conv2dMeta HeQuantConvStrategy::split_meta(const Conv2dMeta& m, std::size_t split) {
  m.validate();
  require(split >= 1 && m.C % split == 0 && (split == 1 || m.groups == 1), ErrorCode::kUnsupported,
          "hequant conv: the channel split must divide C, and grouped convs are not split");
  if (split == 1) return m;
  Conv2dMeta v = m;
  v.M = m.M * split;
  v.groups = split;
  return v;
}

HeQuantConvStrategy::HeQuantConvStrategy(const Conv2dMeta& meta, std::uint64_t act_bound, HeQuantPacking pack,
                                         he::HeParamsPtr params, TilePolicy policy)
    : meta_(meta),
      split_(checked(split_meta(meta, pack.split), pack)),
      pack_(pack),
      B_(digit_bits(split_, act_bound)),
      ell_t_(plain_bits_checked(B_, pack.b)),
      R_(pack.dim == PackDim::kHW ? ceil_div(split_.out_h(), static_cast<std::size_t>(pack.b)) : split_.out_h()),
      Mgp_(pack.dim == PackDim::kK ? ceil_div(split_.M / split_.groups, static_cast<std::size_t>(pack.b))
                                   : split_.M / split_.groups),
      Cgp_(pack.dim == PackDim::kC ? ceil_div(split_.C / split_.groups, static_cast<std::size_t>(pack.b))
                                   : split_.C / split_.groups),
      inner_(params_for(std::move(params), ell_t_), inner_meta(split_, pack, B_, R_), policy) {}

std::vector<u64> HeQuantConvStrategy::pack_input(std::span<const u64> share) const {
  const Conv2dMeta& m = split_;
  require(share.size() == m.C * m.H * m.W, ErrorCode::kInvalidArgument, "hequant conv: input share must hold C*H*W values");
  const u64 tmask = (u64{1} << ell_t_) - 1;
  const std::size_t plane = m.H * m.W;
  if (pack_.dim == PackDim::kK || (pack_.b == 1 && pack_.dim == PackDim::kC)) {
    std::vector<u64> out(share.begin(), share.end());
    for (auto& v : out) v &= tmask;
    return out;
  }
  if (pack_.dim == PackDim::kC) {  // x'[g, c'] = Σ_k 2^{kB}·x[g, k·Cg' + c']
    const std::size_t Cg = m.C / m.groups;
    std::vector<u64> out(m.groups * Cgp_ * plane, 0);
    for (std::size_t g = 0; g < m.groups; ++g)
      for (std::size_t cp = 0; cp < Cgp_; ++cp)
        for (int k = 0; k < pack_.b; ++k) {
          const std::size_t c = static_cast<std::size_t>(k) * Cgp_ + cp;
          if (c >= Cg) continue;
          const u64* src = share.data() + (g * Cg + c) * plane;
          u64* dst = out.data() + (g * Cgp_ + cp) * plane;
          const int shift = k * B_;
          for (std::size_t j = 0; j < plane; ++j) dst[j] = (dst[j] + (src[j] << shift)) & tmask;
        }
    return out;
  }
  const std::size_t Hb = inner_.meta().H;  // HW: the banded rows
  std::vector<u64> out(m.C * Hb * m.W, 0);
  for (std::size_t c = 0; c < m.C; ++c)
    for (std::size_t i = 0; i < Hb; ++i)
      for (int k = 0; k < pack_.b; ++k) {
        const std::size_t r = static_cast<std::size_t>(k) * R_ * m.stride_h + i;  // padded row
        if (r < m.pad_top || r - m.pad_top >= m.H) continue;
        const u64* src = share.data() + (c * m.H + (r - m.pad_top)) * m.W;
        u64* dst = out.data() + (c * Hb + i) * m.W;
        const int shift = k * B_;
        for (std::size_t j = 0; j < m.W; ++j) dst[j] = (dst[j] + (src[j] << shift)) & tmask;
      }
  return out;
}

std::vector<std::int64_t> HeQuantConvStrategy::pack_weights(std::span<const std::int64_t> weights) const {
  const Conv2dMeta& o = meta_;
  o.check_weights(weights);
  const std::size_t taps = o.kh * o.kw, cg = o.C / o.groups;
  // The split: filter p·M + m of [C/G channels] = filter m on channels [p·C/G, (p + 1)·C/G).
  const std::size_t G = pack_.split, cs = cg / G;
  std::vector<std::int64_t> ws(o.M * G * cs * taps);
  for (std::size_t p = 0; p < G; ++p)
    for (std::size_t m = 0; m < o.M; ++m)
      for (std::size_t c = 0; c < cs; ++c)
        std::copy_n(weights.data() + (m * cg + p * cs + c) * taps, taps, ws.data() + ((p * o.M + m) * cs + c) * taps);
  if (pack_.dim == PackDim::kHW || pack_.b == 1) return ws;
  const Conv2dMeta& m = split_;
  const std::size_t Mg = m.M / m.groups, Cg = m.C / m.groups;
  const auto weight = [&](std::size_t filter, std::size_t c, std::size_t t) { return ws[(filter * Cg + c) * taps + t]; };
  if (pack_.dim == PackDim::kK) {  // filter (g, m') = Σ_k 2^{kB}·filter (g, k·Mg' + m')
    std::vector<std::int64_t> out(m.groups * Mgp_ * Cg * taps, 0);
    for (std::size_t g = 0; g < m.groups; ++g)
      for (std::size_t mp = 0; mp < Mgp_; ++mp)
        for (int k = 0; k < pack_.b; ++k) {
          const std::size_t f = static_cast<std::size_t>(k) * Mgp_ + mp;
          if (f >= Mg) continue;
          for (std::size_t c = 0; c < Cg; ++c)
            for (std::size_t t = 0; t < taps; ++t)
              out[((g * Mgp_ + mp) * Cg + c) * taps + t] += weight(g * Mg + f, c, t) * (std::int64_t{1} << (k * B_));
        }
    return out;
  }
  // C-pack: tap (m, c') = Σ_k 2^{(b−1−k)B}·tap (m, k·Cg' + c')
  std::vector<std::int64_t> out(m.M * Cgp_ * taps, 0);
  for (std::size_t f = 0; f < m.M; ++f)
    for (std::size_t cp = 0; cp < Cgp_; ++cp)
      for (int k = 0; k < pack_.b; ++k) {
        const std::size_t c = static_cast<std::size_t>(k) * Cgp_ + cp;
        if (c >= Cg) continue;
        const std::int64_t scale = std::int64_t{1} << ((pack_.b - 1 - k) * B_);
        for (std::size_t t = 0; t < taps; ++t) out[(f * Cgp_ + cp) * taps + t] += weight(f, c, t) * scale;
      }
  return out;
}

std::vector<u64> HeQuantConvStrategy::unpack_digits(std::span<const mpc::ArithShares> digits) const {
  const std::size_t Ho = split_.out_h(), Wo = split_.out_w(), Ms = split_.M;
  const std::size_t want = static_cast<std::size_t>(pack_.b - first_digit());
  require(digits.size() == want, ErrorCode::kInvalidArgument, "hequant conv: wrong digit count");
  for (const auto& d : digits)
    require(d.v.size() == packed_count() && d.ring == digits[0].ring, ErrorCode::kInvalidArgument,
            "hequant conv: digit share of the wrong size or ring");
  // The split conv's output [G·M, Ho, Wo].
  std::vector<u64> y(Ms * Ho * Wo);
  const std::size_t Mg = Ms / split_.groups;
  switch (pack_.dim) {
    case PackDim::kHW:
      for (std::size_t k = 0; k < digits.size(); ++k)
        for (std::size_t m = 0; m < Ms; ++m)
          for (std::size_t i = 0; i < R_ && k * R_ + i < Ho; ++i)
            for (std::size_t j = 0; j < Wo; ++j) y[(m * Ho + k * R_ + i) * Wo + j] = digits[k].v[(m * R_ + i) * Wo + j];
      break;
    case PackDim::kK:
      for (std::size_t k = 0; k < digits.size(); ++k)
        for (std::size_t g = 0; g < split_.groups; ++g)
          for (std::size_t mp = 0; mp < Mgp_ && k * Mgp_ + mp < Mg; ++mp)
            std::copy_n(digits[k].v.data() + (g * Mgp_ + mp) * Ho * Wo, Ho * Wo,
                        y.data() + (g * Mg + k * Mgp_ + mp) * Ho * Wo);
      break;
    case PackDim::kC: y = digits[0].v; break;
  }
  if (pack_.split == 1) return y;
  const mpc::Ring& ring = digits[0].ring;  // the G partials of each output, added
  const std::size_t n = meta_.M * Ho * Wo;
  std::vector<u64> sum(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(n));
  for (std::size_t p = 1; p < pack_.split; ++p)
    for (std::size_t i = 0; i < n; ++i) sum[i] = ring.reduce(sum[i] + y[p * n + i]);
  return sum;
}

PreparedHeQuantConv prepare_hequant_conv(const HeQuantConvStrategy& s, std::span<const std::int64_t> weights,
                                         std::span<const std::int64_t> bias) {
  require(bias.empty() || bias.size() == s.meta().M, ErrorCode::kInvalidArgument, "conv: bias must hold M values");
  return {prepare_conv_layer(s.inner(), s.pack_weights(weights), {}), std::vector<std::int64_t>(bias.begin(), bias.end())};
}

namespace {

void check_share(const HeQuantConvStrategy& st, const mpc::ArithShares& share, int out_bits) {
  require(share.ring.bits >= st.plain_bits(), ErrorCode::kInvalidArgument,
          "hequant conv: input shares must be over at least the packed plaintext ring");
  require(out_bits >= 1 && out_bits <= 64, ErrorCode::kInvalidArgument, "hequant conv: out_bits must be in [1, 64]");
}

// The digits of the banded output shares V (mod 2^{ℓ_t}), into Z_{2^out_bits}, unpacked to [M, Ho, Wo].
mpc::ArithShares digits_of(mpc::MpcSession& s, const HeQuantConvStrategy& st, std::vector<u64> v, int out_bits) {
  const mpc::ArithShares packed{mpc::Ring(st.plain_bits()), std::move(v)};
  const auto digits = mpc::extract_digits(s, packed, st.digit_bits(), st.digits(), out_bits, st.first_digit());
  return {mpc::Ring(out_bits), st.unpack_digits(digits)};
}

}  // namespace

mpc::ArithShares hequant_conv_client(mpc::MpcSession& s, const HeClient& he, const HeQuantConvStrategy& st,
                                     const mpc::ArithShares& share, int out_bits) {
  check_share(st, share, out_bits);
  std::vector<u64> v = conv_layer_client(s.channel(), he, st.inner(), st.pack_input(share.v), s.prg());
  return digits_of(s, st, std::move(v), out_bits);
}

mpc::ArithShares hequant_conv_server(mpc::MpcSession& s, const HeServer& he, const HeQuantConvStrategy& st,
                                     const mpc::ArithShares& share, const PreparedHeQuantConv& w, int out_bits) {
  check_share(st, share, out_bits);
  std::vector<u64> v = conv_layer_server(s.channel(), he, st.inner(), st.pack_input(share.v), w.inner, s.prg());
  mpc::ArithShares y = digits_of(s, st, std::move(v), out_bits);
  const std::size_t plane = st.meta().out_h() * st.meta().out_w();
  for (std::size_t m = 0; m < w.bias.size(); ++m)
    for (std::size_t k = 0; k < plane; ++k)
      y.v[m * plane + k] = y.ring.reduce(y.v[m * plane + k] + static_cast<u64>(w.bias[m]));
  return y;
}

}  // namespace peregrine::linear
