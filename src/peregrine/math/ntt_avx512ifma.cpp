// Placeholder: the avx512ifma kernels currently forward to the scalar reference.
#include "peregrine/math/ntt.hpp"

namespace peregrine::math {
void ntt_forward_avx512ifma(u64* a, const NttTables& t) { ntt_forward_scalar(a, t); }
void ntt_inverse_avx512ifma(u64* a, const NttTables& t) { ntt_inverse_scalar(a, t); }
}  // namespace peregrine::math
