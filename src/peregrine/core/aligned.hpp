// 64-byte aligned storage for vector kernels.
#pragma once
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace peregrine {

/// Allocator that aligns every allocation to `Align` bytes (default 64, one cache line and one
/// AVX-512 register). Stateless, thread-safe.
template <class T, std::size_t Align = 64>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() noexcept = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U, Align>&) noexcept {}
  template <class U>
  struct rebind {
    using other = AlignedAllocator<U, Align>;
  };
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(Align)));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(Align)); }
  friend bool operator==(const AlignedAllocator&, const AlignedAllocator&) { return true; }
};

/// A std::vector of 64-bit words aligned to 64 bytes: the storage of every polynomial.
using AlignedU64 = std::vector<std::uint64_t, AlignedAllocator<std::uint64_t>>;

}  // namespace peregrine
