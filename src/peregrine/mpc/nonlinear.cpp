#include "peregrine/mpc/nonlinear.hpp"

#include <algorithm>
#include <array>
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
inline void clear_tail(std::vector<u64>& w, std::size_t n) {
  if (n % 64 != 0 && !w.empty()) w.back() &= (1ULL << (n % 64)) - 1;
}

// Beaver bit triples c = a ∧ b (XOR-shared), packed 64 per word; consumed front to back.
struct BitTriples {
  std::vector<u64> a, b, c;
  std::size_t pos = 0;
};

// Makes `words`·64 triples from ROTs both ways (see nonlinear.hpp). Same call on both sides.
BitTriples make_triples(MpcSession& s, std::size_t words) {
  BitTriples t;
  t.a.assign(words, 0);
  t.b.assign(words, 0);
  t.c.assign(words, 0);
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
      const u64 u = sm[i][0].lo & 1;
      const u64 ab = u ^ (sm[i][1].lo & 1);  // my a-bit (as sender)
      const u64 bb = ch[i] & 1;              // my b-bit (as receiver)
      const u64 v = rm[i].lo & 1;
      const std::size_t k = off + i;
      t.a[k >> 6] |= ab << (k & 63);
      t.b[k >> 6] |= bb << (k & 63);
      t.c[k >> 6] |= ((ab & bb) ^ u ^ v) << (k & 63);
    }
  }
  return t;
}

// z = x ∧ y on packed shares (x.size() == y.size() == z.size() words), consuming triples.
// One exchange: each party sends d = x ⊕ a, e = y ⊕ b, then receives the peer's.
void and_words(MpcSession& s, BitTriples& t, std::span<const u64> x, std::span<const u64> y,
               std::span<u64> z) {
  const std::size_t w = x.size();
  require(t.pos + w <= t.a.size(), ErrorCode::kInvalidArgument, "bit triples exhausted");
  const u64* a = t.a.data() + t.pos;
  const u64* b = t.b.data() + t.pos;
  const u64* c = t.c.data() + t.pos;
  t.pos += w;
  std::vector<u64> mine(2 * w), peer(2 * w);
  for (std::size_t i = 0; i < w; ++i) {
    mine[i] = x[i] ^ a[i];
    mine[w + i] = y[i] ^ b[i];
  }
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
    const u64 d = mine[i] ^ peer[i], e = mine[w + i] ^ peer[w + i];
    z[i] = c[i] ^ (d & b[i]) ^ (e & a[i]) ^ (d & e & server);
  }
}

// Leaf OTs for one group of digits of equal width w (digit indices first..first+cnt-1):
// fills gt[j], eq[j] (packed n bits) with this party's shares of 1{x_j > y_j}, 1{x_j == y_j}.
void leaf_group(MpcSession& s, std::span<const u64> input, int m, int w, int first, int cnt,
                std::vector<std::vector<u64>>& gt, std::vector<std::vector<u64>>& eq) {
  const std::size_t n = input.size();
  const std::size_t nn = std::size_t{1} << w;
  const u64 dmask = nn - 1;
  const std::size_t total = n * static_cast<std::size_t>(cnt);  // OT index f = k·n + i
  const std::size_t chunk = std::max<std::size_t>(1, kLeafMsgWords / nn);
  if (s.is_server()) {
    for (int k = 0; k < cnt; ++k) {  // the server's shares are random
      auto& g = gt[first + k];
      auto& e = eq[first + k];
      s.prg().fill(g.data(), g.size() * sizeof(u64));
      s.prg().fill(e.data(), e.size() * sizeof(u64));
      clear_tail(g, n);
      clear_tail(e, n);
    }
    std::vector<u64> msgs;
    for (std::size_t off = 0; off < total; off += chunk) {
      const std::size_t c = std::min(chunk, total - off);
      msgs.resize(c * nn);
      for (std::size_t f = off; f < off + c; ++f) {
        const int j = first + static_cast<int>(f / n);
        const std::size_t i = f % n;
        const u64 xj = (input[i] >> (j * m)) & dmask;
        const u64 gs = static_cast<u64>(bit_at(gt[j], i)), es = static_cast<u64>(bit_at(eq[j], i));
        u64* row = msgs.data() + (f - off) * nn;
        for (u64 v = 0; v < nn; ++v)
          row[v] = (gs ^ static_cast<u64>(xj > v)) | ((es ^ static_cast<u64>(xj == v)) << 1);
      }
      s.send_1_of_n(msgs, w, 2);
    }
  } else {
    std::vector<std::uint8_t> choice;
    std::vector<u64> out;
    for (std::size_t off = 0; off < total; off += chunk) {
      const std::size_t c = std::min(chunk, total - off);
      choice.resize(c);
      out.resize(c);
      for (std::size_t f = off; f < off + c; ++f) {
        const int j = first + static_cast<int>(f / n);
        choice[f - off] = static_cast<std::uint8_t>((input[f % n] >> (j * m)) & dmask);
      }
      s.recv_1_of_n(choice, out, w, 2);
      for (std::size_t f = off; f < off + c; ++f) {
        const int j = first + static_cast<int>(f / n);
        const std::size_t i = f % n;
        gt[j][i >> 6] |= (out[f - off] & 1) << (i & 63);
        eq[j][i >> 6] |= ((out[f - off] >> 1) & 1) << (i & 63);
      }
    }
  }
}

