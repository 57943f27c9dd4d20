// The strategy registry (DESIGN.md §2 "Where the strategies go", §5): every private protocol the
// planner can choose for a node of the fixed-point program is a Strategy, registered by one line in
// engine/registry.cpp. The planner, the executor, `peregrine inspect` and `peregrine bench` know
// protocols only through this interface; the engine holds no per-strategy code.
//
// A strategy is split as DESIGN.md §2 prescribes:
//   * Strategy::applies / Strategy::plan: the layout and the cost model (PlannedLayer::cost), no
//     work beyond planning (an HE strategy builds its public layer plan: milliseconds);
//   * PlannedLayer::prepare: the server's weights in the strategy's form, once per model load;
//   * PlannedLayer::run: the driver of either party (moves bytes over the session's channel and
//     calls the local kernels of linear/ and the protocols of mpc/);
//   * Strategy::ideal: the plaintext (fixed-point) result the protocol must reproduce, and the
//     tolerance it states (0 = bit-exact).
// Where strategies live: the protocols, local kernels and cost functions in linear/ (HE layers) and
// mpc/ (secret-sharing protocols, mpc/cost.hpp); the adapters from program nodes to them in
// engine/strategies/ (one file each), because the node type is nn's and nn sits above linear/mpc.
//
// Thread-safety: strategies and planned layers are immutable after construction and may be used
// by several sessions at once; run() uses the calling party's session (one thread per session).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "peregrine/he/params.hpp"
#include "peregrine/linear/he_layer.hpp"
#include "peregrine/mpc/session.hpp"
#include "peregrine/mpc/share.hpp"
#include "peregrine/nn/fixed.hpp"

namespace peregrine::engine {

/// How close the private result must be to the fixed-point reference (a public session choice).
enum class Fidelity : std::uint8_t {
  kExact = 0,   ///< bit-exact: only strategies of tolerance 0 (the default)
  kApprox = 1,  ///< strategies with a stated error bound (e.g. ≤ 1 LSB per truncation) allowed
};
/// "exact" / "approx".
const char* fidelity_name(Fidelity f) noexcept;
/// Parses "exact" / "approx"; throws Error(kInvalidArgument) listing both otherwise.
Fidelity parse_fidelity(std::string_view s);

/// A deployment for the planner's estimates: link bandwidth (bits/s, each way), round-trip time,
/// and the OT back-end the nonlinear layers run on (their bytes and compute differ ~13×).
struct NetworkProfile {
  std::string name = "lan";
  double bits_per_second = 3e9;
  double rtt_seconds = 3e-4;
  mpc::OtBackend ot = mpc::OtBackend::kSilent;
  static NetworkProfile lan() { return {"lan", 3e9, 3e-4}; }
  static NetworkProfile wan() { return {"wan", 4e8, 4e-2}; }
};

/// What a strategy may read while planning one node: the public program, the network profile, the
/// coefficient-encoded HE parameters the planner offers per ring, and the fidelity policy.
/// The profile may shape the reported Cost only, never the layout a strategy plans: the client
/// re-plans every node from the server's strategy names with NetworkProfile::lan() (decode_plan),
/// so a layout that followed the server's profile would differ between the peers.
struct PlanContext {
  const nn::FixedPlan& plan;
  const NetworkProfile& profile;
  /// Cheetah's parameter set (t = 2^ℓ) for every ring ℓ an HE node of the plan computes in.
  const std::map<int, he::HeParamsPtr>& he_by_ring;
  Fidelity fidelity = Fidelity::kExact;
  /// Indices of the nodes that read value v (computed once per plan).
  const std::vector<std::vector<std::size_t>>& consumers;

  /// The ring of value v.
  int ring(std::size_t v) const { return plan.values.at(v).ring_bits; }
  /// The coefficient-encoded parameters for a ring of `bits`, or null when none is offered.
  he::HeParamsPtr he_for(int bits) const {
    auto it = he_by_ring.find(bits);
    return it == he_by_ring.end() ? nullptr : it->second;
  }
};

/// Cost of one planned node for the profile: bytes each way (exact for HE strategies, estimates
/// for OT-based ones: mpc/cost.hpp), rounds, and one party's compute in seconds.
struct Cost {
  std::uint64_t bytes_c2s = 0;
  std::uint64_t bytes_s2c = 0;
  std::uint64_t rounds = 0;
  double compute_seconds = 0;
  bool exact_bytes = false;  ///< true when bytes are what the drivers put on the wire, to the byte
  /// bytes/bandwidth + rounds·RTT + compute (seconds).
  double seconds(const NetworkProfile& p) const;
  /// Adds a protocol run after this one: bytes, rounds and compute add up; the bytes stay exact
  /// only if both were.
  Cost& operator+=(const Cost& o) {
    bytes_c2s += o.bytes_c2s;
    bytes_s2c += o.bytes_s2c;
    rounds += o.rounds;
    compute_seconds += o.compute_seconds;
    exact_bytes = exact_bytes && o.exact_bytes;
    return *this;
  }
};

/// What a planned strategy needs from the session's set-up: an HE parameter set (the client's
/// public key for it) and the Galois elements whose key-switching keys it rotates with (none for
/// coefficient-encoded layers). The session holds the union over all nodes (ProtocolPlan::he_sets).
struct HeNeed {
  he::HeParamsPtr params;
  std::vector<std::uint64_t> galois_elements;
};

/// The server's weights of one node in a strategy's own form (NTT-form kernels, ...).
struct Prepared {
  virtual ~Prepared() = default;
  /// Bytes this form holds (the server's memory for the node while it is kept).
  virtual std::size_t bytes() const { return 0; }
};

/// One party's resources in a session: its channel, role and PRG; the MPC session (OT both ways;
/// null where no OT-based strategy runs, e.g. a benchmark of one HE layer); and the HE state of
/// that party for every parameter set of the session (the client's secret keys, or the server's
/// copies of the client's public and Galois keys; empty for the other party or without HE layers).
struct PartyContext {
  net::Channel& ch;
  mpc::Party party;
  Prg& prg;
  mpc::MpcSession* mpc = nullptr;
  std::span<const linear::HeClient> he_clients = {};
  std::span<const linear::HeServer> he_servers = {};

