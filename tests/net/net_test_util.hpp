// Helpers shared by the net tests: channel pairs over memory and loopback TCP, two-thread runs.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "../common/errors.hpp"
#include "peregrine/net/channel.hpp"

namespace peregrine::net::testing {

using ChannelPtr = std::unique_ptr<Channel>;
using Pair = std::pair<ChannelPtr, ChannelPtr>;

enum class Transport { kMemory, kTcp };

inline std::string transport_name(const ::testing::TestParamInfo<Transport>& info) {
  return info.param == Transport::kMemory ? "Memory" : "Tcp";
}

/// A connected pair over loopback TCP (127.0.0.1, a free port).
inline Pair make_tcp_pair(const ChannelOptions& opts = {}) {
  TcpListener listener("127.0.0.1", 0);
  auto client = tcp_connect("127.0.0.1", listener.port(), std::chrono::milliseconds(5000), opts);
  auto server = listener.accept(std::chrono::milliseconds(5000), opts);
  return {std::move(client), std::move(server)};
}

inline Pair make_pair_for(Transport t, const ChannelOptions& opts = {}) {
  return t == Transport::kMemory ? make_memory_pair(opts) : make_tcp_pair(opts);
}

/// Runs `a` on this thread and `b` on another, each owning its endpoint (destroyed when its
/// function returns); exceptions from either side are rethrown here.
inline void run_two(Pair pair, std::function<void(ChannelPtr)> a, std::function<void(ChannelPtr)> b) {
  auto fb = std::async(std::launch::async, [&b, ch = std::move(pair.second)]() mutable { b(std::move(ch)); });
  std::exception_ptr ea;
  try {
    a(std::move(pair.first));
  } catch (...) {
    ea = std::current_exception();
  }
  fb.get();
  if (ea) std::rethrow_exception(ea);
}

using peregrine::test::error_code_of;

}  // namespace peregrine::net::testing
