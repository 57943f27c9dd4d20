// Base oblivious transfer on ristretto255 (libsodium): the seeds of OT extension.
//
// Protocol: the "simplest OT" of T. Chou and C. Orlandi, "The Simplest Protocol for Oblivious
// Transfer", LATINCRYPT 2015 (ePrint 2015/267), batched: one sender message A for all n OTs.
//   sender:   a ← Z_ℓ, A = a·G                                    → A            (32 bytes)
//   receiver: b_i ← Z_ℓ, B_i = b_i·G + c_i·A                      → B_0..B_{n-1} (32·n bytes)
//             k_i      = H(i, A, B_i, b_i·A)
//   sender:   k_i^0    = H(i, A, B_i, a·B_i),  k_i^1 = H(i, A, B_i, a·B_i − a·A)
// H = BLAKE2b (libsodium crypto_generichash) with 16-byte output over the domain separator
// "peregrine/ot/base/co15/v1", the caller's session label, i, A, B_i and the shared point, so keys
// are bound to this transcript. B_i is selected between b_i·G and b_i·G + A in constant time.
//
// Security: semi-honest (passive) security under CDH in the random-oracle model; the receiver's
// choice is perfectly hidden (B_i is uniform either way). Not claimed UC/malicious-secure (see
// Genç–Iovino–Rial, ePrint 2017/370, and Hauck–Loss, ePrint 2017/1011, on the original proof).
// Peer points are rejected unless they are canonical ristretto255 encodings of a non-identity
// element: Error(kProtocol). A shared point that is the identity also gives Error(kProtocol).
//
// Message types: Block (16 bytes) keys, suited as AES-128 PRG seeds.
// Thread-safety: objects are not thread-safe; the functions are re-entrant.
// Errors: kProtocol (invalid peer point), kPeerClosed / kTimeout (channel), kInvalidArgument
// (size mismatch), kCrypto (libsodium init failure).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "peregrine/core/prg.hpp"
#include "peregrine/net/channel.hpp"
#include "peregrine/ot/cot.hpp"

namespace peregrine::ot {

/// Size of one encoded ristretto255 point on the wire (bytes).
inline constexpr std::size_t kPointBytes = 32;

/// Sender side of n batched base OTs, split in its two steps so that two opposite-direction runs
/// can share the rounds of one channel (setup_iknp does so). Use: send_a(); ...; receive_and_derive().
class BaseOtSender {
 public:
  /// Draws the secret scalar a from `prg` (use a Prg::from_os() stream outside tests).
  BaseOtSender(Prg& prg, std::size_t n, std::string session = {});
  ~BaseOtSender();
  BaseOtSender(const BaseOtSender&) = delete;
  BaseOtSender& operator=(const BaseOtSender&) = delete;
  /// Queues A (32 bytes); does not flush.
  void send_a(net::Channel& ch);
  /// Receives B_0..B_{n-1} (32·n bytes), validates them and writes out[i] = {k_i^0, k_i^1}.
  /// out.size() == n.
  void receive_and_derive(net::Channel& ch, std::span<std::array<Block, 2>> out);

 private:
  std::size_t n_;
  std::string session_;
  std::array<std::uint8_t, 32> a_{}, A_{}, aA_{};
};

/// Receiver side of n batched base OTs. Use: receive_a_send_b(); derive().
class BaseOtReceiver {
 public:
  /// choices[i] ∈ {0,1} (nonzero counts as 1); the b_i are drawn from `prg` at construction.
  BaseOtReceiver(Prg& prg, std::span<const std::uint8_t> choices, std::string session = {});
  ~BaseOtReceiver();
  BaseOtReceiver(const BaseOtReceiver&) = delete;
  BaseOtReceiver& operator=(const BaseOtReceiver&) = delete;
  /// Receives and validates A, queues B_0..B_{n-1} (does not flush).
  void receive_a_send_b(net::Channel& ch);
  /// out[i] = k_i^{c_i}. out.size() == n. Call after receive_a_send_b.
  void derive(std::span<Block> out);

 private:
  std::string session_;
  std::vector<std::uint8_t> choices_;
  std::vector<std::array<std::uint8_t, 32>> b_, B_;
  std::array<std::uint8_t, 32> A_{};
  bool have_a_ = false;
};

/// One-call base-OT sender: out[i] = {k_i^0, k_i^1}, n = out.size(). Two message flows.
void base_ot_send(net::Channel& ch, Prg& prg, std::span<std::array<Block, 2>> out,
                  const std::string& session = {});
/// One-call base-OT receiver: out[i] = k_i^{choices[i]}; choices.size() == out.size().
void base_ot_recv(net::Channel& ch, Prg& prg, std::span<const std::uint8_t> choices,
                  std::span<Block> out, const std::string& session = {});

}  // namespace peregrine::ot
