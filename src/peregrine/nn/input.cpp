#include "peregrine/nn/input.hpp"

#include <fcntl.h>
#include <stb_image.h>  // Debian libstb-dev (implementation in libstb, linked through pkg-config)
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>  // Debian zlib1g-dev: bounded pre-inflation of PNG data

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cfloat>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string_view>
#include <system_error>
#include <utility>

#include "peregrine/core/error.hpp"
#include "peregrine/nn/graph.hpp"

static_assert(std::endian::native == std::endian::little, "the .npy and CIFAR readers assume a little-endian host");

namespace peregrine::nn {

namespace {

namespace fs = std::filesystem;

// A name or value made safe for a one-line message: control characters become '?', long strings
// are cut.
std::string printable(std::string_view s, std::size_t max_len = 200) {
  std::string out;
  for (char ch : s.substr(0, max_len)) {
    const auto u = static_cast<unsigned char>(ch);
    out += (u < 0x20 || u == 0x7f) ? '?' : ch;
  }
  if (s.size() > max_len) out += "...";
  return out;
}

[[noreturn]] void fail(ErrorCode code, const std::string& name, const std::string& what) {
  throw Error(code, printable(name, 400) + ": " + what);
}

std::string u64s(std::uint64_t v) { return std::to_string(v); }

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

std::string hex_bytes(const std::uint8_t* p, std::size_t n) {
  std::string s;
  char buf[4];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", p[i]);
    if (i) s += ' ';
    s += buf;
  }
  return s;
}

}  // namespace

// ---- byte sources --------------------------------------------------------------------------------

class Dataset::Source {
 public:
  virtual ~Source() = default;
  /// Bytes available.
  virtual std::uint64_t size() const noexcept = 0;
  /// Reads exactly n bytes at `off` into dst. Throws Error(kMalformedInput) when they are not all
  /// there (a file that shrank after open), Error(kInvalidArgument) on an I/O error.
  virtual void read_at(std::uint64_t off, std::uint8_t* dst, std::size_t n) const = 0;
};

namespace {

using Source = Dataset::Source;

// A regular file opened once; positioned reads (pread) so concurrent readers share no offset.
class FileSource final : public Source {
 public:
  explicit FileSource(const std::string& path) : path_(path) {
    // O_NONBLOCK: opening a FIFO must not block; it has no effect on regular files.
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd_ < 0) {
      const int e = errno;
      fail(ErrorCode::kInvalidArgument, path, "cannot open: " + std::generic_category().message(e));
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      const int e = errno;
      ::close(fd_);
      fail(ErrorCode::kInvalidArgument, path, "cannot stat: " + std::generic_category().message(e));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd_);
      fail(ErrorCode::kInvalidArgument, path, "not a regular file");
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  ~FileSource() override { ::close(fd_); }

  std::uint64_t size() const noexcept override { return size_; }

