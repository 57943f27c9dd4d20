#include "peregrine/engine/engine.hpp"
#include "peregrine/engine/wire.hpp"

#include <openssl/evp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <sstream>
#include <tuple>
#include <thread>

#include "peregrine/core/error.hpp"
#include "peregrine/linear/he_layer.hpp"
#include "peregrine/mpc/session.hpp"

namespace peregrine::engine {

using nn::FxNode;
using nn::FxOp;
using u64 = std::uint64_t;
using I64 = std::int64_t;

struct PreparedWeights {
  std::vector<std::unique_ptr<Prepared>> nodes;  ///< per node; null where the strategy needs none
  std::vector<bool> per_session;                 ///< per node: prepared in each session (over the budget)
  const nn::FixedWeights* weights = nullptr;     ///< the model's, for per-session preparation
  std::size_t kept_bytes = 0;
};

namespace {

std::size_t at(I64 v) { return static_cast<std::size_t>(v); }
double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool is_he_op(FxOp op) { return op == FxOp::kConv || op == FxOp::kGemm || op == FxOp::kAffine; }

u64 sat_mul(u64 a, u64 b) { return b != 0 && a > ~u64{0} / b ? ~u64{0} : a * b; }

/// Refuses a plan above the size budget (engine.hpp) before any layer is planned: the HE
/// strategies allocate their layout (Θ(output elements + products)) when they are built, and a
/// client builds them from what the server sent.
void check_budget(const nn::FixedPlan& p) {
  auto count = [&](std::size_t v) { return static_cast<u64>(nn::element_count(p.values.at(v).shape)); };
  u64 total = 0;  // ≤ (4·4096 + 1) values of ≤ 2^28 elements each: no overflow
  for (std::size_t v = 0; v < p.values.size(); ++v) total += count(v);
  for (const auto& v : p.values)
    if (v.ring_bits < 2 || v.ring_bits > 64)
      throw Error(ErrorCode::kInvalidArgument, "plan: value '" + v.name + "' has no ring (ring_bits must be in [2, 64])");
  if (total > kMaxPlanElements)
    throw Error(ErrorCode::kUnsupported, "plan: its values hold " + std::to_string(total) +
                                             " elements in all, above the limit of " + std::to_string(kMaxPlanElements));
  u64 all_macs = 0;
  for (const FxNode& n : p.nodes) {
    if (!is_he_op(n.op)) continue;
    const u64 in = count(n.inputs.at(0)), out = count(n.output);
    u64 macs = out;  // Affine: one product per element
    if (n.op == FxOp::kConv) {
      const auto& c = n.conv();
      macs = sat_mul(out, sat_mul(static_cast<u64>(c.C / std::max<I64>(1, c.groups)), sat_mul(at(c.kh), at(c.kw))));
    }
    if (n.op == FxOp::kGemm) macs = sat_mul(in, at(n.gemm().N));  // B·K·N
    if (in > kMaxHeLayerElements || out > kMaxHeLayerElements || macs > kMaxHeLayerMacs)
      throw Error(ErrorCode::kUnsupported, "plan: node '" + n.name + "' (" + nn::fx_op_name(n.op) +
                                               ") exceeds the HE layer limits (" + std::to_string(in) + " → " +
                                               std::to_string(out) + " elements, " + std::to_string(macs) +
                                               " multiply-accumulates)");
    all_macs += macs;  // ≤ 4096 nodes of ≤ 2^32 each: no overflow
  }
  if (all_macs > kMaxPlanMacs)
    throw Error(ErrorCode::kUnsupported, "plan: " + std::to_string(all_macs) +
                                             " multiply-accumulates in the HE layers, above the limit of " +
                                             std::to_string(kMaxPlanMacs));
}

void sha256(const std::string& text, std::array<std::uint8_t, 32>& out) {
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 || len != 32)
    throw Error(ErrorCode::kCrypto, "SHA-256 failed");
}

}  // namespace

// ---- planner ------------------------------------------------------------------------------------

