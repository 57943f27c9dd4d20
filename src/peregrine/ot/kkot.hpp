// 1-out-of-N OT extension (N = 2^m ≤ 256) with a 256-bit Walsh–Hadamard code: the KK13 extension,
// the IKNP-back-end choice for the millionaire leaves (TECHNIQUES.md §7.1: 2λ + N·l bits per OT,
// against m·λ + N·l bits for the m-COT construction of derived.hpp).
//
// Source: V. Kolesnikov, R. Kumaresan, "Improved OT Extension for Transferring Short Secrets",
// CRYPTO 2013, §4 (semi-honest 1-out-of-N OT extension from a linear code C of length k and
// distance ≥ κ). Here C is the Walsh–Hadamard code of length k = 256: C(x)_i = parity(x ∧ i) for
// x, i ∈ [0, 256), distance 128 = κ (any two distinct codewords differ in exactly 128 positions).
// The same code and width as CrypTFlow2's KKOT (SCI/src/OT/kkot.h), which CrypTFlow2 uses for
// its millionaire leaves.
//
// With k = 256 base OTs (the extension's sender is the base-OT receiver with choice bits s):
//   receiver, OT j with choice c_j, columns i < 256 over the n OTs of a call:
//     t_i = G(k_i^0),  u_i = t_i ⊕ G(k_i^1) ⊕ d_i,   d_i = column i of the rows C(c_j)
//   sender: q_i = G(k_i^{s_i}) ⊕ s_i·u_i, so row j is q^j = t^j ⊕ (C(c_j) ∧ s).
//   pads: sender p_{j,x} = H_j(q^j ⊕ (C(x) ∧ s)) for every x < N; receiver p_{j,c_j} = H_j(t^j).
//   The sender sends y_{j,x} = msg_{j,x} ⊕ p_{j,x} (l bits each); the receiver unmasks y_{j,c_j}.
// G is AES-128-CTR keyed by each column's seed (as iknp.hpp). H_j is a 256→128-bit hash from
// fixed-key AES (reconstruction): H(a ‖ b) = TCCR(TCCR(a, τ_j) ⊕ b, τ'_j), a Merkle–Damgård chain
// of the GKWY20 tweakable CCR hash (crhash.hpp) with tweaks unique per OT; for x ≠ c_j the input
// differs from the receiver's by (C(x ⊕ c_j) ∧ s), 128 bits of s that the receiver does not know,
// wherever they fall in the two halves.
//
// Base OTs: the 256 seed pairs come from 256 random OTs of an existing extension in the same
// direction (from_rot), or from any base OT (the constructors).
//
// Cost per OT: 256 bits receiver→sender + N·l bits sender→receiver; one round trip per call
// (the receiver streams all u, then the sender streams all y). Sender work: N hashes (4 AES) per
// OT; memory 32 bytes per OT of a call on both sides — callers bound n per call.
// Security: semi-honest (KK13 Theorem 4.1, with H modelled as a correlation-robust function).
// Thread-safety: not thread-safe; keeps a reference to the channel. Calls must match in order,
// n, m and l on both sides.
// Errors: kInvalidArgument (bad m, l, sizes or choices ≥ 2^m; before any traffic), the
// channel's kPeerClosed / kTimeout, kUnsupported without AES-NI.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "peregrine/core/aligned.hpp"
#include "peregrine/net/channel.hpp"
#include "peregrine/ot/cot.hpp"
#include "peregrine/ot/derived.hpp"

namespace peregrine::ot {

namespace detail {
struct AesKey;
}

/// Code length k of the KK13 extension (= number of base OTs).
inline constexpr std::size_t kKkotColumns = 256;

/// Sender of KK13 1-out-of-N OT.
class KkotSender {
 public:
  /// s[i] ∈ {0,1} (the base-OT choice bits), keys[i] = k_i^{s_i}; both of size 256
  /// (else kInvalidArgument). `domain` separates hash tweaks between instances.
  KkotSender(net::Channel& ch, std::span<const std::uint8_t> s, std::span<const Block> keys,
             std::uint32_t domain = 0);
  ~KkotSender();
  KkotSender(const KkotSender&) = delete;
  KkotSender& operator=(const KkotSender&) = delete;

  /// 1-out-of-2^m OT on l-bit messages, 1 ≤ m ≤ 8, 1 ≤ l ≤ 64: msgs is [n][2^m] row-major; the
  /// receiver with choice c_i learns msgs[i·2^m + c_i] mod 2^l.
  void send(std::span<const std::uint64_t> msgs, int m, int l);

  /// Seeds the 256 base OTs from 256 random OTs in which this party is the receiver (`rot` pairs
  /// with the peer's OtSender, which must call KkotReceiver::from_rot at the same point).
  static std::unique_ptr<KkotSender> from_rot(OtReceiver& rot, net::Channel& ch, std::uint32_t domain = 0);

 private:
  net::Channel& ch_;
  std::uint64_t domain_;
  std::array<std::uint8_t, kKkotColumns> s_{};
  std::unique_ptr<detail::AesKey[]> keys_;
  std::vector<Block, AlignedAllocator<Block>> cs_;  // C(x) ∧ s for x < 256, two Blocks each
  std::uint64_t ctr_ = 0;                           // PRG block counter (one per 128 OTs)
  std::uint64_t ot_ = 0;                            // running OT index (hash tweak)
  std::vector<Block, AlignedAllocator<Block>> q_, u_, rows_, tmp_;
  std::vector<std::uint64_t> vals_;
  std::vector<std::uint8_t> wire_;
};

/// Receiver of KK13 1-out-of-N OT.
class KkotReceiver {
 public:
  /// keys[i] = {k_i^0, k_i^1}, size 256 (else kInvalidArgument).
  KkotReceiver(net::Channel& ch, std::span<const std::array<Block, 2>> keys, std::uint32_t domain = 0);
  ~KkotReceiver();
  KkotReceiver(const KkotReceiver&) = delete;
  KkotReceiver& operator=(const KkotReceiver&) = delete;

  /// choices[i] < 2^m (else kInvalidArgument); out[i] = the chosen l-bit message.
  void recv(std::span<const std::uint8_t> choices, std::span<std::uint64_t> out, int m, int l);

  /// Seeds the base OTs from 256 random OTs in which this party is the sender.
  static std::unique_ptr<KkotReceiver> from_rot(OtSender& rot, net::Channel& ch, std::uint32_t domain = 0);

 private:
  net::Channel& ch_;
  std::uint64_t domain_;
  std::unique_ptr<detail::AesKey[]> keys0_, keys1_;
  std::uint64_t ctr_ = 0;
  std::uint64_t ot_ = 0;
  std::vector<Block, AlignedAllocator<Block>> t_, u_, d_, rows_, tmp_;
  std::vector<Block, AlignedAllocator<Block>> code_;  // Walsh–Hadamard codewords, 2 Blocks per x < 256
  std::vector<std::uint64_t> pad_;
  std::vector<std::uint8_t> wire_;
};

}  // namespace peregrine::ot