  void read_at(std::uint64_t off, std::uint8_t* dst, std::size_t n) const override {
    std::size_t done = 0;
    while (done < n) {
      const std::uint64_t pos = off + done;
      if (pos > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()))
        fail(ErrorCode::kMalformedInput, path_, "offset " + u64s(pos) + " beyond the file");
      const ssize_t r = ::pread(fd_, dst + done, n - done, static_cast<off_t>(pos));
      if (r < 0) {
        if (errno == EINTR) continue;
        const int e = errno;
        fail(ErrorCode::kInvalidArgument, path_, "read failed: " + std::generic_category().message(e));
      }
      if (r == 0)
        fail(ErrorCode::kMalformedInput, path_,
             "truncated: the file ended at byte " + u64s(pos) + " while reading " + u64s(n) + " bytes at offset " +
                 u64s(off));
      done += static_cast<std::size_t>(r);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// Bytes in memory (not owned).
class SpanSource : public Source {
 public:
  SpanSource(std::span<const std::uint8_t> bytes, std::string name) : bytes_(bytes), name_(std::move(name)) {}
  std::uint64_t size() const noexcept override { return bytes_.size(); }
  void read_at(std::uint64_t off, std::uint8_t* dst, std::size_t n) const override {
    if (off > bytes_.size() || n > bytes_.size() - off)
      fail(ErrorCode::kMalformedInput, name_,
           "truncated: " + u64s(bytes_.size()) + " bytes, reading " + u64s(n) + " bytes at offset " + u64s(off));
    if (n) std::memcpy(dst, bytes_.data() + off, n);
  }

 protected:
  std::span<const std::uint8_t> bytes_;
  std::string name_;
};

// Bytes in memory (owned).
class OwnedSource final : public SpanSource {
 public:
  OwnedSource(std::vector<std::uint8_t> bytes, std::string name)
      : SpanSource({}, std::move(name)), owned_(std::move(bytes)) {
    bytes_ = owned_;
  }

 private:
  std::vector<std::uint8_t> owned_;
};

// The whole file, after checking its size against `limit` (kSizeLimit) before reading.
std::vector<std::uint8_t> read_whole_file(const std::string& path, std::uint64_t limit) {
  FileSource f(path);
  if (f.size() > limit)
    fail(ErrorCode::kSizeLimit, path, "file is " + u64s(f.size()) + " bytes, above the limit of " + u64s(limit));
  std::vector<std::uint8_t> out(static_cast<std::size_t>(f.size()));
  f.read_at(0, out.data(), out.size());
  return out;
}

// ---- metadata ------------------------------------------------------------------------------------

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_commas(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    const std::size_t k = s.find(',');
    out.push_back(trim(s.substr(0, k)));
    if (k == std::string_view::npos) break;
    s.remove_prefix(k + 1);
  }
  return out;
}

constexpr std::size_t kMaxMetadataValues = 4096;

std::vector<double> parse_numbers(const std::string& key, const std::string& value) {
  auto bad = [&](const std::string& why) -> void {
    throw Error(ErrorCode::kMalformedInput, "model metadata '" + key + "' = '" + printable(value, 120) + "': " + why);
  };
  std::vector<double> out;
  const auto items = split_commas(value);
  if (items.size() > kMaxMetadataValues) bad("more than " + std::to_string(kMaxMetadataValues) + " values");
  for (std::string_view it : items) {
    if (it.empty()) bad("empty item in the comma-separated list");
    double v = 0;
    const auto [end, ec] = std::from_chars(it.data(), it.data() + it.size(), v);
    if (ec != std::errc() || end != it.data() + it.size()) bad("'" + printable(it, 40) + "' is not a number");
    if (!std::isfinite(v)) bad("'" + printable(it, 40) + "' is not finite");
    out.push_back(v);
  }
  return out;
}

}  // namespace

Preprocess preprocess_from_metadata(const std::map<std::string, std::string>& metadata_props) {
  Preprocess pp;
  if (auto it = metadata_props.find("pixel_scale"); it != metadata_props.end()) {
    const std::vector<double> v = parse_numbers("pixel_scale", it->second);
    if (v.size() != 1 || !(v[0] > 0))
      throw Error(ErrorCode::kMalformedInput,
                  "model metadata 'pixel_scale' = '" + printable(it->second, 120) + "': expected one number > 0");
    pp.pixel_scale = v[0];
  }
  if (auto it = metadata_props.find("mean"); it != metadata_props.end()) pp.mean = parse_numbers("mean", it->second);
  if (auto it = metadata_props.find("std"); it != metadata_props.end()) {
    pp.std_dev = parse_numbers("std", it->second);
    for (double s : pp.std_dev)
      if (s == 0)
        throw Error(ErrorCode::kMalformedInput,
                    "model metadata 'std' = '" + printable(it->second, 120) + "': a standard deviation is 0");
  }
  if (!pp.mean.empty() && !pp.std_dev.empty() && pp.mean.size() != pp.std_dev.size() && pp.mean.size() != 1 &&
      pp.std_dev.size() != 1)
    throw Error(ErrorCode::kMalformedInput, "model metadata: 'mean' has " + std::to_string(pp.mean.size()) +
                                                " values but 'std' has " + std::to_string(pp.std_dev.size()));
  return pp;
}

std::vector<std::string> labels_from_metadata(const std::map<std::string, std::string>& metadata_props) {
  std::vector<std::string> out;
  auto it = metadata_props.find("labels");
  if (it == metadata_props.end() || trim(it->second).empty()) return out;
  for (std::string_view s : split_commas(it->second)) out.emplace_back(s);
  return out;
}

std::vector<float> apply_preprocess(const PixelImage& img, const Preprocess& pp) {
  const std::size_t C = img.C, HW = img.H * img.W;
  if (img.chw.size() != C * HW)
    throw Error(ErrorCode::kInvalidArgument, "pixel image holds " + std::to_string(img.chw.size()) +
                                                 " bytes, not C*H*W = " + std::to_string(C * HW));
  auto check_len = [&](const std::vector<double>& v, const char* what) {
    if (v.size() > 1 && v.size() != C)
      throw Error(ErrorCode::kInvalidArgument, std::string("preprocessing has ") + std::to_string(v.size()) + " " +
                                                   what + " values but the input has " + std::to_string(C) +
                                                   " channel(s)");
  };
  check_len(pp.mean, "mean");
  check_len(pp.std_dev, "std");
  if (!std::isfinite(pp.pixel_scale))
    throw Error(ErrorCode::kInvalidArgument, "preprocessing pixel_scale is not finite");
  for (double s : pp.std_dev)
    if (s == 0 || !std::isfinite(s))
      throw Error(ErrorCode::kInvalidArgument, "preprocessing std value is 0 or not finite");
  for (double m : pp.mean)
    if (!std::isfinite(m)) throw Error(ErrorCode::kInvalidArgument, "preprocessing mean value is not finite");
  std::vector<float> out(C * HW);
  for (std::size_t c = 0; c < C; ++c) {
    const double mean = pp.mean.empty() ? 0.0 : pp.mean[pp.mean.size() == 1 ? 0 : c];
    const double sd = pp.std_dev.empty() ? 1.0 : pp.std_dev[pp.std_dev.size() == 1 ? 0 : c];
    // Per pixel value: 256 entries instead of HW divisions.
    std::array<float, 256> lut;
    for (int p = 0; p < 256; ++p)
      lut[static_cast<std::size_t>(p)] = static_cast<float>((p * pp.pixel_scale - mean) / sd);
    const std::uint8_t* src = img.chw.data() + c * HW;
    float* dst = out.data() + c * HW;
    for (std::size_t q = 0; q < HW; ++q) dst[q] = lut[src[q]];
  }
  return out;
}

// ---- images --------------------------------------------------------------------------------------

namespace {

// Bytes of image data a PNG with this header inflates to: per (Adam7 pass and) row, one filter byte
// plus the packed samples.
std::uint64_t png_raw_bytes(std::uint64_t w, std::uint64_t h, std::uint64_t bits_per_pixel, bool interlaced) {
  auto rows = [&](std::uint64_t pw, std::uint64_t ph) { return pw && ph ? ph * (1 + (pw * bits_per_pixel + 7) / 8) : 0; };
  if (!interlaced) return rows(w, h);
  static constexpr std::uint64_t kAdam7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                                 {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
  std::uint64_t total = 0;
  for (const auto& p : kAdam7) {
    const std::uint64_t pw = w > p[0] ? (w - p[0] + p[2] - 1) / p[2] : 0;
    const std::uint64_t ph = h > p[1] ? (h - p[1] + p[3] - 1) / p[3] : 0;
    total += rows(pw, ph);
  }
  return total;
}

// Validates a PNG before stb_image sees it: chunk lengths within the file, every CRC, IHDR first
// with a valid header, IEND last with nothing after it, and the image data inflated (zlib, into a
// fixed scratch buffer) to no more than the header's image needs. stb_image would otherwise grow
// its output buffer up to 4 GiB for a small file whose data inflates far beyond its declared size.
void check_png(std::span<const std::uint8_t> b, const std::string& name) {
  auto bad = [&](const std::string& why) { fail(ErrorCode::kMalformedInput, name, why); };
  struct Inflater {
    z_stream zs{};
    bool init = false;
    ~Inflater() {
      if (init) inflateEnd(&zs);
    }
  } inf;
  if (inflateInit(&inf.zs) != Z_OK) fail(ErrorCode::kInvalidArgument, name, "zlib inflateInit failed");
  inf.init = true;
  std::array<std::uint8_t, 32768> scratch;
  std::uint64_t limit = 0, produced = 0;
  bool have_idat = false, stream_end = false;
  std::size_t pos = 8;
  for (bool first = true;; first = false) {
    if (b.size() - pos < 12) bad("truncated PNG: no complete chunk at byte " + u64s(pos) + " (IEND missing)");
    const std::uint32_t len = be32(&b[pos]);
    if (len > 0x7fffffffu || len > b.size() - pos - 12)
      bad("truncated PNG: the chunk at byte " + u64s(pos) + " declares " + u64s(len) + " bytes but only " +
          u64s(b.size() - pos - 12) + " follow");
    const std::uint8_t* type = &b[pos + 4];
    const std::uint8_t* data = type + 4;
    const std::string tname = printable(std::string_view(reinterpret_cast<const char*>(type), 4));
    if (crc32(crc32(0L, Z_NULL, 0), type, len + 4) != be32(data + len))
      bad("PNG chunk '" + tname + "' at byte " + u64s(pos) + " has a bad CRC (corrupt file)");
    pos += 12 + std::size_t{len};
    if (first) {
      if (tname != "IHDR" || len != 13) bad("PNG does not start with a 13-byte IHDR chunk");
      const std::uint64_t w = be32(data), h = be32(data + 4);
      const unsigned depth = data[8], ctype = data[9];
      if (w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu)
        bad("PNG header declares an image of " + u64s(w) + "x" + u64s(h));
      if (w * h > kMaxImagePixels)
        fail(ErrorCode::kSizeLimit, name,
             "image is " + u64s(w) + "x" + u64s(h) + ", above the limit of " + u64s(kMaxImagePixels) + " pixels");
      unsigned samples = 0;
      bool depth_ok = false;
      switch (ctype) {
        case 0: samples = 1, depth_ok = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16; break;
        case 2: samples = 3, depth_ok = depth == 8 || depth == 16; break;
        case 3: samples = 1, depth_ok = depth == 1 || depth == 2 || depth == 4 || depth == 8; break;
        case 4: samples = 2, depth_ok = depth == 8 || depth == 16; break;
        case 6: samples = 4, depth_ok = depth == 8 || depth == 16; break;
        default: break;
      }
      if (!depth_ok)
        bad("PNG header has colour type " + std::to_string(ctype) + " with bit depth " + std::to_string(depth));
      if (data[10] != 0 || data[11] != 0 || data[12] > 1)
        bad("PNG header has an unknown compression, filter or interlace method");
      limit = png_raw_bytes(w, h, std::uint64_t{samples} * depth, data[12] == 1);
      continue;
    }
    if (tname == "IEND") break;
    if (tname == "CgBI") fail(ErrorCode::kUnsupported, name, "Apple CgBI PNGs are not supported");
    if (tname != "IDAT" || stream_end) continue;
    have_idat = true;
    inf.zs.next_in = const_cast<Bytef*>(data);
    inf.zs.avail_in = len;
    while (inf.zs.avail_in > 0) {
      inf.zs.next_out = scratch.data();
      inf.zs.avail_out = static_cast<uInt>(scratch.size());
      const int r = inflate(&inf.zs, Z_NO_FLUSH);
      produced += scratch.size() - inf.zs.avail_out;
      if (produced > limit)
        bad("PNG image data inflates to more than the " + u64s(limit) + " bytes its header declares");
      if (r == Z_STREAM_END) {
        stream_end = true;
        break;
      }
      if (r != Z_OK && !(r == Z_BUF_ERROR && inf.zs.avail_in == 0))
        bad(std::string("corrupt PNG image data (zlib: ") + (inf.zs.msg ? inf.zs.msg : "error") + ")");
    }
  }
  if (pos != b.size()) bad(u64s(b.size() - pos) + " bytes after the PNG IEND chunk");
  if (!have_idat) bad("PNG has no image data (IDAT)");
  if (!stream_end) bad("truncated PNG image data (the zlib stream does not end)");
}

}  // namespace

PixelImage decode_image(std::span<const std::uint8_t> bytes, std::size_t channels, const std::string& name) {
  if (channels != 1 && channels != 3)
    fail(ErrorCode::kInvalidArgument, name,
         "images can be converted to 1 (gray) or 3 (RGB) channels, not " + std::to_string(channels));
  static constexpr std::uint8_t kPngSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.empty()) fail(ErrorCode::kMalformedInput, name, "file is empty");
  if (bytes.size() > kMaxImageFileBytes || bytes.size() > static_cast<std::size_t>(INT_MAX))
    fail(ErrorCode::kSizeLimit, name,
         "image file is " + u64s(bytes.size()) + " bytes, above the limit of " + u64s(kMaxImageFileBytes));
  const std::size_t sig_n = std::min<std::size_t>(bytes.size(), 8);
  const bool png = std::memcmp(bytes.data(), kPngSig, sig_n) == 0;
  const bool jpeg = bytes.size() >= 3 ? (bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff)
                                      : (bytes[0] == 0xff && (bytes.size() < 2 || bytes[1] == 0xd8));
  if (!png && !jpeg)
    fail(
        ErrorCode::kUnsupported, name,
        "not a PNG or JPEG file (first bytes " + hex_bytes(bytes.data(), std::min<std::size_t>(bytes.size(), 8)) + ")");
  const char* kind = png ? "PNG" : "JPEG";
  if (bytes.size() < (png ? 8u : 3u))
    fail(ErrorCode::kMalformedInput, name, std::string("truncated ") + kind + " signature");
  if (png) check_png(bytes, name);
  auto reason = [] {
    const char* r = stbi_failure_reason();
    return std::string(r ? r : "unknown error");
  };
  const int len = static_cast<int>(bytes.size());
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(bytes.data(), len, &w, &h, &comp))
    fail(ErrorCode::kMalformedInput, name, std::string("corrupt ") + kind + " header: " + printable(reason(), 80));
  if (w <= 0 || h <= 0) fail(ErrorCode::kMalformedInput, name, std::string(kind) + " header declares an empty image");
  if (static_cast<std::uint64_t>(w) * static_cast<std::uint64_t>(h) > kMaxImagePixels)
    fail(ErrorCode::kSizeLimit, name,
         "image is " + std::to_string(w) + "x" + std::to_string(h) + ", above the limit of " + u64s(kMaxImagePixels) +
             " pixels");
  int w2 = 0, h2 = 0, comp2 = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> px(
      stbi_load_from_memory(bytes.data(), len, &w2, &h2, &comp2, static_cast<int>(channels)), stbi_image_free);
  if (!px) fail(ErrorCode::kMalformedInput, name, std::string("corrupt ") + kind + " data: " + printable(reason(), 80));
  if (w2 != w || h2 != h)
    fail(ErrorCode::kMalformedInput, name, std::string(kind) + " header and data disagree on the image size");
  PixelImage img;
  img.C = channels;
  img.H = static_cast<std::size_t>(h);
  img.W = static_cast<std::size_t>(w);
  const std::size_t HW = img.H * img.W;
  img.chw.resize(channels * HW);
  const stbi_uc* src = px.get();  // HWC, interleaved
  for (std::size_t q = 0; q < HW; ++q)
    for (std::size_t c = 0; c < channels; ++c) img.chw[c * HW + q] = src[q * channels + c];
  return img;
}

