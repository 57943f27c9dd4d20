#include "infer.hpp"

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <system_error>
#include <thread>
#include <vector>

#include "peregrine/core/error.hpp"
#include "peregrine/engine/engine.hpp"
#include "peregrine/net/channel.hpp"
#include "peregrine/nn/float_exec.hpp"
#include "peregrine/nn/input.hpp"
#include "peregrine/nn/onnx_import.hpp"

namespace peregrine::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }
void progress(const std::string& what) {
  if (stderr_is_terminal()) std::fprintf(stderr, "peregrine: %s\n", what.c_str());
}

/// The client's per-layer progress line on a terminal (layer i of n, elapsed, MB both ways so far),
/// rewritten in place and cleared after the last layer; empty (no output) otherwise.
engine::ProgressFn layer_progress() {
  if (!stderr_is_terminal()) return {};
  struct State {
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    std::uint64_t bytes = 0;
  };
  auto st = std::make_shared<State>();
  return [st](const engine::LayerReport& l, std::size_t done, std::size_t total) {
    st->bytes += l.bytes_sent + l.bytes_received;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - st->t0).count();
    std::fprintf(stderr, "\r\033[Kperegrine: layer %zu of %zu (%s), %.1f s, %.1f MB", done, total, l.op.c_str(), s,
                 static_cast<double>(st->bytes) / 1e6);
    if (done == total) std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  };
}

/// The repository root: the first ancestor of the executable holding models/digits_cnn.onnx.
fs::path repo_root() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  for (int up = 0; up < 5 && !ec && p.has_parent_path(); ++up) {
    p = p.parent_path();
    if (fs::exists(p / "models" / "digits_cnn.onnx")) return p;
  }
  return fs::current_path();
}

/// Folders searched for the shared data set (../shared/data beside the repository).
std::vector<fs::path> data_roots() {
  std::vector<fs::path> roots;
  if (const char* env = std::getenv("PEREGRINE_DATA_DIR")) roots.emplace_back(env);
  roots.push_back(repo_root().parent_path() / "shared" / "data");
  roots.push_back(fs::current_path() / ".." / "shared" / "data");
  return roots;
}

/// The test set a model's `dataset` metadata names, when present on this machine ("" otherwise).
std::string default_dataset(const nn::Graph& g) {
  auto it = g.metadata.find("dataset");
  if (it == g.metadata.end()) return "";
  if (it->second == "sklearn_digits_8x8") {
    fs::path p = repo_root() / "models" / "digits-test-images-idx3-ubyte";
    return fs::exists(p) ? p.string() : "";
  }
  fs::path rel;
  if (it->second == "cifar10") rel = fs::path("cifar10") / "test_batch_first1017_lossless.bin";
  else if (it->second == "mnist") rel = fs::path("mnist") / "t10k-images-idx3-ubyte";
  else return "";
  for (const auto& r : data_roots())
    if (fs::exists(r / rel)) return (r / rel).string();
  return "";
}

nn::DatasetFormat format_of(const std::string& s) { return nn::parse_dataset_format(s); }

std::size_t argmax(const std::vector<float>& v) {
  return static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

std::vector<std::size_t> top_k(const std::vector<float>& v, std::size_t k) {
  std::vector<std::size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return v[a] > v[b]; });
  idx.resize(std::min(k, idx.size()));
  return idx;
}

std::string label_of(const std::vector<std::string>& labels, std::size_t k) {
  return k < labels.size() ? labels[k] : std::to_string(k);
}


/// The float model's logits (before a final Softmax/ArgMax, which the client applies after the
/// reveal), for the agreement checks.
std::vector<float> float_logits(const LoadedModel& m, const std::vector<float>& x) {
  nn::Tensor t{m.graph.shape_of(m.graph.inputs[0]), x};
  const std::string& out = m.graph.outputs[0];
  if (m.fixed.plan.postprocess.empty()) return nn::run_float(m.graph, {t})[0].data;
  std::ptrdiff_t p = m.graph.producer(out);
  auto all = nn::run_float_all(m.graph, {t});
  return all.at(m.graph.nodes.at(static_cast<std::size_t>(p)).inputs.at(0)).data;
}

json layers_json(const engine::PartyReport& client) {
  json a = json::array();
  for (const auto& l : client.layers)
    a.push_back({{"name", l.name}, {"op", l.op}, {"strategy", l.strategy}, {"seconds", l.seconds},
                 {"bytes_client_to_server", l.bytes_sent}, {"bytes_server_to_client", l.bytes_received},
                 {"rounds", l.rounds}});
  return a;
}

/// `s` fitted into a table column of `width` characters (UTF-8 code points, width >= 3): unchanged
/// when it fits, else its start and its end joined by "…" (the end keeps the extra character), so
/// that both the block a value belongs to and the value itself stay readable, e.g.
/// "/features/stage.0/block.1/conv2/Conv" at 32 → "/features/stage…ock.1/conv2/Conv".
std::string elide_middle(const std::string& s, std::size_t width) {
  std::vector<std::size_t> starts;  // byte offset of each code point
  for (std::size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) starts.push_back(i);
  if (starts.size() <= width) return s;
  const std::size_t head = (width - 1) / 2, tail = width - 1 - head;
  return s.substr(0, starts[head]) + "…" + s.substr(starts[starts.size() - tail]);
}

// Width of the name column of the per-layer tables (`run`, `inspect`): every name of the CIFAR
// ResNets ("/layer3/layer3.8/Relu_1_output_0") fits whole; longer ones are elided in the middle.
constexpr std::size_t kNameColumn = 32;

