// OT benchmarks (Google Benchmark). Reported, never asserted.
//   BM_IknpCot/<n>      : n COTs per iteration, both parties as threads over an in-memory pair;
//                         items/s = COT/s, counters bytes_per_cot (receiver → sender payload).
//   BM_IknpCotLocal     : the same computation without the channel (sender and receiver work of
//                         one extension batch, single thread) — the compute-bound ceiling per core.
//   BM_BaseOtSetup      : setup_iknp (2 × 128 base OTs on ristretto255, both directions).
//   BM_Transpose128     : one 128×128 bit transpose.
//   BM_TccrHash / BM_CcrHash : fixed-key AES hashes, items/s = blocks/s.
//   BM_AdditiveCot/<l>  : CrypTFlow2 additive COT mod 2^l over IKNP (both parties).
//   BM_KkotOneOfN/<m>   : KK13 1-out-of-2^m OT on 2-bit messages (the millionaire leaves), both
//                         parties; items/s = OT/s, counter bytes_per_ot (both directions).
#include <benchmark/benchmark.h>

#include <sys/mman.h>

#include <cstdlib>
#include <thread>
#include <vector>

#include "peregrine/core/prg.hpp"
#include "peregrine/net/channel.hpp"
#include "peregrine/ot/crhash.hpp"
#include "peregrine/ot/derived.hpp"
#include "peregrine/ot/ferret.hpp"
#include "peregrine/ot/iknp.hpp"
#include "peregrine/ot/kernels.hpp"
#include "peregrine/ot/kkot.hpp"

namespace {

using namespace peregrine;
using namespace peregrine::ot;

Seed seed(std::uint8_t t) {
  Seed s{};
  s[0] = t;
  return s;
}

struct Session {
  std::unique_ptr<net::Channel> ch0, ch1;
  Prg prg0 = Prg::from_seed(seed(1)), prg1 = Prg::from_seed(seed(2));
  OtPair p0, p1;
  Session() {
    auto pr = net::make_memory_pair();
    ch0 = std::move(pr.first);
    ch1 = std::move(pr.second);
    std::thread t([&] { p1 = setup_iknp(*ch1, false, prg1); });
    p0 = setup_iknp(*ch0, true, prg0);
    t.join();
  }
};

void BM_IknpCot(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  Session s;
  std::vector<Block> m0(n), mb(n);
  std::vector<std::uint8_t> c(n);
  s.prg1.fill(c.data(), n);
  for (auto& v : c) v &= 1;
  const auto sent0 = s.ch1->stats().bytes_sent, back0 = s.ch0->stats().bytes_sent;
  for (auto _ : state) {
    std::thread t([&] { s.p1.receiver->recv_cot(c, mb); });
    s.p0.sender->send_cot(m0);
    t.join();
    benchmark::DoNotOptimize(m0.data());
  }
  const double cots = static_cast<double>(n) * static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(cots));
  state.counters["bytes_per_cot"] = static_cast<double>(s.ch1->stats().bytes_sent - sent0) / cots;
  // IKNP COT is one-way (receiver → sender): this stays 0.
  state.counters["sender_bytes_per_cot"] = static_cast<double>(s.ch0->stats().bytes_sent - back0) / cots;
}
BENCHMARK(BM_IknpCot)->Arg(1 << 16)->Arg(1 << 20)->Arg(1 << 22)->Unit(benchmark::kMillisecond)->UseRealTime();

/// Compute-only: a channel-free loop of the IKNP kernels of both parties (PRG columns, XOR,
/// transpose) for 1024 COTs per step, to separate compute from the in-memory transport.
void BM_IknpCotLocal(benchmark::State& state) {
  constexpr std::size_t C = 8, K = 128;
  Prg prg = Prg::from_seed(seed(3));
  std::vector<detail::AesKey> k0(K), k1(K);
  for (std::size_t i = 0; i < K; ++i) {
    Block a, b;
    prg.fill(&a, sizeof a);
    prg.fill(&b, sizeof b);
    detail::aes_expand_key(a, k0[i]);
    detail::aes_expand_key(b, k1[i]);
  }
  std::vector<Block> t(K * C), u(K * C), q(K * C), out(K * C), r(C);
  std::vector<std::uint8_t> choices(K * C, 1);
  std::uint64_t ctr = 0;
  for (auto _ : state) {
    // receiver
    detail::pack_bits(choices.data(), K * C, r.data());
    detail::prg_columns(k0.data(), K, ctr, C, t.data());
    detail::prg_columns(k1.data(), K, ctr, C, u.data());
    for (std::size_t i = 0; i < K; ++i)
      for (std::size_t c = 0; c < C; ++c) u[i * C + c] ^= t[i * C + c] ^ r[c];
    for (std::size_t c = 0; c < C; ++c) detail::transpose128(t.data() + c, C, out.data() + c * K);
    // sender (half of the columns take the u correction)
    detail::prg_columns(k0.data(), K, ctr, C, q.data());
    for (std::size_t i = 0; i < K; i += 2)
      for (std::size_t c = 0; c < C; ++c) q[i * C + c] ^= u[i * C + c];
    for (std::size_t c = 0; c < C; ++c) detail::transpose128(q.data() + c, C, out.data() + c * K);
    ctr += C;
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * K * C));
}
BENCHMARK(BM_IknpCotLocal);

