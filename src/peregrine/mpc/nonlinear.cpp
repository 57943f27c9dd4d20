#include "peregrine/mpc/nonlinear.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include "peregrine/core/error.hpp"

namespace peregrine::mpc {

namespace {

// Bounds of scratch memory: ROTs per triple batch, 1-of-N message words per OT call.
constexpr std::size_t kTripleChunkBits = std::size_t{1} << 18;
constexpr std::size_t kLeafMsgWords = std::size_t{1} << 21;
// Words per piece of the simultaneous AND-opening exchange (256 KiB).
constexpr std::size_t kExchangeWords = std::size_t{1} << 15;

inline std::size_t words_for(std::size_t n) { return (n + 63) / 64; }
inline int bit_at(std::span<const u64> w, std::size_t i) { return static_cast<int>((w[i >> 6] >> (i & 63)) & 1); }
// Zeroes the bits past n of the n-bit vector packed from word first_word on.
inline void clear_segment_tail(std::vector<u64>& w, std::size_t first_word, std::size_t n) {
  if (n % 64 != 0) w[first_word + words_for(n) - 1] &= (u64{1} << (n % 64)) - 1;
}
inline void clear_tail(std::vector<u64>& w, std::size_t n) {
  if (!w.empty()) clear_segment_tail(w, 0, n);
}

// Pairs of Beaver bit triples sharing their b: c1 = a1 ∧ b, c2 = a2 ∧ b (XOR-shared), packed 64
// per word; consumed front to back. One random OT each way makes one pair: its messages carry
// two bits, so the sender's difference gives (a1, a2) and the receiver's choice gives b.
struct BitTriples {
  std::vector<u64> a1, a2, b, c1, c2;
  std::size_t pos = 0;
};

// Makes `words`·64 triple pairs from ROTs both ways (see nonlinear.hpp). Same call on both sides.
// As sender of the ROT with messages (s0, s1) this party holds u = s0 and a = s0 ⊕ s1 (two bits);
// as receiver with choice b it holds v = s_b: u ⊕ v of the two parties is a·b of the cross terms.
BitTriples make_triples(MpcSession& s, std::size_t words) {
  BitTriples t;
  for (auto* v : {&t.a1, &t.a2, &t.b, &t.c1, &t.c2}) v->assign(words, 0);
  const std::size_t total = words * 64;
  std::vector<std::array<ot::Block, 2>> sm;
  std::vector<ot::Block> rm;
  std::vector<std::uint8_t> ch;
  for (std::size_t off = 0; off < total; off += kTripleChunkBits) {
    const std::size_t cnt = std::min(kTripleChunkBits, total - off);
    sm.resize(cnt);
    rm.resize(cnt);
    ch.resize(cnt);
    s.both_ways([&](ot::OtSender& snd) { snd.send_rot(sm); },
                [&](ot::OtReceiver& rcv) { rcv.recv_rot(ch, rm); });
    for (std::size_t i = 0; i < cnt; ++i) {
      const u64 u = sm[i][0].lo & 3;
      const u64 a = u ^ (sm[i][1].lo & 3);  // my (a1, a2) bits (as sender)
      const u64 bb = ch[i] & 1;             // my b bit (as receiver)
      const u64 c = (bb ? a : 0) ^ u ^ (rm[i].lo & 3);
      const std::size_t k = off + i, wi = k >> 6, sh = k & 63;
      t.a1[wi] |= (a & 1) << sh;
      t.a2[wi] |= (a >> 1) << sh;
      t.b[wi] |= bb << sh;
      t.c1[wi] |= (c & 1) << sh;
      t.c2[wi] |= (c >> 1) << sh;
    }
  }
  return t;
}

// One exchange of Beaver ANDs on packed shares, consuming y.size() words of triple pairs:
// z1 = x1 ∧ y, and z2 = x2 ∧ y' with y' the LAST x2.size() words of y (x2 may be shorter or
// empty; each word of x2 uses the triple pair of the y word it meets).
// Each party sends e = y ⊕ b, d1 = x1 ⊕ a1, d2 = x2 ⊕ a2 (the shared operand y is opened once
// for both products), then receives the peer's.
void and_shared(MpcSession& s, BitTriples& t, std::span<const u64> y, std::span<const u64> x1,
                std::span<const u64> x2, std::span<u64> z1, std::span<u64> z2) {
  const std::size_t w = y.size(), w2 = x2.size();
  require(x1.size() == w && z1.size() == w && w2 <= w && z2.size() == w2, ErrorCode::kInvalidArgument,
          "and: operand sizes differ");
  require(t.pos + w <= t.b.size(), ErrorCode::kInvalidArgument, "bit triples exhausted");
  const u64* a1 = t.a1.data() + t.pos;
  const u64* a2 = t.a2.data() + t.pos;
  const u64* b = t.b.data() + t.pos;
  const u64* c1 = t.c1.data() + t.pos;
  const u64* c2 = t.c2.data() + t.pos;
  t.pos += w;
  std::vector<u64> mine(2 * w + w2), peer(2 * w + w2);
  for (std::size_t i = 0; i < w; ++i) {
    mine[i] = y[i] ^ b[i];
    mine[w + i] = x1[i] ^ a1[i];
  }
  const std::size_t o = w - w2;  // x2[i] meets y[o + i]
  for (std::size_t i = 0; i < w2; ++i) mine[2 * w + i] = x2[i] ^ a2[o + i];
  // Both parties send before receiving; pieces of at most kExchangeWords keep the unread data in
  // flight bounded (a blocking transport with small buffers cannot deadlock on a large batch).
  auto& ch = s.channel();
  for (std::size_t off = 0; off < mine.size(); off += kExchangeWords) {
    const std::size_t c = std::min(kExchangeWords, mine.size() - off);
    ch.send(mine.data() + off, c * sizeof(u64));
    ch.flush();
    ch.recv(peer.data() + off, c * sizeof(u64));
  }
  const u64 server = s.is_server() ? ~0ULL : 0;
  for (std::size_t i = 0; i < w; ++i) {
    const u64 e = mine[i] ^ peer[i], d = mine[w + i] ^ peer[w + i];
    z1[i] = c1[i] ^ (d & b[i]) ^ (e & a1[i]) ^ (d & e & server);
  }
  for (std::size_t i = 0; i < w2; ++i) {
    const u64 e = mine[o + i] ^ peer[o + i], d = mine[2 * w + i] ^ peer[2 * w + i];
    z2[i] = c2[o + i] ^ (d & b[o + i]) ^ (e & a2[o + i]) ^ (d & e & server);
  }
}

// Leaf OTs for a set of digits of equal width w: fills gt[j], eq[j] for every j in `digits` with
// this party's shares of 1{x_j > y_j}, 1{x_j == y_j}, x being the server's input and y the
// client's. K = 1: n inputs each; K = 2 (the server sends): the server holds two inputs x, x'
// (input = x then x', 2n values) against the client's one y, and every OT carries both
// comparisons' bits, so the client's choice (its digit, the same for both) is paid once. Comparison
// k of element i sits at bit k·64·W + i of gt[j] / eq[j] (W = ⌈n/64⌉ words per comparison). The
// sender of the 1-of-2^w OTs is the server when server_sends, else the client; the sender's shares
// are random, its messages are indexed by the receiver's digit. bits = 1 transfers gt only (the
// least significant digit, whose eq the tree never uses).
void leaf_group(MpcSession& s, std::span<const u64> input, std::size_t n, int K, int m, int w,
                std::span<const int> digits, int bits, bool server_sends, std::vector<std::vector<u64>>& gt,
                std::vector<std::vector<u64>>& eq) {
  const std::size_t nn = std::size_t{1} << w;
  const u64 dmask = nn - 1;
  const std::size_t W = words_for(n);
  const std::size_t total = n * digits.size();  // OT index f = k·n + i, digit digits[k]
  const std::size_t chunk = std::max<std::size_t>(1, kLeafMsgWords / nn);
  const int l = bits * K;  // message bits per OT
  if (s.is_server() == server_sends) {
    const bool mine_is_x = s.is_server();  // the sender's digit is x (server) or y (client)
    const int inputs = mine_is_x ? K : 1;
    for (const int j : digits) {  // the sender's shares are random (zero past each comparison's n bits)
      s.prg().fill(gt[j].data(), gt[j].size() * sizeof(u64));
      s.prg().fill(eq[j].data(), eq[j].size() * sizeof(u64));
      for (int k = 0; k < K; ++k) {
        clear_segment_tail(gt[j], k * W, n);
        clear_segment_tail(eq[j], k * W, n);
      }
    }
    std::vector<u64> msgs;
    for (std::size_t off = 0; off < total; off += chunk) {
      const std::size_t c = std::min(chunk, total - off);
      msgs.assign(c * nn, 0);
      for (std::size_t f = off; f < off + c; ++f) {
        const int j = digits[f / n];
        const std::size_t i = f % n;
        u64* row = msgs.data() + (f - off) * nn;
        for (int k = 0; k < inputs; ++k) {
          const u64 dj = (input[k * n + i] >> (j * m)) & dmask;
          const std::size_t at = k * 64 * W + i;
          const u64 gs = static_cast<u64>(bit_at(gt[j], at)), es = static_cast<u64>(bit_at(eq[j], at));
          for (u64 v = 0; v < nn; ++v) {
            const u64 g = mine_is_x ? static_cast<u64>(dj > v) : static_cast<u64>(v > dj);
            row[v] |= ((gs ^ g) | (bits == 2 ? (es ^ static_cast<u64>(dj == v)) << 1 : 0)) << (k * bits);
          }
        }
      }
      s.send_1_of_n(msgs, w, l);
    }
  } else {
    std::vector<std::uint8_t> choice;
    std::vector<u64> out;
    for (std::size_t off = 0; off < total; off += chunk) {
      const std::size_t c = std::min(chunk, total - off);
      choice.resize(c);
      out.resize(c);
      for (std::size_t f = off; f < off + c; ++f) {
        const int j = digits[f / n];
        choice[f - off] = static_cast<std::uint8_t>((input[f % n] >> (j * m)) & dmask);
      }
      s.recv_1_of_n(choice, out, w, l);
      for (std::size_t f = off; f < off + c; ++f) {
        const int j = digits[f / n];
        const std::size_t i = f % n;
        for (int k = 0; k < K; ++k) {
          const std::size_t at = k * 64 * W + i;
          const u64 o = out[f - off] >> (k * bits);
          gt[j][at >> 6] |= (o & 1) << (at & 63);
          if (bits == 2) eq[j][at >> 6] |= ((o >> 1) & 1) << (at & 63);
        }
      }
    }
  }
}

// The AND tree over q leaves (digit 0 least significant): level by level, c nodes → ⌈c/2⌉, pair k
// = nodes (2k, 2k+1), 2k+1 the more significant; gt = gt_hi ⊕ eq_hi·gt_lo and eq = eq_hi·eq_lo,
// where node 0 (which holds digit 0) never needs eq, so pair 0 has one AND and every other pair two
// sharing eq_hi (one triple pair). Returns the triple pairs (= ROTs each way) per element.
std::size_t tree_pairs(int q) {
  std::size_t pairs = 0;
  for (int c = q; c > 1; c = (c + 1) / 2) pairs += static_cast<std::size_t>(c / 2);
  return pairs;
}
// Bits opened per element by the tree (both parties): per level with p pairs, e and d1 for every
// pair and d2 for pairs 1..p−1, one bit each per party.
std::size_t tree_open_bits(int q) {
  std::size_t bits = 0;
  for (int c = q; c > 1; c = (c + 1) / 2) bits += 2 * static_cast<std::size_t>(2 * (c / 2) + (c / 2 - 1));
  return bits;
}

}  // namespace

int millionaire_leaf_bits(int ell, OtBackend ot) {
  require(ell >= 1 && ell <= 64, ErrorCode::kInvalidArgument, "millionaire: ell must be in [1, 64]");
  const bool silent = ot == OtBackend::kSilent;
  // Estimated bits per element: leaf OTs + the AND tree (see the header for both models).
  const std::size_t leaf_base = silent ? 0 : 256, pair_bits = silent ? 0 : 256;
  const int max_m = silent ? 4 : 6;
  int best = 1;
  std::size_t best_bits = ~std::size_t{0};
  for (int m = 1; m <= max_m; ++m) {
    const int q = (ell + m - 1) / m, rem = ell % m;
    std::size_t bits = tree_pairs(q) * pair_bits + tree_open_bits(q);
    for (int j = 0; j < q; ++j) {
      const int w = (j == q - 1 && rem != 0) ? rem : m;
      bits += leaf_base + (silent ? static_cast<std::size_t>(w) : 0) + ((j == 0 ? std::size_t{1} : 2) << w);
    }
    if (bits < best_bits || (silent && bits == best_bits)) {
      best_bits = bits;
      best = m;
    }
  }
  return best;
}

BoolShares and_bits(MpcSession& s, const BoolShares& x, const BoolShares& y) {
  require(x.n == y.n && x.words.size() == words_for(x.n) && y.words.size() == words_for(y.n),
          ErrorCode::kInvalidArgument, "and_bits: size mismatch");
  BoolShares z(x.n);
  if (x.n == 0) return z;
  BitTriples t = make_triples(s, z.words.size());
  and_shared(s, t, y.words, x.words, {}, z.words, {});
  clear_tail(z.words, z.n);
  return z;
}

namespace {

// The millionaire for K = 1 (millionaire_gt) or K = 2 (millionaire_gt_pair): leaves by
// leaf_group, then one AND tree over K·W words per node (the K comparisons side by side, so both
// trees share every exchange). Returns K·n bits, comparison k at [k·n, (k+1)·n).
BoolShares millionaire_k(MpcSession& s, std::span<const u64> input, std::size_t n, int K, int ell, int m) {
  require(ell >= 1 && ell <= 64, ErrorCode::kInvalidArgument, "millionaire: ell must be in [1, 64]");
  require(m == kLeafBitsDefault || (m >= 0 && m <= ot::kMaxOneOfNBits), ErrorCode::kInvalidArgument,
          "millionaire: leaf bits m must be in [0, 8]");
  if (m == kLeafBitsDefault)
    m = s.ot_backend() == OtBackend::kSilent ? kSilentLeafBits : kMillionaireLeafBits;
  else if (m == 0)
    m = millionaire_leaf_bits(ell, s.ot_backend());
  require_in_ring(input, Ring(ell).mask, "millionaire: input not below 2^ell");
  BoolShares result(K * n);
  if (n == 0) return result;
  const std::size_t W = words_for(n), w = K * W;
  const int q = (ell + m - 1) / m;
  const int qfull = ell / m, rem = ell % m;

  // Stage 1: all bit triple pairs of the tree at once (ROT both ways).
  const std::size_t pairs_total = tree_pairs(q);
  BitTriples t;
  if (pairs_total > 0) t = make_triples(s, pairs_total * w);

  // Stage 2: leaves, digit j = bits [j·m, j·m + w_j) (j = 0 least significant, gt only). K = 1:
  // the OT direction alternates by digit (even j: the server sends, odd j: the client), so that
  // both links carry about the same bytes and both parties do about the same hashing. K = 2: the
  // server sends every digit (its two inputs share the client's choice).
  std::vector<std::vector<u64>> gt(q, std::vector<u64>(w, 0)), eq(q, std::vector<u64>(w, 0));
  std::vector<int> even, odd;
  for (int j = 1; j < qfull; ++j) (j % 2 == 0 || K > 1 ? even : odd).push_back(j);
  const int zero = 0;
  if (qfull > 0) leaf_group(s, input, n, K, m, m, {&zero, 1}, 1, true, gt, eq);
  if (!even.empty()) leaf_group(s, input, n, K, m, m, even, 2, true, gt, eq);
  if (!odd.empty()) leaf_group(s, input, n, K, m, m, odd, 2, false, gt, eq);
  if (rem > 0) leaf_group(s, input, n, K, m, rem, {&qfull, 1}, qfull == 0 ? 1 : 2, qfull % 2 == 0 || K > 1, gt, eq);

  // Stage 3: AND tree, one exchange per level (tree_pairs above).
  std::vector<u64> ys, x1s, x2s, z1s, z2s;
  for (int c = q; c > 1;) {
    const int pairs = c / 2, next = (c + 1) / 2;
    const std::size_t pw = static_cast<std::size_t>(pairs) * w, ew = static_cast<std::size_t>(pairs - 1) * w;
    ys.resize(pw);
    x1s.resize(pw);
    x2s.resize(ew);
    z1s.assign(pw, 0);
    z2s.assign(ew, 0);
    for (int k = 0; k < pairs; ++k) {
      std::copy(eq[2 * k + 1].begin(), eq[2 * k + 1].end(), ys.begin() + k * w);
      std::copy(gt[2 * k].begin(), gt[2 * k].end(), x1s.begin() + k * w);
      if (k > 0) std::copy(eq[2 * k].begin(), eq[2 * k].end(), x2s.begin() + (k - 1) * w);
    }
    and_shared(s, t, ys, x1s, x2s, z1s, z2s);
    for (int k = 0; k < pairs; ++k) {
      std::vector<u64> g(w), e(w, 0);
      for (std::size_t i = 0; i < w; ++i) {
        g[i] = gt[2 * k + 1][i] ^ z1s[k * w + i];
        if (k > 0) e[i] = z2s[(k - 1) * w + i];
      }
      gt[k] = std::move(g);
      eq[k] = std::move(e);
    }
    if (c % 2 == 1) {
      gt[pairs] = std::move(gt[c - 1]);
      eq[pairs] = std::move(eq[c - 1]);
    }
    c = next;
  }
  if (K == 1) {
    result.words = std::move(gt[0]);
  } else {
    for (int k = 0; k < K; ++k)
      for (std::size_t i = 0; i < n; ++i)
        if (bit_at(gt[0], k * 64 * W + i)) result.words[(k * n + i) >> 6] |= u64{1} << ((k * n + i) & 63);
  }
  clear_tail(result.words, K * n);
  return result;
}

}  // namespace

BoolShares millionaire_gt(MpcSession& s, std::span<const u64> input, int ell, int m) {
  return millionaire_k(s, input, input.size(), 1, ell, m);
}

BoolShares millionaire_gt_pair(MpcSession& s, std::span<const u64> input, int ell, int m) {
  const std::size_t n = s.is_server() ? input.size() / 2 : input.size();
  require(!s.is_server() || input.size() % 2 == 0, ErrorCode::kInvalidArgument,
          "millionaire_gt_pair: the server passes 2n values");
  return millionaire_k(s, input, n, 2, ell, m);
}

BoolShares millionaire_prefix_gt(MpcSession& s, std::span<const u64> input, int blocks, int block_bits, int m) {
  require(blocks >= 1 && block_bits >= 1 && blocks * block_bits <= 64, ErrorCode::kInvalidArgument,
          "millionaire_prefix_gt: need blocks, block_bits >= 1 and blocks*block_bits <= 64");
  require(m == kLeafBitsDefault || (m >= 0 && m <= ot::kMaxOneOfNBits), ErrorCode::kInvalidArgument,
          "millionaire_prefix_gt: leaf bits m must be in [0, 8]");
  require_in_ring(input, Ring(blocks * block_bits).mask, "millionaire_prefix_gt: input not below 2^(blocks*block_bits)");
  if (m == kLeafBitsDefault)
    m = s.ot_backend() == OtBackend::kSilent ? kSilentLeafBits : kMillionaireLeafBits;
  else if (m == 0)
    m = millionaire_leaf_bits(block_bits, s.ot_backend());
  int per = (block_bits + m - 1) / m;  // leaves per block
  if (blocks * per * m > 64) {
    m = 1;
    per = block_bits;
  }
  const int q = blocks * per;
  const std::size_t n = input.size(), W = words_for(n);
  BoolShares result(static_cast<std::size_t>(blocks) * n);
  if (n == 0) return result;
  // Each block moved to a boundary of `per` leaves (its high leaf bits zero in both inputs).
  const u64 bmask = Ring(block_bits).mask;
  std::vector<u64> padded(n, 0);
  for (std::size_t i = 0; i < n; ++i)
    for (int k = 0; k < blocks; ++k) padded[i] |= ((input[i] >> (k * block_bits)) & bmask) << (k * per * m);
  BitTriples t;
  if (q > 1) t = make_triples(s, static_cast<std::size_t>(q - 1) * W);
  // Leaves as millionaire_gt's (digit 0 gt only; the others gt and eq, directions alternating).
  std::vector<std::vector<u64>> gt(q, std::vector<u64>(W, 0)), eq(q, std::vector<u64>(W, 0));
  std::vector<int> even, odd;
  for (int j = 1; j < q; ++j) (j % 2 == 0 ? even : odd).push_back(j);
  const int zero = 0;
  leaf_group(s, padded, n, 1, m, m, {&zero, 1}, 1, true, gt, eq);
  if (!even.empty()) leaf_group(s, padded, n, 1, m, m, even, 2, true, gt, eq);
  if (!odd.empty()) leaf_group(s, padded, n, 1, m, m, odd, 2, false, gt, eq);
  // The chain; the prefix ending at leaf j is block (j + 1)/per − 1 when (j + 1) is a multiple of per.
  std::vector<u64> P = std::move(gt[0]), z(W);
  auto emit = [&](int j) {
    if ((j + 1) % per != 0) return;
    const std::size_t k = static_cast<std::size_t>((j + 1) / per - 1);
    for (std::size_t i = 0; i < n; ++i) result.set(k * n + i, static_cast<int>((P[i >> 6] >> (i & 63)) & 1));
  };
  emit(0);
  for (int j = 1; j < q; ++j) {
    and_shared(s, t, eq[j], P, {}, z, {});
    for (std::size_t w = 0; w < W; ++w) P[w] = gt[j][w] ^ z[w];
    emit(j);
  }
  return result;
}

BoolShares drelu(MpcSession& s, const ArithShares& x, int m) {
  const Ring& r = x.ring;
  require(r.bits >= 2, ErrorCode::kInvalidArgument, "drelu: ring must have at least 2 bits");
  require_in_ring(x.v, r.mask, "drelu: share not below 2^ell");
  const int h = r.bits - 1;
  const u64 hmask = (1ULL << h) - 1;
  const std::size_t n = x.v.size();
  std::vector<u64> in(n);
  for (std::size_t i = 0; i < n; ++i)
    in[i] = s.is_server() ? (x.v[i] & hmask) : (hmask - (x.v[i] & hmask));
  BoolShares out = millionaire_gt(s, in, h, m);  // carry
  const u64 flip = s.is_server() ? 1 : 0;
  for (std::size_t i = 0; i < n; ++i)
    out.words[i >> 6] ^= ((static_cast<u64>(r.msb(x.v[i])) ^ flip) & 1) << (i & 63);
  return out;
}

ArithShares b2a(MpcSession& s, const BoolShares& b, const Ring& ring) {
  require(b.words.size() == words_for(b.n), ErrorCode::kInvalidArgument, "b2a: malformed BoolShares");
  const std::size_t n = b.n;
  ArithShares out{ring, std::vector<u64>(n)};
  if (n == 0) return out;
  if (s.is_server()) {
    std::vector<u64> delta(n), xr(n);
    for (std::size_t i = 0; i < n; ++i) delta[i] = static_cast<u64>(b.get(i));
    s.ot_sender().send_cot_additive(delta, xr, ring.bits);
    for (std::size_t i = 0; i < n; ++i) out.v[i] = ring.reduce(delta[i] + 2 * xr[i]);
  } else {
    std::vector<std::uint8_t> choice(n);
    std::vector<u64> got(n);
    for (std::size_t i = 0; i < n; ++i) choice[i] = static_cast<std::uint8_t>(b.get(i));
    s.ot_receiver().recv_cot_additive(choice, got, ring.bits);
    for (std::size_t i = 0; i < n; ++i) out.v[i] = ring.reduce(static_cast<u64>(choice[i]) - 2 * got[i]);
  }
  return out;
}

std::vector<u64> b2a_mod_t(MpcSession& s, const BoolShares& b, u64 t, u64 scale) {
  require(b.words.size() == words_for(b.n), ErrorCode::kInvalidArgument, "b2a_mod_t: malformed BoolShares");
  require(t >= 2 && t < (u64{1} << 62) && scale < t, ErrorCode::kInvalidArgument, "b2a_mod_t: t out of range or scale ≥ t");
  const std::size_t n = b.n;
  std::vector<u64> out(n);
  if (n == 0) return out;
  if (s.is_server()) {
    std::vector<u64> delta(n), x(n);
    for (std::size_t i = 0; i < n; ++i) delta[i] = b.get(i) ? (t - scale) % t : scale;  // c·(1 − 2b_0)
    s.ot_sender().send_cot_additive_mod(delta, x, t);
    for (std::size_t i = 0; i < n; ++i) out[i] = ((b.get(i) ? scale : 0) + t - x[i]) % t;
  } else {
    std::vector<std::uint8_t> choice(n);
    for (std::size_t i = 0; i < n; ++i) choice[i] = static_cast<std::uint8_t>(b.get(i));
    s.ot_receiver().recv_cot_additive_mod(choice, out, t);
  }
  return out;
}

ArithShares mux(MpcSession& s, const BoolShares& b, const ArithShares& x) {
  const Ring& r = x.ring;
  const std::size_t n = x.v.size();
  require(b.n == n && b.words.size() == words_for(n), ErrorCode::kInvalidArgument,
          "mux: bit and value counts differ");
  require_in_ring(x.v, r.mask, "mux: share not below 2^ell");
  ArithShares out{r, std::vector<u64>(n, 0)};
  if (n == 0) return out;
  std::vector<u64> delta(n), xr(n), got(n);
  std::vector<std::uint8_t> choice(n);
  for (std::size_t i = 0; i < n; ++i) {
    choice[i] = static_cast<std::uint8_t>(b.get(i));
    delta[i] = r.reduce(choice[i] ? (0 - x.v[i]) : x.v[i]);  // (1 − 2b)·x
  }
  s.both_ways([&](ot::OtSender& snd) { snd.send_cot_additive(delta, xr, r.bits); },
              [&](ot::OtReceiver& rcv) { rcv.recv_cot_additive(choice, got, r.bits); });
  for (std::size_t i = 0; i < n; ++i)
    out.v[i] = r.reduce((choice[i] ? x.v[i] : 0) - xr[i] + got[i]);
  return out;
}

ArithShares relu(MpcSession& s, const ArithShares& x, int m, BoolShares* drelu_out) {
  BoolShares d = drelu(s, x, m);
  ArithShares y = mux(s, d, x);
  if (drelu_out != nullptr) *drelu_out = std::move(d);
  return y;
}

ArithShares relu_highbits(MpcSession& s, const ArithShares& x, int shift, int m) {
  const Ring& r = x.ring;
  require(shift >= 1 && shift <= r.bits - 2, ErrorCode::kInvalidArgument,
          "relu_highbits: shift must be in [1, ell - 2]");
  require_in_ring(x.v, r.mask, "relu_highbits: share not below 2^ell");
  const Ring hr(r.bits - shift);
  ArithShares h{hr, std::vector<u64>(x.v.size())};
  for (std::size_t i = 0; i < x.v.size(); ++i) h.v[i] = x.v[i] >> shift;  // < 2^{ℓ−shift}
  ArithShares z = mux(s, drelu(s, h, m), h);
  for (auto& v : z.v) v = r.reduce(v << shift);
  z.ring = r;
  return z;
}

ArithShares clip(MpcSession& s, const ArithShares& x, std::int64_t lo, std::int64_t hi, int m) {
  const Ring& r = x.ring;
  require(r.bits >= 2, ErrorCode::kInvalidArgument, "clip: ring must have at least 2 bits");
  const std::int64_t half = r.bits >= 64 ? std::numeric_limits<std::int64_t>::max()
                                         : static_cast<std::int64_t>(1ULL << (r.bits - 1));
  require(lo <= hi && lo > -half && hi < half, ErrorCode::kInvalidArgument,
          "clip: need lo <= hi with both bounds below 2^(ell-1) in magnitude");
  require_in_ring(x.v, r.mask, "clip: share not below 2^ell");
  const std::size_t n = x.v.size();
  ArithShares out{r, std::vector<u64>(n, 0)};
  if (n == 0) return out;
  const bool server = s.is_server();
  const u64 lo_r = r.reduce(static_cast<u64>(lo)), hi_r = r.reduce(static_cast<u64>(hi));
  // One pass: DReLU of x − lo (first n) and x − hi (last n); the server holds the public shift,
  // so the client's millionaire input is the same for both and every leaf OT carries both.
  ArithShares d{r, std::vector<u64>(2 * n)};
  for (std::size_t i = 0; i < n; ++i) {
    d.v[i] = server ? r.reduce(x.v[i] - lo_r) : x.v[i];
    d.v[n + i] = server ? r.reduce(x.v[i] - hi_r) : x.v[i];
  }
  const int h = r.bits - 1;
  const u64 hmask = (u64{1} << h) - 1;
  std::vector<u64> in(server ? 2 * n : n);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = server ? (d.v[i] & hmask) : (hmask - (d.v[i] & hmask));
  BoolShares b = millionaire_gt_pair(s, in, h, m);  // carries, as drelu()
  for (std::size_t i = 0; i < 2 * n; ++i)
    b.words[i >> 6] ^= ((static_cast<u64>(r.msb(d.v[i])) ^ (server ? 1 : 0)) & 1) << (i & 63);
  // Multiplexer on u = x − lo with sel = b1 ⊕ b2 ((1 − 2·sel_p)·u_p per direction, as mux()), and
  // the scaled B2A of t = b2 appended to the server-to-client batch: the server's correlation
  // (hi − lo)·t0, the client's choice t1, so got − xr = (hi − lo)·t0·t1.
  const u64 span = r.reduce(hi_r - lo_r);
  std::vector<std::uint8_t> sel(n), t(n);
  for (std::size_t i = 0; i < n; ++i) {
    t[i] = static_cast<std::uint8_t>(b.get(n + i));
    sel[i] = static_cast<std::uint8_t>(b.get(i) ^ t[i]);
  }
  const std::size_t n_s2c = 2 * n;  // server sends n mux entries + n B2A entries
  std::vector<u64> delta(server ? n_s2c : n), xr(delta.size());
  for (std::size_t i = 0; i < n; ++i) delta[i] = r.reduce(sel[i] ? (0 - d.v[i]) : d.v[i]);
  if (server)
    for (std::size_t i = 0; i < n; ++i) delta[n + i] = t[i] ? span : 0;
  std::vector<std::uint8_t> choice(server ? n : n_s2c);
  std::copy(sel.begin(), sel.end(), choice.begin());
  if (!server) std::copy(t.begin(), t.end(), choice.begin() + static_cast<std::ptrdiff_t>(n));
  std::vector<u64> got(choice.size());
  s.both_ways([&](ot::OtSender& snd) { snd.send_cot_additive(delta, xr, r.bits); },
              [&](ot::OtReceiver& rcv) { rcv.recv_cot_additive(choice, got, r.bits); });
  for (std::size_t i = 0; i < n; ++i) {
    u64 y = (sel[i] ? d.v[i] : 0) - xr[i] + got[i];  // this party's share of sel·u
    if (server) y += lo_r + (t[i] ? span : 0) + 2 * xr[n + i];
    else y += (t[i] ? span : 0) - 2 * got[n + i];
    out.v[i] = r.reduce(y);
  }
  return out;
}

ArithShares clip_highbits(MpcSession& s, const ArithShares& x, std::int64_t lo, std::int64_t hi, int shift, int m) {
  const Ring& r = x.ring;
  require(shift >= 1 && shift <= r.bits - 2, ErrorCode::kInvalidArgument,
          "clip_highbits: shift must be in [1, ell - 2]");
  const std::int64_t unit = std::int64_t{1} << shift;
  require(lo % unit == 0 && hi % unit == 0, ErrorCode::kInvalidArgument,
          "clip_highbits: the bounds must be multiples of 2^shift");
  require_in_ring(x.v, r.mask, "clip_highbits: share not below 2^ell");
  const Ring hr(r.bits - shift);
  ArithShares h{hr, std::vector<u64>(x.v.size())};
  for (std::size_t i = 0; i < x.v.size(); ++i) h.v[i] = x.v[i] >> shift;  // < 2^{ℓ−shift}
  ArithShares z = clip(s, h, lo / unit, hi / unit, m);
  for (auto& v : z.v) v = r.reduce(v << shift);
  z.ring = r;
  return z;
}

}  // namespace peregrine::mpc
