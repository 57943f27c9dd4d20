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
#include "peregrine/linear/bn.hpp"
#include "peregrine/linear/conv.hpp"
#include "peregrine/linear/fc.hpp"
#include "peregrine/linear/local_ops.hpp"
#include "peregrine/mpc/arith.hpp"
#include "peregrine/mpc/nonlinear.hpp"
#include "peregrine/mpc/pool.hpp"
#include "peregrine/mpc/session.hpp"
#include "peregrine/mpc/truncation.hpp"

namespace peregrine::engine {

using nn::FxNode;
using nn::FxOp;
using u64 = std::uint64_t;
using I64 = std::int64_t;

struct LayerStrategies {
  std::vector<std::unique_ptr<linear::CheetahConvStrategy>> conv;
  std::vector<std::unique_ptr<linear::CheetahFcStrategy>> fc;
  std::vector<std::unique_ptr<linear::CheetahBnStrategy>> bn;
};

struct PreparedWeights {
  std::vector<linear::PreparedConv> conv;
  std::vector<linear::PreparedFc> fc;
  std::vector<linear::PreparedBn> bn;
};

namespace {

std::size_t at(I64 v) { return static_cast<std::size_t>(v); }
linear::Dims dims_of(const nn::Shape& s) {
  linear::Dims d;
  for (I64 v : s) d.push_back(at(v));
  return d;
}
double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool is_he_op(FxOp op) { return op == FxOp::kConv || op == FxOp::kGemm || op == FxOp::kAffine; }

linear::Conv2dMeta conv_meta(const FxNode& n) {
  linear::Conv2dMeta m;
  m.C = at(n.C); m.H = at(n.H); m.W = at(n.W);
  m.M = at(n.M); m.kh = at(n.kh); m.kw = at(n.kw);
  m.stride_h = at(n.sh); m.stride_w = at(n.sw);
  m.pad_top = at(n.pads[0]); m.pad_left = at(n.pads[1]); m.pad_bottom = at(n.pads[2]); m.pad_right = at(n.pads[3]);
  m.groups = at(n.groups);
  m.weight_bits = n.weight_bits;
  return m;
}
linear::FcMeta fc_meta(const FxNode& n) {
  linear::FcMeta m;
  m.in_features = at(n.K);
  m.out_features = at(n.N);
  m.weight_bits = n.weight_bits;
  return m;
}
linear::BnMeta bn_meta(const FxNode& n) {
  linear::BnMeta m;
  m.C = at(n.C);
  m.H = 1;
  m.W = at(n.inner);
  m.weight_bits = n.weight_bits;
  return m;
}

// Per-element cost of the nonlinear protocols at ℓ = 37, scaled linearly in ℓ; only for estimates.
// Bytes: both directions, measured with `peregrine bench relu|trunc` (docs/BENCHMARKS.md).
// Seconds: one core's compute per element (silent: measured on 2^20 elements; IKNP: its bytes at
// 400 MB/s of CPU, the rate its hashing and transposes sustain).
struct NonlinearCosts {
  double relu_bytes, trunc_bytes, trunc_known_bytes;  // trunc: exact; known: sign known (after ReLU)
  double relu_seconds, trunc_seconds, trunc_known_seconds;
};
constexpr NonlinearCosts kIknpCosts{624, 857, 209, 624 / 4e8, 857 / 4e8, 209 / 4e8};
constexpr NonlinearCosts kSilentCosts{47.5, 57.0, 18.0, 2.1e-6, 3.2e-6, 0.9e-6};
// Compute estimates (this machine class, one core): per ciphertext×plaintext product and per
// ciphertext moved.
constexpr double kSecondsPerProduct = 6e-6, kSecondsPerCiphertext = 2e-4;

/// The choice for an HE strategy `s` (conv, FC or BN): its exact bytes, one round, and compute from
/// its product and ciphertext counts.
template <class Strategy>
LayerChoice he_choice(const std::string& name, const Strategy& s, const NetworkProfile& p) {
  const linear::LayerCost c = s.cost();
  const std::size_t cts = s.plan().n_in + s.plan().products.size();
  LayerChoice l;
  l.strategy = name;
  l.est_bytes_c2s = c.bytes_client_to_server;
  l.est_bytes_s2c = c.bytes_server_to_client;
  l.est_rounds = 1;
  l.est_seconds = 8.0 * static_cast<double>(l.est_bytes_c2s + l.est_bytes_s2c) / p.bits_per_second +
                  p.rtt_seconds + kSecondsPerProduct * static_cast<double>(c.products) +
                  kSecondsPerCiphertext * static_cast<double>(cts);
  return l;
}

LayerChoice nonlinear_choice(const std::string& name, double bytes, double compute_seconds, std::uint64_t rounds,
                             const NetworkProfile& p) {
  LayerChoice l;
  l.strategy = name;
  l.est_bytes_c2s = static_cast<std::uint64_t>(bytes / 2);
  l.est_bytes_s2c = static_cast<std::uint64_t>(bytes / 2);
  l.est_rounds = rounds;
  l.est_seconds = 8.0 * bytes / p.bits_per_second + static_cast<double>(rounds) * p.rtt_seconds + compute_seconds;
  return l;
}

u64 sat_mul(u64 a, u64 b) { return b != 0 && a > ~u64{0} / b ? ~u64{0} : a * b; }

/// Refuses a plan above the size budget (engine.hpp) before any layer is planned: the HE
/// strategies allocate their layout (Θ(output elements + products)) when they are built, and a
/// client builds them from what the server sent.
void check_budget(const nn::FixedPlan& p) {
  auto count = [&](std::size_t v) { return static_cast<u64>(nn::element_count(p.values.at(v).shape)); };
  u64 total = 0;  // ≤ (4·4096 + 1) values of ≤ 2^28 elements each: no overflow
  for (std::size_t v = 0; v < p.values.size(); ++v) total += count(v);
  if (total > kMaxPlanElements)
    throw Error(ErrorCode::kUnsupported, "plan: its values hold " + std::to_string(total) +
                                             " elements in all, above the limit of " + std::to_string(kMaxPlanElements));
  u64 all_macs = 0;
  for (const FxNode& n : p.nodes) {
    if (!is_he_op(n.op)) continue;
    const u64 in = count(n.inputs.at(0)), out = count(n.output);
    u64 macs = out;  // Affine: one product per element
    if (n.op == FxOp::kConv)
      macs = sat_mul(out, sat_mul(static_cast<u64>(n.C / std::max<I64>(1, n.groups)), sat_mul(at(n.kh), at(n.kw))));
    if (n.op == FxOp::kGemm) macs = sat_mul(at(n.K), at(n.N));
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

ProtocolPlan::ProtocolPlan(nn::FixedPlan fixed, const NetworkProfile& profile, const std::vector<std::string>* forced)
    : fixed_(std::move(fixed)), strategies_(std::make_unique<LayerStrategies>()) {
  const auto& nodes = fixed_.nodes;
  const int ell = fixed_.ring_bits;
  if (forced && forced->size() != nodes.size())
    throw Error(ErrorCode::kMalformedInput, "plan: expected " + std::to_string(nodes.size()) + " strategies");
  check_budget(fixed_);
  bool any_he = std::any_of(nodes.begin(), nodes.end(), [](const FxNode& n) { return is_he_op(n.op); });
  if (any_he) {
    if (ell < 13 || ell > 44)
      throw Error(ErrorCode::kUnsupported, "the plan's ring has " + std::to_string(ell) +
                                               " bits; the HE layers support 13..44 (lower frac_bits or headroom)");
    he_ = he::HeParams::cheetah(ell);
  }
  strategies_->conv.resize(nodes.size());
  strategies_->fc.resize(nodes.size());
  strategies_->bn.resize(nodes.size());
  const double scale = ell / 37.0;
  const NonlinearCosts& nl = profile.ot == mpc::OtBackend::kIknp ? kIknpCosts : kSilentCosts;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const FxNode& n = nodes[i];
    std::size_t count = at(nn::element_count(fixed_.values[n.output].shape));
    auto want = [&](const std::string& s) {
      if (forced && (*forced)[i] != s)
        throw Error(ErrorCode::kMalformedInput, "plan: strategy '" + (*forced)[i] + "' does not apply to node '" + n.name + "'");
    };
    LayerChoice c;
    switch (n.op) {
      case FxOp::kConv: {
        // Candidates: Peregrine's byte-minimising tile and OpenCheetah's rule; cheapest for the profile.
        std::vector<std::pair<std::string, linear::TilePolicy>> cands = {
            {"cheetah-conv", linear::TilePolicy::kMinBytes}, {"cheetah-conv-opencheetah", linear::TilePolicy::kOpenCheetah}};
        bool chosen = false;
        for (auto& [name, policy] : cands) {
          if (forced && (*forced)[i] != name) continue;
          auto s = std::make_unique<linear::CheetahConvStrategy>(he_, conv_meta(n), policy);
          LayerChoice cand = he_choice(name, *s, profile);
          if (!chosen || cand.est_seconds < c.est_seconds) {
            c = cand;
            strategies_->conv[i] = std::move(s);
            chosen = true;
          }
        }
        if (!chosen) want("cheetah-conv");
        break;
      }
      case FxOp::kGemm: {
        want("cheetah-fc");
        auto s = std::make_unique<linear::CheetahFcStrategy>(he_, fc_meta(n));
        c = he_choice("cheetah-fc", *s, profile);
        strategies_->fc[i] = std::move(s);
        break;
      }
      case FxOp::kAffine: {
        want("cheetah-bn");
        auto s = std::make_unique<linear::CheetahBnStrategy>(he_, bn_meta(n));
        c = he_choice("cheetah-bn", *s, profile);
        strategies_->bn[i] = std::move(s);
        break;
      }
      case FxOp::kRelu:
        want("relu-millionaire");
        c = nonlinear_choice("relu-millionaire", nl.relu_bytes * scale * count, nl.relu_seconds * scale * count, 12,
                             profile);
        break;
      case FxOp::kTrunc:
        if (n.nonneg) {
          want("trunc-exact-msb0");
          c = nonlinear_choice("trunc-exact-msb0", nl.trunc_known_bytes * scale * count,
                               nl.trunc_known_seconds * scale * count, 6, profile);
        } else {
          want("trunc-exact");
          c = nonlinear_choice("trunc-exact", nl.trunc_bytes * scale * count, nl.trunc_seconds * scale * count, 16,
                               profile);
        }
        break;
      case FxOp::kMaxPool: {
        want("maxpool-tree");
        double k = static_cast<double>(n.kh * n.kw);
        c = nonlinear_choice("maxpool-tree", (k - 1) * nl.relu_bytes * scale * count,
                             (k - 1) * nl.relu_seconds * scale * count, 12 * static_cast<std::uint64_t>(std::ceil(std::log2(std::max(2.0, k)))), profile);
        break;
      }
      case FxOp::kSquare:
      case FxOp::kMul: {
        std::string name = n.op == FxOp::kSquare ? "square-gilboa" : "mul-gilboa";
        want(name);
        double per = (n.op == FxOp::kSquare ? 1 : 2) * ell * (16.0 + ell / 8.0);
        c = nonlinear_choice(name, per * count, per * count / 4e8, 2, profile);
        break;
      }
      default:
        want("local");
        c.strategy = "local";
        break;
    }
    layers_.push_back(c);
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

// ---- server model --------------------------------------------------------------------------------

ServerModel::ServerModel(nn::FixedModel model, const NetworkProfile& profile)
    : model_(std::move(model)), prepared_(std::make_unique<PreparedWeights>()) {
  auto t0 = std::chrono::steady_clock::now();
  plan_ = std::make_unique<ProtocolPlan>(model_.plan, profile);
  const auto& nodes = model_.plan.nodes;
  const auto& st = plan_->strategies();
  prepared_->conv.resize(nodes.size());
  prepared_->fc.resize(nodes.size());
  prepared_->bn.resize(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const FxNode& n = nodes[i];
    if (!is_he_op(n.op)) continue;
    const auto& e = model_.weights.entries.at(n.weight_index);
    if (n.op == FxOp::kConv) prepared_->conv[i] = linear::prepare_conv(*st.conv[i], e.w, e.b);
    if (n.op == FxOp::kGemm) prepared_->fc[i] = linear::prepare_fc(*st.fc[i], e.w, e.b);
    if (n.op == FxOp::kAffine) prepared_->bn[i] = linear::prepare_bn(*st.bn[i], e.w, e.b);
  }
  prepare_seconds_ = since(t0);
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
  h.he_params_id = p.he_params() ? p.he_params()->params_id() : 0;
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
  if (peer.he_params_id != mine.he_params_id) throw Error(ErrorCode::kProtocol, "handshake: HE parameter ids differ");
  if (peer.plan_hash != mine.plan_hash)
    throw Error(ErrorCode::kProtocol, "handshake: the peers' architecture/quantisation plans differ (hash mismatch)");
}

std::shared_ptr<const ProtocolPlan> decode_plan(std::span<const std::uint8_t> bytes) {
  if (bytes.size() > kMaxPlanBytes) throw Error(ErrorCode::kSizeLimit, "plan: larger than kMaxPlanBytes");
  std::string text(bytes.begin(), bytes.end());
  auto nl = text.find('\n');
  if (nl == std::string::npos) throw Error(ErrorCode::kMalformedInput, "plan: no strategy list");
  nn::FixedPlan fixed = nn::plan_from_json(text.substr(0, nl));
  std::vector<std::string> strategies;
  std::istringstream list(text.substr(nl + 1));
  for (std::string item; std::getline(list, item, ',');) strategies.push_back(item);
  auto plan = std::make_shared<const ProtocolPlan>(std::move(fixed), NetworkProfile::lan(), &strategies);
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

/// One party walking the program on shares.
class Executor {
 public:
  Executor(const ProtocolPlan& plan, mpc::MpcSession& s, const linear::HeClient* hc, const linear::HeServer* hs,
           const nn::FixedWeights* weights, const PreparedWeights* prep)
      : plan_(plan), p_(plan.fixed()), s_(s), hc_(hc), hs_(hs), w_(weights), prep_(prep), ring_(p_.ring_bits) {}

  bool server() const { return s_.is_server(); }

  void run(mpc::ArithShares input, PartyReport& rep) {
    vals_.assign(p_.values.size(), {});
    vals_[p_.input] = std::move(input);
    net::Channel& ch = s_.channel();
    for (std::size_t i = 0; i < p_.nodes.size(); ++i) {
      const FxNode& n = p_.nodes[i];
      auto st0 = ch.stats();
      auto t0 = std::chrono::steady_clock::now();
      vals_[n.output] = step(i, n);
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

  const mpc::ArithShares& in(const FxNode& n, std::size_t k) const { return vals_[n.inputs[k]]; }
  mpc::ArithShares wrap(std::vector<u64> v) const { return {ring_, std::move(v)}; }

  mpc::ArithShares step(std::size_t i, const FxNode& n) {
    net::Channel& ch = s_.channel();
    const auto& st = plan_.strategies();
    switch (n.op) {
      case FxOp::kConv:
        if (server()) return wrap(linear::conv2d_server(ch, *hs_, *st.conv[i], in(n, 0).v, prep_->conv[i], s_.prg()));
        return wrap(linear::conv2d_client(ch, *hc_, *st.conv[i], in(n, 0).v, s_.prg()));
      case FxOp::kGemm:
        if (server()) return wrap(linear::fc_server(ch, *hs_, *st.fc[i], in(n, 0).v, prep_->fc[i], s_.prg()));
        return wrap(linear::fc_client(ch, *hc_, *st.fc[i], in(n, 0).v, s_.prg()));
      case FxOp::kAffine:
        if (server()) return wrap(linear::bn_server(ch, *hs_, *st.bn[i], in(n, 0).v, prep_->bn[i], s_.prg()));
        return wrap(linear::bn_client(ch, *hc_, *st.bn[i], in(n, 0).v, s_.prg()));
      case FxOp::kTrunc:
        return mpc::truncate(s_, in(n, 0), n.shift, mpc::TruncMode::kExact,
                             n.nonneg ? mpc::MsbHint::kZero : mpc::MsbHint::kUnknown);
      case FxOp::kRelu: return mpc::relu(s_, in(n, 0));
      case FxOp::kAdd: return linear::residual_add(in(n, 0), in(n, 1));
      case FxOp::kSub: return mpc::sub(in(n, 0), in(n, 1));
      case FxOp::kAddConst: {
        mpc::ArithShares y = in(n, 0);
        if (server()) {
          const auto& c = w_->entries.at(n.weight_index).w;
          for (std::size_t k = 0; k < y.v.size(); ++k) y.v[k] = (y.v[k] + static_cast<u64>(c[k])) & ring_.mask;
        }
        return y;
      }
      case FxOp::kAddPublic: return mpc::add_public(in(n, 0), static_cast<u64>(n.constant) & ring_.mask, s_.party());
      case FxOp::kScaleUp: return mpc::mul_public(in(n, 0), u64{1} << n.shift);
      case FxOp::kSquare: return mpc::square(s_, in(n, 0));
      case FxOp::kMul: return mpc::mul(s_, in(n, 0), in(n, 1));
      case FxOp::kMaxPool: return maxpool(n);
      case FxOp::kAvgPool:
        return linear::avg_pool_sum(in(n, 0), at(n.C), at(n.H), at(n.W), at(n.kh), at(n.kw), at(n.sh), at(n.sw),
                                    at(n.pads[0]), at(n.pads[2]), at(n.pads[1]), at(n.pads[3]), p_.frac_bits,
                                    s_.party(), n.count_include_pad);
      case FxOp::kPad: {
        const nn::Shape& xs = p_.values[n.inputs[0]].shape;
        linear::Dims b(n.pads.begin(), n.pads.begin() + static_cast<std::ptrdiff_t>(xs.size()));
        linear::Dims e(n.pads.begin() + static_cast<std::ptrdiff_t>(xs.size()), n.pads.end());
        return linear::zero_pad(in(n, 0), dims_of(xs), b, e);
      }
      case FxOp::kSlice: {
        const nn::Shape& xs = p_.values[n.inputs[0]].shape;
        const nn::Shape& ys = p_.values[n.output].shape;
        std::vector<I64> ends(xs.size());
        for (std::size_t d = 0; d < xs.size(); ++d) ends[d] = ys[d] == 0 ? n.starts[d] : n.starts[d] + (ys[d] - 1) * n.steps[d] + 1;
        return linear::strided_slice(in(n, 0), dims_of(xs), n.starts, ends, n.steps);
      }
      case FxOp::kReshape:
        return linear::reshape(in(n, 0), dims_of(p_.values[n.inputs[0]].shape), dims_of(p_.values[n.output].shape));
      case FxOp::kConcat: {
        std::vector<mpc::ArithShares> parts;
        std::vector<linear::Dims> dims;
        for (std::size_t k = 0; k < n.inputs.size(); ++k) {
          parts.push_back(in(n, k));
          dims.push_back(dims_of(p_.values[n.inputs[k]].shape));
        }
        return linear::concat(parts, dims, at(n.axis));
      }
    }
    throw Error(ErrorCode::kInvalidArgument, "executor: unknown op");
  }

  /// Padded max-pool: pad the shares, the server puts −2^{ℓ−2} (below every planned value) at the
  /// padded positions, then the comparison tree of mpc::maxpool2d.
  mpc::ArithShares maxpool(const FxNode& n) {
    mpc::ArithShares x = in(n, 0);
    std::size_t H = at(n.H), W = at(n.W);
    bool padded = n.pads[0] || n.pads[1] || n.pads[2] || n.pads[3];
    if (padded) {
      linear::Dims d = {at(n.C), H, W};
      x = linear::zero_pad(x, d, {0, at(n.pads[0]), at(n.pads[1])}, {0, at(n.pads[2]), at(n.pads[3])});
      std::size_t Hp = H + at(n.pads[0] + n.pads[2]), Wp = W + at(n.pads[1] + n.pads[3]);
      if (server()) {
        const u64 low = static_cast<u64>(-(I64{1} << (p_.ring_bits - 2))) & ring_.mask;
        for (std::size_t c = 0; c < at(n.C); ++c)
          for (std::size_t h = 0; h < Hp; ++h)
            for (std::size_t w = 0; w < Wp; ++w) {
              bool inside = h >= at(n.pads[0]) && h < at(n.pads[0]) + H && w >= at(n.pads[1]) && w < at(n.pads[1]) + W;
              if (!inside) x.v[(c * Hp + h) * Wp + w] = low;
            }
      }
      H = Hp;
      W = Wp;
    }
    return mpc::maxpool2d(s_, x, at(n.C), H, W, at(n.kh), at(n.kw), at(n.sh), at(n.sw));
  }

  const ProtocolPlan& plan_;
  const nn::FixedPlan& p_;
  mpc::MpcSession& s_;
  const linear::HeClient* hc_;
  const linear::HeServer* hs_;
  const nn::FixedWeights* w_;
  const PreparedWeights* prep_;
  mpc::Ring ring_;
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

PartyReport serve_session(net::Channel& ch, const ServerModel& model, Prg& prg, mpc::OtBackend ot) {
  PartyReport rep;
  Mark m0 = mark(ch);
  const ProtocolPlan& plan = model.plan();
  const std::string& text = plan.wire_text();
  ch.send_frame({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  exchange_hello(ch, plan, mpc::Party::kServer, ot);
  std::optional<linear::HeServer> hs;
  if (plan.he_params()) hs = linear::he_server_setup(ch, plan.he_params());
  mpc::MpcSession s(ch, mpc::Party::kServer, prg, ot);
  ch.flush();
  Mark m1 = mark(ch);
  record_setup(rep, m0, m1);

  // The server's input share is 0: the client holds the whole quantised input.
  mpc::Ring ring(plan.fixed().ring_bits);
  mpc::ArithShares x{ring, std::vector<u64>(at(nn::element_count(plan.fixed().values[plan.fixed().input].shape)), 0)};
  Executor ex(plan, s, nullptr, hs ? &*hs : nullptr, &model.model().weights, &model.prepared());
  ex.run(std::move(x), rep);
  mpc::reveal_send(ch, ex.output());
  ch.flush();
  record_online(rep, m1, mark(ch));
  return rep;
}

ClientResult client_session(net::Channel& ch, const std::function<std::vector<float>(const nn::FixedPlan&)>& make_input,
                            Prg& prg, const std::array<std::uint8_t, 32>* expected, mpc::OtBackend ot) {
  ClientResult res;
  PartyReport& rep = res.report;
  Mark m0 = mark(ch);
  auto plan = detail::decode_plan(ch.recv_frame(kMaxPlanBytes));
  if (expected && *expected != plan->hash())
    throw Error(ErrorCode::kProtocol, "the server's model plan is not the one this client expects");
  res.plan = plan;
  exchange_hello(ch, *plan, mpc::Party::kClient, ot);
  std::optional<linear::HeClient> hc;
  if (plan->he_params()) hc = linear::he_client_setup(ch, plan->he_params(), prg);
  mpc::MpcSession s(ch, mpc::Party::kClient, prg, ot);
  ch.flush();
  record_setup(rep, m0, mark(ch));

  // The input is produced after the set-up so that a bad input is reported before any secret
  // flows; the session then ends with the error (the server sees the channel close).
  res.input_ring = nn::quantize_input(plan->fixed(), make_input(plan->fixed()));
  // The online phase starts once the input exists (make_input does no I/O on the channel).
  Mark m1 = mark(ch);
  mpc::Ring ring(plan->fixed().ring_bits);
  Executor ex(*plan, s, hc ? &*hc : nullptr, nullptr, nullptr, nullptr);
  ex.run(mpc::ArithShares{ring, res.input_ring}, rep);
  res.logits_ring = mpc::reveal_receive(ch, ex.output());
  record_online(rep, m1, mark(ch));
  res.logits = nn::dequantize(plan->fixed(), res.logits_ring);
  return res;
}

LocalRun run_local(const ServerModel& model,
                   const std::function<std::vector<float>(const nn::FixedPlan&)>& make_input,
                   const net::ChannelOptions& opts, mpc::OtBackend ot) {
  auto [cch, sch] = net::make_memory_pair(opts);
  LocalRun out;
  std::exception_ptr server_error, client_error;
  std::thread server([&, ch = std::move(sch)]() mutable {
    try {
      Prg prg = Prg::from_os();
      out.server = serve_session(*ch, model, prg, ot);
    } catch (...) {
      server_error = std::current_exception();
    }
    ch.reset();  // closing makes a client still waiting fail with kPeerClosed
  });
  try {
    Prg prg = Prg::from_os();
    out.client = client_session(*cch, make_input, prg, nullptr, ot);
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