ProtocolPlan::ProtocolPlan(nn::FixedPlan fixed, const NetworkProfile& profile, const PlanOptions& opts,
                           const std::vector<std::string>* forced)
    : fixed_(std::move(fixed)), fidelity_(opts.fidelity) {
  const auto& nodes = fixed_.nodes;
  if (forced && forced->size() != nodes.size())
    throw Error(ErrorCode::kMalformedInput, "plan: expected " + std::to_string(nodes.size()) + " strategies");
  if (!opts.allowed.empty()) check_strategy_names(opts.allowed);
  check_budget(fixed_);
  // The coefficient-encoded parameter set of every ring an HE node computes in (the planned layers
  // keep the ones they use; he_sets_ collects them below).
  std::map<int, he::HeParamsPtr> he_by_ring;
  for (const FxNode& n : nodes) {
    if (!is_he_op(n.op)) continue;
    const int ell = fixed_.values[n.output].ring_bits;
    if (ell < 13 || ell > 44)
      throw Error(ErrorCode::kUnsupported, "node '" + n.name + "' (" + nn::fx_op_name(n.op) + ") computes in a ring of " +
                                               std::to_string(ell) + " bits; the HE layers support 13..44 (lower " +
                                               "frac_bits or headroom, or plan the rings per tensor: --rings per-tensor)");
    if (!he_by_ring.count(ell)) he_by_ring[ell] = he::HeParams::cheetah(ell);
  }
  const auto consumers = value_consumers(fixed_);
  const PlanContext ctx{fixed_, profile, he_by_ring, opts.fidelity, consumers};
  auto allowed = [&](const Strategy& s) {
    return opts.allowed.empty() || std::find(opts.allowed.begin(), opts.allowed.end(), s.name()) != opts.allowed.end();
  };
  candidates_.resize(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const FxNode& n = nodes[i];
    std::vector<const Strategy*> cands;
    if (forced) {
      const Strategy* s = find_strategy((*forced)[i]);
      if (!s || !s->applies(n, PlanContext{fixed_, profile, he_by_ring, Fidelity::kApprox, consumers}))
        throw Error(ErrorCode::kMalformedInput, "plan: strategy '" + (*forced)[i] + "' does not apply to node '" + n.name + "'");
      if (opts.fidelity == Fidelity::kExact && s->tolerance(n, ctx) != 0)
        throw Error(ErrorCode::kProtocol, "plan: node '" + n.name + "' uses the approximate strategy '" + (*forced)[i] +
                                              "', and this party requires --fidelity exact");
      cands.push_back(s);
    } else {
      std::string applicable;
      for (const Strategy* s : registry()) {
        if (!s->applies(n, ctx)) continue;
        if (opts.fidelity == Fidelity::kExact && s->tolerance(n, ctx) != 0) continue;
        applicable += (applicable.empty() ? "" : ", ") + std::string(s->name());
        if (allowed(*s)) cands.push_back(s);
      }
      if (cands.empty())
        throw Error(ErrorCode::kInvalidArgument, "plan: no allowed strategy for node '" + n.name + "' (" +
                                                     nn::fx_op_name(n.op) + "); applicable: " +
                                                     (applicable.empty() ? "none" : applicable));
    }
    std::unique_ptr<PlannedLayer> best;
    std::exception_ptr first_error;
    for (const Strategy* s : cands) {
      std::unique_ptr<PlannedLayer> p;
      try {
        p = s->plan(n, ctx);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kUnsupported) throw;
        if (!first_error) first_error = std::current_exception();
        continue;
      }
      const Cost c = p->cost();
      LayerChoice l{std::string(s->name()), c.bytes_c2s, c.bytes_s2c, c.rounds, c.seconds(profile), s->tolerance(n, ctx)};
      candidates_[i].push_back(l);
      if (!best || l.est_seconds < layers_.back().est_seconds) {
        if (best) layers_.pop_back();
        layers_.push_back(l);
        best = std::move(p);
      }
    }
    if (!best) std::rethrow_exception(first_error);
    planned_.push_back(std::move(best));
  }
  // The session's HE sets: union of the planned layers' needs, in first-use order.
  for (const auto& p : planned_)
    for (const HeNeed& need : p->he_needs()) {
      auto it = std::find_if(he_sets_.begin(), he_sets_.end(),
                             [&](const HeNeed& h) { return h.params->params_id() == need.params->params_id(); });
      if (it == he_sets_.end()) it = he_sets_.insert(he_sets_.end(), HeNeed{need.params, {}});
      it->galois_elements.insert(it->galois_elements.end(), need.galois_elements.begin(), need.galois_elements.end());
    }
  std::string id_text;
  for (HeNeed& h : he_sets_) {
    std::sort(h.galois_elements.begin(), h.galois_elements.end());
    h.galois_elements.erase(std::unique(h.galois_elements.begin(), h.galois_elements.end()), h.galois_elements.end());
    auto put = [&](u64 v) { id_text.append(reinterpret_cast<const char*>(&v), sizeof v); };
    put(h.params->params_id());
    put(h.galois_elements.size());
    for (u64 g : h.galois_elements) put(g);
  }
  if (!he_sets_.empty()) {
    std::array<std::uint8_t, 32> d{};
    sha256(id_text, d);
    std::memcpy(&he_set_id_, d.data(), sizeof he_set_id_);
  }
  wire_ = nn::plan_to_json(fixed_);
  wire_ += '\n';
  for (std::size_t i = 0; i < layers_.size(); ++i) wire_ += (i ? "," : "") + layers_[i].strategy;
  sha256(wire_, hash_);
}