void print_layers(const engine::PartyReport& client) {
  fmt::print("  {:<{}} {:<9} {:<24} {:>9} {:>11} {:>11} {:>6}\n", "layer", kNameColumn, "op", "strategy", "ms",
             "KB c→s", "KB s→c", "rounds");
  for (const auto& l : client.layers) {
    if (l.strategy == "local") continue;
    const std::string name = elide_middle(l.name, kNameColumn);
    fmt::print("  {:<{}} {:<9} {:<24} {:>9.1f} {:>11.1f} {:>11.1f} {:>6}\n", name, kNameColumn, l.op, l.strategy,
               l.seconds * 1e3, l.bytes_sent / 1024.0, l.bytes_received / 1024.0, l.rounds);
  }
  fmt::print("  (local moves, adds and pooling sums omitted: no communication)\n");
}

void write_json(const std::string& file, const json& j) {
  if (file.empty()) return;
  std::ofstream f(file);
  if (!f) throw Error(ErrorCode::kInvalidArgument, "cannot write the JSON report to '" + file + "'");
  f << j.dump(2) << "\n";
}

std::pair<std::string, std::uint16_t> host_port(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon + 1 == s.size())
    throw Error(ErrorCode::kInvalidArgument, "expected HOST:PORT, got '" + s + "'");
  std::string host = s.substr(0, colon);
  std::string port = s.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 || std::stoul(port) > 65535)
    throw Error(ErrorCode::kInvalidArgument, "bad port in '" + s + "'");
  return {host.empty() ? "127.0.0.1" : host, static_cast<std::uint16_t>(std::stoul(port))};
}

net::ChannelOptions channel_options(const InferOptions& o) {
  net::ChannelOptions c;
  c.read_timeout = std::chrono::milliseconds(static_cast<long long>(o.timeout_s * 1000));
  // Only the TCP transport enforces it (serve, query); run and eval's in-process pair ignores it.
  // Rounded up, so that a positive limit below 1 ms stays a limit (0 ms would mean none).
  c.session_timeout = std::chrono::milliseconds(static_cast<long long>(std::ceil(o.session_timeout_s * 1000)));
  return c;
}

mpc::OtBackend ot_of(const InferOptions& o) { return ot_backend_option(o.ot); }

json report_json(const engine::ClientResult& r, const engine::PartyReport* server, const InferOptions& o) {
  json j;
  j["ot"] = mpc::ot_backend_name(ot_of(o));
  j["threads"] = o.threads;
  j["setup_seconds"] = r.report.setup_seconds;
  j["online_seconds"] = r.report.online_seconds;
  j["bytes_client_to_server"] = r.report.online_bytes_sent;
  j["bytes_server_to_client"] = r.report.online_bytes_received;
  j["setup_bytes_client_to_server"] = r.report.setup_bytes_sent;
  j["setup_bytes_server_to_client"] = r.report.setup_bytes_received;
  j["rounds"] = r.report.online_rounds;
  (void)server;
  j["layers"] = layers_json(r.report);
  return j;
}

// ---- run ----------------------------------------------------------------------------------------

