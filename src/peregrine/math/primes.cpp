#include "peregrine/math/primes.hpp"

#include <algorithm>

namespace peregrine::math {

namespace {
u64 pow_mod_u128(u64 b, u64 e, u64 n) {
  u128 r = 1, x = b % n;
  while (e) {
    if (e & 1) r = (r * x) % n;
    x = (x * x) % n;
    e >>= 1;
  }
  return static_cast<u64>(r);
}
}  // namespace

bool is_prime(u64 n) {
  if (n < 2) return false;
  for (u64 p : {2ULL, 3ULL, 5ULL, 7ULL, 11ULL, 13ULL, 17ULL, 19ULL, 23ULL, 29ULL, 31ULL, 37ULL}) {
    if (n % p == 0) return n == p;
  }
  u64 d = n - 1;
  int s = 0;
  while ((d & 1) == 0) {
    d >>= 1;
    ++s;
  }
  // These twelve bases are a deterministic witness set for n < 3.3·10^24 > 2^64.
  for (u64 a : {2ULL, 3ULL, 5ULL, 7ULL, 11ULL, 13ULL, 17ULL, 19ULL, 23ULL, 29ULL, 31ULL, 37ULL}) {
    u64 x = pow_mod_u128(a, d, n);
    if (x == 1 || x == n - 1) continue;
    bool composite = true;
    for (int r = 1; r < s; ++r) {
      x = static_cast<u64>((static_cast<u128>(x) * x) % n);
      if (x == n - 1) {
        composite = false;
        break;
      }
    }
    if (composite) return false;
  }
  return true;
}

std::vector<u64> generate_primes(int bits, std::size_t count, u64 congruence,
                                 const std::vector<u64>& exclude) {
  require(bits >= 2 && bits <= kMaxPrimeBits, ErrorCode::kInvalidArgument,
          "prime bit size out of [2, 61]");
  require(congruence >= 2 && (congruence & (congruence - 1)) == 0, ErrorCode::kInvalidArgument,
          "congruence must be a power of two");
  std::vector<u64> out;
  const u64 lo = 1ULL << (bits - 1), hi = (bits == 64) ? ~0ULL : (1ULL << bits);
  if (congruence >= hi) throw Error(ErrorCode::kInvalidArgument, "no prime of that size is ≡ 1");
  // Largest candidate below 2^bits of the form k·congruence + 1.
  u64 c = ((hi - 1) / congruence) * congruence + 1;
  if (c >= hi) c -= congruence;
  for (; c >= lo && out.size() < count; c -= congruence) {
    if (std::find(exclude.begin(), exclude.end(), c) != exclude.end()) continue;
    if (is_prime(c)) out.push_back(c);
    if (c < congruence) break;
  }
  require(out.size() == count, ErrorCode::kInvalidArgument,
          "not enough primes of the requested size and congruence");
  return out;
}

u64 minimal_primitive_root(u64 two_n, const Modulus& m) {
  const u64 p = m.value;
  require(two_n >= 2 && (two_n & (two_n - 1)) == 0 && (p - 1) % two_n == 0,
          ErrorCode::kInvalidArgument, "p must be ≡ 1 (mod 2N)");
  // Find any element of order exactly 2N: x^((p−1)/2N) with (·)^N = −1.
  u64 root = 0;
  for (u64 x = 2; x < p; ++x) {
    u64 r = pow_mod(x, (p - 1) / two_n, m);
    if (pow_mod(r, two_n / 2, m) == p - 1) {
      root = r;
      break;
    }
  }
  require(root != 0, ErrorCode::kInvalidArgument, "no primitive root found");
  // The primitive 2N-th roots are root^k for odd k; take the smallest.
  const u64 sq = mul_mod(root, root, m);
  u64 best = root, cur = root;
  for (u64 k = 3; k < two_n; k += 2) {
    cur = mul_mod(cur, sq, m);
    best = std::min(best, cur);
  }
  return best;
}

}  // namespace peregrine::math
