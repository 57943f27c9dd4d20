#include "peregrine/ot/base_ot.hpp"

#include <sodium.h>

#include <cstring>

#include "peregrine/core/error.hpp"

namespace peregrine::ot {

namespace {

using Bytes32 = std::array<std::uint8_t, 32>;
constexpr char kDomain[] = "peregrine/ot/base/co15/v1";

void ensure_sodium() {
  if (sodium_init() < 0) throw Error(ErrorCode::kCrypto, "libsodium initialisation failed");
}

/// A uniform non-zero scalar mod ℓ from 64 PRG bytes (wide reduction, negligible bias).
Bytes32 random_scalar(Prg& prg) {
  Bytes32 s{};
  std::uint8_t wide[crypto_core_ristretto255_NONREDUCEDSCALARBYTES];
  do {
    prg.fill(wide, sizeof wide);
    crypto_core_ristretto255_scalar_reduce(s.data(), wide);
  } while (sodium_is_zero(s.data(), s.size()));
  sodium_memzero(wide, sizeof wide);
  return s;
}

/// Validates a peer point: canonical encoding of a non-identity group element.
/// libsodium 1.0.18 ignores the top bit of the encoding (later versions reject it); RFC 9496 §4.3.1
/// requires it to be 0, so it is checked here explicitly.
void check_point(const std::uint8_t* p, const char* what) {
  if ((p[31] & 0x80) != 0 || crypto_core_ristretto255_is_valid_point(p) != 1)
    throw Error(ErrorCode::kProtocol, std::string("base OT: invalid ristretto255 point ") + what);
}

Block derive_key(const std::string& session, std::uint64_t i, const Bytes32& A, const std::uint8_t* B,
                 const std::uint8_t* P) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 16);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kDomain), sizeof kDomain);
  std::uint8_t len[8], idx[8];
  const std::uint64_t sl = session.size();
  for (int k = 0; k < 8; ++k) {
    len[k] = static_cast<std::uint8_t>(sl >> (8 * k));
    idx[k] = static_cast<std::uint8_t>(i >> (8 * k));
  }
  crypto_generichash_update(&st, len, 8);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(session.data()), session.size());
  crypto_generichash_update(&st, idx, 8);
  crypto_generichash_update(&st, A.data(), 32);
  crypto_generichash_update(&st, B, 32);
  crypto_generichash_update(&st, P, 32);
  std::uint8_t out[16];
  crypto_generichash_final(&st, out, 16);
  Block b;
  std::memcpy(&b.lo, out, 8);
  std::memcpy(&b.hi, out + 8, 8);
  sodium_memzero(out, sizeof out);
  return b;
}

}  // namespace

// ---- sender ---------------------------------------------------------------------------------

BaseOtSender::BaseOtSender(Prg& prg, std::size_t n, std::string session)
    : n_(n), session_(std::move(session)) {
  ensure_sodium();
  a_ = random_scalar(prg);
  if (crypto_scalarmult_ristretto255_base(A_.data(), a_.data()) != 0 ||
      crypto_scalarmult_ristretto255(aA_.data(), a_.data(), A_.data()) != 0)
    throw Error(ErrorCode::kCrypto, "base OT: scalar multiplication failed");
}

BaseOtSender::~BaseOtSender() {
  sodium_memzero(a_.data(), a_.size());
  sodium_memzero(aA_.data(), aA_.size());
}

void BaseOtSender::send_a(net::Channel& ch) { ch.send(A_.data(), A_.size()); }

