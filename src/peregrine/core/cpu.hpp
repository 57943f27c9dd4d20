// Run-time CPU feature detection for kernel dispatch.
#pragma once

namespace peregrine {

/// Vector instruction sets a kernel may be dispatched to.
enum class SimdPath {
  kScalar,      ///< portable C++ (the reference)
  kAvx2,        ///< AVX2 (+BMI2)
  kAvx512Ifma,  ///< AVX-512F/VL/DQ + IFMA52
};

/// Name of a path: "scalar", "avx2", "avx512ifma".
const char* simd_path_name(SimdPath p) noexcept;

/// True when this CPU (and OS, via XCR0) supports `p`. Computed once; thread-safe.
bool cpu_supports(SimdPath p) noexcept;

/// The fastest supported path. Thread-safe.
SimdPath best_simd_path() noexcept;

}  // namespace peregrine
