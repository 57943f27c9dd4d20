// Correlated-OT interfaces: the seam between OT back-ends (IKNP now, silent OT later) and every
// protocol of the mpc layer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "peregrine/core/prg.hpp"

namespace peregrine::ot {

/// A 128-bit string (OT message, correlation Δ, PRG/hash block).
struct alignas(16) Block {
  std::uint64_t lo = 0, hi = 0;
  friend Block operator^(Block a, Block b) noexcept { return {a.lo ^ b.lo, a.hi ^ b.hi}; }
  Block& operator^=(Block b) noexcept {
    lo ^= b.lo;
    hi ^= b.hi;
    return *this;
  }
  friend bool operator==(const Block&, const Block&) = default;
  /// Least significant bit (IKNP convention: Δ has lsb 1 so the receiver's messages carry the choice bit).
  bool lsb() const noexcept { return lo & 1; }
};

/// Sender of correlated OT with a global correlation Δ: each call produces n messages m0_i; the
/// receiver obtains m_{b_i} = m0_i ⊕ b_i·Δ for its choice bits b_i. Not thread-safe.
class CotSender {
 public:
  virtual ~CotSender() = default;
  /// The correlation Δ (fixed for the lifetime of the instance).
  virtual Block delta() const noexcept = 0;
  /// Produces out.size() correlated messages m0 (interactive: talks to the paired receiver).
  virtual void send_cot(std::span<Block> out) = 0;
  /// Pairs with the receiver's recv_random_cot. The default is send_cot (a back-end whose
  /// receiver draws its bits itself and derandomises them, as IKNP); a silent back-end whose
  /// choice bits are random by construction overrides it and skips the derandomisation.
  virtual void send_random_cot(std::span<Block> out) { send_cot(out); }
};

/// Receiver of correlated OT. choices[i] ∈ {0, 1}. Not thread-safe.
class CotReceiver {
 public:
  virtual ~CotReceiver() = default;
  /// With chosen bits: out[i] = m0_i ⊕ choices[i]·Δ.
  virtual void recv_cot(std::span<const std::uint8_t> choices, std::span<Block> out) = 0;
  /// With random bits: writes choices_out[i] ∈ {0, 1} and out[i] = m0_i ⊕ choices_out[i]·Δ.
  /// choices_out.size() == out.size().
  /// The paired sender calls send_random_cot. The default draws the bits from `prg` and calls
  /// recv_cot; a back-end whose choice bits are random by construction (silent OT) overrides it
  /// and may ignore `prg`.
  virtual void recv_random_cot(std::span<std::uint8_t> choices_out, std::span<Block> out, Prg& prg) {
    prg.fill(choices_out.data(), choices_out.size());
    for (auto& c : choices_out) c &= 1;
    recv_cot(choices_out, out);
  }
};

}  // namespace peregrine::ot
