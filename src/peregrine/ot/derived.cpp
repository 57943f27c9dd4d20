#include "peregrine/ot/derived.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "peregrine/core/error.hpp"
#include "peregrine/ot/kernels.hpp"
#include "peregrine/ot/packing.hpp"

namespace peregrine::ot {

namespace {

// Tweak kinds (domain separation of the pads). 2 was the per-message PRF of the 1-of-N OT before
// hello version 4; it is not reused.
enum Kind : std::uint64_t { kPad = 0, kBytesPad = 1, kSlot = 3, kModPad = 4 };

void check_l(int l) {
  require(l >= 1 && l <= 64, ErrorCode::kInvalidArgument, "OT: bit width l must be in [1, 64]");
}

using detail::extract_value;
using detail::grow;
using detail::mask_of;
using detail::pack_values;

// 1-of-N OT from m COTs (Naor–Pinkas 1999 §4 "1-out-of-N from log N 1-out-of-2", with the PRF
// F_K(x) = slot x of a TCCR expansion of K). Each of the 2m keys K_k^β of one OT is hashed into
// nb = ⌈N·l/128⌉ blocks read as N slots of l bits; the pad of message x is the XOR over k of slot x
// of K_k^{x_k}. For x ≠ c some k has x_k ≠ c_k, and slot x of K_k^{1−c_k} appears in no other
// pad, so the pads the receiver cannot compute are independent and uniform. Costs 2m·nb TCCR
// hashes for the sender and m·nb for the receiver (against N·m and m before: 30 → 6 for N = 8,
// l = 2). Reconstruction (SECURITY.md, "1-of-N OT").
std::size_t slot_blocks(std::size_t N, int l) { return (N * static_cast<std::size_t>(l) + 127) / 128; }

// OTs per super-batch of a call with `batch` OTs per batch and `cots` COTs per OT: whole batches,
// about kSuperBatchCots COTs (at least one batch).
std::size_t super_batch_ots(std::size_t batch, std::size_t cots) {
  return std::max<std::size_t>(1, kSuperBatchCots / (cots * batch)) * batch;
}

// Slot x (l bits) of the nb-block expansion at p.
inline std::uint64_t slot_value(const Block* p, std::size_t nb, std::size_t x, int l) noexcept {
  if (nb == 1 && x * static_cast<std::size_t>(l) + static_cast<std::size_t>(l) <= 64)
    return (p->lo >> (x * static_cast<std::size_t>(l))) & mask_of(l);
  return extract_value(reinterpret_cast<const std::uint8_t*>(p), nb * sizeof(Block), x, l);
}

}  // namespace

// ---- sender ---------------------------------------------------------------------------------

OtSender::OtSender(CotSender& cot, net::Channel& ch, std::uint32_t domain)
    : cot_(cot), ch_(ch), domain_(domain) {
  detail::require_aesni();
}

Block OtSender::tweak(std::uint64_t kind, std::uint64_t sub) const noexcept {
  return Block{ctr_, (domain_ << 40) | (kind << 32) | sub};
}

void OtSender::cot_and_hash(std::size_t n, bool random_choices) {
  grow(q_, n);
  grow(h0_, n);
  grow(h1_, n);
  if (random_choices) cot_.send_random_cot(std::span<Block>(q_.data(), n));
  else cot_.send_cot(std::span<Block>(q_.data(), n));
  const Block t = tweak(kPad, 0);
  detail::tccr_hash_kernel(q_.data(), t, h0_.data(), n);
  const Block d = cot_.delta();
  for (std::size_t i = 0; i < n; ++i) h1_[i] = q_[i] ^ d;
  detail::tccr_hash_kernel(h1_.data(), t, h1_.data(), n);
}

void OtSender::cot_and_expand(std::size_t b, std::size_t nb, std::uint64_t kind) {
  grow(q_, b);
  cot_.send_cot(std::span<Block>(q_.data(), b));
  expand(b, nb, kind);
}

void OtSender::send_values(std::size_t count, int l) {
  const std::size_t nbytes = packed_bytes(count, l);
  grow(wire_, nbytes);
  pack_values(vals_.data(), count, l, wire_.data());
  ch_.send(wire_.data(), nbytes);
}

void OtSender::expand(std::size_t b, std::size_t nb, std::uint64_t kind, const Block* q) {
  if (q == nullptr) q = q_.data();
  grow(in_, 2 * b * nb);
  grow(tw_, 2 * b * nb);
  const Block d = cot_.delta();
  for (std::size_t i = 0; i < b; ++i)
    for (std::size_t k = 0; k < nb; ++k) {
      const Block t{ctr_ + i, (domain_ << 40) | (kind << 32) | k};
      in_[i * nb + k] = q[i];
      in_[(b + i) * nb + k] = q[i] ^ d;
      tw_[i * nb + k] = t;
      tw_[(b + i) * nb + k] = t;
    }
  detail::tccr_hash_tweaks_kernel(in_.data(), tw_.data(), in_.data(), 2 * b * nb);
}

void OtSender::send_rot(std::span<std::array<Block, 2>> out) {
  for (std::size_t off = 0; off < out.size(); off += kDerivedBatch) {
    const std::size_t b = std::min(kDerivedBatch, out.size() - off);
    cot_and_hash(b, /*random_choices=*/true);
    for (std::size_t i = 0; i < b; ++i) out[off + i] = {h0_[i], h1_[i]};
    ctr_ += b;
  }
}

void OtSender::send_chosen(std::span<const std::uint64_t> m0, std::span<const std::uint64_t> m1, int l) {
  check_l(l);
  require(m0.size() == m1.size(), ErrorCode::kInvalidArgument, "send_chosen: m0/m1 size mismatch");
  const std::uint64_t mask = mask_of(l);
  for (std::size_t off = 0; off < m0.size(); off += kDerivedBatch) {
    const std::size_t b = std::min(kDerivedBatch, m0.size() - off);
    cot_and_hash(b);
    grow(vals_, 2 * b);
    for (std::size_t i = 0; i < b; ++i) {
      vals_[2 * i] = (m0[off + i] ^ h0_[i].lo) & mask;
      vals_[2 * i + 1] = (m1[off + i] ^ h1_[i].lo) & mask;
    }
    send_values(2 * b, l);
    ctr_ += b;
  }
  ch_.flush();
}

void OtSender::send_chosen_bytes(std::span<const std::uint8_t> m0, std::span<const std::uint8_t> m1,
                                 std::size_t msg_bytes) {
  require(msg_bytes >= 1, ErrorCode::kInvalidArgument, "send_chosen_bytes: msg_bytes must be >= 1");
  require(m0.size() == m1.size() && m0.size() % msg_bytes == 0, ErrorCode::kInvalidArgument,
          "send_chosen_bytes: m0/m1 must both hold n * msg_bytes bytes");
  const std::size_t n = m0.size() / msg_bytes;
  const std::size_t nb = (msg_bytes + 15) / 16;  // pad blocks per message
  const std::size_t batch = std::max<std::size_t>(1, kDerivedBatch / nb);
  for (std::size_t off = 0; off < n; off += batch) {
    const std::size_t b = std::min(batch, n - off);
    cot_and_expand(b, nb, kBytesPad);
    grow(wire_, 2 * b * msg_bytes);
    for (std::size_t i = 0; i < b; ++i)
      for (int s = 0; s < 2; ++s) {
        const std::uint8_t* msg = (s ? m1 : m0).data() + (off + i) * msg_bytes;
        const auto* pad = reinterpret_cast<const std::uint8_t*>(in_.data() + (s * b + i) * nb);
        std::uint8_t* w = wire_.data() + (2 * i + s) * msg_bytes;
        for (std::size_t k = 0; k < msg_bytes; ++k) w[k] = msg[k] ^ pad[k];
      }
    ch_.send(wire_.data(), 2 * b * msg_bytes);
    ctr_ += b;
  }
  ch_.flush();
}

void OtSender::send_1_of_n(std::span<const std::uint64_t> msgs, int m, int l) {
  check_l(l);
  require(m >= 1 && m <= kMaxOneOfNBits, ErrorCode::kInvalidArgument, "send_1_of_n: m must be in [1, 8]");
  const std::size_t N = std::size_t{1} << m, M = static_cast<std::size_t>(m);
  require(msgs.size() % N == 0, ErrorCode::kInvalidArgument, "send_1_of_n: msgs must hold n * 2^m values");
  const std::size_t n = msgs.size() / N;
  if (n == 0) return;
  const std::uint64_t mask = mask_of(l);
  const std::size_t nb = slot_blocks(N, l);
  const std::size_t batch = std::max<std::size_t>(1, kDerivedBatch / (M * nb));
  const bool one_word = N * static_cast<std::size_t>(l) <= 64;
  std::uint64_t sel[kMaxOneOfNBits] = {};  // one_word: slot x of sel[k] is all ones iff bit k of x is 1
  if (one_word)
    for (std::size_t k = 0; k < M; ++k)
      for (std::size_t x = 0; x < N; ++x)
        if ((x >> k) & 1) sel[k] |= mask << (x * static_cast<std::size_t>(l));
  // Super-batches (see recv_1_of_n): the random COTs of a super-batch are taken at once, the
  // receiver's corrections for all of it arrive in one piece, then its batches' messages go out.
  const std::size_t super = super_batch_ots(batch, M);
  for (std::size_t s0 = 0; s0 < n; s0 += super) {
    const std::size_t sn = std::min(super, n - s0), sm = sn * M;
    grow(q_, sm);
    cot_.send_random_cot(std::span<Block>(q_.data(), sm));
    // The receiver's corrections d (bit per COT): its choice bit is c = r ⊕ d for its random r,
    // so key K^β of a COT is the expansion of side β ⊕ d.
    grow(dbits_, (sm + 7) / 8);
    ch_.recv(dbits_.data(), (sm + 7) / 8);
    if (sm % 8) require((dbits_[sm / 8] >> (sm % 8)) == 0, ErrorCode::kProtocol,
                        "1-of-N OT: junk in the padding of the peer's choice corrections");
    for (std::size_t off = s0; off < s0 + sn; off += batch) {
      const std::size_t b = std::min(batch, s0 + sn - off), bm = b * M, base = (off - s0) * M;
      expand(bm, nb, kSlot, q_.data() + base);
      auto dbit = [&](std::size_t i) {
        return static_cast<std::size_t>((dbits_[(base + i) / 8] >> ((base + i) % 8)) & 1);
      };
      grow(vals_, b * N);
      if (one_word) {
        // All N pads of one OT in one word: slot x of key k comes from side (x_k ⊕ d).
        for (std::size_t j = 0; j < b; ++j) {
          std::uint64_t pads = 0;
          for (std::size_t k = 0; k < M; ++k) {
            const std::uint64_t swap = 0 - static_cast<std::uint64_t>(dbit(j * M + k));
            const std::uint64_t s0v = in_[j * M + k].lo, s1v = in_[bm + j * M + k].lo, t = (s0v ^ s1v) & swap;
            pads ^= ((s0v ^ t) & ~sel[k]) | ((s1v ^ t) & sel[k]);
          }
          for (std::size_t x = 0; x < N; ++x)
            vals_[j * N + x] = (msgs[(off + j) * N + x] ^ (pads >> (x * static_cast<std::size_t>(l)))) & mask;
        }
      } else {
        for (std::size_t j = 0; j < b; ++j)
          for (std::size_t x = 0; x < N; ++x) {
            std::uint64_t pad = 0;
            for (std::size_t k = 0; k < M; ++k) {
              const std::size_t key = (((x >> k) & 1) ^ dbit(j * M + k)) * bm + j * M + k;
              pad ^= slot_value(in_.data() + key * nb, nb, x, l);
            }
            vals_[j * N + x] = (msgs[(off + j) * N + x] ^ pad) & mask;
          }
      }
      send_values(b * N, l);
      ch_.flush();
      ctr_ += bm;
    }
  }
}

void OtSender::send_cot_additive(std::span<const std::uint64_t> delta, std::span<std::uint64_t> x_out, int l,
                                 std::size_t width) {
  check_l(l);
  require(width >= 1, ErrorCode::kInvalidArgument, "send_cot_additive: width must be >= 1");
  require(delta.size() == x_out.size() && delta.size() % width == 0, ErrorCode::kInvalidArgument,
          "send_cot_additive: delta and x_out must both hold n * width values");
  const std::uint64_t mask = mask_of(l);
  const std::size_t nb = (width + 1) / 2;  // pad blocks per side
  send_expanded(delta.size() / width, nb, kPad, width, l,
                [&](std::size_t off, std::size_t b, const std::uint64_t* h0, const std::uint64_t* h1) {
                  for (std::size_t i = 0; i < b; ++i)
                    for (std::size_t k = 0; k < width; ++k) {
                      const std::uint64_t x = h0[i * 2 * nb + k] & mask;
                      x_out[(off + i) * width + k] = x;
                      vals_[i * width + k] = (x + delta[(off + i) * width + k] - h1[i * 2 * nb + k]) & mask;
                    }
                });
}

template <class Fill>
void OtSender::send_expanded(std::size_t n, std::size_t nb, std::uint64_t kind, std::size_t values_per_ot, int l,
                             Fill&& fill) {
  const std::size_t batch = std::max<std::size_t>(1, kDerivedBatch / nb);
  // Super-batches: the COTs of a super-batch (the receiver's derandomisation bits in one piece),
  // then its batches' messages, each flushed.
  const std::size_t super = super_batch_ots(batch, 1);
  for (std::size_t s0 = 0; s0 < n; s0 += super) {
    const std::size_t sn = std::min(super, n - s0);
    grow(q_, sn);
    cot_.send_cot(std::span<Block>(q_.data(), sn));
    for (std::size_t off = s0; off < s0 + sn; off += batch) {
      const std::size_t b = std::min(batch, s0 + sn - off);
      expand(b, nb, kind, q_.data() + (off - s0));
      grow(vals_, b * values_per_ot);
      fill(off, b, reinterpret_cast<const std::uint64_t*>(in_.data()),            // [b][2·nb]
           reinterpret_cast<const std::uint64_t*>(in_.data() + b * nb));          // [b][2·nb]
      send_values(b * values_per_ot, l);
      ch_.flush();
      ctr_ += b;
    }
  }
}

namespace {
int modulus_bits(std::uint64_t t) {
  require(t >= 2 && t < (std::uint64_t{1} << 62), ErrorCode::kInvalidArgument, "additive COT mod t: t must be in [2, 2^62)");
  return std::max(static_cast<int>(std::bit_width(t - 1)), 1);  // values below t
}
// The 128-bit pad block reduced mod t.
std::uint64_t pad_mod(const std::uint64_t* h, std::uint64_t t) {
  const unsigned __int128 v = (static_cast<unsigned __int128>(h[1]) << 64) | h[0];
  return static_cast<std::uint64_t>(v % t);
}
}  // namespace

void OtSender::send_cot_additive_mod(std::span<const std::uint64_t> delta, std::span<std::uint64_t> x_out, std::uint64_t t) {
  const int l = modulus_bits(t);
  require(delta.size() == x_out.size(), ErrorCode::kInvalidArgument, "send_cot_additive_mod: sizes differ");
  for (std::uint64_t d : delta) require(d < t, ErrorCode::kInvalidArgument, "send_cot_additive_mod: delta not below t");
  send_expanded(delta.size(), 1, kModPad, 1, l,
                [&](std::size_t off, std::size_t b, const std::uint64_t* h0, const std::uint64_t* h1) {
                  for (std::size_t i = 0; i < b; ++i) {
                    const std::uint64_t x = pad_mod(h0 + 2 * i, t), y1 = pad_mod(h1 + 2 * i, t);
                    x_out[off + i] = x;
                    // x + Δ − pad1 mod t: the receiver with choice 1 adds its pad (pad1) back.
                    vals_[i] = static_cast<std::uint64_t>((static_cast<unsigned __int128>(x) + delta[off + i] + (t - y1)) % t);
                  }
                });
}

// ---- receiver -------------------------------------------------------------------------------

OtReceiver::OtReceiver(CotReceiver& cot, net::Channel& ch, Prg& prg, std::uint32_t domain)
    : cot_(cot), ch_(ch), prg_(prg), domain_(domain) {
  detail::require_aesni();
}

Block OtReceiver::tweak(std::uint64_t kind, std::uint64_t sub) const noexcept {
  return Block{ctr_, (domain_ << 40) | (kind << 32) | sub};
}

void OtReceiver::cot_and_hash(std::span<const std::uint8_t> choices) {
  const std::size_t n = choices.size();
  grow(t_, n);
  grow(h_, n);
  cot_.recv_cot(choices, std::span<Block>(t_.data(), n));
  detail::tccr_hash_kernel(t_.data(), tweak(kPad, 0), h_.data(), n);
}

void OtReceiver::cot_and_expand(std::span<const std::uint8_t> choices, std::size_t nb, std::uint64_t kind) {
  const std::size_t b = choices.size();
  grow(t_, b);
  cot_.recv_cot(choices, std::span<Block>(t_.data(), b));
  grow(in_, b * nb);
  expand(t_.data(), b, nb, kind, in_.data());
}

void OtReceiver::expand(const Block* t, std::size_t b, std::size_t nb, std::uint64_t kind, Block* dst) {
  grow(tw_, b * nb);
  for (std::size_t i = 0; i < b; ++i)
    for (std::size_t k = 0; k < nb; ++k) {
      dst[i * nb + k] = t[i];
      tw_[i * nb + k] = Block{ctr_ + i, (domain_ << 40) | (kind << 32) | k};
    }
  detail::tccr_hash_tweaks_kernel(dst, tw_.data(), dst, b * nb);
}

void OtReceiver::recv_rot(std::span<std::uint8_t> choices_out, std::span<Block> out) {
  require(choices_out.size() == out.size(), ErrorCode::kInvalidArgument, "recv_rot: size mismatch");
  for (std::size_t off = 0; off < out.size(); off += kDerivedBatch) {
    const std::size_t b = std::min(kDerivedBatch, out.size() - off);
    grow(t_, b);
    cot_.recv_random_cot(choices_out.subspan(off, b), std::span<Block>(t_.data(), b), prg_);
    detail::tccr_hash_kernel(t_.data(), tweak(kPad, 0), out.data() + off, b);
    ctr_ += b;
  }
}

void OtReceiver::recv_chosen(std::span<const std::uint8_t> choices, std::span<std::uint64_t> out, int l) {
  check_l(l);
  require(choices.size() == out.size(), ErrorCode::kInvalidArgument, "recv_chosen: size mismatch");
  const std::uint64_t mask = mask_of(l);
  for (std::size_t off = 0; off < out.size(); off += kDerivedBatch) {
    const std::size_t b = std::min(kDerivedBatch, out.size() - off);
    cot_and_hash(choices.subspan(off, b));
    const std::size_t nbytes = packed_bytes(2 * b, l);
    grow(wire_, nbytes);
    ch_.recv(wire_.data(), nbytes);
    for (std::size_t i = 0; i < b; ++i) {
      // Select without a secret-dependent branch or address.
      const std::uint64_t sel = 0 - static_cast<std::uint64_t>(choices[off + i] != 0);
      const std::uint64_t y0 = extract_value(wire_.data(), nbytes, 2 * i, l);
      const std::uint64_t y1 = extract_value(wire_.data(), nbytes, 2 * i + 1, l);
      out[off + i] = ((y0 ^ (sel & (y0 ^ y1))) ^ h_[i].lo) & mask;
    }
    ctr_ += b;
  }
}

void OtReceiver::recv_chosen_bytes(std::span<const std::uint8_t> choices, std::span<std::uint8_t> out,
                                   std::size_t msg_bytes) {
  require(msg_bytes >= 1, ErrorCode::kInvalidArgument, "recv_chosen_bytes: msg_bytes must be >= 1");
  require(out.size() == choices.size() * msg_bytes, ErrorCode::kInvalidArgument,
          "recv_chosen_bytes: out must hold n * msg_bytes bytes");
  const std::size_t n = choices.size();
  const std::size_t nb = (msg_bytes + 15) / 16;
  const std::size_t batch = std::max<std::size_t>(1, kDerivedBatch / nb);
  for (std::size_t off = 0; off < n; off += batch) {
    const std::size_t b = std::min(batch, n - off);
    cot_and_expand(choices.subspan(off, b), nb, kBytesPad);
    grow(wire_, 2 * b * msg_bytes);
    ch_.recv(wire_.data(), 2 * b * msg_bytes);
    for (std::size_t i = 0; i < b; ++i) {
      const std::size_t c = choices[off + i] ? 1 : 0;
      const std::uint8_t* y = wire_.data() + (2 * i + c) * msg_bytes;
      const auto* pad = reinterpret_cast<const std::uint8_t*>(in_.data() + i * nb);
      std::uint8_t* o = out.data() + (off + i) * msg_bytes;
      for (std::size_t k = 0; k < msg_bytes; ++k) o[k] = y[k] ^ pad[k];
    }
    ctr_ += b;
  }
}

void OtReceiver::recv_1_of_n(std::span<const std::uint8_t> choices, std::span<std::uint64_t> out, int m, int l) {
  check_l(l);
  require(m >= 1 && m <= kMaxOneOfNBits, ErrorCode::kInvalidArgument, "recv_1_of_n: m must be in [1, 8]");
  require(choices.size() == out.size(), ErrorCode::kInvalidArgument, "recv_1_of_n: size mismatch");
  const std::size_t N = std::size_t{1} << m, M = static_cast<std::size_t>(m);
  for (const std::uint8_t c : choices)
    require(c < N, ErrorCode::kInvalidArgument, "recv_1_of_n: choice out of [0, 2^m)");
  const std::size_t n = choices.size();
  if (n == 0) return;
  const std::uint64_t mask = mask_of(l);
  const std::size_t nb = slot_blocks(N, l);
  const std::size_t batch = std::max<std::size_t>(1, kDerivedBatch / (M * nb));
  // Super-batches of about kSuperBatchCots COTs: the receiver takes a super-batch's random COTs,
  // sends the corrections d = c ⊕ r for all of it in one piece, then hashes each batch's keys and
  // reads its messages while the sender works on the next batch. One round trip per super-batch
  // (not per batch: on a 40 ms link the per-batch exchange was most of a ReLU's time), and every
  // byte stream (a back-end's own traffic included) is read in the order it is written: both
  // parties take a super-batch's COTs at the same point of the exchange.
  const std::size_t super = super_batch_ots(batch, M);
  for (std::size_t s0 = 0; s0 < n; s0 += super) {
    const std::size_t sn = std::min(super, n - s0), sm = sn * M;
    grow(t_, sm);
    grow(rbits_, sm);
    cot_.recv_random_cot(std::span<std::uint8_t>(rbits_.data(), sm), std::span<Block>(t_.data(), sm), prg_);
    bits_.assign((sm + 7) / 8, 0);
    for (std::size_t j = 0; j < sn; ++j)
      for (std::size_t k = 0; k < M; ++k) {
        const std::size_t i = j * M + k;
        const unsigned d = ((choices[s0 + j] >> k) & 1u) ^ (rbits_[i] & 1u);
        bits_[i / 8] |= static_cast<std::uint8_t>(d << (i % 8));
      }
    ch_.send(bits_.data(), bits_.size());
    ch_.flush();
    for (std::size_t off = s0; off < s0 + sn; off += batch) {
      const std::size_t b = std::min(batch, s0 + sn - off), bm = b * M;
      grow(in_, bm * nb);
      expand(t_.data() + (off - s0) * M, bm, nb, kSlot, in_.data());  // K_{j,k}^{c_k}
      ctr_ += bm;
      const std::size_t nbytes = packed_bytes(b * N, l);
      grow(wire_, nbytes);
      ch_.recv(wire_.data(), nbytes);
      for (std::size_t j = 0; j < b; ++j) {
        const std::size_t c = choices[off + j];
        std::uint64_t pad = 0;
        for (std::size_t k = 0; k < M; ++k) pad ^= slot_value(in_.data() + (j * M + k) * nb, nb, c, l);
        out[off + j] = (extract_value(wire_.data(), nbytes, j * N + c, l) ^ pad) & mask;
      }
    }
  }
}

void OtReceiver::recv_cot_additive(std::span<const std::uint8_t> choices, std::span<std::uint64_t> out, int l,
                                   std::size_t width) {
  check_l(l);
  require(width >= 1, ErrorCode::kInvalidArgument, "recv_cot_additive: width must be >= 1");
  require(out.size() == choices.size() * width, ErrorCode::kInvalidArgument,
          "recv_cot_additive: out must hold n * width values");
  const std::uint64_t mask = mask_of(l);
  const std::size_t nb = (width + 1) / 2;
  recv_expanded(choices, nb, kPad, width, l, [&](std::size_t off, std::size_t b, const std::uint64_t* h, std::size_t nbytes) {
    for (std::size_t i = 0; i < b; ++i) {
      const std::uint64_t sel = 0 - static_cast<std::uint64_t>(choices[off + i] != 0);
      for (std::size_t k = 0; k < width; ++k) {
        const std::uint64_t y = extract_value(wire_.data(), nbytes, i * width + k, l);
        out[(off + i) * width + k] = (h[i * 2 * nb + k] + (y & sel)) & mask;
      }
    }
  });
}

template <class Read>
void OtReceiver::recv_expanded(std::span<const std::uint8_t> choices, std::size_t nb, std::uint64_t kind,
                               std::size_t values_per_ot, int l, Read&& read) {
  const std::size_t n = choices.size();
  const std::size_t batch = std::max<std::size_t>(1, kDerivedBatch / nb);
  const std::size_t super = super_batch_ots(batch, 1);  // as OtSender::send_expanded
  for (std::size_t s0 = 0; s0 < n; s0 += super) {
    const std::size_t sn = std::min(super, n - s0);
    grow(t_, sn);
    cot_.recv_cot(choices.subspan(s0, sn), std::span<Block>(t_.data(), sn));
    for (std::size_t off = s0; off < s0 + sn; off += batch) {
      const std::size_t b = std::min(batch, s0 + sn - off);
      grow(in_, b * nb);
      expand(t_.data() + (off - s0), b, nb, kind, in_.data());
      const std::size_t nbytes = packed_bytes(b * values_per_ot, l);
      grow(wire_, nbytes);
      ch_.recv(wire_.data(), nbytes);
      read(off, b, reinterpret_cast<const std::uint64_t*>(in_.data()), nbytes);  // [b][2·nb]
      ctr_ += b;
    }
  }
}

void OtReceiver::recv_cot_additive_mod(std::span<const std::uint8_t> choices, std::span<std::uint64_t> out, std::uint64_t t) {
  const int l = modulus_bits(t);
  require(out.size() == choices.size(), ErrorCode::kInvalidArgument, "recv_cot_additive_mod: sizes differ");
  recv_expanded(choices, 1, kModPad, 1, l, [&](std::size_t off, std::size_t b, const std::uint64_t* h, std::size_t nbytes) {
    for (std::size_t i = 0; i < b; ++i) {
      const std::uint64_t y = extract_value(wire_.data(), nbytes, i, l);
      require(y < t, ErrorCode::kMalformedInput, "additive COT mod t: a value from the sender is not below t");
      const std::uint64_t pad = pad_mod(h + 2 * i, t);
      out[off + i] = choices[off + i] ? static_cast<std::uint64_t>((static_cast<unsigned __int128>(pad) + y) % t) : pad;
    }
  });
}

}  // namespace peregrine::ot
