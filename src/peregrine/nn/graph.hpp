// The graph IR of the `nn` layer (DESIGN.md §2): named tensors with static shapes, float
// initializers (the server's weights), nodes with an op type and typed attributes, graph
// inputs/outputs and the model's metadata_props.
//
// A Graph produced by nn::load_onnx is *normalised*: constant subgraphs are folded, every shape is
// static and known, and each node is in the canonical form below (what the executors, the
// quantisation plan and the engine may rely on). Tensors are row-major, batch 1, NCHW.
//
//   op                  inputs                          attributes (all present after import)
//   Conv                X[1,C,H,W], W[M,C/g,kh,kw], B[M]? strides[2], pads[4] (top,left,bottom,right),
//                                                       group; dilations are 1
//   Gemm                A[M,K], W[N,K], B[N]?           Y = A·Wᵀ + B (alpha/beta/transB folded in)
//   Add, Sub, Mul       two tensors, numpy broadcasting (Mul covers x·x and products by constants)
//   Relu                X
//   Clip                X                               min, max (floats; ReLU6 is Clip 0..6)
//   HardSigmoid         X                               alpha, beta: clip(alpha·x + beta, 0, 1)
//   BatchNormalization  X[N,C,...], scale, bias, mean, var [C]   epsilon (only when not folded)
//   MaxPool, AveragePool X[1,C,H,W]                     kernel_shape[2], strides[2], pads[4];
//                                                       AveragePool also count_include_pad
//   GlobalAveragePool   X[1,C,H,W] → [1,C,1,1]
//   Flatten             X                               axis (≥ 0)
//   Reshape             X                               shape (the static output shape)
//   Slice               X                               starts[r], steps[r] (full rank, normalised:
//                                                       out[j] = in[starts + j·steps] per axis)
//   Pad                 X                               pads[2r] (begins then ends, ≥ 0), value 0
//   Concat              X1..Xn                          axis (≥ 0)
//   Identity            X                               (kept only where it names a graph output)
//   Softmax             X                               axis (≥ 0)
//   ArgMax              X                               axis (≥ 0), keepdims; the index as a float
//   QuantizeLinear      X                               scale (float > 0), zero_point, qmin, qmax
//                                                       (the container's range): the integer
//                                                       clamp(round_half_even(x/scale) + zp, qmin, qmax), as a float
//   DequantizeLinear    X (a QuantizeLinear output)     scale, zero_point, qmin, qmax: (x − zp)·scale
//
// QDQ models (docs/QUANTISED.md): a DequantizeLinear of an integer initializer (weights, biases) is
// folded into a float initializer holding (q − zp)·scale, and Graph::quantized keeps the integers.
//
// Thread-safety: plain value types; concurrent reads are safe, writes need external locking.
// Source: ONNX operator specification (opset 13), reconstruction of the normal form for Peregrine.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace peregrine::nn {

/// A static tensor shape, outermost axis first. Rank 0 holds one element.
using Shape = std::vector<std::int64_t>;

/// Number of elements of `shape`. Throws Error(kMalformedInput) on a negative extent or when the
/// count exceeds kMaxTensorElements.
std::int64_t element_count(const Shape& shape);

/// Bound on the elements of any one tensor (2^28 floats = 1 GiB), checked before allocation.
inline constexpr std::int64_t kMaxTensorElements = std::int64_t{1} << 28;
/// Bound on the rank of any tensor.
inline constexpr std::size_t kMaxRank = 8;

/// "[1,3,32,32]".
std::string shape_to_string(const Shape& shape);

/// A dense float32 tensor, row-major. Invariant (kept by the producers in this layer):
/// data.size() == element_count(shape).
struct Tensor {
  Shape shape;
  std::vector<float> data;
};

/// A typed node attribute (the ONNX attribute kinds the normal form uses).
struct Attribute {
  enum class Kind { kInt, kFloat, kInts, kFloats, kString };
  Kind kind = Kind::kInt;
  std::int64_t i = 0;
  float f = 0.0f;
  std::vector<std::int64_t> ints;
  std::vector<float> floats;
  std::string s;

  static Attribute of_int(std::int64_t v);
  static Attribute of_float(float v);
  static Attribute of_ints(std::vector<std::int64_t> v);
  static Attribute of_floats(std::vector<float> v);
  static Attribute of_string(std::string v);
};

/// One operator application. Inputs and outputs name tensors of the graph; an empty input name is
/// an absent optional input.
struct Node {
  std::string name;
  std::string op_type;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attrs;

  bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }
  /// Typed attribute getters: return `fallback` when absent; throw Error(kMalformedInput) when the
  /// attribute is present with another kind.
  std::int64_t attr_int(const std::string& key, std::int64_t fallback) const;
  float attr_float(const std::string& key, float fallback) const;
  std::vector<std::int64_t> attr_ints(const std::string& key,
                                      std::vector<std::int64_t> fallback = {}) const;
  std::vector<float> attr_floats(const std::string& key, std::vector<float> fallback = {}) const;
  std::string attr_string(const std::string& key, std::string fallback = {}) const;
};

/// The integers behind a float initializer that came from DequantizeLinear (QDQ models): the
/// float value is (values − zero_point[c])·scale[c], c the index along `axis` (per tensor: one
/// scale, axis −1).
struct QuantizedTensor {
  std::vector<std::int64_t> values;      ///< the container's integers (int8, uint8 or int32), row-major
  std::vector<float> scale;              ///< one per tensor, or one per index of `axis`
  std::vector<std::int64_t> zero_point;  ///< as many as `scale`
  std::int64_t axis = -1;                ///< −1: per tensor
};

/// A computation graph (batch 1).
struct Graph {
  std::vector<Node> nodes;                     ///< in topological order after import
  std::map<std::string, Tensor> initializers;  ///< constant float tensors (weights, constants)
  std::map<std::string, QuantizedTensor> quantized;  ///< integers of initializers folded from DequantizeLinear
  std::map<std::string, Shape> shapes;         ///< shape of every value (inputs, initializers, outputs)
  std::vector<std::string> inputs;             ///< runtime inputs (never initializers)
  std::vector<std::string> outputs;
  std::map<std::string, std::string> metadata;  ///< ONNX metadata_props

  /// Indices into `nodes` in a topological order (stable: keeps the given order where allowed).
  /// Throws Error(kMalformedInput) when a node reads a value that nothing defines, when a value is
  /// defined twice, or when the graph has a cycle.
  std::vector<std::size_t> topological_order() const;
  /// Reorders `nodes` into topological_order(). Same errors.
  void sort_topologically();
  /// Index of the node producing `value`, or -1 (graph input, initializer or unknown).
  std::ptrdiff_t producer(const std::string& value) const;
  /// Number of node inputs plus graph outputs that read `value`.
  std::size_t use_count(const std::string& value) const;
  /// Shape of `value`; throws Error(kInvalidArgument) if unknown.
  const Shape& shape_of(const std::string& value) const;
};

}  // namespace peregrine::nn
