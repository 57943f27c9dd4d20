// Fixed-point quantisation plan and the fixed-point reference executor (DESIGN.md §3).
//
// `quantize_model` lowers a normalised Graph (graph.hpp) into a FixedModel: a straight-line
// program of ring operations, each value in its own ring Z_{2^ℓ_v} at its own scale 2^{s_v}, the
// public plan, plus the server's quantised weights. `run_fixed` executes that program on plain integers; it *is*
// the fixed-point reference that the private run (engine) must reproduce bit for bit, because the
// engine walks the very same program on shares.
//
// Semantics (DESIGN.md §3), for frac_bits f:
//   * input round(x·2^f); weights round(w·2^{f_w}), biases and BN shifts round(b·2^{f+f_w}), where
//     f_w = f for ordinary weights and larger for a layer of tiny weights (its largest weight gets
//     FixedOptions::weight_bits_target bits; e.g. a first conv on raw 0..255 pixels), at most f + 16;
//   * Conv / Gemm / BN-affine produce scale 2^{f+f_w}, x² / x·y / average pool 2^{2f}; an arithmetic
//     shift (floor) by the excess returns to 2^f (with f_w = f exactly DESIGN.md §3);
//   * ReLU, max-pool, add, pad, slice, reshape, concat are exact.
// Deferred truncation (a public lowering choice that does not change any result): a value above scale 2^f
// value may flow through ReLU, Clip with bounds on the 2^{-f} grid (ReLU6), max-pool, slice, pad,
// reshape, concat and a residual Add whose other operand is exact at scale 2^f (scaled up by 2^f)
// before it is truncated, because floor(·/2^f) commutes with all of them (it is monotone):
//   ReLU(⌊a/2^f⌋) = ⌊ReLU(a)/2^f⌋,  ⌊(a + s·2^f)/2^f⌋ = ⌊a/2^f⌋ + s,  max and moves likewise.
// (When both Add operands are above 2^f, one is truncated first: floors of sums are not sums of
// floors.) After a ReLU the value is known non-negative, so the truncation gets the cheaper
// MSB-known protocol. `FixedOptions::defer_truncation = false` lowers in the plain order (truncate
// right after each product); the tests show both programs give identical outputs on real images.
//
// Ring sizes (FixedOptions::rings): a value needs ℓ_v = bits(max |v|·2^{s_v} seen on the
// calibration inputs, sign bit included) + headroom_bits, at least s_v + 2. A uniform plan gives
// every value the largest ℓ_v (at least 2f + 2, at most 64): one ring for the network, as before.
// A per-tensor plan gives each value its own ℓ_v and converts on shares where a value changes
// ring (TECHNIQUES.md §7.6–7.7): kExtend (signed extension; MSB-known when the value is known
// ≥ 0) and kReduce (mod 2^{ℓ_out}, local), and a truncation whose result fits below ℓ_in − shift
// bits lands in its own smaller ring directly (truncate-and-reduce, which needs no wrap: cheaper
// than the truncation). Every other node computes in one ring: a comparison (ReLU, max-pool) in
// its input's ring, any other node in its output's ring, its inputs converted to it first (a reduction is valid for ring operations: their result mod 2^ℓ
// needs the inputs mod 2^ℓ only). A per-tensor plan also picks the scale of each HE layer's
// input: f, or the largest scale below f at which the layer's calibrated output (at that scale
// plus f_w) fits he_max_ring_bits with headroom (large activations keep fewer fractional bits,
// e.g. x² ≈ 10^5 enters the next conv at scale 2^7: a relative precision of 2^-24). kAuto (the
// default) plans uniformly unless that ring exceeds what the HE layers support (44 bits) while
// the network has HE layers: then per tensor, so that e.g. a polynomial-activation network whose
// x² needs 46 bits still runs (tests/engine: LargeActivationsRunWithPerTensorFormats). Scales
// below f are public like every scale; the logits come out at scale f or below. Each value's ring,
// range and headroom is reported (FixedPlan::ranges). Weight bit widths per layer are public (they
// size the HE noise flooding, linear/he_layer.hpp) and reported too.
//
// Source: DESIGN.md §3 (semantics); the lowering and deferred truncation are a reconstruction in
// the style of CrypTFlow2/Cheetah's ReLU-then-truncate fusion (TECHNIQUES.md §7.5).
// Thread-safety: plain value types and pure functions; concurrent reads are safe.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "peregrine/nn/graph.hpp"

