// `peregrine bench OP`: see bench.hpp.
//
// Wire sequence of one run (both parties):
//   1. header: both send their parameters and check the peer's (not timed, not counted);
//   2. set-up: MpcSession (base OTs, IKNP, then Ferret or KK13 seeding per --ot) or, for `cot`,
//      setup_iknp (+ the Ferret set-up with --ot silent) -> setup_seconds and setup bytes;
//      for a linear op, the HE key set-up (client key generation + public key transfer) ->
//      setup_seconds, then the server's weight preparation (NTT form) -> prepare_seconds;
//   3. a one-byte ping-pong, so that both parties start the op at (about) the same time;
//   4. the op, ended by a flush -> seconds (per party), traffic and rounds of the server's channel;
//   5. the client sends its two times (and, with --verify, its output; for a linear op its input
//      and output shares) to the server; the server checks, builds the JSON object and sends a
//      verdict byte and the JSON line to the client.
// For `net`, steps 2-4 are: each party loads and quantises the model (the server also builds its
// engine::ServerModel -> prepare_seconds; the client loads its input), the ping-pong, then one
// engine session (its own set-up and online phases, measured by the engine); in step 5 the client
// sends its engine report as a JSON frame (and, with --verify, its quantised input and the logits).
#include "bench.hpp"
#include "infer.hpp"

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "peregrine/core/error.hpp"
#include "peregrine/core/prg.hpp"
#include "peregrine/core/timer.hpp"
#include "peregrine/core/workers.hpp"
#include "peregrine/engine/engine.hpp"
#include "peregrine/he/params.hpp"
#include "peregrine/linear/bn.hpp"
#include "peregrine/linear/conv.hpp"
#include "peregrine/linear/fc.hpp"
#include "peregrine/linear/he_layer.hpp"
#include "peregrine/mpc/nonlinear.hpp"
#include "peregrine/mpc/session.hpp"
#include "peregrine/mpc/share.hpp"
#include "peregrine/mpc/truncation.hpp"
#include "peregrine/net/channel.hpp"
#include "peregrine/nn/fixed.hpp"
#include "peregrine/nn/graph.hpp"
#include "peregrine/nn/input.hpp"
#include "peregrine/nn/onnx_import.hpp"
#include "peregrine/ot/cot.hpp"
#include "peregrine/ot/ferret.hpp"
#include "peregrine/ot/iknp.hpp"

namespace peregrine::app {

namespace {

using mpc::ArithShares;
using mpc::Party;
using mpc::Ring;
using mpc::u64;
using Json = nlohmann::ordered_json;

constexpr int kExitMismatch = 3;
constexpr u64 kMagic = 0x43'4E'45'42'45'52'45'50ULL;  // "PEREBENC" little-endian
constexpr u64 kWireVersion = 3;

enum class Op : u64 { kRelu = 1, kTrunc = 2, kReluTrunc = 3, kCot = 4, kConv = 5, kBn = 6, kFc = 7, kNet = 8 };

Op parse_op(const std::string& s) {
  if (s == "relu") return Op::kRelu;
  if (s == "trunc") return Op::kTrunc;
  if (s == "relutrunc") return Op::kReluTrunc;
  if (s == "cot") return Op::kCot;
  if (s == "conv") return Op::kConv;
  if (s == "bn") return Op::kBn;
  if (s == "fc") return Op::kFc;
  if (s == "net") return Op::kNet;
  throw Error(ErrorCode::kInvalidArgument,
              "unknown bench op '" + s + "' (relu, trunc, relutrunc, cot, conv, bn, fc, net)");
}

bool has_shift(Op op) { return op == Op::kTrunc || op == Op::kReluTrunc; }

mpc::OtBackend ot_of(const BenchOptions& o) { return ot_backend_option(o.ot); }
mpc::TruncMode trunc_mode_of(const BenchOptions& o) {
  return o.trunc_mode == "approx" ? mpc::TruncMode::kApprox : mpc::TruncMode::kExact;
}
bool is_linear(Op op) { return op == Op::kConv || op == Op::kBn || op == Op::kFc; }

// Synthetic layers: |w| < 2^12 (weights, BN scales), so the public weight bound is 13 bits
// (|w| ≤ 2^{13−1}); biases and BN shifts uniform in [−2^23, 2^23) (scale 2^{2f}, f = 12).
constexpr int kWeightBits = 13;
constexpr int kBiasBits = 24;

// The public weight bound of the benchmark's layer: --weight-bits, else kWeightBits.
int weight_bits_of(const BenchOptions& o) { return o.weight_bits > 0 ? o.weight_bits : kWeightBits; }

// ---- options --------------------------------------------------------------------------------

// The layer shapes the options describe.
linear::Conv2dMeta conv_meta(const BenchOptions& o) {
  linear::Conv2dMeta m;
  m.C = o.c;
  m.H = o.h;
  m.W = o.w;
  m.M = o.m;
  m.kh = m.kw = o.k;
  m.stride_h = m.stride_w = o.stride;
  m.pad_top = m.pad_bottom = m.pad_left = m.pad_right = o.pad;
  m.groups = o.groups;
  m.weight_bits = weight_bits_of(o);
  return m;
}

linear::BnMeta bn_meta(const BenchOptions& o) {
  linear::BnMeta m;
  m.C = o.c;
  m.H = o.h;
  m.W = o.w;
  m.weight_bits = weight_bits_of(o);
  return m;
}

linear::FcMeta fc_meta(const BenchOptions& o) {
  linear::FcMeta m;
  m.batch = o.batch;
  m.in_features = o.in;
  m.out_features = o.out;
  m.weight_bits = weight_bits_of(o);
  return m;
}

// The dispatch of nn::load_model_input: .png/.jpg/.jpeg/.npy are single inputs, the rest datasets.
bool is_dataset_path(const std::string& path) {
  std::string lower(path);
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const std::string_view ext : {".png", ".jpg", ".jpeg", ".npy"}) {
    if (std::string_view(lower).ends_with(ext)) return false;
  }
  return true;
}

std::string calib_path(const BenchOptions& o) {
  if (!o.calib.empty()) return o.calib;
  if (!is_dataset_path(o.input))
    throw Error(ErrorCode::kInvalidArgument,
                "bench net: --input '" + o.input + "' is not a dataset file; give --calib DATASET");
  return o.input;
}

std::string input_path(const BenchOptions& o) { return o.input.empty() ? o.calib : o.input; }

struct Config {
  BenchOptions o;
  Op op{};
  net::ChannelOptions ch;
  std::chrono::milliseconds timeout{};
};

Config validate(const BenchOptions& o) {
  Config c{o, parse_op(o.op), {}, {}};
  require(o.threads >= 1 && o.threads <= 256, ErrorCode::kInvalidArgument, "--threads must be in [1, 256]");
  const bool net_opts = !o.model.empty() || !o.input.empty() || !o.calib.empty() || o.index != 0;
  require(c.op == Op::kNet || !net_opts, ErrorCode::kInvalidArgument,
          "--model, --input, --index and --calib are for `bench net`");
  if (c.op == Op::kNet) {
    // The ring (ℓ, f) comes from the model's quantisation: --n, --bits and --shift are not used.
    require(!o.model.empty(), ErrorCode::kInvalidArgument, "bench net needs --model MODEL.onnx");
    require(!o.input.empty() || !o.calib.empty(), ErrorCode::kInvalidArgument,
            "bench net needs --input DATASET_OR_IMAGE (or --calib DATASET)");
    (void)calib_path(o);  // an image --input without --calib fails here, before any process starts
  } else if (is_linear(c.op)) {
    // Cheetah's HE parameters (he::HeParams::cheetah) exist for 13 ≤ ℓ ≤ 44 only.
    require(o.bits >= 13 && o.bits <= 44, ErrorCode::kInvalidArgument,
            "--bits must be in [13, 44] for the HE linear layers");
    if (c.op == Op::kFc) {
      require(o.in >= 1 && o.out >= 1 && o.batch >= 1, ErrorCode::kInvalidArgument,
              "fc needs --in K --out M (and --batch B ≥ 1)");
    } else {
      require(o.c >= 1 && o.h >= 1 && o.w >= 1, ErrorCode::kInvalidArgument,
              "conv and bn need --c C --h H --w W");
    }
    if (c.op == Op::kConv) {
      require(o.m >= 1 && o.k >= 1 && o.stride >= 1 && o.groups >= 1, ErrorCode::kInvalidArgument,
              "conv needs --m M --k K (and --stride, --groups ≥ 1)");
      require(o.tile.empty() || o.tile == "min-bytes" || o.tile == "opencheetah", ErrorCode::kInvalidArgument,
              "--tile must be min-bytes or opencheetah");
    }
    require(o.tile.empty() || o.strategy.empty(), ErrorCode::kInvalidArgument, "give --strategy or --tile, not both");
    if (!o.strategy.empty()) engine::check_strategy_names({o.strategy});
    // Shape errors before any process starts (the strategies check again).
    if (c.op == Op::kConv) conv_meta(o).validate();
    else if (c.op == Op::kBn) bn_meta(o).validate();
    else fc_meta(o).validate();
  } else {
    require(o.n >= 1, ErrorCode::kInvalidArgument, "--n must be at least 1");
    if (c.op != Op::kCot)
      require(o.bits >= 2 && o.bits <= 64, ErrorCode::kInvalidArgument, "--bits must be in [2, 64]");
  }
  if (has_shift(c.op)) {
    require(o.shift >= 1 && o.shift < o.bits, ErrorCode::kInvalidArgument,
            "--shift must be in [1, bits)");
  }
  require(o.timeout_s > 0 && o.timeout_s <= 86400, ErrorCode::kInvalidArgument,
          "--timeout must be in (0, 86400] seconds");
  if (o.net == "lan") c.ch = net::lan_profile();
  else if (o.net == "wan") c.ch = net::wan_profile();
  else require(o.net == "none", ErrorCode::kInvalidArgument, "--net must be lan, wan or none");
  c.timeout = std::chrono::milliseconds(static_cast<long long>(o.timeout_s * 1000));
  c.ch.read_timeout = c.timeout;
  require(o.role == "local" || o.role == "server" || o.role == "client",
          ErrorCode::kInvalidArgument, "--role must be local, server or client");
  require(o.role == "client" || o.connect.empty(), ErrorCode::kInvalidArgument,
          "--connect is for --role client");
  require(o.role == "client" ? !o.connect.empty() : true, ErrorCode::kInvalidArgument,
          "--role client needs --connect HOST:PORT");
  require(o.role == "server" || (o.port == 0 && o.port_file.empty()), ErrorCode::kInvalidArgument,
          "--port / --port-file are for --role server");
  return c;
}

std::pair<std::string, std::uint16_t> parse_host_port(const std::string& s) {
  const auto colon = s.rfind(':');
  require(colon != std::string::npos && colon > 0 && colon + 1 < s.size(),
          ErrorCode::kInvalidArgument, "--connect expects HOST:PORT");
  std::string host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string p = s.substr(colon + 1);
  require(p.find_first_not_of("0123456789") == std::string::npos && p.size() <= 5,
          ErrorCode::kInvalidArgument, "--connect: bad port");
  const unsigned long port = std::stoul(p);
  require(port >= 1 && port <= 65535, ErrorCode::kInvalidArgument, "--connect: port must be in [1, 65535]");
  return {host, static_cast<std::uint16_t>(port)};
}

// Opened at start-up so that a bad path fails before the run, appended to at the end.
class JsonSink {
 public:
  explicit JsonSink(const std::string& path) {
    if (path.empty()) return;
    f_ = std::fopen(path.c_str(), "a");
    if (!f_) throw Error(ErrorCode::kInvalidArgument,
                         "cannot open --json file '" + path + "': " + std::strerror(errno));
  }
  ~JsonSink() {
    if (f_) std::fclose(f_);
  }
  JsonSink(const JsonSink&) = delete;
  JsonSink& operator=(const JsonSink&) = delete;
  void write(const std::string& line) {
    if (!f_) return;
    std::fprintf(f_, "%s\n", line.c_str());
    std::fflush(f_);
  }

