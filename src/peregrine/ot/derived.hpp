// OT flavours derived from correlated OT: random OT, chosen-message OT (l ≤ 64 bits packed, and
// arbitrary byte length), 1-out-of-N OT (N = 2^m, m ≤ 8) and CrypTFlow2's additive correlated OT.
// Built only on the CotSender / CotReceiver interfaces (cot.hpp), so any COT back-end (IKNP now,
// silent OT later) serves them unchanged.
//
// Hashing: every pad is the GKWY20 TCCR hash (crhash.hpp) of a COT output, with tweak
// {lo = running OT index of this object, hi = (domain << 40) | (kind << 32) | sub-index}, so no
// (input, tweak) pair repeats within an object; give objects over the same COT back-end
// distinct `domain`s if you want tweak uniqueness across them too (it is not needed for
// security, the COT outputs being fresh).
//
// Protocols (semi-honest; sources):
//   * ROT: m_b = H(q ⊕ b·Δ) (IKNP03; ALSZ13 "random OT"). No extra traffic.
//   * Chosen-message OT: y_b = m_b ⊕ H(q ⊕ b·Δ), both sent (IKNP03). 2·l bits per OT.
//   * 1-out-of-N, N = 2^m: m COTs with the bits of the choice c, keys K_k^b = H(q_k ⊕ b·Δ),
//     pad_x = ⊕_k F(K_k^{x_k}, x) with F(K, x) = TCCR(K, tweak(x)) as a PRF — the construction
//     of Naor–Pinkas, "Oblivious Transfer and Polynomial Evaluation", STOC 1999 (1-out-of-N
//     from log N 1-out-of-2 OTs). Traffic: m COTs (m·128 bits with IKNP) + N·l bits per OT;
//     sender work N·m TCCR calls per OT. (KK13, TECHNIQUES.md §7.1, would need 2λ + N·l bits
//     with IKNP but is not expressible on the COT interface alone.)
//   * Additive COT over Z_{2^l} ("COT_l" of CrypTFlow2, Rathee et al., CCS 2020): the sender
//     inputs Δ_i, gets x_i = H(q_i) mod 2^l and sends y_i = H(q_i) + Δ_i − H(q_i ⊕ Δ) mod 2^l;
//     the receiver outputs H(t_i) + b_i·y_i = x_i + b_i·Δ_i mod 2^l. One COT + l bits per OT.
//     Vector form (width w values per COT): H expanded to w values by TCCR with sub-index tweaks.
//
// Shapes: n = number of OTs; l-bit values live in the low l bits of a u64 (inputs are masked to
// l bits, outputs are < 2^l); l ∈ [1, 64]. Choice bytes for 1-of-2 flavours: nonzero counts as 1.
// Large n is processed in batches of at most kDerivedBatch OTs (one message per batch).
//
// Thread-safety: objects are not thread-safe and keep references to the COT object, the channel
// (and the receiver's Prg), which must outlive them. The two parties must make matching calls
// (same flavour, n, l, m, msg_bytes) in the same order.
// Errors: kInvalidArgument for bad sizes/l/m/choices (checked before any traffic); the channel's
// kPeerClosed / kTimeout; kUnsupported on a CPU without AES-NI.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "peregrine/core/aligned.hpp"
#include "peregrine/core/prg.hpp"
#include "peregrine/net/channel.hpp"
#include "peregrine/ot/cot.hpp"
#include "peregrine/ot/packing.hpp"

namespace peregrine::ot {

/// OTs per internal batch (bounds scratch memory: a few 16-byte blocks per OT).
inline constexpr std::size_t kDerivedBatch = std::size_t{1} << 14;
/// COTs per super-batch of the 1-out-of-N and additive flavours (both parties take a
/// super-batch's COTs at once and exchange its corrections in one piece: one round trip per
/// super-batch; 16 MiB of COT blocks per party at most).
inline constexpr std::size_t kSuperBatchCots = std::size_t{1} << 20;
/// Largest m for 1-out-of-2^m OT.
inline constexpr int kMaxOneOfNBits = 8;

/// Sender side of every derived flavour, over one COT sender and the channel to the peer.
class OtSender {
 public:
  OtSender(CotSender& cot, net::Channel& ch, std::uint32_t domain = 0);