int cmd_run(InferOptions o) {
  if (o.model.empty()) {
    o.model = (repo_root() / "models" / "digits_cnn.onnx").string();
    if (o.input.empty()) o.input = (repo_root() / "models" / "digit_sample.png").string();
  }
  if (o.input.empty()) throw Error(ErrorCode::kInvalidArgument, "run needs --input IMAGE|NPY|DATASET");
  progress("loading and quantising " + o.model);
  LoadedModel m = load_model(o);
  const nn::FixedPlan& plan = m.fixed.plan;
  // Read the input before any work, so that a bad image fails fast with its own message.
  nn::ModelInput in = nn::load_model_input(o.input, o.index, plan.values.at(plan.input).shape,
                                           nn::preprocess_from_metadata(plan.metadata), format_of(o.format));
  progress("preparing the server's weights");
  engine::ServerModel server(m.fixed, engine::NetworkProfile::lan(), plan_options(o.fidelity, o.strategies),
                             server_options(o.prepared_budget_mib));
  progress("running the two parties (set-up, then " + std::to_string(plan.nodes.size()) + " steps)");
  engine::LocalRun run = engine::run_local(server, [&](const nn::FixedPlan&) { return in.data; }, channel_options(o),
                                           ot_of(o), layer_progress(), o.threads);

  std::vector<float> graph_logits = float_logits(m, in.data);
  auto fixed_ring = nn::run_fixed(m.fixed, run.client.input_ring);
  std::vector<float> fixed_logits = nn::dequantize(plan, fixed_ring);
  const bool matches = fixed_ring == run.client.logits_ring;
  const mpc::Ring ring(plan.ring_bits);
  std::int64_t diff = 0;
  for (std::size_t k = 0; k < fixed_ring.size(); ++k)
    diff = std::max(diff, std::abs(ring.centred(run.client.logits_ring[k] - fixed_ring[k])));
  const double bound = engine::logit_error_bound(m.fixed, server.plan());
  const bool within = static_cast<double>(diff) <= bound;
  const auto labels = nn::labels_from_metadata(plan.metadata);
  const std::vector<float>& logits = run.client.logits;
  std::size_t top1 = argmax(logits), float_top1 = argmax(graph_logits), fixed_top1 = argmax(fixed_logits);
  const std::uint64_t rss = engine::peak_rss_bytes();

  if (plan.integer_io)
    fmt::print("model    {}  (quantised: integer program, rings per tensor ≤ {} bits from exact bounds)\n", m.path,
               plan.ring_bits);
  else
    fmt::print("model    {}  (ℓ {} {}, f = {}; calibrated on {})\n", m.path, nn::is_uniform(plan) ? "=" : "≤ (per tensor)",
               plan.ring_bits, plan.frac_bits, m.calibration);
  fmt::print("input    {}{}\n", in.description, in.label >= 0 ? " = " + label_of(labels, static_cast<std::size_t>(in.label)) : "");
  fmt::print("private top-{}:", o.top);
  for (std::size_t k : top_k(logits, o.top)) fmt::print("  {} ({:.3f})", label_of(labels, k), logits[k]);
  fmt::print("\n");
  fmt::print("agreement  float top-1 {} [{}], fixed-point top-1 {} [{}], private logits {} the fixed-point reference\n",
             label_of(labels, float_top1), float_top1 == top1 ? "same" : "DIFFERENT", label_of(labels, fixed_top1),
             fixed_top1 == top1 ? "same" : "DIFFERENT", matches ? "equal" : "DIFFER FROM");
  const auto& c = run.client.report;
  fmt::print("set-up   {:.3f} s, {:.2f} MB c→s, {:.2f} MB s→c (keys, base OTs; weights prepared in {:.3f} s)\n",
             c.setup_seconds, c.setup_bytes_sent / 1e6, c.setup_bytes_received / 1e6, server.prepare_seconds());
  fmt::print("online   {:.3f} s, {:.2f} MB c→s, {:.2f} MB s→c, {} rounds; peak RSS {:.0f} MB (both parties, one process)\n",
             c.online_seconds, c.online_bytes_sent / 1e6, c.online_bytes_received / 1e6, c.online_rounds, rss / 1e6);
  if (server.plan().fidelity() == engine::Fidelity::kApprox)
    fmt::print("fidelity approx: logits differ from the reference by at most {} LSB (stated bound {:.4g}: {})\n", diff,
               bound, within ? "within" : "EXCEEDED");
  print_layers(c);

  json j = report_json(run.client, &run.server, o);
  j["model"] = m.path;
  j["input"] = in.description;
  j["label"] = in.label;
  j["top1"] = top1;
  j["logits"] = logits;
  j["float_top1"] = float_top1;
  j["float_logits"] = graph_logits;
  j["fixed_top1"] = fixed_top1;
  j["matches_fixed"] = matches;
  j["fidelity"] = engine::fidelity_name(server.plan().fidelity());
  j["max_logit_diff_lsb"] = diff;
  j["logit_error_bound_lsb"] = bound;
  j["ring_bits"] = plan.ring_bits;
  j["frac_bits"] = plan.frac_bits;
  j["prepare_seconds"] = server.prepare_seconds();
  j["peak_rss_bytes"] = {{"client", rss}, {"server", rss}, {"note", "one process holds both parties"}};
  write_json(o.json_file, j);
  return within ? 0 : 3;
}

// ---- serve / query ------------------------------------------------------------------------------

int cmd_serve(const InferOptions& o) {
  LoadedModel m = load_model(o);
  engine::ServerModel server(m.fixed, engine::NetworkProfile::lan(), plan_options(o.fidelity, o.strategies),
                             server_options(o.prepared_budget_mib));
  auto [host, port] = host_port(o.listen);
  net::TcpListener listener(host, port);
  if (!o.port_file.empty()) {
    std::ofstream f(o.port_file);
    f << listener.port() << "\n";
    f.close();
    if (!f) throw Error(ErrorCode::kInvalidArgument, "cannot write the port file '" + o.port_file + "'");
  }
  const std::string limit = o.session_timeout_s > 0 ? fmt::format("{:g} s", o.session_timeout_s) : "none";
  std::fprintf(stderr,
               "peregrine: serving %s on %s:%u (ℓ = %d, %zu steps, up to %zu sessions at once; read timeout %g s, "
               "session limit %s)\n",
               m.path.c_str(), host.c_str(), listener.port(), m.fixed.plan.ring_bits, m.fixed.plan.nodes.size(),
               o.max_sessions, o.timeout_s, limit.c_str());
  // One thread per session. A finishing session queues its id in `finished`; this thread joins it
  // (before every accept and at the end), so no session thread outlives cmd_serve and none is left
  // unjoined in a server that runs forever.
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::size_t active = 0;
    std::vector<std::thread::id> finished;
  };
  auto state = std::make_shared<State>();
  std::map<std::thread::id, std::thread> threads;
  struct JoinAll {  // also on an exception: a joinable std::thread must not be destroyed
    std::map<std::thread::id, std::thread>& threads;
    ~JoinAll() {
      for (auto& [tid, t] : threads)
        if (t.joinable()) t.join();
    }
  } join_all{threads};
  auto reap = [&] {
    std::vector<std::thread::id> done;
    {
      std::lock_guard lk(state->mu);
      done.swap(state->finished);
    }
    for (auto id : done) {
      auto it = threads.find(id);
      if (it == threads.end()) continue;
      it->second.join();
      threads.erase(it);
    }
  };
  std::size_t started = 0;
  const net::ChannelOptions copts = channel_options(o);
  const mpc::OtBackend ot = ot_of(o);
  while (o.sessions == 0 || started < o.sessions) {
    {
      std::unique_lock lk(state->mu);
      state->cv.wait(lk, [&] { return state->active < std::max<std::size_t>(1, o.max_sessions); });
    }
    reap();
    std::unique_ptr<net::Channel> ch;
    try {
      ch = listener.accept(std::chrono::milliseconds(1000), copts);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kTimeout) continue;
      std::fprintf(stderr, "peregrine: accept failed: %s\n", e.what());
      continue;
    }
    std::size_t id = ++started;
    {
      std::lock_guard lk(state->mu);
      ++state->active;
    }
    std::thread t;
    try {
      t = std::thread([state, &server, id, ot, threads = o.threads, ch = std::move(ch)]() mutable {
        try {
          Prg prg = Prg::from_os();
          engine::PartyReport r = engine::serve_session(*ch, server, prg, ot, threads);
          std::fprintf(stderr, "peregrine: session %zu done: online %.3f s, %.2f MB sent, %.2f MB received\n", id,
                       r.online_seconds, r.online_bytes_sent / 1e6, r.online_bytes_received / 1e6);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "peregrine: session %zu failed: %s\n", id, e.what());
        }
        ch.reset();
        bool idle = false;
        {
          std::lock_guard lk(state->mu);
          idle = --state->active == 0;
        }
#if defined(__GLIBC__)
        // The session that leaves the server idle hands the free pages of every malloc arena back
        // to the kernel: glibc raises its mmap threshold after the first large free, so later
        // sessions' buffers come from the per-thread arenas, which otherwise stay resident. Digits
        // model, glibc defaults: idle RSS 14 instead of 21 MB after sequential sessions, 53-61
        // instead of 66-72 MB after bursts of 8 (docs/BENCHMARKS.md, "Service soak").
        if (idle) ::malloc_trim(0);
#else
        (void)idle;
#endif
        std::lock_guard lk(state->mu);
        state->finished.push_back(std::this_thread::get_id());
        state->cv.notify_all();
      });
    } catch (const std::system_error& e) {  // no thread: the session's channel is closed with the lambda
      std::fprintf(stderr, "peregrine: session %zu failed: cannot start a thread: %s\n", id, e.what());
      std::lock_guard lk(state->mu);
      --state->active;
      continue;
    }
    threads.emplace(t.get_id(), std::move(t));
  }
  {
    std::unique_lock lk(state->mu);
    state->cv.wait(lk, [&] { return state->active == 0; });
  }
  reap();
  return 0;
}

