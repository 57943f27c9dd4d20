// The shared machinery of every coefficient-encoded HE linear layer on shares (conv, FC, BN of the
// Cheetah family): the public layer plan, the per-layer response parameters (flooding width and
// dropped bits, chosen from public bounds only), the HE contexts of both parties, and the two
// drivers that move ciphertexts (TECHNIQUES.md §0.5, §0.7; DESIGN.md §2, §4.1).
//
// Protocol (TECHNIQUES.md §0.5, Peregrine's order): the client encrypts its encoded share under its
// secret key with a seeded c1 and sends n_in ciphertexts; the server adds its own encoded share,
// computes every output ciphertext as Σ ct_in × kernel (NTT domain), subtracts a uniform mask R,
// adds Enc_pk(0) and a uniform flood of σ_f = ⌈log2 B_honest⌉ + 40 bits at the top modulus,
// switches to the 60-bit prime, drops d0 / d1 low bits and sends c0 only at the valid positions V.
// The client decrypts V: y_C = W·x − R, the server keeps y_S = R.
//
// Thread-safety: plans and contexts are immutable after construction and may be shared across
// threads; the drivers use one channel and one Prg each (one thread per session). With a party's
// core::Workers in its context, a driver spreads its local work (encryptions, decryptions, products
// and NTTs per output ciphertext, kernels made on demand) over them; every ciphertext draws from
// its own PRG forked in order from the driver's, so messages and shares are the same for every
// thread count.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "peregrine/core/prg.hpp"
#include "peregrine/core/workers.hpp"
#include "peregrine/he/encoder.hpp"
#include "peregrine/he/encryptor.hpp"
#include "peregrine/he/evaluator.hpp"
#include "peregrine/he/keys.hpp"
#include "peregrine/he/params.hpp"
#include "peregrine/net/channel.hpp"

namespace peregrine::linear {

using u64 = std::uint64_t;

/// Flooding width and dropped low bits of a layer's responses; public (both parties derive them
/// from the public plan).
struct ResponseParams {
  int flood_bits = 0;  ///< σ_f: uniform flood on c0 in [−2^σ_f, 2^σ_f) at the top modulus
  int d0 = 0;          ///< low bits dropped from c0 after the mod switch
  int d1 = 0;          ///< low bits dropped from c1
};

/// One ciphertext × plaintext product of an output ciphertext: input ciphertext `in` times kernel
/// polynomial `kernel`.
struct Product {
  std::uint32_t in = 0;
  std::uint32_t kernel = 0;
};

/// The public plan of one coefficient-encoded linear layer (no secrets): which products make each
/// output ciphertext, which coefficients of it are valid, and where each lands in the output tensor.
/// Produced by a strategy (conv.hpp, ...); consumed by the drivers and the cost model.
struct CoeffLayerPlan {
  std::size_t n_in = 0;       ///< input ciphertexts (client → server)
  std::size_t n_kernels = 0;  ///< kernel polynomials (server)
  std::size_t out_size = 0;   ///< elements of the output tensor
  std::vector<std::vector<Product>> products;       ///< [n_out][...]; may be empty (all-zero kernels)
  std::vector<std::vector<std::uint32_t>> valid;    ///< [n_out][|V_o|] coefficient indices, ascending
  std::vector<std::vector<std::uint32_t>> out_index;  ///< [n_out][|V_o|] flat output tensor index
  /// Public bound on the honest noise of any output ciphertext before flooding (NOISE.md §1):
  /// max_o Σ_{products of o} (22·‖kernel‖₁,bound + 1), from tap counts and the weight bound.
  double noise_bound = 0;

