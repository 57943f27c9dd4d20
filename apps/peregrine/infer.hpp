// `peregrine run | serve | query | inspect | eval`: private inference of an ONNX CNN end to end
// (DESIGN.md §6).
//
//   run [MODEL] --input PATH [--index K]   both parties in this process (embedded default); prints
//                                         the top-k with labels, agreement with the float and
//                                         fixed-point references, time and bytes, per-layer table
//   serve MODEL --listen HOST:PORT        keeps the model loaded, one session per client, several
//                                         at once (--max-sessions); a failing session is logged
//                                         and the server goes on; a session that stalls (--timeout)
//                                         or outlasts --session-timeout is ended with kTimeout
//   query --connect HOST:PORT --input …   the client; never receives weights
//   inspect MODEL                         ops, shapes, unsupported nodes, quantisation plan,
//                                         protocol plan with cost estimates
//   eval MODEL --dataset FILE --limit N   private top-1 vs float top-1 vs labels
//
// Without MODEL, `run` uses the project's own model (models/digits_cnn.onnx, trained by
// python/train_digits.py) and its sample input. Calibration inputs for the fixed-point plan come
// from --calib, else from the test set named by the model's `dataset` metadata when it is found
// (../shared/data or models/; the last 16 records, disjoint from the first records `eval` uses),
// else from random pixel images.
//
// Exit codes: 0 success, 1 an error (one line on stderr: "peregrine: <code>: <reason>"),
// 3 `run` found the private result different from the fixed-point reference.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "peregrine/engine/engine.hpp"
#include "peregrine/mpc/session.hpp"
#include "peregrine/nn/fixed.hpp"
#include "peregrine/nn/graph.hpp"

namespace CLI {
class App;
}

namespace peregrine::app {

/// A planned strategy's layout facts (tiles, ciphertext counts, packing, q_bits) as nested JSON,
/// "pack.digits" → {"pack": {"digits": …}}; the form `bench conv` and `inspect --json` report.
/// Json: nlohmann::json or nlohmann::ordered_json. Thread-safe (reads only).
template <class Json>
Json layout_json(const engine::PlannedLayer& planned) {
  Json j = Json::object();
  for (const auto& [key, value] : planned.layout()) {
    const auto dot = key.find('.');
    if (dot == std::string::npos) j[key] = value;
    else j[key.substr(0, dot)][key.substr(dot + 1)] = value;
  }
  return j;
}

struct InferOptions {
  std::string model;            ///< ONNX file ("" = the default model, run only)
  std::string input;            ///< image / .npy / dataset file
  std::size_t index = 0;        ///< record in a dataset file
  std::string format = "auto";  ///< dataset format: auto | cifar10 | cifar100 | mnist
  std::string calib;            ///< calibration dataset ("" = automatic)
  std::size_t calib_n = 16;     ///< calibration records
  int frac_bits = 12;
  int headroom_bits = 3;
  std::size_t top = 3;          ///< top-k printed
  std::string json_file;        ///< write the JSON report here
  std::string listen = "127.0.0.1:0";
  std::string connect;
  std::string port_file;        ///< serve: write the bound port here (tests, scripts)
  std::size_t max_sessions = 4; ///< serve: concurrent sessions
  std::size_t sessions = 0;     ///< serve: stop after this many sessions (0 = forever)
  double timeout_s = 60;        ///< read / connect timeout (seconds)
  /// serve, query: whole-session limit in seconds, counted from the connection (0 = none):
  /// net::ChannelOptions::session_timeout. Bounds a peer that drips bytes just inside --timeout.
  double session_timeout_s = 600;
  std::string dataset;          ///< eval
  std::size_t limit = 100;      ///< eval
  std::size_t offset = 0;       ///< eval: first record
  std::string ot = "silent";    ///< OT back-end: silent (Ferret) | iknp; both ends must agree
  /// exact (bit-exact to the fixed-point reference) | approx (strategies with a stated error bound
  /// allowed; a client with exact refuses a server's approximate plan)
  std::string fidelity = "exact";
  std::string strategies;       ///< comma-separated registered strategy names the planner may use ("" = all)
  std::string rings = "auto";   ///< fixed-point rings: auto | uniform | per-tensor (nn::FixedOptions::rings)
  /// run, serve, eval: MiB of prepared (NTT-form) weights the server keeps; the layers beyond are
  /// prepared in each session (engine::ServerOptions::prepared_budget_bytes)
  std::size_t prepared_budget_mib = 2048;
  std::string net = "lan";       ///< inspect: the profile the plan is made for (lan | wan)
  /// run, serve, query, eval: worker threads of each party (core::Workers; results do not depend on it)
  std::size_t threads = 1;
};

/// A model ready for the server: the graph (float reference) and its fixed-point program.
struct LoadedModel {
  std::string path;
  nn::Graph graph;
  nn::FixedModel fixed;
  std::string calibration;  ///< what the plan was calibrated on (for reports)
  std::size_t calib_records = 0;  ///< calibration inputs used
};

/// Loads and quantises MODEL as described above. Errors: those of nn::load_onnx (missing,
/// corrupt, unsupported model: one message listing every unsupported node) and quantize_model.
LoadedModel load_model(const InferOptions& o);

/// The OT back-end of an --ot value ("silent" | "iknp"), shared by the infer and bench commands.
/// Errors: kInvalidArgument for anything else.
mpc::OtBackend ot_backend_option(const std::string& value);

/// The planner options of --fidelity and --strategies (comma-separated names), shared by the infer
/// and bench commands. Errors: kInvalidArgument for an unknown fidelity or strategy name (listing
/// the registered ones).
engine::PlanOptions plan_options(const std::string& fidelity, const std::string& strategies);

/// The server options of --prepared-budget MiB, shared by the infer and bench commands.
engine::ServerOptions server_options(std::size_t prepared_budget_mib);

/// Registers run, serve, query, inspect and eval on `app`; `o` is filled when one is parsed.
/// Returns the subcommands in that order.
std::vector<CLI::App*> add_infer_subcommands(CLI::App& app, InferOptions& o);

/// Runs the parsed subcommand `name` ("run", ...). Returns the exit code; throws peregrine::Error.
int run_infer(const std::string& name, const InferOptions& o);

}  // namespace peregrine::app
