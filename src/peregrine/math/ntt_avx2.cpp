// Placeholder: the avx2 kernels currently forward to the scalar reference.
#include "peregrine/math/ntt.hpp"

namespace peregrine::math {
void ntt_forward_avx2(u64* a, const NttTables& t) { ntt_forward_scalar(a, t); }
void ntt_inverse_avx2(u64* a, const NttTables& t) { ntt_inverse_scalar(a, t); }
}  // namespace peregrine::math