int cmd_query(const InferOptions& o) {
  if (o.input.empty()) throw Error(ErrorCode::kInvalidArgument, "query needs --input IMAGE|NPY|DATASET");
  auto [host, port] = host_port(o.connect);
  auto ch = net::tcp_connect(host, port, std::chrono::milliseconds(static_cast<long long>(o.timeout_s * 1000)),
                             channel_options(o));
  Prg prg = Prg::from_os();
  std::string description;
  int label = -1;
  engine::ClientResult r = engine::client_session(
      *ch,
      [&](const nn::FixedPlan& plan) {
        nn::ModelInput in = nn::load_model_input(o.input, o.index, plan.values.at(plan.input).shape,
                                                 nn::preprocess_from_metadata(plan.metadata), format_of(o.format));
        description = in.description;
        label = in.label;
        return in.data;
      },
      prg, nullptr, ot_of(o), engine::parse_fidelity(o.fidelity), layer_progress(), o.threads);
  ch.reset();
  const nn::FixedPlan& plan = r.plan->fixed();
  const auto labels = nn::labels_from_metadata(plan.metadata);
  std::size_t top1 = argmax(r.logits);
  fmt::print("input    {}{}\n", description, label >= 0 ? " = " + label_of(labels, static_cast<std::size_t>(label)) : "");
  fmt::print("private top-{}:", o.top);
  for (std::size_t k : top_k(r.logits, o.top)) fmt::print("  {} ({:.3f})", label_of(labels, k), r.logits[k]);
  fmt::print("\n");
  fmt::print("set-up   {:.3f} s; online {:.3f} s, {:.2f} MB c→s, {:.2f} MB s→c, {} rounds\n", r.report.setup_seconds,
             r.report.online_seconds, r.report.online_bytes_sent / 1e6, r.report.online_bytes_received / 1e6,
             r.report.online_rounds);
  json j = report_json(r, nullptr, o);
  j["model"] = plan.metadata.count("source") ? plan.metadata.at("source") : "(server's model)";
  j["input"] = description;
  j["label"] = label;
  j["top1"] = top1;
  j["logits"] = r.logits;
  j["float_top1"] = nullptr;  // the client has no weights: no reference to compare with
  j["fixed_top1"] = nullptr;
  j["matches_fixed"] = nullptr;
  j["peak_rss_bytes"] = {{"client", engine::peak_rss_bytes()}, {"server", nullptr}};
  write_json(o.json_file, j);
  return 0;
}

// ---- inspect ------------------------------------------------------------------------------------

