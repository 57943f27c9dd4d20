// Fuzz target: the start of a session as the client sees it (engine/wire.hpp): the public plan the
// server sends first (JSON program + strategy list → nn::plan_from_json, the planner with the
// strategies forced, the canonical-form check) and the 52-byte hello.
// Input: byte 0 selects the entry point (mode % 3), the rest is the message:
//   0 detail::decode_plan on the plan bytes
//   1 detail::decode_hello + check_hello against the client's hello for the digits model's plan;
//     a hello that decodes must re-encode to the same bytes
//   2 client_session over an in-memory channel whose peer sends the rest as its raw byte stream
//     (frames: u64 length + payload; the seeds are a real plan frame then a real server hello) and
//     closes; the client must stop with a typed error (at the latest kPeerClosed in the set-up)
// Seeds: the plans of the models in models/ and of the synthetic seed model, quantised as `serve`
// does, and the hellos both roles send for them.
#include <cstring>
#include <stdexcept>

#include "fuzz_target.hpp"
#include "raw_peer.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/engine/wire.hpp"
#include "peregrine/nn/onnx_import.hpp"
#include "seed_models.hpp"

namespace peregrine::fuzz {

namespace {

struct Fixture {
  std::vector<std::shared_ptr<const engine::ProtocolPlan>> plans;  // digits model first (when shipped)
  engine::detail::Hello client_hello;
};

const Fixture& fixture() {
  static const Fixture f = [] {
    Fixture x;
    std::vector<Bytes> models = shipped_onnx_models();
    models.push_back(bytes_of(synthetic_onnx(false)));
    models.push_back(bytes_of(synthetic_onnx(true)));
    models.push_back(bytes_of(qdq_model(true)));
    for (const Bytes& m : models) {
      const nn::Graph g = nn::load_onnx_bytes(m);
      nn::FixedModel fm = nn::quantize_model(g, {calibration_input(g)});
      x.plans.push_back(std::make_shared<const engine::ProtocolPlan>(std::move(fm.plan), engine::NetworkProfile::lan()));
      // and the same model with per-tensor rings (per-value "ring" fields, Extend/Reduce nodes,
      // truncate-and-reduce), when its plan fits the HE rings
      nn::FixedOptions per_tensor;
      per_tensor.rings = nn::FixedOptions::Rings::kPerTensor;
      try {
        nn::FixedModel pt = nn::quantize_model(g, {calibration_input(g)}, per_tensor);
        x.plans.push_back(std::make_shared<const engine::ProtocolPlan>(std::move(pt.plan), engine::NetworkProfile::lan()));
      } catch (const Error&) {
      }
    }
    x.client_hello = engine::detail::hello_for(*x.plans.front(), mpc::Party::kClient, mpc::OtBackend::kSilent);
    return x;
  }();
  return f;
}

Bytes frame(const Bytes& payload) {
  Bytes b(8 + payload.size());
  const std::uint64_t len = payload.size();
  std::memcpy(b.data(), &len, 8);
  if (!payload.empty()) std::memcpy(b.data() + 8, payload.data(), payload.size());
  return b;
}

Bytes text_bytes(const std::string& s) { return {s.begin(), s.end()}; }

void client_against(const std::uint8_t* data, std::size_t size) {
  against_raw_peer(data, size, std::chrono::milliseconds(500), [](net::Channel& ch) {
    Seed sd{};
    sd[0] = 5;
    Prg prg = Prg::from_seed(sd);
    (void)engine::client_session(ch, [](const nn::FixedPlan&) -> std::vector<float> {
      throw std::logic_error("the input was requested: the session got past the set-up with a closed peer");
    }, prg);
    throw std::logic_error("client_session returned against a peer that only sent a prefix");
  });
}

}  // namespace

std::string name() { return "handshake"; }

void run_one(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::span<const std::uint8_t> in(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      (void)engine::detail::decode_plan(in);
      break;
    case 1: {
      const engine::detail::Hello peer = engine::detail::decode_hello(in);
      if (!std::equal(in.begin(), in.end(), engine::detail::encode_hello(peer).begin()))
        throw std::logic_error("hello does not re-encode to its bytes");
      engine::detail::check_hello(fixture().client_hello, peer);
      break;
    }
    default:
      client_against(in.data(), in.size());
  }
}

std::vector<std::vector<std::uint8_t>> seeds() {
  std::vector<Bytes> out;
  auto add = [&](std::uint8_t mode, const Bytes& b) {
    Bytes s{mode};
    s.insert(s.end(), b.begin(), b.end());
    out.push_back(std::move(s));
  };
  const Fixture& f = fixture();
  for (const auto& p : f.plans) {
    const Bytes text = text_bytes(p->wire_text());
    add(0, text);
    for (auto ot : {mpc::OtBackend::kSilent, mpc::OtBackend::kIknp})
      for (auto role : {mpc::Party::kServer, mpc::Party::kClient})
        add(1, engine::detail::encode_hello(engine::detail::hello_for(*p, role, ot)));
  }
  // The server's first two messages for the digits model (a whole, valid prefix of a session).
  const auto& p = *f.plans.front();
  Bytes stream = frame(text_bytes(p.wire_text()));
  const Bytes hello = frame(engine::detail::encode_hello(
      engine::detail::hello_for(p, mpc::Party::kServer, mpc::OtBackend::kSilent)));
  stream.insert(stream.end(), hello.begin(), hello.end());
  add(2, stream);
  return out;
}

}  // namespace peregrine::fuzz
