#include "peregrine/ot/crhash.hpp"

#include "peregrine/core/cpu.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/ot/kernels.hpp"

namespace peregrine::ot {

namespace detail {

bool aesni_available() noexcept { return cpu_supports(CpuFeature::kAesNi); }

bool vaes_available() noexcept { return cpu_supports(CpuFeature::kVaesAvx512); }

namespace {
bool use_vaes() noexcept {
  static const bool vaes = vaes_available();  // immutable after the (thread-safe) first call
  return vaes;
}
}  // namespace

void ccr_hash_kernel(const Block* in, Block* out, std::size_t n) noexcept {
  if (use_vaes()) ccr_hash_vaes(in, out, n);
  else ccr_hash_aesni(in, out, n);
}

void tccr_hash_kernel(const Block* in, Block tweak0, Block* out, std::size_t n) noexcept {
  if (use_vaes()) tccr_hash_vaes(in, tweak0, out, n);
  else tccr_hash_aesni(in, tweak0, out, n);
}

void tccr_hash_tweaks_kernel(const Block* in, const Block* tweaks, Block* out, std::size_t n) noexcept {
  if (use_vaes()) tccr_hash_tweaks_vaes(in, tweaks, out, n);
  else tccr_hash_tweaks_aesni(in, tweaks, out, n);
}

void lpn_indices(const AesKey& key, std::uint64_t lo0, std::uint64_t hi, std::size_t nblocks, std::uint32_t k,
                 std::uint32_t* idx) noexcept {
  if (use_vaes()) lpn_indices_vaes(key, lo0, hi, nblocks, k, idx);
  else lpn_indices_aesni(key, lo0, hi, nblocks, k, idx);
}

void require_aesni() {
  if (!aesni_available())
    throw Error(ErrorCode::kUnsupported, "the ot layer needs a CPU with AES-NI and SSE4.1");
}

}  // namespace detail

void ccr_hash(std::span<const Block> in, std::span<Block> out) {
  detail::require_aesni();
  require(in.size() == out.size(), ErrorCode::kInvalidArgument, "ccr_hash: size mismatch");
  detail::ccr_hash_kernel(in.data(), out.data(), in.size());
}

void tccr_hash(std::span<const Block> in, Block tweak0, std::span<Block> out) {
  detail::require_aesni();
  require(in.size() == out.size(), ErrorCode::kInvalidArgument, "tccr_hash: size mismatch");
  detail::tccr_hash_kernel(in.data(), tweak0, out.data(), in.size());
}

void tccr_hash(std::span<const Block> in, std::span<const Block> tweaks, std::span<Block> out) {
  detail::require_aesni();
  require(in.size() == out.size() && tweaks.size() == in.size(), ErrorCode::kInvalidArgument,
          "tccr_hash: size mismatch");
  detail::tccr_hash_tweaks_kernel(in.data(), tweaks.data(), out.data(), in.size());
}

void fixed_key_aes(std::span<const Block> in, std::span<Block> out) {
  detail::require_aesni();
  require(in.size() == out.size(), ErrorCode::kInvalidArgument, "fixed_key_aes: size mismatch");
  detail::fixed_aes(in.data(), out.data(), in.size());
}

}  // namespace peregrine::ot
