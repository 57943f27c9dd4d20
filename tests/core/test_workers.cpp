// core::Workers: every item runs exactly once for any thread count, the first error reaches the
// caller, and the pool is reusable after an error.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "peregrine/core/error.hpp"
#include "peregrine/core/workers.hpp"

using namespace peregrine;

TEST(Workers, EveryItemRunsOnceForEveryThreadCount) {
  for (std::size_t threads : {1, 2, 3, 8}) {
    core::Workers w(threads);
    EXPECT_EQ(w.size(), threads);
    for (std::size_t n : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      w.for_each(n, [&](std::size_t i) { hits[i].fetch_add(1); });
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " n " << n << " i " << i;
    }
  }
}

TEST(Workers, ItemsRunOnSeveralThreads) {
  core::Workers w(4);
  std::vector<std::thread::id> who(64);
  std::atomic<int> inside{0}, most{0};
  w.for_each(who.size(), [&](std::size_t i) {
    const int now = inside.fetch_add(1) + 1;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    who[i] = std::this_thread::get_id();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    inside.fetch_sub(1);
  });
  std::sort(who.begin(), who.end());
  const auto distinct = std::unique(who.begin(), who.end()) - who.begin();
  EXPECT_GT(distinct, 1);  // the caller and at least one background thread
  EXPECT_GT(most.load(), 1);
}

TEST(Workers, FirstErrorReachesTheCallerAndThePoolStaysUsable) {
  core::Workers w(3);
  EXPECT_THROW(w.for_each(100, [](std::size_t i) {
    if (i == 17) throw std::runtime_error("item 17");
  }), std::runtime_error);
  std::atomic<std::size_t> sum{0};
  w.for_each(10, [&](std::size_t i) { sum += i; });
  EXPECT_EQ(sum.load(), 45u);
  std::size_t serial = 0;
  core::for_each(nullptr, 4, [&](std::size_t i) { serial = serial * 10 + i; });  // inline, in order
  EXPECT_EQ(serial, 123u);
}

TEST(Workers, RejectsBadThreadCounts) {
  EXPECT_THROW(core::Workers(0), Error);
  EXPECT_THROW(core::Workers(257), Error);
}
