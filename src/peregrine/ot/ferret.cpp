#include "peregrine/ot/ferret.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "peregrine/core/error.hpp"
#include "peregrine/core/workers.hpp"
#include "peregrine/ot/kernels.hpp"

namespace peregrine::ot {

namespace detail {

namespace {

constexpr int kRowWeight = 10;          // nonzero entries per row of the public LPN matrix
constexpr std::size_t kEncodeRows = 1024;  // rows per index-generation batch (40 KiB of indices)
constexpr std::size_t kChunkCots = std::size_t{1} << 16;  // outputs per generated chunk
constexpr Block kClearLsb{~std::uint64_t{1}, ~std::uint64_t{0}};

Block and_block(Block a, Block m) noexcept { return {a.lo & m.lo, a.hi & m.hi}; }

/// The public key of the LPN matrix generator: the first 128 fractional bits of e.
const AesKey& lpn_key() {
  static const AesKey key = [] {
    AesKey k;
    aes_expand_key(Block{0xBF7158809CF4F3C7ULL, 0xB7E151628AED2A6AULL}, k);
    return k;
  }();
  return key;
}

void validate(const FerretParams& p, const char* what) {
  require(p.log_bin >= 1 && p.log_bin <= 20 && p.t >= 1 && p.k >= 1 &&
              p.n == (p.t << p.log_bin) && p.reserve() < p.n && p.k < (std::size_t{1} << 32),
          ErrorCode::kInvalidArgument, what);
}

}  // namespace

void half_tree_sender(Block seed, Block delta, int h, Block* leaves, Block* k0, Block* scratch) noexcept {
  leaves[0] = seed;
  leaves[1] = seed ^ delta;
  k0[0] = seed;
  // Level i (2^i nodes in leaves[0 .. 2^i)) → level i + 1, in place from the top index down;
  // the hashes of level i go to the upper half of the array, which level i + 1 then overwrites
  // only after they have been read (node p writes 2p, 2p + 1 ≥ p).
  for (int i = 1; i < h; ++i) {
    const std::size_t m = std::size_t{1} << i;
    ccr_hash_kernel(leaves, scratch, m);
    Block sum{};
    for (std::size_t p = m; p-- > 0;) {
      const Block x = leaves[p], l = scratch[p];
      leaves[2 * p + 1] = x ^ l;
      leaves[2 * p] = l;
      sum ^= l;
    }
    k0[i] = sum;
  }
}

std::size_t half_tree_receiver(const Block* kb, const std::uint8_t* b, int h, Block* leaves,
                               Block* scratch) noexcept {
  std::size_t a = b[0] ? 0 : 1;  // path node (unknown value, kept at zero)
  leaves[1 - a] = kb[0];
  leaves[a] = Block{};
  for (int i = 1; i < h; ++i) {
    const std::size_t m = std::size_t{1} << i;
    ccr_hash_kernel(leaves, scratch, m);
    for (std::size_t p = m; p-- > 0;) {
      const Block x = leaves[p], l = scratch[p];
      leaves[2 * p + 1] = x ^ l;
      leaves[2 * p] = l;
    }
    const std::size_t s = b[i] ? 1 : 0;  // the side whose level sum K_{i+1}^s the receiver got
    Block sum = kb[i];
    for (std::size_t p = 0; p < m; ++p)
      if (p != a) sum ^= leaves[2 * p + s];
    leaves[2 * a + s] = sum;
    leaves[2 * a + (1 - s)] = Block{};
    a = 2 * a + (1 - s);
  }
  Block all{};
  const std::size_t L = std::size_t{1} << h;
  for (std::size_t j = 0; j < L; ++j) all ^= leaves[j];
  leaves[a] = all;  // leaves[a] was zero: the XOR of the others
  return a;
}

void lpn_encode(const FerretParams& p, std::size_t row0, std::size_t rows, const Block* table,
                Block* out) noexcept {
  // Rows come in pairs: pair P uses AES_key({5P + c, tag}), c < 5, i.e. 20 uniform 32-bit words,
  // row 2P the first ten, row 2P + 1 the last ten; entry = ⌊word · k / 2^32⌋ (bias ≤ k/2^32).
  std::uint32_t idx[kEncodeRows * kRowWeight];
  for (std::size_t j = 0; j < rows; j += kEncodeRows) {
    const std::size_t R = std::min(kEncodeRows, rows - j), pairs = R / 2, first = (row0 + j) / 2;
    lpn_indices(lpn_key(), first * 5, p.lpn_tag, pairs * 5, static_cast<std::uint32_t>(p.k), idx);
    for (std::size_t r = 0; r < R; ++r) {
      Block acc = out[j + r];
      for (int d = 0; d < kRowWeight; ++d) acc ^= table[idx[r * kRowWeight + d]];
      out[j + r] = acc;
    }
  }
}

/// One party's half of a Ferret instance: the reserves, the iteration state and the chunk buffer.
class FerretCore {
 public:
  FerretCore(bool sender, net::Channel& ch, Prg& prg, Block delta, const FerretParams& setup,
             const FerretParams& main, std::vector<Block, AlignedAllocator<Block>> reserve)
      : sender_(sender), ch_(ch), prg_(prg), delta_(delta), main_(main), cur_(setup),
        res_(std::move(reserve)) {
    stats.iterations = 1;
    stats.base_cots = setup.reserve();
    reserve_next();
  }
  ~FerretCore() {
    wipe(res_);
    wipe(next_);
    wipe(buf_);
    wipe(seeds_);
    wipe(scratch_);
    sodium_memzero(&delta_, sizeof delta_);
  }