namespace peregrine::nn {

/// Operations of the fixed-point program. Shapes are row-major, batch 1 dropped where noted.
enum class FxOp {
  kConv,      ///< X[C,H,W] → [M,Ho,Wo] at 2^{f+f_w}; server weights [M,C/g,kh,kw], bias [M]
  kGemm,      ///< X[B,K] → [B,N] at 2^{f+f_w} (B rows; the ONNX lowering gives B = 1); server weights [N,K], bias [N]
  kAffine,    ///< X[C,inner] → X·γ[c] + β[c] at 2^{f+f_w}; server γ [C] (at 2^{f_w}), β [C]
  kTrunc,     ///< arithmetic shift right by `shift` (floor); `nonneg` when the input is known ≥ 0; the
              ///< output in the input's ring, or in one of at most ℓ_in − shift bits (truncate-and-reduce)
  kRelu,      ///< max(x, 0), any scale
  kAdd,       ///< x + y (same shape, same scale)
  kSub,       ///< x − y
  kAddConst,  ///< x + c, c a server-private constant (the model's initializer) at x's scale
  kAddPublic, ///< x + c, c a public constant (scalar) from the architecture (Clip bounds)
  kScaleUp,   ///< x · 2^shift (local, public)
  kSquare,    ///< x² at 2^{2f}
  kMul,       ///< x · y at 2^{2f} (two runtime tensors)
  kMaxPool,   ///< X[C,H,W] → [C,Ho,Wo]; padded positions hold −2^{ℓ−2} (below every value)
  kAvgPool,   ///< X[C,H,W] → round(2^f / k_w)·Σ_window at 2^{2f} (GlobalAveragePool: window = H×W)
  kPad,       ///< zero padding on any axes: pads = begins then ends
  kSlice,     ///< out[j] = in[starts + j·steps] per axis
  kReshape,   ///< no-op on the flat vector (Flatten, Reshape, Identity)
  kConcat,    ///< along `axis`
  kExtend,    ///< signed extension into the output's larger ring; `nonneg`: the value is known ≥ 0
  kReduce,    ///< x mod 2^{ℓ_out} into the output's smaller ring (the value must fit it)
  kMulPublic, ///< x · c, c a public signed constant from the architecture (HardSigmoid's slope at 2^f)
  kExpand,    ///< broadcast: axes of size 1 repeated to the output's shape (same rank; local)
  kClip,      ///< min(max(x, lo), hi), lo ≤ hi public at x's scale (ReLU6, HardSigmoid's clip); a
              ///< comparison in its input's ring. The last op (plan JSON looks names up to it).
};

/// Name of an op ("Conv", "Trunc", ...), for reports and the JSON plan.
const char* fx_op_name(FxOp op);

/// Window of a Conv or pool: input [C,H,W], window kh×kw, strides sh×sw, pads {top, left, bottom,
/// right} (all public).
struct FxWindow {
  std::int64_t C = 0, H = 0, W = 0, kh = 0, kw = 0, sh = 1, sw = 1;
  std::array<std::int64_t, 4> pads{};
  std::int64_t out_h() const { return (H + pads[0] + pads[2] - kh) / sh + 1; }
  std::int64_t out_w() const { return (W + pads[1] + pads[3] - kw) / sw + 1; }
};

/// The public side of a node's server-private weights (FixedWeights::entries[index]).
struct FxWeightsRef {
  std::size_t index = 0;  ///< into FixedWeights::entries
  bool has_bias = false;  ///< a bias / shift is present
  int weight_bits = 0;    ///< |w| ≤ 2^{weight_bits−1} (public bound; 0 for AddConst)
};

/// kConv: X[C,H,W] → [M,Ho,Wo], weights [M,C/groups,kh,kw], bias [M].
struct FxConvAttrs : FxWindow, FxWeightsRef {
  std::int64_t M = 0, groups = 1;
};
/// kGemm: X[B,K] → [B,N], weights [N,K], bias [N].
struct FxGemmAttrs : FxWeightsRef {
  std::int64_t K = 0, N = 0;
};
/// kAffine: X[C,inner] → X·γ[c] + β[c].
struct FxAffineAttrs : FxWeightsRef {
  std::int64_t C = 0, inner = 0;
};
/// kAddConst: the server-private constant is FixedWeights::entries[index].w.
struct FxAddConstAttrs : FxWeightsRef {};
/// kMaxPool / kAvgPool.
struct FxPoolAttrs : FxWindow {
  bool count_include_pad = false;  ///< kAvgPool only
};
/// kTrunc (bits shifted out, `nonneg`: input known ≥ 0) and kScaleUp (bits shifted in).
struct FxShiftAttrs {
  int shift = 0;
  bool nonneg = false;  ///< kTrunc only
};
/// kExtend: `nonneg`: the value is known ≥ 0 (MSB-known extension).
struct FxExtendAttrs {
  bool nonneg = false;
};
/// kAddPublic / kMulPublic: the signed public constant.
struct FxPublicConstAttrs {
  std::int64_t constant = 0;
};
/// kClip: the public bounds at the input's scale, lo ≤ hi.
struct FxClipAttrs {
  std::int64_t lo = 0, hi = 0;
};
/// kPad: 2·rank values, begins then ends.
struct FxPadAttrs {
  std::vector<std::int64_t> pads;
};
/// kSlice: out[j] = in[starts + j·steps] per axis.
struct FxSliceAttrs {
  std::vector<std::int64_t> starts, steps;
};
/// kConcat along `axis`.
struct FxConcatAttrs {
  std::int64_t axis = 0;
};

/// Per-op attributes: exactly the alternative of the node's op (fx_attrs_match); ops without
/// attributes (Relu, Add, Sub, Square, Mul, Reshape, Reduce, Expand) hold std::monostate.
using FxAttrs = std::variant<std::monostate, FxConvAttrs, FxGemmAttrs, FxAffineAttrs, FxAddConstAttrs,
                             FxPoolAttrs, FxShiftAttrs, FxExtendAttrs, FxPublicConstAttrs, FxPadAttrs,
                             FxSliceAttrs, FxConcatAttrs, FxClipAttrs>;

/// The attribute alternative an op takes, default-initialised.
FxAttrs fx_default_attrs(FxOp op);

/// True when `attrs` holds the alternative `op` takes.
bool fx_attrs_match(FxOp op, const FxAttrs& attrs);

/// One step of the program; everything in it is public.
struct FxNode {
  FxOp op = FxOp::kReshape;
  std::string name;                 ///< the ONNX node it comes from
  std::vector<std::size_t> inputs;  ///< value indices
  std::size_t output = 0;           ///< value index
  FxAttrs attrs;                    ///< the alternative of `op` (fx_attrs_match)

