// The registry: every strategy the planner may choose, one line each (engine/strategy.hpp). Order is
// the planner's tie-break (the first of equal estimated cost wins).
#include <algorithm>
#include <string>

#include "peregrine/core/error.hpp"
#include "peregrine/engine/strategy.hpp"

#define PEREGRINE_STRATEGIES(X)   \
  X(cheetah_conv)                 \
  X(cheetah_conv_opencheetah)     \
  X(hequant_conv)                 \
  X(hequant_conv_k)               \
  X(hequant_conv_c)               \
  X(ot_conv)                      \
  X(ot_conv_f2)                   \
  X(ot_conv_f4)                   \
  X(falcon_dw)                    \
  X(falcon_pw)                    \
  X(cheetah_fc)                   \
  X(cheetah_bn)                   \
  X(falcon_bn)                    \
  X(relu_millionaire)             \
  X(relu_highbits)                \
  X(clip_millionaire)             \
  X(clip_highbits)                \
  X(clip_relu2)                   \
  X(trunc_exact)                  \
  X(trunc_exact_msb0)             \
  X(trunc_approx)                 \
  X(maxpool_tree)                 \
  X(square_gilboa)                \
  X(mul_gilboa)                   \
  X(extend_signed)                \
  X(extend_msb0)                  \
  X(local)

namespace peregrine::engine {

namespace detail {
#define PEREGRINE_DECLARE(id) const Strategy& strategy_##id();
PEREGRINE_STRATEGIES(PEREGRINE_DECLARE)
#undef PEREGRINE_DECLARE
}  // namespace detail

const std::vector<const Strategy*>& registry() {
#define PEREGRINE_LIST(id) &detail::strategy_##id(),
  static const std::vector<const Strategy*> all = {PEREGRINE_STRATEGIES(PEREGRINE_LIST)};
#undef PEREGRINE_LIST
  return all;
}

const Strategy* find_strategy(std::string_view name) {
  for (const Strategy* s : registry())
    if (s->name() == name) return s;
  return nullptr;
}

void check_strategy_names(const std::vector<std::string>& names) {
  std::string unknown;
  for (const auto& n : names)
    if (!find_strategy(n)) unknown += (unknown.empty() ? "'" : ", '") + n + "'";
  if (unknown.empty()) return;
  std::string known;
  for (const Strategy* s : registry()) known += (known.empty() ? "" : ", ") + std::string(s->name());
  throw Error(ErrorCode::kInvalidArgument, "unknown strategy " + unknown + " (registered: " + known + ")");
}

mpc::MpcSession& PartyContext::session() const {
  if (!mpc) throw Error(ErrorCode::kInvalidArgument, "strategy: this party context has no MPC session");
  return *mpc;
}
const linear::HeClient& PartyContext::client_he(const he::HeParams& p) const {
  for (const auto& c : he_clients)
    if (c.params->params_id() == p.params_id()) return c;
  throw Error(ErrorCode::kInvalidArgument, "strategy: the session holds no client key for these HE parameters");
}
const linear::HeServer& PartyContext::server_he(const he::HeParams& p) const {
  for (const auto& s : he_servers)
    if (s.params->params_id() == p.params_id()) return s;
  throw Error(ErrorCode::kInvalidArgument, "strategy: the session holds no server key for these HE parameters");
}

std::uint64_t Strategy::tolerance(const nn::FxNode&, const PlanContext&) const { return 0; }

double Cost::seconds(const NetworkProfile& p) const {
  return 8.0 * static_cast<double>(bytes_c2s + bytes_s2c) / p.bits_per_second +
         static_cast<double>(rounds) * p.rtt_seconds + compute_seconds;
}

const char* fidelity_name(Fidelity f) noexcept { return f == Fidelity::kApprox ? "approx" : "exact"; }

Fidelity parse_fidelity(std::string_view s) {
  if (s == "exact") return Fidelity::kExact;
  if (s == "approx") return Fidelity::kApprox;
  throw Error(ErrorCode::kInvalidArgument, "fidelity must be 'exact' or 'approx', not '" + std::string(s) + "'");
}

std::vector<std::vector<std::size_t>> value_consumers(const nn::FixedPlan& plan) {
  std::vector<std::vector<std::size_t>> c(plan.values.size());
  for (std::size_t i = 0; i < plan.nodes.size(); ++i)
    for (std::size_t v : plan.nodes[i].inputs)
      if (v < c.size() && (c[v].empty() || c[v].back() != i)) c[v].push_back(i);
  return c;
}

}  // namespace peregrine::engine
