// Local (communication-free) operators on arithmetic shares over Z_{2^ℓ} (DESIGN.md §3): residual
// add, average-pool and global-average-pool sums, zero padding, strided slicing, concatenation and
// reshape/flatten.
//
// Why these are local: every operator here is linear in its input with public coefficients, so
// applying it to each party's share separately gives shares of the result: x = x_0 + x_1 implies
// L(x) = L(x_0) + L(x_1) (mod 2^ℓ). The two share-level rules (DESIGN.md §3, TECHNIQUES.md §0.2):
//   * multiplying by a public constant is done on both shares (mpc::mul_public);
//   * adding a public constant is done on the server's share only (mpc::add_public);
//     no operator in this file adds a constant, so both parties run the very same code.
// Zero padding is a public constant 0 written into both shares (0 + 0 = 0), so it is local too.
//
// Common rules for every function below.
//   * Layout: tensors are the flat vector ArithShares::v in row-major order: [C,H,W] for the pooling
//     operators, a general N-d shape given as `dims` (outermost first) for the others. A rank-0
//     shape (dims = {}) holds one element. A shape with a zero extent holds no element.
//   * Ring: outputs are in the input's ring and every output word is reduced mod 2^ℓ (masked).
//   * Errors: Error(kInvalidArgument) on any shape/ring mismatch or out-of-domain argument, thrown
//     before any allocation. Element counts are computed with overflow checks: a shape whose element
//     count does not fit in std::size_t (or exceeds std::vector<u64>::max_size()) is rejected with
//     kInvalidArgument rather than wrapping around.
//   * Thread-safety: pure functions (no global state, inputs are only read); safe to call
//     concurrently, including on shared inputs.
//   * Cost: local, no communication, no rounds; time linear in the input plus output size (the
//     pooling sums: in C·Ho·Wo·kh·kw).
//   * Source: DESIGN.md §3 (fixed-point semantics); local, no communication.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "peregrine/mpc/share.hpp"

