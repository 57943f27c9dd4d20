#include "peregrine/he/encoder.hpp"

namespace peregrine::he {

Plaintext CoeffEncoder::encode(std::span<const u64> values) const {
  require(values.size() <= params_->n(), ErrorCode::kInvalidArgument, "more values than N");
  Plaintext pt;
  pt.params_id = params_->params_id();
  pt.coeffs.assign(params_->n(), 0);
  for (std::size_t i = 0; i < values.size(); ++i) {
    require(values[i] < params_->t(), ErrorCode::kInvalidArgument, "value ≥ t");
    pt.coeffs[i] = values[i];
  }
  return pt;
}

Plaintext CoeffEncoder::encode_signed(std::span<const std::int64_t> values) const {
  require(values.size() <= params_->n(), ErrorCode::kInvalidArgument, "more values than N");
  const u64 t = params_->t();
  Plaintext pt;
  pt.params_id = params_->params_id();
  pt.coeffs.assign(params_->n(), 0);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::int64_t v = values[i];
    const u64 mag = v < 0 ? static_cast<u64>(-(v + 1)) + 1 : static_cast<u64>(v);
    const u64 r = mag % t;
    pt.coeffs[i] = (v < 0 && r) ? t - r : r;
  }
  return pt;
}

std::vector<u64> CoeffEncoder::decode(const Plaintext& pt) const {
  params_->check_id(pt.params_id, "plaintext");
  return std::vector<u64>(pt.coeffs.begin(), pt.coeffs.end());
}

std::vector<std::int64_t> CoeffEncoder::decode_signed(const Plaintext& pt) const {
  params_->check_id(pt.params_id, "plaintext");
  const u64 t = params_->t();
  std::vector<std::int64_t> out(pt.coeffs.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const u64 v = pt.coeffs[i];
    out[i] = v >= t - t / 2 ? -static_cast<std::int64_t>(t - v) : static_cast<std::int64_t>(v);
  }
  return out;
}

BatchEncoder::BatchEncoder(HeParamsPtr params) : params_(std::move(params)) {
  require(params_->plain_ntt() != nullptr, ErrorCode::kInvalidArgument,
          "batch encoding needs a prime t ≡ 1 (mod 2N)");
  const std::size_t n = params_->n(), two_n = 2 * n, half = n / 2;
  const int log_n = params_->plain_ntt()->log_n;
  slot_to_ntt_.resize(n);
  std::size_t g = 1;
  for (std::size_t i = 0; i < half; ++i) {
    // NTT output j holds m(ψ^(2·rev(j)+1)), so exponent e sits at rev((e−1)/2).
    slot_to_ntt_[i] = math::bit_reverse((g - 1) / 2, log_n);
    slot_to_ntt_[half + i] = math::bit_reverse((two_n - g - 1) / 2, log_n);
    g = (g * 3) & (two_n - 1);
  }
}

Plaintext BatchEncoder::encode(std::span<const u64> values) const {
  require(values.size() <= params_->n(), ErrorCode::kInvalidArgument, "more values than slots");
  Plaintext pt;
  pt.params_id = params_->params_id();
  pt.coeffs.assign(params_->n(), 0);
  for (std::size_t i = 0; i < values.size(); ++i) {
    require(values[i] < params_->t(), ErrorCode::kInvalidArgument, "slot value ≥ t");
    pt.coeffs[slot_to_ntt_[i]] = values[i];
  }
  math::ntt_inverse(pt.coeffs.data(), *params_->plain_ntt());
  return pt;
}

std::vector<u64> BatchEncoder::decode(const Plaintext& pt) const {
  params_->check_id(pt.params_id, "plaintext");
  require(pt.coeffs.size() == params_->n(), ErrorCode::kInvalidArgument, "plaintext size is not N");
  AlignedU64 e = pt.coeffs;
  math::ntt_forward(e.data(), *params_->plain_ntt());
  std::vector<u64> out(params_->n());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = e[slot_to_ntt_[i]];
  return out;
}

}  // namespace peregrine::he