 private:
  std::FILE* f_ = nullptr;
};

// ---- inputs ---------------------------------------------------------------------------------

Seed public_seed(std::uint8_t tag) {
  Seed s{};
  const char* label = "peregrine bench public seed";
  std::memcpy(s.data(), label, std::strlen(label));
  s[31] = tag;
  return s;
}

// BENCHMARK DATA ONLY: the values x and the masks r both come from fixed public seeds, so both
// parties (and anyone) know x. A real deployment secret-shares private data with a Prg::from_os()
// mask; here public data keeps the two processes independent and makes --verify possible. The
// protocols' own randomness (base OTs, Δ, masks inside relu/truncate; HE keys, masks, Enc(0) and
// flooding of the linear layers) comes from Prg::from_os().
std::vector<u64> plaintext_inputs(const Config& c, const Ring& ring, std::size_t n) {
  Prg gen = Prg::from_seed(public_seed(1));
  std::vector<u64> x(n);
  if (is_linear(c.op) && c.o.act_bits > 0) {
    for (auto& v : x) v = gen.next_u64() & ((u64{1} << c.o.act_bits) - 1);  // [0, 2^act_bits)
  } else if (c.op == Op::kRelu || is_linear(c.op)) {
    for (auto& v : x) v = gen.next_u64() & ring.mask;  // the whole ring
  } else {
    // |x| < 2^{ℓ-2}: uniform in [-(2^{ℓ-2} - 1), 2^{ℓ-2} - 1].
    const u64 b = u64{1} << (c.o.bits - 2);
    for (auto& v : x) v = (gen.uniform_below(2 * b - 1) - (b - 1)) & ring.mask;
    if (c.op == Op::kTrunc && c.o.msb == "zero")  // MSB public (= 0): inputs in [0, 2^{ℓ-2})
      for (auto& v : x) v = ring.centred(v) < 0 ? (0 - v) & ring.mask : v;
  }
  return x;
}

// Server share x - r, client share r (r from a second public seed; see plaintext_inputs).
ArithShares my_shares(const Ring& ring, Party me, std::size_t n, const std::vector<u64>* x) {
  Prg masks = Prg::from_seed(public_seed(2));
  ArithShares s{ring, std::vector<u64>(n)};
  for (std::size_t i = 0; i < n; ++i) {
    const u64 r = masks.next_u64() & ring.mask;
    s.v[i] = me == Party::kServer ? ((*x)[i] - r) & ring.mask : r;
  }
  return s;
}

std::vector<u64> reference(const Config& c, const Ring& ring, const std::vector<u64>& x) {
  std::vector<u64> y(x.size());
  const int f = c.o.shift;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::int64_t v = ring.centred(x[i]);
    std::int64_t r = 0;
    switch (c.op) {
      case Op::kRelu: r = std::max<std::int64_t>(v, 0); break;
      case Op::kTrunc: r = v >> f; break;  // arithmetic shift = floor(v / 2^f) (C++20)
      case Op::kReluTrunc: r = std::max<std::int64_t>(v, 0) >> f; break;
      default: break;
    }
    y[i] = static_cast<u64>(r) & ring.mask;
  }
  return y;
}

// ---- linear layers --------------------------------------------------------------------------

// The nonlinear op as a one- or two-node program planned through the strategy registry: relu
// (relu-millionaire), trunc (trunc-exact / trunc-exact-msb0 by --msb, trunc-approx with
// --trunc-mode approx), relutrunc (ReLU then a truncation of a value known ≥ 0: relu-millionaire
// + trunc-exact-msb0, + trunc-approx with --trunc-mode approx, or the planner's approximate choice
// relu-highbits + trunc-approx with --fidelity approx). Both parties build it; no weights.
struct NonlinearBench {
  std::unique_ptr<engine::ProtocolPlan> plan;
};