PixelImage load_image_file(const std::string& path, std::size_t channels) {
  if (channels != 1 && channels != 3)
    fail(ErrorCode::kInvalidArgument, path,
         "images can be converted to 1 (gray) or 3 (RGB) channels, not " + std::to_string(channels));
  const std::vector<std::uint8_t> bytes = read_whole_file(path, kMaxImageFileBytes);
  return decode_image(bytes, channels, path);
}

// ---- datasets ------------------------------------------------------------------------------------

const char* dataset_format_name(DatasetFormat fmt) noexcept {
  switch (fmt) {
    case DatasetFormat::kAuto: return "auto";
    case DatasetFormat::kCifar10: return "cifar10";
    case DatasetFormat::kCifar100: return "cifar100";
    case DatasetFormat::kMnist: return "mnist";
  }
  return "unknown";
}

DatasetFormat parse_dataset_format(const std::string& name) {
  for (DatasetFormat f :
       {DatasetFormat::kAuto, DatasetFormat::kCifar10, DatasetFormat::kCifar100, DatasetFormat::kMnist})
    if (name == dataset_format_name(f)) return f;
  throw Error(ErrorCode::kInvalidArgument,
              "unknown dataset format '" + printable(name, 40) + "' (expected auto, cifar10, cifar100 or mnist)");
}