  /// n = out.size() random OTs: out[i] = {m0_i, m1_i}, 128-bit each. No traffic beyond the COTs.
  void send_rot(std::span<std::array<Block, 2>> out);

  /// Chosen-message OT on l-bit strings: the receiver learns m_{b_i}[i]. m0.size() == m1.size().
  void send_chosen(std::span<const std::uint64_t> m0, std::span<const std::uint64_t> m1, int l);

  /// Chosen-message OT on byte strings of msg_bytes each: m0, m1 hold n·msg_bytes bytes
  /// ([n][msg_bytes] row-major). msg_bytes ≥ 1.
  void send_chosen_bytes(std::span<const std::uint8_t> m0, std::span<const std::uint8_t> m1,
                         std::size_t msg_bytes);

  /// 1-out-of-N OT, N = 2^m (1 ≤ m ≤ 8), l-bit messages: msgs is [n][N] row-major; the receiver
  /// with choice c_i learns msgs[i·N + c_i].
  void send_1_of_n(std::span<const std::uint64_t> msgs, int m, int l);

  /// Additive correlated OT mod 2^l on vectors of `width` values: n = delta.size() / width COTs;
  /// writes x_out (uniform, [n][width]); the receiver of OT i gets x_out[i][k] + b_i·delta[i][k]
  /// mod 2^l for every k < width. One COT + width·l bits per OT. delta.size() == x_out.size(), a
  /// multiple of width ≥ 1.
  void send_cot_additive(std::span<const std::uint64_t> delta, std::span<std::uint64_t> x_out, int l,
                         std::size_t width = 1);
  /// Additive correlated OT mod an arbitrary modulus t (2 ≤ t < 2^62; prime t for the slot-encoded
  /// layers' shares in Z_t): writes x_out[i] (each the 128-bit pad reduced mod t: statistical
  /// distance ≤ t/2^128 from uniform), the receiver of OT i gets x_out[i] + b_i·delta[i] mod t.
  /// One COT + ⌈log2 t⌉ bits per OT. Errors: kInvalidArgument for t out of range, a delta ≥ t, or
  /// sizes that differ.
  void send_cot_additive_mod(std::span<const std::uint64_t> delta, std::span<std::uint64_t> x_out, std::uint64_t t);

 private:
  Block tweak(std::uint64_t kind, std::uint64_t sub) const noexcept;
  // fills q_ (n COTs; send_random_cot when the receiver uses its own random bits),
  // h0_ = H(q), h1_ = H(q ⊕ Δ)
  void cot_and_hash(std::size_t n, bool random_choices = false);
  // b COTs, each expanded to nb pad blocks per side: in_[(s·b + i)·nb + k] = H(q_i ⊕ s·Δ, tweak
  // {ctr_ + i, kind, k}) for s ∈ {0, 1}.
  void cot_and_expand(std::size_t b, std::size_t nb, std::uint64_t kind);
  // n COTs in super-batches (one COT call each), every batch expanded to nb pad blocks per side
  // with `kind`; fill(off, b, h0, h1) writes values_per_ot values per OT into vals_ from the pads
  // h0 = H(q), h1 = H(q ⊕ Δ) ([b][2·nb] u64), which are sent at l bits and flushed.
  template <class Fill>
  void send_expanded(std::size_t n, std::size_t nb, std::uint64_t kind, std::size_t values_per_ot, int l, Fill&& fill);
  // Packs vals_[0, count) at l bits each and sends them (no flush).
  void send_values(std::size_t count, int l);
  // The expansion of cot_and_expand on the COTs q[0, b) (null: q_).
  void expand(std::size_t b, std::size_t nb, std::uint64_t kind, const Block* q = nullptr);