NonlinearBench make_nonlinear(const Config& c) {
  const BenchOptions& o = c.o;
  nn::FixedPlan p;
  p.ring_bits = o.bits;
  p.frac_bits = 1;
  const nn::Shape shape = {static_cast<std::int64_t>(o.n)};
  auto value = [&](const char* name) {
    p.values.push_back({name, shape, 0, o.bits});
    return p.values.size() - 1;
  };
  auto node = [&](nn::FxOp op, std::size_t in, std::size_t out) {
    nn::FxNode n = nn::FxNode::of(op);
    n.name = nn::fx_op_name(op);
    n.inputs = {in};
    n.output = out;
    if (op == nn::FxOp::kTrunc) n.shift() = {o.shift, c.op == Op::kReluTrunc || o.msb == "zero"};
    p.nodes.push_back(std::move(n));
  };
  const std::size_t x = value("x");
  engine::PlanOptions opts;
  const bool approx_trunc = trunc_mode_of(o) == mpc::TruncMode::kApprox;
  switch (c.op) {
    case Op::kRelu: node(nn::FxOp::kRelu, x, value("y")); break;
    case Op::kTrunc:
      node(nn::FxOp::kTrunc, x, value("y"));
      if (approx_trunc) opts = {engine::Fidelity::kApprox, {"trunc-approx"}};
      break;
    case Op::kReluTrunc: {
      const std::size_t r = value("r");
      node(nn::FxOp::kRelu, x, r);
      node(nn::FxOp::kTrunc, r, value("y"));
      if (o.fidelity == "approx") opts.fidelity = engine::Fidelity::kApprox;
      else if (approx_trunc) opts = {engine::Fidelity::kApprox, {"relu-millionaire", "trunc-approx"}};
      break;
    }
    default: throw Error(ErrorCode::kInvalidArgument, "bench: not a nonlinear op");
  }
  p.input = x;
  p.output = p.values.size() - 1;
  engine::NetworkProfile profile = engine::NetworkProfile::lan();
  profile.ot = ot_of(o);
  return {std::make_unique<engine::ProtocolPlan>(std::move(p), profile, opts)};
}

// BENCHMARK DATA ONLY, like the inputs: the server's weights and biases from public seeds.
std::vector<std::int64_t> public_weights(std::size_t n, int weight_bits) {
  Prg gen = Prg::from_seed(public_seed(3));
  const u64 lim = u64{1} << (weight_bits - 1);  // |w| < 2^{weight_bits − 1}
  std::vector<std::int64_t> w(n);
  for (auto& v : w) v = static_cast<std::int64_t>(gen.uniform_below(2 * lim - 1)) - static_cast<std::int64_t>(lim - 1);
  return w;
}

std::vector<std::int64_t> public_biases(std::size_t n) {
  Prg gen = Prg::from_seed(public_seed(4));
  const u64 span = u64{1} << kBiasBits;  // [−2^23, 2^23)
  std::vector<std::int64_t> b(n);
  for (auto& v : b) v = static_cast<std::int64_t>(gen.uniform_below(span)) - static_cast<std::int64_t>(span / 2);
  return b;
}

// The benchmark's layer as a one-node fixed-point program (the engine's own node type), planned
// through the strategy registry exactly as a network layer is: --strategy NAME, else --tile as its
// alias for conv (min-bytes = cheetah-conv, opencheetah = cheetah-conv-opencheetah), else the
// planner's choice for LAN. Both parties build it; only the server's copy holds weights.
struct LinearBench {
  nn::FixedModel model;
  std::unique_ptr<engine::ProtocolPlan> plan;
  std::size_t in_size = 0, out_size = 0;
  const engine::PlannedLayer& planned() const { return plan->planned(0); }
  const std::string& strategy() const { return plan->layers()[0].strategy; }
};

std::string linear_strategy_option(const BenchOptions& o) {
  if (!o.strategy.empty()) return o.strategy;
  if (o.tile == "opencheetah") return "cheetah-conv-opencheetah";
  if (o.tile == "min-bytes") return "cheetah-conv";
  return "";
}

LinearBench make_linear(const Config& c, bool with_weights) {
  const BenchOptions& o = c.o;
  LinearBench lb;
  nn::FixedPlan& p = lb.model.plan;
  p.ring_bits = o.bits;
  p.frac_bits = 12;
  nn::FxNode n;
  n.name = o.op;
  const nn::FxWeightsRef weights_ref{0, true, weight_bits_of(o)};
  nn::Shape xs, ys;
  std::size_t weights = 0, biases = 0;
  const auto I = [](std::size_t v) { return static_cast<std::int64_t>(v); };
  switch (c.op) {
    case Op::kConv: {
      const linear::Conv2dMeta m = conv_meta(o);
      n = nn::FxNode::of(nn::FxOp::kConv);
      nn::FxConvAttrs& a = n.conv();
      static_cast<nn::FxWeightsRef&>(a) = weights_ref;
      a.C = I(m.C); a.H = I(m.H); a.W = I(m.W); a.M = I(m.M); a.kh = a.kw = I(m.kh);
      a.sh = a.sw = I(m.stride_h); a.groups = I(m.groups);
      a.pads = {I(o.pad), I(o.pad), I(o.pad), I(o.pad)};
      xs = {1, a.C, a.H, a.W};
      ys = {1, a.M, I(m.out_h()), I(m.out_w())};
      weights = m.M * (m.C / m.groups) * m.kh * m.kw;
      biases = m.M;
      break;
    }
    case Op::kBn:
      n = nn::FxNode::of(nn::FxOp::kAffine);
      static_cast<nn::FxWeightsRef&>(n.affine()) = weights_ref;
      n.affine().C = I(o.c);
      n.affine().inner = I(o.h * o.w);
      xs = ys = {1, I(o.c), I(o.h), I(o.w)};
      weights = biases = o.c;
      break;
    case Op::kFc:
      n = nn::FxNode::of(nn::FxOp::kGemm);
      static_cast<nn::FxWeightsRef&>(n.gemm()) = weights_ref;
      n.gemm().K = I(o.in);
      n.gemm().N = I(o.out);
      xs = {I(o.batch), I(o.in)};
      ys = {I(o.batch), I(o.out)};
      weights = o.out * o.in;
      biases = o.out;
      break;
    default: throw Error(ErrorCode::kInvalidArgument, "bench: not a linear op");
  }
  n.name = o.op;
  p.values = {{"x", xs, p.frac_bits, o.bits}, {"y", ys, 2 * p.frac_bits, o.bits}};
  n.inputs = {0};
  n.output = 1;
  p.nodes = {n};
  p.input = 0;
  p.output = 1;
  lb.model.weights.entries.resize(1);
  if (with_weights) lb.model.weights.entries[0] = {public_weights(weights, weight_bits_of(o)), public_biases(biases)};
  if (o.act_bits > 0)  // an integer layer: its input's public bound [0, 2^act_bits) (hequant-conv reads it)
    p.integer_io = nn::FxIntegerIO{1, 0, 0, (std::int64_t{1} << o.act_bits) - 1, 1};
  engine::PlanOptions opts;
  if (const std::string s = linear_strategy_option(o); !s.empty()) opts.allowed = {s};
  lb.plan = std::make_unique<engine::ProtocolPlan>(p, engine::NetworkProfile::lan(), opts);
  lb.in_size = static_cast<std::size_t>(nn::element_count(xs));
  lb.out_size = static_cast<std::size_t>(nn::element_count(ys));
  return lb;
}

// Index of the chosen strategy in the registry (the parties' headers compare it).
u64 strategy_index(const std::string& name) {
  const auto& all = engine::registry();
  for (std::size_t i = 0; i < all.size(); ++i)
    if (all[i]->name() == name) return i;
  return all.size();
}

// ---- the run --------------------------------------------------------------------------------

