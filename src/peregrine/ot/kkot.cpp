#include "peregrine/ot/kkot.hpp"

#include <sodium.h>

#include <algorithm>

#include "peregrine/core/error.hpp"
#include "peregrine/ot/kernels.hpp"
#include "peregrine/ot/packing.hpp"

namespace peregrine::ot {

namespace {

constexpr std::size_t kK = kKkotColumns;
constexpr std::size_t kSuper = 8;                    // 128-OT chunks per PRG call / network piece
constexpr std::size_t kPieceMsgs = std::size_t{1} << 14;  // pad hashes per sender piece
enum Kind : std::uint64_t { kHashA = 3, kHashB = 4 };  // distinct from derived.cpp's kinds

/// Walsh–Hadamard codeword of x as two Blocks: bit i (i < 256) = parity(x ∧ i).
void wh_code(std::size_t x, Block* out) {
  for (int h = 0; h < 2; ++h) {
    Block b;
    for (std::size_t i = 0; i < 128; ++i) {
      const std::uint64_t bit = static_cast<std::uint64_t>(__builtin_popcountll(x & (128 * h + i)) & 1);
      if (i < 64) b.lo |= bit << i;
      else b.hi |= bit << (i - 64);
    }
    out[h] = b;
  }
}

void check_ml(int m, int l) {
  require(m >= 1 && m <= kMaxOneOfNBits, ErrorCode::kInvalidArgument, "KKOT: m must be in [1, 8]");
  require(l >= 1 && l <= 64, ErrorCode::kInvalidArgument, "KKOT: bit width l must be in [1, 64]");
}

/// The high word of the hash tweaks: {OT index, hash_hi(domain, kind)}.
std::uint64_t hash_hi(std::uint64_t domain, Kind kind) { return (domain << 40) | (std::uint64_t{kind} << 32); }

/// OTs per sender piece for N messages each.
std::size_t piece_ots(std::size_t N) { return std::max<std::size_t>(1, kPieceMsgs / N); }

/// Transposes the 128×128 blocks of the column-major matrix cols ([256 columns][C chunks]) into
/// rows (2 Blocks per row; row r of chunk c is rows[(row0 + r)·2 + half]) for rows < n_rows.
void columns_to_rows(const Block* cols, std::size_t C, std::size_t row0, std::size_t n_rows,
                     Block* rows, Block* tmp) {
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t h = 0; h < 2; ++h) {
      detail::transpose128(cols + h * 128 * C + c, C, tmp);
      const std::size_t base = row0 + c * 128;
      if (base >= n_rows) continue;
      const std::size_t cnt = std::min<std::size_t>(128, n_rows - base);
      for (std::size_t r = 0; r < cnt; ++r) rows[(base + r) * 2 + h] = tmp[r];
    }
}

}  // namespace

// ---- sender ---------------------------------------------------------------------------------

KkotSender::KkotSender(net::Channel& ch, std::span<const std::uint8_t> s, std::span<const Block> keys,
                       std::uint32_t domain)
    : ch_(ch), domain_(domain) {
  detail::require_aesni();
  require(s.size() == kK && keys.size() == kK, ErrorCode::kInvalidArgument,
          "KkotSender: need 256 base choices and keys");
  Block sb[2];
  for (std::size_t i = 0; i < kK; ++i) {
    s_[i] = s[i] ? 1 : 0;
    Block& b = sb[i / 128];
    if (i % 128 < 64) b.lo |= std::uint64_t{s_[i]} << (i % 128);
    else b.hi |= std::uint64_t{s_[i]} << (i % 128 - 64);
  }
  keys_ = std::make_unique<detail::AesKey[]>(kK);
  for (std::size_t i = 0; i < kK; ++i) detail::aes_expand_key(keys[i], keys_[i]);
  cs_.resize(2 * 256);
  for (std::size_t x = 0; x < 256; ++x) {
    wh_code(x, &cs_[2 * x]);
    cs_[2 * x].lo &= sb[0].lo;
    cs_[2 * x].hi &= sb[0].hi;
    cs_[2 * x + 1].lo &= sb[1].lo;
    cs_[2 * x + 1].hi &= sb[1].hi;
  }
  sodium_memzero(sb, sizeof sb);
  q_.resize(kK * kSuper);
  u_.resize(kK * kSuper);
  tmp_.resize(128);
}

