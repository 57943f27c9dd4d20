// `peregrine bench OP`: two-party micro-benchmarks of the secret-sharing protocols over TCP.
//
// OPs: relu, trunc, relutrunc — one- or two-node programs run through the registered strategies
// (engine/strategy.hpp) a network uses: relu-millionaire; trunc-exact, trunc-exact-msb0 (--msb
// zero) or trunc-approx (--trunc-mode approx); relutrunc = ReLU then a truncation of a value known
// ≥ 0 (relu-millionaire + trunc-exact-msb0 / trunc-approx, or relu-highbits + trunc-approx with
// --fidelity approx); the JSON names them in "strategies" —, cot (raw IKNP or Ferret correlated
// OT, party 0 = COT sender), and the HE linear layers on shares through the registry (Cheetah
// family, --strategy NAME, default the planner's choice): conv (--c --h --w --m --k
// [--stride --pad --groups --tile]; depthwise = --groups C --m C), bn (--c --h --w), fc (--in --out
// [--batch]). A linear op reports the HE key set-up (setup_seconds), the server's weight preparation
// (prepare_seconds), the layer itself (seconds, bytes, rounds) and the cost model's bytes.
//
// OP `net`: a whole private inference (src/peregrine/engine) of --model MODEL.onnx. Both processes
// load the model and quantise it (nn::quantize_model) on the last 16 records of --calib (default:
// --input when it is a dataset file); the server builds an engine::ServerModel (prepare_seconds)
// and runs engine::serve_session, the client runs engine::client_session on record --index of
// --input (a dataset, PNG/JPEG image or .npy; default: the --calib dataset), insisting on the plan
// hash of its own quantisation. The client reports its view (set-up and online seconds, bytes each
// way, rounds, per-layer costs, top-1, peak RSS) to the server, which prints one JSON line with both
// parties' peak RSS. --verify: the client also reveals its quantised input and the logits, and the
// server compares them with its own quantised input and nn::run_fixed (bit-exact).
//
// Roles: by default (`--role local`) the process opens a TCP listener on 127.0.0.1 (port 0), forks,
// the child connects as the client (party 1) and the parent accepts as the server (party 0).
// `--role server --port P` and `--role client --connect HOST:PORT` run one party each (two
// terminals or two machines); both must be given the same OP, --n, --bits, --shift and --verify
// (checked at connection time); for a linear op also the same shape options; for net the same
// --model and calibration data (the client checks the plan hash) and, with --verify, --index (the
// server loads the client's input itself; the "input" field is the client's description of it).
//
// Output: one JSON object on one line on stdout (the server's; in the split roles the client prints
// the same line), appended to --json FILE as well when given. Exit codes: 0 success, 1 error
// (message on stderr), 3 when --verify found a mismatch.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace peregrine::app {

struct BenchOptions {
  std::string op;                                 ///< relu | trunc | relutrunc | cot | conv | bn | fc | net
  std::size_t n = std::size_t{1} << 16;           ///< elements (or COTs); not for linear ops
  int bits = 37;                                  ///< ring bits ℓ
  int shift = 12;                                 ///< truncation shift f (trunc ops)
  int threads = 1;                                ///< worker threads of each party (core::Workers)
  std::string json_file;                          ///< append the JSON line here ("" = no)
  bool verify = false;                            ///< reconstruct and compare with plaintext
  std::string net = "none";                       ///< none | lan | wan (link emulation)
  std::string role = "local";                     ///< local | server | client
  std::string bind = "0.0.0.0";                   ///< --role server: address to listen on
  int port = 0;                                   ///< --role server: port (0 = any free port)
  std::string port_file;                          ///< --role server: write the bound port here
  std::string connect;                            ///< --role client: HOST:PORT
  double timeout_s = 120;                         ///< read / accept / connect timeout
  std::string ot = "silent";                      ///< OT back-end: silent (Ferret) | iknp
  std::string trunc_mode = "exact";               ///< trunc, relutrunc: exact | approx (|err| ≤ 1)
  std::string msb = "unknown";                    ///< trunc: unknown | zero (inputs ≥ 0, MSB public)
  /// relutrunc: exact (relu-millionaire + --trunc-mode) | approx (relu-highbits + trunc-approx, the
  /// planner's choice under --fidelity approx; result ⌊ReLU(x)/2^f⌋ − {0, 1}); net: the planner's
  /// fidelity policy (engine::PlanOptions)
  std::string fidelity = "exact";
  std::string strategies;                         ///< net: comma-separated strategy names ("" = all)
  std::string rings = "auto";                     ///< net: fixed-point rings auto | uniform | per-tensor
  std::size_t prepared_budget_mib = 2048;         ///< net: MiB of prepared weights the server keeps
  // Linear-layer shapes (conv, bn: input [c, h, w]; fc: input [batch, in]).
  std::size_t c = 0, h = 0, w = 0;                ///< conv, bn: input channels, height, width
  std::size_t m = 0;                              ///< conv: output channels
  std::size_t k = 0;                              ///< conv: kernel size (k × k)
  std::size_t stride = 1;                         ///< conv: stride (both axes)
  std::size_t pad = 0;                            ///< conv: zero padding (all four sides)
  std::size_t groups = 1;                         ///< conv: groups (depthwise: groups = c = m)
  std::string tile;                               ///< conv: min-bytes | opencheetah (aliases of --strategy; "" = planner)
  std::string strategy;                           ///< conv, bn, fc: registered strategy name ("" = planner's choice)
  std::size_t in = 0, out = 0;                    ///< fc: input and output features
  std::size_t batch = 1;                          ///< fc: batch rows
  /// conv, bn, fc: an integer (quantised) layer: inputs uniform in [0, 2^act_bits) with that public
  /// bound (the program's FxIntegerIO), weights within weight_bits; 0 = the fixed-point layer
  /// (inputs over the whole ring, 13-bit weights).
  int act_bits = 0;
  int weight_bits = 0;                            ///< 0: 13 (the fixed-point default)
  // Whole network (net).
  std::string model;                              ///< ONNX model file
  std::string input;                              ///< dataset, PNG/JPEG or .npy ("" = --calib)
  std::size_t index = 0;                          ///< record of --input (datasets)
  std::string calib;                              ///< calibration dataset ("" = --input)
};

/// Registers the `bench` subcommand on `app`, filling `o` when parsed; returns the subcommand.
CLI::App* add_bench_subcommand(CLI::App& app, BenchOptions& o);

/// Runs the benchmark. Returns the process exit code (0, or 3 on a --verify mismatch); throws
/// peregrine::Error for bad options, network and protocol failures.
int run_bench(const BenchOptions& o);

}  // namespace peregrine::app