namespace {

constexpr std::uint64_t kCifar10Record = 3073, kCifar100Record = 3074, kCifarPixels = 3072;
constexpr std::uint32_t kIdx3Magic = 2051, kIdx1Magic = 2049;

// The MNIST labels file expected beside an images file, or "" when the name has no images part.
std::string mnist_labels_path(const std::string& path) {
  const fs::path p(path);
  std::string file = p.filename().string();
  for (auto [from, to] :
       {std::pair<std::string_view, std::string_view>{"images-idx3", "labels-idx1"}, {"images.idx3", "labels.idx1"}}) {
    const std::size_t k = file.rfind(from);
    if (k != std::string::npos) {
      file.replace(k, from.size(), to);
      return (p.parent_path() / file).string();
    }
  }
  return {};
}

bool name_says_cifar100(const std::string& name) {
  const std::string n = lower(name);
  return n.find("cifar100") != std::string::npos || n.find("cifar-100") != std::string::npos ||
         n.find("cifar_100") != std::string::npos;
}
bool name_says_cifar10(const std::string& name) {
  const std::string n = lower(name);
  for (const char* s : {"cifar10", "cifar-10", "cifar_10"}) {
    for (std::size_t k = n.find(s); k != std::string::npos; k = n.find(s, k + 1)) {
      const std::size_t after = k + std::strlen(s);
      if (after >= n.size() || n[after] != '0') return true;  // "cifar10" but not "cifar100"
    }
  }
  return false;
}

}  // namespace

Dataset Dataset::open(const std::string& path, DatasetFormat fmt) {
  auto src = std::make_shared<const FileSource>(path);
  return open_source(std::move(src), fmt, path, mnist_labels_path(path));
}

Dataset Dataset::from_bytes(std::vector<std::uint8_t> bytes, DatasetFormat fmt, const std::string& name) {
  auto src = std::make_shared<const OwnedSource>(std::move(bytes), name);
  return open_source(std::move(src), fmt, name, {});
}

