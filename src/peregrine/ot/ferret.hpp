// Silent correlated OT in the style of Ferret: the default COT source of the mpc layer (IKNP stays
// available by option, mpc::OtBackend). Implements the CotSender / CotReceiver interfaces of
// cot.hpp, so every derived flavour (derived.hpp) and every protocol runs on it unchanged.
//
// Sources:
//   * K. Yang, C. Weng, X. Lan, J. Zhang, X. Wang, "Ferret: Fast Extension for coRRElated oT with
//     small communication", CCS 2020 (ePrint 2020/924): primal LPN with regular noise and a local
//     linear code (§3, Fig. 7), multi-point COT from single-point COTs on the regular bins (§4),
//     bootstrapping: every iteration reserves the COTs that seed the next (§5).
//   * X. Guo, K. Yang, X. Wang, W. Zhang, X. Xie, J. Zhang, Z. Liu, "Half-Tree: Halving the Cost
//     of Tree Expansion in COT and DPF", EUROCRYPT 2023 (ePrint 2022/1431), §4: the single-point
//     COT of each bin as a GGM tree in which every level sums to Δ, so one 128-bit message per
//     level suffices (h base COTs and h blocks per bin of 2^h leaves).
//
// One iteration with parameters (n, k, t, h), n = t·2^h (sender S holds Δ, receiver R):
//   reserved input: k COTs (S: K_i, R: K_i ⊕ s_i·Δ, s_i random) for the LPN secret, and t·h COTs
//   (S: q, R: q ⊕ b·Δ, b random) for the trees.
//   per bin β < t (positions β·2^h … β·2^h + 2^h − 1), with the h base COTs of the bin:
//     S: random seed σ; level 1 = (σ, σ ⊕ Δ); a node x has children (H(x), x ⊕ H(x)) with H the
//        GKWY20 CCR hash (crhash.hpp), so each level XORs to Δ. K_i^0 = XOR of the left nodes of
//        level i; S sends c_i = K_i^0 ⊕ q_i, i = 1..h.
//     R: c_i ⊕ (q_i ⊕ b_i·Δ) = K_i^{b_i} (as K_i^1 = K_i^0 ⊕ Δ) gives every node of level i except
//        the one on its path α_i = 1 − b_i; the leaf α = (α_1 … α_h)_2 is the XOR of the others
//        (= v_α ⊕ Δ). So R holds w = v ⊕ e·Δ with e the unit vector at α: one noise position per
//        bin, the regular noise of the LPN instance.
//   output j < n: S: y_j = v_j ⊕ ⊕_{d<10} K_{A(j,d)},  R: z_j = w_j ⊕ ⊕_{d<10} (K ⊕ s·Δ)_{A(j,d)}
//     = y_j ⊕ x_j·Δ with choice bit x_j = e_j ⊕ ⊕_d s_{A(j,d)}, pseudo-random under LPN.
//   A is a fixed public matrix with 10 uniform entries per row in [0, k), drawn from AES-128 under
//   a public key (FerretParams::lpn_tag separates the two instances). The first k + t·h outputs
//   of each iteration are reserved for the next one (bootstrapping); the rest are handed out.
// Point-and-permute: every COT of S has lsb 0 and every COT of R carries its choice bit in the
// lsb (Δ has lsb 1); base COTs from another back-end are normalised to this on entry.
//
// Chosen choice bits (recv_cot): R sends d = c ⊕ x (1 bit per COT, packed), S flips y_j by d_j·Δ.
// Random choice bits (recv_random_cot / send_random_cot): no traffic beyond the generation.
//
// Parameters (FerretParams): the current regular-noise primal-LPN sets of the Ferret authors'
// public code (emp-toolkit/emp-ot, emp-ot/ferret/constants.h, PrimalLPNParameter ferret_b13 /
// ferret_b12 / ferret_b11, 128-bit; they replaced the original paper's sets after the later
// analyses of regular LPN), each a set-up instance bootstrapped from any COT back-end (IKNP here)
// and a main instance that bootstraps itself. Peregrine uses ferret_b12: measured in one run (3·10^7
// random COTs, sender and receiver on one core each), b13 / b12 / b11 make about 10 / 17 / 20 M COT/s: the LPN encoding
// reads 10 random rows of the k-block secret per output, and k = 452 000 / 238 000 / 124 000
// blocks (7.2 / 3.8 / 2.0 MB) decides how much of it stays in cache. Their wire cost is t·h·128
// bits per iteration: 0.21 / 0.39 / 0.70 bit per usable COT. b12 is the knee (1.6× the speed of
// b13 for 0.17 bit per COT more; b11 costs 0.31 bit more for another 1.2×).
// Cost with b12: the main instance sends t·h·128 = 3.85 Mbit per 10.0 M usable COTs
// (0.385 bit per COT) from S to R; set-up: k + t·h = 25 784 COTs of the base back-end (0.41 MB
// with IKNP) and one set-up iteration.
// Memory per instance: the current and the next reserve (2·(k + t·h) blocks, 8.6 MB) plus one
// chunk of outputs (64 Ki blocks, 1 MB); outputs are produced chunk by chunk as consumed.
//
// Security: semi-honest, 128-bit computational under regular-noise LPN for the parameters below,
// with H modelled as a circular correlation-robust hash (Half-Tree, Theorem 2), given a
// semi-honest base COT. Seeds σ come from the caller's secure Prg.
// Thread-safety: not thread-safe; keeps references to the channel, the base COT only during
// construction, and to the Prg (must outlive the object). The two parties must make matching
// calls (same sizes, same order).
// Errors: kInvalidArgument for inconsistent parameters or span sizes (before any traffic);
// kProtocol when the peer's derandomisation bits carry junk in the padding; the channel's
// kPeerClosed / kTimeout (a peer that aborts mid-extension); kUnsupported without AES-NI.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "peregrine/core/aligned.hpp"
#include "peregrine/core/prg.hpp"
#include "peregrine/core/workers.hpp"
#include "peregrine/net/channel.hpp"
#include "peregrine/ot/cot.hpp"