ProtocolPlan::~ProtocolPlan() = default;

LayerChoice ProtocolPlan::total() const {
  LayerChoice t;
  t.strategy = "total";
  for (const auto& l : layers_) {
    t.est_bytes_c2s += l.est_bytes_c2s;
    t.est_bytes_s2c += l.est_bytes_s2c;
    t.est_rounds += l.est_rounds;
    t.est_seconds += l.est_seconds;
  }
  return t;
}

double logit_error_bound(const nn::FixedModel& model, const ProtocolPlan& plan) {
  const nn::FixedPlan& p = model.plan;
  if (plan.layers().size() != p.nodes.size() || p.values.size() != plan.fixed().values.size())
    throw Error(ErrorCode::kInvalidArgument, "logit_error_bound: plan and model differ");
  std::vector<double> e(p.values.size(), 0.0);
  // Largest |v| of a value at its scale (from the calibration report, with the plan's headroom).
  auto max_abs = [&](std::size_t v) {
    for (const auto& r : p.ranges)
      if (r.value == p.values[v].name) return std::ldexp(r.max_abs, p.values[v].scale + p.headroom_bits);
    return std::ldexp(1.0, p.ring_bits - 1);
  };
  for (std::size_t i = 0; i < p.nodes.size(); ++i) {
    const FxNode& n = p.nodes[i];
    auto in = [&](std::size_t k) { return e[n.inputs.at(k)]; };
    double out = 0;
    switch (n.op) {
      case FxOp::kConv:
      case FxOp::kGemm:
      case FxOp::kAffine: {
        const auto& w = model.weights.entries.at(n.weights()->index).w;
        std::size_t rows = n.op == FxOp::kConv   ? at(n.conv().M)
                           : n.op == FxOp::kGemm ? at(n.gemm().N)
                                                 : at(n.affine().C);
        rows = std::max<std::size_t>(rows, 1);
        const std::size_t per = w.size() / rows;
        double worst = 0;
        for (std::size_t r = 0; r < rows; ++r) {
          double l1 = 0;
          for (std::size_t k = 0; k < per; ++k) l1 += std::fabs(static_cast<double>(w[r * per + k]));
          worst = std::max(worst, l1);
        }
        out = in(0) * worst;
        break;
      }
      case FxOp::kTrunc: out = std::ceil(in(0) / std::ldexp(1.0, n.shift().shift)); break;
      case FxOp::kAdd:
      case FxOp::kSub: out = in(0) + in(1); break;
      case FxOp::kScaleUp: out = std::ldexp(in(0), n.shift().shift); break;
      case FxOp::kSquare: out = 2 * max_abs(n.inputs[0]) * in(0) + in(0) * in(0); break;
      case FxOp::kMul:
        out = max_abs(n.inputs[0]) * in(1) + max_abs(n.inputs[1]) * in(0) + in(0) * in(1);
        break;
      case FxOp::kAvgPool:
      {
        const I64 window = n.pool().kh * n.pool().kw;
        out = in(0) * static_cast<double>(window) *
              std::ceil(std::ldexp(1.0, p.frac_bits) / static_cast<double>(std::max<I64>(1, window)));
      }
        break;
      default:  // ReLU, max-pool, constants and moves: 1-Lipschitz elementwise
        for (std::size_t k = 0; k < n.inputs.size(); ++k) out = std::max(out, in(k));
        break;
    }
    e[n.output] = out + static_cast<double>(plan.layers()[i].tolerance);
  }
  return e[p.output];
}

