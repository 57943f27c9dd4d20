// Fuzz target: the client input loaders of src/peregrine/nn/input.hpp fed with whatever file a user
// (or an attacker handing the client a file) supplies: the .npy parser, PNG/JPEG decoding (stb_image
// behind our signature and size checks), the CIFAR/MNIST dataset readers, and load_model_input's
// dispatch through real files (with an MNIST labels file beside the images).
// Input: byte 0 selects the entry point (mode % 8), the rest is the file:
//   0 parse_npy   1 decode_image gray   2 decode_image RGB   3 Dataset auto   4 Dataset MNIST
//   5 Dataset CIFAR-100   6 load_model_input on a temp file: byte 1 picks the extension (.npy, .png,
//   .bin, -images-idx3-ubyte), byte 2 the model shape, the rest is the file
//   7 MNIST images + labels files: byte 1 = L, the next L bytes are the labels file, the rest the images.
#include <stb_image_write.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "fuzz_target.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/nn/input.hpp"

namespace peregrine::fuzz {

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

// One scratch folder per process, removed at exit.
struct ScratchDir {
  fs::path path;
  ScratchDir() {
    path = fs::temp_directory_path() / ("peregrine_fuzz_input_" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

const fs::path& scratch() {
  static ScratchDir d;
  return d.path;
}

void write_file(const fs::path& p, const std::uint8_t* data, std::size_t size) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// Touches every byte of a record so a bad read would show under the sanitizers.
void consume(const nn::PixelImage& img) {
  volatile unsigned sum = 0;
  for (std::uint8_t b : img.chw) sum = sum + b;
  (void)sum;
}

void read_some(const nn::Dataset& ds) {
  if (ds.size() == 0) return;
  consume(ds.record(0));
  consume(ds.record(ds.size() - 1));
  (void)ds.label(ds.size() / 2);
}

const std::vector<std::int64_t> kShapes[4] = {{1, 1, 3, 3}, {1, 3, 4, 4}, {1, 1, 28, 28}, {1, 3, 32, 32}};

}  // namespace

std::string name() { return "input"; }

void run_one(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::uint8_t mode = data[0] % 8;
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  switch (mode) {
    case 0: (void)nn::parse_npy(rest, "fuzz.npy"); return;
    case 1: consume(nn::decode_image(rest, 1, "fuzz.img")); return;
    case 2: consume(nn::decode_image(rest, 3, "fuzz.img")); return;
    case 3:
      read_some(nn::Dataset::from_bytes(Bytes(rest.begin(), rest.end()), nn::DatasetFormat::kAuto, "fuzz"));
      return;
    case 4:
      read_some(nn::Dataset::from_bytes(Bytes(rest.begin(), rest.end()), nn::DatasetFormat::kMnist, "fuzz"));
      return;
    case 5:
      read_some(nn::Dataset::from_bytes(Bytes(rest.begin(), rest.end()), nn::DatasetFormat::kCifar100, "fuzz"));
      return;
    case 6: {
      if (rest.size() < 2) return;
      static const char* const kNames[4] = {"in.npy", "in.png", "in.bin", "t-images-idx3-ubyte"};
      const fs::path p = scratch() / kNames[rest[0] % 4];
      write_file(p, rest.data() + 2, rest.size() - 2);
      nn::Preprocess pp;
      pp.mean = {0.5};
      pp.std_dev = {0.25};
      const nn::ModelInput in = nn::load_model_input(p.string(), 0, kShapes[rest[1] % 4], pp);
      volatile float s = 0;
      for (float v : in.data) s = s + v;
      (void)s;
      return;
    }
    default: {
      if (rest.empty()) return;
      const std::size_t L = std::min<std::size_t>(rest[0], rest.size() - 1);
      write_file(scratch() / "m-labels-idx1-ubyte", rest.data() + 1, L);
      write_file(scratch() / "m-images-idx3-ubyte", rest.data() + 1 + L, rest.size() - 1 - L);
      read_some(nn::Dataset::open((scratch() / "m-images-idx3-ubyte").string()));
      return;
    }
  }
}

namespace {

void put_be32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

Bytes npy(const std::string& descr, const std::string& shape, const Bytes& payload, int major) {
  std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const std::size_t pre = major == 1 ? 10 : 12;
  while ((pre + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  Bytes b = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
  b.push_back(static_cast<std::uint8_t>(h.size() & 0xff));
  b.push_back(static_cast<std::uint8_t>(h.size() >> 8));
  if (major != 1) b.insert(b.end(), 2, 0);
  b.insert(b.end(), h.begin(), h.end());
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

void append_to(void* ctx, void* data, int size) {
  auto* out = static_cast<Bytes*>(ctx);
  const auto* p = static_cast<const std::uint8_t*>(data);
  out->insert(out->end(), p, p + size);
}

Bytes png(int w, int h, int comp) {
  Bytes px(static_cast<std::size_t>(w * h * comp));
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i * 13 + 5);
  Bytes out;
  stbi_write_png_to_func(append_to, &out, w, h, comp, px.data(), w * comp);
  return out;
}

Bytes jpeg(int w, int h, int comp) {
  Bytes px(static_cast<std::size_t>(w * h * comp));
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i * 7 + 1);
  Bytes out;
  stbi_write_jpg_to_func(append_to, &out, w, h, comp, px.data(), 90);
  return out;
}

Bytes with_prefix(std::initializer_list<std::uint8_t> prefix, const Bytes& body) {
  Bytes b(prefix);
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

}  // namespace

std::vector<std::vector<std::uint8_t>> seeds() {
  Bytes f4(4 * 9), f8(8 * 48), u1(9);
  for (std::size_t i = 0; i < f4.size(); ++i) f4[i] = static_cast<std::uint8_t>(i);
  for (std::size_t i = 0; i < u1.size(); ++i) u1[i] = static_cast<std::uint8_t>(i * 20);
  const Bytes npy_f4 = npy("<f4", "(1, 1, 3, 3)", Bytes(36, 0), 1);
  const Bytes npy_f8 = npy("<f8", "(3, 4, 4)", f8, 2);
  const Bytes npy_u1 = npy("|u1", "(3, 3)", u1, 3);
  Bytes cifar10(2 * 3073, 7), cifar100(2 * 3074, 9);
  cifar10[0] = 3, cifar10[3073] = 8;
  cifar100[0] = 4, cifar100[1] = 49, cifar100[3074] = 1, cifar100[3075] = 33;
  Bytes idx3;
  for (std::uint32_t v : {2051u, 2u, 3u, 3u}) put_be32(idx3, v);
  idx3.insert(idx3.end(), 18, 0x40);
  Bytes idx1;
  for (std::uint32_t v : {2049u, 2u}) put_be32(idx1, v);
  idx1.push_back(7);
  idx1.push_back(2);

  std::vector<Bytes> out = {
      with_prefix({0}, npy("<f4", "(3, 3)", f4, 1)),
      with_prefix({0}, npy_f8),
      with_prefix({0}, npy_u1),
      with_prefix({1}, png(4, 3, 1)),
      with_prefix({2}, png(3, 2, 3)),
      with_prefix({2}, png(2, 2, 4)),
      with_prefix({1}, jpeg(8, 8, 3)),
      with_prefix({2}, jpeg(9, 5, 1)),
      with_prefix({3}, cifar10),
      with_prefix({3}, cifar100),
      with_prefix({3}, idx3),
      with_prefix({4}, idx3),
      with_prefix({5}, cifar100),
      with_prefix({6, 0, 0}, npy_f4),
      with_prefix({6, 0, 1}, npy_f8),
      with_prefix({6, 0, 0}, npy_u1),
      with_prefix({6, 1, 0}, png(3, 3, 1)),
      with_prefix({6, 1, 1}, png(4, 4, 3)),
      with_prefix({6, 2, 3}, cifar10),
      with_prefix({6, 3, 0}, idx3),
  };
  Bytes mnist_pair = {7, static_cast<std::uint8_t>(idx1.size())};
  mnist_pair.insert(mnist_pair.end(), idx1.begin(), idx1.end());
  mnist_pair.insert(mnist_pair.end(), idx3.begin(), idx3.end());
  out.push_back(mnist_pair);
  return out;
}

}  // namespace peregrine::fuzz