int cmd_inspect(const InferOptions& o) {
  LoadedModel m = load_model(o);
  const nn::Graph& g = m.graph;
  fmt::print("model {}: {} nodes after normalisation; input {} {}; output {}\n", m.path, g.nodes.size(), g.inputs[0],
             nn::shape_to_string(g.shape_of(g.inputs[0])), g.outputs[0]);
  for (const auto& [k, v] : g.metadata)
    if (k != "labels" && v.size() < 200) fmt::print("  metadata {} = {}\n", k, v);
  fmt::print("\nnodes (all supported):\n");
  for (const auto& n : g.nodes) fmt::print("  {:<36} {:<20} → {}\n", n.name, n.op_type, nn::shape_to_string(g.shape_of(n.outputs[0])));
  const nn::FixedPlan& p = m.fixed.plan;
  if (p.integer_io)
    fmt::print("\nquantised model (QDQ): integer program, rings per tensor from exact bounds, the largest ℓ = {} bits; "
               "input scale {:g} (zero point {}), logits scale {:g}\n",
               p.ring_bits, p.integer_io->input_scale, p.integer_io->input_zero_point, p.integer_io->output_scale);
  else
    fmt::print("\nquantisation plan: {} ℓ = {} bits, scale f = {}, headroom ≥ {} bits; calibrated on {}\n",
               nn::is_uniform(p) ? "one ring," : "rings per tensor, the largest", p.ring_bits, p.frac_bits,
               p.headroom_bits, m.calibration);
  fmt::print("  {:<36} {:<10} {:>5} {:>5} {:>12} {:>5} {:>9}\n", "value", "op", "ring", "scale", "max |v|", "bits",
             "headroom");
  for (const auto& r : p.ranges)
    fmt::print("  {:<36} {:<10} {:>5} {:>5} {:>12.4g} {:>5} {:>9}\n", elide_middle(r.value, 36), r.op, r.ring_bits,
               r.scale, r.max_abs, r.bits, r.headroom);
  const bool wan = o.net == "wan";
  engine::NetworkProfile profile = wan ? engine::NetworkProfile::wan() : engine::NetworkProfile::lan();
  profile.ot = ot_of(o);
  engine::ProtocolPlan plan(p, profile, plan_options(o.fidelity, o.strategies));
  fmt::print("\nprotocol plan ({}, {} OT, fidelity {}; HE bytes exact, others estimated;\n"
             "* = chosen, other lines = the other applicable strategies):\n",
             wan ? "WAN 400 Mbit/s, 40 ms RTT" : "LAN 3 Gbit/s, 0.3 ms RTT", mpc::ot_backend_name(profile.ot),
             engine::fidelity_name(plan.fidelity()));
  fmt::print("  {:<{}} {:<9} {:<27} {:>5} {:>11} {:>11} {:>7} {:>9}\n", "node", kNameColumn, "op", "strategy", "wbits",
             "KB c→s", "KB s→c", "rounds", "est ms");
  auto row = [](const std::string& node, const std::string& op, const std::string& strategy, const std::string& wbits,
                const engine::LayerChoice& l) {
    fmt::print("  {:<{}} {:<9} {:<27} {:>5} {:>11.1f} {:>11.1f} {:>7} {:>9.2f}\n", node, kNameColumn, op, strategy, wbits,
               l.est_bytes_c2s / 1024.0, l.est_bytes_s2c / 1024.0, l.est_rounds, l.est_seconds * 1e3);
  };
  for (std::size_t i = 0; i < p.nodes.size(); ++i) {
    const auto& n = p.nodes[i];
    const auto& l = plan.layers()[i];
    if (l.strategy == "local") continue;
    const nn::FxWeightsRef* w = n.weights();
    const std::string wbits = w && w->weight_bits ? std::to_string(w->weight_bits) : "";
    row(elide_middle(n.name, kNameColumn), nn::fx_op_name(n.op), "* " + l.strategy, wbits, l);
    for (const auto& c : plan.candidates()[i])
      if (c.strategy != l.strategy) row("", "", "  " + c.strategy, "", c);
  }
  auto t = plan.total();
  fmt::print("  total: {:.1f} MB c→s, {:.1f} MB s→c, {} rounds, ≈ {:.2f} s on {}\n", t.est_bytes_c2s / 1e6,
             t.est_bytes_s2c / 1e6, t.est_rounds, t.est_seconds, wan ? "WAN" : "LAN");
  if (!o.json_file.empty()) {
    json j = json::parse(nn::plan_to_json(p));
    json layers = json::array();
    auto choice_json = [](const engine::LayerChoice& l) {
      return json{{"strategy", l.strategy},
                  {"est_bytes_client_to_server", l.est_bytes_c2s},
                  {"est_bytes_server_to_client", l.est_bytes_s2c},
                  {"est_rounds", l.est_rounds},
                  {"est_seconds", l.est_seconds},
                  {"tolerance", l.tolerance}};
    };
    for (std::size_t i = 0; i < p.nodes.size(); ++i) {
      json l = choice_json(plan.layers()[i]);
      l["node"] = p.nodes[i].name;
      l["op"] = nn::fx_op_name(p.nodes[i].op);
      json cands = json::array();
      for (const auto& c : plan.candidates()[i]) cands.push_back(choice_json(c));
      l["candidates"] = cands;
      // The chosen strategy's layout facts (tiles, ciphertext counts, packing, q_bits).
      if (json layout = layout_json<json>(plan.planned(i)); !layout.empty()) l["layout"] = layout;
      layers.push_back(l);
    }
    json ranges = json::array();
    for (const auto& r : p.ranges)
      ranges.push_back({{"value", r.value}, {"op", r.op}, {"ring_bits", r.ring_bits}, {"scale", r.scale},
                        {"max_abs", r.max_abs}, {"bits", r.bits}, {"headroom", r.headroom}});
    json estimate = choice_json(t);
    estimate.erase("strategy");
    estimate.erase("tolerance");
    write_json(o.json_file, {{"model", m.path}, {"plan", j}, {"fidelity", engine::fidelity_name(plan.fidelity())},
                             {"net", wan ? "wan" : "lan"}, {"estimate", estimate}, {"protocol", layers},
                             {"ranges", ranges}});
  }
  return 0;
}

// ---- eval ---------------------------------------------------------------------------------------

