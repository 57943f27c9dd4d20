#include "peregrine/nn/onnx_import.hpp"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "peregrine/core/error.hpp"

namespace peregrine::nn {
namespace {

using I64 = std::int64_t;

[[noreturn]] void malformed(const std::string& what) { throw Error(ErrorCode::kMalformedInput, what); }

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). Names
// and metadata end up in error messages and in the JSON plan, which must be valid text.
bool valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t len;
    unsigned lo = 0x80, hi = 0xbf;  // bounds of the second byte
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) { len = 3; if (c == 0xe0) lo = 0xa0; if (c == 0xed) hi = 0x9f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; if (c == 0xf0) lo = 0x90; if (c == 0xf4) hi = 0x8f; }
    else return false;
    if (s.size() - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const unsigned char d = static_cast<unsigned char>(s[i + k]);
      if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xbf)) return false;
    }
    i += len;
  }
  return true;
}

// Checks every string of the model that the importer may copy into the graph, a message or the
// plan, before any of them is used (the message names the place, never the bad bytes).
void check_strings(const onnx::ModelProto& m) {
  auto need = [](const std::string& s, const std::string& where) {
    if (!valid_utf8(s)) malformed(where + " is not valid UTF-8");
  };
  for (int k = 0; k < m.metadata_props_size(); ++k) {
    need(m.metadata_props(k).key(), "metadata key " + std::to_string(k));
    need(m.metadata_props(k).value(), "metadata value " + std::to_string(k));
  }
  for (int k = 0; k < m.opset_import_size(); ++k) need(m.opset_import(k).domain(), "opset domain " + std::to_string(k));
  if (!m.has_graph()) return;
  const onnx::GraphProto& g = m.graph();
  for (int k = 0; k < g.initializer_size(); ++k) need(g.initializer(k).name(), "initializer name " + std::to_string(k));
  for (int k = 0; k < g.input_size(); ++k) need(g.input(k).name(), "graph input name " + std::to_string(k));
  for (int k = 0; k < g.output_size(); ++k) need(g.output(k).name(), "graph output name " + std::to_string(k));
  for (int k = 0; k < g.node_size(); ++k) {
    const onnx::NodeProto& n = g.node(k);
    const std::string where = "node " + std::to_string(k);
    need(n.name(), where + ": name");
    need(n.op_type(), where + ": op type");
    need(n.domain(), where + ": domain");
    for (const auto& v : n.input()) need(v, where + ": an input name");
    for (const auto& v : n.output()) need(v, where + ": an output name");
    for (const auto& a : n.attribute()) {
      need(a.name(), where + ": an attribute name");
      need(a.ref_attr_name(), where + ": an attribute reference");
      need(a.s(), where + ": a string attribute");
    }
  }
}

// ---- constants during import: float32 or int64 ------------------------------------------------

struct Const {
  Shape shape;
  bool is_int = false;
  int elem = 0;  ///< is_int: the ONNX element type (INT64; INT8, UINT8, INT32 for quantised tensors)
  std::vector<float> f;
  std::vector<I64> i;
};

Const make_float(Shape shape, std::vector<float> v) {
  Const c;
  c.shape = std::move(shape);
  c.f = std::move(v);
  return c;
}
Const make_int(Shape shape, std::vector<I64> v) {
  Const c;
  c.shape = std::move(shape);
  c.is_int = true;
  c.elem = onnx::TensorProto::INT64;
  c.i = std::move(v);
  return c;
}

std::vector<I64> strides_of(const Shape& s) {
  std::vector<I64> st(s.size(), 1);
  for (std::size_t k = s.size(); k-- > 1;) st[k - 1] = st[k] * s[k];
  return st;
}

// out[k] = src[idx[k]]
Const take(const Const& src, Shape out, const std::vector<I64>& idx) {
  Const r;
  r.shape = std::move(out);
  r.is_int = src.is_int;
  r.elem = src.elem;
  if (src.is_int) {
    r.i.resize(idx.size());
    for (std::size_t k = 0; k < idx.size(); ++k) r.i[k] = src.i[static_cast<std::size_t>(idx[k])];
  } else {
    r.f.resize(idx.size());
    for (std::size_t k = 0; k < idx.size(); ++k) r.f[k] = src.f[static_cast<std::size_t>(idx[k])];
  }
  return r;
}

I64 norm_axis(I64 axis, std::size_t rank, bool inclusive_end = false) {
  I64 r = static_cast<I64>(rank) + (inclusive_end ? 1 : 0);
  if (axis < -r || axis >= r) malformed("axis " + std::to_string(axis) + " out of range");
  return axis < 0 ? axis + r : axis;
}

// Normalised slice: full-rank start and step per axis, output shape (ONNX Slice semantics).
struct SlicePlan {
  std::vector<I64> starts, steps;
  Shape out;
};

SlicePlan plan_slice(const Shape& shape, const std::vector<I64>& starts, const std::vector<I64>& ends,
                     std::vector<I64> axes, std::vector<I64> steps) {
  std::size_t r = shape.size();
  if (starts.size() != ends.size()) malformed("Slice: starts and ends differ in length");
  if (axes.empty())
    for (std::size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<I64>(k));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size())
    malformed("Slice: axes/steps length mismatch");
  SlicePlan p;
  p.starts.assign(r, 0);
  p.steps.assign(r, 1);
  p.out = shape;
  std::set<I64> seen;
  for (std::size_t k = 0; k < starts.size(); ++k) {
    I64 ax = norm_axis(axes[k], r);
    if (!seen.insert(ax).second) malformed("Slice: repeated axis");
    I64 dim = shape[static_cast<std::size_t>(ax)], step = steps[k];
    if (step == 0) malformed("Slice: step 0");
    I64 s = starts[k] < 0 ? starts[k] + dim : starts[k];  // no overflow: dim ≥ 0
    I64 e = ends[k] < 0 ? ends[k] + dim : ends[k];
    I64 count;  // ⌈distance / |step|⌉ without overflow for any int64 step
    if (step > 0) {
      s = std::clamp<I64>(s, 0, dim);
      e = std::clamp<I64>(e, 0, dim);
      count = e > s ? (e - s - 1) / step + 1 : 0;
    } else {
      s = std::clamp<I64>(s, 0, dim - 1);
      e = std::clamp<I64>(e, -1, dim - 1);
      const I64 mag = step == std::numeric_limits<I64>::min() ? std::numeric_limits<I64>::max() : -step;
      count = s > e ? (s - e - 1) / mag + 1 : 0;
    }
    p.starts[static_cast<std::size_t>(ax)] = count ? s : 0;
    p.steps[static_cast<std::size_t>(ax)] = count > 1 ? step : 1;  // the step only matters from 2 elements on
    p.out[static_cast<std::size_t>(ax)] = count;
  }
  return p;
}

std::vector<I64> slice_index(const Shape& in, const SlicePlan& p) {
  I64 n = element_count(p.out);
  std::vector<I64> idx(static_cast<std::size_t>(n));
  std::vector<I64> ist = strides_of(in), ost = strides_of(p.out);
  for (I64 k = 0; k < n; ++k) {
    I64 rem = k, src = 0;
    for (std::size_t a = 0; a < in.size(); ++a) {
      I64 j = rem / ost[a];
      rem %= ost[a];
      src += (p.starts[a] + j * p.steps[a]) * ist[a];
    }
    idx[static_cast<std::size_t>(k)] = src;
  }
  return idx;
}

