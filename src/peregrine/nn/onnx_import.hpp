// ONNX import for Peregrine (DESIGN.md §2 `nn`): parses an ONNX ModelProto with Debian's protobuf
// and libonnx-dev, validates every byte it uses, folds constant subgraphs, normalises the graph
// (Identity/Dropout removal, no-op Pad/Slice/Reshape removal, MatMul → Gemm, Gemm + Add bias fusion,
// BatchNormalization folding into a preceding Conv/Gemm), infers every shape and returns a Graph in the normal form documented in
// graph.hpp.
//
// Supported at run time: Conv (any groups, strides, asymmetric pads; dilation 1), Gemm, MatMul
// (constant second input), Relu, Clip, Add, Sub, Mul, BatchNormalization, MaxPool, AveragePool
// (count_include_pad), GlobalAveragePool, Flatten, Reshape, Slice (any steps), Pad (constant 0, any
// axis), Concat, Identity, Dropout (inference), Softmax, ArgMax. Folded when all inputs are
// constant: Constant, ConstantOfShape, Shape (of any tensor with a static shape), Concat, Reshape,
// Transpose, Cast, Slice, Unsqueeze, Squeeze, Gather, Add, Sub, Mul, Div, Identity, Dropout.
// Batch 1: a symbolic leading input dimension is taken as 1.
//
// Errors (thrown before anything is returned; nothing partial escapes):
//   * Error(kInvalidArgument): the file cannot be opened or read.
//   * Error(kSizeLimit): the file/buffer exceeds options.max_model_bytes (checked before parsing).
//   * Error(kMalformedInput): protobuf parse failure; missing graph; tensor data whose length does
//     not match its shape; negative or oversized dims (rank ≤ 8, ≤ 2^28 elements per tensor, checked
//     before allocation); undefined or twice-defined values; cycles; inconsistent shapes; a name,
//     op type, attribute string or metadata entry that is not valid UTF-8.
//   * Error(kUnsupported): one error listing *every* unsupported op type, attribute, data type or
//     non-constant operand in the model, each with its node name, e.g.
//     "unsupported: 2 unsupported construct(s) in the model: node 'a' (Foo): op type ...; ...".
//
// Thread-safety: pure functions without global mutable state; safe to call concurrently.
// Source: ONNX IR and operator specifications (opsets 7–13, the forms torch.onnx writes);
// reconstruction of the normalisation passes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "peregrine/nn/graph.hpp"

namespace peregrine::nn {

/// What load_onnx does besides parsing.
struct ImportOptions {
  std::size_t max_model_bytes = std::size_t{512} << 20;  ///< refuse larger files (bytes)
  bool fold_batchnorm = true;   ///< fold BatchNormalization into a preceding Conv/Gemm
  bool fuse_bias_add = true;    ///< fold Gemm/MatMul followed by Add(constant) into Gemm's bias
  /// MaxPool(ReLU/Clip(x)) → ReLU/Clip(MaxPool(x)) where the activation feeds only the pool (same
  /// result; the activation runs on the pooled tensor)
  bool pool_before_activation = true;
};

/// Loads and normalises the ONNX model at `path`. See the file comment for errors.
Graph load_onnx(const std::string& path, const ImportOptions& options = {});

/// Same, from the bytes of a serialised ModelProto.
Graph load_onnx_bytes(std::span<const std::uint8_t> bytes, const ImportOptions& options = {});

}  // namespace peregrine::nn
