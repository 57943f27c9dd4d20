// Internal helpers shared by the strategy adapters of engine/strategies/ (not a public header).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <algorithm>
#include <bit>
#include <span>
#include <string>
#include <vector>

#include "peregrine/core/error.hpp"
#include "peregrine/engine/strategy.hpp"
#include "peregrine/linear/conv.hpp"
#include "peregrine/linear/he_layer.hpp"
#include "peregrine/linear/local_ops.hpp"
#include "peregrine/mpc/cost.hpp"
#include "peregrine/mpc/truncation.hpp"

namespace peregrine::engine::detail {

inline std::size_t at(std::int64_t v) { return static_cast<std::size_t>(v); }

inline linear::Dims dims_of(const nn::Shape& s) {
  linear::Dims d;
  for (std::int64_t v : s) d.push_back(at(v));
  return d;
}

inline std::size_t output_count(const nn::FxNode& n, const PlanContext& ctx) {
  return at(nn::element_count(ctx.plan.values.at(n.output).shape));
}

/// The linear/ shape of a kConv node.
inline linear::Conv2dMeta conv_meta(const nn::FxNode& n) {
  const nn::FxConvAttrs& a = n.conv();
  linear::Conv2dMeta m;
  m.C = at(a.C); m.H = at(a.H); m.W = at(a.W);
  m.M = at(a.M); m.kh = at(a.kh); m.kw = at(a.kw);
  m.stride_h = at(a.sh); m.stride_w = at(a.sw);
  m.pad_top = at(a.pads[0]); m.pad_left = at(a.pads[1]); m.pad_bottom = at(a.pads[2]); m.pad_right = at(a.pads[3]);
  m.groups = at(a.groups);
  m.weight_bits = a.weight_bits;
  return m;
}

/// Cost of a coefficient-encoded HE layer: its exact bytes, one round, and compute from its
/// product and ciphertext counts (this machine class, one core: 6 µs per ciphertext × plaintext
/// product in the NTT domain, 0.2 ms per ciphertext moved, i.e. encrypted or decrypted).
inline Cost he_layer_cost(const linear::LayerCost& c, const linear::CoeffLayerPlan& plan) {
  constexpr double kSecondsPerProduct = 6e-6, kSecondsPerCiphertext = 2e-4;
  Cost k;
  k.bytes_c2s = c.bytes_client_to_server;
  k.bytes_s2c = c.bytes_server_to_client;
  k.rounds = 1;
  k.compute_seconds = kSecondsPerProduct * static_cast<double>(c.products) +
                      kSecondsPerCiphertext * static_cast<double>(plan.n_in + plan.products.size());
  k.exact_bytes = true;
  return k;
}

/// Cost of an OT-based protocol from its mpc/cost.hpp estimate.
inline Cost ot_cost(const mpc::ProtocolCost& p) {
  Cost k;
  k.bytes_c2s = static_cast<std::uint64_t>(p.bytes_c2s);
  k.bytes_s2c = static_cast<std::uint64_t>(p.bytes_s2c);
  k.rounds = p.rounds;
  k.compute_seconds = p.seconds;
  return k;
}

/// The server's share of a node's weights entry, or kInvalidArgument when the plan's index is out
/// of range of the weights (a server-side model inconsistency).
inline const nn::FixedWeights::Entry& weights_of(const nn::FixedWeights& w, const nn::FxNode& n) {
  const nn::FxWeightsRef* ref = n.weights();
  if (!ref || ref->index >= w.entries.size())
    throw Error(ErrorCode::kInvalidArgument, "node '" + n.name + "': weight index out of range");
  return w.entries[ref->index];
}

/// A planned layer whose driver is a function of (context, inputs): OT protocols and local moves.
template <class F>
class FnLayer final : public PlannedLayer {
 public:
  FnLayer(Cost c, F f) : cost_(c), f_(std::move(f)) {}
  Cost cost() const override { return cost_; }
  mpc::ArithShares run(PartyContext& ctx, std::span<const mpc::ArithShares* const> in, const Prepared*) const override {
    return f_(ctx, in);
  }