Shape broadcast(const Shape& a, const Shape& b) {
  std::size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (std::size_t k = 0; k < r; ++k) {
    I64 da = k < r - a.size() ? 1 : a[k - (r - a.size())];
    I64 db = k < r - b.size() ? 1 : b[k - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      malformed("shapes " + shape_to_string(a) + " and " + shape_to_string(b) + " do not broadcast");
    out[k] = (da == 1) ? db : da;
  }
  element_count(out);
  return out;
}

// Flat index into `in` (broadcast to `out`) for every element of `out`.
std::vector<I64> broadcast_index(const Shape& in, const Shape& out) {
  I64 n = element_count(out);
  std::size_t off = out.size() - in.size();
  std::vector<I64> ist = strides_of(in), ost = strides_of(out), idx(static_cast<std::size_t>(n));
  for (I64 k = 0; k < n; ++k) {
    I64 rem = k, src = 0;
    for (std::size_t a = 0; a < out.size(); ++a) {
      I64 j = rem / ost[a];
      rem %= ost[a];
      if (a >= off && in[a - off] != 1) src += j * ist[a - off];
    }
    idx[static_cast<std::size_t>(k)] = src;
  }
  return idx;
}

// ONNX Reshape (allowzero 0): 0 copies the input dimension, one -1 is inferred.
Shape resolve_reshape(const Shape& in, const std::vector<I64>& target, const std::string& label) {
  if (target.size() > kMaxRank) malformed(label + ": rank above 8");
  Shape s;
  I64 known = 1, infer = -1;
  for (std::size_t k = 0; k < target.size(); ++k) {
    I64 d = target[k];
    if (d == 0) {
      if (k >= in.size()) malformed(label + ": 0 beyond the input rank");
      d = in[k];
    }
    if (d == -1) {
      if (infer >= 0) malformed(label + ": two -1 in shape");
      infer = static_cast<I64>(k);
      d = 1;
    } else if (d < 0) {
      malformed(label + ": negative dimension");
    }
    s.push_back(d);
    element_count(s);
    known *= d == 0 ? 1 : d;
  }
  I64 total = element_count(in);
  if (infer >= 0) {
    if (known == 0 || total % known) malformed(label + ": cannot infer -1");
    s[static_cast<std::size_t>(infer)] = total / known;
  }
  if (element_count(s) != total) malformed(label + ": element count changes");
  return s;
}

// ---- reading protobuf tensors ------------------------------------------------------------------

Shape read_dims(const google::protobuf::RepeatedField<I64>& dims, const std::string& what) {
  if (static_cast<std::size_t>(dims.size()) > kMaxRank) malformed(what + ": rank above 8");
  Shape s(dims.begin(), dims.end());
  element_count(s);  // bounds before any allocation
  return s;
}

// Returns false (and records an issue) for unsupported data types / external data.
bool read_tensor(const onnx::TensorProto& t, const std::string& what, Const& out,
                 std::vector<std::string>& issues) {
  if (t.has_segment()) malformed(what + ": segmented tensors are not allowed");
  Shape shape = read_dims(t.dims(), what);
  std::size_t n = static_cast<std::size_t>(element_count(shape));
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    issues.push_back(what + ": external tensor data");
    return false;
  }
  const std::string& raw = t.raw_data();
  if (t.data_type() == onnx::TensorProto::FLOAT) {
    std::vector<float> v;
    if (!raw.empty() || t.float_data_size() == 0) {
      if (raw.size() != n * sizeof(float)) malformed(what + ": raw_data length does not match shape");
      if (t.float_data_size()) malformed(what + ": both raw_data and float_data");
      v.resize(n);
      if (n) std::memcpy(v.data(), raw.data(), raw.size());  // little-endian host (x86-64)
    } else {
      if (static_cast<std::size_t>(t.float_data_size()) != n) malformed(what + ": float_data length does not match shape");
      v.assign(t.float_data().begin(), t.float_data().end());
    }
    out = make_float(std::move(shape), std::move(v));
    return true;
  }
  if (t.data_type() == onnx::TensorProto::INT64) {
    std::vector<I64> v;
    if (!raw.empty() || t.int64_data_size() == 0) {
      if (raw.size() != n * sizeof(I64)) malformed(what + ": raw_data length does not match shape");
      if (t.int64_data_size()) malformed(what + ": both raw_data and int64_data");
      v.resize(n);
      if (n) std::memcpy(v.data(), raw.data(), raw.size());
    } else {
      if (static_cast<std::size_t>(t.int64_data_size()) != n) malformed(what + ": int64_data length does not match shape");
      v.assign(t.int64_data().begin(), t.int64_data().end());
    }
    out = make_int(std::move(shape), std::move(v));
    return true;
  }
  const int dt = t.data_type();
  if (dt == onnx::TensorProto::INT8 || dt == onnx::TensorProto::UINT8 || dt == onnx::TensorProto::INT32) {
    // Quantised tensors (QDQ models): bytes in raw_data, or int32_data for all three types.
    const std::size_t width = dt == onnx::TensorProto::INT32 ? 4 : 1;
    std::vector<I64> v(n);
    if (!raw.empty() || t.int32_data_size() == 0) {
      if (raw.size() != n * width) malformed(what + ": raw_data length does not match shape");
      if (t.int32_data_size()) malformed(what + ": both raw_data and int32_data");
      for (std::size_t k = 0; k < n; ++k) {
        if (dt == onnx::TensorProto::INT8) v[k] = static_cast<std::int8_t>(raw[k]);
        else if (dt == onnx::TensorProto::UINT8) v[k] = static_cast<std::uint8_t>(raw[k]);
        else {
          std::int32_t x;
          std::memcpy(&x, raw.data() + 4 * k, 4);
          v[k] = x;
        }
      }
    } else {
      if (static_cast<std::size_t>(t.int32_data_size()) != n) malformed(what + ": int32_data length does not match shape");
      for (std::size_t k = 0; k < n; ++k) {
        const I64 x = t.int32_data(static_cast<int>(k));
        const bool ok = dt == onnx::TensorProto::INT8 ? (x >= -128 && x <= 127)
                        : dt == onnx::TensorProto::UINT8 ? (x >= 0 && x <= 255) : true;
        if (!ok) malformed(what + ": int32_data value outside the element type");
        v[k] = x;
      }
    }
    out = make_int(std::move(shape), std::move(v));
    out.elem = dt;
    return true;
  }
  issues.push_back(what + ": tensor data type " + std::to_string(dt) +
                   " (only float32, int64 and, for quantised tensors, int8, uint8 and int32 are supported)");
  return false;
}

// ---- the importer -----------------------------------------------------------------------------

