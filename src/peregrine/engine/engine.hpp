// The two-party engine (DESIGN.md §5): the protocol planner (one strategy per layer, chosen by the
// strategies' cost models for a network profile), the server's prepared model, the handshake and
// the executor that walks the fixed-point program (nn/fixed.hpp) on additive shares over Z_{2^ℓ}.
//
// A session, in order (each step is a message flow over one net::Channel):
//   1. the server sends the public plan (fixed-point program + the strategy of every layer, JSON;
//      never a weight); the client validates it (nn::plan_from_json, strategy names, HE params);
//   2. both send a hello (magic "PGRN", version, role, ℓ, f, OT back-end, HE params_id, SHA-256 of
//      the plan text) and check the peer's: any mismatch ends the session on both sides with
//      kProtocol;
//   3. set-up: the client's public key (when a layer uses HE), base OTs, IKNP and (by default)
//      silent Ferret COT both ways (mpc::MpcSession);
//   4. online: the client's input share is its quantised input (the server's share is 0), every
//      node runs on shares (HE layers: linear/*; nonlinear: mpc/*; moves: local), the truncations
//      are exact (bit-identical to nn::run_fixed);
//   5. the server sends its share of the logits; only the client learns them.
// What leaks: the public plan (architecture, ℓ, f, weight bit widths, strategies) and timing.
//
// Thread-safety: a ServerModel is immutable after construction and may serve several sessions on
// different threads at once; a session itself runs on one thread per party.
// Errors: all typed peregrine::Error; a dropped, stalling or misbehaving peer surfaces as
// kPeerClosed / kTimeout / kMalformedInput / kProtocol from the step where it happened.
// Source: DESIGN.md §5; protocols as cited by the linear/ and mpc/ headers.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "peregrine/core/prg.hpp"
#include "peregrine/he/params.hpp"
#include "peregrine/mpc/session.hpp"
#include "peregrine/net/channel.hpp"
#include "peregrine/nn/fixed.hpp"
#include "peregrine/engine/strategy.hpp"

namespace peregrine::engine {

/// The planner's decision for one node of the program (public), or one candidate it weighed.
struct LayerChoice {
  std::string strategy;            ///< registered name: "cheetah-conv", "relu-millionaire", "local", ...
  std::uint64_t est_bytes_c2s = 0;  ///< estimated (HE layers: exact) bytes client → server
  std::uint64_t est_bytes_s2c = 0;
  std::uint64_t est_rounds = 0;
  double est_seconds = 0;          ///< estimate for the profile: bytes/bandwidth + rounds·RTT + compute
  std::uint64_t tolerance = 0;     ///< the strategy's stated error bound on this node (ring units)
};

/// What the planner may choose from.
struct PlanOptions {
  /// kExact: only bit-exact strategies; kApprox: strategies with a stated tolerance too.
  Fidelity fidelity = Fidelity::kExact;
  /// Restricts the planner to these registered names (empty: all). Unknown names and nodes left
  /// without an applicable allowed strategy are errors (kInvalidArgument, one line listing the
  /// candidates).
  std::vector<std::string> allowed;
};

/// The plan of a whole session: the fixed-point program, the HE parameters and one planned
/// strategy per node (engine/strategy.hpp). Built identically on both sides from the public plan.
/// Immutable after construction.
class ProtocolPlan {
 public:
  /// Plans every node. `forced` (optional) names one strategy per node (what the server sent);
  /// otherwise each node gets, among the registered strategies that apply and that `opts` allows,
  /// the one of least estimated seconds for `profile` (registry order breaks ties).
  /// Errors: kUnsupported when ℓ is outside the HE parameters' range (13..44) while the program has
  /// HE layers, a layer cannot be planned by any candidate (the first candidate's reason), or the
  /// plan exceeds the size budget (kMaxPlanElements, kMaxHeLayerElements, kMaxHeLayerMacs,
  /// kMaxPlanMacs); kInvalidArgument for an unknown name in opts.allowed or a node no allowed
  /// strategy applies to; kMalformedInput for a `forced` list of the wrong size or with a strategy
  /// that does not apply to its node; kProtocol when `forced` holds an approximate strategy and
  /// opts.fidelity is kExact.
  ProtocolPlan(nn::FixedPlan fixed, const NetworkProfile& profile, const PlanOptions& opts = {},
               const std::vector<std::string>* forced = nullptr);
  ~ProtocolPlan();
  ProtocolPlan(const ProtocolPlan&) = delete;
  ProtocolPlan& operator=(const ProtocolPlan&) = delete;