  /// A node of `op` with its default attributes.
  static FxNode of(FxOp op) {
    FxNode n;
    n.op = op;
    n.attrs = fx_default_attrs(op);
    return n;
  }

  /// Typed access to the attributes. Throws peregrine::Error when the node holds another
  /// alternative (a node built inconsistently; plans loaded from JSON are checked on load).
  template <class A>
  A& as() {
    if (auto* a = std::get_if<A>(&attrs)) return *a;
    attrs_mismatch();
  }
  template <class A>
  const A& as() const {
    if (const auto* a = std::get_if<A>(&attrs)) return *a;
    attrs_mismatch();
  }
  FxConvAttrs& conv() { return as<FxConvAttrs>(); }
  const FxConvAttrs& conv() const { return as<FxConvAttrs>(); }
  FxGemmAttrs& gemm() { return as<FxGemmAttrs>(); }
  const FxGemmAttrs& gemm() const { return as<FxGemmAttrs>(); }
  FxAffineAttrs& affine() { return as<FxAffineAttrs>(); }
  const FxAffineAttrs& affine() const { return as<FxAffineAttrs>(); }
  FxPoolAttrs& pool() { return as<FxPoolAttrs>(); }
  const FxPoolAttrs& pool() const { return as<FxPoolAttrs>(); }
  FxShiftAttrs& shift() { return as<FxShiftAttrs>(); }
  const FxShiftAttrs& shift() const { return as<FxShiftAttrs>(); }
  FxExtendAttrs& extend() { return as<FxExtendAttrs>(); }
  const FxExtendAttrs& extend() const { return as<FxExtendAttrs>(); }
  FxPublicConstAttrs& public_const() { return as<FxPublicConstAttrs>(); }
  const FxPublicConstAttrs& public_const() const { return as<FxPublicConstAttrs>(); }
  FxPadAttrs& pad() { return as<FxPadAttrs>(); }
  const FxPadAttrs& pad() const { return as<FxPadAttrs>(); }
  FxSliceAttrs& slice() { return as<FxSliceAttrs>(); }
  const FxSliceAttrs& slice() const { return as<FxSliceAttrs>(); }
  FxConcatAttrs& concat() { return as<FxConcatAttrs>(); }
  const FxConcatAttrs& concat() const { return as<FxConcatAttrs>(); }
  FxClipAttrs& clip() { return as<FxClipAttrs>(); }
  const FxClipAttrs& clip() const { return as<FxClipAttrs>(); }