const std::map<std::string, std::set<std::string>>& known_attrs() {
  static const std::map<std::string, std::set<std::string>> k = {
      {"Conv", {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}},
      {"Gemm", {"alpha", "beta", "transA", "transB"}},
      {"MatMul", {}},
      {"Add", {}},
      {"Sub", {}},
      {"Mul", {}},
      {"Div", {}},
      {"Relu", {}},
      {"Clip", {"min", "max"}},
      {"HardSigmoid", {"alpha", "beta"}},
      {"BatchNormalization", {"epsilon", "momentum", "training_mode", "spatial"}},
      {"MaxPool", {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"}},
      {"AveragePool", {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"}},
      {"GlobalAveragePool", {}},
      {"Flatten", {"axis"}},
      {"Reshape", {"allowzero", "shape"}},
      {"Slice", {"starts", "ends", "axes"}},
      {"Pad", {"mode", "pads", "value"}},
      {"Concat", {"axis"}},
      {"Identity", {}},
      {"Dropout", {"ratio", "seed", "is_test"}},
      {"Softmax", {"axis"}},
      {"ArgMax", {"axis", "keepdims", "select_last_index"}},
      {"Constant", {"value", "value_float", "value_floats", "value_int", "value_ints"}},
      {"ConstantOfShape", {"value"}},
      {"Shape", {"start", "end"}},
      {"Transpose", {"perm"}},
      {"Cast", {"to", "saturate"}},
      {"Unsqueeze", {"axes"}},
      {"Squeeze", {"axes"}},
      {"Gather", {"axis"}},
      {"QuantizeLinear", {"axis"}},
      {"DequantizeLinear", {"axis"}},
  };
  return k;
}

// Ops that only exist on constants (folded away; a non-constant input is unsupported).
bool fold_only(const std::string& op) {
  static const std::set<std::string> s = {"Constant", "ConstantOfShape", "Shape", "Transpose", "Cast",
                                          "Unsqueeze", "Squeeze", "Gather", "Div"};
  return s.count(op) != 0;
}
bool foldable(const std::string& op) {
  static const std::set<std::string> s = {"Concat", "Reshape", "Slice", "Add", "Sub", "Mul",
                                          "Identity", "Dropout", "DequantizeLinear"};
  return fold_only(op) || s.count(op) != 0;
}

class Importer {
 public:
  Importer(const onnx::ModelProto& model, const ImportOptions& opt) : model_(model), opt_(opt) {}

  Graph run();

 private:
  std::string node_label(const Node& n) const { return "node '" + n.name + "' (" + n.op_type + ")"; }
  void issue(const Node& n, const std::string& what) {
    issue_kind_[issues_.size()] = {n.op_type + ": " + what, "'" + n.name + "'"};
    issues_.push_back(node_label(n) + ": " + what);
  }

  void read_graph();
  void check_static(const Node& n);
  void fold_and_infer();
  bool try_fold(Node& n);
  bool canonicalize(Node& n);  // false: issue recorded
  void normalise(Graph& g);

  bool is_const(const std::string& v) const { return !v.empty() && consts_.count(v); }
  const Shape& shape(const std::string& v) const {
    auto c = consts_.find(v);
    if (c != consts_.end()) return c->second.shape;
    auto s = shapes_.find(v);
    if (s == shapes_.end()) malformed("no shape for value '" + v + "'");
    return s->second;
  }
  const Const* opt_const(const Node& n, std::size_t k) const {
    if (k >= n.inputs.size() || n.inputs[k].empty()) return nullptr;
    auto it = consts_.find(n.inputs[k]);
    return it == consts_.end() ? nullptr : &it->second;
  }
  bool has_input(const Node& n, std::size_t k) const { return k < n.inputs.size() && !n.inputs[k].empty(); }

  const onnx::ModelProto& model_;
  const ImportOptions& opt_;
  I64 opset_ = 13;
  std::vector<std::string> issues_;
  std::map<std::size_t, std::pair<std::string, std::string>> issue_kind_;  // node issues: ("Op: what", quoted name)
  std::vector<Node> raw_nodes_;
  std::map<std::size_t, Const> tensor_attr_;  // node index → its "value" TENSOR attribute
  std::map<std::string, Const> consts_;
  std::map<std::string, QuantizedTensor> quant_;  // constants folded from DequantizeLinear
  std::map<std::string, Shape> shapes_;
  std::set<std::string> unknown_;  // values downstream of an unsupported node
  std::vector<std::string> inputs_, outputs_;
  std::vector<Node> runtime_;
  std::size_t cur_ = 0;  // index of the node being processed (for tensor_attr_)
};

void Importer::read_graph() {
  check_strings(model_);
  if (!model_.has_graph()) malformed("model has no graph");
  const onnx::GraphProto& g = model_.graph();
  bool opset_seen = false;
  for (const auto& op : model_.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") {
      opset_ = op.version();
      opset_seen = true;
    }
  if (!opset_seen) malformed("model imports no default-domain opset");
  if (opset_ < 7) issues_.push_back("model: opset " + std::to_string(opset_) + " (7 or later is supported)");
  if (g.sparse_initializer_size()) issues_.push_back("model: sparse initializers");

  for (const auto& t : g.initializer()) {
    if (t.name().empty()) malformed("initializer without a name");
    Const c;
    if (read_tensor(t, "initializer '" + t.name() + "'", c, issues_))
      if (!consts_.emplace(t.name(), std::move(c)).second) malformed("initializer '" + t.name() + "' defined twice");
  }
  for (const auto& in : g.input()) {
    if (consts_.count(in.name())) continue;  // IR < 4 lists initializers as inputs too
    if (in.name().empty()) malformed("graph input without a name");
    const auto& tt = in.type().tensor_type();
    if (!in.type().has_tensor_type() || tt.elem_type() != onnx::TensorProto::FLOAT) {
      issues_.push_back("graph input '" + in.name() + "': only float32 tensors are supported");
      unknown_.insert(in.name());
      inputs_.push_back(in.name());
      continue;
    }
    if (!tt.has_shape()) malformed("graph input '" + in.name() + "' has no shape");
    if (static_cast<std::size_t>(tt.shape().dim_size()) > kMaxRank) malformed("graph input rank above 8");
    Shape s;
    bool ok = true;
    for (int k = 0; k < tt.shape().dim_size(); ++k) {
      const auto& d = tt.shape().dim(k);
      if (d.has_dim_value()) {
        if (d.dim_value() <= 0) malformed("graph input '" + in.name() + "': non-positive dimension");
        s.push_back(d.dim_value());
      } else if (k == 0) {
        s.push_back(1);  // symbolic batch: batch 1
      } else {
        issues_.push_back("graph input '" + in.name() + "': symbolic dimension " + std::to_string(k));
        ok = false;
      }
    }
    element_count(s);
    inputs_.push_back(in.name());
    if (ok) shapes_[in.name()] = s; else unknown_.insert(in.name());
  }
  for (const auto& out : g.output()) {
    if (out.name().empty()) malformed("graph output without a name");
    outputs_.push_back(out.name());
  }
  if (outputs_.empty()) malformed("graph has no outputs");

  for (int k = 0; k < g.node_size(); ++k) {
    const onnx::NodeProto& np = g.node(k);
    Node n;
    n.name = np.name().empty() ? ("#" + std::to_string(k)) : np.name();
    n.op_type = np.op_type();
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    if (n.outputs.empty()) malformed(node_label(n) + " has no outputs");
    if (!np.domain().empty() && np.domain() != "ai.onnx") {
      issue(n, "op domain '" + np.domain() + "'");
      n.op_type = "";  // unsupported marker (issue already recorded)
    }
    for (const auto& a : np.attribute()) {
      using AP = onnx::AttributeProto;
      if (!a.ref_attr_name().empty()) { issue(n, "attribute reference '" + a.name() + "'"); continue; }
      switch (a.type()) {
        case AP::INT: n.attrs[a.name()] = Attribute::of_int(a.i()); break;
        case AP::FLOAT: n.attrs[a.name()] = Attribute::of_float(a.f()); break;
        case AP::INTS: n.attrs[a.name()] = Attribute::of_ints({a.ints().begin(), a.ints().end()}); break;
        case AP::FLOATS: n.attrs[a.name()] = Attribute::of_floats({a.floats().begin(), a.floats().end()}); break;
        case AP::STRING: n.attrs[a.name()] = Attribute::of_string(a.s()); break;
        case AP::TENSOR: {
          Const c;
          if (read_tensor(a.t(), node_label(n) + " attribute '" + a.name() + "'", c, issues_)) {
            if (a.name() != "value") issue(n, "tensor attribute '" + a.name() + "'");
            else tensor_attr_[raw_nodes_.size()] = std::move(c);
          }
          n.attrs[a.name()] = Attribute::of_string("<tensor>");
          break;
        }
        default: issue(n, "attribute '" + a.name() + "' of type " + std::to_string(a.type()));
      }
    }
    raw_nodes_.push_back(std::move(n));
  }
}

// Op types and attribute values that are unsupported whatever the inputs are.
void Importer::check_static(const Node& n) {
  if (n.op_type.empty()) return;
  auto it = known_attrs().find(n.op_type);
  if (it == known_attrs().end()) {
    issue(n, "op type not supported");
    return;
  }
  for (const auto& [key, a] : n.attrs)
    if (!it->second.count(key)) issue(n, "attribute '" + key + "' not supported");
  const std::string& op = n.op_type;
  auto all_one = [](const std::vector<I64>& v) { return std::all_of(v.begin(), v.end(), [](I64 x) { return x == 1; }); };
  if (op == "Conv" || op == "MaxPool" || op == "AveragePool") {
    std::string ap = n.attr_string("auto_pad", "NOTSET");
    if (ap != "NOTSET" && ap != "VALID") issue(n, "auto_pad " + ap);
    if (!all_one(n.attr_ints("dilations"))) issue(n, "dilations other than 1");
    if (op == "Conv" && n.attr_int("ceil_mode", 0) != 0) issue(n, "ceil_mode 1");
    if (n.attr_int("storage_order", 0) != 0) issue(n, "storage_order 1");
  }
  if (op == "Gemm" && n.attr_int("transA", 0) != 0) issue(n, "transA 1");
  if (op == "BatchNormalization") {
    if (n.attr_int("training_mode", 0) != 0) issue(n, "training_mode 1");
    if (n.attr_int("spatial", 1) != 1) issue(n, "spatial 0");
  }
  if (op == "Pad" && n.attr_string("mode", "constant") != "constant")
    issue(n, "mode '" + n.attr_string("mode") + "' (only constant)");
  if (op == "Reshape" && n.attr_int("allowzero", 0) != 0) issue(n, "allowzero 1");
  if (op == "ArgMax" && n.attr_int("select_last_index", 0) != 0) issue(n, "select_last_index 1");
  if (op == "Dropout" && n.outputs.size() > 1 && !n.outputs[1].empty()) {
    bool used = std::find(outputs_.begin(), outputs_.end(), n.outputs[1]) != outputs_.end();
    for (const auto& m : raw_nodes_)
      for (const auto& in : m.inputs) used |= (in == n.outputs[1]);
    if (used) issue(n, "the mask output is used");
  }
  if ((op == "MaxPool" || op == "BatchNormalization") && n.outputs.size() > 1) {
    for (std::size_t k = 1; k < n.outputs.size(); ++k)
      if (!n.outputs[k].empty()) {
        bool used = std::find(outputs_.begin(), outputs_.end(), n.outputs[k]) != outputs_.end();
        for (const auto& m : raw_nodes_)
          for (const auto& in : m.inputs) used |= (in == n.outputs[k]);
        if (used) issue(n, "optional output " + std::to_string(k) + " is used");
      }
  }
}

std::vector<I64> as_ints(const Const& c, const std::string& what) {
  if (!c.is_int || c.elem != onnx::TensorProto::INT64) malformed(what + " must be an int64 tensor");
  return c.i;
}

// Evaluates `n` when all its inputs are constants. Returns false when it is not folded.
bool Importer::try_fold(Node& n) {
  const std::string& op = n.op_type;
  if (!foldable(op)) return false;
  std::vector<const Const*> in;
  for (const auto& name : n.inputs) {
    if (name.empty()) { in.push_back(nullptr); continue; }
    if (!consts_.count(name)) {
      if (op == "Shape" && shapes_.count(name)) continue;
      return false;
    }
    in.push_back(&consts_.at(name));
  }
  auto need = [&](std::size_t k) -> const Const& {
    if (k >= in.size() || !in[k]) malformed(node_label(n) + ": missing input " + std::to_string(k));
    return *in[k];
  };
  Const out;
  if (op == "Constant") {
    auto t = tensor_attr_.find(cur_);
    if (t != tensor_attr_.end()) out = t->second;
    else if (n.has_attr("value_float")) out = make_float({}, {n.attr_float("value_float", 0)});
    else if (n.has_attr("value_floats")) { auto v = n.attr_floats("value_floats"); out = make_float({I64(v.size())}, v); }
    else if (n.has_attr("value_int")) out = make_int({}, {n.attr_int("value_int", 0)});
    else if (n.has_attr("value_ints")) { auto v = n.attr_ints("value_ints"); out = make_int({I64(v.size())}, v); }
    else if (n.has_attr("value")) {  // its tensor was refused when read (issue recorded)
      unknown_.insert(n.outputs.at(0));
      return true;
    }
    else malformed(node_label(n) + ": no value");
  } else if (op == "ConstantOfShape") {
    Shape s = as_ints(need(0), node_label(n) + " shape");
    std::size_t cnt = static_cast<std::size_t>(element_count(s));
    auto t = tensor_attr_.find(cur_);
    if (t != tensor_attr_.end()) {
      if (t->second.is_int ? t->second.i.size() != 1 : t->second.f.size() != 1) malformed(node_label(n) + ": value must hold one element");
      out = t->second.is_int ? make_int(s, std::vector<I64>(cnt, t->second.i[0]))
                             : make_float(s, std::vector<float>(cnt, t->second.f[0]));
    } else {
      out = make_float(s, std::vector<float>(cnt, 0.0f));
    }
  } else if (op == "Shape") {
    if (!has_input(n, 0)) malformed(node_label(n) + ": missing input 0");
    Shape s = shape(n.inputs[0]);
    I64 r = static_cast<I64>(s.size());
    I64 a = n.attr_int("start", 0), b = n.attr_int("end", r);
    if (a < 0) a += r;
    if (b < 0) b += r;
    a = std::clamp<I64>(a, 0, r);
    b = std::clamp<I64>(b, a, r);
    std::vector<I64> v(s.begin() + a, s.begin() + b);
    out = make_int({I64(v.size())}, v);
  } else if (op == "Identity" || op == "Dropout") {
    out = need(0);
  } else if (op == "Cast") {
    const Const& x = need(0);
    I64 to = n.attr_int("to", 0);
    if (to == onnx::TensorProto::FLOAT) {
      out = x.is_int ? make_float(x.shape, std::vector<float>(x.i.begin(), x.i.end())) : x;
    } else if (to == onnx::TensorProto::INT64 || to == onnx::TensorProto::INT32) {
      if (x.is_int) {
        out = x;
        out.elem = onnx::TensorProto::INT64;
      } else {
        std::vector<I64> v;
        for (float f : x.f) {
          if (!std::isfinite(f) || std::fabs(f) > 9.2e18f) malformed(node_label(n) + ": value out of int64 range");
          v.push_back(static_cast<I64>(f));
        }
        out = make_int(x.shape, v);
      }
    } else {
      issue(n, "cast to data type " + std::to_string(to));
      unknown_.insert(n.outputs.at(0));
      return true;
    }
  } else if (op == "Reshape") {
    const Const& x = need(0);
    std::vector<I64> target = n.has_attr("shape") ? n.attr_ints("shape") : as_ints(need(1), node_label(n) + " shape");
    Shape s = resolve_reshape(x.shape, target, node_label(n));
    out = x;
    out.shape = s;
  } else if (op == "Transpose") {
    const Const& x = need(0);
    std::size_t r = x.shape.size();
    std::vector<I64> perm = n.attr_ints("perm");
    if (perm.empty()) for (std::size_t k = 0; k < r; ++k) perm.push_back(static_cast<I64>(r - 1 - k));
    if (perm.size() != r) malformed(node_label(n) + ": perm length");
    std::vector<I64> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t k = 0; k < r; ++k) if (sorted[k] != static_cast<I64>(k)) malformed(node_label(n) + ": perm is not a permutation");
    Shape os(r);
    for (std::size_t k = 0; k < r; ++k) os[k] = x.shape[static_cast<std::size_t>(perm[k])];
    std::vector<I64> ist = strides_of(x.shape), ost = strides_of(os);
    I64 cnt = element_count(os);
    std::vector<I64> idx(static_cast<std::size_t>(cnt));
    for (I64 k = 0; k < cnt; ++k) {
      I64 rem = k, src = 0;
      for (std::size_t a = 0; a < r; ++a) {
        I64 j = rem / ost[a];
        rem %= ost[a];
        src += j * ist[static_cast<std::size_t>(perm[a])];
      }
      idx[static_cast<std::size_t>(k)] = src;
    }
    out = take(x, os, idx);
  } else if (op == "Slice") {
    const Const& x = need(0);
    std::vector<I64> st, en, ax, sp;
    if (opset_ < 10) {
      st = n.attr_ints("starts"); en = n.attr_ints("ends"); ax = n.attr_ints("axes");
    } else {
      st = as_ints(need(1), "Slice starts"); en = as_ints(need(2), "Slice ends");
      if (in.size() > 3 && in[3]) ax = as_ints(*in[3], "Slice axes");
      if (in.size() > 4 && in[4]) sp = as_ints(*in[4], "Slice steps");
    }
    SlicePlan p = plan_slice(x.shape, st, en, ax, sp);
    out = take(x, p.out, slice_index(x.shape, p));
  } else if (op == "Unsqueeze" || op == "Squeeze") {
    const Const& x = need(0);
    std::vector<I64> axes = n.has_attr("axes") ? n.attr_ints("axes")
                            : (in.size() > 1 && in[1]) ? as_ints(*in[1], "axes") : std::vector<I64>{};
    Shape s;
    if (op == "Unsqueeze") {
      std::size_t r = x.shape.size() + axes.size();
      std::vector<bool> ins(r, false);
      for (I64 a : axes) {
        I64 na = norm_axis(a, r);
        if (ins[static_cast<std::size_t>(na)]) malformed(node_label(n) + ": repeated axis");
        ins[static_cast<std::size_t>(na)] = true;
      }
      std::size_t src = 0;
      for (std::size_t k = 0; k < r; ++k) s.push_back(ins[k] ? 1 : x.shape[src++]);
    } else {
      std::vector<bool> drop(x.shape.size(), axes.empty());
      if (axes.empty()) for (std::size_t k = 0; k < x.shape.size(); ++k) drop[k] = x.shape[k] == 1;
      for (I64 a : axes) {
        std::size_t na = static_cast<std::size_t>(norm_axis(a, x.shape.size()));
        if (x.shape[na] != 1) malformed(node_label(n) + ": squeezing a dimension that is not 1");
        drop[na] = true;
      }
      for (std::size_t k = 0; k < x.shape.size(); ++k) if (!drop[k]) s.push_back(x.shape[k]);
    }
    out = x;
    out.shape = s;
  } else if (op == "Gather") {
    const Const& x = need(0);
    std::vector<I64> ind = as_ints(need(1), "Gather indices");
    const Shape& ishape = need(1).shape;
    if (x.shape.empty()) malformed(node_label(n) + ": gather from a scalar");
    std::size_t ax = static_cast<std::size_t>(norm_axis(n.attr_int("axis", 0), x.shape.size()));
    I64 dim = x.shape[ax];
    Shape os(x.shape.begin(), x.shape.begin() + static_cast<std::ptrdiff_t>(ax));
    os.insert(os.end(), ishape.begin(), ishape.end());
    os.insert(os.end(), x.shape.begin() + static_cast<std::ptrdiff_t>(ax) + 1, x.shape.end());
    I64 outer = 1, inner = 1;
    for (std::size_t k = 0; k < ax; ++k) outer *= x.shape[k];
    for (std::size_t k = ax + 1; k < x.shape.size(); ++k) inner *= x.shape[k];
    std::vector<I64> idx;
    idx.reserve(static_cast<std::size_t>(element_count(os)));
    for (I64 o = 0; o < outer; ++o)
      for (I64 g : ind) {
        if (g < -dim || g >= dim) malformed(node_label(n) + ": index out of range");
        if (g < 0) g += dim;
        for (I64 q = 0; q < inner; ++q) idx.push_back((o * dim + g) * inner + q);
      }
    out = take(x, os, idx);
  } else if (op == "Concat") {
    if (in.empty()) malformed(node_label(n) + ": no inputs");
    for (auto* c : in) if (!c) malformed(node_label(n) + ": empty input name");
    const Const& x0 = *in[0];
    std::size_t ax = static_cast<std::size_t>(norm_axis(n.attr_int("axis", 0), x0.shape.size()));
    Shape os = x0.shape;
    os[ax] = 0;
    for (auto* c : in) {
      if (c->is_int != x0.is_int || c->shape.size() != x0.shape.size()) malformed(node_label(n) + ": mixed inputs");
      for (std::size_t k = 0; k < os.size(); ++k)
        if (k != ax && c->shape[k] != x0.shape[k]) malformed(node_label(n) + ": shape mismatch");
      os[ax] += c->shape[ax];
    }
    element_count(os);
    I64 outer = 1, inner = 1;
    for (std::size_t k = 0; k < ax; ++k) outer *= os[k];
    for (std::size_t k = ax + 1; k < os.size(); ++k) inner *= os[k];
    out.shape = os;
    out.is_int = x0.is_int;
    out.elem = x0.elem;
    for (I64 o = 0; o < outer; ++o)
      for (auto* c : in) {
        I64 blk = c->shape[ax] * inner;
        if (c->is_int) out.i.insert(out.i.end(), c->i.begin() + o * blk, c->i.begin() + (o + 1) * blk);
        else out.f.insert(out.f.end(), c->f.begin() + o * blk, c->f.begin() + (o + 1) * blk);
      }
  } else if (op == "DequantizeLinear") {
    // A quantised initializer (weights, bias): the float value ONNX defines, (q − zp)·scale, and
    // the integers themselves for the integer lowering (Graph::quantized).
    const Const& x = need(0);
    const Const& sc = need(1);
    const Const* zp = in.size() > 2 ? in[2] : nullptr;
    if (!x.is_int || x.elem == onnx::TensorProto::INT64 || sc.is_int || (zp && (!zp->is_int || zp->elem != x.elem))) {
      issue(n, "DequantizeLinear of a constant needs an int8, uint8 or int32 tensor, a float scale and a zero point of its type");
      unknown_.insert(n.outputs.at(0));
      return true;
    }
    QuantizedTensor qt;
    qt.values = x.i;
    qt.scale = sc.f;
    qt.zero_point = zp ? zp->i : std::vector<I64>(sc.f.size(), 0);
    std::size_t groups = sc.f.size();
    if (groups == 0 || qt.zero_point.size() != groups) malformed(node_label(n) + ": scale and zero point sizes differ");
    for (float v : sc.f)
      if (!std::isfinite(v) || !(v > 0)) malformed(node_label(n) + ": scale must be positive and finite");
    I64 inner = 1, dim = 1;
    if (groups > 1 || sc.shape.size() == 1) {
      if (x.shape.empty()) malformed(node_label(n) + ": per-axis scale on a scalar");
      qt.axis = norm_axis(n.attr_int("axis", 1), x.shape.size());
      dim = x.shape[static_cast<std::size_t>(qt.axis)];
      if (static_cast<I64>(groups) != dim) malformed(node_label(n) + ": per-axis scale length differs from the axis");
      for (std::size_t k = static_cast<std::size_t>(qt.axis) + 1; k < x.shape.size(); ++k) inner *= x.shape[k];
    }
    std::vector<float> f(x.i.size());
    for (std::size_t k = 0; k < f.size(); ++k) {
      const std::size_t c = groups == 1 ? 0 : static_cast<std::size_t>((static_cast<I64>(k) / inner) % dim);
      f[k] = static_cast<float>(x.i[k] - qt.zero_point[c]) * sc.f[c];  // ONNX: float32 arithmetic
    }
    if (x.elem == onnx::TensorProto::INT32)  // biases: exact as float32 only below 2^24
      for (I64 v : x.i)
        if (v >= (I64{1} << 24) || v <= -(I64{1} << 24)) {
          issue(n, "int32 values of 2^24 or more (not exact in the float graph)");
          unknown_.insert(n.outputs.at(0));
          return true;
        }
    out = make_float(x.shape, std::move(f));
    quant_[n.outputs.at(0)] = std::move(qt);
  } else {  // Add, Sub, Mul, Div
    const Const& a = need(0);
    const Const& b = need(1);
    if (a.is_int != b.is_int) malformed(node_label(n) + ": mixed data types");
    Shape os = broadcast(a.shape, b.shape);
    std::vector<I64> ia = broadcast_index(a.shape, os), ib = broadcast_index(b.shape, os);
    out.shape = os;
    out.is_int = a.is_int;
    out.elem = a.elem;
    for (std::size_t k = 0; k < ia.size(); ++k) {
      std::size_t p = static_cast<std::size_t>(ia[k]), q = static_cast<std::size_t>(ib[k]);
      if (a.is_int) {
        I64 x = a.i[p], y = b.i[q], r = 0;
        if (op == "Add") r = x + y;
        else if (op == "Sub") r = x - y;
        else if (op == "Mul") r = x * y;
        else {
          if (y == 0) malformed(node_label(n) + ": integer division by zero");
          r = x / y;
        }
        out.i.push_back(r);
      } else {
        float x = a.f[p], y = b.f[q];
        out.f.push_back(op == "Add" ? x + y : op == "Sub" ? x - y : op == "Mul" ? x * y : x / y);
      }
    }
  }
  if (n.outputs.empty() || n.outputs[0].empty()) malformed(node_label(n) + ": empty output name");
  element_count(out.shape);
  if (!consts_.emplace(n.outputs[0], std::move(out)).second) malformed("value '" + n.outputs[0] + "' defined twice");
  return true;
}

// Brings a runtime node into the normal form of graph.hpp and infers its output shape.
bool Importer::canonicalize(Node& n) {
  const std::string& op = n.op_type;
  std::size_t issues_before = issues_.size();
  auto in_shape = [&](std::size_t k) -> const Shape& {
    if (!has_input(n, k)) malformed(node_label(n) + ": missing input " + std::to_string(k));
    return shape(n.inputs[k]);
  };
  auto float_const = [&](std::size_t k, const char* role) -> const Const* {
    const Const* c = opt_const(n, k);
    if (!c) { issue(n, std::string("non-constant ") + role); return nullptr; }
    if (c->is_int) { issue(n, std::string("int64 ") + role); return nullptr; }
    return c;
  };
  auto int_const = [&](std::size_t k, const char* role) -> std::vector<I64> {
    const Const* c = opt_const(n, k);
    if (!c) { issue(n, std::string("non-constant ") + role); return {}; }
    if (!c->is_int) { issue(n, std::string("float ") + role); return {}; }
    return c->i;
  };
  // Runtime data inputs must be float tensors.
  auto runtime_ok = [&](std::size_t k) {
    if (const Const* c = opt_const(n, k); c && c->is_int) { issue(n, "int64 data operand"); return false; }
    return true;
  };
  auto set_out = [&](Shape s) {
    element_count(s);
    shapes_[n.outputs.at(0)] = std::move(s);
  };
  auto keep_inputs = [&](std::size_t count) { n.inputs.resize(std::min(count, n.inputs.size())); };

  if (fold_only(op)) {
    issue(n, "needs constant inputs (only folded on constants)");
    return false;
  }
  for (std::size_t k = 1; k < n.outputs.size(); ++k) n.outputs[k].clear();
  while (n.outputs.size() > 1 && n.outputs.back().empty()) n.outputs.pop_back();

  if (op == "Conv") {
    if (!runtime_ok(0)) return false;
    const Shape& x = in_shape(0);
    const Const* w = float_const(1, "weight");
    const Const* b = has_input(n, 2) ? float_const(2, "bias") : nullptr;
    if (issues_.size() != issues_before) return false;
    if (x.size() != 4) { issue(n, "only 2-D convolution on [N,C,H,W] is supported"); return false; }
    if (w->shape.size() != 4) malformed(node_label(n) + ": weight must be [M,C/g,kh,kw]");
    I64 g = n.attr_int("group", 1), M = w->shape[0], kh = w->shape[2], kw = w->shape[3];
    if (g <= 0 || x[1] % g || M % g || w->shape[1] != x[1] / g) malformed(node_label(n) + ": group/channel mismatch");
    if (b && (b->shape.size() != 1 || b->shape[0] != M)) malformed(node_label(n) + ": bias must be [M]");
    std::vector<I64> ks = n.attr_ints("kernel_shape", {kh, kw});
    if (ks != std::vector<I64>{kh, kw}) malformed(node_label(n) + ": kernel_shape differs from the weight");
    std::vector<I64> st = n.attr_ints("strides", {1, 1}), pads = n.attr_ints("pads", {0, 0, 0, 0});
    if (n.attr_string("auto_pad", "NOTSET") == "VALID") pads = {0, 0, 0, 0};
    if (st.size() != 2 || pads.size() != 4 || st[0] <= 0 || st[1] <= 0 ||
        std::any_of(pads.begin(), pads.end(), [](I64 p) { return p < 0 || p > (1 << 20); }))
      malformed(node_label(n) + ": bad strides/pads");
    I64 hp = x[2] + pads[0] + pads[2], wp = x[3] + pads[1] + pads[3];
    if (hp < kh || wp < kw || kh <= 0 || kw <= 0) malformed(node_label(n) + ": kernel larger than the padded input");
    n.attrs.clear();
    n.attrs["strides"] = Attribute::of_ints(st);
    n.attrs["pads"] = Attribute::of_ints(pads);
    n.attrs["group"] = Attribute::of_int(g);
    keep_inputs(b ? 3 : 2);
    set_out({x[0], M, (hp - kh) / st[0] + 1, (wp - kw) / st[1] + 1});
    return true;
  }
  if (op == "Gemm" || op == "MatMul") {
    if (!runtime_ok(0)) return false;
    const Shape& a = in_shape(0);
    const Const* w = float_const(1, "second operand (weights)");
    const Const* c = (op == "Gemm" && has_input(n, 2)) ? float_const(2, "bias") : nullptr;
    if (issues_.size() != issues_before) return false;
    if (a.size() != 2) { issue(n, "only 2-D inputs [M,K] are supported"); return false; }
    if (w->shape.size() != 2) { issue(n, "only 2-D weights are supported"); return false; }
    bool trans_b = op == "Gemm" && n.attr_int("transB", 0) != 0;
    float alpha = op == "Gemm" ? n.attr_float("alpha", 1.0f) : 1.0f;
    float beta = op == "Gemm" ? n.attr_float("beta", 1.0f) : 1.0f;
    I64 K = trans_b ? w->shape[1] : w->shape[0], N = trans_b ? w->shape[0] : w->shape[1];
    if (K != a[1]) malformed(node_label(n) + ": inner dimensions differ");
    std::vector<float> wt(static_cast<std::size_t>(N * K));
    for (I64 r = 0; r < N; ++r)
      for (I64 k = 0; k < K; ++k)
        wt[static_cast<std::size_t>(r * K + k)] =
            alpha * (trans_b ? w->f[static_cast<std::size_t>(r * K + k)] : w->f[static_cast<std::size_t>(k * N + r)]);
    std::string wname = n.name + ".weight_nk";
    while (consts_.count(wname) || shapes_.count(wname)) wname += "_";
    consts_[wname] = make_float({N, K}, std::move(wt));
    if (auto q = quant_.find(n.inputs[1]); q != quant_.end() && alpha == 1.0f) {
      // The integers follow the transposition; a per-axis scale over N becomes axis 0 of [N,K].
      QuantizedTensor qt = q->second;
      for (I64 r = 0; r < N; ++r)
        for (I64 k = 0; k < K; ++k)
          qt.values[static_cast<std::size_t>(r * K + k)] =
              q->second.values[static_cast<std::size_t>(trans_b ? r * K + k : k * N + r)];
      if (qt.axis >= 0) qt.axis = (qt.axis == (trans_b ? 0 : 1)) ? 0 : 1;
      quant_[wname] = std::move(qt);
    }
    n.inputs[1] = wname;
    if (c) {
      I64 cn = element_count(c->shape);
      bool row = (cn == N && (c->shape.size() == 1 || (c->shape.size() == 2 && c->shape[0] == 1)));
      bool full = c->shape.size() == 2 && c->shape[0] == a[0] && c->shape[1] == N && a[0] == 1;
      if (cn != 1 && !row && !full) { issue(n, "bias of shape " + shape_to_string(c->shape)); return false; }
      std::vector<float> bv(static_cast<std::size_t>(N));
      for (I64 r = 0; r < N; ++r) bv[static_cast<std::size_t>(r)] = beta * c->f[cn == 1 ? 0 : static_cast<std::size_t>(r)];
      std::string bname = n.name + ".bias_n";
      while (consts_.count(bname) || shapes_.count(bname)) bname += "_";
      consts_[bname] = make_float({N}, std::move(bv));
      if (auto q = quant_.find(n.inputs[2]); q != quant_.end() && beta == 1.0f && cn == N) {
        QuantizedTensor qt = q->second;
        if (qt.axis >= 0) qt.axis = 0;
        quant_[bname] = std::move(qt);
      }
      n.inputs[2] = bname;
    }
    n.op_type = "Gemm";
    n.attrs.clear();
    keep_inputs(c ? 3 : 2);
    set_out({a[0], N});
    return true;
  }
  if (op == "Add" || op == "Sub" || op == "Mul") {
    if (n.inputs.size() != 2 || !runtime_ok(0) || !runtime_ok(1)) {
      if (n.inputs.size() != 2) malformed(node_label(n) + ": needs two inputs");
      return false;
    }
    set_out(broadcast(in_shape(0), in_shape(1)));
    return true;
  }
  if (op == "HardSigmoid") {
    if (!runtime_ok(0)) return false;
    Shape s = in_shape(0);
    const float alpha = n.attr_float("alpha", 0.2f), beta = n.attr_float("beta", 0.5f);
    if (!std::isfinite(alpha) || !std::isfinite(beta) || alpha == 0.0f) {
      issue(n, "alpha must be finite and non-zero, beta finite");
      return false;
    }
    n.attrs.clear();
    n.attrs["alpha"] = Attribute::of_float(alpha);
    n.attrs["beta"] = Attribute::of_float(beta);
    keep_inputs(1);
    set_out(s);
    return true;
  }
  if (op == "QuantizeLinear" || op == "DequantizeLinear") {
    // A runtime tensor quantised per tensor (QDQ models): the scale, the zero point and the
    // container's range (uint8 0..255 or int8 −128..127) become attributes.
    if (!runtime_ok(0)) return false;
    if (is_const(n.inputs[0])) { issue(n, "quantisation of a constant (only DequantizeLinear of an integer initializer)"); return false; }
    const Const* sc = float_const(1, "scale");
    if (!sc) return false;
    if (sc->f.size() != 1) { issue(n, "per-axis quantisation of a runtime tensor"); return false; }
    if (!std::isfinite(sc->f[0]) || !(sc->f[0] > 0)) malformed(node_label(n) + ": scale must be positive and finite");
    I64 zp = 0, lo = 0, hi = 255;
    if (has_input(n, 2)) {
      const Const* z = opt_const(n, 2);
      if (!z || !z->is_int || z->i.size() != 1 ||
          (z->elem != onnx::TensorProto::UINT8 && z->elem != onnx::TensorProto::INT8)) {
        issue(n, "the zero point must be a constant uint8 or int8 scalar");
        return false;
      }
      zp = z->i[0];
      if (z->elem == onnx::TensorProto::INT8) { lo = -128; hi = 127; }
    }
    Shape s = in_shape(0);
    const float scale = sc->f[0];
    n.attrs.clear();
    n.attrs["scale"] = Attribute::of_float(scale);
    n.attrs["zero_point"] = Attribute::of_int(zp);
    n.attrs["qmin"] = Attribute::of_int(lo);
    n.attrs["qmax"] = Attribute::of_int(hi);
    keep_inputs(1);
    set_out(s);
    return true;
  }
  if (op == "Relu" || op == "Identity" || op == "Dropout") {
    if (!runtime_ok(0)) return false;
    Shape s = in_shape(0);
    n.attrs.clear();
    keep_inputs(1);
    if (op == "Dropout") n.op_type = "Identity";
    set_out(s);
    return true;
  }
  if (op == "Clip") {
    if (!runtime_ok(0)) return false;
    Shape s = in_shape(0);
    float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
    if (opset_ < 11) {
      lo = n.attr_float("min", lo);
      hi = n.attr_float("max", hi);
    } else {
      for (std::size_t k = 1; k <= 2; ++k)
        if (has_input(n, k)) {
          const Const* c = float_const(k, k == 1 ? "min" : "max");
          if (!c) return false;
          if (c->f.size() != 1) malformed(node_label(n) + ": min/max must be scalars");
          (k == 1 ? lo : hi) = c->f[0];
        }
    }
    n.attrs.clear();
    n.attrs["min"] = Attribute::of_float(lo);
    n.attrs["max"] = Attribute::of_float(hi);
    keep_inputs(1);
    set_out(s);
    return true;
  }
  if (op == "BatchNormalization") {
    if (!runtime_ok(0)) return false;
    Shape s = in_shape(0);
    if (s.size() < 2) malformed(node_label(n) + ": input rank below 2");
    for (std::size_t k = 1; k <= 4; ++k) {
      const Const* c = float_const(k, "parameter");
      if (!c) continue;
      if (element_count(c->shape) != s[1]) malformed(node_label(n) + ": parameter size differs from C");
    }
    if (issues_.size() != issues_before) return false;
    float eps = n.attr_float("epsilon", 1e-5f);
    if (!(eps >= 0)) malformed(node_label(n) + ": negative epsilon");
    n.attrs.clear();
    n.attrs["epsilon"] = Attribute::of_float(eps);
    keep_inputs(5);
    set_out(s);
    return true;
  }
  if (op == "MaxPool" || op == "AveragePool") {
    if (!runtime_ok(0)) return false;
    const Shape& x = in_shape(0);
    if (x.size() != 4) { issue(n, "only 2-D pooling on [N,C,H,W] is supported"); return false; }
    std::vector<I64> ks = n.attr_ints("kernel_shape"), st = n.attr_ints("strides", {1, 1}),
                     pads = n.attr_ints("pads", {0, 0, 0, 0});
    if (n.attr_string("auto_pad", "NOTSET") == "VALID") pads = {0, 0, 0, 0};
    if (ks.size() != 2 || st.size() != 2 || pads.size() != 4 || ks[0] <= 0 || ks[1] <= 0 || st[0] <= 0 ||
        st[1] <= 0 || std::any_of(pads.begin(), pads.end(), [](I64 p) { return p < 0 || p > (1 << 20); }) ||
        pads[0] >= ks[0] || pads[2] >= ks[0] || pads[1] >= ks[1] || pads[3] >= ks[1])  // ONNX: pad < kernel per axis
      malformed(node_label(n) + ": bad kernel_shape/strides/pads");
    I64 hp = x[2] + pads[0] + pads[2], wp = x[3] + pads[1] + pads[3];
    if (hp < ks[0] || wp < ks[1]) malformed(node_label(n) + ": kernel larger than the padded input");
    I64 cip = n.attr_int("count_include_pad", 0);
    if (n.attr_int("ceil_mode", 0) != 0) {
      // ceil_mode 1: out = ⌈(in + pads − k)/s⌉ + 1, less one when that last window would start in the
      // end padding (PyTorch's rule, which its exporter follows). Normalised to floor mode by extra end
      // padding: for MaxPool the padded positions never win; for AveragePool only when the extra
      // padding is empty (its divisor would differ from both count_include_pad modes).
      for (int ax = 0; ax < 2; ++ax) {
        const I64 in = x[static_cast<std::size_t>(2 + ax)], pb = pads[static_cast<std::size_t>(ax)];
        const I64 padded = ax == 0 ? hp : wp, k = ks[static_cast<std::size_t>(ax)], s = st[static_cast<std::size_t>(ax)];
        I64 out = (padded - k + s - 1) / s + 1;
        if ((out - 1) * s >= in + pb) --out;
        const I64 extra = (out - 1) * s + k - padded;
        if (extra <= 0) continue;
        if (op == "AveragePool") {
          issue(n, "ceil_mode 1 with a partial last window");
          return false;
        }
        pads[static_cast<std::size_t>(ax + 2)] += extra;
      }
      hp = x[2] + pads[0] + pads[2];
      wp = x[3] + pads[1] + pads[3];
    }
    n.attrs.clear();
    n.attrs["kernel_shape"] = Attribute::of_ints(ks);
    n.attrs["strides"] = Attribute::of_ints(st);
    n.attrs["pads"] = Attribute::of_ints(pads);
    if (op == "AveragePool") n.attrs["count_include_pad"] = Attribute::of_int(cip ? 1 : 0);
    keep_inputs(1);
    set_out({x[0], x[1], (hp - ks[0]) / st[0] + 1, (wp - ks[1]) / st[1] + 1});
    return true;
  }
  if (op == "GlobalAveragePool") {
    if (!runtime_ok(0)) return false;
    const Shape& x = in_shape(0);
    if (x.size() != 4) { issue(n, "only [N,C,H,W] inputs are supported"); return false; }
    set_out({x[0], x[1], 1, 1});
    return true;
  }
  if (op == "Flatten") {
    if (!runtime_ok(0)) return false;
    const Shape& x = in_shape(0);
    I64 ax = norm_axis(n.attr_int("axis", 1), x.size(), true);
    I64 a = 1, b = 1;
    for (std::size_t k = 0; k < x.size(); ++k) (static_cast<I64>(k) < ax ? a : b) *= x[k];
    n.attrs.clear();
    n.attrs["axis"] = Attribute::of_int(ax);
    set_out({a, b});
    return true;
  }
  if (op == "Reshape" || op == "Slice") {
    if (!runtime_ok(0)) return false;
    const Shape xs = in_shape(0);
    if (op == "Slice") {
      std::vector<I64> st, en, ax, sp;
      if (opset_ < 10) {
        st = n.attr_ints("starts"); en = n.attr_ints("ends"); ax = n.attr_ints("axes");
      } else {
        st = int_const(1, "starts");
        en = int_const(2, "ends");
        if (has_input(n, 3)) ax = int_const(3, "axes");
        if (has_input(n, 4)) sp = int_const(4, "steps");
        if (issues_.size() != issues_before) return false;
      }
      SlicePlan p = plan_slice(xs, st, en, ax, sp);
      n.attrs.clear();
      keep_inputs(1);
      bool noop = p.out == xs && std::all_of(p.steps.begin(), p.steps.end(), [](I64 v) { return v == 1; });
      if (noop) {
        n.op_type = "Identity";  // removed by remove_identities()
      } else {
        n.attrs["starts"] = Attribute::of_ints(p.starts);
        n.attrs["steps"] = Attribute::of_ints(p.steps);
      }
      set_out(p.out);
      return true;
    }
    std::vector<I64> target = opset_ < 5 ? n.attr_ints("shape") : int_const(1, "shape");
    if (issues_.size() != issues_before) return false;
    Shape s = resolve_reshape(xs, target, node_label(n));
    n.attrs.clear();
    keep_inputs(1);
    if (s == xs) n.op_type = "Identity";  // removed by remove_identities()
    else n.attrs["shape"] = Attribute::of_ints(s);
    set_out(s);
    return true;
  }
  if (op == "Pad") {
    if (!runtime_ok(0)) return false;
    Shape x = in_shape(0);
    std::vector<I64> pads;
    float value = 0.0f;
    if (opset_ < 11) {
      pads = n.attr_ints("pads");
      value = n.attr_float("value", 0.0f);
    } else {
      pads = int_const(1, "pads");
      if (has_input(n, 2)) {
        const Const* c = float_const(2, "constant_value");
        if (c) {
          if (c->f.size() != 1) malformed(node_label(n) + ": constant_value must be a scalar");
          value = c->f[0];
        }
      }
      if (has_input(n, 3)) issue(n, "axes input");
      if (issues_.size() != issues_before) return false;
    }
    if (pads.size() != 2 * x.size()) malformed(node_label(n) + ": pads length is not 2·rank");
    if (value != 0.0f) issue(n, "non-zero constant_value");
    if (std::any_of(pads.begin(), pads.end(), [](I64 p) { return p < 0; })) issue(n, "negative pads (cropping)");
    if (issues_.size() != issues_before) return false;
    Shape s = x;
    for (std::size_t k = 0; k < x.size(); ++k) {
      if (pads[k] > kMaxTensorElements || pads[k + x.size()] > kMaxTensorElements) malformed(node_label(n) + ": pads too large");
      s[k] += pads[k] + pads[k + x.size()];
    }
    n.attrs.clear();
    keep_inputs(1);
    if (s == x) n.op_type = "Identity";  // zero padding everywhere: removed by remove_identities()
    else n.attrs["pads"] = Attribute::of_ints(pads);
    set_out(s);
    return true;
  }
  if (op == "Concat") {
    if (n.inputs.empty()) malformed(node_label(n) + ": no inputs");
    for (std::size_t k = 0; k < n.inputs.size(); ++k)
      if (!runtime_ok(k)) return false;
    Shape s = in_shape(0);
    std::size_t ax = static_cast<std::size_t>(norm_axis(n.attr_int("axis", 0), s.size()));
    for (std::size_t k = 1; k < n.inputs.size(); ++k) {
      const Shape& t = in_shape(k);
      if (t.size() != s.size()) malformed(node_label(n) + ": rank mismatch");
      for (std::size_t a = 0; a < s.size(); ++a)
        if (a != ax && t[a] != s[a]) malformed(node_label(n) + ": shape mismatch");
      s[ax] += t[ax];
    }
    n.attrs.clear();
    n.attrs["axis"] = Attribute::of_int(static_cast<I64>(ax));
    set_out(s);
    return true;
  }
  if (op == "Softmax" || op == "ArgMax") {
    if (!runtime_ok(0)) return false;
    Shape s = in_shape(0);
    if (s.empty()) malformed(node_label(n) + ": scalar input");
    I64 def = op == "ArgMax" ? 0 : (opset_ < 13 ? 1 : -1);
    std::size_t ax = static_cast<std::size_t>(norm_axis(n.attr_int("axis", def), s.size()));
    if (op == "Softmax" && opset_ < 13 && ax + 1 != s.size()) { issue(n, "opset < 13 Softmax on an inner axis"); return false; }
    bool keep = n.attr_int("keepdims", 1) != 0;
    n.attrs.clear();
    n.attrs["axis"] = Attribute::of_int(static_cast<I64>(ax));
    if (op == "ArgMax") {
      n.attrs["keepdims"] = Attribute::of_int(keep ? 1 : 0);
      if (keep) s[ax] = 1; else s.erase(s.begin() + static_cast<std::ptrdiff_t>(ax));
    }
    set_out(s);
    return true;
  }
  issue(n, "op type not supported");
  return false;
}

void Importer::fold_and_infer() {
  Graph order_probe;
  order_probe.nodes = raw_nodes_;
  order_probe.inputs = inputs_;
  for (const auto& [name, c] : consts_) order_probe.initializers[name];  // names only
  std::vector<std::size_t> order = order_probe.topological_order();
  std::set<std::size_t> bad_static;
  for (std::size_t k : order) {
    std::size_t before = issues_.size();
    check_static(raw_nodes_[k]);
    if (issues_.size() != before || raw_nodes_[k].op_type.empty()) bad_static.insert(k);
  }
  for (std::size_t k : order) {
    Node n = raw_nodes_[k];
    cur_ = k;
    bool blocked = bad_static.count(k) != 0;
    for (const auto& in : n.inputs) blocked |= (!in.empty() && unknown_.count(in));
    if (blocked) {
      for (const auto& out : n.outputs) if (!out.empty()) unknown_.insert(out);
      continue;
    }
    if (try_fold(n)) continue;
    if (canonicalize(n)) {
      runtime_.push_back(std::move(n));
    } else {
      for (const auto& out : raw_nodes_[k].outputs) if (!out.empty()) unknown_.insert(out);
    }
  }
  for (const auto& out : outputs_)
    if (consts_.count(out)) issues_.push_back("graph output '" + out + "' is a constant");
}

std::string unique_name(const Graph& g, const std::string& base) {
  std::string s = base;
  for (int k = 1; g.initializers.count(s) || g.shapes.count(s); ++k) s = base + "_" + std::to_string(k);
  return s;
}

void rename_value(Graph& g, const std::string& from, const std::string& to) {
  for (auto& n : g.nodes) {
    for (auto& in : n.inputs) if (in == from) in = to;
    for (auto& out : n.outputs) if (out == from) out = to;
  }
  for (auto& o : g.outputs) if (o == from) o = to;
}

bool is_graph_output(const Graph& g, const std::string& v) {
  return std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end();
}

void remove_identities(Graph& g) {
  for (std::size_t k = 0; k < g.nodes.size();) {
    Node& n = g.nodes[k];
    if (n.op_type != "Identity") { ++k; continue; }
    std::string in = n.inputs[0], out = n.outputs[0];
    bool in_is_source = std::find(g.inputs.begin(), g.inputs.end(), in) != g.inputs.end() ||
                        g.initializers.count(in) != 0 || is_graph_output(g, in);
    if (!is_graph_output(g, out)) {
      g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(k));
      for (auto& m : g.nodes) for (auto& v : m.inputs) if (v == out) v = in;
      g.shapes.erase(out);
    } else if (!in_is_source) {
      g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(k));
      rename_value(g, in, out);
      g.shapes.erase(in);
    } else {
      ++k;
    }
  }
}

// Index of the single node reading `value`, or -1 when it has another number of readers or is a
// graph output.
std::ptrdiff_t sole_consumer(const Graph& g, const std::string& value) {
  if (is_graph_output(g, value)) return -1;
  std::ptrdiff_t found = -1;
  for (std::size_t k = 0; k < g.nodes.size(); ++k)
    for (const auto& in : g.nodes[k].inputs)
      if (in == value) {
        if (found >= 0) return -1;
        found = static_cast<std::ptrdiff_t>(k);
      }
  return found;
}

void fuse_gemm_bias(Graph& g) {
  for (std::size_t k = 0; k < g.nodes.size(); ++k) {
    Node& n = g.nodes[k];
    if (n.op_type != "Gemm") continue;
    std::ptrdiff_t c = sole_consumer(g, n.outputs[0]);
    if (c < 0 || g.nodes[static_cast<std::size_t>(c)].op_type != "Add") continue;
    const Node& add = g.nodes[static_cast<std::size_t>(c)];
    const std::string& other = add.inputs[0] == n.outputs[0] ? add.inputs[1] : add.inputs[0];
    if (add.inputs[0] == add.inputs[1] || !g.initializers.count(other)) continue;
    const Tensor& t = g.initializers.at(other);
    I64 N = g.shape_of(n.outputs[0])[1];
    I64 cnt = static_cast<I64>(t.data.size());
    bool row = cnt == N && (t.shape.size() == 1 || (t.shape.size() == 2 && t.shape[0] == 1));
    if (cnt != 1 && !row) continue;
    std::vector<float> bias(static_cast<std::size_t>(N), 0.0f);
    if (n.inputs.size() > 2) bias = g.initializers.at(n.inputs[2]).data;
    for (I64 r = 0; r < N; ++r) bias[static_cast<std::size_t>(r)] += t.data[cnt == 1 ? 0 : static_cast<std::size_t>(r)];
    std::string bname = unique_name(g, n.name + ".bias_fused");
    g.initializers[bname] = Tensor{{N}, std::move(bias)};
    g.shapes[bname] = {N};
    n.inputs.resize(3);
    n.inputs[2] = bname;
    // Nodes are in topological order, so the Add (c) comes after the Gemm (k): erasing it keeps
    // the reference `n` valid.
    std::string old_out = n.outputs[0], new_out = add.outputs[0];
    g.nodes.erase(g.nodes.begin() + c);
    n.outputs[0] = new_out;
    g.shapes.erase(old_out);
  }
}

void fold_batchnorms(Graph& g) {
  for (std::size_t k = 0; k < g.nodes.size(); ++k) {
    if (g.nodes[k].op_type != "BatchNormalization") continue;
    Node bn = g.nodes[k];
    std::ptrdiff_t p = g.producer(bn.inputs[0]);
    if (p < 0) continue;
    Node& prod = g.nodes[static_cast<std::size_t>(p)];
    if (prod.op_type != "Conv" && prod.op_type != "Gemm") continue;
    if (sole_consumer(g, bn.inputs[0]) != static_cast<std::ptrdiff_t>(k)) continue;
    const Tensor& gamma = g.initializers.at(bn.inputs[1]);
    const Tensor& beta = g.initializers.at(bn.inputs[2]);
    const Tensor& mean = g.initializers.at(bn.inputs[3]);
    const Tensor& var = g.initializers.at(bn.inputs[4]);
    float eps = bn.attr_float("epsilon", 1e-5f);
    const Tensor& w = g.initializers.at(prod.inputs[1]);
    I64 M = w.shape[0];
    std::size_t per = w.data.size() / static_cast<std::size_t>(M);
    std::vector<float> wf = w.data, bf(static_cast<std::size_t>(M), 0.0f);
    if (prod.inputs.size() > 2) bf = g.initializers.at(prod.inputs[2]).data;
    for (I64 m = 0; m < M; ++m) {
      std::size_t mm = static_cast<std::size_t>(m);
      // Same rounding as the unfolded form: s = gamma / sqrt(var + eps) in double.
      double s = static_cast<double>(gamma.data[mm]) / std::sqrt(static_cast<double>(var.data[mm]) + eps);
      for (std::size_t q = 0; q < per; ++q) wf[mm * per + q] = static_cast<float>(wf[mm * per + q] * s);
      bf[mm] = static_cast<float>((static_cast<double>(bf[mm]) - mean.data[mm]) * s + beta.data[mm]);
    }
    std::string wname = unique_name(g, prod.name + ".weight_bnfold");
    std::string bname = unique_name(g, prod.name + ".bias_bnfold");
    Shape wshape = w.shape;
    g.initializers[wname] = Tensor{wshape, std::move(wf)};
    g.shapes[wname] = wshape;
    g.initializers[bname] = Tensor{{M}, std::move(bf)};
    g.shapes[bname] = {M};
    prod.inputs.resize(3);
    prod.inputs[1] = wname;
    prod.inputs[2] = bname;
    g.shapes.erase(prod.outputs[0]);
    prod.outputs[0] = bn.outputs[0];
    g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(k));
    --k;
  }
}