  /// n raw outputs (sender: lsb 0; receiver: lsb = choice bit).
  void take(Block* out, std::size_t n) {
    while (n > 0) {
      if (pos_ == len_) refill();
      const std::size_t c = std::min(n, len_ - pos_);
      std::copy_n(buf_.data() + pos_, c, out);
      pos_ += c;
      out += c;
      n -= c;
    }
  }

  Block delta() const noexcept { return delta_; }
  FerretStats stats;
  core::Workers* workers_ = nullptr;

 private:
  static void wipe(std::vector<Block, AlignedAllocator<Block>>& v) {
    if (!v.empty()) sodium_memzero(v.data(), v.size() * sizeof(Block));
  }

  void reserve_next() {
    next_.resize(main_.reserve());
    take(next_.data(), next_.size());
  }

  void refill() {
    if (bin_ == cur_.t) {  // iteration done: the reserve taken at its start seeds the next one
      res_.swap(next_);
      cur_ = main_;
      bin_ = 0;
      pos_ = len_ = 0;
      ++stats.iterations;
      reserve_next();
      if (pos_ < len_) return;
    }
    const int h = cur_.log_bin;
    const std::size_t L = std::size_t{1} << h;
    const std::size_t B = std::min(std::max<std::size_t>(1, kChunkCots >> h), cur_.t - bin_);
    buf_.resize(std::max(buf_.size(), B * L));
    msg_.resize(B * h);
    const Block* trees = res_.data() + cur_.k + bin_ * h;
    // Trees and LPN rows are independent: spread over the workers, each tree with its own scratch
    // and, on the sender, its own seed drawn in order first (the same stream for every T).
    kb_.resize(B * h);
    scratch_.resize(B * (L / 2));
    if (sender_) {
      seeds_.resize(B);
      prg_.fill(seeds_.data(), B * sizeof(Block));
      core::for_each(workers_, B, [&](std::size_t b) {
        Block* kb = kb_.data() + b * h;
        half_tree_sender(seeds_[b], delta_, h, buf_.data() + b * L, kb, scratch_.data() + b * (L / 2));
        for (int i = 0; i < h; ++i) msg_[b * h + i] = kb[i] ^ trees[b * h + i];
      });
      ch_.send(msg_.data(), msg_.size() * sizeof(Block));
      ch_.flush();
      for (std::size_t j = 0; j < B * L; ++j) buf_[j] = and_block(buf_[j], kClearLsb);
    } else {
      ch_.recv(msg_.data(), msg_.size() * sizeof(Block));
      bits_.resize(B * h);
      core::for_each(workers_, B, [&](std::size_t b) {
        Block* kb = kb_.data() + b * h;
        std::uint8_t* bits = bits_.data() + b * h;
        for (int i = 0; i < h; ++i) {
          const Block t = trees[b * h + i];
          bits[i] = t.lsb() ? 1 : 0;
          kb[i] = msg_[b * h + i] ^ t;
        }
        Block* leaves = buf_.data() + b * L;
        const std::size_t a = half_tree_receiver(kb, bits, h, leaves, scratch_.data() + b * (L / 2));
        for (std::size_t j = 0; j < L; ++j) leaves[j] = and_block(leaves[j], kClearLsb);
        leaves[a].lo |= 1;
      });
    }
    const std::size_t rows = B * L, parts = (rows + kEncodeRows - 1) / kEncodeRows;
    core::for_each(workers_, parts, [&](std::size_t part) {
      const std::size_t r0 = part * kEncodeRows;
      lpn_encode(cur_, bin_ * L + r0, std::min(kEncodeRows, rows - r0), res_.data(), buf_.data() + r0);
    });
    bin_ += B;
    pos_ = 0;
    len_ = B * L;
  }

