// Max-pool and argmax on arithmetic shares by comparison trees (TECHNIQUES.md §7.3;
// CrypTFlow2 §4 "Maxpool" and "Argmax").
//
// max(a, b) = b + DReLU(a − b)·(a − b): one DReLU (millionaire on ℓ−1 bits) and one multiplexer
// per comparison; a group of k values takes ⌈log2 k⌉ levels, each level batched over every group
// (k − 1 comparisons per group in all). Exact as long as every difference a − b fits: inputs must
// lie in [−2^{ℓ−2}, 2^{ℓ−2}) (signed), which the caller's range plan guarantees; outside that
// range the result is unspecified (never a crash).
// Common rules: as nonlinear.hpp. One thread per session.
#pragma once
#include <cstddef>

#include "peregrine/mpc/nonlinear.hpp"

namespace peregrine::mpc {

/// x holds n groups of k values ([n][k] row-major, k ≥ 1); returns shares of the n maxima.
/// Errors: kInvalidArgument when k == 0 or x.v.size() is not a multiple of k.
ArithShares max_groups(MpcSession& s, const ArithShares& x, std::size_t k);

/// Shares of each group's maximum and of its index in [0, k) (the first index on ties), both in
/// x's ring. The index is carried through the tree by the same DReLU bits (one extra multiplexer
/// element per comparison). Errors: as max_groups, and k ≥ 2^{ℓ−1}.
struct ArgmaxShares {
  ArithShares value;
  ArithShares index;
};
ArgmaxShares argmax_groups(MpcSession& s, const ArithShares& x, std::size_t k);

/// 2-D max-pool of x [C][H][W] with window kh×kw and strides sh, sw, no padding; returns
/// [C][Ho][Wo], Ho = (H − kh)/sh + 1, Wo = (W − kw)/sw + 1. The windows are gathered locally and
/// reduced by max_groups. Errors: kInvalidArgument on a zero or oversized window/stride or
/// x.v.size() != C·H·W.
ArithShares maxpool2d(MpcSession& s, const ArithShares& x, std::size_t C, std::size_t H,
                      std::size_t W, std::size_t kh, std::size_t kw, std::size_t sh, std::size_t sw);

}  // namespace peregrine::mpc