Dataset Dataset::open_source(std::shared_ptr<const Source> src, DatasetFormat fmt, const std::string& name,
                             const std::string& labels_path) {
  const std::uint64_t size = src->size();
  if (size == 0) fail(ErrorCode::kMalformedInput, name, "file is empty");
  std::uint8_t head[16] = {};
  const std::size_t hn = static_cast<std::size_t>(std::min<std::uint64_t>(size, 16));
  src->read_at(0, head, hn);
  if (hn >= 2 && head[0] == 0x1f && head[1] == 0x8b)
    fail(ErrorCode::kUnsupported, name, "file is gzip-compressed; gunzip it first");
  const bool idx3_magic = hn >= 4 && be32(head) == kIdx3Magic;

  DatasetFormat f = fmt;
  if (f == DatasetFormat::kAuto) {
    if (idx3_magic) {
      f = DatasetFormat::kMnist;
    } else {
      const bool d10 = size % kCifar10Record == 0, d100 = size % kCifar100Record == 0;
      if (d10 && d100) {
        if (name_says_cifar100(name))
          f = DatasetFormat::kCifar100;
        else if (name_says_cifar10(name))
          f = DatasetFormat::kCifar10;
        else
          fail(ErrorCode::kInvalidArgument, name,
               "size " + u64s(size) +
                   " bytes is a whole number of both CIFAR-10 (3073-byte) and CIFAR-100 (3074-byte) records; "
                   "give the format explicitly (cifar10 or cifar100)");
      } else if (d10) {
        f = DatasetFormat::kCifar10;
      } else if (d100) {
        f = DatasetFormat::kCifar100;
      } else {
        fail(ErrorCode::kMalformedInput, name,
             "unknown dataset layout: size " + u64s(size) +
                 " bytes is a whole number of neither CIFAR-10 (3073-byte) nor CIFAR-100 (3074-byte) records "
                 "(truncated?), and the file does not start with the MNIST idx3 magic 2051");
      }
    }
  }

  Dataset d;
  d.src_ = std::move(src);
  d.name_ = name;
  d.format_ = f;
  if (f == DatasetFormat::kCifar10 || f == DatasetFormat::kCifar100) {
    const std::uint64_t rb = f == DatasetFormat::kCifar10 ? kCifar10Record : kCifar100Record;
    if (size % rb != 0)
      fail(ErrorCode::kMalformedInput, name,
           std::string("truncated or not ") + (f == DatasetFormat::kCifar10 ? "CIFAR-10" : "CIFAR-100") + ": " +
               u64s(size) + " bytes is not a whole number of " + u64s(rb) + "-byte records (" + u64s(size / rb) +
               " full records and " + u64s(size % rb) + " bytes left over)");
    d.count_ = static_cast<std::size_t>(size / rb);
    d.C_ = 3;
    d.H_ = d.W_ = 32;
    d.header_bytes_ = 0;
    d.record_bytes_ = rb;
    d.label_bytes_ = rb - kCifarPixels;
    d.has_labels_ = true;
    return d;
  }

  // MNIST idx3: magic, count, rows, cols (big-endian uint32), then count·rows·cols bytes.
  if (hn < 16) fail(ErrorCode::kMalformedInput, name, "truncated MNIST idx3 header: " + u64s(size) + " bytes, need 16");
  const std::uint32_t magic = be32(head);
  if (magic != kIdx3Magic)
    fail(ErrorCode::kMalformedInput, name,
         "bad magic " + std::to_string(magic) + " (bytes " + hex_bytes(head, 4) +
             "), expected 2051 for MNIST idx3 images" + (magic == kIdx1Magic ? " (this is an idx1 labels file)" : ""));
  const std::uint64_t count = be32(head + 4), rows = be32(head + 8), cols = be32(head + 12);
  if (rows == 0 || cols == 0 || rows * cols > kMaxImagePixels)
    fail(ErrorCode::kMalformedInput, name,
         "MNIST header declares images of " + u64s(rows) + "x" + u64s(cols) + " (need 1.." + u64s(kMaxImagePixels) +
             " pixels)");
  const std::uint64_t per = rows * cols, body = size - 16;
  const std::uint64_t need = count * per;  // ≤ 2^32 · 2^24: no overflow
  if (need > body)
    fail(ErrorCode::kMalformedInput, name,
         "truncated: the header declares " + u64s(count) + " images of " + u64s(rows) + "x" + u64s(cols) + " (" +
             u64s(need) + " bytes) but only " + u64s(body) + " bytes follow");
  if (need < body)
    fail(ErrorCode::kMalformedInput, name,
         u64s(body - need) + " trailing bytes after the " + u64s(count) + " declared images of " + u64s(rows) + "x" +
             u64s(cols));
  d.count_ = static_cast<std::size_t>(count);
  d.C_ = 1;
  d.H_ = static_cast<std::size_t>(rows);
  d.W_ = static_cast<std::size_t>(cols);
  d.header_bytes_ = 16;
  d.record_bytes_ = per;
  d.label_bytes_ = 0;

  std::error_code ec;
  if (!labels_path.empty() && fs::exists(labels_path, ec) && !ec) {
    FileSource lab(labels_path);
    std::uint8_t lh[8] = {};
    if (lab.size() < 8)
      fail(ErrorCode::kMalformedInput, labels_path,
           "truncated MNIST idx1 labels header: " + u64s(lab.size()) + " bytes, need 8");
    lab.read_at(0, lh, 8);
    if (be32(lh) != kIdx1Magic)
      fail(ErrorCode::kMalformedInput, labels_path,
           "bad magic " + std::to_string(be32(lh)) + ", expected 2049 for MNIST idx1 labels");
    if (be32(lh + 4) != count)
      fail(ErrorCode::kMalformedInput, labels_path,
           "labels file declares " + std::to_string(be32(lh + 4)) + " labels but " + printable(name) + " holds " +
               u64s(count) + " images");
    if (lab.size() != 8 + count)
      fail(ErrorCode::kMalformedInput, labels_path,
           (lab.size() < 8 + count ? "truncated: " : "trailing bytes: ") + u64s(lab.size()) + " bytes, expected " +
               u64s(8 + count) + " for " + u64s(count) + " labels");
    d.mnist_labels_.resize(static_cast<std::size_t>(count));
    lab.read_at(8, d.mnist_labels_.data(), d.mnist_labels_.size());
    d.has_labels_ = true;
  }
  return d;
}

int Dataset::label(std::size_t i) const {
  if (i >= count_)
    fail(ErrorCode::kInvalidArgument, name_,
         "record index " + u64s(i) + " is out of range: the file holds " + u64s(count_) + " records");
  if (format_ == DatasetFormat::kMnist) return has_labels_ ? int{mnist_labels_[i]} : -1;
  std::uint8_t lb[2] = {};
  src_->read_at(header_bytes_ + static_cast<std::uint64_t>(i) * record_bytes_, lb,
                static_cast<std::size_t>(label_bytes_));
  if (format_ == DatasetFormat::kCifar10) {
    if (lb[0] > 9)
      fail(ErrorCode::kMalformedInput, name_,
           "record " + u64s(i) + " has label " + std::to_string(lb[0]) + ", outside 0..9 (not a CIFAR-10 file?)");
    return lb[0];
  }
  if (lb[0] > 19 || lb[1] > 99)
    fail(ErrorCode::kMalformedInput, name_,
         "record " + u64s(i) + " has coarse label " + std::to_string(lb[0]) + " and fine label " +
             std::to_string(lb[1]) + ", outside 0..19 / 0..99 (not a CIFAR-100 file?)");
  return lb[1];
}

PixelImage Dataset::record(std::size_t i) const {
  PixelImage img;
  img.label = label(i);  // checks the index and the label bytes
  img.C = C_;
  img.H = H_;
  img.W = W_;
  img.chw.resize(C_ * H_ * W_);
  src_->read_at(header_bytes_ + static_cast<std::uint64_t>(i) * record_bytes_ + label_bytes_, img.chw.data(),
                img.chw.size());
  return img;
}

// ---- .npy ----------------------------------------------------------------------------------------

namespace {

constexpr std::size_t kMaxNpyHeader = 65536;

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::uint64_t> shape;
};

