// local: the operations each party computes on its own shares without any message (residual add,
// subtraction, the server's private or public constants, products with public constants, scale-up,
// average-pool sums, pad, slice, reshape, concat, broadcast; linear/local_ops.hpp, nn/moves.hpp).
// Exact.
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/nn/moves.hpp"

namespace peregrine::engine::detail {
namespace {

using nn::FxOp;

bool is_local(FxOp op) {
  switch (op) {
    case FxOp::kAdd:
    case FxOp::kSub:
    case FxOp::kAddConst:
    case FxOp::kAddPublic:
    case FxOp::kMulPublic:
    case FxOp::kExpand:
    case FxOp::kScaleUp:
    case FxOp::kAvgPool:
    case FxOp::kPad:
    case FxOp::kSlice:
    case FxOp::kReshape:
    case FxOp::kConcat:
    case FxOp::kReduce: return true;
    default: return false;
  }
}

/// The server's private constant of an AddConst node, reduced into the ring.
struct PreparedConst final : Prepared {
  std::vector<std::uint64_t> c;
};

class Planned final : public PlannedLayer {
 public:
  Planned(const nn::FxNode& n, const nn::FixedPlan& p) : n_(n), frac_bits_(p.frac_bits) {
    for (std::size_t v : n.inputs) in_dims_.push_back(dims_of(p.values.at(v).shape));
    out_dims_ = dims_of(p.values.at(n.output).shape);
    in_shape_ = p.values.at(n.inputs.at(0)).shape;
    out_shape_ = p.values.at(n.output).shape;
    out_bits_ = p.values.at(n.output).ring_bits;
    mask_ = mpc::Ring(out_bits_).mask;
  }
  Cost cost() const override { return {}; }
  std::unique_ptr<Prepared> prepare(const nn::FixedWeights& w) const override {
    if (n_.op != FxOp::kAddConst) return nullptr;
    auto p = std::make_unique<PreparedConst>();
    for (std::int64_t v : weights_of(w, n_).w) p->c.push_back(static_cast<std::uint64_t>(v) & mask_);
    return p;
  }
  mpc::ArithShares run(PartyContext& c, std::span<const mpc::ArithShares* const> in,
                       const Prepared* prep) const override {
    const nn::FxNode& n = n_;
    const mpc::ArithShares& x = *in[0];
    switch (n.op) {
      case FxOp::kAdd: return linear::residual_add(x, *in[1]);
      case FxOp::kSub: return mpc::sub(x, *in[1]);
      case FxOp::kAddConst: {
        mpc::ArithShares y = x;
        if (c.is_server()) {
          const auto& k = static_cast<const PreparedConst&>(*prep).c;
          if (k.size() != y.v.size()) throw Error(ErrorCode::kInvalidArgument, "node '" + n.name + "': constant size");
          for (std::size_t i = 0; i < y.v.size(); ++i) y.v[i] = (y.v[i] + k[i]) & mask_;
        }
        return y;
      }
      case FxOp::kAddPublic: return mpc::add_public(x, static_cast<std::uint64_t>(n.public_const().constant) & mask_, c.party);
      case FxOp::kMulPublic: return mpc::mul_public(x, static_cast<std::uint64_t>(n.public_const().constant) & mask_);
      case FxOp::kExpand: {
        mpc::ArithShares y{x.ring, std::vector<std::uint64_t>(static_cast<std::size_t>(nn::element_count(out_shape_)))};
        nn::detail::expand_into(x.v, in_shape_, y.v, out_shape_);
        return y;
      }
      case FxOp::kScaleUp: return mpc::mul_public(x, std::uint64_t{1} << n.shift().shift);
      case FxOp::kAvgPool: {
        const auto& p = n.pool();
        return linear::avg_pool_sum(x, at(p.C), at(p.H), at(p.W), at(p.kh), at(p.kw), at(p.sh), at(p.sw),
                                    at(p.pads[0]), at(p.pads[2]), at(p.pads[1]), at(p.pads[3]), frac_bits_,
                                    c.party, p.count_include_pad);
      }
      case FxOp::kPad: {
        const std::size_t rank = in_dims_[0].size();
        const auto& pads = n.pad().pads;
        linear::Dims b(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(rank));
        linear::Dims e(pads.begin() + static_cast<std::ptrdiff_t>(rank), pads.end());
        return linear::zero_pad(x, in_dims_[0], b, e);
      }
      case FxOp::kSlice: {
        const auto& xs = in_dims_[0];
        const auto& [starts, steps] = n.slice();
        std::vector<std::int64_t> ends(xs.size());
        for (std::size_t d = 0; d < xs.size(); ++d) {
          const auto y = static_cast<std::int64_t>(out_dims_[d]);
          ends[d] = y == 0 ? starts[d] : starts[d] + (y - 1) * steps[d] + 1;
        }
        return linear::strided_slice(x, xs, starts, ends, steps);
      }
      case FxOp::kReshape: return linear::reshape(x, in_dims_[0], out_dims_);
      case FxOp::kReduce: {  // (x_0 mod 2^m) + (x_1 mod 2^m) = x mod 2^m: local
        mpc::ArithShares y{mpc::Ring(out_bits_), x.v};
        for (auto& v : y.v) v &= mask_;
        return y;
      }
      case FxOp::kConcat: {
        std::vector<mpc::ArithShares> parts;
        for (const mpc::ArithShares* p : in) parts.push_back(*p);
        return linear::concat(parts, in_dims_, at(n.concat().axis));
      }
      default: break;
    }
    throw Error(ErrorCode::kInvalidArgument, "local: node '" + n.name + "' is not a local op");
  }

 private:
  nn::FxNode n_;
  int frac_bits_;
  int out_bits_ = 64;
  std::uint64_t mask_ = 0;
  std::vector<linear::Dims> in_dims_;
  linear::Dims out_dims_;
  nn::Shape in_shape_, out_shape_;
};

class Local final : public Strategy {
 public:
  std::string_view name() const override { return "local"; }
  std::string_view summary() const override {
    return "local on shares, no message: add, sub, constants, public products, scale-up, average-pool sums, pad, slice, "
           "reshape, concat, broadcast, ring reduction";
  }
  bool applies(const nn::FxNode& n, const PlanContext&) const override { return is_local(n.op); }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    return std::make_unique<Planned>(n, ctx.plan);
  }
};

}  // namespace

const Strategy& strategy_local() {
  static const Local s;
  return s;
}

}  // namespace peregrine::engine::detail