namespace peregrine::ot {

/// One regular-noise LPN instance of Ferret: n outputs, secret length k, t noise positions (one per
/// bin of 2^log_bin outputs, n = t·2^log_bin), 10 nonzero entries per row of the public matrix.
struct FerretParams {
  std::size_t n;
  std::size_t k;
  std::size_t t;
  int log_bin;
  std::uint64_t lpn_tag;  ///< separates the public matrices of different instances
  /// COTs an iteration consumes: k (LPN secret) + t·log_bin (trees).
  constexpr std::size_t reserve() const noexcept { return k + t * static_cast<std::size_t>(log_bin); }
};

/// Set-up instance (emp-ot ferret/constants.h, ferret_b12: n_pre = 268 800, k_pre = 17 384,
/// t_pre = 1 050, log_bin_sz_pre = 8): seeded with 25 784 COTs of another back-end.
inline constexpr FerretParams kFerretSetup{268800, 17384, 1050, 8, 1};
/// Main instance (emp-ot ferret/constants.h, ferret_b12: n = 10 268 672, k = 238 000, t = 2 507,
/// log_bin_sz = 12): 10 000 588 usable COTs per iteration after reserving 268 084 for the next.
inline constexpr FerretParams kFerretMain{10268672, 238000, 2507, 12, 2};

/// Counters of one Ferret instance (both roles).
struct FerretStats {
  std::uint64_t iterations = 0;        ///< LPN iterations started (set-up included)
  std::uint64_t cots_out = 0;          ///< COTs handed to the caller
  std::uint64_t base_cots = 0;         ///< COTs taken from the base back-end at set-up
};

namespace detail {
class FerretCore;
}

/// Ferret COT sender (holds Δ, the base sender's Δ).
class FerretCotSender final : public CotSender {
 public:
  /// Bootstraps from `base` (k + t·h COTs of kFerretSetup in random-choice form, paired with the
  /// peer's FerretCotReceiver constructor) and runs the set-up iteration. Interactive.
  FerretCotSender(net::Channel& ch, CotSender& base, Prg& prg,
                  const FerretParams& setup = kFerretSetup, const FerretParams& main = kFerretMain);
  ~FerretCotSender() override;
  FerretCotSender(const FerretCotSender&) = delete;
  FerretCotSender& operator=(const FerretCotSender&) = delete;

