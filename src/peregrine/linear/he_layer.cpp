#include "peregrine/linear/he_layer.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "peregrine/core/error.hpp"
#include "peregrine/he/serialize.hpp"

namespace peregrine::linear {

namespace {

/// Largest serialised public key we accept (p0 and p1 unseeded at the top level, plus headers).
std::size_t public_key_limit(const he::HeParams& p) {
  return 2 * he::ciphertext_bytes(p, p.levels(), false) + 256;
}

/// Sum of the decryption-error terms at the 60-bit modulus (NOISE.md, Cheetah parameter set).
double response_error(const he::HeParams& p, double noise_bound, int flood_bits, int d0, int d1) {
  const double n = static_cast<double>(p.n());
  const double q1 = static_cast<double>(p.spec().coeff_primes[1]);
  const double enc0 = 21.0 * (2.0 * n + 1.0);
  const double flood = (std::ldexp(1.0, flood_bits) + noise_bound + enc0) / q1 + 1.0;
  const double ms = (1.0 + n) / 2.0;  // mod-switch rounding, worst case ‖s‖₁ ≤ N
  const double c0 = d0 > 0 ? std::ldexp(1.0, d0 - 1) : 0.0;
  const double c1 = d1 > 0 ? 7.3 * std::ldexp(1.0, d1 - 1) / std::sqrt(3.0) * std::sqrt(2.0 * n / 3.0) : 0.0;
  return flood + ms + c0 + c1;
}

// Ciphertexts a driver handles per parallel step: 2T with T > 1 workers (enough items to balance
// them), one on a single thread (the on-demand kernels of one output at a time, as before threads).
std::size_t work_batch(const core::Workers* w) { return w != nullptr && w->size() > 1 ? 2 * w->size() : 1; }

}  // namespace

double product_noise_bound(std::span<const std::size_t> taps, double wmax) {
  double sum_taps = 0, rounding = 0;
  for (std::size_t t : taps) {
    sum_taps += static_cast<double>(t);
    rounding += (static_cast<double>(t) * wmax + 1.0) / 2.0;
  }
  return std::max(1.0, 7.4 * std::sqrt(10.5 * sum_taps) * wmax + rounding);
}

std::vector<he::PlaintextNtt> prepare_kernels(
    const he::HeParamsPtr& params, std::size_t count,
    const std::function<void(std::size_t, std::span<std::int64_t>)>& fill) {
  he::CoeffEncoder encoder(params);
  he::Evaluator ev(params);
  std::vector<std::int64_t> poly(params->n());
  std::vector<he::PlaintextNtt> out;
  out.reserve(count);
  for (std::size_t k = 0; k < count; ++k) {
    std::fill(poly.begin(), poly.end(), 0);
    fill(k, poly);
    out.push_back(make_kernel(encoder, ev, poly));
  }
  return out;
}

he::PlaintextNtt make_kernel(const he::CoeffEncoder& encoder, const he::Evaluator& ev, std::span<const std::int64_t> poly) {
  return ev.prepare(encoder.encode_signed(poly));
}

struct KernelSource::Maker {
  Maker(he::HeParamsPtr p, Fill f) : encoder(p), ev(p), fill(std::move(f)), poly(p->n()) {}
  he::CoeffEncoder encoder;
  he::Evaluator ev;
  Fill fill;
  std::vector<std::int64_t> poly;
  std::map<std::size_t, he::PlaintextNtt> cache;  // node-based: references stay valid on insertion
};

KernelSource::KernelSource(std::span<const he::PlaintextNtt> prepared) : prepared_(prepared), count_(prepared.size()) {}

KernelSource::KernelSource(he::HeParamsPtr params, std::size_t count, Fill fill)
    : count_(count), maker_(std::make_unique<Maker>(std::move(params), std::move(fill))) {}

KernelSource::~KernelSource() = default;

const he::PlaintextNtt& KernelSource::get(std::size_t k) {
  require(k < count_, ErrorCode::kInvalidArgument, "kernel source: kernel index out of range");
  if (!maker_) return prepared_[k];
  auto it = maker_->cache.find(k);
  if (it == maker_->cache.end()) {
    std::fill(maker_->poly.begin(), maker_->poly.end(), 0);
    maker_->fill(k, maker_->poly);
    it = maker_->cache.emplace(k, make_kernel(maker_->encoder, maker_->ev, maker_->poly)).first;
    ++made_;
  }
  return it->second;
}

void KernelSource::ensure(std::span<const Product> products, core::Workers* workers) {
  for (const Product& pr : products)
    require(pr.kernel < count_, ErrorCode::kInvalidArgument, "kernel source: kernel index out of range");
  if (!maker_) return;
  std::vector<std::size_t> missing;
  for (const Product& pr : products)
    if (maker_->cache.count(pr.kernel) == 0) missing.push_back(pr.kernel);
  std::sort(missing.begin(), missing.end());
  missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
  std::vector<he::PlaintextNtt> made(missing.size());
  core::for_each(workers, missing.size(), [&](std::size_t i) {
    std::vector<std::int64_t> poly(maker_->poly.size(), 0);
    maker_->fill(missing[i], poly);
    made[i] = make_kernel(maker_->encoder, maker_->ev, poly);
  });
  for (std::size_t i = 0; i < missing.size(); ++i) maker_->cache.emplace(missing[i], std::move(made[i]));
  made_ += missing.size();
}

void KernelSource::retain(std::span<const Product> next) {
  if (!maker_) return;
  for (auto it = maker_->cache.begin(); it != maker_->cache.end();) {
    const bool used = std::any_of(next.begin(), next.end(), [&](const Product& p) { return p.kernel == it->first; });
    it = used ? std::next(it) : maker_->cache.erase(it);
  }
}

std::vector<u64> reduce_mod_t(const he::HeParams& params, std::span<const std::int64_t> bias) {
  std::vector<u64> out(bias.size());
  for (std::size_t i = 0; i < bias.size(); ++i) out[i] = static_cast<u64>(bias[i]) & (params.t() - 1);
  return out;
}

void add_bias(const he::HeParams& params, std::span<u64> y, std::span<const u64> bias, std::size_t outer,
              std::size_t inner) {
  if (bias.empty()) return;
  const std::size_t C = bias.size();
  require(y.size() == outer * C * inner, ErrorCode::kInvalidArgument, "add_bias: output size differs from the bias layout");
  const u64 tmask = params.t() - 1;
  for (std::size_t o = 0; o < outer; ++o)
    for (std::size_t c = 0; c < C; ++c) {
      u64* row = y.data() + (o * C + c) * inner;
      for (std::size_t k = 0; k < inner; ++k) row[k] = (row[k] + bias[c]) & tmask;
    }
}

std::size_t CoeffLayerPlan::products_count() const noexcept {
  std::size_t c = 0;
  for (const auto& p : products) c += p.size();
  return c;
}

std::optional<ResponseParams> try_response_params(const he::HeParams& p, double noise_bound, std::size_t kept) {
  require(p.levels() == 2 && p.t_is_power_of_two() && p.spec().special_prime == 0,
          ErrorCode::kInvalidArgument, "choose_response_params: needs the two-prime Cheetah parameters");
  require(noise_bound >= 1, ErrorCode::kInvalidArgument, "choose_response_params: noise bound must be >= 1");
  ResponseParams rp;
  rp.flood_bits = static_cast<int>(std::ceil(std::log2(noise_bound))) + 40;
  if (rp.flood_bits > he::kMaxFloodBits) return std::nullopt;
  const u64 q0 = p.spec().coeff_primes[0];
  const double budget = static_cast<double>(q0 / p.t()) / 4.0;  // Δ'/4: one bit of margin
  const int logq = static_cast<int>(std::log2(static_cast<double>(q0))) + 1;
  std::size_t best = SIZE_MAX;
  for (int d1 = 0; d1 < logq; ++d1)
    for (int d0 = 0; d0 < logq; ++d0) {
      if (response_error(p, noise_bound, rp.flood_bits, d0, d1) >= budget) break;  // grows with d0
      const std::size_t b = he::trimmed_bytes(p, d0, d1, kept);
      if (b < best) {
        best = b;
        rp.d0 = d0;
        rp.d1 = d1;
      }
    }
  if (best == SIZE_MAX) return std::nullopt;
  return rp;
}

ResponseParams choose_response_params(const he::HeParams& p, double noise_bound, std::size_t kept) {
  const auto rp = try_response_params(p, noise_bound, kept);
  require(rp.has_value(), ErrorCode::kUnsupported,
          "layer too large for N = 4096 responses: flood plus rounding exceed the decryption bound "
          "(use a smaller ring or fewer weight bits)");
  return *rp;
}

LayerCost layer_cost(const he::HeParams& p, const CoeffLayerPlan& plan, const ResponseParams& rp) {
  constexpr std::size_t kFrameHeader = net::kFrameHeaderBytes;
  LayerCost c;
  c.bytes_client_to_server = plan.n_in * (kFrameHeader + he::ciphertext_bytes(p, p.levels(), true));
  for (const auto& v : plan.valid) c.bytes_server_to_client += kFrameHeader + he::trimmed_bytes(p, rp.d0, rp.d1, v.size());
  c.products = plan.products_count();
  return c;
}

HeClient he_client_setup(net::Channel& ch, he::HeParamsPtr params, Prg& prg,
                         std::span<const std::uint64_t> galois_elements) {
  HeClient c{params, {}};
  he::KeyGenerator kg(params);
  c.sk = kg.secret_key(prg);
  const he::PublicKey pk = kg.public_key(c.sk, prg);
  ch.send_frame(he::serialize(*params, pk));
  if (!galois_elements.empty()) {
    const std::vector<std::uint64_t> elts(galois_elements.begin(), galois_elements.end());
    ch.send_frame(he::serialize(*params, kg.galois_keys(c.sk, elts, prg)));
  }
  ch.flush();
  return c;
}

HeServer he_server_setup(net::Channel& ch, he::HeParamsPtr params, std::span<const std::uint64_t> galois_elements) {
  const auto bytes = ch.recv_frame(public_key_limit(*params));
  HeServer s{params, he::deserialize_public_key(*params, bytes), {}};
  if (!galois_elements.empty()) {
    const auto gb = ch.recv_frame(he::galois_keys_bytes(*params, galois_elements.size()));
    s.galois = he::deserialize_galois_keys(*params, gb);
    bool same = s.galois.keys.size() == galois_elements.size();
    for (std::uint64_t g : galois_elements) same = same && s.galois.keys.count(g) == 1;
    if (!same) throw Error(ErrorCode::kProtocol, "set-up: the client's Galois keys are for other rotations than the plan's");
  }
  return s;
}

std::vector<u64> run_client(net::Channel& ch, const HeClient& he, const CoeffLayerPlan& plan,
                            const ResponseParams& rp, std::span<const std::vector<u64>> input, Prg& prg) {
  const he::HeParams& P = *he.params;
  require(input.size() == plan.n_in, ErrorCode::kInvalidArgument, "run_client: wrong number of input polynomials");
  for (const auto& poly : input)
    require(poly.size() == P.n(), ErrorCode::kInvalidArgument, "run_client: input polynomial must have N values");
  he::CoeffEncoder encoder(he.params);
  he::Encryptor enc(he.params, he.sk);
  // Batches of work_batch ciphertexts: encrypted (each from its own forked PRG) or decrypted in
  // parallel, moved in order.
  const std::size_t batch = work_batch(he.workers);
  std::vector<Seed> seeds(plan.n_in);
  for (auto& sd : seeds) sd = prg.next_seed();
  std::vector<std::vector<std::uint8_t>> frames(std::min(batch, std::max(plan.n_in, plan.n_out())));
  for (std::size_t b0 = 0; b0 < plan.n_in; b0 += batch) {
    const std::size_t nb = std::min(batch, plan.n_in - b0);
    core::for_each(he.workers, nb, [&](std::size_t i) {
      Prg ct_prg = Prg::from_seed(seeds[b0 + i]);
      frames[i] = he::serialize(P, enc.encrypt_symmetric(encoder.encode(input[b0 + i]), ct_prg));
    });
    for (std::size_t i = 0; i < nb; ++i) ch.send_frame(frames[i]);
  }
  ch.flush();

  he::Decryptor dec(he.params, he.sk);
  std::vector<u64> out(plan.out_size, 0);
  for (std::size_t b0 = 0; b0 < plan.n_out(); b0 += batch) {
    const std::size_t nb = std::min(batch, plan.n_out() - b0);
    for (std::size_t i = 0; i < nb; ++i)
      frames[i] = ch.recv_frame(he::trimmed_bytes(P, rp.d0, rp.d1, plan.valid[b0 + i].size()));
    core::for_each(he.workers, nb, [&](std::size_t i) {
      const std::size_t o = b0 + i;
      const auto& v = plan.valid[o];
      const he::TrimmedCiphertext tr = he::deserialize_trimmed(P, frames[i], v.size());
      require(tr.d0 == rp.d0 && tr.d1 == rp.d1, ErrorCode::kMalformedInput,
              "run_client: response dropped a different number of bits than the plan");
      const std::vector<u64> vals = dec.decrypt_trimmed(tr, v);
      for (std::size_t k = 0; k < v.size(); ++k) out[plan.out_index[o][k]] = vals[k];
    });
  }
  return out;
}

std::vector<u64> run_server(net::Channel& ch, const HeServer& he, const CoeffLayerPlan& plan,
                            const ResponseParams& rp, std::span<const std::vector<u64>> input,
                            std::span<const he::PlaintextNtt> kernels, Prg& prg) {
  KernelSource source(kernels);
  return run_server(ch, he, plan, rp, input, source, prg);
}

std::vector<u64> run_server(net::Channel& ch, const HeServer& he, const CoeffLayerPlan& plan,
                            const ResponseParams& rp, std::span<const std::vector<u64>> input,
                            KernelSource& kernels, Prg& prg) {
  const he::HeParams& P = *he.params;
  const std::size_t N = P.n(), top = P.levels();
  require(input.size() == plan.n_in && kernels.size() == plan.n_kernels, ErrorCode::kInvalidArgument,
          "run_server: input or kernel count differs from the plan");
  for (const auto& poly : input)
    require(poly.size() == N, ErrorCode::kInvalidArgument, "run_server: input polynomial must have N values");

  // Inputs: validated (size-bounded frame, params id, coefficient ranges, level) before use.
  const std::size_t max_ct = he::ciphertext_bytes(P, top, false);
  std::vector<he::Ciphertext> cts;
  cts.reserve(plan.n_in);
  for (std::size_t i = 0; i < plan.n_in; ++i) {
    he::Ciphertext ct = he::deserialize_ciphertext(P, ch.recv_frame(max_ct));
    require(ct.level() == top, ErrorCode::kMalformedInput, "run_server: input ciphertext not at the top level");
    cts.push_back(std::move(ct));
  }
  std::vector<u64> share = server_responses(he, plan, rp, std::move(cts), input, kernels, prg,
                                            [&](std::size_t, const he::TrimmedCiphertext& r) {
                                              ch.send_frame(he::serialize(P, r));
                                            });
  ch.flush();
  return share;
}

std::vector<u64> server_responses(const HeServer& he, const CoeffLayerPlan& plan, const ResponseParams& rp,
                                  std::vector<he::Ciphertext> cts, std::span<const std::vector<u64>> input,
                                  std::span<const he::PlaintextNtt> kernels, Prg& prg,
                                  const std::function<void(std::size_t, const he::TrimmedCiphertext&)>& emit) {
  KernelSource source(kernels);
  return server_responses(he, plan, rp, std::move(cts), input, source, prg, emit);
}

std::vector<u64> server_responses(const HeServer& he, const CoeffLayerPlan& plan, const ResponseParams& rp,
                                  std::vector<he::Ciphertext> cts, std::span<const std::vector<u64>> input,
                                  KernelSource& kernels, Prg& prg,
                                  const std::function<void(std::size_t, const he::TrimmedCiphertext&)>& emit) {
  const he::HeParams& P = *he.params;
  const std::size_t N = P.n(), top = P.levels();
  require(cts.size() == plan.n_in && input.size() == plan.n_in && kernels.size() == plan.n_kernels,
          ErrorCode::kInvalidArgument, "server_responses: ciphertext, input or kernel count differs from the plan");
  for (std::size_t i = 0; i < plan.n_in; ++i)
    require(cts[i].level() == top && input[i].size() == N, ErrorCode::kInvalidArgument,
            "server_responses: input ciphertext or polynomial of the wrong shape");
  for (const auto& prods : plan.products)
    for (const Product& pr : prods)
      require(pr.in < cts.size() && pr.kernel < kernels.size(), ErrorCode::kInvalidArgument,
              "run_server: plan refers to a missing input or kernel");
  he::CoeffEncoder encoder(he.params);
  he::Evaluator ev(he.params);
  // The server's share added to the client's encryption of its share, in NTT form.
  core::for_each(he.workers, plan.n_in, [&](std::size_t i) {
    ev.add_plain_inplace(cts[i], encoder.encode(input[i]));
    ev.to_ntt(cts[i]);
  });

  // One PRG per output ciphertext (mask, Enc(0), flood), forked in order: the same responses for
  // every thread count.
  std::vector<Seed> seeds(plan.n_out());
  for (auto& sd : seeds) sd = prg.next_seed();
  std::vector<u64> share(plan.out_size, 0);
  // Output o: Σ ct × kernel − mask, re-randomised, flooded, mod-switched, trimmed; its share
  // positions (disjoint across outputs) written.
  auto respond = [&](std::size_t o) {
    Prg out_prg = Prg::from_seed(seeds[o]);
    he::Ciphertext acc;
    if (plan.products[o].empty()) {  // all-zero kernels: an encryption of 0 before masking
      acc.params_id = P.params_id();
      acc.c0 = math::RnsPoly(N, top, true);
      acc.c1 = math::RnsPoly(N, top, true);
    } else {
      std::vector<const he::Ciphertext*> terms_ct;
      std::vector<const he::PlaintextNtt*> terms_pt;
      for (const Product& pr : plan.products[o]) {
        terms_ct.push_back(&cts[pr.in]);
        terms_pt.push_back(&kernels.get(pr.kernel));
      }
      acc = ev.dot_plain(terms_ct, terms_pt);
    }
    ev.from_ntt(acc);
    std::vector<u64> mask(N);
    for (auto& r : mask) r = out_prg.uniform_below(P.t());
    ev.sub_plain_inplace(acc, encoder.encode(mask));
    ev.rerandomize_and_flood_inplace(acc, he.pk, rp.flood_bits, out_prg);
    ev.mod_switch_to_inplace(acc, 1);
    const auto& v = plan.valid[o];
    for (std::size_t k = 0; k < v.size(); ++k) share[plan.out_index[o][k]] = mask[v[k]];
    return ev.trim(acc, rp.d0, rp.d1, v);
  };
  // Batches of work_batch outputs: their kernels made first (on demand), then the outputs in
  // parallel, then emitted in order; only the next batch's kernels stay cached.
  const std::size_t batch = work_batch(he.workers);
  auto batch_products = [&](std::size_t b0) {
    std::vector<Product> prods;
    for (std::size_t o = b0; o < std::min(b0 + batch, plan.n_out()); ++o)
      prods.insert(prods.end(), plan.products[o].begin(), plan.products[o].end());
    return prods;
  };
  std::vector<he::TrimmedCiphertext> responses(batch);
  std::vector<Product> prods = batch_products(0);
  for (std::size_t b0 = 0; b0 < plan.n_out(); b0 += batch) {
    const std::size_t nb = std::min(batch, plan.n_out() - b0);
    kernels.ensure(prods, he.workers);
    core::for_each(he.workers, nb, [&](std::size_t i) { responses[i] = respond(b0 + i); });
    prods = batch_products(b0 + batch);
    kernels.retain(prods);
    for (std::size_t i = 0; i < nb; ++i) emit(b0 + i, responses[i]);
  }
  return share;
}

}  // namespace peregrine::linear
