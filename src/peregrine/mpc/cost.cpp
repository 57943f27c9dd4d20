#include "peregrine/mpc/cost.hpp"

#include <algorithm>
#include <cmath>

namespace peregrine::mpc {

namespace {

// Per element at ℓ = 37, both directions (see cost.hpp for where they come from).
struct PerElement {
  double relu_bytes;
  double trunc_bytes;        // exact, sign unknown
  double trunc_known_bytes;  // exact, sign known
  double trunc_approx_bytes;        // approximate, sign unknown
  double trunc_approx_known_bytes;  // approximate, sign known
  double relu_seconds, trunc_seconds, trunc_known_seconds, trunc_approx_seconds, trunc_approx_known_seconds;
};
constexpr PerElement kIknp{624, 857, 209, 927 * 857.0 / 1153, 17.5,
                           624 / 4e8, 857 / 4e8, 209 / 4e8, 690 / 4e8, 17.5 / 4e8};
constexpr PerElement kSilent{47.5, 57.0, 18.0, 46.0, 1.7, 2.1e-6, 3.2e-6, 0.9e-6, 2.6e-6, 0.09e-6};

const PerElement& per(OtBackend ot) { return ot == OtBackend::kIknp ? kIknp : kSilent; }

ProtocolCost both_ways(double bytes, double seconds, std::uint64_t rounds) {
  return {bytes / 2, bytes / 2, rounds, seconds};
}

}  // namespace

ProtocolCost relu_cost(std::size_t n, int ell, OtBackend ot) {
  const double k = static_cast<double>(n) * ell / 37.0;
  return both_ways(per(ot).relu_bytes * k, per(ot).relu_seconds * k, 12);
}

ProtocolCost relu_highbits_cost(std::size_t n, int ell, int shift, OtBackend ot) {
  return relu_cost(n, std::max(2, ell - shift), ot);
}

ProtocolCost clip_cost(std::size_t n, int ell, OtBackend ot) {
  const ProtocolCost r = relu_cost(n, ell, ot);
  // Saved against two relu(): one COT_ℓ (the multiplexer pair → one B2A COT) and the client's
  // leaf choices of one millionaire (silent: ℓ − 1 chosen-bit COTs, 1.4 bits each with Ferret's
  // traffic; IKNP: 256 bits of KK13 per 4-bit digit). Silent ℓ = 37: 0.88× two ReLUs, measured.
  const bool iknp = ot == OtBackend::kIknp;
  const double cot_bits = ell + (iknp ? 128.0 : 1.4);
  const double leaf_bits = iknp ? 256.0 * std::ceil((ell - 1) / 4.0) : 1.4 * (ell - 1);
  const double saved = static_cast<double>(n) * (cot_bits + leaf_bits) / 8.0;
  return both_ways(std::max(0.0, 2 * (r.bytes_c2s + r.bytes_s2c) - saved), 2 * r.seconds, r.rounds);
}

ProtocolCost clip_highbits_cost(std::size_t n, int ell, int shift, OtBackend ot) {
  return clip_cost(n, std::max(2, ell - shift), ot);
}

ProtocolCost truncate_cost(std::size_t n, int ell, TruncMode mode, MsbHint msb, OtBackend ot) {
  const PerElement& p = per(ot);
  const double k = static_cast<double>(n) * ell / 37.0;
  const bool known = msb != MsbHint::kUnknown;
  if (mode == TruncMode::kExact)
    return known ? both_ways(p.trunc_known_bytes * k, p.trunc_known_seconds * k, 6)
                 : both_ways(p.trunc_bytes * k, p.trunc_seconds * k, 16);
  return known ? both_ways(p.trunc_approx_known_bytes * k, p.trunc_approx_known_seconds * k, 4)
               : both_ways(p.trunc_approx_bytes * k, p.trunc_approx_seconds * k, 13);
}

ProtocolCost truncate_reduce_cost(std::size_t n, int ell, TruncMode mode, OtBackend ot) {
  if (mode == TruncMode::kApprox) return {};
  return truncate_cost(n, ell, TruncMode::kExact, MsbHint::kZero, ot);
}

ProtocolCost truncate_mod_t_cost(std::size_t n, int t_bits, OtBackend ot) { return relu_cost(n, t_bits + 1, ot); }

ProtocolCost extend_cost(std::size_t n, int from, int to, MsbHint msb, OtBackend ot) {
  if (msb == MsbHint::kUnknown) return relu_cost(n, from, ot);
  const double per_cot = ot == OtBackend::kIknp ? 128.0 : 0.4;
  const double bytes = static_cast<double>(n) * (2.0 * (to - from) + 2.0 + 2.0 * per_cot) / 8.0;
  return both_ways(bytes, bytes / 4e8, 4);
}

ProtocolCost extract_digits_cost(std::size_t n, int B, int b, int out_bits, OtBackend ot, int first) {
  const int last = out_bits > B ? b : b - 1;
  const int carries = last - std::max(first, 1) + 1;  // the B2As: c_max(first,1) … c_last
  if (carries <= 0) return {};
  // One prefix millionaire over last·B bits (≈ a millionaire on them: relu_cost, whose multiplexer
  // stands for the first B2A), the other B2As over out_bits each, and the chain's one round per
  // leaf (3-bit leaves on silent OT, 4 on IKNP) instead of the tree's depth.
  ProtocolCost c = relu_cost(n, last * B, ot);
  const double per_cot = ot == OtBackend::kIknp ? 128.0 : 1.4;
  const double b2a = static_cast<double>(n) * (carries - 1) * (out_bits + per_cot) / 8.0;
  c.bytes_c2s += b2a / 2;
  c.bytes_s2c += b2a / 2;
  c.rounds += static_cast<std::uint64_t>(last * B / (ot == OtBackend::kIknp ? 4 : 3));
  return c;
}

ProtocolCost matmul_server_weights_cost(std::size_t M, std::size_t K, std::size_t P, int ell, int wbits, OtBackend ot) {
  const int bits = std::min(wbits, ell);
  const double n = static_cast<double>(M) * static_cast<double>(K);
  double payload = 0;
  for (int j = 0; j < bits; ++j) payload += n * static_cast<double>(P) * (ell - j);
  const double per_cot = ot == OtBackend::kIknp ? 128.0 : 1.4;
  ProtocolCost c;
  c.bytes_c2s = payload / 8;
  c.bytes_s2c = n * bits * per_cot / 8;
  c.rounds = 2 * static_cast<std::uint64_t>(bits);
  c.seconds = (c.bytes_c2s + c.bytes_s2c) / 4e8 + n * static_cast<double>(P) * 1e-9;  // PRG + the server's W·V_0
  return c;
}

ProtocolCost maxpool_cost(std::size_t n, std::size_t k, int ell, OtBackend ot) {
  const double cmp = static_cast<double>(k > 0 ? k - 1 : 0);
  ProtocolCost c = relu_cost(n, ell, ot);
  const auto levels = static_cast<std::uint64_t>(std::ceil(std::log2(std::max(2.0, static_cast<double>(k)))));
  return {c.bytes_c2s * cmp, c.bytes_s2c * cmp, 12 * levels, c.seconds * cmp};
}

ProtocolCost gilboa_cost(std::size_t n, int ell, int cross_terms) {
  const double bytes = cross_terms * ell * (16.0 + ell / 8.0) * static_cast<double>(n);
  return both_ways(bytes, bytes / 4e8, 2);
}

}  // namespace peregrine::mpc
