// core/cpu: the one CPU-feature probe (CPUID + XCR0) behind every kernel dispatch.
#include <gtest/gtest.h>

#include <string>

#include "peregrine/core/cpu.hpp"

namespace peregrine {
namespace {

TEST(Cpu, PathsAreNested) {
  EXPECT_TRUE(cpu_supports(SimdPath::kScalar));
  // Every CPU with AVX-512 IFMA has AVX2 and BMI2; VAES with AVX-512 implies AES-NI.
  EXPECT_TRUE(!cpu_supports(SimdPath::kAvx512Ifma) || cpu_supports(SimdPath::kAvx2));
  EXPECT_TRUE(!cpu_supports(CpuFeature::kVaesAvx512) || cpu_supports(CpuFeature::kAesNi));
  EXPECT_TRUE(cpu_supports(best_simd_path()));
  EXPECT_EQ(std::string(cpu_feature_name(CpuFeature::kAesNi)), "aesni");
  EXPECT_EQ(std::string(cpu_feature_name(CpuFeature::kVaesAvx512)), "vaes-avx512");
}

#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
// With GCC, the direct CPUID/XCR0 probe must agree with the compiler runtime's
// __builtin_cpu_supports (which the dispatch used before; clang 14 lacks its "vaes").
TEST(Cpu, AgreesWithGccRuntime) {
  __builtin_cpu_init();
  EXPECT_EQ(cpu_supports(SimdPath::kAvx2), __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2"));
  EXPECT_EQ(cpu_supports(SimdPath::kAvx512Ifma),
            __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512ifma") && __builtin_cpu_supports("bmi2"));
  const bool aesni = __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse4.1") &&
                     __builtin_cpu_supports("ssse3");
  EXPECT_EQ(cpu_supports(CpuFeature::kAesNi), aesni);
  EXPECT_EQ(cpu_supports(CpuFeature::kVaesAvx512),
            aesni && __builtin_cpu_supports("vaes") && __builtin_cpu_supports("avx512f") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"));
}
#endif

}  // namespace
}  // namespace peregrine