  const nn::FixedPlan& fixed() const noexcept { return fixed_; }
  const std::vector<LayerChoice>& layers() const noexcept { return layers_; }
  /// Per node, every candidate the planner weighed (applicable and allowed), chosen one included.
  const std::vector<std::vector<LayerChoice>>& candidates() const noexcept { return candidates_; }
  /// The planned strategy of node i (layout, cost, drivers).
  const PlannedLayer& planned(std::size_t i) const { return *planned_.at(i); }
  /// Every HE parameter set the chosen strategies use (PlannedLayer::he_needs), in first-use order,
  /// each with the sorted union of the Galois elements they rotate with: the session's set-up sends
  /// the client's public key (and Galois keys where needed) for each, in this order.
  const std::vector<HeNeed>& he_sets() const noexcept { return he_sets_; }
  /// What the hello carries for the HE sets: 0 without any; else the first 8 bytes (little-endian)
  /// of SHA-256 over every set's params_id, Galois element count and elements.
  std::uint64_t he_set_id() const noexcept { return he_set_id_; }
  Fidelity fidelity() const noexcept { return fidelity_; }
  /// The text the server sends and the hello hashes: plan JSON, newline, strategy names.
  const std::string& wire_text() const noexcept { return wire_; }
  /// SHA-256 of wire_text().
  const std::array<std::uint8_t, 32>& hash() const noexcept { return hash_; }
  /// Sum of the per-layer estimates.
  LayerChoice total() const;

 private:
  nn::FixedPlan fixed_;
  std::vector<HeNeed> he_sets_;
  std::uint64_t he_set_id_ = 0;
  Fidelity fidelity_ = Fidelity::kExact;
  std::vector<LayerChoice> layers_;
  std::vector<std::vector<LayerChoice>> candidates_;
  std::vector<std::unique_ptr<PlannedLayer>> planned_;
  std::string wire_;
  std::array<std::uint8_t, 32> hash_{};
};

struct PreparedWeights;  // per-node prepared weights (engine.cpp)

/// How the server keeps its prepared weights.
struct ServerOptions {
  /// Bytes of prepared (NTT-form) weights kept for the model's lifetime, layers in program order;
  /// a layer whose prepared form does not fit any more is prepared in each session when it runs
  /// and freed right after (bounded memory for ImageNet networks — ResNet-50's kernel polynomials
  /// alone would take tens of GB — at the cost of that preparation in every session's online
  /// time). Default 2 GiB; SIZE_MAX keeps everything, 0 prepares every layer per session.
  std::size_t prepared_budget_bytes = std::size_t{2} << 30;
};

/// The server's side of a model: fixed-point program, weights prepared for HE (NTT form) once,
/// within ServerOptions::prepared_budget_bytes. Immutable; share one ServerModel between
/// concurrent sessions.
class ServerModel {
 public:
  /// Plans (ProtocolPlan) and prepares the HE layers' weights in program order while they fit the
  /// budget (PlannedLayer::prepared_bytes, known before preparing). Cost: the weight preparation
  /// (NTTs of the kept kernel polynomials), about a second for ResNet-20 on one core. Errors: those
  /// of ProtocolPlan and the linear prepare_* functions; a layer over the budget has its weights
  /// checked when it runs, in each session (the same checks, before any of its messages).
  ServerModel(nn::FixedModel model, const NetworkProfile& profile = NetworkProfile::lan(),
              const PlanOptions& opts = {}, const ServerOptions& server = {});
  ~ServerModel();
  const nn::FixedModel& model() const noexcept { return model_; }
  const ProtocolPlan& plan() const noexcept { return *plan_; }
  const PreparedWeights& prepared() const noexcept { return *prepared_; }
  double prepare_seconds() const noexcept { return prepare_seconds_; }
  /// Bytes of prepared weights kept (≤ the budget).
  std::size_t prepared_bytes() const noexcept;
  /// Layers whose weights are prepared in each session instead (over the budget).
  std::size_t per_session_layers() const noexcept;

