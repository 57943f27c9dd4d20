#include "peregrine/linear/local_ops.hpp"

#include <algorithm>
#include <limits>

namespace peregrine::linear {

using mpc::ArithShares;
using mpc::u64;

namespace {

constexpr auto kInvalid = ErrorCode::kInvalidArgument;

/// The largest element count a share vector may have.
std::size_t max_elements() { return std::vector<u64>().max_size(); }

/// a + b, throwing instead of wrapping.
std::size_t checked_add(std::size_t a, std::size_t b, const char* what) {
  require(a <= std::numeric_limits<std::size_t>::max() - b, kInvalid, what);
  return a + b;
}

/// a · b, throwing instead of wrapping.
std::size_t checked_mul(std::size_t a, std::size_t b, const char* what) {
  require(b == 0 || a <= std::numeric_limits<std::size_t>::max() / b, kInvalid, what);
  return a * b;
}

void require_length(const ArithShares& x, std::size_t n) {
  require(x.v.size() == n, kInvalid, "share vector length does not match the shape");
}

void require_f(const mpc::Ring& ring, int f) {
  require(f >= 0 && f < ring.bits && f <= 63, kInvalid, "scale f must be in [0, min(l-1, 63)]");
}

/// Row-major strides of `dims` (the element count must already be validated).
std::vector<std::size_t> strides_of(const Dims& dims) {
  std::vector<std::size_t> s(dims.size(), 1);
  for (std::size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

/// Per-axis ONNX Slice parameters after normalisation: first index, step and output extent.
struct AxisSlice {
  std::size_t start, step, count;
};

std::vector<AxisSlice> normalise_slice(const Dims& dims, const std::vector<std::int64_t>& starts,
                                       const std::vector<std::int64_t>& ends,
                                       const std::vector<std::int64_t>& steps) {
  require(starts.size() == dims.size() && ends.size() == dims.size() && steps.size() == dims.size(),
          kInvalid, "slice: starts, ends and steps need one entry per axis");
  std::vector<AxisSlice> out(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    require(steps[i] > 0, kInvalid, "slice: steps must be positive");
    require(dims[i] <= static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max()), kInvalid,
            "slice: extent exceeds INT64_MAX");
    const auto d = static_cast<std::int64_t>(dims[i]);
    auto clamp = [d](std::int64_t v) {
      if (v < 0) v += d;  // no overflow: v ≥ INT64_MIN and 0 ≤ d ≤ INT64_MAX
      return std::clamp<std::int64_t>(v, 0, d);
    };
    const std::int64_t b = clamp(starts[i]), e = clamp(ends[i]);
    const std::int64_t n = e > b ? (e - b - 1) / steps[i] + 1 : 0;  // ⌈(e − b) / step⌉ without overflow
    out[i] = {static_cast<std::size_t>(b), static_cast<std::size_t>(steps[i]),
              static_cast<std::size_t>(n)};
  }
  return out;
}

/// Validated pooling geometry shared by avg_pool_sum's checks.
struct PoolGeometry {
  std::size_t Ho, Wo, out_count, window;  ///< window = kh·kw
};

PoolGeometry check_pool(const ArithShares& x, std::size_t C, std::size_t H, std::size_t W,
                        std::size_t kh, std::size_t kw, std::size_t sh, std::size_t sw,
                        std::size_t pad_t, std::size_t pad_b, std::size_t pad_l, std::size_t pad_r,
                        int f) {
  require(H >= 1 && W >= 1, kInvalid, "avg pool: H and W must be at least 1");
  require_length(x, element_count({C, H, W}));
  require_f(x.ring, f);
  require(kh >= 1 && kw >= 1 && sh >= 1 && sw >= 1, kInvalid, "avg pool: zero window or stride");
  require(pad_t < kh && pad_b < kh && pad_l < kw && pad_r < kw, kInvalid,
          "avg pool: each pad must be smaller than the window extent");
  const std::size_t Ho = pool_out_dim(H, kh, sh, pad_t, pad_b);
  const std::size_t Wo = pool_out_dim(W, kw, sw, pad_l, pad_r);
  return {Ho, Wo, element_count({C, Ho, Wo}), checked_mul(kh, kw, "avg pool: window size overflows")};
}

}  // namespace

// ---- shape helpers ------------------------------------------------------------------------------

std::size_t element_count(const Dims& dims) {
  std::size_t n = 1;
  bool zero = false;
  for (std::size_t d : dims) zero = zero || d == 0;
  if (zero) return 0;
  for (std::size_t d : dims) n = checked_mul(n, d, "element count overflows");
  require(n <= max_elements(), kInvalid, "element count exceeds the largest share vector");
  return n;
}

std::size_t pool_out_dim(std::size_t n, std::size_t k, std::size_t s, std::size_t pad_begin,
                         std::size_t pad_end) {
  require(k >= 1 && s >= 1, kInvalid, "pool: zero window or stride");
  const std::size_t padded =
      checked_add(checked_add(n, pad_begin, "pool: padded extent overflows"), pad_end,
                  "pool: padded extent overflows");
  require(padded >= k, kInvalid, "pool: window larger than the padded input");
  return (padded - k) / s + 1;
}

std::uint64_t avg_pool_multiplier(std::size_t k, int f) {
  require(k >= 1, kInvalid, "avg pool: divisor must be at least 1");
  require(f >= 0 && f <= 63, kInvalid, "avg pool: f must be in [0, 63]");
  // 2^f + ⌊k/2⌋ ≤ 2^63 + (2^64 − 1)/2 < 2^64: no overflow.
  const u64 k64 = static_cast<u64>(k);
  return ((u64{1} << f) + k64 / 2) / k64;
}

Dims pad_dims(const Dims& dims, const Dims& pads_begin, const Dims& pads_end) {
  require(pads_begin.size() == dims.size() && pads_end.size() == dims.size(), kInvalid,
          "pad: pads_begin and pads_end need one entry per axis");
  Dims out(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i)
    out[i] = checked_add(checked_add(dims[i], pads_begin[i], "pad: extent overflows"), pads_end[i],
                         "pad: extent overflows");
  element_count(out);
  return out;
}

Dims slice_dims(const Dims& dims, const std::vector<std::int64_t>& starts,
                const std::vector<std::int64_t>& ends, const std::vector<std::int64_t>& steps) {
  const auto axes = normalise_slice(dims, starts, ends, steps);
  Dims out(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) out[i] = axes[i].count;
  return out;
}

Dims concat_dims(std::span<const Dims> dims, std::size_t axis) {
  require(!dims.empty(), kInvalid, "concat: no inputs");
  const std::size_t rank = dims[0].size();
  require(axis < rank, kInvalid, "concat: axis out of range");
  Dims out = dims[0];
  for (std::size_t p = 1; p < dims.size(); ++p) {
    require(dims[p].size() == rank, kInvalid, "concat: inputs differ in rank");
    for (std::size_t i = 0; i < rank; ++i)
      if (i != axis) require(dims[p][i] == out[i], kInvalid, "concat: inputs differ off the axis");
    out[axis] = checked_add(out[axis], dims[p][axis], "concat: extent overflows");
  }
  element_count(out);
  return out;
}

Dims flatten_dims(const Dims& dims, std::size_t axis) {
  require(axis <= dims.size(), kInvalid, "flatten: axis out of range");
  element_count(dims);
  // Both halves checked on their own: a zero extent in one half can hide an overflow in the other.
  const auto mid = dims.begin() + static_cast<std::ptrdiff_t>(axis);
  return {element_count(Dims(dims.begin(), mid)), element_count(Dims(mid, dims.end()))};
}

// ---- operators ------------------------------------------------------------------------------------

ArithShares residual_add(const ArithShares& a, const ArithShares& b) {
  require(a.ring == b.ring, kInvalid, "residual add: rings differ");
  require(a.v.size() == b.v.size(), kInvalid, "residual add: shapes differ");
  return mpc::add(a, b);
}

ArithShares avg_pool_sum(const ArithShares& x, std::size_t C, std::size_t H, std::size_t W,
                         std::size_t kh, std::size_t kw, std::size_t sh, std::size_t sw,
                         std::size_t pad_t, std::size_t pad_b, std::size_t pad_l, std::size_t pad_r,
                         int f, mpc::Party me, bool count_include_pad) {
  require(me == mpc::Party::kServer || me == mpc::Party::kClient, kInvalid, "avg pool: invalid party");
  const PoolGeometry g = check_pool(x, C, H, W, kh, kw, sh, sw, pad_t, pad_b, pad_l, pad_r, f);
  const u64 mask = x.ring.mask;
  const u64 c_full = avg_pool_multiplier(g.window, f);
  ArithShares out{x.ring, std::vector<u64>(g.out_count)};
  for (std::size_t c = 0; c < C; ++c) {
    const u64* plane = x.v.data() + c * H * W;
    u64* dst = out.v.data() + c * g.Ho * g.Wo;
    for (std::size_t oy = 0; oy < g.Ho; ++oy) {
      // Window rows [oy·sh − pad_t, oy·sh − pad_t + kh) clipped to [0, H); in unsigned arithmetic
      // shifted by pad_t: rows [top, top + kh) of the padded image. top + kh ≤ H + pad_t + pad_b.
      const std::size_t top = oy * sh;
      const std::size_t y0 = std::max(top, pad_t) - pad_t;
      const std::size_t y1 = std::min(top + kh, pad_t + H) - pad_t;
      for (std::size_t ox = 0; ox < g.Wo; ++ox) {
        const std::size_t left = ox * sw;
        const std::size_t x0 = std::max(left, pad_l) - pad_l;
        const std::size_t x1 = std::min(left + kw, pad_l + W) - pad_l;
        u64 sum = 0;
        for (std::size_t y = y0; y < y1; ++y)
          for (std::size_t xx = x0; xx < x1; ++xx) sum += plane[y * W + xx];
        const u64 mult = count_include_pad ? c_full : avg_pool_multiplier((y1 - y0) * (x1 - x0), f);
        dst[oy * g.Wo + ox] = (sum * mult) & mask;
      }
    }
  }
  return out;
}

ArithShares global_avg_pool_sum(const ArithShares& x, std::size_t C, std::size_t H, std::size_t W,
                                int f) {
  require(H >= 1 && W >= 1, kInvalid, "global avg pool: H and W must be at least 1");
  const std::size_t hw = element_count({H, W});
  require_length(x, element_count({C, H, W}));
  require_f(x.ring, f);
  const u64 mult = avg_pool_multiplier(hw, f);
  ArithShares out{x.ring, std::vector<u64>(C)};
  for (std::size_t c = 0; c < C; ++c) {
    const u64* plane = x.v.data() + c * hw;
    u64 sum = 0;
    for (std::size_t i = 0; i < hw; ++i) sum += plane[i];
    out.v[c] = (sum * mult) & x.ring.mask;
  }
  return out;
}

ArithShares zero_pad(const ArithShares& x, const Dims& dims, const Dims& pads_begin,
                     const Dims& pads_end) {
  const Dims out_dims = pad_dims(dims, pads_begin, pads_end);
  const std::size_t n_in = element_count(dims);
  require_length(x, n_in);
  ArithShares out{x.ring, std::vector<u64>(element_count(out_dims), 0)};
  if (n_in == 0) return out;
  const std::size_t rank = dims.size();
  if (rank == 0) {
    out.v[0] = x.v[0] & x.ring.mask;
    return out;
  }
  const auto ostride = strides_of(out_dims);
  const std::size_t row = dims[rank - 1];
  // Odometer over the input's outer axes (all but the last); each step copies one row.
  std::vector<std::size_t> idx(rank - 1, 0);
  std::size_t base = 0;  // output offset of the row's first element
  for (std::size_t i = 0; i < rank; ++i) base += pads_begin[i] * ostride[i];
  for (std::size_t src = 0; src < n_in; src += row) {
    for (std::size_t j = 0; j < row; ++j) out.v[base + j] = x.v[src + j] & x.ring.mask;
    for (std::size_t a = rank - 1; a-- > 0;) {  // advance the odometer
      base += ostride[a];
      if (++idx[a] < dims[a]) break;
      base -= idx[a] * ostride[a];
      idx[a] = 0;
    }
  }
  return out;
}

ArithShares strided_slice(const ArithShares& x, const Dims& dims,
                          const std::vector<std::int64_t>& starts,
                          const std::vector<std::int64_t>& ends,
                          const std::vector<std::int64_t>& steps) {
  const auto axes = normalise_slice(dims, starts, ends, steps);
  require_length(x, element_count(dims));
  Dims out_dims(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) out_dims[i] = axes[i].count;
  const std::size_t n_out = element_count(out_dims);  // ≤ the input count
  ArithShares out{x.ring, std::vector<u64>(n_out)};
  if (n_out == 0) return out;
  const std::size_t rank = dims.size();
  if (rank == 0) {
    out.v[0] = x.v[0] & x.ring.mask;
    return out;
  }
  const auto istride = strides_of(dims);
  const AxisSlice last = axes[rank - 1];
  std::vector<std::size_t> idx(rank - 1, 0);
  std::size_t base = 0;  // input offset of the current output row's first element
  for (std::size_t i = 0; i < rank; ++i) base += axes[i].start * istride[i];
  for (std::size_t dst = 0; dst < n_out; dst += last.count) {
    for (std::size_t j = 0; j < last.count; ++j)
      out.v[dst + j] = x.v[base + j * last.step] & x.ring.mask;
    for (std::size_t a = rank - 1; a-- > 0;) {
      const std::size_t jump = axes[a].step * istride[a];
      base += jump;
      if (++idx[a] < axes[a].count) break;
      base -= idx[a] * jump;
      idx[a] = 0;
    }
  }
  return out;
}

ArithShares concat(std::span<const ArithShares> parts, std::span<const Dims> dims, std::size_t axis) {
  require(!parts.empty(), kInvalid, "concat: no inputs");
  require(parts.size() == dims.size(), kInvalid, "concat: one shape per input needed");
  const Dims out_dims = concat_dims(dims, axis);
  for (std::size_t p = 0; p < parts.size(); ++p) {
    require(parts[p].ring == parts[0].ring, kInvalid, "concat: rings differ");
    require_length(parts[p], element_count(dims[p]));
  }
  ArithShares out{parts[0].ring, std::vector<u64>(element_count(out_dims))};
  if (out.v.empty()) return out;
  // outer = product of the axes before `axis`; each part contributes a block of
  // dims[p][axis] · (product of the axes after `axis`) per outer index.
  std::size_t outer = 1;
  for (std::size_t i = 0; i < axis; ++i) outer *= out_dims[i];
  std::size_t inner = 1;
  for (std::size_t i = axis + 1; i < out_dims.size(); ++i) inner *= out_dims[i];
  const u64 mask = out.ring.mask;
  std::size_t dst = 0;
  for (std::size_t o = 0; o < outer; ++o)
    for (std::size_t p = 0; p < parts.size(); ++p) {
      const std::size_t block = dims[p][axis] * inner;
      const u64* src = parts[p].v.data() + o * block;
      for (std::size_t j = 0; j < block; ++j) out.v[dst + j] = src[j] & mask;
      dst += block;
    }
  return out;
}

ArithShares reshape(ArithShares x, const Dims& from_dims, const Dims& to_dims) {
  const std::size_t n = element_count(from_dims);
  require(element_count(to_dims) == n, kInvalid, "reshape: element counts differ");
  require_length(x, n);
  for (auto& w : x.v) w &= x.ring.mask;
  return x;
}

}  // namespace peregrine::linear
