// `peregrine bench OP`: see bench.hpp.
//
// Wire sequence of one run (both parties):
//   1. header: both send their parameters and check the peer's (not timed, not counted);
//   2. set-up: MpcSession (base OTs + KK13 seeding) or, for `cot`, setup_iknp -> setup_seconds;
//   3. a one-byte ping-pong, so that both parties start the op at (about) the same time;
//   4. the op, ended by a flush -> seconds (per party), traffic and rounds of the server's channel;
//   5. the client sends its two times (and, with --verify, its output) to the server; the server
//      checks, builds the JSON object and sends a verdict byte and the JSON line to the client.
#include "bench.hpp"

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "peregrine/core/error.hpp"
#include "peregrine/core/prg.hpp"
#include "peregrine/core/timer.hpp"
#include "peregrine/mpc/nonlinear.hpp"
#include "peregrine/mpc/session.hpp"
#include "peregrine/mpc/share.hpp"
#include "peregrine/mpc/truncation.hpp"
#include "peregrine/net/channel.hpp"
#include "peregrine/ot/cot.hpp"
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
constexpr u64 kWireVersion = 1;

enum class Op : u64 { kRelu = 1, kTrunc = 2, kReluTrunc = 3, kCot = 4 };

Op parse_op(const std::string& s) {
  if (s == "relu") return Op::kRelu;
  if (s == "trunc") return Op::kTrunc;
  if (s == "relutrunc") return Op::kReluTrunc;
  if (s == "cot") return Op::kCot;
  throw Error(ErrorCode::kInvalidArgument, "unknown bench op '" + s + "' (relu, trunc, relutrunc, cot)");
}

bool has_shift(Op op) { return op == Op::kTrunc || op == Op::kReluTrunc; }

// ---- options --------------------------------------------------------------------------------

struct Config {
  BenchOptions o;
  Op op{};
  net::ChannelOptions ch;
  std::chrono::milliseconds timeout{};
};