// The parameters both parties must agree on, in wire order (0 for those the op does not use).
std::vector<std::pair<const char*, u64>> header_fields(const Config& c) {
  const BenchOptions& o = c.o;
  const bool lin = is_linear(c.op), conv = c.op == Op::kConv, img = conv || c.op == Op::kBn;
  const bool fc = c.op == Op::kFc, net = c.op == Op::kNet;
  return {{"op", static_cast<u64>(c.op)},
          {"--n", lin || net ? 0 : static_cast<u64>(o.n)},
          {"--bits", static_cast<u64>(c.op == Op::kCot || net ? 0 : o.bits)},
          {"--shift", static_cast<u64>(has_shift(c.op) ? o.shift : 0)},
          {"--threads", static_cast<u64>(o.threads)},
          {"--ot (1 silent, 2 iknp)", lin && o.act_bits == 0 ? 0 : static_cast<u64>(ot_of(o))},
          {"--trunc-mode (1 approx)", has_shift(c.op) && o.trunc_mode == "approx" ? 1u : 0u},
          {"--msb (1 zero)", c.op == Op::kTrunc && o.msb == "zero" ? 1u : 0u},
          {"--fidelity (1 approx)", (c.op == Op::kReluTrunc || net) && o.fidelity == "approx" ? 1u : 0u},
          {"--verify", static_cast<u64>(o.verify)},
          {"--net (0 none, 1 lan, 2 wan)", static_cast<u64>(o.net == "none" ? 0 : o.net == "lan" ? 1 : 2)},
          {"--c", img ? o.c : 0},
          {"--h", img ? o.h : 0},
          {"--w", img ? o.w : 0},
          {"--m", conv ? o.m : 0},
          {"--k", conv ? o.k : 0},
          {"--stride", conv ? o.stride : 0},
          {"--pad", conv ? o.pad : 0},
          {"--groups", conv ? o.groups : 0},
          {"--strategy (registry index)", lin ? strategy_index(make_linear(c, false).strategy()) : 0u},
          {"--in", fc ? o.in : 0},
          {"--out", fc ? o.out : 0},
          {"--batch", fc ? o.batch : 0},
          {"--act-bits", lin ? static_cast<u64>(o.act_bits) : 0},
          {"--weight-bits", lin ? static_cast<u64>(o.weight_bits) : 0},
          // net: only the --verify server loads the client's input itself.
          {"--index", net && o.verify ? static_cast<u64>(o.index) : 0}};
}

void exchange_header(net::Channel& ch, const Config& c) {
  const auto fields = header_fields(c);
  std::vector<u64> mine{kMagic, kWireVersion, fields.size()};
  for (const auto& f : fields) mine.push_back(f.second);
  ch.send(mine.data(), mine.size() * sizeof(u64));
  ch.flush();
  // Magic, version and count first: a peer of another version may send a different count.
  u64 peer_head[3];
  ch.recv(peer_head, sizeof(peer_head));
  if (peer_head[0] != kMagic || peer_head[1] != kWireVersion || peer_head[2] != fields.size())
    throw Error(ErrorCode::kProtocol, "the peer is not a `peregrine bench` of the same version");
  std::vector<u64> peer(fields.size());
  ch.recv(peer.data(), peer.size() * sizeof(u64));
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (peer[i] != fields[i].second)
      throw Error(ErrorCode::kProtocol,
                  fmt::format("the peer runs with a different {} ({} here, {} there)",
                              fields[i].first, fields[i].second, peer[i]));
  }
}

// One-byte ping-pong: the server sends, the client answers; both leave with nothing in flight.
void barrier(net::Channel& ch, Party me) {
  std::uint8_t b = 0x5a;
  if (me == Party::kServer) {
    ch.send_value(b);
    ch.flush();
    b = ch.recv_value<std::uint8_t>();
  } else {
    b = ch.recv_value<std::uint8_t>();
    ch.send_value(b);
    ch.flush();
  }
  if (b != 0x5a) throw Error(ErrorCode::kProtocol, "bench barrier: unexpected byte");
}

net::ChannelStats diff(const net::ChannelStats& a, const net::ChannelStats& b) {
  return {b.bytes_sent - a.bytes_sent, b.bytes_received - a.bytes_received, b.rounds - a.rounds};
}

struct Timed {
  net::ChannelStats setup_stats;
  double setup_s = 0;
  double op_s = 0;
  net::ChannelStats op_stats;
};

// What one party's timed part leaves for the verification step.
struct PartyState {
  Timed t;
  // arithmetic ops
  std::optional<Ring> ring;
  std::vector<u64> x;  // server only: the plaintext inputs
  ArithShares out;
  // cot
  ot::Block delta;
  std::vector<ot::Block> cot_out;
  std::vector<std::uint8_t> choices;
};

PartyState run_timed(const Config& c, net::Channel& ch, Party me) {
  PartyState st;
  Prg prg = Prg::from_os();  // this party's protocol randomness
  core::Workers workers(static_cast<std::size_t>(c.o.threads));
  if (c.op == Op::kCot) {
    Timer t;
    const net::ChannelStats z0 = ch.stats();
    ot::OtPair pair = ot::setup_iknp(ch, me == Party::kServer, prg);
    // Instance 0 (party 0 sends) only: the silent run bootstraps Ferret from IKNP in that direction.
    std::unique_ptr<ot::FerretCotSender> fs;
    std::unique_ptr<ot::FerretCotReceiver> fr;
    const bool silent = ot_of(c.o) == mpc::OtBackend::kSilent;
    if (silent && me == Party::kServer) fs = std::make_unique<ot::FerretCotSender>(ch, *pair.sender, prg);
    if (silent && me == Party::kClient) fr = std::make_unique<ot::FerretCotReceiver>(ch, *pair.receiver, prg);
    if (fs) fs->set_workers(&workers);
    if (fr) fr->set_workers(&workers);
    ch.flush();
    st.t.setup_s = t.seconds();
    st.t.setup_stats = diff(z0, ch.stats());
    st.cot_out.assign(c.o.n, ot::Block{});
    if (me == Party::kClient) {
      st.choices.resize(c.o.n);
      prg.fill(st.choices.data(), st.choices.size());
      for (auto& b : st.choices) b &= 1;
    }
    barrier(ch, me);
    const net::ChannelStats s0 = ch.stats();
    t.reset();
    // Silent: random-choice COTs (Ferret's native output; a chosen bit adds 1 bit per COT);
    // IKNP: chosen-bit COTs (its native form).
    if (silent && me == Party::kServer) fs->send_random_cot(st.cot_out);
    else if (silent) fr->recv_random_cot(st.choices, st.cot_out, prg);
    else if (me == Party::kServer) pair.sender->send_cot(st.cot_out);  // instance 0: party 0 sends
    else pair.receiver->recv_cot(st.choices, st.cot_out);
    ch.flush();
    st.t.op_s = t.seconds();
    st.t.op_stats = diff(s0, ch.stats());
    if (me == Party::kServer) st.delta = pair.sender->delta();
    return st;
  }

  const Ring ring(c.o.bits);
  st.ring = ring;
  if (me == Party::kServer) st.x = plaintext_inputs(c, ring, c.o.n);
  const ArithShares in = my_shares(ring, me, c.o.n, &st.x);

  Timer t;
  const net::ChannelStats z0 = ch.stats();
  mpc::MpcSession s(ch, me, prg, ot_of(c.o), &workers);
  ch.flush();
  st.t.setup_s = t.seconds();
  st.t.setup_stats = diff(z0, ch.stats());
  barrier(ch, me);
  const net::ChannelStats s0 = ch.stats();
  t.reset();
  // The op as a program of registered strategies (the same planned layers a network runs).
  const NonlinearBench nb = make_nonlinear(c);
  engine::PartyContext ctx = engine::PartyContext::of(s);
  std::vector<ArithShares> vals(nb.plan->fixed().values.size());
  vals[0] = in;
  for (std::size_t i = 0; i < nb.plan->fixed().nodes.size(); ++i) {
    const nn::FxNode& n = nb.plan->fixed().nodes[i];
    std::vector<const ArithShares*> ins;
    for (std::size_t v : n.inputs) ins.push_back(&vals[v]);
    vals[n.output] = nb.plan->planned(i).run(ctx, ins, nullptr);
  }
  st.out = std::move(vals[nb.plan->fixed().output]);
  ch.flush();
  st.t.op_s = t.seconds();
  st.t.op_stats = diff(s0, ch.stats());
  return st;
}

struct ServerResult {
  std::string json;
  int code = 0;
};

// The run's settings common to every op, for the JSON line.
void run_json(Json& j, const Config& c) {
  j["threads"] = c.o.threads;
  j["transport"] = "tcp";
  j["role"] = c.o.role == "local" ? "local" : "split";
  j["net"] = c.o.net;
}