int cmd_eval(const InferOptions& o) {
  LoadedModel m = load_model(o);
  const nn::FixedPlan& plan = m.fixed.plan;
  std::string path = o.dataset.empty() ? default_dataset(m.graph) : o.dataset;
  if (path.empty()) throw Error(ErrorCode::kInvalidArgument, "eval needs --dataset FILE");
  nn::Dataset ds = nn::Dataset::open(path, format_of(o.format));
  if (o.offset >= ds.size()) throw Error(ErrorCode::kInvalidArgument, "--offset beyond the dataset");
  const std::size_t n = std::min(o.limit, ds.size() - o.offset);
  engine::ServerModel server(m.fixed, engine::NetworkProfile::lan(), plan_options(o.fidelity, o.strategies),
                             server_options(o.prepared_budget_mib));
  nn::Preprocess pp = nn::preprocess_from_metadata(plan.metadata);
  std::size_t private_correct = 0, float_correct = 0, fixed_correct = 0, eq_float = 0, eq_fixed = 0, labelled = 0;
  double setup = 0, online = 0;
  std::uint64_t c2s = 0, s2c = 0, rounds = 0;
  json per = json::array();
  // Under --fidelity approx: the sound bound on |private − reference| logits and how many images
  // stay within it (exact: the bound is 0, so this counts the bit-exact images again).
  const double bound = engine::logit_error_bound(m.fixed, server.plan());
  const mpc::Ring ring(plan.ring_bits);
  std::size_t within = 0, eq_fixed_top1 = 0;
  std::int64_t worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t rec = o.offset + i;
    nn::PixelImage img = ds.record(rec);
    std::vector<float> x = nn::apply_preprocess(img, pp);
    engine::LocalRun run = engine::run_local(server, [&](const nn::FixedPlan&) { return x; }, channel_options(o), ot_of(o),
                                             {}, o.threads);
    std::vector<float> fl = float_logits(m, x);
    auto fixed_ring = nn::run_fixed(m.fixed, run.client.input_ring);
    std::size_t p1 = argmax(run.client.logits), f1 = argmax(fl), x1 = argmax(nn::dequantize(plan, fixed_ring));
    bool same_fixed = fixed_ring == run.client.logits_ring;
    eq_fixed += same_fixed;
    std::int64_t diff = 0;
    for (std::size_t k = 0; k < fixed_ring.size(); ++k)
      diff = std::max(diff, std::abs(ring.centred(run.client.logits_ring[k] - fixed_ring[k])));
    worst = std::max(worst, diff);
    eq_fixed_top1 += p1 == x1;
    within += static_cast<double>(diff) <= bound;
    eq_float += p1 == f1;
    if (img.label >= 0) {
      ++labelled;
      private_correct += p1 == static_cast<std::size_t>(img.label);
      float_correct += f1 == static_cast<std::size_t>(img.label);
      fixed_correct += x1 == static_cast<std::size_t>(img.label);
    }
    const auto& c = run.client.report;
    setup += c.setup_seconds;
    online += c.online_seconds;
    c2s += c.online_bytes_sent;
    s2c += c.online_bytes_received;
    rounds += c.online_rounds;
    per.push_back({{"index", rec}, {"label", img.label}, {"private_top1", p1}, {"float_top1", f1}, {"fixed_top1", x1},
                   {"matches_fixed", same_fixed}, {"max_logit_diff_lsb", diff}});
    if (stderr_is_terminal())
      std::fprintf(stderr, "\rperegrine: %zu/%zu images, private correct %zu, = float %zu, = fixed %zu", i + 1, n,
                   private_correct, eq_float, eq_fixed);
  }
  if (stderr_is_terminal()) std::fprintf(stderr, "\n");
  fmt::print("eval {} on {} ({} images from record {})\n", m.path, path, n, o.offset);
  if (labelled)
    fmt::print("  accuracy: private {}/{} ({:.2f} %), float {}/{} ({:.2f} %), fixed-point {}/{}\n", private_correct, labelled,
               100.0 * private_correct / labelled, float_correct, labelled, 100.0 * float_correct / labelled, fixed_correct,
               labelled);
  fmt::print("  private top-1 = float top-1 on {}/{}; private logits = fixed-point reference on {}/{}\n", eq_float, n,
             eq_fixed, n);
  if (server.plan().fidelity() == engine::Fidelity::kApprox)
    fmt::print("  fidelity approx: largest logit difference from the fixed-point reference {} LSB; private top-1 = "
               "fixed-point top-1 on {}/{}; within the sound worst-case bound ({:.4g} LSB: each layer's stated "
               "tolerance through the weights' l1 norms, loose for deep networks) on {}/{}\n",
               worst, eq_fixed_top1, n, bound, within, n);
  fmt::print("  mean per image: online {:.3f} s, {:.2f} MB c→s, {:.2f} MB s→c, {} rounds; set-up {:.3f} s\n",
             n ? online / n : 0.0, n ? c2s / 1e6 / n : 0.0, n ? s2c / 1e6 / n : 0.0, n ? rounds / n : 0, n ? setup / n : 0.0);
  json j = {{"model", m.path},
            {"dataset", path},
            {"n", n},
            {"labelled", labelled},
            {"private_correct", private_correct},
            {"float_correct", float_correct},
            {"fixed_correct", fixed_correct},
            {"private_equals_float", eq_float},
            {"private_equals_fixed", eq_fixed},
            {"setup_seconds", setup},
            {"online_seconds", online},
            {"bytes_client_to_server", c2s},
            {"bytes_server_to_client", s2c},
            {"rounds", rounds},
            {"ring_bits", plan.ring_bits},
            {"fidelity", engine::fidelity_name(server.plan().fidelity())},
            {"logit_error_bound_lsb", bound},
            {"within_tolerance", within},
            {"private_top1_equals_fixed_top1", eq_fixed_top1},
            {"max_logit_diff_lsb", worst},
            {"peak_rss_bytes", {{"client", engine::peak_rss_bytes()}, {"server", engine::peak_rss_bytes()}}},
            {"images", per}};
  write_json(o.json_file, j);
  return within == n ? 0 : 3;
}

}  // namespace

