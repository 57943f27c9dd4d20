// Builds ONNX models in memory with the protobuf API, for tests and fuzz seeds only: a model
// shell, graph inputs/outputs, nodes with int / ints attributes, float and integer (int8, uint8,
// int32) initialisers, int64 / float
// Constant nodes, the serialised bytes the importer reads, and a whole file read into bytes.
// Used by tests/nn/test_onnx.cpp and fuzz/seed_models.hpp (fuzz_onnx, fuzz_handshake). It needs
// only the ONNX protobuf (CMake target onnx_proto) and the standard library: no GoogleTest and no
// peregrine header, so the fuzz targets can include it in builds without the test suite
// (scripts/fuzz.sh configures PEREGRINE_BUILD_TESTS=OFF).
//
// Nothing here validates a model: names, shapes, element counts and op arities are written as
// given, so a caller can build a malformed model on purpose. The importer (nn/onnx_import.hpp)
// is what checks them.
#pragma once
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace peregrine::test::onnx_builder {

/// A tensor shape as ONNX stores it; {} is a scalar.
using Dims = std::vector<std::int64_t>;

/// An empty model as the shipped ones are: IR version 7, one opset import (default domain) of
/// version 13, an empty graph.
inline onnx::ModelProto new_model() {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  return m;
}

/// Appends a FLOAT tensor value `name` of static shape `dims` (one dim_value per entry) to `list`:
/// pass graph.mutable_input() for a graph input or graph.mutable_output() for a graph output.
inline void add_value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name,
                      const Dims& dims) {
  auto* vi = list->Add();
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (auto d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
}

/// Appends a node of type `op` (default domain) reading `inputs` and writing `outputs`, in that
/// order. It is named `name`, or "<op>_<outputs[0]>" when `name` is empty; then `outputs` must not
/// be empty (std::out_of_range). Returns the node (owned by `g`), to add attributes to.
inline onnx::NodeProto* add_node(onnx::GraphProto& g, const std::string& op, const std::vector<std::string>& inputs,
                                 const std::vector<std::string>& outputs, const std::string& name = {}) {
  auto* n = g.add_node();
  n->set_name(name.empty() ? op + "_" + outputs.at(0) : name);
  n->set_op_type(op);
  for (const auto& s : inputs) n->add_input(s);
  for (const auto& s : outputs) n->add_output(s);
  return n;
}

/// Adds an INT attribute `name` = `v` to node `n` (e.g. "axis", "group", "transB").
inline void attr_int(onnx::NodeProto* n, const std::string& name, std::int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

/// Adds an INTS attribute `name` = `v` to node `n` (e.g. "pads", "strides", "kernel_shape").
inline void attr_ints(onnx::NodeProto* n, const std::string& name, const std::vector<std::int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}

/// Appends a FLOAT initializer `name` of shape `dims` holding `values` as raw_data (float32 in host
/// byte order, which is ONNX's little-endian on x86-64). `values.size()` is not checked against
/// the product of `dims`.
inline void float_initializer(onnx::GraphProto& g, const std::string& name, const Dims& dims,
                              const std::vector<float>& values) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (auto d : dims) t->add_dims(d);
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
}

/// Appends an integer initializer `name` of shape `dims` and ONNX element type `elem`
/// (onnx::TensorProto::INT8, UINT8 or INT32) holding `values` as raw_data (little-endian;
/// values are truncated to the element's width, not checked).
inline void int_initializer(onnx::GraphProto& g, const std::string& name, const Dims& dims, int elem,
                            const std::vector<std::int64_t>& values) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(elem);
  for (auto d : dims) t->add_dims(d);
  std::string raw;
  for (auto v : values) {
    if (elem == onnx::TensorProto::INT32) {
      const auto x = static_cast<std::uint32_t>(static_cast<std::int32_t>(v));
      for (int b = 0; b < 4; ++b) raw.push_back(static_cast<char>((x >> (8 * b)) & 0xff));
    } else {
      raw.push_back(static_cast<char>(static_cast<std::uint8_t>(v)));
    }
  }
  t->set_raw_data(raw);
}

namespace detail {

// A Constant node writing `out` (named as add_node names it) with an empty tensor attribute
// "value" of shape `dims`, returned for the caller to set its type and data.
inline onnx::TensorProto* constant_tensor(onnx::GraphProto& g, const std::string& out, const Dims& dims,
                                          const std::string& name) {
  auto* a = add_node(g, "Constant", {}, {out}, name)->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  auto* t = a->mutable_t();
  for (auto d : dims) t->add_dims(d);
  return t;
}

}  // namespace detail

/// Appends a Constant node writing `out`: an INT64 tensor of shape `dims` ({} = scalar) holding
/// `values` in int64_data (count not checked against `dims`). The node is named `name`, or
/// "Constant_<out>" when `name` is empty.
inline void int_constant(onnx::GraphProto& g, const std::string& out, const Dims& dims,
                         const std::vector<std::int64_t>& values, const std::string& name = {}) {
  auto* t = detail::constant_tensor(g, out, dims, name);
  t->set_data_type(onnx::TensorProto::INT64);
  for (auto x : values) t->add_int64_data(x);
}

/// As int_constant, for a FLOAT tensor holding `values` in float_data.
inline void float_constant(onnx::GraphProto& g, const std::string& out, const Dims& dims,
                           const std::vector<float>& values, const std::string& name = {}) {
  auto* t = detail::constant_tensor(g, out, dims, name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (auto x : values) t->add_float_data(x);
}

/// The protobuf serialisation of `m`: the bytes of an .onnx file. Throws std::runtime_error when
/// protobuf cannot serialise it (a message over 2 GiB).
inline std::vector<std::uint8_t> bytes_of(const onnx::ModelProto& m) {
  std::string s;
  if (!m.SerializeToString(&s)) throw std::runtime_error("onnx_builder::bytes_of: cannot serialise the model");
  return {s.begin(), s.end()};
}

/// The whole contents of file `p`; empty when it cannot be opened (a caller that needs the file
/// checks that it exists first).
inline std::vector<std::uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace peregrine::test::onnx_builder
