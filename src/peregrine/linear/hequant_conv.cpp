#include "peregrine/linear/hequant_conv.hpp"

#include <cmath>

#include "peregrine/core/error.hpp"
#include "peregrine/mpc/truncation.hpp"

namespace peregrine::linear {

namespace {

// The banded conv: H' rows, no vertical padding.
Conv2dMeta banded_meta(const Conv2dMeta& m, std::size_t R) {
  Conv2dMeta v = m;
  v.H = (R - 1) * m.stride_h + m.kh;
  v.pad_top = v.pad_bottom = 0;
  return v;
}

std::size_t bands_rows(const Conv2dMeta& m, int b) {
  m.validate();
  const std::size_t Ho = m.out_h();
  require(b >= 1 && static_cast<std::size_t>(b) <= Ho, ErrorCode::kUnsupported,
          "hequant conv: the digit count must be in [1, output rows]");
  return (Ho + static_cast<std::size_t>(b) - 1) / static_cast<std::size_t>(b);
}

int plain_bits_checked(int B, int b) {
  const int ell = HeQuantConvStrategy::plain_bits(B, b);
  require(ell <= 44, ErrorCode::kUnsupported,
          "hequant conv: b digits of the accumulator width exceed the 44-bit plaintext ring");
  return ell;
}

he::HeParamsPtr params_for(he::HeParamsPtr p, int ell) {
  if (!p) return he::HeParams::cheetah(ell);
  require(p->t() == (u64{1} << ell), ErrorCode::kInvalidArgument,
          "hequant conv: the HE parameters' plaintext modulus must be 2^{b*B}");
  return p;
}

}  // namespace

int HeQuantConvStrategy::digit_bits(const Conv2dMeta& m, std::uint64_t act_bound) {
  m.validate();
  const double bound = static_cast<double>(act_bound) * std::ldexp(1.0, m.weight_bits - 1) *
                       static_cast<double>(m.C / m.groups * m.kh * m.kw);
  return static_cast<int>(std::ceil(std::log2(bound + 1))) + 1;
}

HeQuantConvStrategy::HeQuantConvStrategy(const Conv2dMeta& meta, std::uint64_t act_bound, int b,
                                         he::HeParamsPtr params, TilePolicy policy)
    : meta_(meta),
      B_(digit_bits(meta, act_bound)),
      b_(b),
      ell_t_(plain_bits_checked(B_, b)),
      R_(bands_rows(meta, b)),
      Hb_((R_ - 1) * meta.stride_h + meta.kh),
      inner_(params_for(std::move(params), ell_t_), banded_meta(meta, R_), policy) {}

std::vector<u64> HeQuantConvStrategy::pack_input(std::span<const u64> share) const {
  const Conv2dMeta& m = meta_;
  require(share.size() == m.C * m.H * m.W, ErrorCode::kInvalidArgument, "hequant conv: input share must hold C*H*W values");
  const u64 tmask = (u64{1} << ell_t_) - 1;
  std::vector<u64> out(m.C * Hb_ * m.W, 0);
  for (std::size_t c = 0; c < m.C; ++c)
    for (std::size_t i = 0; i < Hb_; ++i)
      for (int k = 0; k < b_; ++k) {
        const std::size_t r = static_cast<std::size_t>(k) * R_ * m.stride_h + i;  // padded row
        if (r < m.pad_top || r - m.pad_top >= m.H) continue;
        const u64* src = share.data() + (c * m.H + (r - m.pad_top)) * m.W;
        u64* dst = out.data() + (c * Hb_ + i) * m.W;
        const int shift = k * B_;
        for (std::size_t j = 0; j < m.W; ++j) dst[j] = (dst[j] + (src[j] << shift)) & tmask;
      }
  return out;
}

std::vector<u64> HeQuantConvStrategy::unpack_digits(std::span<const mpc::ArithShares> digits) const {
  const std::size_t M = meta_.M, Ho = meta_.out_h(), Wo = meta_.out_w();
  require(digits.size() == static_cast<std::size_t>(b_), ErrorCode::kInvalidArgument, "hequant conv: wrong digit count");
  for (const auto& d : digits)
    require(d.v.size() == M * R_ * Wo, ErrorCode::kInvalidArgument, "hequant conv: digit share of the wrong size");
  std::vector<u64> y(M * Ho * Wo);
  for (std::size_t k = 0; k < digits.size(); ++k)
    for (std::size_t m = 0; m < M; ++m)
      for (std::size_t i = 0; i < R_ && k * R_ + i < Ho; ++i)
        for (std::size_t j = 0; j < Wo; ++j) y[(m * Ho + k * R_ + i) * Wo + j] = digits[k].v[(m * R_ + i) * Wo + j];
  return y;
}

PreparedHeQuantConv prepare_hequant_conv(const HeQuantConvStrategy& s, std::span<const std::int64_t> weights,
                                         std::span<const std::int64_t> bias) {
  require(bias.empty() || bias.size() == s.meta().M, ErrorCode::kInvalidArgument, "conv: bias must hold M values");
  return {prepare_conv_layer(s.inner(), weights, {}), std::vector<std::int64_t>(bias.begin(), bias.end())};
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
  const auto digits = mpc::extract_digits(s, packed, st.digit_bits(), st.digits(), out_bits);
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
