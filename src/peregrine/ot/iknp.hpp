// IKNP OT extension producing correlated OT (COT) in bulk.
//
// Source: Y. Ishai, J. Kilian, K. Nissim, E. Petrank, "Extending Oblivious Transfers Efficiently",
// CRYPTO 2003, §3 (semi-honest), in the correlated-OT form of G. Asharov, Y. Lindell, T. Schneider,
// M. Zohner, "More Efficient Oblivious Transfer and Extensions for Faster Secure Computation",
// CCS 2013 (base OTs on random seeds expanded by a PRG, no hashing inside the extension; the
// consumer hashes, see derived.hpp). The same COT form as emp-ot and libOTe's IKNP.
//
// With κ = 128 base OTs (the COT sender is the base-OT *receiver* with choice bits s, Δ = s):
//   receiver, per batch of n OTs with choice vector r ∈ {0,1}^n (columns i < 128, n bits each):
//     t_i = G(k_i^0),  u_i = t_i ⊕ G(k_i^1) ⊕ r          → u_0..u_127   (16 bytes per OT)
//   sender: q_i = G(k_i^{s_i}) ⊕ s_i·u_i = t_i ⊕ s_i·r;  row j of Q^T: q^j = t^j ⊕ r_j·Δ.
//   sender output m0_j = q^j, receiver output t^j = m0_j ⊕ r_j·Δ.
// G is AES-128-CTR keyed by the base-OT seed (one AES key schedule per column, block counter
// shared by both parties and never reused within an instance). Δ has lsb 1 (s_0 = 1), the
// point-and-permute convention of cot.hpp; Δ thus has 127 bits of entropy.
//
// Security: semi-honest, assuming a semi-honest base OT (base_ot.hpp) and AES as a PRG. The raw COT
// outputs are correlated; never use them as keys without the correlation-robust hash.
// Cost: 128 bits sent receiver→sender per COT (n rounded up to a multiple of 128), one message
// flow per send_cot/recv_cot call (streamed in pieces of 1024 OTs); 1 AES (sender) and 2 AES
// (receiver) per COT plus a 128×128 bit transpose per 128 COTs.
//
// Thread-safety: instances are not thread-safe and keep a reference to the channel, which must
// outlive them. Both parties must make matching calls in the same order (sizes equal); the
// sender and receiver of one party share the channel, so a party may not use them concurrently.
// Errors: kPeerClosed / kTimeout from the channel (e.g. the peer aborts mid-extension),
// kUnsupported on a CPU without AES-NI, kInvalidArgument for mismatched spans.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "peregrine/core/aligned.hpp"
#include "peregrine/core/prg.hpp"
#include "peregrine/net/channel.hpp"
#include "peregrine/ot/cot.hpp"

namespace peregrine::ot {

namespace detail {
struct AesKey;
}

/// Number of base OTs (the computational security parameter κ).
inline constexpr std::size_t kIknpBaseOts = 128;

/// IKNP COT sender. Construct from the 128 base-OT receiver outputs (see setup_iknp).
class IknpCotSender final : public CotSender {
 public:
  /// base_choices[i] = s_i (bit i of Δ; s_0 must be 1), base_keys[i] = k_i^{s_i}.
  /// Throws kInvalidArgument when the sizes are not 128 or s_0 != 1, kUnsupported without AES-NI.
  IknpCotSender(net::Channel& ch, std::span<const std::uint8_t> base_choices,
                std::span<const Block> base_keys);
  ~IknpCotSender() override;

  Block delta() const noexcept override { return delta_; }
  /// Produces out.size() COTs (any size, 0 allowed: no traffic). Receives 16·⌈n/128⌉·128 bytes.
  void send_cot(std::span<Block> out) override;

  /// Runs the 128 base OTs (as base-OT receiver, choice bits = a fresh Δ from `prg`) and returns
  /// a sender. Pair with IknpCotReceiver::setup on the other side.
  static std::unique_ptr<IknpCotSender> setup(net::Channel& ch, Prg& prg);

 private:
  net::Channel& ch_;
  Block delta_;
  std::array<std::uint8_t, kIknpBaseOts> s_{};
  std::unique_ptr<detail::AesKey[]> keys_;
  std::uint64_t ctr_ = 0;
  std::vector<Block, AlignedAllocator<Block>> q_, u_, tail_;
};

/// IKNP COT receiver. Construct from the 128 base-OT sender outputs (see setup_iknp).
class IknpCotReceiver final : public CotReceiver {
 public:
  /// base_keys[i] = {k_i^0, k_i^1}; size 128 (else kInvalidArgument).
  IknpCotReceiver(net::Channel& ch, std::span<const std::array<Block, 2>> base_keys);
  ~IknpCotReceiver() override;

  /// out[i] = m0_i ⊕ choices[i]·Δ (nonzero choice counts as 1). Sends 16·⌈n/128⌉·128 bytes and
  /// flushes. choices.size() == out.size().
  void recv_cot(std::span<const std::uint8_t> choices, std::span<Block> out) override;

  /// Runs the 128 base OTs as base-OT sender and returns a receiver.
  static std::unique_ptr<IknpCotReceiver> setup(net::Channel& ch, Prg& prg);

 private:
  net::Channel& ch_;
  std::unique_ptr<detail::AesKey[]> keys0_, keys1_;
  std::uint64_t ctr_ = 0;
  std::vector<Block, AlignedAllocator<Block>> t_, u_, r_, tail_;
};

/// Both directions of COT between the two parties over one channel.
struct OtPair {
  std::unique_ptr<CotSender> sender;      ///< this party as COT sender (Δ known here)
  std::unique_ptr<CotReceiver> receiver;  ///< this party as COT receiver (peer's Δ)
};

/// Builds both IKNP instances over `ch`, running the two batches of 128 base OTs interleaved
/// (three message flows in all). Instance 0 has the first party (is_first_party = true) as COT
/// sender, instance 1 the second; each uses its own session label "iknp/0", "iknp/1".
/// `prg` supplies all secrets (Prg::from_os() outside tests).
/// Errors: as base_ot.hpp and the channel.
OtPair setup_iknp(net::Channel& ch, bool is_first_party, Prg& prg);

}  // namespace peregrine::ot
