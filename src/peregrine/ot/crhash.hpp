// Correlation-robust hashing from fixed-key AES (the hash of every OT flavour above COT).
//
// Source: C. Guo, J. Katz, X. Wang, Y. Yu, "Efficient and Secure Multiparty Computation from
// Fixed-Key Block Ciphers", IEEE S&P 2020 (ePrint 2019/074), §7 (hash functions from a fixed-key
// cipher). π is AES-128 under a public fixed key (the first 128 bits of the fractional part of
// pi), modelled as a random permutation.
//   * CCR  (circular correlation robust):  H(x)    = π(σ(x)) ⊕ σ(x),
//     σ(x_lo ‖ x_hi) = (x_hi ‖ x_hi ⊕ x_lo), a linear orthomorphism.
//   * TCCR (tweakable CCR):                H(x, t) = π(π(x) ⊕ t) ⊕ π(x).
// Every derived OT (derived.hpp) uses TCCR with a tweak unique to the OT index, which is the
// conservative choice for hashing a COT with a global Δ (secure in the random-permutation model
// for inputs x_i ⊕ b_i·Δ as long as each (x, t) pair is fresh).
//
// Cost: CCR 1 AES call, TCCR 2 AES calls per block, pipelined 8 blocks at a time with AES-NI.
// Thread-safe (no mutable state). Throws Error(kUnsupported) on a CPU without AES-NI/SSE4.1.
#pragma once
#include <span>

#include "peregrine/ot/cot.hpp"

namespace peregrine::ot {

/// out[i] = CCR(in[i]). in.size() == out.size() (else Error(kInvalidArgument)); in/out may be the
/// same span.
void ccr_hash(std::span<const Block> in, std::span<Block> out);

/// out[i] = TCCR(in[i], {tweak0.lo + i, tweak0.hi}). Sizes as ccr_hash.
void tccr_hash(std::span<const Block> in, Block tweak0, std::span<Block> out);

/// out[i] = TCCR(in[i], tweaks[i]). All three spans the same size.
void tccr_hash(std::span<const Block> in, std::span<const Block> tweaks, std::span<Block> out);

/// π applied to each block (the fixed-key AES permutation; exposed for tests and benchmarks).
void fixed_key_aes(std::span<const Block> in, std::span<Block> out);

}  // namespace peregrine::ot