// ---- server model --------------------------------------------------------------------------------

ServerModel::ServerModel(nn::FixedModel model, const NetworkProfile& profile, const PlanOptions& opts,
                         const ServerOptions& server)
    : model_(std::move(model)), prepared_(std::make_unique<PreparedWeights>()) {
  auto t0 = std::chrono::steady_clock::now();
  plan_ = std::make_unique<ProtocolPlan>(model_.plan, profile, opts);
  PreparedWeights& pw = *prepared_;
  pw.weights = &model_.weights;
  pw.per_session.assign(model_.plan.nodes.size(), false);
  for (std::size_t i = 0; i < model_.plan.nodes.size(); ++i) {
    // Layers in program order while their prepared weights fit the budget; a layer beyond it
    // runs from the raw weights in each session (PlannedLayer::run_unprepared).
    const PlannedLayer& layer = plan_->planned(i);
    const std::size_t room = server.prepared_budget_bytes - std::min(server.prepared_budget_bytes, pw.kept_bytes);
    std::unique_ptr<Prepared> p;
    if (layer.prepared_bytes() > room) {
      pw.per_session[i] = true;
    } else {
      p = layer.prepare(model_.weights);
      pw.kept_bytes += p ? p->bytes() : 0;
    }
    pw.nodes.push_back(std::move(p));
  }
  prepare_seconds_ = since(t0);
}

std::size_t ServerModel::prepared_bytes() const noexcept { return prepared_->kept_bytes; }
std::size_t ServerModel::per_session_layers() const noexcept {
  return static_cast<std::size_t>(std::count(prepared_->per_session.begin(), prepared_->per_session.end(), true));
}

ServerModel::~ServerModel() = default;

// ---- handshake -----------------------------------------------------------------------------------

