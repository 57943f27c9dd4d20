#include "peregrine/ot/iknp.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "peregrine/core/error.hpp"
#include "peregrine/ot/base_ot.hpp"
#include "peregrine/ot/kernels.hpp"

namespace peregrine::ot {

namespace {

constexpr std::size_t kK = kIknpBaseOts;  // columns
/// 128-OT chunks processed per PRG call / network piece (16 KiB of u per piece).
constexpr std::size_t kSuper = 8;

Block choices_to_delta(std::span<const std::uint8_t> s) {
  Block d;
  for (std::size_t i = 0; i < kK; ++i) {
    const std::uint64_t bit = s[i] ? 1 : 0;
    if (i < 64) d.lo |= bit << i;
    else d.hi |= bit << (i - 64);
  }
  return d;
}

}  // namespace

// ---- sender ---------------------------------------------------------------------------------

IknpCotSender::IknpCotSender(net::Channel& ch, std::span<const std::uint8_t> base_choices,
                             std::span<const Block> base_keys)
    : ch_(ch) {
  detail::require_aesni();
  require(base_choices.size() == kK && base_keys.size() == kK, ErrorCode::kInvalidArgument,
          "IknpCotSender: need 128 base choices and keys");
  require(base_choices[0] != 0, ErrorCode::kInvalidArgument, "IknpCotSender: s_0 (lsb of Δ) must be 1");
  for (std::size_t i = 0; i < kK; ++i) s_[i] = base_choices[i] ? 1 : 0;
  delta_ = choices_to_delta(s_);
  keys_ = std::make_unique<detail::AesKey[]>(kK);
  for (std::size_t i = 0; i < kK; ++i) detail::aes_expand_key(base_keys[i], keys_[i]);
  q_.resize(kK * kSuper);
  u_.resize(kK * kSuper);
  tail_.resize(kK);
}

IknpCotSender::~IknpCotSender() {
  sodium_memzero(keys_.get(), kK * sizeof(detail::AesKey));
  sodium_memzero(s_.data(), s_.size());
  sodium_memzero(&delta_, sizeof delta_);
}

void IknpCotSender::send_cot(std::span<Block> out) {
  const std::size_t n = out.size();
  const std::size_t chunks = (n + kK - 1) / kK;
  for (std::size_t g0 = 0; g0 < chunks; g0 += kSuper) {
    const std::size_t C = std::min(kSuper, chunks - g0);
    detail::prg_columns(keys_.get(), kK, ctr_, C, q_.data());
    ctr_ += C;
    ch_.recv(u_.data(), kK * C * sizeof(Block));
    detail::xor_selected_columns(q_.data(), u_.data(), s_.data(), kK, C);
    for (std::size_t c = 0; c < C; ++c) {
      const std::size_t row0 = (g0 + c) * kK;
      if (row0 + kK <= n) {
        detail::transpose128(q_.data() + c, C, out.data() + row0);
      } else {
        detail::transpose128(q_.data() + c, C, tail_.data());
        std::copy_n(tail_.data(), n - row0, out.data() + row0);
      }
    }
  }
}

std::unique_ptr<IknpCotSender> IknpCotSender::setup(net::Channel& ch, Prg& prg) {
  std::array<std::uint8_t, kK> s{};
  prg.fill(s.data(), s.size());
  for (auto& b : s) b &= 1;
  s[0] = 1;
  BaseOtReceiver r(prg, s, "iknp");
  r.receive_a_send_b(ch);
  ch.flush();
  std::array<Block, kK> keys;
  r.derive(keys);
  auto out = std::make_unique<IknpCotSender>(ch, s, keys);
  sodium_memzero(keys.data(), sizeof keys);
  sodium_memzero(s.data(), s.size());
  return out;
}

// ---- receiver -------------------------------------------------------------------------------

IknpCotReceiver::IknpCotReceiver(net::Channel& ch, std::span<const std::array<Block, 2>> base_keys)
    : ch_(ch) {
  detail::require_aesni();
  require(base_keys.size() == kK, ErrorCode::kInvalidArgument, "IknpCotReceiver: need 128 base key pairs");
  keys0_ = std::make_unique<detail::AesKey[]>(kK);
  keys1_ = std::make_unique<detail::AesKey[]>(kK);
  for (std::size_t i = 0; i < kK; ++i) {
    detail::aes_expand_key(base_keys[i][0], keys0_[i]);
    detail::aes_expand_key(base_keys[i][1], keys1_[i]);
  }
  t_.resize(kK * kSuper);
  u_.resize(kK * kSuper);
  r_.resize(kSuper);
  tail_.resize(kK);
}

IknpCotReceiver::~IknpCotReceiver() {
  sodium_memzero(keys0_.get(), kK * sizeof(detail::AesKey));
  sodium_memzero(keys1_.get(), kK * sizeof(detail::AesKey));
}

void IknpCotReceiver::recv_cot(std::span<const std::uint8_t> choices, std::span<Block> out) {
  require(choices.size() == out.size(), ErrorCode::kInvalidArgument, "recv_cot: choices/out size mismatch");
  const std::size_t n = out.size();
  const std::size_t chunks = (n + kK - 1) / kK;
  for (std::size_t g0 = 0; g0 < chunks; g0 += kSuper) {
    const std::size_t C = std::min(kSuper, chunks - g0);
    const std::size_t first = g0 * kK;
    detail::pack_bits(choices.data() + first, std::min(C * kK, n - first), r_.data());
    detail::prg_columns(keys0_.get(), kK, ctr_, C, t_.data());
    detail::prg_columns(keys1_.get(), kK, ctr_, C, u_.data());
    ctr_ += C;
    for (std::size_t i = 0; i < kK; ++i) {
      const Block* t = t_.data() + i * C;
      Block* u = u_.data() + i * C;
      for (std::size_t k = 0; k < C; ++k) u[k] ^= t[k] ^ r_[k];
    }
    ch_.send(u_.data(), kK * C * sizeof(Block));
    for (std::size_t c = 0; c < C; ++c) {
      const std::size_t row0 = (g0 + c) * kK;
      if (row0 + kK <= n) {
        detail::transpose128(t_.data() + c, C, out.data() + row0);
      } else {
        detail::transpose128(t_.data() + c, C, tail_.data());
        std::copy_n(tail_.data(), n - row0, out.data() + row0);
      }
    }
  }
  ch_.flush();
}

std::unique_ptr<IknpCotReceiver> IknpCotReceiver::setup(net::Channel& ch, Prg& prg) {
  BaseOtSender s(prg, kK, "iknp");
  s.send_a(ch);
  ch.flush();
  std::array<std::array<Block, 2>, kK> keys;
  s.receive_and_derive(ch, keys);
  auto out = std::make_unique<IknpCotReceiver>(ch, keys);
  sodium_memzero(keys.data(), sizeof keys);
  return out;
}

// ---- both directions ------------------------------------------------------------------------

OtPair setup_iknp(net::Channel& ch, bool is_first_party, Prg& prg) {
  // Instance 0: first party is COT sender; instance 1: second party is COT sender.
  const char* my_sender_label = is_first_party ? "iknp/0" : "iknp/1";
  const char* my_receiver_label = is_first_party ? "iknp/1" : "iknp/0";

  std::array<std::uint8_t, kK> s{};
  prg.fill(s.data(), s.size());
  for (auto& b : s) b &= 1;
  s[0] = 1;
  BaseOtSender bs(prg, kK, my_receiver_label);  // base-OT sender for my COT-receiver instance
  BaseOtReceiver br(prg, s, my_sender_label);   // base-OT receiver for my COT-sender instance
  bs.send_a(ch);
  ch.flush();
  br.receive_a_send_b(ch);
  ch.flush();
  std::array<std::array<Block, 2>, kK> pairs;
  bs.receive_and_derive(ch, pairs);
  std::array<Block, kK> keys;
  br.derive(keys);

  OtPair p;
  p.sender = std::make_unique<IknpCotSender>(ch, s, keys);
  p.receiver = std::make_unique<IknpCotReceiver>(ch, pairs);
  sodium_memzero(pairs.data(), sizeof pairs);
  sodium_memzero(keys.data(), sizeof keys);
  sodium_memzero(s.data(), s.size());
  return p;
}

}  // namespace peregrine::ot