  bool sender_;
  net::Channel& ch_;
  Prg& prg_;
  Block delta_;
  FerretParams main_, cur_;
  std::vector<Block, AlignedAllocator<Block>> res_, next_, buf_, msg_, kb_, scratch_, seeds_;
  std::vector<std::uint8_t> bits_;
  std::size_t bin_ = 0, pos_ = 0, len_ = 0;
};

}  // namespace detail

namespace {

void check_params(const FerretParams& setup, const FerretParams& main) {
  detail::validate(setup, "Ferret: inconsistent set-up LPN parameters");
  detail::validate(main, "Ferret: inconsistent main LPN parameters");
  require(setup.n - main.reserve() >= 1 && main.n - main.reserve() >= 1 && setup.n >= main.reserve(),
          ErrorCode::kInvalidArgument, "Ferret: an iteration must yield the next iteration's reserve");
}

}  // namespace

FerretCotSender::FerretCotSender(net::Channel& ch, CotSender& base, Prg& prg, const FerretParams& setup,
                                 const FerretParams& main)
    : ch_(ch) {
  detail::require_aesni();
  check_params(setup, main);
  const Block delta = base.delta();
  require(delta.lsb(), ErrorCode::kInvalidArgument, "FerretCotSender: the base Δ must have lsb 1");
  std::vector<Block, AlignedAllocator<Block>> res(setup.reserve());
  base.send_random_cot(res);
  for (auto& q : res) q.lo &= ~std::uint64_t{1};  // point-and-permute normalisation
  core_ = std::make_unique<detail::FerretCore>(true, ch, prg, delta, setup, main, std::move(res));
}

FerretCotSender::~FerretCotSender() = default;

Block FerretCotSender::delta() const noexcept { return core_->delta(); }

const FerretStats& FerretCotSender::stats() const noexcept { return core_->stats; }

void FerretCotSender::set_workers(core::Workers* w) noexcept { core_->workers_ = w; }

void FerretCotSender::send_random_cot(std::span<Block> out) {
  core_->take(out.data(), out.size());
  core_->stats.cots_out += out.size();
}

void FerretCotSender::send_cot(std::span<Block> out) {
  send_random_cot(out);
  const std::size_t n = out.size();
  if (n == 0) return;
  bits_.resize((n + 7) / 8);
  ch_.recv(bits_.data(), bits_.size());
  if (n % 8) require((bits_.back() >> (n % 8)) == 0, ErrorCode::kProtocol,
                     "Ferret: junk in the padding of the peer's derandomisation bits");
  const Block d = core_->delta();
  for (std::size_t i = 0; i < n; ++i)
    if ((bits_[i / 8] >> (i % 8)) & 1) out[i] ^= d;
}

FerretCotReceiver::FerretCotReceiver(net::Channel& ch, CotReceiver& base, Prg& prg,
                                     const FerretParams& setup, const FerretParams& main)
    : ch_(ch) {
  detail::require_aesni();
  check_params(setup, main);
  std::vector<Block, AlignedAllocator<Block>> res(setup.reserve());
  std::vector<std::uint8_t> c(setup.reserve());
  base.recv_random_cot(c, res, prg);
  for (std::size_t i = 0; i < res.size(); ++i) res[i].lo = (res[i].lo & ~std::uint64_t{1}) | (c[i] & 1);
  sodium_memzero(c.data(), c.size());
  core_ = std::make_unique<detail::FerretCore>(false, ch, prg, Block{}, setup, main, std::move(res));
}

FerretCotReceiver::~FerretCotReceiver() = default;

const FerretStats& FerretCotReceiver::stats() const noexcept { return core_->stats; }

void FerretCotReceiver::set_workers(core::Workers* w) noexcept { core_->workers_ = w; }

void FerretCotReceiver::recv_random_cot(std::span<std::uint8_t> choices_out, std::span<Block> out, Prg&) {
  require(choices_out.size() == out.size(), ErrorCode::kInvalidArgument,
          "FerretCotReceiver: choices and outputs differ in size");
  core_->take(out.data(), out.size());
  core_->stats.cots_out += out.size();
  for (std::size_t i = 0; i < out.size(); ++i) choices_out[i] = out[i].lsb() ? 1 : 0;
}

void FerretCotReceiver::recv_cot(std::span<const std::uint8_t> choices, std::span<Block> out) {
  require(choices.size() == out.size(), ErrorCode::kInvalidArgument,
          "FerretCotReceiver: choices and outputs differ in size");
  const std::size_t n = out.size();
  if (n == 0) return;
  core_->take(out.data(), n);
  core_->stats.cots_out += n;
  bits_.assign((n + 7) / 8, 0);
  for (std::size_t i = 0; i < n; ++i)
    bits_[i / 8] |= static_cast<std::uint8_t>(((choices[i] != 0) ^ out[i].lsb()) << (i % 8));
  ch_.send(bits_.data(), bits_.size());
  ch_.flush();
}

}  // namespace peregrine::ot