 private:
  nn::FixedModel model_;
  std::unique_ptr<ProtocolPlan> plan_;
  std::unique_ptr<PreparedWeights> prepared_;
  double prepare_seconds_ = 0;
};

/// A sound worst-case bound (in LSB of the logits at scale 2^f) on |private logit − fixed-point
/// reference| for `plan` run on `model`'s weights: each node's stated tolerance
/// (LayerChoice::tolerance) propagated through the program (linear layers by the largest ℓ1 norm
/// of a weight row, truncations by ⌈e/2^s⌉, x² and x·y by the calibrated ranges). 0 for a plan of
/// exact strategies. The server's view (needs the weights); `eval --fidelity approx` counts the
/// images within it. Errors: kInvalidArgument when plan and model differ in size.
double logit_error_bound(const nn::FixedModel& model, const ProtocolPlan& plan);

/// Measured cost of one node, for one party (bytes as this party sent / received them).
struct LayerReport {
  std::string name;      ///< ONNX node
  std::string op;        ///< program op (nn::fx_op_name)
  std::string strategy;
  double seconds = 0;
  std::uint64_t bytes_sent = 0, bytes_received = 0, rounds = 0;
};

/// Called by a party after each node of the program ran: its report, the nodes done and the
/// node count (for a progress line; runs on the party's thread, must not throw).
using ProgressFn = std::function<void(const LayerReport& layer, std::size_t done, std::size_t total)>;

/// Measured cost of a session for one party.
struct PartyReport {
  double setup_seconds = 0, online_seconds = 0;
  std::uint64_t setup_bytes_sent = 0, setup_bytes_received = 0;
  std::uint64_t online_bytes_sent = 0, online_bytes_received = 0;
  std::uint64_t setup_rounds = 0, online_rounds = 0;
  std::vector<LayerReport> layers;
};

/// The client's result: the plan it ran, the revealed logits and its report.
struct ClientResult {
  std::shared_ptr<const ProtocolPlan> plan;
  std::vector<std::uint64_t> logits_ring;  ///< at scale 2^f, ring elements
  std::vector<float> logits;               ///< dequantised (before the client's post-processing)
  std::vector<std::uint64_t> input_ring;   ///< the quantised input the client used
  PartyReport report;
};

/// Server side of one session on `ch`. Randomness (masks, flooding, OT) from `prg`
/// (Prg::from_os() outside tests); `ot` the OT back-end, which the client must use too (else
/// kProtocol at the hello). `threads`: the server's worker threads (core::Workers: HE products,
/// NTTs and Ferret refills spread over them; the messages do not depend on it; kInvalidArgument
/// outside [1, 256]). Errors: see the file comment.
PartyReport serve_session(net::Channel& ch, const ServerModel& model, Prg& prg,
                          mpc::OtBackend ot = mpc::OtBackend::kSilent, std::size_t threads = 1);

/// Client side of one session. `make_input` is called once the public plan is known and returns
/// the network input (float, preprocessed, element count of the plan's input); `expected` (may be
/// null) is a plan hash the client insists on (kProtocol when the server's differs); `accept` the
/// fidelity the client accepts (kExact: a plan with an approximate strategy is refused, kProtocol).
/// Errors: see the file comment; those of make_input.
/// `progress` (may be empty) is called after each node; `threads` as serve_session's (the client's).
ClientResult client_session(net::Channel& ch, const std::function<std::vector<float>(const nn::FixedPlan&)>& make_input,
                            Prg& prg, const std::array<std::uint8_t, 32>* expected = nullptr,
                            mpc::OtBackend ot = mpc::OtBackend::kSilent, Fidelity accept = Fidelity::kExact,
                            const ProgressFn& progress = {}, std::size_t threads = 1);

/// Both results of a one-process run.
struct LocalRun {
  ClientResult client;
  PartyReport server;
};

/// The embedded default (DESIGN.md §6 `peregrine run`): both parties in this process, the server
/// on a second thread, over an in-memory channel pair with `opts` (timeouts, link emulation).
/// Each party has its own PRG from the OS. When either party fails, its channel is closed so the
/// other fails promptly too; the first error (the client's first) is rethrown. The client accepts
/// the fidelity of the server's plan. `progress` (may be empty): the client's, after each node.
/// `threads`: worker threads of each party (T per party, 2T in this process).
LocalRun run_local(const ServerModel& model,
                   const std::function<std::vector<float>(const nn::FixedPlan&)>& make_input,
                   const net::ChannelOptions& opts = {}, mpc::OtBackend ot = mpc::OtBackend::kSilent,
                   const ProgressFn& progress = {}, std::size_t threads = 1);

/// Largest public plan a client accepts (bytes).
inline constexpr std::size_t kMaxPlanBytes = std::size_t{16} << 20;

/// Size budget of a plan, checked by ProtocolPlan (on both sides) before any layer is planned, so
/// that a plan from a hostile server cannot make the client allocate or compute without bound.
/// ImageNet-size CNNs fit (ResNet-50: about 2^25 elements in all, 2^27 multiply-accumulates in its
/// largest layer, 2^32 in all; VGG-16: 2^34 in all).
inline constexpr std::uint64_t kMaxPlanElements = std::uint64_t{1} << 26;     ///< Σ elements of all values
inline constexpr std::uint64_t kMaxHeLayerElements = std::uint64_t{1} << 24;  ///< input / output of an HE layer
inline constexpr std::uint64_t kMaxHeLayerMacs = std::uint64_t{1} << 32;      ///< multiply-accumulates of an HE layer
inline constexpr std::uint64_t kMaxPlanMacs = std::uint64_t{1} << 36;         ///< Σ over the HE layers

/// Peak resident set size of this process so far, in bytes (getrusage).
std::uint64_t peak_rss_bytes();

}  // namespace peregrine::engine
