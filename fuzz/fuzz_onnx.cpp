// Fuzz target: the ONNX loader (nn::load_onnx_bytes: protobuf parse, tensor reads, constant
// folding, normalisation, shape inference) and what `peregrine serve` runs on the loaded graph:
// the preprocessing and labels from metadata_props, quantize_model (lowering + calibration with
// the float executor) and engine::ServerModel (planner, HE strategies, weight preparation). The
// plan the server would send must be accepted by a client unchanged (same hash): a server plan
// that its own client refuses is reported as a failure.
// Input: the bytes of a .onnx file. Graphs whose float execution would exceed kMaxWork operations
// are only loaded (serving a huge model is slow, not wrong; the per-tensor limits of the importer
// still apply to them).
// Seeds: the .onnx files in models/, the synthetic seed model and the small QDQ model (seed_models.hpp).
#include <stdexcept>

#include "fuzz_target.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/engine/wire.hpp"
#include "peregrine/nn/input.hpp"
#include "peregrine/nn/onnx_import.hpp"
#include "seed_models.hpp"

namespace peregrine::fuzz {

namespace {

constexpr std::int64_t kMaxWork = std::int64_t{1} << 25;

std::int64_t elements(const nn::Graph& g, const std::string& v) { return nn::element_count(g.shape_of(v)); }

// Multiply-accumulates (and element moves) of one float run, saturating at kMaxWork + 1.
std::int64_t float_work(const nn::Graph& g) {
  std::int64_t work = 0;
  auto add = [&](std::int64_t a, std::int64_t b) {
    if (b != 0 && a > (kMaxWork + 1 - work) / b) work = kMaxWork + 1;
    else work += a * b;
  };
  for (const auto& [name, shape] : g.shapes) add(nn::element_count(shape), 1);
  for (const nn::Node& n : g.nodes) {
    const std::int64_t out = elements(g, n.outputs.at(0));
    std::int64_t per = 1;
    if (n.op_type == "Conv") {
      const nn::Shape& w = g.shape_of(n.inputs.at(1));
      per = w.at(0) ? nn::element_count(w) / w[0] : 0;
    } else if (n.op_type == "Gemm") {
      per = g.shape_of(n.inputs.at(1)).at(1);
    } else if (n.op_type == "MaxPool" || n.op_type == "AveragePool") {
      const auto ks = n.attr_ints("kernel_shape");
      per = ks.size() == 2 ? ks[0] * ks[1] : 1;
    } else if (n.op_type == "GlobalAveragePool") {
      per = elements(g, n.inputs.at(0)) / std::max<std::int64_t>(1, out);
    }
    add(out, per);
  }
  return work;
}

}  // namespace

std::string name() { return "onnx"; }

void run_one(const std::uint8_t* data, std::size_t size) {
  const nn::Graph g = nn::load_onnx_bytes({data, size});
  (void)nn::labels_from_metadata(g.metadata);
  (void)nn::preprocess_from_metadata(g.metadata);
  // What `serve` does next (apps/peregrine/infer.cpp load_model): one input, calibrate, plan.
  if (g.inputs.size() != 1 || float_work(g) > kMaxWork) return;
  nn::FixedModel fm = nn::quantize_model(g, {calibration_input(g)});
  const engine::ServerModel server(std::move(fm));
  const std::string& text = server.plan().wire_text();
  std::shared_ptr<const engine::ProtocolPlan> client;
  try {
    client = engine::detail::decode_plan({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  } catch (const Error& e) {
    throw std::logic_error(std::string("the client refuses the server's own plan: ") + e.what());
  }
  if (client->hash() != server.plan().hash()) throw std::logic_error("the client's plan hash differs from the server's");
}

std::vector<std::vector<std::uint8_t>> seeds() {
  std::vector<Bytes> out = shipped_onnx_models();
  out.push_back(bytes_of(synthetic_onnx(false)));
  out.push_back(bytes_of(synthetic_onnx(true)));
  out.push_back(bytes_of(qdq_model(true)));
  return out;
}

}  // namespace peregrine::fuzz