  std::size_t n_out() const noexcept { return products.size(); }
  std::size_t products_count() const noexcept;
};

/// Public bound on the honest noise of one output ciphertext Σ_γ ct_γ × K_γ before flooding, from
/// the tap counts of its kernel polynomials (taps_γ = coefficients that can be non-zero) and the
/// weight bound w_max (docs/NOISE.md §"Honest noise"): the e·K part by a Gaussian tail at 2^−41
/// (the e_γ are independent CBD(21) vectors, variance 10.5, so Var ≤ 10.5·Σ_γ taps_γ·w_max²) and
/// the encoding rounding ε_γ ≤ (‖K_γ‖₁ + 1)/2 at its worst case:
///   B = 7.4·sqrt(10.5·Σ_γ taps_γ)·w_max + Σ_γ (taps_γ·w_max + 1)/2.
/// Thread-safe (pure).
double product_noise_bound(std::span<const std::size_t> taps, double wmax);

/// Prepares `count` kernel polynomials for the server (signed coefficients → NTT form at the top
/// level), one at a time: fill(k, poly) writes kernel k into poly (N values, zeroed beforehand).
/// Memory stays at one polynomial of scratch whatever the count.
std::vector<he::PlaintextNtt> prepare_kernels(
    const he::HeParamsPtr& params, std::size_t count,
    const std::function<void(std::size_t, std::span<std::int64_t>)>& fill);

/// Reduces a signed bias (or BN shift) vector mod t (the server's share of a public-to-it constant).
std::vector<u64> reduce_mod_t(const he::HeParams& params, std::span<const std::int64_t> bias);
/// y[(o·C + c)·inner + k] += bias[c] mod t for o < outer, c < C = bias.size(), k < inner: the
/// server adds the bias to its output share (conv/BN: outer = 1, inner = H·W; FC: outer = batch,
/// inner = 1). Errors: kInvalidArgument when y.size() != outer·C·inner (empty bias: no-op).
void add_bias(const he::HeParams& params, std::span<u64> y, std::span<const u64> bias, std::size_t outer,
              std::size_t inner);

/// Bytes on the wire of one layer run (frames included), as the drivers send them.
struct LayerCost {
  std::size_t bytes_client_to_server = 0;
  std::size_t bytes_server_to_client = 0;
  std::size_t products = 0;  ///< ciphertext × plaintext products (NTT domain)
};

/// Score of a layout for the latency-aware tile searches (TECHNIQUES.md §2.5): bytes on the wire
/// plus compute converted at the LAN rate (375 MB/s): 75 000 B per ciphertext encrypted or
/// decrypted (0.2 ms) and 2 250 B per NTT-domain product (6 µs), as the planner's he_layer_cost.
/// Used by the depthwise search and the pointwise (1×1) one. Thread-safe (pure).
inline double tile_latency_score(double bytes, double ciphertexts_moved, double products) {
  constexpr double kBytesPerCiphertext = 75000, kBytesPerProduct = 2250;
  return bytes + kBytesPerCiphertext * ciphertexts_moved + kBytesPerProduct * products;
}

/// Chooses σ_f = ⌈log2 noise_bound⌉ + 40 and the (d0, d1) that minimise the response bytes for
/// |V| = kept coefficients, subject to the decryption bound of NOISE.md §Cheetah (flood, Enc(0),
/// mod-switch rounding, c0 and c1 bit dropping at a 2^−40 tail) staying below Δ'/4 (one bit of
/// margin). Errors: kUnsupported when even d0 = d1 = 0 does not fit (the layer's weights or taps
/// exceed what N = 4096 / 109-bit parameters can flood: use a smaller ℓ or fewer weight bits);
/// kInvalidArgument for params other than the two-prime Cheetah shape.
ResponseParams choose_response_params(const he::HeParams& params, double noise_bound, std::size_t kept);
/// As choose_response_params, but nullopt instead of kUnsupported (for planners probing layouts).
std::optional<ResponseParams> try_response_params(const he::HeParams& params, double noise_bound,
                                                  std::size_t kept);

/// Exact bytes the drivers put on the wire for `plan` (frame headers included).
LayerCost layer_cost(const he::HeParams& params, const CoeffLayerPlan& plan, const ResponseParams& rp);

/// The client's HE state: parameters, secret key and what it needs to encrypt and decrypt.
/// Create with he_client_setup. Immutable afterwards.
struct HeClient {
  he::HeParamsPtr params;
  he::SecretKey sk;
  core::Workers* workers = nullptr;  ///< the party's worker threads (null: the driver's thread only)
};

/// The server's HE state: parameters and the client's public key (for re-randomisation).
struct HeServer {
  he::HeParamsPtr params;
  he::PublicKey pk;
  he::GaloisKeys galois;  ///< the client's Galois keys (empty when the session's strategies need none)
  core::Workers* workers = nullptr;  ///< the party's worker threads (null: the driver's thread only)
};

/// Session set-up, client side: generates the key pair from `prg` (Prg::from_os() outside tests)
/// and sends the public key (one frame, seeded second half), then, when `galois_elements` is not
/// empty, the Galois keys for exactly those elements (one frame; needs a special prime).
/// Errors: kInvalidArgument for Galois elements on parameters without a special prime; channel errors.
HeClient he_client_setup(net::Channel& ch, he::HeParamsPtr params, Prg& prg,
                         std::span<const std::uint64_t> galois_elements = {});
/// Server side: receives and validates the client's public key (size-bounded frame, params id,
/// coefficient ranges) and, when `galois_elements` is not empty, its Galois keys (frame bounded by
/// he::galois_keys_bytes for that count before allocation, then each key validated).
/// Errors: kMalformedInput / kParamsMismatch / kSizeLimit; kProtocol when the keys are for other
/// elements than `galois_elements`; channel errors.
HeServer he_server_setup(net::Channel& ch, he::HeParamsPtr params, std::span<const std::uint64_t> galois_elements = {});

/// Client driver. `input` holds the client's share encoded as plan.n_in polynomials of N values
/// each (< t). Sends the ciphertexts, receives and decrypts the responses; returns the client's
/// output share (out_size values mod t). Errors: kInvalidArgument on shape mismatch; kMalformedInput
/// for a malformed response; channel errors (kPeerClosed, kTimeout).
std::vector<u64> run_client(net::Channel& ch, const HeClient& he, const CoeffLayerPlan& plan,
                            const ResponseParams& rp, std::span<const std::vector<u64>> input, Prg& prg);

/// The kernel polynomials server_responses multiplies by: all prepared up front (NTT form, kept
/// by the server for the model's lifetime), or made on demand from a fill function — a kernel is
/// encoded and NTT-transformed when an output ciphertext first needs it and dropped after the last
/// consecutive output that uses it, so the layer holds the kernels of about two outputs instead of
/// all of them (ImageNet layers: up to GBs of NTT-form kernels). Results are identical.
/// Thread-safety: one user at a time (the on-demand cache is mutable state).
class KernelSource {
 public:
  /// fill(k, poly): writes kernel k's signed coefficients into poly (N values, zeroed first).
  using Fill = std::function<void(std::size_t, std::span<std::int64_t>)>;
  /// All kernels prepared (he::Evaluator::prepare at the top level); the span must outlive this.
  explicit KernelSource(std::span<const he::PlaintextNtt> prepared);
  /// `count` kernels made on demand with `fill`.
  KernelSource(he::HeParamsPtr params, std::size_t count, Fill fill);
  ~KernelSource();
  KernelSource(const KernelSource&) = delete;
  KernelSource& operator=(const KernelSource&) = delete;
  std::size_t size() const noexcept { return count_; }
  /// Kernel k (< size(), else kInvalidArgument); the reference stays valid until the next retain().
  /// On demand, a kernel not made yet is made here (not thread-safe); after ensure() for it, get is
  /// a lookup that may run concurrently with other gets.
  const he::PlaintextNtt& get(std::size_t k);
  /// On demand: makes every kernel `products` use that is not made yet, spread over `workers`
  /// (may be null). Prepared: no-op. Errors: kInvalidArgument for a kernel index ≥ size().
  void ensure(std::span<const Product> products, core::Workers* workers);
  /// On demand: drops every made kernel that `next` (the next output's products) does not use.
  void retain(std::span<const Product> next);
  /// Kernels made so far (on demand; prepared: 0): the NTT work this source did.
  std::size_t made() const noexcept { return made_; }