namespace detail {

std::vector<std::uint8_t> encode_hello(const Hello& h) {
  std::vector<std::uint8_t> b(kHelloBytes);
  std::memcpy(b.data(), &h.magic, 4);
  std::memcpy(b.data() + 4, &h.version, 4);
  b[8] = h.role;
  b[9] = h.ring_bits;
  b[10] = h.frac_bits;
  b[11] = h.ot_backend;
  std::memcpy(b.data() + 12, &h.he_params_id, 8);
  std::memcpy(b.data() + 20, h.plan_hash.data(), 32);
  return b;
}

Hello decode_hello(std::span<const std::uint8_t> b) {
  if (b.size() != kHelloBytes) throw Error(ErrorCode::kProtocol, "handshake: malformed hello from the peer");
  Hello h;
  std::memcpy(&h.magic, b.data(), 4);
  std::memcpy(&h.version, b.data() + 4, 4);
  h.role = b[8];
  h.ring_bits = b[9];
  h.frac_bits = b[10];
  h.ot_backend = b[11];
  std::memcpy(&h.he_params_id, b.data() + 12, 8);
  std::memcpy(h.plan_hash.data(), b.data() + 20, 32);
  return h;
}

Hello hello_for(const ProtocolPlan& p, mpc::Party me, mpc::OtBackend ot) {
  Hello h;
  h.ot_backend = static_cast<std::uint8_t>(ot);
  h.role = me == mpc::Party::kServer ? 0 : 1;
  h.ring_bits = static_cast<std::uint8_t>(p.fixed().ring_bits);
  h.frac_bits = static_cast<std::uint8_t>(p.fixed().frac_bits);
  h.he_params_id = p.he_set_id();
  h.plan_hash = p.hash();
  return h;
}

void check_hello(const Hello& mine, const Hello& peer) {
  if (peer.magic != kHelloMagic) throw Error(ErrorCode::kProtocol, "handshake: the peer is not a Peregrine endpoint");
  if (peer.version != kHelloVersion)
    throw Error(ErrorCode::kProtocol, "handshake: protocol version " + std::to_string(peer.version) + " (we speak " +
                                          std::to_string(kHelloVersion) + ")");
  if (peer.role > 1) throw Error(ErrorCode::kProtocol, "handshake: unknown role " + std::to_string(peer.role));
  if (peer.role == mine.role) throw Error(ErrorCode::kProtocol, "handshake: both ends claim the same role");
  if (peer.ring_bits != mine.ring_bits || peer.frac_bits != mine.frac_bits)
    throw Error(ErrorCode::kProtocol, "handshake: fixed-point format differs (ring/scale bits)");
  if (peer.ot_backend != mine.ot_backend)
    throw Error(ErrorCode::kProtocol, "handshake: the peers use different OT back-ends (silent / iknp)");
  if (peer.he_params_id != mine.he_params_id)  // the hash of every HE set and its Galois elements
    throw Error(ErrorCode::kProtocol, "handshake: HE parameter ids differ");
  if (peer.plan_hash != mine.plan_hash)
    throw Error(ErrorCode::kProtocol, "handshake: the peers' architecture/quantisation plans differ (hash mismatch)");
}

std::shared_ptr<const ProtocolPlan> decode_plan(std::span<const std::uint8_t> bytes, Fidelity accept) {
  if (bytes.size() > kMaxPlanBytes) throw Error(ErrorCode::kSizeLimit, "plan: larger than kMaxPlanBytes");
  std::string text(bytes.begin(), bytes.end());
  auto nl = text.find('\n');
  if (nl == std::string::npos) throw Error(ErrorCode::kMalformedInput, "plan: no strategy list");
  nn::FixedPlan fixed = nn::plan_from_json(text.substr(0, nl));
  std::vector<std::string> strategies;
  std::istringstream list(text.substr(nl + 1));
  for (std::string item; std::getline(list, item, ',');) strategies.push_back(item);
  PlanOptions opts;
  opts.fidelity = accept;
  auto plan = std::make_shared<const ProtocolPlan>(std::move(fixed), NetworkProfile::lan(), opts, &strategies);
  if (plan->wire_text() != text)
    throw Error(ErrorCode::kMalformedInput, "plan: not in canonical form (re-encoding differs)");
  return plan;
}

}  // namespace detail

namespace {

using detail::Hello;

/// Sends ours, reads the peer's, and checks every field. Both sides run the same checks, so a
/// mismatch ends the session on both with the same reason.
void exchange_hello(net::Channel& ch, const ProtocolPlan& p, mpc::Party me, mpc::OtBackend ot) {
  const Hello mine = detail::hello_for(p, me, ot);
  ch.send_frame(detail::encode_hello(mine));
  ch.flush();
  auto b = ch.recv_frame(64);
  detail::check_hello(mine, detail::decode_hello(b));
}

// ---- executor ------------------------------------------------------------------------------------

/// One party walking the program on shares; every node runs through its planned strategy.
class Executor {
 public:
  Executor(const ProtocolPlan& plan, mpc::MpcSession& s, std::span<const linear::HeClient> hc,
           std::span<const linear::HeServer> hs, const PreparedWeights* prep, const ProgressFn* progress = nullptr)
      : plan_(plan), p_(plan.fixed()), ctx_(PartyContext::of(s, hc, hs)), prep_(prep), progress_(progress) {}

