// Slot-encoded (batch-encoded) BFV convolution on shares over Z_t: Gazelle's dense packing and
// diagonal channel mixing, with the rotation candidates of Flash's fast-rotation convolution
// (TECHNIQUES.md §6.3 Gazelle, §5.6 candidates A and C; §5.2 primer).
//
// Shares: x = x_C + x_S (mod t), t the batching prime of he::HeParams::batch. The client encrypts
// its share slot-packed; the server adds its own, evaluates the conv with rotations and element-wise
// ciphertext × plaintext products, subtracts a uniform mask R ∈ Z_t^N, re-randomises with Enc_pk(0)
// and floods c0 (σ_f = ⌈log2 B⌉ + 40 bits over the public honest-noise bound B), switches to the
// lowest level that still decrypts and returns the ciphertexts. The client decrypts y − R; the
// server keeps R (plus the bias). One round trip.
//
// Layout (Gazelle): c_n = min(N/(2·next_pow2(H·W)), next_pow2(⌈max(C, M)/2⌉)) channels per
// half-row (N/2 slots), each in a block of P = N/(2c_n) ≥ H·W slots, 2·c_n per ciphertext (row 0
// then row 1; a layer with fewer channels than the ring has room for widens its blocks rather
// than leave diagonals half empty), so
// n_in = ⌈C / 2c_n⌉ input and n_out = ⌈M / 2c_n⌉ output ciphertexts. A tap (ky, kx) is a cyclic
// rotation of the half-rows by δ = (ky − pad_top)·W + (kx − pad_left); positions whose tap falls
// outside the image get weight 0. Output channel mixing is diagonal: for each output ciphertext o
// and diagonal r < c_n, z_r = Σ_{i,σ,k} rot_δk(σ(x_i)) ⊙ D_{o,r,i,σ,k} (σ: identity or the row swap,
// so both rows of an input feed both rows of an output), then y_o = Σ_r rot_{r·P}(z_r): the
// output-side rotations happen once per output ciphertext after summing over every input (the
// accumulation of candidate B). A strided conv is evaluated at its anchors (oy·s_h, ox·s_w) of the
// stride-1 layout; both parties read the output share at those slots (the layout change is free in
// an interactive protocol: the client re-encrypts anyway).
//
// Rotation candidates (SlotRotation), all producing identical shares:
//   kPerTap        Gazelle's baseline: every input-side rotation is its own key switch.
//   kHoisted       candidate A: the tap rotations of one ciphertext share one decomposition.
//   kClientRotated candidate C: the client encrypts every rotated (and row-swapped) copy of its
//                  share itself (Delphi's Gazelle port); no input-side key switch, more upload.
//
// Fused x²+x input (Flash's activation protocol, TECHNIQUES.md §5.3, reconstruction): with
// `square_plus_x_frac` = f the layer computes W·(x² + 2^f·x) instead of W·x. The client sends
// Enc(x_C) and Enc(x_C²) (x_C² squared in the clear, mod t); the server forms, with ciphertext ×
// plaintext operations only, Enc(x_C²) + Enc(x_C) ⊙ (2·x_S + 2^f) + (x_S² + 2^f·x_S) = Enc(x² + 2^f·x)
// (mod t) and runs the conv on it: one round trip, no OT, no offline phase. With client pre-rotation
// the client sends rotated copies of both and the server rotates its plaintexts alike (x²+x is
// element-wise, so it commutes with rotations).
//
// Thread-safety: plans are immutable; the drivers use one channel and one Prg each.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "peregrine/core/prg.hpp"
#include "peregrine/he/params.hpp"
#include "peregrine/linear/conv.hpp"
#include "peregrine/linear/he_layer.hpp"
#include "peregrine/net/channel.hpp"