Config validate(const BenchOptions& o) {
  Config c{o, parse_op(o.op), {}, {}};
  require(o.threads >= 1, ErrorCode::kInvalidArgument, "--threads must be at least 1");
  if (o.threads != 1)
    throw Error(ErrorCode::kUnsupported,
                fmt::format("--threads {}: only --threads 1 is supported for now", o.threads));
  require(o.n >= 1, ErrorCode::kInvalidArgument, "--n must be at least 1");
  if (c.op != Op::kCot) {
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
// protocols' own randomness (base OTs, Δ, masks inside relu/truncate) comes from Prg::from_os().
std::vector<u64> plaintext_inputs(const Config& c, const Ring& ring) {
  Prg gen = Prg::from_seed(public_seed(1));
  std::vector<u64> x(c.o.n);
  if (c.op == Op::kRelu) {
    for (auto& v : x) v = gen.next_u64() & ring.mask;  // the whole signed range
  } else {
    // |x| < 2^{ℓ-2}: uniform in [-(2^{ℓ-2} - 1), 2^{ℓ-2} - 1].
    const u64 b = u64{1} << (c.o.bits - 2);
    for (auto& v : x) v = (gen.uniform_below(2 * b - 1) - (b - 1)) & ring.mask;
  }
  return x;
}

// Server share x - r, client share r (r from a second public seed; see plaintext_inputs).
ArithShares my_shares(const Config& c, const Ring& ring, Party me, const std::vector<u64>* x) {
  Prg masks = Prg::from_seed(public_seed(2));
  ArithShares s{ring, std::vector<u64>(c.o.n)};
  for (std::size_t i = 0; i < c.o.n; ++i) {
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
      case Op::kCot: break;
    }
    y[i] = static_cast<u64>(r) & ring.mask;
  }
  return y;
}

// ---- the run --------------------------------------------------------------------------------

void exchange_header(net::Channel& ch, const Config& c) {
  const u64 mine[] = {kMagic,
                      kWireVersion,
                      static_cast<u64>(c.op),
                      static_cast<u64>(c.o.n),
                      static_cast<u64>(c.op == Op::kCot ? 0 : c.o.bits),
                      static_cast<u64>(has_shift(c.op) ? c.o.shift : 0),
                      static_cast<u64>(c.o.threads),
                      static_cast<u64>(c.o.verify),
                      static_cast<u64>(c.o.net == "none" ? 0 : c.o.net == "lan" ? 1 : 2)};
  constexpr std::size_t k = sizeof(mine) / sizeof(mine[0]);
  ch.send(mine, sizeof(mine));
  ch.flush();
  u64 peer[k];
  ch.recv(peer, sizeof(peer));
  if (peer[0] != kMagic || peer[1] != kWireVersion)
    throw Error(ErrorCode::kProtocol, "the peer is not a `peregrine bench` of the same version");
  static const char* names[k] = {"", "", "op", "--n", "--bits", "--shift", "--threads", "--verify",
                                         "--net (0 none, 1 lan, 2 wan)"};
  for (std::size_t i = 2; i < k; ++i) {
    if (peer[i] != mine[i])
      throw Error(ErrorCode::kProtocol,
                  fmt::format("the peer runs with a different {} ({} here, {} there)", names[i],
                              mine[i], peer[i]));
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
  if (c.op == Op::kCot) {
    Timer t;
    ot::OtPair pair = ot::setup_iknp(ch, me == Party::kServer, prg);
    ch.flush();
    st.t.setup_s = t.seconds();
    st.cot_out.assign(c.o.n, ot::Block{});
    if (me == Party::kClient) {
      st.choices.resize(c.o.n);
      prg.fill(st.choices.data(), st.choices.size());
      for (auto& b : st.choices) b &= 1;
    }
    barrier(ch, me);
    const net::ChannelStats s0 = ch.stats();
    t.reset();
    if (me == Party::kServer) pair.sender->send_cot(st.cot_out);  // instance 0: party 0 sends
    else pair.receiver->recv_cot(st.choices, st.cot_out);
    ch.flush();
    st.t.op_s = t.seconds();
    st.t.op_stats = diff(s0, ch.stats());
    if (me == Party::kServer) st.delta = pair.sender->delta();
    return st;
  }

  const Ring ring(c.o.bits);
  st.ring = ring;
  if (me == Party::kServer) st.x = plaintext_inputs(c, ring);
  const ArithShares in = my_shares(c, ring, me, &st.x);

  Timer t;
  mpc::MpcSession s(ch, me, prg);
  ch.flush();
  st.t.setup_s = t.seconds();
  barrier(ch, me);
  const net::ChannelStats s0 = ch.stats();
  t.reset();
  switch (c.op) {
    case Op::kRelu: st.out = mpc::relu(s, in); break;
    case Op::kTrunc:
      st.out = mpc::truncate(s, in, c.o.shift, mpc::TruncMode::kExact, mpc::MsbHint::kUnknown);
      break;
    case Op::kReluTrunc:
      // ReLU outputs are non-negative, so MSB = 0 is public knowledge.
      st.out = mpc::truncate(s, mpc::relu(s, in), c.o.shift, mpc::TruncMode::kExact,
                             mpc::MsbHint::kZero);
      break;
    case Op::kCot: break;
  }
  ch.flush();
  st.t.op_s = t.seconds();
  st.t.op_stats = diff(s0, ch.stats());
  return st;
}

struct ServerResult {
  std::string json;
  int code = 0;
};

// Party 0: runs, collects the client's times (and output), builds the JSON and sends it back.
ServerResult run_server(const Config& c, net::Channel& ch) {
  exchange_header(ch, c);
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
      for (std::size_t i = 0; i < c.o.n; ++i) mismatches += opened[i] != want[i];
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
  j["threads"] = c.o.threads;
  j["transport"] = "tcp";
  j["role"] = c.o.role == "local" ? "local" : "split";
  j["net"] = c.o.net;
  j["seconds"] = seconds;
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
  }
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

// Party 1: runs, reports to the server, returns the server's JSON line and exit code.
ServerResult run_client(const Config& c, net::Channel& ch) {
  exchange_header(ch, c);
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
  ServerResult r;
  r.code = ch.recv_value<std::uint8_t>();
  const std::vector<std::uint8_t> js = ch.recv_frame(std::size_t{1} << 20);
  r.json.assign(js.begin(), js.end());
  if (r.code != 0 && r.code != kExitMismatch)
    throw Error(ErrorCode::kProtocol, "bench: unexpected verdict from the server");
  return r;
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
      "two-party protocol benchmark over TCP (relu, trunc, relutrunc, cot); prints one JSON line");
  b->option_defaults()->always_capture_default();
  b->add_option("op", o.op, "relu | trunc | relutrunc | cot")
      ->required()
      ->check(CLI::IsMember({"relu", "trunc", "relutrunc", "cot"}));
  b->add_option("--n", o.n, "number of elements (cot: number of COTs)");
  b->add_option("--bits", o.bits, "ring bits l (shares in Z_{2^l})")->check(CLI::Range(2, 64));
  b->add_option("--shift", o.shift, "truncation shift f (trunc, relutrunc)")->check(CLI::Range(1, 63));
  b->add_option("--threads", o.threads, "worker threads (only 1 for now)");
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
  return b;
}

int run_bench(const BenchOptions& o) {
  const Config c = validate(o);
  if (o.role == "server") return run_server_role(c);
  if (o.role == "client") return run_client_role(c);
  return run_local(c);
}

}  // namespace peregrine::app
