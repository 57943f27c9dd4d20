// Error expectations shared by the tests.
#pragma once
#include <gtest/gtest.h>

#include <exception>
#include <optional>

#include "peregrine/core/error.hpp"

namespace peregrine::test {

/// Runs f and returns the ErrorCode of the peregrine::Error it throws; fails the test (and returns
/// nullopt) when f throws anything else or nothing.
template <class F>
std::optional<ErrorCode> error_code_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unexpected exception: " << e.what();
    return std::nullopt;
  }
  ADD_FAILURE() << "no exception thrown";
  return std::nullopt;
}

}  // namespace peregrine::test