  void run(mpc::ArithShares input, PartyReport& rep) {
    vals_.assign(p_.values.size(), {});
    vals_[p_.input] = std::move(input);
    net::Channel& ch = ctx_.ch;
    std::vector<const mpc::ArithShares*> in;
    for (std::size_t i = 0; i < p_.nodes.size(); ++i) {
      const FxNode& n = p_.nodes[i];
      auto st0 = ch.stats();
      auto t0 = std::chrono::steady_clock::now();
      in.clear();
      for (std::size_t v : n.inputs) in.push_back(&vals_[v]);
      if (prep_ && prep_->per_session[i])  // over the server's budget: from the raw weights
        vals_[n.output] = plan_.planned(i).run_unprepared(ctx_, in, *prep_->weights);
      else
        vals_[n.output] = plan_.planned(i).run(ctx_, in, prep_ ? prep_->nodes[i].get() : nullptr);
      if (vals_[n.output].ring.bits != p_.values[n.output].ring_bits)
        throw Error(ErrorCode::kInvalidArgument, "executor: strategy '" + plan_.layers()[i].strategy +
                                                     "' returned shares in another ring than node '" + n.name + "' has");
      ch.flush();
      LayerReport lr;
      lr.name = n.name;
      lr.op = nn::fx_op_name(n.op);
      lr.strategy = plan_.layers()[i].strategy;
      lr.seconds = since(t0);
      lr.bytes_sent = ch.stats().bytes_sent - st0.bytes_sent;
      lr.bytes_received = ch.stats().bytes_received - st0.bytes_received;
      lr.rounds = ch.stats().rounds - st0.rounds;
      rep.layers.push_back(std::move(lr));
      if (progress_ && *progress_) (*progress_)(rep.layers.back(), i + 1, p_.nodes.size());
      // Free values no later node reads (keeps peak memory near the widest layer).
      release_dead(i);
    }
  }
  const mpc::ArithShares& output() const { return vals_[p_.output]; }

 private:
  void release_dead(std::size_t i) {
    if (last_use_.empty()) {
      last_use_.assign(p_.values.size(), 0);
      for (std::size_t k = 0; k < p_.nodes.size(); ++k)
        for (std::size_t v : p_.nodes[k].inputs) last_use_[v] = k;
      last_use_[p_.output] = p_.nodes.size();
    }
    for (std::size_t v : p_.nodes[i].inputs)
      if (last_use_[v] == i) vals_[v] = {};
  }

  const ProtocolPlan& plan_;
  const nn::FixedPlan& p_;
  PartyContext ctx_;
  const PreparedWeights* prep_;
  const ProgressFn* progress_;
  std::vector<mpc::ArithShares> vals_;
  std::vector<std::size_t> last_use_;
};

struct Mark {
  net::ChannelStats st;
  std::chrono::steady_clock::time_point t;
};
Mark mark(const net::Channel& ch) { return {ch.stats(), std::chrono::steady_clock::now()}; }

/// Seconds, bytes sent, bytes received and rounds from mark a to mark b (one phase of a report).
std::tuple<double, std::uint64_t, std::uint64_t, std::uint64_t> delta(const Mark& a, const Mark& b) {
  return {std::chrono::duration<double>(b.t - a.t).count(), b.st.bytes_sent - a.st.bytes_sent,
          b.st.bytes_received - a.st.bytes_received, b.st.rounds - a.st.rounds};
}
void record_setup(PartyReport& r, const Mark& a, const Mark& b) {
  std::tie(r.setup_seconds, r.setup_bytes_sent, r.setup_bytes_received, r.setup_rounds) = delta(a, b);
}
void record_online(PartyReport& r, const Mark& a, const Mark& b) {
  std::tie(r.online_seconds, r.online_bytes_sent, r.online_bytes_received, r.online_rounds) = delta(a, b);
}

}  // namespace