// Server: adds the verdict to the JSON object and sends the verdict byte and the line to the client.
ServerResult finish_server(net::Channel& ch, Json& j, std::optional<bool> verified, std::size_t mismatches) {
  if (verified) {
    j["verified"] = *verified;
    j["mismatches"] = mismatches;
  }
  ServerResult r{j.dump(), verified.value_or(true) ? 0 : kExitMismatch};
  ch.send_value<std::uint8_t>(static_cast<std::uint8_t>(r.code));
  ch.send_frame({reinterpret_cast<const std::uint8_t*>(r.json.data()), r.json.size()});
  ch.flush();
  return r;
}

// Client: receives the server's verdict and JSON line.
ServerResult finish_client(net::Channel& ch) {
  ServerResult r;
  r.code = ch.recv_value<std::uint8_t>();
  const std::vector<std::uint8_t> js = ch.recv_frame(std::size_t{16} << 20);
  r.json.assign(js.begin(), js.end());
  if (r.code != 0 && r.code != kExitMismatch)
    throw Error(ErrorCode::kProtocol, "bench: unexpected verdict from the server");
  return r;
}

// Party 0, protocol ops: runs, collects the client's times (and output), builds the JSON.
ServerResult serve_protocol(const Config& c, net::Channel& ch) {
  PartyState st = run_timed(c, ch, Party::kServer);
  // Not counted: the stats snapshot was taken at the end of the op.
  const double client_setup = ch.recv_value<double>();
  const double client_op = ch.recv_value<double>();

  std::optional<bool> verified;
  std::size_t mismatches = 0;
  if (c.o.verify) {
    if (c.op == Op::kCot) {
      std::vector<std::uint8_t> choices(c.o.n);
      std::vector<ot::Block> got(c.o.n);
      ch.recv(choices.data(), choices.size());
      ch.recv(got.data(), got.size() * sizeof(ot::Block));
      const ot::Block zero{};
      for (std::size_t i = 0; i < c.o.n; ++i) {
        const ot::Block want = st.cot_out[i] ^ ((choices[i] & 1) ? st.delta : zero);
        mismatches += !(got[i] == want) || choices[i] > 1;
      }
    } else {
      const std::vector<u64> opened = mpc::reveal_receive(ch, st.out);
      const std::vector<u64> want = reference(c, *st.ring, st.x);
      // Approximate truncation: floor(x / 2^f) − c with c ∈ {0, 1} (mpc/truncation.hpp).
      // relu-highbits: ⌊ReLU(x)/2^f⌋ − c with c ∈ {0, 1} (mpc/nonlinear.hpp).
      const bool highbits = c.op == Op::kReluTrunc && c.o.fidelity == "approx";
      const bool approx = !highbits && has_shift(c.op) && trunc_mode_of(c.o) == mpc::TruncMode::kApprox;
      for (std::size_t i = 0; i < c.o.n; ++i)
        mismatches += opened[i] != want[i] && !(approx && opened[i] == ((want[i] - 1) & st.ring->mask)) &&
                      !(highbits && opened[i] == ((want[i] - 1) & st.ring->mask));
    }
    verified = mismatches == 0;
  }

  const double seconds = std::max(st.t.op_s, client_op);
  const net::ChannelStats& s = st.t.op_stats;
  Json j;
  j["op"] = c.o.op;
  j["n"] = c.o.n;
  if (c.op != Op::kCot) j["bits"] = c.o.bits;
  if (has_shift(c.op)) j["shift"] = c.o.shift;
  if (has_shift(c.op)) j["trunc_mode"] = c.op == Op::kReluTrunc && c.o.fidelity == "approx" ? "approx" : c.o.trunc_mode;
  if (c.op == Op::kReluTrunc) j["fidelity"] = c.o.fidelity;
  if (c.op != Op::kCot) {
    std::string names;
    const NonlinearBench nb = make_nonlinear(c);
    for (const auto& l : nb.plan->layers()) names += (names.empty() ? "" : ",") + l.strategy;
    j["strategies"] = names;
  }
  if (c.op == Op::kTrunc) j["msb"] = c.o.msb;
  j["ot"] = c.o.ot;
  run_json(j, c);
  j["seconds"] = seconds;
  // Set-up traffic as the server's channel saw it (base OTs, IKNP, Ferret set-up or KK13 seeds).
  j["setup_bytes_client_to_server"] = st.t.setup_stats.bytes_received;
  j["setup_bytes_server_to_client"] = st.t.setup_stats.bytes_sent;
  j["setup_seconds"] = std::max(st.t.setup_s, client_setup);
  j["server_seconds"] = st.t.op_s;
  j["client_seconds"] = client_op;
  j["bytes_client_to_server"] = s.bytes_received;
  j["bytes_server_to_client"] = s.bytes_sent;
  // The server's counter: it counts a round each time the server sends after having received
  // (the barrier leaves it after a receive). For cot the server never sends, hence 0.
  j["rounds"] = s.rounds;
  if (c.op == Op::kCot) {
    j["cots_per_second"] = seconds > 0 ? static_cast<double>(c.o.n) / seconds : 0.0;
    j["bytes_per_cot"] = static_cast<double>(s.bytes_sent + s.bytes_received) / static_cast<double>(c.o.n);
    j["bits_per_cot"] = 8.0 * static_cast<double>(s.bytes_sent + s.bytes_received) / static_cast<double>(c.o.n);
    j["bits_per_cot_with_setup"] =
        8.0 * static_cast<double>(s.bytes_sent + s.bytes_received + st.t.setup_stats.bytes_sent +
                                  st.t.setup_stats.bytes_received) / static_cast<double>(c.o.n);
  }
  return finish_server(ch, j, verified, mismatches);
}

// Party 1, protocol ops.
ServerResult client_protocol(const Config& c, net::Channel& ch) {
  PartyState st = run_timed(c, ch, Party::kClient);
  ch.send_value(st.t.setup_s);
  ch.send_value(st.t.op_s);
  if (c.o.verify) {
    // A benchmark only: the client reveals its output shares so the server can check them.
    if (c.op == Op::kCot) {
      ch.send(st.choices.data(), st.choices.size());
      ch.send(st.cot_out.data(), st.cot_out.size() * sizeof(ot::Block));
    } else {
      mpc::reveal_send(ch, st.out);
    }
  }
  ch.flush();
  return finish_client(ch);
}

// What one party's timed part of a linear op leaves.
struct LinearState {
  double setup_s = 0;    // HE key set-up
  double prepare_s = 0;  // server: weight preparation
  double op_s = 0;       // the layer
  net::ChannelStats op_stats;
  ArithShares in, out;   // this party's input and output shares
};

// One party of a linear op: HE key set-up, (server) weight preparation, barrier, the layer through
// its registered strategy's driver. `x` (server only): the plaintext input.
LinearState run_linear_timed(const Config& c, net::Channel& ch, Party me, const LinearBench& lb,
                             const std::vector<u64>* x) {
  LinearState st;
  Prg prg = Prg::from_os();  // this party's protocol randomness (keys, masks, noise)
  core::Workers workers(static_cast<std::size_t>(c.o.threads));
  const Ring ring(c.o.bits);
  st.in = my_shares(ring, me, lb.in_size, x);

  std::vector<linear::HeClient> hc;
  std::vector<linear::HeServer> hs;
  Timer t;
  for (const engine::HeNeed& h : lb.plan->he_sets()) {
    if (me == Party::kServer) {
      hs.push_back(linear::he_server_setup(ch, h.params, h.galois_elements));
      hs.back().workers = &workers;
    } else {
      hc.push_back(linear::he_client_setup(ch, h.params, prg, h.galois_elements));
      hc.back().workers = &workers;
    }
  }
  ch.flush();
  st.setup_s = t.seconds();
  std::unique_ptr<engine::Prepared> prepared;
  if (me == Party::kServer) {
    t.reset();
    prepared = lb.planned().prepare(lb.model.weights);
    st.prepare_s = t.seconds();
  }
  barrier(ch, me);
  // Integer layers may extract digits on OT (hequant-conv): an MPC session, set up before the clock.
  std::unique_ptr<mpc::MpcSession> session;
  if (c.o.act_bits > 0) {
    session = std::make_unique<mpc::MpcSession>(ch, me, prg, ot_of(c.o), &workers);
    ch.flush();
    barrier(ch, me);
  }
  const net::ChannelStats s0 = ch.stats();
  t.reset();
  engine::PartyContext ctx{ch, me, prg, session.get(), hc, hs};
  const ArithShares* in[] = {&st.in};
  st.out = lb.planned().run(ctx, in, prepared.get());
  ch.flush();
  st.op_s = t.seconds();
  st.op_stats = diff(s0, ch.stats());
  return st;
}