namespace peregrine::linear {

/// Where a slot conv's input-side rotations happen (TECHNIQUES.md §5.6).
enum class SlotRotation : std::uint8_t { kPerTap = 0, kHoisted = 1, kClientRotated = 2 };
/// "per-tap", "hoisted", "client-rotated".
const char* to_string(SlotRotation r) noexcept;

/// Counters of the HE work of one slot conv (server side), as planned and as the driver ran it.
struct SlotConvCounts {
  std::size_t key_switches = 0;     ///< rotations and row swaps (one key switch each)
  std::size_t decompositions = 0;   ///< RNS decompositions of c1 (one per key switch unless hoisted)
  std::size_t products = 0;         ///< ciphertext × plaintext products
  std::size_t upload_ciphertexts = 0;
  std::size_t download_ciphertexts = 0;
  bool operator==(const SlotConvCounts&) const = default;
};

/// The public plan of one slot-encoded conv: layout, the non-zero diagonal terms, the rotation
/// steps (so the session's Galois keys cover exactly those), the noise bound and the response
/// parameters. Construct once per layer; no secrets.
class SlotConvPlan {
 public:
  /// Errors: those of meta.validate(); kUnsupported for groups ≠ 1, H·W > N/2, anchors outside the
  /// image (padding beyond the kernel's reach), or when the response cannot be flooded by 40 bits
  /// and still decrypt with these parameters (t too large for N and q; the message says so);
  /// kInvalidArgument for parameters without batching or without a special prime.
  /// square_plus_x_frac: f ≥ 0 for the fused x² + 2^f·x input (2^f < t), nullopt for the plain
  /// share input.
  SlotConvPlan(const Conv2dMeta& meta, he::HeParamsPtr params, SlotRotation rotation,
               std::optional<int> square_plus_x_frac = std::nullopt);

  const Conv2dMeta& meta() const noexcept { return meta_; }
  const he::HeParamsPtr& params() const noexcept { return params_; }
  SlotRotation rotation() const noexcept { return rotation_; }
  const std::optional<int>& square_plus_x_frac() const noexcept { return poly_frac_; }
  std::size_t block() const noexcept { return block_; }               ///< P (slots per channel)
  std::size_t channels_per_row() const noexcept { return cn_; }       ///< c_n
  std::size_t n_in() const noexcept { return n_in_; }
  std::size_t n_out() const noexcept { return n_out_; }
  /// The server's planned work (the driver's counts equal it; tested).
  const SlotConvCounts& counts() const noexcept { return counts_; }
  /// Rotation steps the server needs Galois keys for (left rotations of the rows; 0 is the row
  /// swap), ascending; feed them to he::KeyGenerator::rotation_elements.
  const std::vector<int>& galois_steps() const noexcept { return galois_steps_; }
  /// The Galois elements of galois_steps().
  std::vector<std::uint64_t> galois_elements() const;
  /// Public bound on an output ciphertext's honest noise before flooding (derivation in
  /// slot_conv.cpp, TECHNIQUES.md §5.5), the flood width σ_f = ⌈log2 B⌉ + 40 and the level the
  /// responses are switched to.
  double noise_bound() const noexcept { return noise_bound_; }
  int flood_bits() const noexcept { return flood_bits_; }
  std::size_t response_level() const noexcept { return response_level_; }
  /// Bytes on the wire (frames included) each way for one run, Galois keys excluded.
  LayerCost cost() const;
  /// Bytes of the Galois keys for galois_steps() (set-up, once per session).
  std::size_t galois_key_bytes() const;

  /// Estimated seconds of the layer's HE work (both parties, one thread each, summed): key
  /// switches, decompositions, products and ciphertexts encrypted or decrypted, at constants
  /// measured with peregrine_bench_slot_conv on the project's machine (N = 8192, two data primes:
  /// 1.2 ms per decomposition, 0.5 ms per key switch beyond it, 0.15 ms per product, 1 ms per
  /// ciphertext encrypted or decrypted), scaled by N and the number of primes.
  double estimated_seconds() const;
  /// Bytes both ways plus estimated_seconds() at the LAN reference rate (375 MB/s), as
  /// tile_latency_score: what best_slot_conv minimises.
  double score() const;

  /// Slot of input channel c's pixel p (< H·W) in its ciphertext c / (2c_n).
  std::size_t in_slot(std::size_t c, std::size_t p) const noexcept;
  /// Ciphertext and slot of output element (m, oy, ox).
  std::size_t out_ct(std::size_t m) const noexcept { return m / (2 * cn_); }
  std::size_t out_slot(std::size_t m, std::size_t oy, std::size_t ox) const noexcept;

