// Slot-encoded convolutions (linear/slot_conv.hpp; TECHNIQUES.md §5.6, §6.3): both parties as
// threads over an in-memory channel, one thread each, one layer per benchmark, one iteration, the
// HE set-up (keys, Galois keys) outside the timing. Run: build/bench/peregrine_bench_slot_conv
// [--benchmark_format=json]. Arguments: C (= M), H (= W), rotation candidate (0 per-tap = Gazelle,
// 1 hoisted = A, 2 client pre-rotation = C), fused x²+x input (0: plain shares at t ≈ 2^26,
// N = 8192, two data primes; 1: x² + 2^8·x at t ≈ 2^30, N = 16384, three data primes). Counters:
// MiB_c2s, MiB_s2c (the layer, both directions), MiB_galois (set-up), key_switches,
// decompositions, products, est_ms (the plan's estimate); the label marks best_slot_conv's
// choice. 3×3 convolutions with padding 1 on ResNet-32's three stage shapes.
// Reported, never asserted.
#include <benchmark/benchmark.h>

#include <thread>

#include "peregrine/core/prg.hpp"
#include "peregrine/linear/slot_conv.hpp"
#include "peregrine/net/channel.hpp"

using namespace peregrine;
using namespace peregrine::linear;

namespace {

Seed seed(std::uint8_t t) {
  Seed s{};
  s[0] = 0x51;
  s[1] = t;
  return s;
}

void BM_SlotConv(benchmark::State& state) {
  const auto C = static_cast<std::size_t>(state.range(0)), H = static_cast<std::size_t>(state.range(1));
  const auto rot = static_cast<SlotRotation>(state.range(2));
  const bool fused = state.range(3) != 0;
  Conv2dMeta m;
  m.C = m.M = C;
  m.H = m.W = H;
  m.kh = m.kw = 3;
  m.pad_top = m.pad_bottom = m.pad_left = m.pad_right = 1;
  m.weight_bits = 8;
  const he::HeParamsPtr P = fused ? he::HeParams::batch(30, 16384, 3) : he::HeParams::batch(26);
  const SlotConvPlan plan(m, P, rot, fused ? std::optional<int>(8) : std::nullopt);
  Prg gen = Prg::from_seed(seed(3));
  std::vector<std::int64_t> w(C * C * 9);
  for (auto& v : w) v = static_cast<std::int64_t>(gen.uniform_below(255)) - 127;
  const SlotConvKernels kernels(plan, w);
  std::vector<u64> x0(C * H * H), x1(C * H * H);
  for (std::size_t i = 0; i < x0.size(); ++i) {
    x0[i] = gen.uniform_below(P->t());
    x1[i] = gen.uniform_below(P->t());
  }
  auto pr = net::make_memory_pair();
  Prg prg0 = Prg::from_seed(seed(1)), prg1 = Prg::from_seed(seed(2));
  const std::vector<std::uint64_t> galois = plan.galois_elements();
  HeServer hs;
  HeClient hc;
  std::thread t([&] { hc = he_client_setup(*pr.second, P, prg1, galois); });
  hs = he_server_setup(*pr.first, P, galois);
  t.join();
  const auto c0 = pr.second->stats().bytes_sent, sv0 = pr.first->stats().bytes_sent;
  for (auto _ : state) {
    std::thread client([&] { benchmark::DoNotOptimize(run_slot_conv_client(*pr.second, hc, plan, x1, prg1)); });
    benchmark::DoNotOptimize(run_slot_conv_server(*pr.first, hs, plan, kernels, x0, {}, prg0));
    client.join();
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["MiB_c2s"] = static_cast<double>(pr.second->stats().bytes_sent - c0) / it / (1 << 20);
  state.counters["MiB_s2c"] = static_cast<double>(pr.first->stats().bytes_sent - sv0) / it / (1 << 20);
  state.counters["MiB_galois"] = static_cast<double>(plan.galois_key_bytes()) / (1 << 20);
  state.counters["key_switches"] = static_cast<double>(plan.counts().key_switches);
  state.counters["decompositions"] = static_cast<double>(plan.counts().decompositions);
  state.counters["products"] = static_cast<double>(plan.counts().products);
  state.counters["est_ms"] = 1e3 * plan.estimated_seconds();
  const bool chosen = best_slot_conv(m, P, plan.square_plus_x_frac()).rotation() == rot;
  state.SetLabel(std::string(to_string(rot)) + (fused ? " x2+x" : "") + (chosen ? " (best_slot_conv's choice)" : ""));
}

void shapes(benchmark::internal::Benchmark* b) {
  for (const int fused : {0, 1})
    for (const auto& [C, H] : {std::pair{16, 32}, std::pair{32, 16}, std::pair{64, 8}})
      for (int rot = 0; rot <= 2; ++rot) b->Args({C, H, rot, fused});
}

}  // namespace

BENCHMARK(BM_SlotConv)->Apply(shapes)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