KkotSender::~KkotSender() {
  sodium_memzero(keys_.get(), kK * sizeof(detail::AesKey));
  sodium_memzero(s_.data(), s_.size());
  sodium_memzero(cs_.data(), cs_.size() * sizeof(Block));
}

void KkotSender::send(std::span<const std::uint64_t> msgs, int m, int l) {
  check_ml(m, l);
  const std::size_t N = std::size_t{1} << m;
  require(msgs.size() % N == 0, ErrorCode::kInvalidArgument, "KkotSender: msgs must hold n * 2^m values");
  const std::size_t n = msgs.size() / N;
  if (n == 0) return;
  const std::size_t chunks = (n + 127) / 128;

  // Phase 1: receive u column-wise, rows q^j = t^j ⊕ (C(c_j) ∧ s).
  detail::grow(rows_, 2 * n);
  for (std::size_t g0 = 0; g0 < chunks; g0 += kSuper) {
    const std::size_t C = std::min(kSuper, chunks - g0);
    detail::prg_columns(keys_.get(), kK, ctr_, C, q_.data());
    ctr_ += C;
    ch_.recv(u_.data(), kK * C * sizeof(Block));
    detail::xor_selected_columns(q_.data(), u_.data(), s_.data(), kK, C);
    columns_to_rows(q_.data(), C, g0 * 128, n, rows_.data(), tmp_.data());
  }

  // Phase 2: pads p_{j,x} = H_j(q^j ⊕ (C(x) ∧ s)), masked messages streamed in pieces.
  const std::uint64_t mask = detail::mask_of(l);
  const std::size_t piece = piece_ots(N);
  for (std::size_t off = 0; off < n; off += piece) {
    const std::size_t b = std::min(piece, n - off);
    detail::grow(vals_, b * N);
    detail::kk_pad_kernel(rows_.data() + 2 * off, cs_.data(), N, b, ot_ + off, hash_hi(domain_, kHashA),
                          hash_hi(domain_, kHashB), vals_.data());
    for (std::size_t k = 0; k < b * N; ++k) vals_[k] = (msgs[off * N + k] ^ vals_[k]) & mask;
    const std::size_t nbytes = packed_bytes(b * N, l);
    detail::grow(wire_, nbytes);
    detail::pack_values(vals_.data(), b * N, l, wire_.data());
    ch_.send(wire_.data(), nbytes);
  }
  ch_.flush();
  ot_ += n;
  sodium_memzero(rows_.data(), 2 * n * sizeof(Block));
}

std::unique_ptr<KkotSender> KkotSender::from_rot(OtReceiver& rot, net::Channel& ch, std::uint32_t domain) {
  std::array<std::uint8_t, kK> s{};
  std::array<Block, kK> keys;
  rot.recv_rot(s, keys);
  auto out = std::make_unique<KkotSender>(ch, s, keys, domain);
  sodium_memzero(keys.data(), sizeof keys);
  sodium_memzero(s.data(), s.size());
  return out;
}

// ---- receiver -------------------------------------------------------------------------------

KkotReceiver::KkotReceiver(net::Channel& ch, std::span<const std::array<Block, 2>> keys, std::uint32_t domain)
    : ch_(ch), domain_(domain) {
  detail::require_aesni();
  require(keys.size() == kK, ErrorCode::kInvalidArgument, "KkotReceiver: need 256 base key pairs");
  keys0_ = std::make_unique<detail::AesKey[]>(kK);
  keys1_ = std::make_unique<detail::AesKey[]>(kK);
  for (std::size_t i = 0; i < kK; ++i) {
    detail::aes_expand_key(keys[i][0], keys0_[i]);
    detail::aes_expand_key(keys[i][1], keys1_[i]);
  }
  t_.resize(kK * kSuper);
  u_.resize(kK * kSuper);
  d_.resize(kK * kSuper);
  tmp_.resize(128);
  code_.resize(2 * 256);
  for (std::size_t x = 0; x < 256; ++x) wh_code(x, &code_[2 * x]);
}