LoadedModel load_model(const InferOptions& o) {
  if (o.model.empty()) throw Error(ErrorCode::kInvalidArgument, "no MODEL given");
  LoadedModel m;
  m.path = o.model;
  m.graph = nn::load_onnx(o.model);
  if (m.graph.inputs.size() != 1)
    throw Error(ErrorCode::kUnsupported, "the model must have exactly one input");
  const nn::Shape& shape = m.graph.shape_of(m.graph.inputs[0]);
  nn::Preprocess pp = nn::preprocess_from_metadata(m.graph.metadata);
  std::vector<nn::Tensor> calib;
  std::string cpath = o.calib.empty() ? default_dataset(m.graph) : o.calib;
  nn::FixedOptions fo;
  fo.frac_bits = o.frac_bits;
  fo.headroom_bits = o.headroom_bits;
  fo.rings = o.rings == "uniform"      ? nn::FixedOptions::Rings::kUniform
             : o.rings == "per-tensor" ? nn::FixedOptions::Rings::kPerTensor
                                       : nn::FixedOptions::Rings::kAuto;
  if (!cpath.empty()) {
    // A dataset, a folder of PNG/JPEG images, an .npy batch (or one image): its last k inputs.
    const nn::DatasetFormat cfmt = o.calib.empty() ? nn::DatasetFormat::kAuto : format_of(o.format);
    const std::size_t n = nn::count_model_inputs(cpath, shape, cfmt);
    const std::size_t k = std::min(o.calib_n, n);
    if (k == 0) throw Error(ErrorCode::kInvalidArgument, fmt::format("--calib '{}' holds no input", cpath));
    for (std::size_t i = 0; i < k; ++i)
      calib.push_back({shape, nn::load_model_input(cpath, n - 1 - i, shape, pp, cfmt).data});
    m.calibration = fmt::format("the last {} inputs of {}", k, cpath);
    m.calib_records = k;
  } else {
    // No data: random pixel images through the model's preprocessing, with 2 more bits of headroom.
    if (shape.size() != 4) throw Error(ErrorCode::kInvalidArgument, "no calibration data: pass --calib DATASET");
    Prg prg = Prg::from_os();
    for (std::size_t i = 0; i < o.calib_n; ++i) {
      nn::PixelImage img;
      img.C = static_cast<std::size_t>(shape[1]);
      img.H = static_cast<std::size_t>(shape[2]);
      img.W = static_cast<std::size_t>(shape[3]);
      img.chw.resize(img.C * img.H * img.W);
      prg.fill(img.chw.data(), img.chw.size());
      calib.push_back({shape, nn::apply_preprocess(img, pp)});
    }
    fo.headroom_bits += 2;
    m.calib_records = o.calib_n;
    m.calibration = fmt::format("{} random pixel images (no dataset found; headroom +2 bits)", o.calib_n);
  }
  m.fixed = nn::quantize_model(m.graph, calib, fo);
  return m;
}

/// A check for an option in seconds: a finite number in [lo, hi]. (CLI::Range alone lets "nan"
/// through: every comparison with NaN is false.) The failure reads "--NAME: VALUE is not ...".
CLI::Validator seconds_in(double lo, double hi) {
  const std::string range = fmt::format("[{}, {}]", lo, hi);
  return CLI::Validator(
      [lo, hi, range](std::string& s) -> std::string {
        double v = 0;
        if (CLI::detail::lexical_cast(s, v) && std::isfinite(v) && v >= lo && v <= hi) return "";
        return s + " is not a number of seconds in " + range;
      },
      "SECONDS in " + range);
}

