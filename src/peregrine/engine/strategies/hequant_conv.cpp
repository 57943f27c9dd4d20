// hequant-conv, hequant-conv-k, hequant-conv-c: the convolutions of integer (QDQ) programs with
// HEQuant's intra-coefficient packing (linear/hequant_conv.hpp; TECHNIQUES.md §3.3–§3.7), one
// registered strategy per packed dimension so that each family can be forced (`--strategies`) and
// its best plan is listed beside the others:
//   hequant-conv    HW-pack: b output-row bands share each plaintext coefficient (b = 1: the conv in
//                   its accumulator's own small ring, the "lower ℓ only" point of §3.2);
//   hequant-conv-k  K-pack: b output channels per coefficient (packed kernels, fewer output ciphertexts);
//   hequant-conv-c  C-pack: b input channels per coefficient, Kronecker, top digit only (fewer input
//                   ciphertexts).
// All three also try the channel split of §3.6 (G = 1, 2, 4 groups, each with its own narrower B,
// the partials added after the extraction), and land every digit in the conv output's ring by the
// share-domain digit extraction. They apply where the input has a public bound (after a Clip, or the
// quantised input) so that the digit width B is a guarantee, and the input ring holds b·B bits.
//
// Quantisation-aware tiling (§3.7, reconstruction): for every (G, b) the inner conv gets Peregrine's
// byte-minimising Cheetah tile at t = 2^{max(13, bB)} and the smallest q that pays (smallest_q: a
// low-precision layer needs less q/t room, so its input ciphertexts shrink); packings whose kernels
// or noise do not fit are skipped; each candidate is scored by the planner's own cost (exact HE
// bytes and compute plus the digit extraction's OT estimate) for the session's network profile, and
// the cheapest is kept.
#include <optional>

#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/linear/hequant_conv.hpp"
#include "peregrine/mpc/cost.hpp"

namespace peregrine::engine::detail {
namespace {

constexpr int kMaxDigits = 4;
constexpr std::size_t kSplits[] = {1, 2, 4};  // channel groups with their own B (§3.6)

class HeQuantPlanned final : public PlannedLayer {
 public:
  HeQuantPlanned(const nn::FxNode& n, linear::HeQuantConvStrategy s, int out_bits, Cost c)
      : node_(n), s_(std::move(s)), out_bits_(out_bits), cost_(c) {}
  Cost cost() const override { return cost_; }
  std::vector<HeNeed> he_needs() const override { return {{s_.params(), {}}}; }
  std::vector<std::pair<std::string, std::uint64_t>> layout() const override {
    const auto& p = s_.inner().plan();
    const auto& t = s_.inner().tiling();
    return {{"n_in", p.n_in},        {"n_out", p.n_out()},       {"products", s_.he_cost().products},
            {"tile.Hw", t.Hw},       {"tile.Ww", t.Ww},           {"tile.Cw", t.Cw},
            {"tile.Mw", t.Mw},       {"pack.digits", static_cast<std::uint64_t>(s_.digits())},
            {"pack.digit_bits", static_cast<std::uint64_t>(s_.digit_bits())},
            {"pack.plain_bits", static_cast<std::uint64_t>(s_.plain_bits())},
            {"pack.band_rows", s_.band_rows()},
            {"pack.split", s_.packing().split},

            {"q_bits", modulus_bits(*s_.params())}};
  }
  std::unique_ptr<Prepared> prepare(const nn::FixedWeights& w) const override {
    const auto& e = weights_of(w, node_);
    return std::make_unique<Weights>(linear::prepare_hequant_conv(s_, e.w, e.b));
  }
  mpc::ArithShares run(PartyContext& c, std::span<const mpc::ArithShares* const> in, const Prepared* prep) const override {
    if (c.is_server())
      return linear::hequant_conv_server(c.session(), c.server_he(*s_.params()), s_, *in[0],
                                         static_cast<const Weights&>(*prep).w, out_bits_);
    return linear::hequant_conv_client(c.session(), c.client_he(*s_.params()), s_, *in[0], out_bits_);
  }
  std::size_t prepared_bytes() const override {
    const he::HeParams& hp = *s_.params();
    return s_.inner().plan().n_kernels * hp.n() * hp.levels() * sizeof(std::uint64_t);
  }

