// Element moves shared by the float and the fixed-point reference executors and the engine's local
// strategy (on shares): the index arithmetic of Slice, Pad, Concat and Expand on row-major tensors,
// for any element type.
// Shapes are assumed valid (the executors' callers validated them). Thread-safe (pure).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "peregrine/nn/graph.hpp"

namespace peregrine::nn::detail {

/// Row-major strides of `s` (the last axis has stride 1).
inline std::vector<std::int64_t> strides_of(const Shape& s) {
  std::vector<std::int64_t> st(s.size(), 1);
  for (std::size_t k = s.size(); k-- > 1;) st[k - 1] = st[k] * s[k];
  return st;
}

/// y[j] = x[starts + j·steps] per axis; y already sized to element_count(ys).
template <class T>
void slice_into(const std::vector<T>& x, const Shape& xs, std::vector<T>& y, const Shape& ys,
                const std::vector<std::int64_t>& starts, const std::vector<std::int64_t>& steps) {
  const auto ist = strides_of(xs), ost = strides_of(ys);
  for (std::int64_t k = 0; k < static_cast<std::int64_t>(y.size()); ++k) {
    std::int64_t rem = k, src = 0;
    for (std::size_t d = 0; d < ys.size(); ++d) {
      const std::int64_t j = rem / ost[d];
      rem %= ost[d];
      src += (starts[d] + j * steps[d]) * ist[d];
    }
    y[static_cast<std::size_t>(k)] = x[static_cast<std::size_t>(src)];
  }
}

/// Writes x into y at offset pads[d] per axis (pads = begins then ends); y is pre-filled with the
/// padding value.
template <class T>
void pad_into(const std::vector<T>& x, const Shape& xs, std::vector<T>& y, const Shape& ys,
              const std::vector<std::int64_t>& pads) {
  const auto ist = strides_of(xs), ost = strides_of(ys);
  for (std::int64_t k = 0; k < static_cast<std::int64_t>(x.size()); ++k) {
    std::int64_t rem = k, dst = 0;
    for (std::size_t d = 0; d < xs.size(); ++d) {
      const std::int64_t j = rem / ist[d];
      rem %= ist[d];
      dst += (j + pads[d]) * ost[d];
    }
    y[static_cast<std::size_t>(dst)] = x[static_cast<std::size_t>(k)];
  }
}

/// Concatenates parts (with shapes `shapes`) along `axis` into y of shape ys.
template <class T>
void concat_into(const std::vector<const std::vector<T>*>& parts, const std::vector<const Shape*>& shapes,
                 std::vector<T>& y, const Shape& ys, std::size_t axis) {
  std::int64_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < axis; ++d) outer *= ys[d];
  for (std::size_t d = axis + 1; d < ys.size(); ++d) inner *= ys[d];
  std::size_t pos = 0;
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::size_t k = 0; k < parts.size(); ++k) {
      const std::int64_t blk = (*shapes[k])[axis] * inner;
      std::copy(parts[k]->begin() + o * blk, parts[k]->begin() + (o + 1) * blk,
                y.begin() + static_cast<std::ptrdiff_t>(pos));
      pos += static_cast<std::size_t>(blk);
    }
}

/// Broadcast of x (shape xs) to ys, same rank, each axis of xs equal to ys's or 1 (repeated): the
/// slice with start 0 and step 0 on the repeated axes; y already sized to element_count(ys).
template <class T>
void expand_into(const std::vector<T>& x, const Shape& xs, std::vector<T>& y, const Shape& ys) {
  std::vector<std::int64_t> starts(xs.size(), 0), steps(xs.size());
  for (std::size_t d = 0; d < xs.size(); ++d) steps[d] = xs[d] == 1 && ys[d] != 1 ? 0 : 1;
  slice_into(x, xs, y, ys, starts, steps);
}

}  // namespace peregrine::nn::detail