namespace peregrine::linear {

/// A tensor shape, outermost axis first (row-major).
using Dims = std::vector<std::size_t>;

// ---- shape helpers (no shares involved; same validation as the operators) -----------------------

/// Product of the extents of `dims` (1 for rank 0). Errors: kInvalidArgument when the product
/// overflows std::size_t or exceeds std::vector<std::uint64_t>::max_size(). Thread-safe.
std::size_t element_count(const Dims& dims);

/// Output extent of a pooling window along one axis (ONNX ceil_mode = 0, dilation 1):
/// ⌊(n + pad_begin + pad_end − k) / s⌋ + 1. Errors: kInvalidArgument when k or s is 0, when the
/// padded extent overflows or is smaller than k. Thread-safe.
std::size_t pool_out_dim(std::size_t n, std::size_t k, std::size_t s, std::size_t pad_begin,
                         std::size_t pad_end);

/// The public constant round(2^f / k) (half rounded up: ⌊(2^f + ⌊k/2⌋) / k⌋) that the average-pool
/// operators multiply by. 0 when k > 2^{f+1} (the caller's quantisation plan should avoid that).
/// Errors: kInvalidArgument unless 0 ≤ f ≤ 63 and k ≥ 1. Thread-safe.
std::uint64_t avg_pool_multiplier(std::size_t k, int f);

/// dims[i] + pads_begin[i] + pads_end[i] for every axis. Errors: as zero_pad. Thread-safe.
Dims pad_dims(const Dims& dims, const Dims& pads_begin, const Dims& pads_end);

/// Output shape of strided_slice (see there for the semantics and errors). Thread-safe.
Dims slice_dims(const Dims& dims, const std::vector<std::int64_t>& starts,
                const std::vector<std::int64_t>& ends, const std::vector<std::int64_t>& steps);

/// Output shape of concat: the inputs' common shape with the extents along `axis` summed.
/// Errors: as concat (shape checks only). Thread-safe.
Dims concat_dims(std::span<const Dims> dims, std::size_t axis);

/// ONNX Flatten's output shape [d_0·…·d_{axis−1}, d_axis·…·d_{r−1}] for 0 ≤ axis ≤ r (an empty
/// product is 1). Flatten itself is a no-op on the flat vector: use reshape(x, dims,
/// flatten_dims(dims, axis)) to get the checked version. Errors: kInvalidArgument when axis > r or
/// element_count(dims) fails. Thread-safe.
Dims flatten_dims(const Dims& dims, std::size_t axis);

// ---- operators --------------------------------------------------------------------------------

/// Residual (skip-connection) add: shares of a + b (mod 2^ℓ), elementwise; any common shape.
/// Exact (DESIGN.md §3). Errors: kInvalidArgument when the rings or the lengths differ.
/// Thread-safe (pure). Source: DESIGN.md §3; local, no communication.
mpc::ArithShares residual_add(const mpc::ArithShares& a, const mpc::ArithShares& b);

/// Average pool, before truncation: shares of c_w · Σ_{window w} x over the zero-padded input,
/// where c_w = round(2^f / k_w) (avg_pool_multiplier), output [C,Ho,Wo] with
/// Ho = pool_out_dim(H, kh, sh, pad_t, pad_b) and Wo = pool_out_dim(W, kw, sw, pad_l, pad_r)
/// (ONNX AveragePool with ceil_mode = 0, no dilation). The caller then truncates by f
/// (mpc::truncate), which turns the scale 2^{2f} result back into scale 2^f.
///
/// Divisor k_w: with count_include_pad = true (the default; ONNX count_include_pad = 1, PyTorch's
/// AvgPool2d default) k_w = kh·kw for every window, padding zeros counted; with
/// count_include_pad = false (ONNX's attribute default 0) k_w is the number of window positions that
/// fall inside the H×W image, so the multiplier varies near the border.
///
/// Accuracy: with S the signed window sum (plain integers at scale 2^f) and y = ⌊c_w·S / 2^f⌋ the
/// exactly truncated result, |y − S/k_w| ≤ 1 + |S| / 2^{f+1} (the rounding of c_w costs at most
/// |S|/2^{f+1}, the floor at most 1 LSB); an approximate truncation adds 1 LSB more. Correct only
/// while |c_w·S| < 2^{ℓ−1} (no wrap-around), which the caller's range plan must guarantee; the
/// result is always exactly c_w·S mod 2^ℓ.
///
/// `me` is this process's party; the operator is identical for both (it only sums and multiplies
/// by a public constant, done on both shares), the argument is kept so that every local operator
/// has the same calling shape.
///
/// Errors: kInvalidArgument when x.v.size() != C·H·W, H or W is 0, a window or stride extent is 0,
/// a pad is not smaller than its window extent (pad_t, pad_b < kh; pad_l, pad_r < kw, so every
/// window meets the image), the padded image is smaller than the window, kh·kw or the output
/// count overflows, f is not in
/// [0, min(ℓ−1, 63)], or `me` is not a valid Party; counts are overflow-checked.
/// Thread-safe (pure). Source: DESIGN.md §3 ("average pool multiplies by round(2^f / k) and
/// truncates by f"); local, no communication.
mpc::ArithShares avg_pool_sum(const mpc::ArithShares& x, std::size_t C, std::size_t H, std::size_t W,
                              std::size_t kh, std::size_t kw, std::size_t sh, std::size_t sw,
                              std::size_t pad_t, std::size_t pad_b, std::size_t pad_l,
                              std::size_t pad_r, int f, mpc::Party me,
                              bool count_include_pad = true);

/// Global average pool, before truncation: x [C,H,W] → shares of round(2^f / (H·W)) · Σ_{h,w} x[c]
/// as [C]; the caller truncates by f. Same rounding and accuracy as avg_pool_sum with k = H·W.
/// Errors: kInvalidArgument when x.v.size() != C·H·W (overflow-checked), H or W is 0, or f is not in
/// [0, min(ℓ−1, 63)]. C = 0 gives an empty output. Thread-safe (pure).
/// Source: DESIGN.md §3; local, no communication.
mpc::ArithShares global_avg_pool_sum(const mpc::ArithShares& x, std::size_t C, std::size_t H,
                                     std::size_t W, int f);

/// Zero padding on any axes (channels included): x with shape `dims` → shape
/// pad_dims(dims, pads_begin, pads_end), the new positions holding shares of 0 (both shares 0).
/// Errors: kInvalidArgument when pads_begin/pads_end do not have one entry per axis,
/// x.v.size() != element_count(dims), or an output extent or the output count overflows.
/// Thread-safe (pure). Source: DESIGN.md §3; local, no communication.
mpc::ArithShares zero_pad(const mpc::ArithShares& x, const Dims& dims, const Dims& pads_begin,
                          const Dims& pads_end);

/// Strided slice with ONNX Slice semantics for positive steps, one entry per axis in starts, ends
/// and steps (use 0, INT64_MAX, 1 to keep an axis whole): per axis of extent d, a negative start or
/// end is taken from the end (+d), then both are clamped to [0, d]; the axis keeps indices
/// start, start+step, … < end, i.e. ⌈(end − start) / step⌉ of them (0 when end ≤ start).
/// Output shape: slice_dims(dims, starts, ends, steps).
/// Errors: kInvalidArgument when the three lists do not have one entry per axis, a step is ≤ 0, an
/// extent exceeds INT64_MAX, or x.v.size() != element_count(dims). Thread-safe (pure).
/// Source: DESIGN.md §3 (ONNX Slice); local, no communication.
mpc::ArithShares strided_slice(const mpc::ArithShares& x, const Dims& dims,
                               const std::vector<std::int64_t>& starts,
                               const std::vector<std::int64_t>& ends,
                               const std::vector<std::int64_t>& steps);

/// Concatenation along `axis` (ONNX Concat with a non-negative axis): parts[i] has shape dims[i];
/// all shapes have the same rank r > axis and agree on every other axis. Output shape:
/// concat_dims(dims, axis). Errors: kInvalidArgument when parts is empty, parts.size() !=
/// dims.size(), the rings differ, a part's length is not element_count(dims[i]), ranks differ,
/// axis ≥ r, another axis differs, or the summed extent/count overflows. Thread-safe (pure).
/// Source: DESIGN.md §3; local, no communication.
mpc::ArithShares concat(std::span<const mpc::ArithShares> parts, std::span<const Dims> dims,
                        std::size_t axis);

/// Reshape (and Flatten, Squeeze, Unsqueeze): a no-op on the flat row-major vector. This checked
/// form only validates that x.v.size() == element_count(from_dims) == element_count(to_dims) and
/// returns x (moved; masked to its ring). Errors: kInvalidArgument on a count mismatch or an
/// overflowing count. Thread-safe (pure). Source: DESIGN.md §3; local, no communication.
mpc::ArithShares reshape(mpc::ArithShares x, const Dims& from_dims, const Dims& to_dims);

}  // namespace peregrine::linear
