// Cost estimates of the secret-sharing protocols (bytes each way, rounds, compute), for planners.
// They live beside the protocols they describe; a protocol change updates its figure here.
//
// The figures are per element at ℓ = 37 (f = 12), measured with `peregrine bench relu|trunc|
// relutrunc` (two processes, loopback, one thread per party; docs/BENCHMARKS.md), and scaled
// linearly in the bits the protocol's millionaires compare (an approximation: the leaves scale
// linearly, the AND tree logarithmically). They are estimates, not exact counts: the silent-OT
// traffic of Ferret refills falls wherever the COT pool runs dry, so one layer's measured bytes
// depend on the layers before it (the conformance suite checks them within a stated band).
// Seconds: one core's compute per element (silent: measured on 2^20 elements; IKNP: its bytes at
// 400 MB/s of CPU, the rate its hashing and transposes sustain).
//
// Thread-safety: pure functions.
#pragma once
#include <cstddef>
#include <cstdint>

#include "peregrine/mpc/session.hpp"
#include "peregrine/mpc/truncation.hpp"

namespace peregrine::mpc {

/// Estimated cost of one protocol call: bytes each way (client → server, server → client), rounds
/// (changes of direction), and the compute seconds of one party on one core.
struct ProtocolCost {
  double bytes_c2s = 0;
  double bytes_s2c = 0;
  std::uint64_t rounds = 0;
  double seconds = 0;
};

/// relu() on n elements over Z_{2^ℓ}.
ProtocolCost relu_cost(std::size_t n, int ell, OtBackend ot);
/// relu_highbits() on n elements over Z_{2^ℓ}, dropping `shift` low bits (a ReLU on ℓ − shift bits).
ProtocolCost relu_highbits_cost(std::size_t n, int ell, int shift, OtBackend ot);
/// clip() on n elements over Z_{2^ℓ}: two DReLUs in one pass and one COT_ℓ fewer than two
/// relu() calls (the multiplexer's second COT pair becomes one B2A COT), with the rounds of one.
ProtocolCost clip_cost(std::size_t n, int ell, OtBackend ot);
/// clip_highbits() on n elements over Z_{2^ℓ}, dropping `shift` low bits (a clip on ℓ − shift bits).
ProtocolCost clip_highbits_cost(std::size_t n, int ell, int shift, OtBackend ot);
/// truncate() by f on n elements over Z_{2^ℓ} in the given mode, with the given MSB hint.
ProtocolCost truncate_cost(std::size_t n, int ell, TruncMode mode, MsbHint msb, OtBackend ot);
/// truncate_reduce() by f on n elements from Z_{2^ℓ}: exact estimated as truncate() with a known
/// MSB (a millionaire on f bits, a COT-sized B2A instead of the MSB-known wrap); approx: free.
ProtocolCost truncate_reduce_cost(std::size_t n, int ell, TruncMode mode, OtBackend ot);
/// extend() of n elements from Z_{2^from} to Z_{2^to}, signed; with a known MSB one COT and one
/// B2A over to − from bits (≈ 2·(to − from) + 3 bits each way together), else a millionaire on
/// `from` bits plus the B2A (estimated as relu_cost on `from` bits, whose multiplexer is about a B2A).
/// truncate_mod_t() on n elements with t < 2^t_bits: a millionaire on t_bits bits and one B2A COT
/// of t_bits bits per element, estimated as relu_cost on t_bits + 1 bits (a millionaire on t_bits
/// bits, whose multiplexer stands for the B2A).
ProtocolCost truncate_mod_t_cost(std::size_t n, int t_bits, OtBackend ot);
ProtocolCost extend_cost(std::size_t n, int from, int to, MsbHint msb, OtBackend ot);
/// extract_digits() on n packed values of b base-2^B digits into Z_{2^out_bits}: the carries (b − 1
/// when out_bits ≤ B, else b) from one prefix millionaire over their bits (estimated as relu_cost on
/// them), one B2A over out_bits per carry read by the digits first … b − 1, and the AND chain's
/// rounds (one per leaf).
ProtocolCost extract_digits_cost(std::size_t n, int B, int b, int out_bits, OtBackend ot, int first = 0);
/// matmul_server_weights() of an M×K weight matrix (wbits bits) with a K×P share over Z_{2^ℓ}:
/// exactly Σ_{j < min(wbits, ℓ)} M·K·P·(ℓ − j) payload bits from the client (the COT sender), plus
/// the COTs themselves (1.4 bits each with silent OT, 128 with IKNP, counted server → client), one
/// exchange per weight bit.
ProtocolCost matmul_server_weights_cost(std::size_t M, std::size_t K, std::size_t P, int ell, int wbits, OtBackend ot);
/// maxpool2d() with n outputs and a k-element window (k − 1 comparisons + multiplexers each,
/// ⌈log2 k⌉ sequential levels).
ProtocolCost maxpool_cost(std::size_t n, std::size_t k, int ell, OtBackend ot);
/// square() (one Gilboa cross term) or mul() (two) on n elements over Z_{2^ℓ}:
/// ℓ·(16 + ℓ/8) bytes per cross term, both directions.
ProtocolCost gilboa_cost(std::size_t n, int ell, int cross_terms);

}  // namespace peregrine::mpc
