// OT convolutions (linear/ot_conv.hpp; docs/EQO.md): both parties as threads over an in-memory
// channel, silent OT, one layer per benchmark, one iteration (bytes are deterministic up to Ferret's
// refills). Run: build/bench/peregrine_bench_ot_conv [--benchmark_format=json]. Counters:
// MiB_c2s, MiB_s2c (both directions of the layer, after the session set-up), ring_bits, cots.
// Arguments: C (= M), H (= W), weight bits w, mode: 0 direct, 1 F2, 2 F4 (exact integer transforms
// of spatial weights), 3 F2 and 4 F4 with Winograd-domain weights U_q at w bits (EQO's QWinConv).
// Inputs are 6-bit activations (A6), the program ring 39 bits. Reported, never asserted.
#include <benchmark/benchmark.h>

#include <thread>

#include "peregrine/core/prg.hpp"
#include "peregrine/linear/ot_conv.hpp"
#include "peregrine/net/channel.hpp"

using namespace peregrine;
using namespace peregrine::linear;

namespace {

Seed seed(std::uint8_t t) {
  Seed s{};
  s[0] = t;
  return s;
}

void BM_OtConv(benchmark::State& state) {
  const auto C = static_cast<std::size_t>(state.range(0)), H = static_cast<std::size_t>(state.range(1));
  const int w = static_cast<int>(state.range(2)), mode = static_cast<int>(state.range(3));
  Conv2dMeta m;
  m.C = m.M = C;
  m.H = m.W = H;
  m.kh = m.kw = 3;
  m.pad_top = m.pad_bottom = m.pad_left = m.pad_right = 1;
  m.weight_bits = w;
  const WinogradTile tile = mode == 0 ? WinogradTile::kDirect : mode % 2 == 1 ? WinogradTile::kF2 : WinogradTile::kF4;
  const WeightDomain domain = mode >= 3 ? WeightDomain::kWinograd : WeightDomain::kSpatial;
  const std::uint64_t X = 63;
  const OtConvStrategy st(m, X, tile, 39, 39, domain);
  Prg gen = Prg::from_seed(seed(3));
  const std::int64_t lo = -(std::int64_t{1} << (w - 1));
  std::size_t nw = C * C * 9;
  if (domain == WeightDomain::kWinograd) nw = st.gemms().size() * C * C;
  std::vector<std::int64_t> weights(nw);
  for (auto& v : weights) v = lo + static_cast<std::int64_t>(gen.uniform_below(u64{1} << w));
  const mpc::Ring ring(39);
  std::vector<u64> x0(C * H * H), x1(C * H * H);
  for (std::size_t i = 0; i < x0.size(); ++i) {
    x0[i] = ring.reduce(gen.next_u64());
    x1[i] = ring.reduce(gen.uniform_below(X + 1) - x0[i]);
  }
  auto pr = net::make_memory_pair();
  Prg prg0 = Prg::from_seed(seed(1)), prg1 = Prg::from_seed(seed(2));
  std::unique_ptr<mpc::MpcSession> s0, s1;
  std::thread t([&] { s1 = std::make_unique<mpc::MpcSession>(*pr.second, mpc::Party::kClient, prg1, mpc::OtBackend::kSilent); });
  s0 = std::make_unique<mpc::MpcSession>(*pr.first, mpc::Party::kServer, prg0, mpc::OtBackend::kSilent);
  t.join();
  const PreparedOtConv prep = prepare_ot_conv(st, weights, {});
  const auto c0 = pr.second->stats().bytes_sent, sv0 = pr.first->stats().bytes_sent;
  for (auto _ : state) {
    std::thread client([&] { benchmark::DoNotOptimize(ot_conv_client(*s1, st, {ring, x1})); });
    benchmark::DoNotOptimize(ot_conv_server(*s0, st, {ring, x0}, prep));
    client.join();
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["MiB_c2s"] = static_cast<double>(pr.second->stats().bytes_sent - c0) / it / (1 << 20);
  state.counters["MiB_s2c"] = static_cast<double>(pr.first->stats().bytes_sent - sv0) / it / (1 << 20);
  state.counters["ring_bits"] = st.ring_bits();
  state.counters["cots"] = static_cast<double>(st.cots());
}

void shapes(benchmark::internal::Benchmark* b) {
  for (const int w : {2, 4})
    for (const auto& [C, H] : {std::pair{16, 32}, std::pair{32, 16}, std::pair{64, 8}})
      for (int mode = 0; mode <= 4; ++mode) b->Args({C, H, w, mode});
}

}  // namespace

BENCHMARK(BM_OtConv)->Apply(shapes)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