 private:
  Cost cost_;
  F f_;
};

template <class F>
std::unique_ptr<PlannedLayer> fn_layer(Cost c, F f) {
  return std::make_unique<FnLayer<F>>(c, std::move(f));
}

/// The truncation of node n (kTrunc) in `mode` with the MSB hint: truncate-and-reduce when the
/// plan puts the result in a smaller ring (no wrap needed), else the truncation in the input's ring.
inline std::unique_ptr<PlannedLayer> truncation_layer(const nn::FxNode& n, const PlanContext& ctx, mpc::TruncMode mode,
                                                      mpc::MsbHint hint) {
  const int shift = n.shift().shift, in_bits = ctx.ring(n.inputs.at(0)), out_bits = ctx.ring(n.output);
  const std::size_t count = output_count(n, ctx);
  if (out_bits < in_bits)
    return fn_layer(ot_cost(mpc::truncate_reduce_cost(count, in_bits, mode, ctx.profile.ot)),
                    [shift, out_bits, mode](PartyContext& c, std::span<const mpc::ArithShares* const> in) {
                      return mpc::truncate_reduce(c.session(), *in[0], shift, out_bits, mode);
                    });
  return fn_layer(ot_cost(mpc::truncate_cost(count, in_bits, mode, hint, ctx.profile.ot)),
                  [shift, mode, hint](PartyContext& c, std::span<const mpc::ArithShares* const> in) {
                    return mpc::truncate(c.session(), *in[0], shift, mode, hint);
                  });
}

/// The shift s with which every path from value v ends in a truncation by s of a value known
/// ≥ 0, passing only through exact moves that keep multiples of 2^s and signs (slice, pad,
/// reshape, concat, max-pool); 0 when some path does not (another reader, the network output).
/// The condition of relu-highbits and clip-highbits.
inline int truncating_shift(std::size_t v, const PlanContext& ctx, int depth = 0) {
  if (v == ctx.plan.output || depth > 16) return 0;
  const auto& readers = ctx.consumers.at(v);
  if (readers.empty()) return 0;
  int shift = 0;
  for (std::size_t r : readers) {
    const nn::FxNode& t = ctx.plan.nodes.at(r);
    int s = 0;
    switch (t.op) {
      case nn::FxOp::kTrunc: s = t.shift().nonneg ? t.shift().shift : 0; break;
      case nn::FxOp::kSlice:
      case nn::FxOp::kPad:
      case nn::FxOp::kReshape:
      case nn::FxOp::kConcat:
      case nn::FxOp::kMaxPool: s = truncating_shift(t.output, ctx, depth + 1); break;
      default: break;
    }
    if (s == 0 || (shift != 0 && s != shift)) return 0;
    shift = s;
  }
  return shift;
}

/// Bits of a parameter set's ciphertext modulus q (the sum of its primes' widths), for reports.
inline std::uint64_t modulus_bits(const he::HeParams& p) {
  std::uint64_t bits = 0;
  for (std::uint64_t prime : p.spec().coeff_primes) bits += static_cast<std::uint64_t>(std::bit_width(prime));
  return bits;
}

/// The sizes tried for the second prime of a layer's Cheetah parameters (HeParams::cheetah(ℓ,
/// bits)), largest first: q from 109 bits (the 128-bit table's limit at N = 4096) down to 79.
inline constexpr int kLowPrimeBits[] = {49, 46, 43, 40, 37, 34, 31, 28, 25, 22, 19};

/// A coefficient-encoded layer strategy at the smallest q that pays ("HE parameters per layer from
/// the plaintext width actually needed", HEQuant issue; TECHNIQUES.md §3.2): make(params) builds it
/// for HeParams::cheetah(ℓ, bits), bits = 49, 43, … (≥ ℓ + 4), and bytes(s) scores it (its exact
/// bytes both ways). A smaller q shrinks every input ciphertext; the flood then takes more of the
/// room after the mod switch, so fewer low bits can be dropped from the responses: bytes fall with
/// q and then rise, and the search stops at the first candidate that is no better or cannot be
/// flooded (kUnsupported); sizes with no prime ≡ 1 mod 2^ℓ are skipped. Both parties reach the same
/// choice (public inputs only).
/// Errors: make's, when even the 49-bit prime fails.
template <class Make, class Bytes>
auto smallest_q(int ell, Make make, Bytes bytes) -> decltype(make(he::HeParamsPtr{})) {
  using S = decltype(make(he::HeParamsPtr{}));
  std::optional<S> best;
  std::size_t best_bytes = 0;
  for (int low : kLowPrimeBits) {
    if (low < ell + 4 && best) break;
    he::HeParamsPtr params;
    try {
      params = he::HeParams::cheetah(ell, low);
    } catch (const Error&) {
      if (low == kLowPrimeBits[0]) throw;
      continue;  // no prime of this size ≡ 1 mod 2^ℓ
    }
    std::optional<S> s;
    try {
      s.emplace(make(std::move(params)));
    } catch (const Error& e) {
      if (!best || e.code() != ErrorCode::kUnsupported) throw;
      break;
    }
    const std::size_t b = bytes(*s);
    if (best && b >= best_bytes) break;
    best_bytes = b;
    best = std::move(s);
  }
  return std::move(*best);
}

/// smallest_q scored by the layer's exact bytes (S::cost(), a linear::LayerCost).
template <class Make>
auto smallest_q(int ell, Make make) -> decltype(make(he::HeParamsPtr{})) {
  return smallest_q(ell, make, [](const auto& s) {
    const linear::LayerCost c = s.cost();
    return c.bytes_client_to_server + c.bytes_server_to_client;
  });
}

/// A public bound on |v| for every element of value v of an integer (QDQ) program, from the ops
/// that make it: a Clip's bounds, the integer input's quantisation range (FxIntegerIO), carried
/// through exact moves (extend, reduce, pad, slice, reshape, expand, concat, max-pool) and ReLU;
/// nullopt for any other producer, and for every value of a fixed-point (float) program, whose
/// ranges come from calibration and are not guarantees.
inline std::optional<std::uint64_t> public_bound(std::size_t v, const PlanContext& ctx, int depth = 0) {
  if (!ctx.plan.integer_io || depth > 32) return std::nullopt;
  const auto mag = [](std::int64_t a) { return static_cast<std::uint64_t>(a < 0 ? -a : a); };
  if (v == ctx.plan.input) {
    const nn::FxIntegerIO& io = *ctx.plan.integer_io;
    return std::max(mag(io.input_qmin - io.input_zero_point), mag(io.input_qmax - io.input_zero_point));
  }
  for (const nn::FxNode& n : ctx.plan.nodes) {
    if (n.output != v) continue;
    switch (n.op) {
      case nn::FxOp::kClip: return std::max(mag(n.clip().lo), mag(n.clip().hi));
      case nn::FxOp::kExtend:
      case nn::FxOp::kReduce:
      case nn::FxOp::kPad:
      case nn::FxOp::kSlice:
      case nn::FxOp::kReshape:
      case nn::FxOp::kExpand:
      case nn::FxOp::kMaxPool:
      case nn::FxOp::kRelu: return public_bound(n.inputs.at(0), ctx, depth + 1);
      case nn::FxOp::kConcat: {
        std::uint64_t b = 0;
        for (std::size_t in : n.inputs) {
          const auto bi = public_bound(in, ctx, depth + 1);
          if (!bi) return std::nullopt;
          b = std::max(b, *bi);
        }
        return b;
      }
      default: return std::nullopt;
    }
  }
  return std::nullopt;
}

/// A coefficient-encoded HE layer planned on node n: the linear/ strategy S (layout, cost), the
/// server's weights in the form P, and the layer's functions (prepare, client and server
/// drivers) and layout report. One adapter for every Cheetah-family layer.
template <class S, class P>
struct HeLayerOps {
  P (*prepare)(const S&, std::span<const std::int64_t>, std::span<const std::int64_t>);
  std::vector<std::uint64_t> (*client)(net::Channel&, const linear::HeClient&, const S&, std::span<const std::uint64_t>, Prg&);
  std::vector<std::uint64_t> (*server)(net::Channel&, const linear::HeServer&, const S&, std::span<const std::uint64_t>,
                                       const P&, Prg&);
  /// Extra layout facts after n_in, n_out and products (e.g. the conv tile); may be null.
  void (*layout)(const S&, std::vector<std::pair<std::string, std::uint64_t>>&);
  /// Server driver from the raw weights and bias, kernels made on demand (linear::KernelSource);
  /// null: run_unprepared prepares the whole layer first.
  std::vector<std::uint64_t> (*server_streamed)(net::Channel&, const linear::HeServer&, const S&,
                                                std::span<const std::uint64_t>, std::span<const std::int64_t>,
                                                std::span<const std::int64_t>, Prg&) = nullptr;
};

template <class S, class P>
class HePlanned final : public PlannedLayer {
 public:
  HePlanned(const nn::FxNode& n, S s, HeLayerOps<S, P> ops) : node_(n), s_(std::move(s)), ops_(ops) {}
  Cost cost() const override { return he_layer_cost(s_.cost(), s_.plan()); }
  std::vector<HeNeed> he_needs() const override { return {{s_.params(), {}}}; }
  std::vector<std::pair<std::string, std::uint64_t>> layout() const override {
    std::vector<std::pair<std::string, std::uint64_t>> l = {{"n_in", s_.plan().n_in},
                                                           {"n_out", s_.plan().n_out()},
                                                           {"products", s_.cost().products},
                                                           {"q_bits", modulus_bits(*s_.params())}};
    if (ops_.layout) ops_.layout(s_, l);
    return l;
  }
  std::unique_ptr<Prepared> prepare(const nn::FixedWeights& w) const override {
    const auto& e = weights_of(w, node_);
    return std::make_unique<Weights>(ops_.prepare(s_, e.w, e.b));
  }
  mpc::ArithShares run(PartyContext& c, std::span<const mpc::ArithShares* const> in, const Prepared* prep) const override {
    const mpc::ArithShares& x = *in[0];
    if (c.is_server())
      return {x.ring, ops_.server(c.ch, c.server_he(*s_.params()), s_, x.v, static_cast<const Weights&>(*prep).w, c.prg)};
    return {x.ring, ops_.client(c.ch, c.client_he(*s_.params()), s_, x.v, c.prg)};
  }
  mpc::ArithShares run_unprepared(PartyContext& c, std::span<const mpc::ArithShares* const> in,
                                  const nn::FixedWeights& w) const override {
    if (!ops_.server_streamed || !c.is_server()) return PlannedLayer::run_unprepared(c, in, w);
    const mpc::ArithShares& x = *in[0];
    const auto& e = weights_of(w, node_);
    return {x.ring, ops_.server_streamed(c.ch, c.server_he(*s_.params()), s_, x.v, e.w, e.b, c.prg)};
  }
  std::size_t prepared_bytes() const override {
    const he::HeParams& hp = *s_.params();
    return s_.plan().n_kernels * hp.n() * hp.levels() * sizeof(std::uint64_t);
  }

 private:
  struct Weights final : Prepared {
    explicit Weights(P p) : w(std::move(p)) {}
    std::size_t bytes() const override {  // NTT-form kernel polynomials and the per-channel vector
      std::size_t b = 0;
      for (const auto& k : w.kernels) b += k.poly.data.size() * sizeof(std::uint64_t);
      if constexpr (requires { w.bias; }) b += w.bias.size() * sizeof(std::uint64_t);
      if constexpr (requires { w.shift; }) b += w.shift.size() * sizeof(std::uint64_t);
      return b;
    }
    P w;
  };
  nn::FxNode node_;
  S s_;
  HeLayerOps<S, P> ops_;
};

}  // namespace peregrine::engine::detail
