#include "peregrine/nn/graph.hpp"

#include <deque>
#include <set>
#include <utility>

#include "peregrine/core/error.hpp"

namespace peregrine::nn {

std::int64_t element_count(const Shape& shape) {
  if (shape.size() > kMaxRank) throw Error(ErrorCode::kMalformedInput, "tensor rank above 8");
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) throw Error(ErrorCode::kMalformedInput, "negative tensor extent");
    if (d != 0 && n > kMaxTensorElements / d)
      throw Error(ErrorCode::kMalformedInput, "tensor larger than 2^28 elements");
    n *= d;
  }
  if (n > kMaxTensorElements) throw Error(ErrorCode::kMalformedInput, "tensor larger than 2^28 elements");
  return n;
}

std::string shape_to_string(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Attribute Attribute::of_int(std::int64_t v) {
  Attribute a;
  a.kind = Kind::kInt;
  a.i = v;
  return a;
}
Attribute Attribute::of_float(float v) {
  Attribute a;
  a.kind = Kind::kFloat;
  a.f = v;
  return a;
}
Attribute Attribute::of_ints(std::vector<std::int64_t> v) {
  Attribute a;
  a.kind = Kind::kInts;
  a.ints = std::move(v);
  return a;
}
Attribute Attribute::of_floats(std::vector<float> v) {
  Attribute a;
  a.kind = Kind::kFloats;
  a.floats = std::move(v);
  return a;
}
Attribute Attribute::of_string(std::string v) {
  Attribute a;
  a.kind = Kind::kString;
  a.s = std::move(v);
  return a;
}

namespace {
const Attribute* find_attr(const Node& n, const std::string& key, Attribute::Kind kind) {
  auto it = n.attrs.find(key);
  if (it == n.attrs.end()) return nullptr;
  if (it->second.kind != kind)
    throw Error(ErrorCode::kMalformedInput,
                "node '" + n.name + "': attribute '" + key + "' has the wrong type");
  return &it->second;
}
}  // namespace

std::int64_t Node::attr_int(const std::string& key, std::int64_t fallback) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::kInt);
  return a ? a->i : fallback;
}
float Node::attr_float(const std::string& key, float fallback) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::kFloat);
  return a ? a->f : fallback;
}
std::vector<std::int64_t> Node::attr_ints(const std::string& key,
                                          std::vector<std::int64_t> fallback) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::kInts);
  return a ? a->ints : fallback;
}
std::vector<float> Node::attr_floats(const std::string& key, std::vector<float> fallback) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::kFloats);
  return a ? a->floats : fallback;
}
std::string Node::attr_string(const std::string& key, std::string fallback) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::kString);
  return a ? a->s : fallback;
}

std::vector<std::size_t> Graph::topological_order() const {
  std::map<std::string, std::size_t> producer_of;
  std::set<std::string> available(inputs.begin(), inputs.end());
  for (const auto& [name, t] : initializers) available.insert(name);
  for (std::size_t i = 0; i < nodes.size(); ++i)
    for (const auto& out : nodes[i].outputs) {
      if (out.empty()) continue;
      if (available.count(out) || !producer_of.emplace(out, i).second)
        throw Error(ErrorCode::kMalformedInput, "value '" + out + "' is defined twice");
    }
  // Kahn's algorithm, taking the lowest ready index first (keeps the file's order when valid).
  std::vector<std::size_t> pending(nodes.size(), 0);
  std::vector<std::vector<std::size_t>> consumers(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& in : nodes[i].inputs) {
      if (in.empty() || available.count(in)) continue;
      auto it = producer_of.find(in);
      if (it == producer_of.end())
        throw Error(ErrorCode::kMalformedInput,
                    "node '" + nodes[i].name + "' reads undefined value '" + in + "'");
      ++pending[i];
      consumers[it->second].push_back(i);
    }
  }
  std::set<std::size_t> ready;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (pending[i] == 0) ready.insert(i);
  std::vector<std::size_t> order;
  order.reserve(nodes.size());
  while (!ready.empty()) {
    std::size_t i = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(i);
    for (std::size_t c : consumers[i])
      if (--pending[c] == 0) ready.insert(c);
  }
  if (order.size() != nodes.size()) throw Error(ErrorCode::kMalformedInput, "graph has a cycle");
  for (const auto& out : outputs)
    if (!available.count(out) && !producer_of.count(out))
      throw Error(ErrorCode::kMalformedInput, "graph output '" + out + "' is never defined");
  return order;
}

void Graph::sort_topologically() {
  std::vector<std::size_t> order = topological_order();
  std::vector<Node> sorted;
  sorted.reserve(nodes.size());
  for (std::size_t i : order) sorted.push_back(std::move(nodes[i]));
  nodes = std::move(sorted);
}

std::ptrdiff_t Graph::producer(const std::string& value) const {
  for (std::size_t i = 0; i < nodes.size(); ++i)
    for (const auto& out : nodes[i].outputs)
      if (out == value) return static_cast<std::ptrdiff_t>(i);
  return -1;
}

std::size_t Graph::use_count(const std::string& value) const {
  std::size_t n = 0;
  for (const auto& node : nodes)
    for (const auto& in : node.inputs) n += (in == value);
  for (const auto& out : outputs) n += (out == value);
  return n;
}

const Shape& Graph::shape_of(const std::string& value) const {
  auto it = shapes.find(value);
  if (it == shapes.end()) throw Error(ErrorCode::kInvalidArgument, "no shape for value '" + value + "'");
  return it->second;
}

}  // namespace peregrine::nn