// Receives n ring elements from the peer (the --verify step).
std::vector<u64> recv_u64s(net::Channel& ch, std::size_t n) {
  std::vector<u64> v(n);
  ch.recv(v.data(), n * sizeof(u64));
  return v;
}

// The shape options, for the JSON line.
void shape_json(Json& j, const Config& c) {
  const BenchOptions& o = c.o;
  if (c.op == Op::kFc) {
    j["in"] = o.in;
    j["out"] = o.out;
    j["batch"] = o.batch;
    return;
  }
  j["c"] = o.c;
  j["h"] = o.h;
  j["w"] = o.w;
  if (c.op != Op::kConv) return;
  const linear::Conv2dMeta m = conv_meta(o);
  j["m"] = m.M;
  j["k"] = m.kh;
  j["stride"] = m.stride_h;
  j["pad"] = m.pad_top;
  j["groups"] = m.groups;
  j["out_h"] = m.out_h();
  j["out_w"] = m.out_w();
}

// Party 0, linear ops.
ServerResult serve_linear(const Config& c, net::Channel& ch) {
  Timer t;
  const LinearBench lb = make_linear(c, true);
  const double plan_s = t.seconds();
  const Ring ring(c.o.bits);
  const std::vector<u64> x0 = plaintext_inputs(c, ring, lb.in_size);
  const LinearState st = run_linear_timed(c, ch, Party::kServer, lb, &x0);
  const double client_setup = ch.recv_value<double>();
  const double client_op = ch.recv_value<double>();

  std::optional<bool> verified;
  std::size_t mismatches = 0;
  if (c.o.verify) {
    // Reconstruct the input from both shares and the output, and compare with the strategy's ideal
    // functionality (the fixed-point reference of the node, nn::run_fixed_node).
    std::vector<u64> x = recv_u64s(ch, lb.in_size);
    std::vector<u64> y = recv_u64s(ch, lb.out_size);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = (x[i] + st.in.v[i]) & ring.mask;
    for (std::size_t i = 0; i < y.size(); ++i) y[i] = (y[i] + st.out.v[i]) & ring.mask;
    const std::vector<u64> want = engine::find_strategy(lb.strategy())->ideal(lb.model, 0, {x});
    for (std::size_t i = 0; i < x.size(); ++i) mismatches += x[i] != x0[i];
    for (std::size_t i = 0; i < y.size(); ++i) mismatches += y[i] != want[i];
    verified = mismatches == 0;
  }

  const net::ChannelStats& s = st.op_stats;
  const engine::Cost model = lb.planned().cost();
  Json j;
  j["op"] = c.o.op;
  shape_json(j, c);
  j["strategy"] = lb.strategy();
  j["bits"] = c.o.bits;
  if (c.o.act_bits > 0) {
    j["act_bits"] = c.o.act_bits;
    j["weight_bits"] = weight_bits_of(c.o);
  }
  run_json(j, c);
  j["seconds"] = std::max(st.op_s, client_op);
  j["setup_seconds"] = std::max(st.setup_s, client_setup);
  j["prepare_seconds"] = st.prepare_s;
  j["plan_seconds"] = plan_s;
  j["server_seconds"] = st.op_s;
  j["client_seconds"] = client_op;
  j["bytes_client_to_server"] = s.bytes_received;
  j["bytes_server_to_client"] = s.bytes_sent;
  j["rounds"] = s.rounds;
  j["model_bytes_client_to_server"] = model.bytes_c2s;
  j["model_bytes_server_to_client"] = model.bytes_s2c;
  // Layout facts of the strategy ("tile.Hw" → {"tile": {"Hw": ...}}).
  j.update(layout_json<Json>(lb.planned()));
  return finish_server(ch, j, verified, mismatches);
}

// Party 1, linear ops.
ServerResult client_linear(const Config& c, net::Channel& ch) {
  const LinearBench lb = make_linear(c, false);
  const LinearState st = run_linear_timed(c, ch, Party::kClient, lb, nullptr);
  ch.send_value(st.setup_s);
  ch.send_value(st.op_s);
  if (c.o.verify) {
    // A benchmark only: the client reveals its input and output shares to the server.
    ch.send(st.in.v.data(), st.in.v.size() * sizeof(u64));
    ch.send(st.out.v.data(), st.out.v.size() * sizeof(u64));
  }
  ch.flush();
  return finish_client(ch);
}

// ---- whole network (net) --------------------------------------------------------------------

constexpr std::size_t kMaxReportBytes = std::size_t{16} << 20;  // the client's report frame

// The planner's network profile (both parties plan for the same one: the client checks the hash).
engine::NetworkProfile net_profile(const BenchOptions& o) {
  engine::NetworkProfile p = o.net == "wan" ? engine::NetworkProfile::wan() : engine::NetworkProfile::lan();
  p.ot = ot_of(o);
  return p;
}

// What each party derives from the model file: the fixed-point model and the preprocessing.
struct NetModel {
  nn::FixedModel fixed;
  nn::Preprocess pp;
  nn::Shape input_shape;
  std::size_t calib_records = 0;
  double seconds = 0;  // load + quantisation
};

// Loads --model and quantises it as `peregrine run` does (app::load_model: the last 16 records of
// the calibration dataset).
NetModel load_net_model(const BenchOptions& o) {
  Timer t;
  InferOptions io;
  io.model = o.model;
  io.calib = calib_path(o);
  io.rings = o.rings;
  LoadedModel lm = load_model(io);
  NetModel m;
  m.pp = nn::preprocess_from_metadata(lm.graph.metadata);
  m.input_shape = lm.graph.shape_of(lm.graph.inputs[0]);
  m.fixed = std::move(lm.fixed);
  m.calib_records = lm.calib_records;
  m.seconds = t.seconds();
  return m;
}

nn::ModelInput load_net_input(const BenchOptions& o, const NetModel& m) {
  return nn::load_model_input(input_path(o), o.index, m.input_shape, m.pp);
}