PartyReport serve_session(net::Channel& ch, const ServerModel& model, Prg& prg, mpc::OtBackend ot,
                          std::size_t threads) {
  core::Workers workers(threads);
  PartyReport rep;
  Mark m0 = mark(ch);
  const ProtocolPlan& plan = model.plan();
  const std::string& text = plan.wire_text();
  ch.send_frame({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  exchange_hello(ch, plan, mpc::Party::kServer, ot);
  std::vector<linear::HeServer> hs;
  for (const HeNeed& h : plan.he_sets()) {
    hs.push_back(linear::he_server_setup(ch, h.params, h.galois_elements));
    hs.back().workers = &workers;
  }
  mpc::MpcSession s(ch, mpc::Party::kServer, prg, ot, &workers);
  ch.flush();
  Mark m1 = mark(ch);
  record_setup(rep, m0, m1);

  // The server's input share is 0: the client holds the whole quantised input.
  const nn::FixedPlan& fp = plan.fixed();
  mpc::ArithShares x{mpc::Ring(nn::value_ring(fp, fp.input)), std::vector<u64>(at(nn::element_count(fp.values[fp.input].shape)), 0)};
  Executor ex(plan, s, {}, hs, &model.prepared());
  ex.run(std::move(x), rep);
  mpc::reveal_send(ch, ex.output());
  ch.flush();
  record_online(rep, m1, mark(ch));
  return rep;
}

ClientResult client_session(net::Channel& ch, const std::function<std::vector<float>(const nn::FixedPlan&)>& make_input,
                            Prg& prg, const std::array<std::uint8_t, 32>* expected, mpc::OtBackend ot,
                            Fidelity accept, const ProgressFn& progress, std::size_t threads) {
  core::Workers workers(threads);
  ClientResult res;
  PartyReport& rep = res.report;
  Mark m0 = mark(ch);
  auto plan = detail::decode_plan(ch.recv_frame(kMaxPlanBytes), accept);
  if (expected && *expected != plan->hash())
    throw Error(ErrorCode::kProtocol, "the server's model plan is not the one this client expects");
  res.plan = plan;
  exchange_hello(ch, *plan, mpc::Party::kClient, ot);
  std::vector<linear::HeClient> hc;
  for (const HeNeed& h : plan->he_sets()) {
    hc.push_back(linear::he_client_setup(ch, h.params, prg, h.galois_elements));
    hc.back().workers = &workers;
  }
  mpc::MpcSession s(ch, mpc::Party::kClient, prg, ot, &workers);
  ch.flush();
  record_setup(rep, m0, mark(ch));

  // The input is produced after the set-up so that a bad input is reported before any secret
  // flows; the session then ends with the error (the server sees the channel close).
  res.input_ring = nn::quantize_input(plan->fixed(), make_input(plan->fixed()));
  // The online phase starts once the input exists (make_input does no I/O on the channel).
  Mark m1 = mark(ch);
  Executor ex(*plan, s, hc, {}, nullptr, &progress);
  ex.run(mpc::ArithShares{mpc::Ring(nn::value_ring(plan->fixed(), plan->fixed().input)), res.input_ring}, rep);
  res.logits_ring = mpc::reveal_receive(ch, ex.output());
  record_online(rep, m1, mark(ch));
  res.logits = nn::dequantize(plan->fixed(), res.logits_ring);
  return res;
}

LocalRun run_local(const ServerModel& model,
                   const std::function<std::vector<float>(const nn::FixedPlan&)>& make_input,
                   const net::ChannelOptions& opts, mpc::OtBackend ot, const ProgressFn& progress,
                   std::size_t threads) {
  auto [cch, sch] = net::make_memory_pair(opts);
  LocalRun out;
  std::exception_ptr server_error, client_error;
  std::thread server([&, ch = std::move(sch)]() mutable {
    try {
      Prg prg = Prg::from_os();
      out.server = serve_session(*ch, model, prg, ot, threads);
    } catch (...) {
      server_error = std::current_exception();
    }
    ch.reset();  // closing makes a client still waiting fail with kPeerClosed
  });
  try {
    Prg prg = Prg::from_os();
    out.client = client_session(*cch, make_input, prg, nullptr, ot, model.plan().fidelity(), progress, threads);
  } catch (...) {
    client_error = std::current_exception();
  }
  cch.reset();
  server.join();
  if (client_error) std::rethrow_exception(client_error);
  if (server_error) std::rethrow_exception(server_error);
  return out;
}

std::uint64_t peak_rss_bytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<std::uint64_t>(ru.ru_maxrss) * 1024;
}

}  // namespace peregrine::engine
