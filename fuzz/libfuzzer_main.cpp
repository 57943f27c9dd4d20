// libFuzzer entry point (clang -fsanitize=fuzzer): peregrine::Error is the expected answer to bad
// input; anything else propagates and is reported as a crash.
#include "fuzz_target.hpp"
#include "peregrine/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    peregrine::fuzz::run_one(data, size);
  } catch (const peregrine::Error&) {
  }
  return 0;
}
