// The engine's first two messages on the wire (engine.hpp, session steps 1 and 2), exposed for the
// fuzz targets and tests: the hello both parties send and the public plan the server sends first.
// Not part of the stable API (namespace detail); sessions use serve_session / client_session.
//
// Hello (52 bytes, little-endian): u32 magic "PGRN" | u32 version | u8 role (0 server, 1 client) |
// u8 ring bits ℓ | u8 frac bits f | u8 OT back-end (mpc::OtBackend) | u64 HE params_id (0: no HE
// layer) | 32-byte SHA-256 of the plan text.
// Plan: nn::plan_to_json text, '\n', one strategy name per node separated by ','.
//
// Errors: kProtocol for a malformed hello or one that does not match ours; kSizeLimit for a plan
// over kMaxPlanBytes; kMalformedInput for a plan that does not parse, does not validate
// (nn::plan_from_json, strategy names) or is not in canonical form; kUnsupported for a plan the
// HE layers cannot run (ProtocolPlan). Thread-safety: pure functions.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "peregrine/engine/engine.hpp"

namespace peregrine::engine::detail {

inline constexpr std::uint32_t kHelloMagic = 0x4e524750;  // "PGRN" little-endian
// 2: OT back-end byte; 3: Ferret ferret_b12 sets; 4: slot-PRF 1-of-N OT; 5: he_params_id carries
// the hash of the session's HE sets (ProtocolPlan::he_set_id)
inline constexpr std::uint32_t kHelloVersion = 5;
inline constexpr std::size_t kHelloBytes = 52;

struct Hello {
  std::uint32_t magic = kHelloMagic;
  std::uint32_t version = kHelloVersion;
  std::uint8_t role = 0;  // 0 server, 1 client
  std::uint8_t ring_bits = 0;
  std::uint8_t frac_bits = 0;
  std::uint8_t ot_backend = 0;  // mpc::OtBackend
  std::uint64_t he_params_id = 0;
  std::array<std::uint8_t, 32> plan_hash{};
};

/// This party's hello for plan `p`.
Hello hello_for(const ProtocolPlan& p, mpc::Party me, mpc::OtBackend ot);
std::vector<std::uint8_t> encode_hello(const Hello& h);
/// Parses a peer's hello (exactly kHelloBytes, else kProtocol); checks nothing else.
Hello decode_hello(std::span<const std::uint8_t> bytes);
/// Checks every field of the peer's hello against ours (kProtocol with the reason on a mismatch).
void check_hello(const Hello& mine, const Hello& peer);

/// The client's reading of the plan the server sends first: size bound, nn::plan_from_json, the
/// strategy list, the planner with those strategies forced, and the canonical-form check; an
/// approximate strategy is refused (kProtocol) unless `accept` is Fidelity::kApprox.
std::shared_ptr<const ProtocolPlan> decode_plan(std::span<const std::uint8_t> bytes,
                                                Fidelity accept = Fidelity::kExact);

}  // namespace peregrine::engine::detail