// Strict parser of the header dictionary, e.g. "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }".
class NpyHeaderParser {
 public:
  NpyHeaderParser(std::string_view text, const std::string& name) : s_(text), name_(name) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_fortran = false, have_shape = false;
    ws();
    expect('{');
    ws();
    while (peek() != '}') {
      const std::string key = string_literal();
      ws();
      expect(':');
      ws();
      if (key == "descr") {
        if (have_descr) bad("duplicate key 'descr'");
        have_descr = true;
        h.descr = string_literal();
      } else if (key == "fortran_order") {
        if (have_fortran) bad("duplicate key 'fortran_order'");
        have_fortran = true;
        h.fortran_order = boolean();
      } else if (key == "shape") {
        if (have_shape) bad("duplicate key 'shape'");
        have_shape = true;
        h.shape = tuple();
      } else {
        bad("unexpected key '" + printable(key, 40) + "'");
      }
      ws();
      if (peek() == ',') {
        ++pos_;
        ws();
      } else if (peek() != '}') {
        bad("expected ',' or '}' at header offset " + std::to_string(pos_));
      }
    }
    ++pos_;  // '}'
    ws();
    if (pos_ != s_.size()) bad("unexpected text after the dictionary at header offset " + std::to_string(pos_));
    if (!have_descr || !have_fortran || !have_shape) bad("header lacks one of the keys descr, fortran_order, shape");
    return h;
  }

 private:
  [[noreturn]] void bad(const std::string& why) const {
    fail(ErrorCode::kMalformedInput, name_, "malformed .npy header: " + why);
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void ws() {
    while (pos_ < s_.size() && s_[pos_] == ' ') ++pos_;
  }
  void expect(char c) {
    if (peek() != c) bad(std::string("expected '") + c + "' at header offset " + std::to_string(pos_));
    ++pos_;
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') bad("expected a quoted string at header offset " + std::to_string(pos_));
    ++pos_;
    const std::size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != q) {
      if (s_[pos_] == '\\') bad("escape sequences are not supported in the header");
      ++pos_;
    }
    if (pos_ >= s_.size()) bad("unterminated string");
    std::string out(s_.substr(start, pos_ - start));
    ++pos_;
    return out;
  }
  bool boolean() {
    if (s_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (s_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    bad("fortran_order must be True or False");
  }
  std::uint64_t integer() {
    const std::size_t start = pos_;
    std::uint64_t v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      if (v > (std::uint64_t{1} << 40)) bad("dimension too large");
      v = v * 10 + static_cast<std::uint64_t>(s_[pos_] - '0');
      ++pos_;
    }
    if (pos_ == start) bad("expected a non-negative integer at header offset " + std::to_string(start));
    if (pos_ - start > 1 && s_[start] == '0') bad("integer with a leading zero");
    if (v > (std::uint64_t{1} << 40)) bad("dimension too large");
    return v;
  }
  std::vector<std::uint64_t> tuple() {
    std::vector<std::uint64_t> dims;
    expect('(');
    ws();
    bool trailing_comma = false;
    while (peek() != ')') {
      if (dims.size() >= kMaxRank) bad("rank above " + std::to_string(kMaxRank));
      dims.push_back(integer());
      ws();
      trailing_comma = false;
      if (peek() == ',') {
        ++pos_;
        trailing_comma = true;
        ws();
      } else if (peek() != ')') {
        bad("expected ',' or ')' in the shape at header offset " + std::to_string(pos_));
      }
    }
    ++pos_;
    if (dims.size() == 1 && !trailing_comma) bad("a one-element shape needs a trailing comma, as in (5,)");
    return dims;
  }

  std::string_view s_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

std::string npy_shape_string(const std::vector<std::uint64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += u64s(shape[i]);
  }
  return s + (shape.size() == 1 ? ",)" : ")");
}

float to_float(double d) {
  if (std::isnan(d)) return std::numeric_limits<float>::quiet_NaN();
  if (d > FLT_MAX) return std::numeric_limits<float>::infinity();
  if (d < -FLT_MAX) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(d);
}