void BaseOtSender::receive_and_derive(net::Channel& ch, std::span<std::array<Block, 2>> out) {
  require(out.size() == n_, ErrorCode::kInvalidArgument, "base OT sender: output size != n");
  std::vector<std::uint8_t> B(n_ * kPointBytes);
  ch.recv(B.data(), B.size());
  Bytes32 aB{}, aB_minus{};
  for (std::size_t i = 0; i < n_; ++i) {
    const std::uint8_t* Bi = B.data() + i * kPointBytes;
    check_point(Bi, "B_i");
    // a·B_i: fails (-1) only when the result is the identity, i.e. B_i is the identity.
    if (crypto_scalarmult_ristretto255(aB.data(), a_.data(), Bi) != 0)
      throw Error(ErrorCode::kProtocol, "base OT: peer point B_i is the identity");
    if (crypto_core_ristretto255_sub(aB_minus.data(), aB.data(), aA_.data()) != 0)
      throw Error(ErrorCode::kCrypto, "base OT: point subtraction failed");
    out[i][0] = derive_key(session_, i, A_, Bi, aB.data());
    out[i][1] = derive_key(session_, i, A_, Bi, aB_minus.data());
  }
  sodium_memzero(aB.data(), 32);
  sodium_memzero(aB_minus.data(), 32);
}

// ---- receiver -------------------------------------------------------------------------------

BaseOtReceiver::BaseOtReceiver(Prg& prg, std::span<const std::uint8_t> choices, std::string session)
    : session_(std::move(session)), choices_(choices.begin(), choices.end()) {
  ensure_sodium();
  b_.resize(choices_.size());
  for (auto& b : b_) b = random_scalar(prg);
}

BaseOtReceiver::~BaseOtReceiver() {
  for (auto& b : b_) sodium_memzero(b.data(), b.size());
  sodium_memzero(choices_.data(), choices_.size());
}

void BaseOtReceiver::receive_a_send_b(net::Channel& ch) {
  ch.recv(A_.data(), A_.size());
  check_point(A_.data(), "A");
  if (sodium_is_zero(A_.data(), A_.size()))  // the identity encodes as 32 zero bytes
    throw Error(ErrorCode::kProtocol, "base OT: peer point A is the identity");
  have_a_ = true;
  const std::size_t n = choices_.size();
  B_.resize(n);
  std::vector<std::uint8_t> wire(n * kPointBytes);
  Bytes32 B0{}, B1{};
  for (std::size_t i = 0; i < n; ++i) {
    if (crypto_scalarmult_ristretto255_base(B0.data(), b_[i].data()) != 0 ||
        crypto_core_ristretto255_add(B1.data(), B0.data(), A_.data()) != 0)
      throw Error(ErrorCode::kCrypto, "base OT: point arithmetic failed");
    const std::uint8_t mask = static_cast<std::uint8_t>(0u - static_cast<unsigned>(choices_[i] != 0));
    for (std::size_t k = 0; k < 32; ++k)
      B_[i][k] = static_cast<std::uint8_t>(B0[k] ^ (mask & (B0[k] ^ B1[k])));
    std::memcpy(wire.data() + i * kPointBytes, B_[i].data(), kPointBytes);
  }
  ch.send(wire.data(), wire.size());
}

void BaseOtReceiver::derive(std::span<Block> out) {
  require(have_a_, ErrorCode::kInvalidArgument, "base OT receiver: derive before receive_a_send_b");
  require(out.size() == choices_.size(), ErrorCode::kInvalidArgument, "base OT receiver: output size != n");
  Bytes32 P{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (crypto_scalarmult_ristretto255(P.data(), b_[i].data(), A_.data()) != 0)
      throw Error(ErrorCode::kProtocol, "base OT: shared point is the identity");
    out[i] = derive_key(session_, i, A_, B_[i].data(), P.data());
  }
  sodium_memzero(P.data(), 32);
}

// ---- one-call wrappers ----------------------------------------------------------------------

void base_ot_send(net::Channel& ch, Prg& prg, std::span<std::array<Block, 2>> out, const std::string& session) {
  BaseOtSender s(prg, out.size(), session);
  s.send_a(ch);
  ch.flush();
  s.receive_and_derive(ch, out);
}

void base_ot_recv(net::Channel& ch, Prg& prg, std::span<const std::uint8_t> choices, std::span<Block> out,
                  const std::string& session) {
  require(choices.size() == out.size(), ErrorCode::kInvalidArgument, "base_ot_recv: size mismatch");
  BaseOtReceiver r(prg, choices, session);
  r.receive_a_send_b(ch);
  ch.flush();
  r.derive(out);
}

}  // namespace peregrine::ot
