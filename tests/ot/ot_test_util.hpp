// Shared helpers of the ot tests: two parties as threads over an in-memory channel pair.
#pragma once
#include "../common/two_party.hpp"
#include <gtest/gtest.h>

#include <exception>
#include <functional>
#include <memory>
#include <thread>
#include <utility>

#include "peregrine/core/prg.hpp"
#include "peregrine/net/channel.hpp"
#include "peregrine/ot/iknp.hpp"

namespace peregrine::ot::test_util {

/// Deterministic test seed (tests only: real runs use Prg::from_os()).
inline Seed test_seed(std::uint8_t tag) {
  Seed s{};
  s[0] = 0x5e;
  s[1] = tag;
  return s;
}

using peregrine::test::run_parties;

/// Two parties with both IKNP directions set up over one memory channel pair.
struct IknpSession {
  std::unique_ptr<net::Channel> ch0, ch1;
  Prg prg0 = Prg::from_seed(test_seed(1)), prg1 = Prg::from_seed(test_seed(2));
  OtPair p0, p1;

  explicit IknpSession(const net::ChannelOptions& opts = {}) {
    auto pr = net::make_memory_pair(opts);
    ch0 = std::move(pr.first);
    ch1 = std::move(pr.second);
    run_parties([&] { p0 = setup_iknp(*ch0, true, prg0); }, [&] { p1 = setup_iknp(*ch1, false, prg1); });
  }
};

}  // namespace peregrine::ot::test_util
