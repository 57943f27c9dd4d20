// A fuzz target: one function that must handle any bytes by returning or throwing
// peregrine::Error — never crashing, hanging or reading out of bounds (ASan/UBSan catch those).
// Each target file defines the three functions below; driver.cpp (any compiler) or libFuzzer
// (clang, -fsanitize=fuzzer) supplies main. Hardening issue: DESIGN.md §5, SECURITY.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace peregrine::fuzz {

/// Runs one input. Throwing peregrine::Error is the expected answer to bad bytes.
void run_one(const std::uint8_t* data, std::size_t size);
/// Real messages / files to start from (the seed corpus).
std::vector<std::vector<std::uint8_t>> seeds();
/// The target's name (corpus folder, messages).
std::string name();

}  // namespace peregrine::fuzz
