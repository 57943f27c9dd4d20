// Plain fuzz driver for compilers without libFuzzer (g++ builds, CI): runs the target's seed
// corpus and the files of optional corpus folders, then random mutations of them (bit flips, byte
// sets, truncations, insertions, splices) for --seconds, from a seeded PRG (reproducible with
// --seed). Any exception other than peregrine::Error is a failure (exit 1); crashes and sanitizer
// reports abort the process. `--write-corpus DIR` writes the seeds as files (for libFuzzer runs).
// Usage: fuzz_<target> [--seconds S] [--seed N] [--write-corpus DIR] [CORPUS_DIR_OR_FILE ...]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_target.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/core/prg.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;

bool run_checked(const Bytes& in, std::size_t& errors) {
  try {
    peregrine::fuzz::run_one(in.data(), in.size());
  } catch (const peregrine::Error&) {
    ++errors;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz %s: unexpected exception: %s (input of %zu bytes)\n",
                 peregrine::fuzz::name().c_str(), e.what(), in.size());
    return false;
  }
  return true;
}

Bytes mutate(const std::vector<Bytes>& pool, peregrine::Prg& prg) {
  Bytes b = pool[prg.uniform_below(pool.size())];
  const int rounds = 1 + static_cast<int>(prg.uniform_below(4));
  for (int r = 0; r < rounds; ++r) {
    switch (prg.uniform_below(6)) {
      case 0:  // flip a bit
        if (!b.empty()) b[prg.uniform_below(b.size())] ^= static_cast<std::uint8_t>(1u << prg.uniform_below(8));
        break;
      case 1:  // set a byte to an interesting value
        if (!b.empty()) {
          static const std::uint8_t vals[] = {0, 1, 0x7f, 0x80, 0xff};
          b[prg.uniform_below(b.size())] = vals[prg.uniform_below(5)];
        }
        break;
      case 2:  // truncate
        if (!b.empty()) b.resize(prg.uniform_below(b.size()));
        break;
      case 3: {  // insert random bytes
        const std::size_t pos = b.empty() ? 0 : prg.uniform_below(b.size() + 1);
        Bytes ins(1 + prg.uniform_below(16));
        prg.fill(ins.data(), ins.size());
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), ins.begin(), ins.end());
        break;
      }
      case 4: {  // overwrite 8 bytes (length fields) with a random or huge value
        if (b.size() >= 8) {
          const std::size_t pos = prg.uniform_below(b.size() - 7);
          std::uint64_t v = prg.uniform_below(2) ? ~std::uint64_t{0} >> prg.uniform_below(64) : prg.next_u64();
          std::memcpy(b.data() + pos, &v, 8);
        }
        break;
      }
      default: {  // splice with another input
        const Bytes& o = pool[prg.uniform_below(pool.size())];
        if (!o.empty() && !b.empty()) {
          const std::size_t cut = prg.uniform_below(b.size()), from = prg.uniform_below(o.size());
          b.resize(cut);
          b.insert(b.end(), o.begin() + static_cast<std::ptrdiff_t>(from), o.end());
        }
      }
    }
  }
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 10;
  std::uint64_t seed = 1;
  std::string write_dir;
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) seconds = std::stod(argv[++i]);
    else if (a == "--seed" && i + 1 < argc) seed = std::stoull(argv[++i]);
    else if (a == "--write-corpus" && i + 1 < argc) write_dir = argv[++i];
    else inputs.push_back(a);
  }
  std::vector<Bytes> pool = peregrine::fuzz::seeds();
  if (!write_dir.empty()) {
    std::filesystem::create_directories(write_dir);
    for (std::size_t i = 0; i < pool.size(); ++i) {
      std::ofstream f(write_dir + "/seed" + std::to_string(i), std::ios::binary);
      f.write(reinterpret_cast<const char*>(pool[i].data()), static_cast<std::streamsize>(pool[i].size()));
    }
    return 0;
  }
  for (const auto& in : inputs) {
    auto add = [&](const std::filesystem::path& p) {
      std::ifstream f(p, std::ios::binary);
      pool.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    };
    if (std::filesystem::is_directory(in)) {
      for (const auto& e : std::filesystem::directory_iterator(in))
        if (e.is_regular_file()) add(e.path());
    } else {
      add(in);
    }
  }
  if (pool.empty()) pool.emplace_back();
  std::size_t runs = 0, errors = 0;
  for (const auto& b : pool) {
    if (!run_checked(b, errors)) return 1;
    ++runs;
  }
  peregrine::Seed s{};
  std::memcpy(s.data(), &seed, sizeof seed);
  peregrine::Prg prg = peregrine::Prg::from_seed(s);
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
    const Bytes b = mutate(pool, prg);
    if (!run_checked(b, errors)) return 1;
    ++runs;
  }
  std::printf("fuzz %s: %zu inputs (%zu seeds), %zu rejected with a typed error, no crash\n",
              peregrine::fuzz::name().c_str(), runs, pool.size(), errors);
  return 0;
}