KkotReceiver::~KkotReceiver() {
  sodium_memzero(keys0_.get(), kK * sizeof(detail::AesKey));
  sodium_memzero(keys1_.get(), kK * sizeof(detail::AesKey));
}

void KkotReceiver::recv(std::span<const std::uint8_t> choices, std::span<std::uint64_t> out, int m, int l) {
  check_ml(m, l);
  require(choices.size() == out.size(), ErrorCode::kInvalidArgument, "KkotReceiver: size mismatch");
  const std::size_t N = std::size_t{1} << m;
  for (const std::uint8_t c : choices)
    require(c < N, ErrorCode::kInvalidArgument, "KkotReceiver: choice out of [0, 2^m)");
  const std::size_t n = choices.size();
  if (n == 0) return;
  const std::size_t chunks = (n + 127) / 128;

  // Phase 1: u_i = G(k_i^0) ⊕ G(k_i^1) ⊕ d_i, streamed; keep the rows t^j.
  detail::grow(rows_, 2 * n);
  for (std::size_t g0 = 0; g0 < chunks; g0 += kSuper) {
    const std::size_t C = std::min(kSuper, chunks - g0);
    // d: the codeword rows of this super-chunk, transposed to columns (padding rows are zero).
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t h = 0; h < 2; ++h) {
        Block rows[128];
        const std::size_t base = (g0 + c) * 128;
        for (std::size_t r = 0; r < 128; ++r)
          rows[r] = base + r < n ? code_[2 * choices[base + r] + h] : Block{};
        detail::transpose128(rows, 1, tmp_.data());
        for (std::size_t i = 0; i < 128; ++i) d_[(h * 128 + i) * C + c] = tmp_[i];
      }
    detail::prg_columns(keys0_.get(), kK, ctr_, C, t_.data());
    detail::prg_columns(keys1_.get(), kK, ctr_, C, u_.data());
    ctr_ += C;
    for (std::size_t k = 0; k < kK * C; ++k) u_[k] ^= t_[k] ^ d_[k];
    ch_.send(u_.data(), kK * C * sizeof(Block));
    columns_to_rows(t_.data(), C, g0 * 128, n, rows_.data(), tmp_.data());
  }
  ch_.flush();

  // Phase 2: own pad H_j(t^j), then unmask the chosen message of each piece.
  const std::uint64_t mask = detail::mask_of(l);
  const std::size_t piece = piece_ots(N);
  for (std::size_t off = 0; off < n; off += piece) {
    const std::size_t b = std::min(piece, n - off);
    const Block zero[2] = {};
    detail::grow(pad_, b);
    detail::kk_pad_kernel(rows_.data() + 2 * off, zero, 1, b, ot_ + off, hash_hi(domain_, kHashA),
                          hash_hi(domain_, kHashB), pad_.data());
    const std::size_t nbytes = packed_bytes(b * N, l);
    detail::grow(wire_, nbytes);
    ch_.recv(wire_.data(), nbytes);
    for (std::size_t j = 0; j < b; ++j)
      out[off + j] =
          (detail::extract_value(wire_.data(), nbytes, j * N + choices[off + j], l) ^ pad_[j]) & mask;
  }
  ot_ += n;
  sodium_memzero(rows_.data(), 2 * n * sizeof(Block));
}

std::unique_ptr<KkotReceiver> KkotReceiver::from_rot(OtSender& rot, net::Channel& ch, std::uint32_t domain) {
  std::array<std::array<Block, 2>, kK> keys;
  rot.send_rot(keys);
  auto out = std::make_unique<KkotReceiver>(ch, keys, domain);
  sodium_memzero(keys.data(), sizeof keys);
  return out;
}

}  // namespace peregrine::ot