  CotSender& cot_;
  net::Channel& ch_;
  std::uint64_t domain_;
  std::uint64_t ctr_ = 0;  // running OT index (tweak lo)
  std::vector<Block, AlignedAllocator<Block>> q_, h0_, h1_, in_, tw_;
  std::vector<std::uint64_t> vals_;
  std::vector<std::uint8_t> wire_, dbits_;
};

/// Receiver side of every derived flavour. `prg` supplies the random choice bits of ROT (when the
/// back-end does not produce its own).
class OtReceiver {
 public:
  OtReceiver(CotReceiver& cot, net::Channel& ch, Prg& prg, std::uint32_t domain = 0);

  /// n random OTs: choices_out[i] ∈ {0,1} (random), out[i] = m_{choices_out[i]}.
  void recv_rot(std::span<std::uint8_t> choices_out, std::span<Block> out);

  /// Chosen-message OT on l-bit strings: out[i] = m_{choices[i]}[i].
  void recv_chosen(std::span<const std::uint8_t> choices, std::span<std::uint64_t> out, int l);

  /// Byte-string chosen-message OT: out is [n][msg_bytes], n = choices.size().
  void recv_chosen_bytes(std::span<const std::uint8_t> choices, std::span<std::uint8_t> out,
                         std::size_t msg_bytes);

  /// 1-out-of-N OT: choices[i] ∈ [0, 2^m) (else kInvalidArgument), out[i] = msgs[i·N + choices[i]].
  void recv_1_of_n(std::span<const std::uint8_t> choices, std::span<std::uint64_t> out, int m, int l);

  /// Additive correlated OT mod 2^l: out[i][k] = x_i[k] + choices[i]·Δ_i[k] mod 2^l, out is
  /// [n][width], n = choices.size().
  void recv_cot_additive(std::span<const std::uint8_t> choices, std::span<std::uint64_t> out, int l,
                         std::size_t width = 1);
  /// Additive correlated OT mod t: out[i] = x_i + choices[i]·Δ_i mod t (OtSender::send_cot_additive_mod).
  /// Errors: kInvalidArgument for t out of range or sizes that differ; kMalformedInput for a value
  /// from the sender not below t.
  void recv_cot_additive_mod(std::span<const std::uint8_t> choices, std::span<std::uint64_t> out, std::uint64_t t);

 private:
  Block tweak(std::uint64_t kind, std::uint64_t sub) const noexcept;
  void cot_and_hash(std::span<const std::uint8_t> choices);  // t_ = COTs, h_ = H(t)
  // COTs with `choices`, each expanded to nb pad blocks: in_[i·nb + k] = H(t_i, {ctr_ + i, kind, k}).
  void cot_and_expand(std::span<const std::uint8_t> choices, std::size_t nb, std::uint64_t kind);
  // The expansion of cot_and_expand on the COTs t[0, b), into dst[b·nb].
  void expand(const Block* t, std::size_t b, std::size_t nb, std::uint64_t kind, Block* dst);
  // The receiver's side of OtSender::send_expanded: per batch, the pads H(t) ([b][2·nb] u64) and
  // the sender's packed values (in wire_, nbytes) go to read(off, b, h, nbytes).
  template <class Read>
  void recv_expanded(std::span<const std::uint8_t> choices, std::size_t nb, std::uint64_t kind, std::size_t values_per_ot,
                     int l, Read&& read);

  CotReceiver& cot_;
  net::Channel& ch_;
  Prg& prg_;
  std::uint64_t domain_;
  std::uint64_t ctr_ = 0;
  std::vector<Block, AlignedAllocator<Block>> t_, h_, in_, tw_;
  std::vector<std::uint8_t> bits_, rbits_, wire_;
};

}  // namespace peregrine::ot
