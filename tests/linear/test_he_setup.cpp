// The HE part of a session's set-up (linear/he_layer.hpp): the client's public key, and Galois keys
// for exactly the rotation steps a plan declares, for several parameter sets in one session (a
// coefficient-encoded Cheetah set and a slot-encoded set with a special prime). The server uses the
// received Galois keys on the client's ciphertexts; a peer that sends keys for other elements,
// malformed keys or an oversized frame is refused before anything is allocated or used.
#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "../common/errors.hpp"
#include "../he/he_test_util.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/he/encoder.hpp"
#include "peregrine/he/encryptor.hpp"
#include "peregrine/he/evaluator.hpp"
#include "peregrine/he/keys.hpp"
#include "peregrine/he/serialize.hpp"
#include "peregrine/linear/he_layer.hpp"
#include "peregrine/net/channel.hpp"

using namespace peregrine;
using u64 = std::uint64_t;

namespace {

he::HeParamsPtr slot_params() {
  // N = 4096, two 36-bit data primes and a special prime (≤ 109 bits in all), t a batching prime.
  return he::test::make_params(4096, 36, 2, he::test::batch_prime(4096, 20), true);
}

}  // namespace

TEST(HeSetup, TwoParameterSetsWithGaloisKeysTheServerCanUse) {
  const he::HeParamsPtr coeff = he::HeParams::cheetah(37), slots = slot_params();
  const std::vector<u64> elts = {he::galois_element_for_step(1, slots->n()), he::galois_element_for_step(-4, slots->n())};
  auto [cch, sch] = net::make_memory_pair();
  Prg cprg = he::test::test_prg(60);
  std::vector<linear::HeClient> hc;
  std::vector<linear::HeServer> hs;
  std::thread client([&] {
    hc.push_back(linear::he_client_setup(*cch, coeff, cprg));
    hc.push_back(linear::he_client_setup(*cch, slots, cprg, elts));
  });
  hs.push_back(linear::he_server_setup(*sch, coeff));
  const u64 after_first = sch->stats().bytes_received;
  hs.push_back(linear::he_server_setup(*sch, slots, elts));
  client.join();
  // The second set costs its public key and exactly one Galois-key frame (8-byte frame headers).
  EXPECT_EQ(sch->stats().bytes_received - after_first,
            8 + he::serialize(*slots, hs[1].pk).size() + 8 + he::galois_keys_bytes(*slots, elts.size()));
  ASSERT_EQ(hs.size(), 2u);
  EXPECT_TRUE(hs[0].galois.keys.empty());
  EXPECT_EQ(hs[1].galois.keys.size(), elts.size());

  // The server applies the client's Galois key to a client ciphertext; the client decrypts the
  // automorphism of its plaintext.
  he::CoeffEncoder enc(slots);
  std::vector<u64> x(slots->n());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = (i * 7 + 3) % slots->t();
  he::Encryptor es(slots, hc[1].sk);
  he::Decryptor dec(slots, hc[1].sk);
  he::Evaluator ev(slots);
  for (u64 g : elts) {
    const he::Ciphertext r = ev.apply_galois(es.encrypt_symmetric(enc.encode(x), cprg), g, hs[1].galois);
    std::vector<u64> want_rot(x.size(), 0);
    for (std::size_t i = 0; i < x.size(); ++i) {
      const std::size_t e = (i * g) % (2 * x.size());
      if (e < x.size()) want_rot[e] = x[i];
      else want_rot[e - x.size()] = x[i] ? slots->t() - x[i] : 0;
    }
    EXPECT_EQ(enc.decode(dec.decrypt(r)), want_rot) << "g = " << g;
  }
}

TEST(HeSetup, HostileGaloisKeysAreRefused) {
  const he::HeParamsPtr slots = slot_params();
  const std::vector<u64> want = {he::galois_element_for_step(1, slots->n())};
  const std::vector<u64> other = {he::galois_element_for_step(2, slots->n())};
  // (a) keys for another rotation than the plan's; (b) a malformed key frame of the right size;
  // (c) a frame announcing far more than the expected size (refused before allocation).
  for (int c = 0; c < 3; ++c) {
    auto [cch, sch] = net::make_memory_pair();
    std::thread client([&, c, ch = cch.get()] {
      Prg prg = he::test::test_prg(static_cast<std::uint8_t>(61 + c));
      try {
        if (c == 0) {
          linear::he_client_setup(*ch, slots, prg, other);
        } else {
          he::KeyGenerator kg(slots);
          const he::SecretKey sk = kg.secret_key(prg);
          ch->send_frame(he::serialize(*slots, kg.public_key(sk, prg)));
          std::vector<std::uint8_t> junk(c == 1 ? he::galois_keys_bytes(*slots, 1) : he::galois_keys_bytes(*slots, 1) + 1024,
                                         0xA5);
          ch->send_frame(junk);
          ch->flush();
        }
      } catch (...) {
      }
    });
    const ErrorCode expected = c == 0 ? ErrorCode::kProtocol : c == 1 ? ErrorCode::kMalformedInput : ErrorCode::kSizeLimit;
    EXPECT_EQ(test::error_code_of([&] { linear::he_server_setup(*sch, slots, want); }), expected) << "case " << c;
    sch.reset();
    client.join();
  }
}