NpyArray parse_npy_source(const Source& src, const std::string& name) {
  static constexpr std::uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  const std::uint64_t size = src.size();
  if (size == 0) fail(ErrorCode::kMalformedInput, name, "file is empty");
  if (size > kMaxInputFileBytes)
    fail(ErrorCode::kSizeLimit, name,
         "file is " + u64s(size) + " bytes, above the limit of " + u64s(kMaxInputFileBytes));
  if (size < 10) fail(ErrorCode::kMalformedInput, name, "truncated .npy preamble: " + u64s(size) + " bytes");
  std::uint8_t pre[12] = {};
  src.read_at(0, pre, static_cast<std::size_t>(std::min<std::uint64_t>(size, 12)));
  if (std::memcmp(pre, kMagic, 6) != 0)
    fail(ErrorCode::kMalformedInput, name,
         "not a .npy file (first bytes " + hex_bytes(pre, 6) + ", expected 93 4e 55 4d 50 59)");
  const int major = pre[6], minor = pre[7];
  if (major < 1 || major > 3 || minor != 0)
    fail(ErrorCode::kUnsupported, name,
         ".npy format version " + std::to_string(major) + "." + std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  std::uint64_t hlen = 0, hstart = 0;
  if (major == 1) {
    hlen = std::uint64_t{pre[8]} | (std::uint64_t{pre[9]} << 8);
    hstart = 10;
  } else {
    if (size < 12) fail(ErrorCode::kMalformedInput, name, "truncated .npy preamble: " + u64s(size) + " bytes");
    hlen = std::uint64_t{pre[8]} | (std::uint64_t{pre[9]} << 8) | (std::uint64_t{pre[10]} << 16) |
           (std::uint64_t{pre[11]} << 24);
    hstart = 12;
  }
  if (hlen > kMaxNpyHeader)
    fail(ErrorCode::kMalformedInput, name, ".npy header length " + u64s(hlen) + " exceeds " + u64s(kMaxNpyHeader));
  if (hlen > size - hstart)
    fail(ErrorCode::kMalformedInput, name,
         "truncated: .npy header of " + u64s(hlen) + " bytes but only " + u64s(size - hstart) + " bytes follow");
  std::string text(static_cast<std::size_t>(hlen), '\0');
  src.read_at(hstart, reinterpret_cast<std::uint8_t*>(text.data()), text.size());
  if (text.empty() || text.back() != '\n')
    fail(ErrorCode::kMalformedInput, name, "malformed .npy header: it does not end with a newline");
  text.pop_back();
  for (char ch : text) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u > 0x7e) fail(ErrorCode::kMalformedInput, name, "malformed .npy header: non-printable byte");
  }
  const NpyHeader h = NpyHeaderParser(text, name).parse();

  std::size_t item = 0;
  bool u8 = false, f8 = false;
  if (h.descr == "<f4")
    item = 4;
  else if (h.descr == "<f8")
    item = 8, f8 = true;
  else if (h.descr == "|u1" || h.descr == "<u1")
    item = 1, u8 = true;
  else if (h.descr == ">f4" || h.descr == ">f8")
    fail(ErrorCode::kUnsupported, name, "big-endian dtype '" + h.descr + "' is not supported (save as little-endian)");
  else
    fail(ErrorCode::kUnsupported, name,
         "dtype '" + printable(h.descr, 40) + "' is not supported (expected '<f4', '<f8' or '|u1')");
  if (h.fortran_order)
    fail(ErrorCode::kUnsupported, name,
         "fortran_order True (column-major) arrays are not supported; save np.ascontiguousarray(x)");

  // Element count, saturating: a lying header cannot overflow or make us allocate.
  const std::uint64_t data_bytes = size - hstart - hlen;
  std::uint64_t count = 1;
  bool huge = false;
  for (std::uint64_t d : h.shape) {
    if (d == 0) {
      count = 0;
      huge = false;
      break;
    }
    if (count > (std::uint64_t{1} << 40) / d)
      huge = true;
    else
      count *= d;
  }
  if (huge || count * item != data_bytes) {
    const std::string declared =
        huge ? "more than 2^40 elements"
             : u64s(count) + " elements x " + u64s(item) + " bytes = " + u64s(count * item) + " bytes";
    if (huge || count * item > data_bytes)
      fail(ErrorCode::kMalformedInput, name,
           "truncated: the header declares shape " + npy_shape_string(h.shape) + " (" + declared + ") but only " +
               u64s(data_bytes) + " data bytes follow");
    fail(ErrorCode::kMalformedInput, name,
         u64s(data_bytes - count * item) + " trailing bytes after the data of shape " + npy_shape_string(h.shape));
  }
  if (count > static_cast<std::uint64_t>(kMaxTensorElements))
    fail(ErrorCode::kSizeLimit, name, "array of shape " + npy_shape_string(h.shape) + " has more than 2^28 elements");

  NpyArray out;
  out.is_uint8 = u8;
  out.shape.assign(h.shape.begin(), h.shape.end());
  out.data.resize(static_cast<std::size_t>(count));
  const std::uint64_t off = hstart + hlen;
  if (item == 4) {
    src.read_at(off, reinterpret_cast<std::uint8_t*>(out.data.data()), static_cast<std::size_t>(data_bytes));
  } else {
    // Convert in chunks (bounded scratch).
    std::vector<std::uint8_t> buf(std::min<std::uint64_t>(data_bytes, std::uint64_t{1} << 20));
    const std::size_t per_chunk = buf.empty() ? 1 : buf.size() / item;
    for (std::size_t i = 0; i < out.data.size(); i += per_chunk) {
      const std::size_t n = std::min(per_chunk, out.data.size() - i);
      src.read_at(off + static_cast<std::uint64_t>(i) * item, buf.data(), n * item);
      if (f8) {
        for (std::size_t k = 0; k < n; ++k) {
          double d;
          std::memcpy(&d, buf.data() + k * 8, 8);
          out.data[i + k] = to_float(d);
        }
      } else {
        for (std::size_t k = 0; k < n; ++k) out.data[i + k] = static_cast<float>(buf[k]);
      }
    }
  }
  return out;
}

}  // namespace

NpyArray parse_npy(std::span<const std::uint8_t> bytes, const std::string& name) {
  return parse_npy_source(SpanSource(bytes, name), name);
}

NpyArray load_npy(const std::string& path) { return parse_npy_source(FileSource(path), path); }

// ---- one network input ---------------------------------------------------------------------------

namespace {

std::string dims_string(const std::vector<std::size_t>& d) {
  std::string s = "[";
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(d[i]);
  }
  return s + "]";
}

}  // namespace