  /// The weights of a Conv, Gemm, Affine or AddConst node; nullptr for any other op.
  const FxWeightsRef* weights() const;
  FxWeightsRef* weights() { return const_cast<FxWeightsRef*>(std::as_const(*this).weights()); }

 private:
  [[noreturn]] void attrs_mismatch() const;
};

/// A value of the program: its shape (batch axis kept as in the graph) and scale exponent.
struct FxValue {
  std::string name;  ///< the ONNX value it represents (or a derived name)
  Shape shape;
  int scale = 0;     ///< f, or f + f_w / 2f before a truncation
  int ring_bits = 0; ///< ℓ_v: the value lives in Z_{2^ℓ_v} (1..64; every value of a plan sets it)
};

/// The calibration range of one value (report).
struct FxRange {
  std::string value;
  std::string op;
  int scale = 0;
  double max_abs = 0;   ///< max |v| over the calibration inputs (float)
  int bits = 0;         ///< bits of max_abs·2^scale plus the sign bit
  int headroom = 0;     ///< ring_bits − bits
  int ring_bits = 0;    ///< ℓ_v of the value
};

/// Integer (QDQ) models: how the client quantises the input and what the output integers mean.
/// All public (like every scale of a plan; docs/QUANTISED.md).
struct FxIntegerIO {
  double input_scale = 1;           ///< v = clamp(round_half_even(x/input_scale) + zp, qmin, qmax) − zp
  std::int64_t input_zero_point = 0;
  std::int64_t input_qmin = 0, input_qmax = 255;
  double output_scale = 1;          ///< logit = v · output_scale
};

/// The public fixed-point plan: what both parties know (DESIGN.md §1).
struct FixedPlan {
  int ring_bits = 0;                ///< ℓ: the largest ring of any value (every value's, when uniform)
  int frac_bits = 12;               ///< f
  int headroom_bits = 0;            ///< requested headroom
  std::vector<FxValue> values;
  std::vector<FxNode> nodes;        ///< in execution order
  std::size_t input = 0;            ///< value index of the network input ([1,C,H,W])
  std::size_t output = 0;           ///< value index of the revealed logits (scale f)
  std::string postprocess;          ///< "", "Softmax" or "ArgMax": done by the client after reveal
  std::int64_t postprocess_axis = 1;
  std::vector<FxRange> ranges;      ///< per value, calibration report (empty when loaded from JSON)
  std::map<std::string, std::string> metadata;  ///< model metadata_props (preprocessing, labels)
  /// Set for an integer program lowered from a QDQ model (every value an integer at scale 2^0,
  /// requantisation by public multipliers and shifts); absent for a fixed-point plan.
  std::optional<FxIntegerIO> integer_io;
};

/// The server's private part: quantised weights, indexed by FxWeightsRef::index (FxNode::weights()).
struct FixedWeights {
  struct Entry {
    std::vector<std::int64_t> w;  ///< Conv [M,C/g,kh,kw] / Gemm [N,K] / Affine γ [C] at 2^{f_w};
                                  ///< AddConst: the constant, expanded to the output shape
    std::vector<std::int64_t> b;  ///< bias / shift at 2^{f+f_w} (empty: none)
  };
  std::vector<Entry> entries;
};

struct FixedModel {
  FixedPlan plan;
  FixedWeights weights;
};

/// Quantisation options.
struct FixedOptions {
  int frac_bits = 12;          ///< f, 1..24
  int headroom_bits = 3;       ///< margin above the calibration range, 1..20
  int weight_bits_target = 12; ///< bits of a layer's largest weight when f_w > f is needed, 4..20
  int min_ring_bits = 0;       ///< ℓ at least this (0: no extra floor)
  bool defer_truncation = true;
  /// One ring for every value, or one per value (see the file comment).
  enum class Rings { kAuto, kUniform, kPerTensor } rings = Rings::kAuto;
  /// kAuto: the largest uniform ring the HE layers take (he::HeParams::cheetah: 44).
  int he_max_ring_bits = 44;
};

/// The ring of value v (its ring_bits).
inline int value_ring(const FixedPlan& p, std::size_t v) { return p.values.at(v).ring_bits; }
/// True when every value of the plan lives in the plan's ring (a uniform plan).
bool is_uniform(const FixedPlan& p);

/// Lowers `graph` into a fixed-point program (rings as options.rings says), calibrated on
/// `calibration` (each a float input of the graph input's shape, already preprocessed; at least one).
/// Errors: kUnsupported listing every node the lowering cannot express (at once); kInvalidArgument
/// for bad options, no calibration input, a graph without exactly one input and one output, or a
/// calibration range needing more than 64 ring bits.
FixedModel quantize_model(const Graph& graph, const std::vector<Tensor>& calibration,
                          const FixedOptions& options = {});

/// Client step: round(x·2^f) mod 2^ℓ (ℓ of the input value) — for an integer plan the quantised,
/// centred input of FxIntegerIO — for the network input (float, preprocessed, shape of the plan
/// input). Errors: kInvalidArgument on a size mismatch or a non-finite value; values beyond the
/// ring are reduced mod 2^ℓ (as the private protocol would).
std::vector<std::uint64_t> quantize_input(const FixedPlan& plan, const std::vector<float>& x);

/// The fixed-point reference: runs the program on plain ring elements (each < 2^ℓ) and returns
/// every value (index = value index; the input included). Errors: kInvalidArgument on sizes.
std::vector<std::vector<std::uint64_t>> run_fixed_all(const FixedModel& model,
                                                      const std::vector<std::uint64_t>& input);
/// One node of the program on the given values of its inputs (in FxNode::inputs order, ring
/// elements): the ideal functionality a private strategy for that node reproduces (engine/strategy.hpp).
/// Errors: kInvalidArgument on a node index or input sizes that do not match the plan.
std::vector<std::uint64_t> run_fixed_node(const FixedModel& model, std::size_t node,
                                          const std::vector<std::vector<std::uint64_t>>& inputs);
/// Only the output value (the logits at scale 2^f, as ring elements).
std::vector<std::uint64_t> run_fixed(const FixedModel& model, const std::vector<std::uint64_t>& input);

/// The logits (ring elements of the output value, signed in its ring) at scale 2^f → float (an
/// integer plan: times FxIntegerIO::output_scale).
std::vector<float> dequantize(const FixedPlan& plan, const std::vector<std::uint64_t>& v);

/// The client's post-processing (Softmax or ArgMax on the logits); the logits unchanged otherwise.
std::vector<float> postprocess(const FixedPlan& plan, const std::vector<float>& logits);

/// Public plan → canonical JSON text (no weights, no calibration report). The handshake hashes it.
/// Errors: kInvalidArgument when a name or metadata string is not valid UTF-8.
std::string plan_to_json(const FixedPlan& plan);
/// Parses and validates a plan received from the peer or a file: every index in range, shapes
/// consistent with each op, sizes bounded (kMaxTensorElements, at most 4096 nodes), ring/scale
/// values in range. Errors: kMalformedInput with the first problem found.
FixedPlan plan_from_json(const std::string& text);

/// Signed value of a ring element of `bits` bits.
inline std::int64_t ring_to_signed(std::uint64_t v, int bits) {
  return bits == 64 ? static_cast<std::int64_t>(v)
                    : static_cast<std::int64_t>(v << (64 - bits)) >> (64 - bits);
}

}  // namespace peregrine::nn