// MaxPool(ReLU(x)) → ReLU(MaxPool(x)), and likewise for Clip: a monotone non-decreasing map
// commutes with max, and every pooling window holds at least one real element (the padding is
// −∞), so the result is the same in float and in fixed point — and the ReLU runs on the pooled,
// smaller tensor (SqueezeNet, ResNet: 3×3 stride-2 pools, about 4× fewer ReLUs there). Only when
// the activation's output feeds nothing but the pool.
void pool_before_activation(Graph& g) {
  for (std::size_t k = 0; k < g.nodes.size(); ++k) {
    if (g.nodes[k].op_type != "MaxPool" || g.nodes[k].outputs.size() != 1) continue;
    const std::ptrdiff_t p = g.producer(g.nodes[k].inputs[0]);
    if (p < 0) continue;
    Node& act = g.nodes[static_cast<std::size_t>(p)];
    if ((act.op_type != "Relu" && act.op_type != "Clip") || act.inputs.size() != 1) continue;
    if (sole_consumer(g, act.outputs[0]) != static_cast<std::ptrdiff_t>(k)) continue;
    Node& pool = g.nodes[k];
    const std::string x = act.inputs[0], pooled = unique_name(g, pool.outputs[0] + ".pre_activation");
    g.shapes[pooled] = g.shapes.at(pool.outputs[0]);
    g.shapes.erase(act.outputs[0]);
    pool.inputs[0] = x;
    act.inputs[0] = pooled;
    act.outputs[0] = pool.outputs[0];
    pool.outputs[0] = pooled;
    std::swap(g.nodes[static_cast<std::size_t>(p)], g.nodes[k]);  // the pool now runs first
  }
}

