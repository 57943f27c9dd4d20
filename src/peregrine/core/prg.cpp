#include "peregrine/core/prg.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include <cstring>

#include "peregrine/core/error.hpp"

namespace peregrine {

struct Prg::CipherCtx {
  EVP_CIPHER_CTX* ctx = nullptr;
  ~CipherCtx() {
    if (ctx) EVP_CIPHER_CTX_free(ctx);
  }
};

Prg Prg::from_os() {
  if (sodium_init() < 0) throw Error(ErrorCode::kCrypto, "libsodium initialisation failed");
  Seed s;
  randombytes_buf(s.data(), s.size());
  return Prg(s);
}

Prg Prg::from_seed(const Seed& seed) { return Prg(seed); }

Prg::Prg(const Seed& seed) : ctx_(std::make_unique<CipherCtx>()), seed_(seed) {
  ctx_->ctx = EVP_CIPHER_CTX_new();
  if (!ctx_->ctx) throw Error(ErrorCode::kCrypto, "EVP_CIPHER_CTX_new failed");
  if (EVP_EncryptInit_ex(ctx_->ctx, EVP_aes_128_ctr(), nullptr, seed.data(), seed.data() + 16) != 1)
    throw Error(ErrorCode::kCrypto, "AES-128-CTR initialisation failed");
}

Prg::Prg(Prg&& o) noexcept : ctx_(std::move(o.ctx_)), seed_(o.seed_), pos_(o.pos_) {
  std::memcpy(buf_, o.buf_, kBufBytes);
  o.pos_ = kBufBytes;
}

Prg& Prg::operator=(Prg&& o) noexcept {
  ctx_ = std::move(o.ctx_);
  seed_ = o.seed_;
  pos_ = o.pos_;
  std::memcpy(buf_, o.buf_, kBufBytes);
  o.pos_ = kBufBytes;
  return *this;
}

Prg::~Prg() { sodium_memzero(buf_, kBufBytes); }

void Prg::refill() {
  static const std::uint8_t zeros[kBufBytes] = {};
  int len = 0;
  if (EVP_EncryptUpdate(ctx_->ctx, buf_, &len, zeros, static_cast<int>(kBufBytes)) != 1 ||
      len != static_cast<int>(kBufBytes))
    throw Error(ErrorCode::kCrypto, "AES-128-CTR keystream generation failed");
  pos_ = 0;
}

void Prg::fill(void* out, std::size_t n) {
  auto* o = static_cast<std::uint8_t*>(out);
  while (n > 0) {
    if (pos_ == kBufBytes) refill();
    std::size_t take = std::min(n, kBufBytes - pos_);
    std::memcpy(o, buf_ + pos_, take);
    pos_ += take;
    o += take;
    n -= take;
  }
}

std::uint64_t Prg::next_u64() {
  std::uint64_t v;
  fill(&v, sizeof v);
  return v;
}

std::uint64_t Prg::uniform_below(std::uint64_t bound) {
  if (bound == 0) throw Error(ErrorCode::kInvalidArgument, "uniform_below(0)");
  if ((bound & (bound - 1)) == 0) return next_u64() & (bound - 1);
  const int bits = 64 - __builtin_clzll(bound - 1);
  const std::uint64_t mask = bits == 64 ? ~0ULL : ((1ULL << bits) - 1);
  for (;;) {
    std::uint64_t v = next_u64() & mask;
    if (v < bound) return v;
  }
}

Seed Prg::next_seed() {
  Seed s;
  fill(s.data(), s.size());
  return s;
}

}  // namespace peregrine