// Party 0, net: quantise, prepare the ServerModel, barrier, serve one session, then collect the
// client's report (and, with --verify, its input and logits) and build the JSON line.
ServerResult serve_net(const Config& c, net::Channel& ch) {
  NetModel m = load_net_model(c.o);
  std::optional<nn::ModelInput> own;  // --verify: the server loads the client's input itself
  if (c.o.verify) own = load_net_input(c.o, m);
  Timer t;
  const engine::ServerModel model(std::move(m.fixed), net_profile(c.o), plan_options(c.o.fidelity, c.o.strategies),
                                  server_options(c.o.prepared_budget_mib));
  const double prepare_s = t.seconds();
  const std::uint64_t rss_before = engine::peak_rss_bytes();

  barrier(ch, Party::kServer);
  Prg prg = Prg::from_os();  // the protocol's randomness
  const engine::PartyReport sr =
      engine::serve_session(ch, model, prg, ot_of(c.o), static_cast<std::size_t>(c.o.threads));
  const std::uint64_t rss = engine::peak_rss_bytes();

  // Not counted: the session's counters were read when it ended.
  const std::vector<std::uint8_t> frame = ch.recv_frame(kMaxReportBytes);
  const Json cr = Json::parse(frame.begin(), frame.end());
  const nn::FixedPlan& plan = model.model().plan;
  std::optional<bool> verified;
  std::size_t mismatches = 0;
  std::int64_t max_logit_diff = -1;  // --verify: largest |logit − reference| in LSB
  if (c.o.verify) {
    // The client's quantised input must be the server's, and its logits the fixed-point reference.
    const std::vector<u64> want_in = nn::quantize_input(plan, own->data);
    const std::vector<u64> want = nn::run_fixed(model.model(), want_in);
    const std::vector<u64> got_in = recv_u64s(ch, want_in.size());
    const std::vector<u64> got = recv_u64s(ch, want.size());
    for (std::size_t i = 0; i < want_in.size(); ++i) mismatches += got_in[i] != want_in[i];
    // Under --fidelity approx the logits may differ from the reference (each approximate layer
    // within its stated tolerance, propagated): the largest difference is reported, not counted.
    const mpc::Ring ring(plan.ring_bits);
    max_logit_diff = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      max_logit_diff = std::max(max_logit_diff, std::abs(ring.centred(got[i] - want[i])));
      if (c.o.fidelity != "approx") mismatches += got[i] != want[i];
    }
    verified = mismatches == 0;
  }

  const engine::LayerChoice est = model.plan().total();
  Json j;
  j["op"] = c.o.op;
  j["model"] = c.o.model;
  j["input"] = cr.at("input");
  j["index"] = cr.at("index");
  j["label"] = cr.at("label");
  j["calibration"] = {{"dataset", calib_path(c.o)}, {"records", m.calib_records}};
  j["ring_bits"] = plan.ring_bits;
  j["frac_bits"] = plan.frac_bits;
  j["nodes"] = plan.nodes.size();
  j["fidelity"] = c.o.fidelity;
  if (max_logit_diff >= 0) j["max_logit_diff_lsb"] = max_logit_diff;
  run_json(j, c);
  j["ot"] = c.o.ot;
  j["plan_profile"] = net_profile(c.o).name;
  // The client's view: its set-up, and the latency from its input to its logits.
  j["setup_seconds"] = cr.at("setup_seconds");
  j["online_seconds"] = cr.at("online_seconds");
  j["prepare_seconds"] = prepare_s;
  j["prepared_bytes"] = model.prepared_bytes();
  j["per_session_prepared_layers"] = model.per_session_layers();
  j["quantize_seconds"] = m.seconds;
  j["bytes_client_to_server"] = cr.at("online_bytes_sent");
  j["bytes_server_to_client"] = cr.at("online_bytes_received");
  j["setup_bytes_client_to_server"] = cr.at("setup_bytes_sent");
  j["setup_bytes_server_to_client"] = cr.at("setup_bytes_received");
  j["rounds"] = cr.at("online_rounds");
  j["setup_rounds"] = cr.at("setup_rounds");
  j["server"] = {{"setup_seconds", sr.setup_seconds},
                 {"online_seconds", sr.online_seconds},
                 {"bytes_sent", sr.online_bytes_sent},
                 {"bytes_received", sr.online_bytes_received},
                 {"rounds", sr.online_rounds}};
  j["estimate"] = {{"bytes_client_to_server", est.est_bytes_c2s},
                   {"bytes_server_to_client", est.est_bytes_s2c},
                   {"rounds", est.est_rounds},
                   {"seconds", est.est_seconds}};
  j["peak_rss_bytes"] = {{"server", rss}, {"client", cr.at("peak_rss_bytes")}};
  j["peak_rss_bytes_pre_session"] = {{"server", rss_before}, {"client", cr.at("peak_rss_bytes_pre_session")}};
  j["top1"] = cr.at("top1");
  j["layers"] = cr.at("layers");
  return finish_server(ch, j, verified, mismatches);
}

// Party 1, net: quantise (for the plan hash), load the input, barrier, one session, report.
// The client never builds a ServerModel.
ServerResult client_net(const Config& c, net::Channel& ch) {
  std::array<std::uint8_t, 32> expected{};
  std::vector<float> input;
  int label = -1;
  std::string description;
  {
    NetModel m = load_net_model(c.o);
    nn::ModelInput in = load_net_input(c.o, m);
    input = std::move(in.data);
    label = in.label;
    description = std::move(in.description);
    // The plan this client insists on: its own quantisation, planned for the same profile.
    const engine::ProtocolPlan plan(std::move(m.fixed.plan), net_profile(c.o), plan_options(c.o.fidelity, c.o.strategies));
    expected = plan.hash();
  }
  const std::uint64_t rss_before = engine::peak_rss_bytes();

  barrier(ch, Party::kClient);
  Prg prg = Prg::from_os();  // the protocol's randomness
  const engine::ClientResult res =
      engine::client_session(ch, [&](const nn::FixedPlan&) { return input; }, prg, &expected, ot_of(c.o),
                             engine::parse_fidelity(c.o.fidelity), {}, static_cast<std::size_t>(c.o.threads));
  const std::uint64_t rss = engine::peak_rss_bytes();

  const engine::PartyReport& r = res.report;
  Json j;
  j["input"] = description;
  j["index"] = c.o.index;
  j["label"] = label;
  j["setup_seconds"] = r.setup_seconds;
  j["online_seconds"] = r.online_seconds;
  j["setup_bytes_sent"] = r.setup_bytes_sent;
  j["setup_bytes_received"] = r.setup_bytes_received;
  j["online_bytes_sent"] = r.online_bytes_sent;
  j["online_bytes_received"] = r.online_bytes_received;
  j["setup_rounds"] = r.setup_rounds;
  j["online_rounds"] = r.online_rounds;
  j["peak_rss_bytes"] = rss;
  j["peak_rss_bytes_pre_session"] = rss_before;
  j["top1"] = res.logits.empty()
                  ? -1
                  : static_cast<long long>(std::max_element(res.logits.begin(), res.logits.end()) - res.logits.begin());
  Json layers = Json::array();
  for (const engine::LayerReport& l : r.layers) {
    // The client's counters: what it sent went to the server.
    layers.push_back({{"name", l.name},
                      {"op", l.op},
                      {"strategy", l.strategy},
                      {"seconds", l.seconds},
                      {"bytes_client_to_server", l.bytes_sent},
                      {"bytes_server_to_client", l.bytes_received},
                      {"rounds", l.rounds}});
  }
  j["layers"] = std::move(layers);
  const std::string text = j.dump();
  ch.send_frame({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  if (c.o.verify) {
    // A benchmark only: the client reveals its quantised input and the logits to the server.
    ch.send(res.input_ring.data(), res.input_ring.size() * sizeof(u64));
    ch.send(res.logits_ring.data(), res.logits_ring.size() * sizeof(u64));
  }
  ch.flush();
  return finish_client(ch);
}

// Party 0: runs, collects the client's times (and output), builds the JSON and sends it back.
ServerResult run_server(const Config& c, net::Channel& ch) {
  exchange_header(ch, c);
  if (c.op == Op::kNet) return serve_net(c, ch);
  return is_linear(c.op) ? serve_linear(c, ch) : serve_protocol(c, ch);
}

// Party 1: runs, reports to the server, returns the server's JSON line and exit code.
ServerResult run_client(const Config& c, net::Channel& ch) {
  exchange_header(ch, c);
  if (c.op == Op::kNet) return client_net(c, ch);
  return is_linear(c.op) ? client_linear(c, ch) : client_protocol(c, ch);
}

// ---- processes ------------------------------------------------------------------------------

// Waits for `pid` up to `grace`, then kills it (it is our own child) and reaps it.
int reap_child(pid_t pid, std::chrono::milliseconds grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

std::string describe_status(int status) {
  if (status == -1) return "could not be waited for";
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {}", WTERMSIG(status));
  return "ended abnormally";
}

void emit(const std::string& line, JsonSink& sink) {
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
  sink.write(line);
}

// --role local: listener, fork, child = client (party 1), parent = server (party 0).
int run_local(const Config& c) {
  JsonSink sink(c.o.json_file);
  auto listener = std::make_unique<net::TcpListener>("127.0.0.1", 0);
  const std::uint16_t port = listener->port();
  std::fflush(nullptr);  // nothing buffered may be written twice
  // No thread exists yet (the channels' emulation threads start after the fork).
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(ErrorCode::kCrypto, std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    int code = 1;
    try {
      listener.reset();
      auto ch = net::tcp_connect("127.0.0.1", port, c.timeout, c.ch);
      code = run_client(c, *ch).code;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "peregrine bench: client process: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "peregrine bench: client process: unknown error\n");
    }
    std::fflush(stderr);
    ::_exit(code);
  }

  ServerResult r;
  try {
    std::unique_ptr<net::Channel> ch;
    const auto deadline = std::chrono::steady_clock::now() + c.timeout;
    while (!ch) {
      try {
        ch = listener->accept(std::chrono::milliseconds(200), c.ch);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kTimeout) throw;
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid)
          throw Error(ErrorCode::kPeerClosed,
                      "the client process " + describe_status(status) + " before connecting");
        if (std::chrono::steady_clock::now() >= deadline)
          throw Error(ErrorCode::kTimeout, "the client process did not connect");
      }
    }
    r = run_server(c, *ch);
  } catch (...) {
    // The channel is closed by now, so the child sees kPeerClosed and exits; kill it if not.
    const int status = reap_child(pid, std::chrono::milliseconds(10000));
    std::fprintf(stderr, "peregrine bench: the client process %s\n", describe_status(status).c_str());
    throw;
  }
  const int status = reap_child(pid, c.timeout);
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == r.code))
    throw Error(ErrorCode::kPeerClosed, "the client process " + describe_status(status));
  emit(r.json, sink);
  return r.code;
}