 private:
  struct Maker;
  std::span<const he::PlaintextNtt> prepared_;
  std::size_t count_ = 0;
  std::size_t made_ = 0;
  std::unique_ptr<Maker> maker_;
};

/// One kernel polynomial from its signed coefficients (N values): encoded and prepared for
/// products (NTT form, top level). The one encoding of prepare_kernels and KernelSource.
he::PlaintextNtt make_kernel(const he::CoeffEncoder& encoder, const he::Evaluator& ev, std::span<const std::int64_t> poly);

/// The server's HE computation as a local kernel (no I/O; run_server is it plus the messages):
/// the client's input ciphertexts `cts` (plan.n_in, validated, at the top level) and the server's
/// share encoded like the client's (plan.n_in polynomials of N values < t) → for each output
/// ciphertext o in order, Σ (ct + share) × kernel − mask, re-randomised with Enc_pk(0), flooded
/// with σ_f bits, mod-switched and trimmed to its valid positions, handed to emit(o, response) as
/// soon as it is ready (in order o = 0, 1, …, on the calling thread); returns the server's output
/// share (the masks at the valid positions). Randomness (masks, Enc(0), flood): output o from its own
/// PRG, the o-th seed drawn from `prg` before any output is computed. With he.workers, outputs are
/// computed in batches of 2T spread over the workers (kernels of a batch made on demand first).
/// Thread-safety: one call per prg. Errors: kInvalidArgument on counts or shapes that differ from the plan.
std::vector<u64> server_responses(const HeServer& he, const CoeffLayerPlan& plan, const ResponseParams& rp,
                                  std::vector<he::Ciphertext> cts, std::span<const std::vector<u64>> input,
                                  KernelSource& kernels, Prg& prg,
                                  const std::function<void(std::size_t, const he::TrimmedCiphertext&)>& emit);
/// The same with every kernel prepared.
std::vector<u64> server_responses(const HeServer& he, const CoeffLayerPlan& plan, const ResponseParams& rp,
                                  std::vector<he::Ciphertext> cts, std::span<const std::vector<u64>> input,
                                  std::span<const he::PlaintextNtt> kernels, Prg& prg,
                                  const std::function<void(std::size_t, const he::TrimmedCiphertext&)>& emit);

/// Server driver. `input` is the server's share encoded like the client's; `kernels` the
/// plan.n_kernels kernel polynomials prepared at the top level (he::Evaluator::prepare). Returns the
/// server's output share (the masks R). Randomness (masks, Enc(0), flood) from `prg`.
/// Errors: kInvalidArgument on shape mismatch; kMalformedInput / kParamsMismatch / kSizeLimit for a
/// bad ciphertext from the client (checked before use); channel errors.
std::vector<u64> run_server(net::Channel& ch, const HeServer& he, const CoeffLayerPlan& plan,
                            const ResponseParams& rp, std::span<const std::vector<u64>> input,
                            KernelSource& kernels, Prg& prg);
/// The same with every kernel prepared.
std::vector<u64> run_server(net::Channel& ch, const HeServer& he, const CoeffLayerPlan& plan,
                            const ResponseParams& rp, std::span<const std::vector<u64>> input,
                            std::span<const he::PlaintextNtt> kernels, Prg& prg);

}  // namespace peregrine::linear
