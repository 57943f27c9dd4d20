// Shared helpers of the mpc protocol tests: two MpcSessions over an in-memory channel pair with
// deterministic seeds, edge values of Z_{2^ℓ}, share sets with chosen splits, and error capture.
#pragma once
#include "two_party.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "peregrine/core/error.hpp"
#include "peregrine/core/prg.hpp"
#include "peregrine/mpc/session.hpp"
#include "peregrine/mpc/share.hpp"
#include "peregrine/net/channel.hpp"

namespace peregrine::mpc::test_util {

using peregrine::test::run_parties;

/// Deterministic test seed (tests only: real runs use Prg::from_os()).
inline Seed test_seed(std::uint8_t tag) {
  Seed s{};
  s[0] = 0x4e;
  s[1] = tag;
  return s;
}

/// The OT back-end of the test sessions: PEREGRINE_TEST_OT=iknp|silent (default silent). ctest
/// runs the mpc suite once per back-end (tests/CMakeLists.txt).
inline OtBackend test_backend() {
  const char* v = std::getenv("PEREGRINE_TEST_OT");
  if (v == nullptr || *v == 0) return OtBackend::kSilent;
  auto b = parse_ot_backend(v);
  if (!b) throw Error(ErrorCode::kInvalidArgument, "PEREGRINE_TEST_OT must be iknp or silent");
  return *b;
}

/// Both sessions over one memory channel pair (server = s0 on ch0, client = s1 on ch1), on
/// test_backend().
struct SessionPair {
  std::unique_ptr<net::Channel> ch0, ch1;
  Prg prg0 = Prg::from_seed(test_seed(1)), prg1 = Prg::from_seed(test_seed(2));
  std::unique_ptr<MpcSession> s0, s1;

  explicit SessionPair(const net::ChannelOptions& opts = {}) {
    auto pr = net::make_memory_pair(opts);
    ch0 = std::move(pr.first);
    ch1 = std::move(pr.second);
    const OtBackend ot = test_backend();
    run_parties([&] { s0 = std::make_unique<MpcSession>(*ch0, Party::kServer, prg0, ot); },
                [&] { s1 = std::make_unique<MpcSession>(*ch1, Party::kClient, prg1, ot); });
  }
  MpcSession& session(int party) { return party == 0 ? *s0 : *s1; }
  /// Bytes sent by both endpoints so far.
  std::uint64_t bytes_sent() const { return ch0->stats().bytes_sent + ch1->stats().bytes_sent; }
};

/// Runs f(session, party) for both parties concurrently (party 0 = server) and returns
/// {party 0's result, party 1's result}.
template <class F>
auto on_both(SessionPair& sp, F&& f) {
  using R = decltype(f(*sp.s0, 0));
  R r0{}, r1{};
  run_parties([&] { r0 = f(*sp.s0, 0); }, [&] { r1 = f(*sp.s1, 1); });
  return std::pair<R, R>{std::move(r0), std::move(r1)};
}

/// XOR of two parties' boolean shares.
inline BoolShares bxor(const BoolShares& a, const BoolShares& b) {
  BoolShares r(a.n);
  for (std::size_t i = 0; i < r.words.size(); ++i) r.words[i] = a.words[i] ^ b.words[i];
  return r;
}

/// Edge values of Z_{2^ℓ} (0, ±1, max, min, ±2, min+1, max−1) then uniform values.
inline std::vector<u64> edge_and_random(const Ring& r, Prg& prg, std::size_t n) {
  const u64 max = r.mask >> 1, min = max + 1;
  std::vector<u64> x = {0, 1, r.mask, max, min, 2, r.mask - 1, min + 1, max - 1};
  while (x.size() < n) x.push_back(prg.next_u64());
  x.resize(n);
  for (auto& v : x) v &= r.mask;
  return x;
}

/// v mod 2^ℓ for a signed v.
inline u64 from_signed(const Ring& r, std::int64_t v) { return static_cast<u64>(v) & r.mask; }

/// Both parties' shares of a vector built element by element with chosen or random splits.
struct Dataset {
  Ring ring;
  std::vector<u64> x;                 ///< the shared values, each < 2^ℓ
  std::array<ArithShares, 2> sh;      ///< sh[p] = party p's shares

  explicit Dataset(const Ring& r) : ring(r), sh{ArithShares{r, {}}, ArithShares{r, {}}} {}
  std::size_t size() const { return x.size(); }
  /// Appends value with the server's share first_share (the client's = value − first_share).
  void add(u64 value, u64 first_share) {
    value &= ring.mask;
    first_share &= ring.mask;
    x.push_back(value);
    sh[0].v.push_back(first_share);
    sh[1].v.push_back((value - first_share) & ring.mask);
  }
  void add_random(u64 value, Prg& prg) { add(value, prg.next_u64()); }
};

/// Server shares that stress the carries: 0, 1, −1, 2^{ℓ−1}, 2^{ℓ−1} − 1.
inline std::vector<u64> special_first_shares(const Ring& r) {
  const u64 max = r.mask >> 1;
  return {0, 1, r.mask, max + 1, max};
}

/// Shares of x for both parties (uniform split).
inline std::array<ArithShares, 2> share(const Ring& r, std::span<const u64> x, Prg& prg) {
  auto [a, b] = split(r, x, prg);
  return {std::move(a), std::move(b)};
}

/// The name of the peregrine::Error f throws ("invalid_argument", ...), "no exception", or
/// "other exception" for anything else.
inline std::string error_name_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return error_code_name(e.code());
  } catch (...) {
    return "other exception";
  }
  return "no exception";
}

/// Options for sessions used by error tests: a call that wrongly starts a protocol instead of
/// throwing times out quickly (kTimeout) rather than hanging.
inline net::ChannelOptions short_timeout() {
  net::ChannelOptions o;
  o.read_timeout = std::chrono::milliseconds(2000);
  return o;
}

}  // namespace peregrine::mpc::test_util