int run_server_role(const Config& c) {
  JsonSink sink(c.o.json_file);
  net::TcpListener listener(c.o.bind, static_cast<std::uint16_t>(c.o.port));
  std::fprintf(stderr, "peregrine bench: server listening on %s:%u\n", c.o.bind.c_str(),
               static_cast<unsigned>(listener.port()));
  if (!c.o.port_file.empty()) {
    // Written to a temporary name and renamed, so a reader never sees a partial file.
    const std::string tmp = c.o.port_file + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    if (!f) throw Error(ErrorCode::kInvalidArgument, "cannot write --port-file '" + tmp + "'");
    std::fprintf(f, "%u\n", static_cast<unsigned>(listener.port()));
    const bool ok = std::fclose(f) == 0 && std::rename(tmp.c_str(), c.o.port_file.c_str()) == 0;
    if (!ok) throw Error(ErrorCode::kInvalidArgument, "cannot write --port-file '" + c.o.port_file + "'");
  }
  auto ch = listener.accept(c.timeout, c.ch);
  ServerResult r = run_server(c, *ch);
  emit(r.json, sink);
  return r.code;
}

int run_client_role(const Config& c) {
  JsonSink sink(c.o.json_file);
  const auto [host, port] = parse_host_port(c.o.connect);
  auto ch = net::tcp_connect(host, port, c.timeout, c.ch);
  ServerResult r = run_client(c, *ch);
  emit(r.json, sink);
  return r.code;
}

}  // namespace

CLI::App* add_bench_subcommand(CLI::App& app, BenchOptions& o) {
  auto* b = app.add_subcommand(
      "bench",
      "two-party protocol benchmark over TCP (relu, trunc, relutrunc, cot; HE linear layers conv, "
      "bn, fc; a whole private inference: net); prints one JSON line");
  b->option_defaults()->always_capture_default();
  b->add_option("op", o.op, "relu | trunc | relutrunc | cot | conv | bn | fc | net")
      ->required()
      ->check(CLI::IsMember({"relu", "trunc", "relutrunc", "cot", "conv", "bn", "fc", "net"}));
  b->add_option("--n", o.n, "number of elements (cot: number of COTs; not for conv, bn, fc)");
  b->add_option("--bits", o.bits, "ring bits l (shares in Z_{2^l})")->check(CLI::Range(2, 64));
  b->add_option("--shift", o.shift, "truncation shift f (trunc, relutrunc)")->check(CLI::Range(1, 63));
  b->add_option("--threads", o.threads,
                "worker threads of each party (HE products and encryptions, Ferret refills; default 1)")
      ->check(CLI::Range(1, 256));
  b->add_option("--json", o.json_file, "also append the JSON line to this file");
  b->add_flag("--verify", o.verify, "reconstruct the output and compare it with the plaintext result");
  b->add_option("--net", o.net, "link emulation on both endpoints: none | lan | wan")
      ->check(CLI::IsMember({"none", "lan", "wan"}));
  b->add_option("--role", o.role,
                "local: fork both parties over loopback; server / client: one party each")
      ->check(CLI::IsMember({"local", "server", "client"}));
  b->add_option("--bind", o.bind, "--role server: address to listen on");
  b->add_option("--port", o.port, "--role server: TCP port (0 = any free port)")
      ->check(CLI::Range(0, 65535));
  b->add_option("--port-file", o.port_file, "--role server: write the listening port to this file");
  b->add_option("--connect", o.connect, "--role client: server address HOST:PORT");
  b->add_option("--timeout", o.timeout_s, "read / accept / connect timeout in seconds");
  b->add_option("--ot", o.ot, "OT back-end: silent (Ferret, default) | iknp")
      ->check(CLI::IsMember({"silent", "iknp"}));
  b->add_option("--trunc-mode", o.trunc_mode, "trunc, relutrunc: exact | approx (Cheetah's, error ≤ 1 LSB)")
      ->check(CLI::IsMember({"exact", "approx"}));
  b->add_option("--msb", o.msb, "trunc: unknown | zero (non-negative inputs, MSB public as after a ReLU)")
      ->check(CLI::IsMember({"unknown", "zero"}));
  b->add_option("--fidelity", o.fidelity,
                "relutrunc, net: exact (bit-exact) | approx (relu-highbits + trunc-approx, error <= 1 LSB per truncation)")
      ->check(CLI::IsMember({"exact", "approx"}));
  b->add_option("--strategies", o.strategies, "net: comma-separated strategy names the planner may use (default: all)");
  b->add_option("--prepared-budget", o.prepared_budget_mib,
                "net: MiB of prepared weights the server keeps; layers beyond it are prepared in the session (default 2048)");
  b->add_option("--rings", o.rings, "net: fixed-point rings auto | uniform | per-tensor")
      ->check(CLI::IsMember({"auto", "uniform", "per-tensor"}));
  auto* shape = "linear layer shape";
  b->add_option("--c", o.c, "conv, bn: input channels C")->group(shape);
  b->add_option("--h", o.h, "conv, bn: input height H")->group(shape);
  b->add_option("--w", o.w, "conv, bn: input width W")->group(shape);
  b->add_option("--m", o.m, "conv: output channels M (depthwise: --groups C --m C)")->group(shape);
  b->add_option("--k", o.k, "conv: kernel size K (K x K)")->group(shape);
  b->add_option("--stride", o.stride, "conv: stride")->group(shape);
  b->add_option("--pad", o.pad, "conv: zero padding on each side")->group(shape);
  b->add_option("--groups", o.groups, "conv: groups")->group(shape);
  b->add_option("--strategy", o.strategy,
                "conv, bn, fc: the registered strategy to run (default: the planner's choice for LAN)")->group(shape);
  b->add_option("--tile", o.tile, "conv: tiling policy, min-bytes | opencheetah (aliases of --strategy cheetah-conv | cheetah-conv-opencheetah)")
      ->check(CLI::IsMember({"min-bytes", "opencheetah"}))
      ->group(shape);
  b->add_option("--in", o.in, "fc: input features K")->group(shape);
  b->add_option("--out", o.out, "fc: output features M")->group(shape);
  b->add_option("--batch", o.batch, "fc: batch rows B")->group(shape);
  b->add_option("--act-bits", o.act_bits,
                "conv, bn, fc: an integer layer: inputs in [0, 2^A) with that public bound (hequant-conv applies); 0 = fixed point")
      ->check(CLI::Range(0, 16))->group(shape);
  b->add_option("--weight-bits", o.weight_bits, "conv, bn, fc: weights within W bits (|w| <= 2^{W-1}; default 13)")
      ->check(CLI::Range(0, 24))->group(shape);
  auto* netg = "whole network (net)";
  b->add_option("--model", o.model, "net: ONNX model file")->group(netg);
  b->add_option("--input", o.input,
                "net: the client's input, a dataset (CIFAR-10/100 binary, MNIST idx3), PNG/JPEG or .npy "
                "(default: --calib)")
      ->group(netg);
  b->add_option("--index", o.index, "net: record of the --input dataset")->group(netg);
  b->add_option("--calib", o.calib,
                "net: calibration inputs, the last 16 of a dataset file, a folder of PNG/JPEG images or an .npy batch "
                "(default: --input when it is a dataset)")
      ->group(netg);
  return b;
}

int run_bench(const BenchOptions& o) {
  const Config c = validate(o);
  if (o.role == "server") return run_server_role(c);
  if (o.role == "client") return run_client_role(c);
  return run_local(c);
}

}  // namespace peregrine::app