// Number of AND gates (per element) of the tree over q leaves; the root skips eq.
std::size_t tree_gates(int q) {
  std::size_t gates = 0;
  for (int c = q; c > 1; c = (c + 1) / 2) {
    const int pairs = c / 2;
    gates += static_cast<std::size_t>(pairs) * ((c + 1) / 2 == 1 ? 1 : 2);
  }
  return gates;
}

}  // namespace

int millionaire_leaf_bits(int ell, OtBackend ot) {
  require(ell >= 1 && ell <= 64, ErrorCode::kInvalidArgument, "millionaire: ell must be in [1, 64]");
  const bool silent = ot == OtBackend::kSilent;
  // Estimated bits per element: leaf OTs + AND gates (see the header for both models).
  const std::size_t leaf_base = silent ? 0 : 256, and_bits = silent ? 4 : 256 + 4;
  const int max_m = silent ? 4 : 6;
  int best = 1;
  std::size_t best_bits = ~std::size_t{0};
  for (int m = 1; m <= max_m; ++m) {
    const int q = (ell + m - 1) / m, rem = ell % m;
    std::size_t bits = tree_gates(q) * and_bits;
    for (int j = 0; j < q; ++j) {
      const int w = (j == q - 1 && rem != 0) ? rem : m;
      bits += leaf_base + (silent ? static_cast<std::size_t>(w) : 0) + (std::size_t{2} << w);
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
  and_words(s, t, x.words, y.words, z.words);
  clear_tail(z.words, z.n);
  return z;
}

BoolShares millionaire_gt(MpcSession& s, std::span<const u64> input, int ell, int m) {
  require(ell >= 1 && ell <= 64, ErrorCode::kInvalidArgument, "millionaire: ell must be in [1, 64]");
  require(m == kLeafBitsDefault || (m >= 0 && m <= ot::kMaxOneOfNBits), ErrorCode::kInvalidArgument,
          "millionaire: leaf bits m must be in [0, 8]");
  if (m == kLeafBitsDefault)
    m = s.ot_backend() == OtBackend::kSilent ? millionaire_leaf_bits(ell, OtBackend::kSilent) : kMillionaireLeafBits;
  else if (m == 0)
    m = millionaire_leaf_bits(ell, s.ot_backend());
  require_in_ring(input, Ring(ell).mask, "millionaire: input not below 2^ell");
  const std::size_t n = input.size();
  BoolShares result(n);
  if (n == 0) return result;
  const std::size_t w = words_for(n);
  const int q = (ell + m - 1) / m;
  const int qfull = ell / m, rem = ell % m;

  // Stage 1: all bit triples of the tree at once (ROT both ways).
  const std::size_t gates = tree_gates(q);
  BitTriples t;
  if (gates > 0) t = make_triples(s, gates * w);

  // Stage 2: leaves, digit j = bits [j·m, j·m + w_j) (j = 0 least significant).
  std::vector<std::vector<u64>> gt(q, std::vector<u64>(w, 0)), eq(q, std::vector<u64>(w, 0));
  if (qfull > 0) leaf_group(s, input, m, m, 0, qfull, gt, eq);
  if (rem > 0) leaf_group(s, input, m, rem, qfull, 1, gt, eq);

  // Stage 3: AND tree, one exchange per level; pairs (2k, 2k+1), 2k+1 the more significant.
  std::vector<u64> xs, ys, zs;
  for (int c = q; c > 1;) {
    const int pairs = c / 2, next = (c + 1) / 2;
    const bool root = next == 1;
    const std::size_t groups = static_cast<std::size_t>(pairs) * (root ? 1 : 2);
    xs.assign(groups * w, 0);
    ys.assign(groups * w, 0);
    zs.assign(groups * w, 0);
    for (int k = 0; k < pairs; ++k) {
      std::copy(eq[2 * k + 1].begin(), eq[2 * k + 1].end(), xs.begin() + k * w);
      std::copy(gt[2 * k].begin(), gt[2 * k].end(), ys.begin() + k * w);
      if (!root) {
        std::copy(eq[2 * k + 1].begin(), eq[2 * k + 1].end(), xs.begin() + (pairs + k) * w);
        std::copy(eq[2 * k].begin(), eq[2 * k].end(), ys.begin() + (pairs + k) * w);
      }
    }
    and_words(s, t, xs, ys, zs);
    for (int k = 0; k < pairs; ++k) {
      std::vector<u64> g(w), e(w);
      for (std::size_t i = 0; i < w; ++i) {
        g[i] = gt[2 * k + 1][i] ^ zs[k * w + i];
        if (!root) e[i] = zs[(pairs + k) * w + i];
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
  result.words = std::move(gt[0]);
  clear_tail(result.words, n);
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

}  // namespace peregrine::mpc
