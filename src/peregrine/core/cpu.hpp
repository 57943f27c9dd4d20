// Run-time CPU feature detection for kernel dispatch: the one place that asks the CPU (CPUID) and
// the OS (XGETBV) what may run. Every vector kernel of every layer is chosen through this header.
#pragma once

namespace peregrine {

/// Vector instruction sets a kernel may be dispatched to.
enum class SimdPath {
  kScalar,      ///< portable C++ (the reference)
  kAvx2,        ///< AVX2 (+BMI2)
  kAvx512Ifma,  ///< AVX-512F/VL/DQ/BW + IFMA52 (+BMI2)
};

/// Instruction-set features that are not a SimdPath (the AES kernels of the ot layer).
enum class CpuFeature {
  kAesNi,        ///< AES-NI + SSE4.1 + SSSE3 (the 128-bit AES kernels, ot/kernels.cpp)
  kVaesAvx512,   ///< kAesNi + VAES + AVX-512F/VL/BW (the 512-bit AES kernels, ot/kernels_vaes.cpp)
};

/// Name of a path: "scalar", "avx2", "avx512ifma".
const char* simd_path_name(SimdPath p) noexcept;
/// Name of a feature: "aesni", "vaes-avx512".
const char* cpu_feature_name(CpuFeature f) noexcept;

/// True when this CPU (and OS, via XCR0) supports `p`. Computed once; thread-safe.
bool cpu_supports(SimdPath p) noexcept;
/// True when this CPU (and OS, via XCR0) supports `f`. Computed once; thread-safe.
///
/// Detection reads CPUID (leaves 1 and 7.0) and XCR0 directly (not __builtin_cpu_supports, whose
/// feature names differ between compilers: clang 14 has no "vaes") and follows the rules of GCC's
/// runtime: AVX/AVX2/VAES need the OS to save SSE and AVX state (XCR0 bits 1, 2), AVX-512 features
/// also the opmask and upper-ZMM state (bits 5, 6, 7); AES-NI, SSE4.1, SSSE3 and BMI2 need no
/// OS support. Off x86 every query is false.
bool cpu_supports(CpuFeature f) noexcept;

/// The fastest supported path. Thread-safe.
SimdPath best_simd_path() noexcept;

}  // namespace peregrine