namespace {

bool is_directory_path(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

/// The PNG/JPEG files directly in folder `dir`, sorted by name.
std::vector<std::string> image_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string ext = lower(e.path().extension().string());
    if (e.is_regular_file(ec) && (ext == ".png" || ext == ".jpg" || ext == ".jpeg")) out.push_back(e.path().string());
  }
  if (ec) fail(ErrorCode::kInvalidArgument, dir, "cannot list the folder: " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

/// N of an array shaped as a batch of model inputs: [N,C,H,W], or uint8 [N,H,W,C]; 0 otherwise.
std::size_t npy_batch(const NpyArray& a, std::size_t C, std::size_t H, std::size_t W) {
  if (a.shape.size() != 4) return 0;
  const std::vector<std::size_t> rec(a.shape.begin() + 1, a.shape.end());
  const bool planar = rec == std::vector<std::size_t>{C, H, W};
  const bool interleaved = a.is_uint8 && rec == std::vector<std::size_t>{H, W, C};
  return planar || interleaved ? a.shape[0] : 0;
}

}  // namespace

std::size_t count_model_inputs(const std::string& path, const std::vector<std::int64_t>& input_shape, DatasetFormat fmt) {
  if (fmt == DatasetFormat::kAuto) {
    if (is_directory_path(path)) return image_files(path).size();
    const std::string ext = lower(fs::path(path).extension().string());
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") return 1;
    if (ext == ".npy") {
      if (input_shape.size() != 4 || input_shape[1] < 1 || input_shape[2] < 1 || input_shape[3] < 1) return 1;
      const NpyArray a = load_npy(path);
      const std::size_t n = npy_batch(a, static_cast<std::size_t>(input_shape[1]), static_cast<std::size_t>(input_shape[2]),
                                      static_cast<std::size_t>(input_shape[3]));
      return n > 1 ? n : 1;
    }
  }
  return Dataset::open(path, fmt).size();
}

ModelInput load_model_input(const std::string& path, std::size_t index, const std::vector<std::int64_t>& input_shape,
                            const Preprocess& pp, DatasetFormat fmt) {
  if (input_shape.size() != 4 || input_shape[0] != 1 || input_shape[1] < 1 || input_shape[2] < 1 || input_shape[3] < 1)
    throw Error(ErrorCode::kInvalidArgument,
                "model input shape " + shape_to_string(input_shape) + " is not [1,C,H,W] with positive C, H, W");
  if (input_shape[1] > kMaxTensorElements || input_shape[2] > kMaxTensorElements ||
      input_shape[3] > kMaxTensorElements || input_shape[1] * input_shape[2] > kMaxTensorElements / input_shape[3])
    throw Error(ErrorCode::kInvalidArgument,
                "model input shape " + shape_to_string(input_shape) + " has more than 2^28 elements");
  const auto C = static_cast<std::size_t>(input_shape[1]), H = static_cast<std::size_t>(input_shape[2]),
             W = static_cast<std::size_t>(input_shape[3]);
  const std::string want = shape_to_string(input_shape);
  const std::string ext = lower(fs::path(path).extension().string());
  auto single = [&](const char* what) {
    if (index != 0)
      fail(ErrorCode::kInvalidArgument, path,
           "index " + u64s(index) + " given, but " + what + " holds one input (use index 0)");
  };

  ModelInput in;
  if (fmt == DatasetFormat::kAuto && is_directory_path(path)) {
    const std::vector<std::string> files = image_files(path);
    if (index >= files.size())
      fail(ErrorCode::kInvalidArgument, path,
           "index " + u64s(index) + " out of range: the folder holds " + u64s(files.size()) + " PNG/JPEG images");
    in = load_model_input(files[index], 0, input_shape, pp, DatasetFormat::kAuto);
    in.description = "image " + u64s(index) + " of folder " + printable(path) + ": " + in.description;
    return in;
  }
  if (fmt == DatasetFormat::kAuto && (ext == ".png" || ext == ".jpg" || ext == ".jpeg")) {
    single("an image file");
    if (C != 1 && C != 3)
      fail(ErrorCode::kInvalidArgument, path,
           "the model expects " + std::to_string(C) + " channels; images load as 1 (gray) or 3 (RGB)");
    const PixelImage img = load_image_file(path, C);
    if (img.H != H || img.W != W)
      fail(ErrorCode::kInvalidArgument, path,
           "image is " + std::to_string(img.W) + "x" + std::to_string(img.H) + " but the model expects " +
               std::to_string(W) + "x" + std::to_string(H) + " (width x height; images are not resized)");
    in.data = apply_preprocess(img, pp);
    in.description = "image " + printable(path) + " (" + std::to_string(W) + "x" + std::to_string(H) + ", " +
                     (C == 1 ? "gray" : "RGB") + ")";
    return in;
  }
  if (fmt == DatasetFormat::kAuto && ext == ".npy") {
    NpyArray a = load_npy(path);
    const std::vector<std::size_t> chw{C, H, W}, nchw{1, C, H, W}, hw{H, W};
    // A batch [N,C,H,W] (or uint8 [N,H,W,C]) with N > 1: record `index`.
    const std::size_t batch = npy_batch(a, C, H, W);
    if (batch > 1) {
      if (index >= batch)
        fail(ErrorCode::kInvalidArgument, path, "index " + u64s(index) + " out of range: the batch holds " + u64s(batch));
      const std::size_t per = a.data.size() / batch;
      a.data = std::vector<float>(a.data.begin() + static_cast<std::ptrdiff_t>(index * per),
                                  a.data.begin() + static_cast<std::ptrdiff_t>((index + 1) * per));
      a.shape[0] = 1;
    } else {
      single("a .npy file");
    }
    if (!a.is_uint8) {
      if (a.shape != chw && a.shape != nchw)
        fail(ErrorCode::kInvalidArgument, path,
             "float array has shape " + dims_string(a.shape) + " but the model expects " + want + " (or " +
                 dims_string(chw) + ")");
      for (std::size_t i = 0; i < a.data.size(); ++i)
        if (!std::isfinite(a.data[i]))
          fail(ErrorCode::kMalformedInput, path, "element " + u64s(i) + " is not finite (as float32)");
      in.data = std::move(a.data);
      in.description = "float array " + printable(path) + " " + want + " (already preprocessed, used as is)";
      return in;
    }
    // Pixels: CHW / NCHW (the model's layout), or HWC / NHWC (what PIL and numpy give; CHW wins
    // when both read the same, C = H = W).
    const std::vector<std::size_t> hwc{H, W, C}, nhwc{1, H, W, C};
    const bool planar = a.shape == chw || a.shape == nchw || (C == 1 && a.shape == hw);
    const bool interleaved = !planar && (a.shape == hwc || a.shape == nhwc);
    if (!planar && !interleaved)
      fail(ErrorCode::kInvalidArgument, path,
           "uint8 pixel array has shape " + dims_string(a.shape) + " but the model expects " + dims_string(chw) +
               (C == 1 ? ", " + dims_string(hw) : std::string()) + ", " + want + " or " + dims_string(hwc) +
               " (HWC)");
    PixelImage img;
    img.C = C;
    img.H = H;
    img.W = W;
    img.chw.resize(a.data.size());
    for (std::size_t i = 0; i < a.data.size(); ++i) {
      const std::size_t dst = interleaved ? (i % C) * H * W + i / C : i;  // HWC index i = (h·W + w)·C + c
      img.chw[dst] = static_cast<std::uint8_t>(a.data[i]);
    }
    in.data = apply_preprocess(img, pp);
    in.description = "uint8 pixel array " + printable(path) + " " + dims_string(a.shape) + " (preprocessed)";
    return in;
  }
  const Dataset ds = Dataset::open(path, fmt);
  if (ds.channels() != C || ds.height() != H || ds.width() != W)
    fail(ErrorCode::kInvalidArgument, path,
         ds.format_name() + " records are " + dims_string({ds.channels(), ds.height(), ds.width()}) +
             " (C,H,W) but the model expects " + want);
  const PixelImage img = ds.record(index);
  in.data = apply_preprocess(img, pp);
  in.label = img.label;
  in.description = ds.format_name() + " record " + u64s(index) + " of " + printable(path) +
                   (img.label >= 0 ? " (label " + std::to_string(img.label) + ")" : std::string(" (no label)"));
  return in;
}

}  // namespace peregrine::nn