std::vector<CLI::App*> add_infer_subcommands(CLI::App& app, InferOptions& o) {
  auto common_model = [&](CLI::App* c) {
    c->add_option("--calib", o.calib,
                  "calibration inputs, the last 16: a dataset file, a folder of PNG/JPEG images or an .npy batch "
                  "(default: the model's test set when found)");
    c->add_option("--calib-n", o.calib_n, "calibration records")->check(CLI::Range(1, 1024));
    c->add_option("--frac-bits", o.frac_bits, "fixed-point scale f")->check(CLI::Range(1, 24));
    c->add_option("--headroom", o.headroom_bits, "ring bits above the calibration range")->check(CLI::Range(1, 20));
    c->add_option("--rings", o.rings,
                  "auto (one ring, per tensor when it exceeds the HE layers' 44 bits) | uniform | per-tensor")
        ->check(CLI::IsMember({"auto", "uniform", "per-tensor"}));
    c->add_option("--json", o.json_file, "write the report as JSON");
    c->add_option("--timeout", o.timeout_s, "read/connect timeout in seconds")->check(seconds_in(0.1, 3600.0));
    c->add_option("--ot", o.ot, "OT back-end: silent (Ferret, default) | iknp; server and client must agree")
        ->check(CLI::IsMember({"silent", "iknp"}));
    c->add_option("--fidelity", o.fidelity,
                  "exact (bit-exact to the fixed-point reference, default) | approx (relu-highbits, clip-highbits, "
                  "trunc-approx: error <= 1 LSB per truncation)")
        ->check(CLI::IsMember({"exact", "approx"}));
    c->add_option("--strategies", o.strategies, "comma-separated strategy names the planner may use (default: all)");
  };
  auto threads_opt = [&](CLI::App* c) {
    c->add_option("--threads", o.threads,
                  "worker threads of each party: HE products, encryptions and Ferret refills spread over them "
                  "(default 1; results and bytes do not depend on it)")
        ->check(CLI::Range(1, 256));
  };
  auto input_opts = [&](CLI::App* c) {
    c->add_option("--input", o.input, "PNG/JPEG image, .npy, or CIFAR-10/100 / MNIST file");
    c->add_option("--index", o.index, "record of a dataset file");
    c->add_option("--format", o.format, "dataset format")->check(CLI::IsMember({"auto", "cifar10", "cifar100", "mnist"}));
    c->add_option("--top", o.top, "top-k printed")->check(CLI::Range(1, 1000));
  };
  auto server_opts = [&](CLI::App* c) {
    c->add_option("--prepared-budget", o.prepared_budget_mib,
                  "MiB of prepared (NTT-form) weights the server keeps; layers beyond it are prepared in each "
                  "session when they run (default 2048)");
  };
  CLI::App* run = app.add_subcommand("run", "private inference, both parties in this process");
  server_opts(run);
  threads_opt(run);
  run->add_option("model", o.model, "ONNX model (default: the project's digits model)");
  input_opts(run);
  common_model(run);
  CLI::App* serve = app.add_subcommand("serve", "serve private inference for one model over TCP");
  serve->add_option("model", o.model, "ONNX model")->required();
  serve->add_option("--listen", o.listen, "HOST:PORT (port 0: any free port)");
  serve->add_option("--port-file", o.port_file, "write the bound port here");
  serve->add_option("--max-sessions", o.max_sessions, "concurrent sessions")->check(CLI::Range(1, 256));
  serve->add_option("--sessions", o.sessions, "exit after this many sessions (0: never)");
  serve->add_option("--session-timeout", o.session_timeout_s,
                    "end a session this many seconds after its connection, however slowly the client "
                    "keeps sending (default 600; 0: no limit)")
      ->check(seconds_in(0.0, 86400.0));
  common_model(serve);
  server_opts(serve);
  threads_opt(serve);
  CLI::App* query = app.add_subcommand("query", "client: private inference against a server");
  query->add_option("--connect", o.connect, "HOST:PORT")->required();
  input_opts(query);
  query->add_option("--json", o.json_file, "write the report as JSON");
  query->add_option("--timeout", o.timeout_s, "read/connect timeout in seconds")->check(seconds_in(0.1, 3600.0));
  query->add_option("--session-timeout", o.session_timeout_s,
                    "give up this many seconds after connecting, however slowly the server keeps sending "
                    "(default 600; 0: no limit)")
      ->check(seconds_in(0.0, 86400.0));
  query->add_option("--ot", o.ot, "OT back-end: silent (Ferret, default) | iknp; must match the server")
      ->check(CLI::IsMember({"silent", "iknp"}));
  query->add_option("--fidelity", o.fidelity,
                    "exact (refuse a server plan with approximate strategies, default) | approx (accept them)")
      ->check(CLI::IsMember({"exact", "approx"}));
  threads_opt(query);
  CLI::App* inspect = app.add_subcommand("inspect", "ops, shapes, quantisation and protocol plans");
  inspect->add_option("model", o.model, "ONNX model")->required();
  inspect->add_option("--net", o.net, "the link the plan and its estimate are for: lan (3 Gbit/s, 0.3 ms) | wan (400 Mbit/s, 40 ms)")
      ->check(CLI::IsMember({"lan", "wan"}));
  common_model(inspect);
  CLI::App* eval = app.add_subcommand("eval", "private vs float accuracy over a test set");
  eval->add_option("model", o.model, "ONNX model")->required();
  eval->add_option("--dataset", o.dataset, "CIFAR-10/100 or MNIST file (default: the model's test set)");
  eval->add_option("--limit", o.limit, "images")->check(CLI::Range(1, 100000));
  eval->add_option("--offset", o.offset, "first record");
  eval->add_option("--format", o.format, "dataset format")->check(CLI::IsMember({"auto", "cifar10", "cifar100", "mnist"}));
  common_model(eval);
  server_opts(eval);
  threads_opt(eval);
  return {run, serve, query, inspect, eval};
}

engine::ServerOptions server_options(std::size_t prepared_budget_mib) {
  engine::ServerOptions so;
  so.prepared_budget_bytes = prepared_budget_mib >= (std::numeric_limits<std::size_t>::max() >> 20)
                                 ? std::numeric_limits<std::size_t>::max()
                                 : prepared_budget_mib << 20;
  return so;
}

engine::PlanOptions plan_options(const std::string& fidelity, const std::string& strategies) {
  engine::PlanOptions p;
  p.fidelity = engine::parse_fidelity(fidelity);
  std::size_t start = 0;
  while (start <= strategies.size() && !strategies.empty()) {
    const std::size_t comma = std::min(strategies.find(',', start), strategies.size());
    std::string name = strategies.substr(start, comma - start);
    if (!name.empty()) p.allowed.push_back(std::move(name));
    start = comma + 1;
  }
  if (!p.allowed.empty()) engine::check_strategy_names(p.allowed);
  return p;
}

mpc::OtBackend ot_backend_option(const std::string& value) {
  auto b = mpc::parse_ot_backend(value);
  if (!b) throw Error(ErrorCode::kInvalidArgument, "--ot must be silent or iknp");
  return *b;
}

int run_infer(const std::string& name, const InferOptions& o) {
  if (name == "run") return cmd_run(o);
  if (name == "serve") return cmd_serve(o);
  if (name == "query") return cmd_query(o);
  if (name == "inspect") return cmd_inspect(o);
  if (name == "eval") return cmd_eval(o);
  throw Error(ErrorCode::kInvalidArgument, "unknown command " + name);
}

}  // namespace peregrine::app