 private:
  struct Weights final : Prepared {
    explicit Weights(linear::PreparedHeQuantConv p) : w(std::move(p)) {}
    std::size_t bytes() const override {
      std::size_t b = w.bias.size() * sizeof(std::int64_t);
      for (const auto& k : w.inner.kernels) b += k.poly.data.size() * sizeof(std::uint64_t);
      return b;
    }
    linear::PreparedHeQuantConv w;
  };
  nn::FxNode node_;
  linear::HeQuantConvStrategy s_;
  int out_bits_;
  Cost cost_;
};

// Exact HE bytes and compute of the packed conv plus the digit extraction's OT estimate.
Cost cost_of(const linear::HeQuantConvStrategy& s, int out_bits, const NetworkProfile& profile) {
  Cost c = he_layer_cost(s.he_cost(), s.inner().plan());
  c += ot_cost(
      mpc::extract_digits_cost(s.packed_count(), s.digit_bits(), s.digits(), out_bits, profile.ot, s.first_digit()));
  return c;
}

class HeQuantConv final : public Strategy {
 public:
  HeQuantConv(std::string_view name, std::string_view summary, linear::PackDim dim)
      : name_(name), summary_(summary), dim_(dim) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override { return summary_; }
  bool applies(const nn::FxNode& n, const PlanContext& ctx) const override {
    if (n.op != nn::FxOp::kConv) return false;
    const auto X = public_bound(n.inputs.at(0), ctx);
    if (!X) return false;
    const linear::Conv2dMeta meta = conv_meta(n);
    const int b_min = dim_ == linear::PackDim::kHW ? 1 : 2;
    const std::size_t extent = dim_ == linear::PackDim::kK   ? meta.M / meta.groups
                               : dim_ == linear::PackDim::kC ? meta.C / meta.groups
                                                             : meta.out_h();
    const int ell = linear::HeQuantConvStrategy::plain_bits(linear::HeQuantConvStrategy::digit_bits(meta, *X), b_min);
    return extent >= static_cast<std::size_t>(b_min) && ell <= 44 && ell <= ctx.ring(n.inputs.at(0));
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    const linear::Conv2dMeta meta = conv_meta(n);
    const std::uint64_t X = public_bound(n.inputs.at(0), ctx).value();
    const int in_bits = ctx.ring(n.inputs.at(0)), out_bits = ctx.ring(n.output);
    // The packing is chosen for the LAN reference profile, whatever the session's: the client
    // re-plans from the strategy names alone (engine.cpp, decode_plan, with NetworkProfile::lan()),
    // so a choice that followed the server's --net or --ot would give the peers different layouts.
    const NetworkProfile ref = NetworkProfile::lan();
    std::optional<linear::HeQuantConvStrategy> best;
    double best_s = 0;
    for (const std::size_t split : kSplits) {
      if (meta.C % split != 0 || (split > 1 && meta.groups != 1)) continue;
      const int B = linear::HeQuantConvStrategy::digit_bits(linear::HeQuantConvStrategy::split_meta(meta, split), X);
      for (int b = dim_ == linear::PackDim::kHW ? 1 : 2; b <= kMaxDigits; ++b) {
        const int ell = linear::HeQuantConvStrategy::plain_bits(B, b);
        if (ell > 44 || ell > in_bits) break;
        const linear::HeQuantPacking pack{b, dim_, split};
        std::optional<linear::HeQuantConvStrategy> s;
        try {
          s.emplace(smallest_q(
              ell, [&](he::HeParamsPtr p) { return linear::HeQuantConvStrategy(meta, X, pack, std::move(p)); },
              [](const linear::HeQuantConvStrategy& st) {
                return st.he_cost().bytes_client_to_server + st.he_cost().bytes_server_to_client;
              }));
        } catch (const Error& e) {
          if (e.code() != ErrorCode::kUnsupported) throw;
          break;  // b beyond the packed dimension, packed kernels too wide, or no tile can be flooded
        }
        const double sec = cost_of(*s, out_bits, ref).seconds(ref);
        if (!best || sec < best_s) {
          best_s = sec;
          best.emplace(std::move(*s));
        }
      }
    }
    if (!best) throw Error(ErrorCode::kUnsupported, std::string(name_) + ": no packing fits node '" + n.name + "'");
    const Cost c = cost_of(*best, out_bits, ctx.profile);
    return std::make_unique<HeQuantPlanned>(n, std::move(*best), out_bits, c);
  }

 private:
  std::string_view name_, summary_;
  linear::PackDim dim_;
};

}  // namespace

const Strategy& strategy_hequant_conv() {
  static const HeQuantConv s("hequant-conv",
                             "HE conv of integer programs, HEQuant spatial intra-coefficient packing (b row bands as "
                             "base-2^B digits) + share-domain digit extraction (HEQuant; TECHNIQUES.md §3.3-§3.7)",
                             linear::PackDim::kHW);
  return s;
}

const Strategy& strategy_hequant_conv_k() {
  static const HeQuantConv s("hequant-conv-k",
                             "HE conv of integer programs, HEQuant output-channel packing (b filters per coefficient, "
                             "packed kernels) + digit extraction (HEQuant; TECHNIQUES.md §3.3-§3.7)",
                             linear::PackDim::kK);
  return s;
}

const Strategy& strategy_hequant_conv_c() {
  static const HeQuantConv s("hequant-conv-c",
                             "HE conv of integer programs, HEQuant input-channel (Kronecker) packing, top digit "
                             "extracted (HEQuant; TECHNIQUES.md §3.3-§3.7)",
                             linear::PackDim::kC);
  return s;
}

}  // namespace peregrine::engine::detail
