// Internal helpers shared by the strategy adapters of engine/strategies/ (not a public header).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "peregrine/core/error.hpp"
#include "peregrine/engine/strategy.hpp"
#include "peregrine/linear/he_layer.hpp"
#include "peregrine/linear/local_ops.hpp"
#include "peregrine/mpc/cost.hpp"

namespace peregrine::engine::detail {

inline std::size_t at(std::int64_t v) { return static_cast<std::size_t>(v); }

inline linear::Dims dims_of(const nn::Shape& s) {
  linear::Dims d;
  for (std::int64_t v : s) d.push_back(at(v));
  return d;
}

inline std::size_t output_count(const nn::FxNode& n, const PlanContext& ctx) {
  return at(nn::element_count(ctx.plan.values.at(n.output).shape));
}

/// Cost of a coefficient-encoded HE layer: its exact bytes, one round, and compute from its
/// product and ciphertext counts (this machine class, one core: 6 µs per ciphertext × plaintext
/// product in the NTT domain, 0.2 ms per ciphertext moved, i.e. encrypted or decrypted).
inline Cost he_layer_cost(const linear::LayerCost& c, const linear::CoeffLayerPlan& plan) {
  constexpr double kSecondsPerProduct = 6e-6, kSecondsPerCiphertext = 2e-4;
  Cost k;
  k.bytes_c2s = c.bytes_client_to_server;
  k.bytes_s2c = c.bytes_server_to_client;
  k.rounds = 1;
  k.compute_seconds = kSecondsPerProduct * static_cast<double>(c.products) +
                      kSecondsPerCiphertext * static_cast<double>(plan.n_in + plan.products.size());
  k.exact_bytes = true;
  return k;
}

/// Cost of an OT-based protocol from its mpc/cost.hpp estimate.
inline Cost ot_cost(const mpc::ProtocolCost& p) {
  Cost k;
  k.bytes_c2s = static_cast<std::uint64_t>(p.bytes_c2s);
  k.bytes_s2c = static_cast<std::uint64_t>(p.bytes_s2c);
  k.rounds = p.rounds;
  k.compute_seconds = p.seconds;
  return k;
}

/// The server's share of a node's weights entry, or kInvalidArgument when the plan's index is out
/// of range of the weights (a server-side model inconsistency).
inline const nn::FixedWeights::Entry& weights_of(const nn::FixedWeights& w, const nn::FxNode& n) {
  if (n.weight_index >= w.entries.size())
    throw Error(ErrorCode::kInvalidArgument, "node '" + n.name + "': weight index out of range");
  return w.entries[n.weight_index];
}

/// A planned layer whose driver is a function of (context, inputs): OT protocols and local moves.
template <class F>
class FnLayer final : public PlannedLayer {
 public:
  FnLayer(Cost c, F f) : cost_(c), f_(std::move(f)) {}
  Cost cost() const override { return cost_; }
  mpc::ArithShares run(PartyContext& ctx, std::span<const mpc::ArithShares* const> in, const Prepared*) const override {
    return f_(ctx, in);
  }

 private:
  Cost cost_;
  F f_;
};

template <class F>
std::unique_ptr<PlannedLayer> fn_layer(Cost c, F f) {
  return std::make_unique<FnLayer<F>>(c, std::move(f));
}

}  // namespace peregrine::engine::detail