  /// For an MPC session: channel, role and PRG from it.
  static PartyContext of(mpc::MpcSession& s, std::span<const linear::HeClient> hc = {},
                         std::span<const linear::HeServer> hs = {}) {
    return {s.channel(), s.party(), s.prg(), &s, hc, hs};
  }
  bool is_server() const noexcept { return party == mpc::Party::kServer; }
  /// The MPC session; Error(kInvalidArgument) when this context has none.
  mpc::MpcSession& session() const;
  /// The client's / server's HE state for parameter set `p`; Error(kInvalidArgument) when the
  /// session holds none for it (a strategy that did not declare it in he_needs()).
  const linear::HeClient& client_he(const he::HeParams& p) const;
  const linear::HeServer& server_he(const he::HeParams& p) const;
};

/// A strategy planned for one node: layout and cost known, no work done.
class PlannedLayer {
 public:
  virtual ~PlannedLayer() = default;
  virtual Cost cost() const = 0;
  /// Server only, once per model load: the node's weights in this strategy's form (null when the
  /// strategy needs none). Errors: kInvalidArgument for weights outside the plan's stated bounds.
  virtual std::unique_ptr<Prepared> prepare(const nn::FixedWeights&) const { return nullptr; }
  /// The driver: both parties call it with their shares of the node's inputs (FxNode::inputs order)
  /// and get their share of its output; `prepared` is what prepare() returned (server; null on the
  /// client). Errors: those of the protocols (channel errors, kMalformedInput from a bad peer).
  virtual mpc::ArithShares run(PartyContext& ctx, std::span<const mpc::ArithShares* const> inputs,
                               const Prepared* prepared) const = 0;
  /// Server only, for a node whose prepared weights the server does not keep (over its budget):
  /// the same result and messages as run() with prepare(weights). Default: prepare, run, free; HE
  /// convolutions make each kernel polynomial when it is needed instead (linear::KernelSource).
  virtual mpc::ArithShares run_unprepared(PartyContext& ctx, std::span<const mpc::ArithShares* const> inputs,
                                          const nn::FixedWeights& weights) const {
    const std::unique_ptr<Prepared> p = prepare(weights);
    return run(ctx, inputs, p.get());
  }
  /// Bytes prepare() would hold (HE layers: their kernel polynomials in NTT form), known before
  /// preparing; 0 by default.
  virtual std::size_t prepared_bytes() const { return 0; }
  /// Public layout facts for reports (e.g. HE: "n_in", "n_out", "products", "tile.Hw"), in a
  /// stable order; empty by default.
  virtual std::vector<std::pair<std::string, std::uint64_t>> layout() const { return {}; }
  /// HE parameter sets and Galois keys the driver uses (set up once per session).
  virtual std::vector<HeNeed> he_needs() const { return {}; }
};

/// A protocol family member for some nodes of the program.
class Strategy {
 public:
  virtual ~Strategy() = default;
  /// Unique, stable name: it is part of the public plan the server sends and the handshake hashes.
  virtual std::string_view name() const = 0;
  /// One line for `inspect` and `--strategies` errors: what it is and where it comes from.
  virtual std::string_view summary() const = 0;
  /// Largest |private − reference| on any element of the node's output, in ring units (0 =
  /// bit-exact). A strategy with a tolerance is only chosen under Fidelity::kApprox.
  virtual std::uint64_t tolerance(const nn::FxNode& node, const PlanContext& ctx) const;
  /// Whether this strategy can run `node` in this plan (op, shapes, ring, fidelity, neighbours).
  virtual bool applies(const nn::FxNode& node, const PlanContext& ctx) const = 0;
  /// Plans `node` (applies() must hold). Errors: kUnsupported when the layout cannot be built
  /// (e.g. no HE tile fits N, weights too wide to flood).
  virtual std::unique_ptr<PlannedLayer> plan(const nn::FxNode& node, const PlanContext& ctx) const = 0;
  /// The ideal functionality: the fixed-point reference of the node (nn::run_fixed_node) on plain
  /// input values. Strategies with a tolerance must land within tolerance() of it.
  std::vector<std::uint64_t> ideal(const nn::FixedModel& model, std::size_t node,
                                   const std::vector<std::vector<std::uint64_t>>& inputs) const {
    return nn::run_fixed_node(model, node, inputs);
  }
};

/// Every registered strategy, in registry order (the planner's tie-break: the first of equal cost).
const std::vector<const Strategy*>& registry();
/// The strategy of that name, or null.
const Strategy* find_strategy(std::string_view name);
/// Throws Error(kInvalidArgument) naming the unknown entries and listing every registered name,
/// unless each name in `names` is registered.
void check_strategy_names(const std::vector<std::string>& names);

/// consumers[v] = indices of the nodes reading value v.
std::vector<std::vector<std::size_t>> value_consumers(const nn::FixedPlan& plan);

}  // namespace peregrine::engine