void prune(Graph& g) {
  std::set<std::string> live(g.outputs.begin(), g.outputs.end());
  std::vector<bool> keep(g.nodes.size(), false);
  for (std::size_t k = g.nodes.size(); k-- > 0;) {
    for (const auto& out : g.nodes[k].outputs) keep[k] = keep[k] || live.count(out);
    if (keep[k]) for (const auto& in : g.nodes[k].inputs) live.insert(in);
  }
  std::vector<Node> kept;
  for (std::size_t k = 0; k < g.nodes.size(); ++k) if (keep[k]) kept.push_back(std::move(g.nodes[k]));
  g.nodes = std::move(kept);
  for (auto it = g.initializers.begin(); it != g.initializers.end();) it = live.count(it->first) ? std::next(it) : g.initializers.erase(it);
  for (auto it = g.quantized.begin(); it != g.quantized.end();) it = g.initializers.count(it->first) ? std::next(it) : g.quantized.erase(it);
  std::set<std::string> named(g.inputs.begin(), g.inputs.end());
  for (const auto& [name, t] : g.initializers) named.insert(name);
  for (const auto& n : g.nodes) for (const auto& out : n.outputs) named.insert(out);
  for (auto it = g.shapes.begin(); it != g.shapes.end();) it = named.count(it->first) ? std::next(it) : g.shapes.erase(it);
}