  /// One non-zero diagonal term: input ciphertext i, row swap or not, tap k = ky·kw + kx.
  struct Term {
    std::uint32_t in = 0;
    std::uint8_t swap = 0;
    std::uint32_t tap = 0;
  };
  /// Terms of output ciphertext o, diagonal r (empty: that diagonal is all zero and skipped).
  const std::vector<Term>& terms(std::size_t o, std::size_t r) const { return terms_.at(o * cn_ + r); }
  /// Rotation step of tap k (0 for the centre tap).
  int tap_step(std::size_t k) const noexcept { return tap_steps_[k]; }
  /// The distinct (input ciphertext, swap, tap) copies the terms read, per input ciphertext:
  /// copies(i) lists (swap, tap) pairs in ascending order.
  const std::vector<std::pair<std::uint8_t, std::uint32_t>>& copies(std::size_t i) const { return copies_.at(i); }

 private:
  Conv2dMeta meta_;
  he::HeParamsPtr params_;
  SlotRotation rotation_;
  std::optional<int> poly_frac_;
  std::size_t block_ = 0, cn_ = 0, n_in_ = 0, n_out_ = 0;
  std::vector<int> tap_steps_;
  std::vector<std::vector<Term>> terms_;  // [o·c_n + r]
  std::vector<std::vector<std::pair<std::uint8_t, std::uint32_t>>> copies_;  // [i]
  std::vector<int> galois_steps_;
  SlotConvCounts counts_;
  double noise_bound_ = 0;
  int flood_bits_ = 0;
  std::size_t response_level_ = 1;
};

/// The rotation candidate of least score() among those that fit the parameters' noise budget
/// (TECHNIQUES.md §5.6: "measure them and keep the best per shape"). Errors: those of the plan
/// when no candidate fits (the last candidate's).
SlotConvPlan best_slot_conv(const Conv2dMeta& meta, he::HeParamsPtr params,
                            std::optional<int> square_plus_x_frac = std::nullopt);

/// The server's prepared weights for one plan: the diagonal plaintexts D_{o,r,i,σ,k} in NTT form.
/// weights: [M][C][kh][kw] signed, |w| < t/2 (kInvalidArgument otherwise or on a size mismatch).
class SlotConvKernels {
 public:
  SlotConvKernels(const SlotConvPlan& plan, std::span<const std::int64_t> weights);
  /// The plaintext of term j of (o, r).
  const he::PlaintextNtt& get(std::size_t o, std::size_t r, std::size_t j) const { return d_.at(o * cn_ + r).at(j); }

 private:
  std::size_t cn_ = 0;
  std::vector<std::vector<he::PlaintextNtt>> d_;
};

/// Client driver: x_client = the client's share of the input [C,H,W] mod t. Returns its share of
/// the output [M,Ho,Wo] mod t and, through `noise_budget` when not null, the least remaining noise
/// budget of the responses (bits; TECHNIQUES.md §5.5's per-layer log). Errors: kInvalidArgument on
/// shape mismatch; kMalformedInput / kParamsMismatch / kSizeLimit for a malformed response; channel
/// errors.
std::vector<std::uint64_t> run_slot_conv_client(net::Channel& ch, const HeClient& he, const SlotConvPlan& plan,
                                                std::span<const std::uint64_t> x_client, Prg& prg,
                                                int* noise_budget = nullptr);
/// Server driver: x_server = its share of the input [C,H,W] mod t; bias [M] (empty: none), each
/// reduced mod t. Returns its share of the output [M,Ho,Wo] mod t and, through `counts` when not
/// null, the work it did. he.galois must hold the keys for plan.galois_elements(). Errors:
/// kInvalidArgument on shape mismatch or a missing key; kMalformedInput / kParamsMismatch /
/// kSizeLimit for a malformed input ciphertext; channel errors.
std::vector<std::uint64_t> run_slot_conv_server(net::Channel& ch, const HeServer& he, const SlotConvPlan& plan,
                                                const SlotConvKernels& kernels, std::span<const std::uint64_t> x_server,
                                                std::span<const std::int64_t> bias, Prg& prg,
                                                SlotConvCounts* counts = nullptr);

/// x² + 2^f·x element-wise mod t (the fused input's activation, in Z_t).
std::vector<std::uint64_t> square_plus_x_mod_t(std::span<const std::uint64_t> x, int frac_bits, std::uint64_t t);
/// The plaintext reference: conv of x (mod t, [C,H,W]) with weights and bias, mod t ([M,Ho,Wo]).
std::vector<std::uint64_t> slot_conv_reference(const Conv2dMeta& meta, std::uint64_t t, std::span<const std::uint64_t> x,
                                               std::span<const std::int64_t> weights, std::span<const std::int64_t> bias);

}  // namespace peregrine::linear
