#include "peregrine/core/cpu.hpp"

namespace peregrine {

const char* simd_path_name(SimdPath p) noexcept {
  switch (p) {
    case SimdPath::kScalar: return "scalar";
    case SimdPath::kAvx2: return "avx2";
    case SimdPath::kAvx512Ifma: return "avx512ifma";
  }
  return "unknown";
}

bool cpu_supports(SimdPath p) noexcept {
  // __builtin_cpu_supports consults CPUID and the OS-enabled state; it is thread-safe after
  // __builtin_cpu_init, which the runtime calls before main.
  switch (p) {
    case SimdPath::kScalar: return true;
    case SimdPath::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
    case SimdPath::kAvx512Ifma:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512ifma") && __builtin_cpu_supports("bmi2");
  }
  return false;
}

SimdPath best_simd_path() noexcept {
  static const SimdPath best = cpu_supports(SimdPath::kAvx512Ifma) ? SimdPath::kAvx512Ifma
                               : cpu_supports(SimdPath::kAvx2)     ? SimdPath::kAvx2
                                                                   : SimdPath::kScalar;
  return best;
}

}  // namespace peregrine