void BM_BaseOtSetup(benchmark::State& state) {
  for (auto _ : state) {
    Session s;
    benchmark::DoNotOptimize(s.p0.sender.get());
  }
}
BENCHMARK(BM_BaseOtSetup)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Transpose128(benchmark::State& state) {
  Prg prg = Prg::from_seed(seed(4));
  std::vector<Block> in(128), out(128);
  prg.fill(in.data(), in.size() * sizeof(Block));
  for (auto _ : state) {
    detail::transpose128(in.data(), 1, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Transpose128);

void BM_TccrHash(benchmark::State& state) {
  std::vector<Block> x(4096), y(4096);
  Prg prg = Prg::from_seed(seed(5));
  prg.fill(x.data(), x.size() * sizeof(Block));
  for (auto _ : state) {
    tccr_hash(x, Block{0, 1}, y);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * x.size()));
}
BENCHMARK(BM_TccrHash);

void BM_CcrHash(benchmark::State& state) {
  std::vector<Block> x(4096), y(4096);
  Prg prg = Prg::from_seed(seed(6));
  prg.fill(x.data(), x.size() * sizeof(Block));
  for (auto _ : state) {
    ccr_hash(x, y);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * x.size()));
}
BENCHMARK(BM_CcrHash);

void BM_AdditiveCot(benchmark::State& state) {
  const int l = static_cast<int>(state.range(0));
  const std::size_t n = 1 << 20;
  Session s;
  Prg rp = Prg::from_seed(seed(7));
  OtSender snd(*s.p0.sender, *s.ch0);
  OtReceiver rcv(*s.p1.receiver, *s.ch1, rp);
  std::vector<std::uint64_t> delta(n, 12345), x(n), y(n);
  std::vector<std::uint8_t> c(n, 1);
  const auto sent = s.ch1->stats().bytes_sent + s.ch0->stats().bytes_sent;
  for (auto _ : state) {
    std::thread t([&] { rcv.recv_cot_additive(c, y, l); });
    snd.send_cot_additive(delta, x, l);
    t.join();
  }
  const double ots = static_cast<double>(n) * static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(ots));
  state.counters["bytes_per_ot"] =
      static_cast<double>(s.ch1->stats().bytes_sent + s.ch0->stats().bytes_sent - sent) / ots;
}
BENCHMARK(BM_AdditiveCot)->Arg(8)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_KkotOneOfN(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0));
  const std::size_t n = 1 << 16, N = std::size_t{1} << m;
  Session s;
  Prg rp = Prg::from_seed(seed(8));
  OtSender snd(*s.p0.sender, *s.ch0);
  OtReceiver rcv(*s.p1.receiver, *s.ch1, rp);
  std::unique_ptr<KkotSender> ks;
  std::unique_ptr<KkotReceiver> kr;
  std::thread t0([&] { ks = KkotSender::from_rot(rcv, *s.ch1); });  // party 1 is the KK13 sender
  kr = KkotReceiver::from_rot(snd, *s.ch0);
  t0.join();
  std::vector<std::uint64_t> msgs(n * N, 3), out(n);
  std::vector<std::uint8_t> c(n);
  rp.fill(c.data(), n);
  for (auto& v : c) v = static_cast<std::uint8_t>(v % N);
  const auto sent = s.ch1->stats().bytes_sent + s.ch0->stats().bytes_sent;
  for (auto _ : state) {
    std::thread t([&] { ks->send(msgs, m, 2); });
    kr->recv(c, out, m, 2);
    t.join();
  }
  const double ots = static_cast<double>(n) * static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(ots));
  state.counters["bytes_per_ot"] =
      static_cast<double>(s.ch1->stats().bytes_sent + s.ch0->stats().bytes_sent - sent) / ots;
}
BENCHMARK(BM_KkotOneOfN)->Arg(2)->Arg(4)->Arg(6)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

namespace {

// BM_LpnEncode/<huge>: the Ferret main instance's LPN encoding (ferret_b12: k = 238 000 table
// blocks, 10 reads per row) over 2^20 rows; items/s = rows/s. huge = 1 advises transparent huge
// pages for the table (madvise), 0 leaves the default 4 KiB pages.
void BM_LpnEncode(benchmark::State& state) {
  const FerretParams& p = kFerretMain;
  const std::size_t rows = std::size_t{1} << 20;
  const std::size_t bytes = (p.k * sizeof(Block) + (2u << 20) - 1) / (2u << 20) * (2u << 20);
  auto* table = static_cast<Block*>(std::aligned_alloc(2u << 20, bytes));
  if (state.range(0) != 0) madvise(table, bytes, MADV_HUGEPAGE);
  Prg prg = Prg::from_seed(seed(9));
  prg.fill(table, p.k * sizeof(Block));
  std::vector<Block> out(rows);
  for (auto _ : state) {
    detail::lpn_encode(p, 0, rows, table, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * rows));
  std::free(table);
}
BENCHMARK(BM_LpnEncode)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