  Block delta() const noexcept override;
  /// COTs for the receiver's chosen bits: receives ⌈n/8⌉ bytes of derandomisation bits.
  void send_cot(std::span<Block> out) override;
  /// COTs for the receiver's own random bits (pairs with recv_random_cot): no extra traffic.
  void send_random_cot(std::span<Block> out) override;
  const FerretStats& stats() const noexcept;
  /// Spreads the later refills' tree expansion and LPN rows over `w` (null: this thread only;
  /// must outlive this object). Outputs are the same for every thread count.
  void set_workers(core::Workers* w) noexcept;

 private:
  std::unique_ptr<detail::FerretCore> core_;
  net::Channel& ch_;
  std::vector<std::uint8_t> bits_;
};

/// Ferret COT receiver.
class FerretCotReceiver final : public CotReceiver {
 public:
  /// Pairs with FerretCotSender's constructor; `base` must pair with the peer's base sender.
  FerretCotReceiver(net::Channel& ch, CotReceiver& base, Prg& prg,
                    const FerretParams& setup = kFerretSetup, const FerretParams& main = kFerretMain);
  ~FerretCotReceiver() override;
  FerretCotReceiver(const FerretCotReceiver&) = delete;
  FerretCotReceiver& operator=(const FerretCotReceiver&) = delete;

  /// Sends ⌈n/8⌉ bytes (choices ⊕ the pseudo-random choice bits).
  void recv_cot(std::span<const std::uint8_t> choices, std::span<Block> out) override;
  /// The pseudo-random choice bits of the LPN output; `prg` is not used.
  void recv_random_cot(std::span<std::uint8_t> choices_out, std::span<Block> out, Prg& prg) override;
  const FerretStats& stats() const noexcept;
  /// As FerretCotSender::set_workers.
  void set_workers(core::Workers* w) noexcept;

 private:
  std::unique_ptr<detail::FerretCore> core_;
  net::Channel& ch_;
  std::vector<std::uint8_t> bits_;
};

namespace detail {

/// Local kernels of one bin (no I/O), exposed for tests.
/// Sender: expands the half tree from seed σ under Δ into leaves[2^h] and writes K_i^0 (i = 1..h)
/// to k0[h]; scratch holds 2^(h−1) blocks. 1 ≤ h ≤ 20.
void half_tree_sender(Block seed, Block delta, int h, Block* leaves, Block* k0, Block* scratch) noexcept;
/// Receiver: from K_i^{b_i} (kb[h], level i = index i − 1) and the bits b_i, reconstructs every
/// leaf (the punctured leaf α = Σ (1 − b_i)·2^{h−i} as the XOR of the others) into leaves[2^h];
/// scratch holds 2^h blocks. Returns α.
std::size_t half_tree_receiver(const Block* kb, const std::uint8_t* b, int h, Block* leaves,
                               Block* scratch) noexcept;
/// out[j] ^= ⊕_{d<10} table[A(row0 + j, d)] for j < rows, A the public matrix of `p`; row0 and
/// rows even (chunks start on bin boundaries).
void lpn_encode(const FerretParams& p, std::size_t row0, std::size_t rows, const Block* table,
                Block* out) noexcept;

}  // namespace detail

}  // namespace peregrine::ot
