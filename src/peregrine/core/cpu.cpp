#include "peregrine/core/cpu.hpp"

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define PEREGRINE_X86 1
#endif

namespace peregrine {

namespace {

/// The features any kernel asks about, probed once (CPUID + XCR0).
struct CpuFeatures {
  bool ssse3 = false, sse41 = false, aes = false;  // no OS state needed
  bool bmi2 = false;
  bool avx2 = false, vaes = false;                                // need XCR0 bits 1, 2
  bool avx512f = false, avx512dq = false, avx512bw = false,       // need XCR0 bits 1, 2, 5, 6, 7
      avx512vl = false, avx512ifma = false;
};

#ifdef PEREGRINE_X86
std::uint64_t read_xcr0() noexcept {
  std::uint32_t lo = 0, hi = 0;
  // XGETBV with ECX = 0 (XCR0); only valid when CPUID.1:ECX.OSXSAVE is set (checked by the caller).
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (std::uint64_t{hi} << 32) | lo;
}
#endif

CpuFeatures probe() noexcept {
  CpuFeatures f;
#ifdef PEREGRINE_X86
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const unsigned max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 1) return f;
  __cpuid(1, eax, ebx, ecx, edx);
  f.ssse3 = ecx & (1u << 9);
  f.sse41 = ecx & (1u << 19);
  f.aes = ecx & (1u << 25);
  const bool osxsave = ecx & (1u << 27);
  const std::uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool avx_os = (xcr0 & 0x6) == 0x6;                // XMM (bit 1) and YMM (bit 2) state
  const bool avx512_os = avx_os && (xcr0 & 0xe0) == 0xe0;  // + opmask, ZMM0-15 upper, ZMM16-31
  if (max_leaf < 7) return f;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  f.bmi2 = ebx & (1u << 8);
  f.avx2 = avx_os && (ebx & (1u << 5));
  f.vaes = avx_os && (ecx & (1u << 9));
  f.avx512f = avx512_os && (ebx & (1u << 16));
  f.avx512dq = avx512_os && (ebx & (1u << 17));
  f.avx512ifma = avx512_os && (ebx & (1u << 21));
  f.avx512bw = avx512_os && (ebx & (1u << 30));
  f.avx512vl = avx512_os && (ebx & (1u << 31));
#endif
  return f;
}

const CpuFeatures& features() noexcept {
  static const CpuFeatures f = probe();  // thread-safe initialisation, immutable afterwards
  return f;
}

}  // namespace

const char* simd_path_name(SimdPath p) noexcept {
  switch (p) {
    case SimdPath::kScalar: return "scalar";
    case SimdPath::kAvx2: return "avx2";
    case SimdPath::kAvx512Ifma: return "avx512ifma";
  }
  return "unknown";
}

const char* cpu_feature_name(CpuFeature f) noexcept {
  switch (f) {
    case CpuFeature::kAesNi: return "aesni";
    case CpuFeature::kVaesAvx512: return "vaes-avx512";
  }
  return "unknown";
}

bool cpu_supports(SimdPath p) noexcept {
  const CpuFeatures& f = features();
  switch (p) {
    case SimdPath::kScalar: return true;
    case SimdPath::kAvx2: return f.avx2 && f.bmi2;
    case SimdPath::kAvx512Ifma:
      return f.avx512f && f.avx512vl && f.avx512dq && f.avx512bw && f.avx512ifma && f.bmi2;
  }
  return false;
}

bool cpu_supports(CpuFeature feature) noexcept {
  const CpuFeatures& f = features();
  switch (feature) {
    case CpuFeature::kAesNi: return f.aes && f.sse41 && f.ssse3;
    case CpuFeature::kVaesAvx512:
      return cpu_supports(CpuFeature::kAesNi) && f.vaes && f.avx512f && f.avx512vl && f.avx512bw;
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