Graph Importer::run() {
  read_graph();
  fold_and_infer();
  if (!issues_.empty()) {
    // Node issues of one kind (op and reason) that repeat are listed once with their count and the
    // first three nodes (EfficientNet-B0: 65 Sigmoids).
    std::map<std::string, std::vector<std::size_t>> by_kind;
    for (const auto& [k, kind] : issue_kind_) by_kind[kind.first].push_back(k);
    std::string msg = std::to_string(issues_.size()) + " unsupported construct(s) in the model: ";
    bool first = true;
    for (std::size_t k = 0; k < issues_.size(); ++k) {
      auto kind = issue_kind_.find(k);
      const std::vector<std::size_t>* same = kind == issue_kind_.end() ? nullptr : &by_kind[kind->second.first];
      if (same != nullptr && same->size() > 3) {
        if (same->front() != k) continue;
        msg += (first ? "" : "; ") + kind->second.first + " (" + std::to_string(same->size()) + " nodes:";
        for (std::size_t j = 0; j < 3; ++j) msg += (j ? ", " : " ") + issue_kind_[(*same)[j]].second;
        msg += ", ...)";
      } else {
        msg += (first ? "" : "; ") + issues_[k];
      }
      first = false;
    }
    throw Error(ErrorCode::kUnsupported, msg);
  }
  Graph g;
  g.inputs = inputs_;
  g.outputs = outputs_;
  for (const auto& mp : model_.metadata_props()) g.metadata[mp.key()] = mp.value();
  g.shapes = shapes_;
  for (const auto& n : runtime_)
    for (const auto& in : n.inputs) {
      auto it = consts_.find(in);
      if (in.empty() || it == consts_.end() || g.initializers.count(in)) continue;
      g.initializers[in] = Tensor{it->second.shape, it->second.f};
      g.shapes[in] = it->second.shape;
      if (auto q = quant_.find(in); q != quant_.end()) g.quantized[in] = q->second;
    }
  g.nodes = runtime_;
  g.sort_topologically();
  remove_identities(g);
  if (opt_.fuse_bias_add) fuse_gemm_bias(g);
  if (opt_.fold_batchnorm) fold_batchnorms(g);
  if (opt_.pool_before_activation) pool_before_activation(g);
  prune(g);
  g.sort_topologically();
  return g;
}

}  // namespace

Graph load_onnx_bytes(std::span<const std::uint8_t> bytes, const ImportOptions& options) {
  if (bytes.size() > options.max_model_bytes || bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw Error(ErrorCode::kSizeLimit, "ONNX model of " + std::to_string(bytes.size()) + " bytes exceeds the limit");
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw Error(ErrorCode::kMalformedInput, "not a valid ONNX ModelProto (protobuf parse failed)");
  return Importer(model, options).run();
}

Graph load_onnx(const std::string& path, const ImportOptions& options) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw Error(ErrorCode::kInvalidArgument, "cannot open ONNX file '" + path + "'");
  std::streamoff size = f.tellg();
  if (size < 0) throw Error(ErrorCode::kInvalidArgument, "cannot read ONNX file '" + path + "'");
  if (static_cast<std::uint64_t>(size) > options.max_model_bytes)
    throw Error(ErrorCode::kSizeLimit, "ONNX file '" + path + "' exceeds the size limit");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  f.seekg(0);
  if (size > 0 && !f.read(reinterpret_cast<char*>(bytes.data()), size))
    throw Error(ErrorCode::kInvalidArgument, "cannot read ONNX file '" + path + "'");
  return load_onnx_bytes(bytes, options);
}

}  // namespace peregrine::nn
