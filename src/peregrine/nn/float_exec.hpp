// Float reference executor of the `nn` layer (DESIGN.md §2): runs a normalised Graph (graph.hpp)
// on float32 inputs with plain loops. It is the plaintext baseline that the fixed-point reference
// executor and the private run are compared against; clarity over speed.
//
// Shapes: batch 1 is what the importer produces; the loops handle any leading N. NCHW, row-major.
// Numerics: float32 storage; Gemm and the pooling/softmax sums accumulate in double, Conv in float
// per output plane (agrees with PyTorch to ~1e-5 relative on the shipped models).
// Errors: Error(kInvalidArgument) when the inputs do not match the graph's input count/shapes or a
// node is outside the normal form (unknown op, missing initializer or shape).
// Thread-safety: pure functions over a const Graph; safe to call concurrently.
// Source: ONNX operator specification (opset 13) semantics, reconstruction.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "peregrine/nn/graph.hpp"

namespace peregrine::nn {

/// Runs `graph` on `inputs` (one per graph.inputs, same order and shapes) and returns the graph
/// outputs in graph.outputs order. ArgMax outputs hold the index as a float.
std::vector<Tensor> run_float(const Graph& graph, const std::vector<Tensor>& inputs);

/// Same, but returns every value computed (graph inputs, each node output) by name, for
/// calibration and debugging. Initializers are not included.
std::map<std::string, Tensor> run_float_all(const Graph& graph, const std::vector<Tensor>& inputs);

}  // namespace peregrine::nn
