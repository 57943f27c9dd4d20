// Client input loaders (src/peregrine/nn/input.hpp): the real CIFAR-10/100 and MNIST files of
// ../shared/data, the float executor on loaded inputs against the PyTorch reference logits, PNG/JPEG
// round trips through stb_image_write, .npy parsing, and every kind of bad input (each must throw
// peregrine::Error with the right code and a message naming the file).
#include <gtest/gtest.h>
#include <stb_image_write.h>  // Debian libstb-dev (implementation in libstb)
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "peregrine/core/error.hpp"
#include "peregrine/nn/float_exec.hpp"
#include "peregrine/nn/input.hpp"
#include "peregrine/nn/onnx_import.hpp"

using namespace peregrine;
using namespace peregrine::nn;
namespace fs = std::filesystem;

namespace {

const fs::path kData = PEREGRINE_SHARED_DATA_DIR;
using Bytes = std::vector<std::uint8_t>;

#define SKIP_WITHOUT_DATA()                                                                         \
  do {                                                                                              \
    if (!fs::is_directory(kData / "cifar10")) GTEST_SKIP() << "shared data not found at " << kData; \
  } while (0)

Bytes read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const Bytes& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  ASSERT_TRUE(f.good()) << p;
}

// Runs `fn`, which must throw peregrine::Error with `code`; returns the message ("" otherwise).
std::string expect_error(ErrorCode code, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << "message: " << e.what() << " (expected " << error_code_name(code) << ")";
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
    return msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-peregrine exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "did not throw (expected " << error_code_name(code) << ")";
  return {};
}

// A fresh temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("peregrine_test_input_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// A .npy file: version `major`.0, the given dictionary text (padded to a multiple of 64 with
// spaces and a newline, as NumPy writes it), then `data`.
Bytes make_npy(const std::string& dict, const Bytes& data, int major = 1, bool pad = true) {
  std::string header = dict;
  const std::size_t pre = major == 1 ? 10 : 12;
  if (pad) {
    while ((pre + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
  }
  Bytes b = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
  const std::size_t n = header.size();
  b.push_back(static_cast<std::uint8_t>(n & 0xff));
  b.push_back(static_cast<std::uint8_t>((n >> 8) & 0xff));
  if (major != 1) {
    b.push_back(static_cast<std::uint8_t>((n >> 16) & 0xff));
    b.push_back(static_cast<std::uint8_t>((n >> 24) & 0xff));
  }
  b.insert(b.end(), header.begin(), header.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

std::string npy_dict(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
}

Bytes float_bytes(const std::vector<float>& v) {
  Bytes b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

Bytes be32_bytes(std::uint32_t v) {
  return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 8),
          static_cast<std::uint8_t>(v)};
}

// An MNIST idx3 file: magic, count, rows, cols, then the pixels.
Bytes make_idx3(std::uint32_t magic, std::uint32_t count, std::uint32_t rows, std::uint32_t cols, const Bytes& px) {
  Bytes b;
  for (std::uint32_t v : {magic, count, rows, cols}) {
    Bytes w = be32_bytes(v);
    b.insert(b.end(), w.begin(), w.end());
  }
  b.insert(b.end(), px.begin(), px.end());
  return b;
}

Bytes make_idx1(std::uint32_t magic, std::uint32_t count, const Bytes& labels) {
  Bytes b = be32_bytes(magic), c = be32_bytes(count);
  b.insert(b.end(), c.begin(), c.end());
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

std::vector<float> ref_logits(const std::string& model) {
  const Bytes b = read_bytes(kData / "onnx" / (model + ".ref_logits_first32.f32"));
  EXPECT_EQ(b.size(), 32u * 10u * 4u);
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

const fs::path kCifar10 = kData / "cifar10" / "test_batch_first1017_lossless.bin";
const fs::path kCifar10Jpeg = kData / "cifar10" / "test_batch_10000_jpegq75.bin";
const fs::path kCifar100 = kData / "cifar100" / "test_first916_lossless.bin";
const fs::path kMnist = kData / "mnist" / "t10k-images-idx3-ubyte";

// ---- metadata and preprocessing -----------------------------------------------------------------

TEST(InputMetadata, PreprocessFromMetadata) {
  const Preprocess pp = preprocess_from_metadata({{"pixel_scale", "0.00392156862745098"},
                                                  {"mean", "0.485,0.456,0.406"},
                                                  {"std", "0.229, 0.224 ,0.225"},
                                                  {"labels", "a,b"}});
  EXPECT_DOUBLE_EQ(pp.pixel_scale, 0.00392156862745098);
  ASSERT_EQ(pp.mean.size(), 3u);
  ASSERT_EQ(pp.std_dev.size(), 3u);
  EXPECT_DOUBLE_EQ(pp.mean[1], 0.456);
  EXPECT_DOUBLE_EQ(pp.std_dev[1], 0.224);
  EXPECT_DOUBLE_EQ(pp.std_dev[2], 0.225);

  const Preprocess def = preprocess_from_metadata({});
  EXPECT_DOUBLE_EQ(def.pixel_scale, 1.0 / 255);
  EXPECT_TRUE(def.mean.empty());
  EXPECT_TRUE(def.std_dev.empty());

  const Preprocess raw = preprocess_from_metadata({{"pixel_scale", "1"}, {"mean", "0,0,0"}, {"std", "1,1,1"}});
  EXPECT_DOUBLE_EQ(raw.pixel_scale, 1.0);
}

TEST(InputMetadata, MalformedPreprocessThrows) {
  using M = std::map<std::string, std::string>;
  for (const M& m :
       {M{{"mean", "0.1,,0.2"}}, M{{"mean", "0.1;0.2"}}, M{{"mean", ""}}, M{{"std", "0.3,0"}}, M{{"std", "abc"}},
        M{{"pixel_scale", "1,2"}}, M{{"pixel_scale", "0"}}, M{{"pixel_scale", "-1"}}, M{{"pixel_scale", "nan"}},
        M{{"mean", "inf"}}, M{{"mean", "1,2,3"}, {"std", "1,2"}}, M{{"mean", "1 2"}}}) {
    const std::string msg = expect_error(ErrorCode::kMalformedInput, [&] { (void)preprocess_from_metadata(m); });
    EXPECT_NE(msg.find("metadata"), std::string::npos) << msg;
  }
}

TEST(InputMetadata, Labels) {
  EXPECT_EQ(labels_from_metadata({{"labels", "airplane, automobile,bird"}}),
            (std::vector<std::string>{"airplane", "automobile", "bird"}));
  EXPECT_TRUE(labels_from_metadata({}).empty());
  EXPECT_TRUE(labels_from_metadata({{"labels", ""}}).empty());
}

TEST(InputPreprocess, AppliesPerChannelRule) {
  PixelImage img;
  img.C = 2;
  img.H = 1;
  img.W = 2;
  img.chw = {0, 255, 51, 102};
  Preprocess pp;
  pp.pixel_scale = 1.0 / 255;
  pp.mean = {0.5, 0.1};
  pp.std_dev = {0.5, 0.2};
  const std::vector<float> v = apply_preprocess(img, pp);
  ASSERT_EQ(v.size(), 4u);
  EXPECT_FLOAT_EQ(v[0], -1.0f);
  EXPECT_FLOAT_EQ(v[1], 1.0f);
  EXPECT_FLOAT_EQ(v[2], static_cast<float>((51 / 255.0 - 0.1) / 0.2));
  EXPECT_FLOAT_EQ(v[3], static_cast<float>((102 / 255.0 - 0.1) / 0.2));
  // One value broadcasts to every channel; none means 0 / 1.
  pp.mean = {0.5};
  pp.std_dev = {};
  EXPECT_FLOAT_EQ(apply_preprocess(img, pp)[3], static_cast<float>(102 / 255.0 - 0.5));
  pp.mean = {0.1, 0.2, 0.3};
  expect_error(ErrorCode::kInvalidArgument, [&] { (void)apply_preprocess(img, pp); });
  pp.mean = {};
  pp.std_dev = {1, 0};
  expect_error(ErrorCode::kInvalidArgument, [&] { (void)apply_preprocess(img, pp); });
}

TEST(InputFormat, Names) {
  EXPECT_EQ(parse_dataset_format("cifar100"), DatasetFormat::kCifar100);
  EXPECT_EQ(parse_dataset_format("mnist"), DatasetFormat::kMnist);
  EXPECT_STREQ(dataset_format_name(DatasetFormat::kCifar10), "cifar10");
  expect_error(ErrorCode::kInvalidArgument, [] { (void)parse_dataset_format("CIFAR"); });
}

// ---- the real datasets ---------------------------------------------------------------------------

TEST(InputDataset, Cifar10Lossless) {
  SKIP_WITHOUT_DATA();
  const Dataset ds = Dataset::open(kCifar10.string());
  EXPECT_EQ(ds.format(), DatasetFormat::kCifar10);
  EXPECT_EQ(ds.format_name(), "cifar10");
  ASSERT_EQ(ds.size(), 1017u);
  EXPECT_EQ(ds.channels(), 3u);
  EXPECT_EQ(ds.height(), 32u);
  EXPECT_EQ(ds.width(), 32u);
  EXPECT_TRUE(ds.has_labels());
  const int first[10] = {3, 8, 8, 0, 6, 6, 1, 6, 3, 1};
  for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(ds.record(i).label, first[i]) << "record " << i;
  // Every label agrees with the exact label list; pixels of record 5 are the raw bytes after its label.
  const Bytes labels = read_bytes(kData / "cifar10" / "test_labels_10000.u8");
  ASSERT_EQ(labels.size(), 10000u);
  for (std::size_t i = 0; i < ds.size(); ++i) ASSERT_EQ(ds.label(i), labels[i]) << "record " << i;
  const Bytes raw = read_bytes(kCifar10);
  const PixelImage r5 = ds.record(5);
  ASSERT_EQ(r5.chw.size(), 3072u);
  EXPECT_TRUE(std::equal(r5.chw.begin(), r5.chw.end(), raw.begin() + 5 * 3073 + 1));
  const PixelImage last = ds.record(1016);
  EXPECT_TRUE(std::equal(last.chw.begin(), last.chw.end(), raw.begin() + 1016 * 3073 + 1));
  EXPECT_EQ(last.label, labels[1016]);
}

TEST(InputDataset, Cifar10JpegAllLabels) {
  SKIP_WITHOUT_DATA();
  const Dataset ds = Dataset::open(kCifar10Jpeg.string());
  ASSERT_EQ(ds.size(), 10000u);
  const Bytes labels = read_bytes(kData / "cifar10" / "test_labels_10000.u8");
  for (std::size_t i = 0; i < ds.size(); i += 7) ASSERT_EQ(ds.label(i), labels[i]) << "record " << i;
  EXPECT_EQ(ds.record(9999).label, labels[9999]);
}

TEST(InputDataset, Cifar100FineLabels) {
  SKIP_WITHOUT_DATA();
  const Dataset ds = Dataset::open(kCifar100.string());
  EXPECT_EQ(ds.format(), DatasetFormat::kCifar100);
  ASSERT_EQ(ds.size(), 916u);
  const int first[10] = {49, 33, 72, 51, 71, 92, 15, 14, 23, 0};
  for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(ds.record(i).label, first[i]) << "record " << i;
  const Bytes fine = read_bytes(kData / "cifar100" / "test_fine_labels_10000.u8");
  ASSERT_EQ(fine.size(), 10000u);
  for (std::size_t i = 0; i < ds.size(); ++i) ASSERT_EQ(ds.label(i), fine[i]) << "record " << i;
  const Bytes raw = read_bytes(kCifar100);
  const PixelImage r3 = ds.record(3);
  EXPECT_TRUE(std::equal(r3.chw.begin(), r3.chw.end(), raw.begin() + 3 * 3074 + 2));
}

TEST(InputDataset, MnistWithLabels) {
  SKIP_WITHOUT_DATA();
  const Dataset ds = Dataset::open(kMnist.string());
  EXPECT_EQ(ds.format(), DatasetFormat::kMnist);
  ASSERT_EQ(ds.size(), 10000u);
  EXPECT_EQ(ds.channels(), 1u);
  EXPECT_EQ(ds.height(), 28u);
  EXPECT_EQ(ds.width(), 28u);
  EXPECT_TRUE(ds.has_labels());
  const PixelImage r0 = ds.record(0);
  EXPECT_EQ(r0.label, 7);
  const Bytes raw = read_bytes(kMnist);
  EXPECT_TRUE(std::equal(r0.chw.begin(), r0.chw.end(), raw.begin() + 16));
  const Bytes labels = read_bytes(kData / "mnist" / "t10k-labels-idx1-ubyte");
  for (std::size_t i = 0; i < ds.size(); i += 13) ASSERT_EQ(ds.label(i), labels[8 + i]) << "record " << i;
  EXPECT_EQ(ds.label(9999), labels[8 + 9999]);
}

TEST(InputDataset, ConcurrentReadsAgree) {
  SKIP_WITHOUT_DATA();
  const Dataset ds = Dataset::open(kCifar10.string());
  std::vector<PixelImage> serial;
  for (std::size_t i = 0; i < 64; ++i) serial.push_back(ds.record(i));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      const Dataset copy = ds;  // copies share the open file
      for (std::size_t i = static_cast<std::size_t>(t); i < 64; i += 4) {
        const PixelImage r = copy.record(i);
        if (r.chw != serial[i].chw || r.label != serial[i].label) ++mismatches;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// Synthetic MNIST files: labels found beside the images, missing labels, bad labels files.
TEST(InputDataset, MnistSyntheticLabelsFile) {
  TempDir dir;
  Bytes px(3 * 4 * 5);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i * 3);
  const fs::path images = dir / "toy-images-idx3-ubyte";
  write_bytes(images, make_idx3(2051, 3, 4, 5, px));

  // No labels file: label -1.
  {
    const Dataset ds = Dataset::open(images.string());
    ASSERT_EQ(ds.size(), 3u);
    EXPECT_EQ(ds.height(), 4u);
    EXPECT_EQ(ds.width(), 5u);
    EXPECT_FALSE(ds.has_labels());
    const PixelImage r2 = ds.record(2);
    EXPECT_EQ(r2.label, -1);
    EXPECT_TRUE(std::equal(r2.chw.begin(), r2.chw.end(), px.begin() + 40));
  }
  const fs::path labels = dir / "toy-labels-idx1-ubyte";
  write_bytes(labels, make_idx1(2049, 3, {4, 1, 9}));
  {
    const Dataset ds = Dataset::open(images.string(), DatasetFormat::kMnist);
    EXPECT_TRUE(ds.has_labels());
    EXPECT_EQ(ds.record(0).label, 4);
    EXPECT_EQ(ds.record(2).label, 9);
  }
  // Bad labels files: wrong magic, wrong count, truncated, trailing bytes, too short.
  for (const Bytes& bad : {make_idx1(2051, 3, {4, 1, 9}), make_idx1(2049, 4, {4, 1, 9, 0}), make_idx1(2049, 3, {4, 1}),
                           make_idx1(2049, 3, {4, 1, 9, 9}), Bytes{0, 0, 8}}) {
    write_bytes(labels, bad);
    const std::string msg = expect_error(ErrorCode::kMalformedInput, [&] { (void)Dataset::open(images.string()); });
    EXPECT_NE(msg.find("toy-labels-idx1-ubyte"), std::string::npos) << msg;
  }
}

TEST(InputDataset, AutoDetectionTieBreak) {
  // 3073·3074 bytes are a whole number of records of both layouts; the name decides, or nothing does.
  const Bytes both(std::size_t{3073} * 3074, 0);
  expect_error(ErrorCode::kInvalidArgument, [&] { (void)Dataset::from_bytes(both, DatasetFormat::kAuto, "data.bin"); });
  EXPECT_EQ(Dataset::from_bytes(both, DatasetFormat::kAuto, "x/cifar100/data.bin").format(), DatasetFormat::kCifar100);
  EXPECT_EQ(Dataset::from_bytes(both, DatasetFormat::kAuto, "x/CIFAR-10/data.bin").format(), DatasetFormat::kCifar10);
  const Dataset c10 = Dataset::from_bytes(both, DatasetFormat::kCifar10, "data.bin");
  EXPECT_EQ(c10.size(), 3074u);
  const Dataset c100 = Dataset::from_bytes(both, DatasetFormat::kCifar100, "data.bin");
  EXPECT_EQ(c100.size(), 3073u);
  EXPECT_EQ(c100.record(3072).label, 0);
}

// ---- the float executor on loaded inputs ----------------------------------------------------------

void check_model_on_dataset(const std::string& model, const fs::path& data, const std::vector<int>& labels) {
  const Graph g = load_onnx((kData / "onnx" / (model + ".onnx")).string());
  ASSERT_EQ(g.inputs.size(), 1u);
  const Shape shape = g.shape_of(g.inputs[0]);
  const Preprocess pp = preprocess_from_metadata(g.metadata);
  const std::vector<float> ref = ref_logits(model);
  for (std::size_t i = 0; i < 4; ++i) {
    const ModelInput in = load_model_input(data.string(), i, shape, pp);
    EXPECT_EQ(in.label, labels[i]) << in.description;
    ASSERT_EQ(in.data.size(), static_cast<std::size_t>(element_count(shape)));
    const std::vector<Tensor> out = run_float(g, {Tensor{shape, in.data}});
    ASSERT_EQ(out.at(0).data.size(), 10u);
    for (std::size_t j = 0; j < 10; ++j)
      EXPECT_NEAR(out[0].data[j], ref[i * 10 + j], 1e-3) << model << " image " << i << " class " << j;
  }
}

TEST(InputModel, Resnet20MatchesReferenceLogits) {
  SKIP_WITHOUT_DATA();
  check_model_on_dataset("resnet20_cifar10", kCifar10, {3, 8, 8, 0});
}

TEST(InputModel, TfeBMnistMatchesReferenceLogits) {
  SKIP_WITHOUT_DATA();
  check_model_on_dataset("tfe_b_mnist", kMnist, {7, 2, 1, 0});
}

TEST(InputModel, DescriptionAndLabel) {
  SKIP_WITHOUT_DATA();
  const ModelInput in = load_model_input(kCifar10.string(), 0, {1, 3, 32, 32}, Preprocess{}, DatasetFormat::kCifar10);
  EXPECT_EQ(in.label, 3);
  EXPECT_NE(in.description.find("cifar10 record 0"), std::string::npos) << in.description;
  EXPECT_NE(in.description.find("label 3"), std::string::npos) << in.description;
  // Default preprocessing is pixel/255.
  const Bytes raw = read_bytes(kCifar10);
  EXPECT_FLOAT_EQ(in.data[100], static_cast<float>(raw[1 + 100] / 255.0));
}

// ---- .npy -----------------------------------------------------------------------------------------

TEST(InputNpy, RoundTripsIntoModelInput) {
  SKIP_WITHOUT_DATA();
  TempDir dir;
  const Shape shape{1, 3, 32, 32};
  const Preprocess pp = preprocess_from_metadata(
      {{"pixel_scale", "0.00392156862745098"}, {"mean", "0.485,0.456,0.406"}, {"std", "0.229,0.224,0.225"}});
  const ModelInput ref = load_model_input(kCifar10.string(), 2, shape, pp);

  // Float input, already preprocessed: used as is, as [1,3,32,32] or [3,32,32], in each version.
  int v = 1;
  for (const std::string& s : {std::string("(1, 3, 32, 32)"), std::string("(3, 32, 32)"), std::string("(1,3,32,32)")}) {
    const fs::path p = dir / (std::to_string(v) + ".npy");
    write_bytes(p, make_npy(npy_dict("<f4", s), float_bytes(ref.data), v));
    const ModelInput in = load_model_input(p.string(), 0, shape, pp);
    EXPECT_EQ(in.data, ref.data) << s;
    EXPECT_EQ(in.label, -1);
    v = v % 3 + 1;
  }
  // '<f8': rounded to the same floats.
  {
    Bytes d(ref.data.size() * 8);
    for (std::size_t i = 0; i < ref.data.size(); ++i) {
      const double x = ref.data[i];
      std::memcpy(d.data() + i * 8, &x, 8);
    }
    const fs::path p = dir / "f8.npy";
    write_bytes(p, make_npy("{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (3, 32, 32)}", d, 2));
    EXPECT_EQ(load_model_input(p.string(), 0, shape, pp).data, ref.data);
    const NpyArray a = load_npy(p.string());
    EXPECT_FALSE(a.is_uint8);
    EXPECT_EQ(a.shape, (std::vector<std::size_t>{3, 32, 32}));
  }
  // uint8 pixels: preprocessed exactly like the dataset record.
  {
    const PixelImage px = Dataset::open(kCifar10.string()).record(2);
    const fs::path p = dir / "px.npy";
    write_bytes(p, make_npy(npy_dict("|u1", "(3, 32, 32)"), px.chw));
    const NpyArray a = load_npy(p.string());
    EXPECT_TRUE(a.is_uint8);
    EXPECT_EQ(a.data[7], static_cast<float>(px.chw[7]));
    EXPECT_EQ(load_model_input(p.string(), 0, shape, pp).data, ref.data);
    // The same pixels interleaved, as PIL and numpy give them: HWC and NHWC.
    Bytes hwc(px.chw.size());
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t q = 0; q < 32 * 32; ++q) hwc[q * 3 + c] = px.chw[c * 32 * 32 + q];
    for (const char* sh : {"(32, 32, 3)", "(1, 32, 32, 3)"}) {
      const fs::path ph = dir / "px_hwc.npy";
      write_bytes(ph, make_npy(npy_dict("|u1", sh), hwc));
      EXPECT_EQ(load_model_input(ph.string(), 0, shape, pp).data, ref.data) << sh;
    }
    const fs::path pw = dir / "px_wrong.npy";
    write_bytes(pw, make_npy(npy_dict("|u1", "(32, 3, 32)"), hwc));
    EXPECT_THROW(load_model_input(pw.string(), 0, shape, pp), Error);
  }
  // A batch [N,H,W,C] (uint8) or [N,C,H,W] (float): record `index`; a folder of images: its
  // index-th PNG in name order. count_model_inputs says how many there are.
  {
    const Dataset ds = Dataset::open(kCifar10.string());
    Bytes batch;
    std::vector<float> fbatch;
    const fs::path folder = dir / "calib_pngs";
    fs::create_directories(folder);
    for (std::size_t r = 0; r < 3; ++r) {
      const PixelImage px = ds.record(r);
      for (std::size_t q = 0; q < 32 * 32; ++q)
        for (std::size_t c = 0; c < 3; ++c) batch.push_back(px.chw[c * 32 * 32 + q]);
      const auto pre = load_model_input(kCifar10.string(), r, shape, pp).data;
      fbatch.insert(fbatch.end(), pre.begin(), pre.end());
      const fs::path png = folder / ("img" + std::to_string(r) + ".png");
      ASSERT_NE(stbi_write_png(png.string().c_str(), 32, 32, 3, batch.data() + r * 32 * 32 * 3, 32 * 3), 0);
    }
    const fs::path pb = dir / "batch_nhwc.npy", pf = dir / "batch_f32.npy";
    write_bytes(pb, make_npy(npy_dict("|u1", "(3, 32, 32, 3)"), batch));
    write_bytes(pf, make_npy(npy_dict("<f4", "(3, 3, 32, 32)"), float_bytes(fbatch)));
    EXPECT_EQ(count_model_inputs(pb.string(), shape), 3u);
    EXPECT_EQ(count_model_inputs(pf.string(), shape), 3u);
    EXPECT_EQ(count_model_inputs(folder.string(), shape), 3u);
    EXPECT_EQ(count_model_inputs((dir / "px.npy").string(), shape), 1u);
    EXPECT_EQ(count_model_inputs(kCifar10.string(), shape), ds.size());
    for (std::size_t r = 0; r < 3; ++r) {
      const auto want = load_model_input(kCifar10.string(), r, shape, pp).data;
      EXPECT_EQ(load_model_input(pb.string(), r, shape, pp).data, want) << r;
      EXPECT_EQ(load_model_input(pf.string(), r, shape, pp).data, want) << r;
      EXPECT_EQ(load_model_input(folder.string(), r, shape, pp).data, want) << r;
    }
    EXPECT_THROW(load_model_input(pb.string(), 3, shape, pp), Error);
    EXPECT_THROW(load_model_input(folder.string(), 3, shape, pp), Error);
  }
  // MNIST pixels as [H,W].
  {
    const Shape mshape{1, 1, 28, 28};
    const Preprocess mpp = preprocess_from_metadata({{"mean", "0.1307"}, {"std", "0.3081"}});
    const PixelImage px = Dataset::open(kMnist.string()).record(0);
    const fs::path p = dir / "digit.npy";
    write_bytes(p, make_npy(npy_dict("|u1", "(28, 28)"), px.chw, 3));
    EXPECT_EQ(load_model_input(p.string(), 0, mshape, mpp).data,
              load_model_input(kMnist.string(), 0, mshape, mpp).data);
  }
}

TEST(InputNpy, ParsesScalarsAndOneElementShapes) {
  const NpyArray s = parse_npy(make_npy(npy_dict("<f4", "()"), float_bytes({2.5f})));
  EXPECT_TRUE(s.shape.empty());
  ASSERT_EQ(s.data.size(), 1u);
  EXPECT_EQ(s.data[0], 2.5f);
  const NpyArray one = parse_npy(make_npy(npy_dict("<f4", "(2,)"), float_bytes({1.f, -1.f})));
  EXPECT_EQ(one.shape, (std::vector<std::size_t>{2}));
  const NpyArray empty = parse_npy(make_npy(npy_dict("|u1", "(0, 3)"), {}));
  EXPECT_TRUE(empty.data.empty());
}

TEST(InputNpy, BadFilesThrow) {
  const Bytes f4x4 = float_bytes({1, 2, 3, 4});
  struct Case {
    const char* what;
    Bytes bytes;
    ErrorCode code;
  };
  Bytes bad_magic = make_npy(npy_dict("<f4", "(4,)"), f4x4);
  bad_magic[1] = 'X';
  Bytes long_header = make_npy(npy_dict("<f4", "(4,)"), f4x4);
  long_header[8] = 0xff;  // header length 0x..ff > the bytes that follow
  long_header[9] = 0xff;
  Bytes v2_huge = make_npy(npy_dict("<f4", "(4,)"), f4x4, 2);
  v2_huge[11] = 0x7f;  // header length ≈ 2 GiB
  Bytes bad_version = make_npy(npy_dict("<f4", "(4,)"), f4x4);
  bad_version[6] = 4;
  const std::vector<Case> cases = {
      {"empty", {}, ErrorCode::kMalformedInput},
      {"short preamble", {0x93, 'N', 'U', 'M'}, ErrorCode::kMalformedInput},
      {"bad magic", bad_magic, ErrorCode::kMalformedInput},
      {"version 4", bad_version, ErrorCode::kUnsupported},
      {"header longer than file", long_header, ErrorCode::kMalformedInput},
      {"header length 2 GiB", v2_huge, ErrorCode::kMalformedInput},
      {"lying shape", make_npy(npy_dict("<f4", "(1000,)"), f4x4), ErrorCode::kMalformedInput},
      {"huge dims", make_npy(npy_dict("<f4", "(4294967296, 4294967296, 4294967296)"), f4x4),
       ErrorCode::kMalformedInput},
      {"dim overflow", make_npy(npy_dict("<f4", "(123456789012345678901234567890,)"), f4x4),
       ErrorCode::kMalformedInput},
      {"negative dim", make_npy(npy_dict("<f4", "(-4,)"), f4x4), ErrorCode::kMalformedInput},
      {"trailing data", make_npy(npy_dict("<f4", "(3,)"), f4x4), ErrorCode::kMalformedInput},
      {"rank 9", make_npy(npy_dict("|u1", "(1, 1, 1, 1, 1, 1, 1, 1, 1)"), {7}), ErrorCode::kMalformedInput},
      {"fortran order", make_npy(npy_dict("<f4", "(2, 2)", true), f4x4), ErrorCode::kUnsupported},
      {"big endian", make_npy(npy_dict(">f4", "(4,)"), f4x4), ErrorCode::kUnsupported},
      {"int64", make_npy(npy_dict("<i8", "(2,)"), f4x4), ErrorCode::kUnsupported},
      {"no newline", make_npy(npy_dict("<f4", "(4,)"), f4x4, 1, false), ErrorCode::kMalformedInput},
      {"one-tuple without comma", make_npy(npy_dict("<f4", "(4)"), f4x4), ErrorCode::kMalformedInput},
      {"extra key", make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", f4x4),
       ErrorCode::kMalformedInput},
      {"missing key", make_npy("{'descr': '<f4', 'shape': (4,)}", f4x4), ErrorCode::kMalformedInput},
      {"duplicate key", make_npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", f4x4),
       ErrorCode::kMalformedInput},
      {"not a dict", make_npy("['<f4', False, (4,)]", f4x4), ErrorCode::kMalformedInput},
      {"text after dict", make_npy(npy_dict("<f4", "(4,)") + " 1", f4x4), ErrorCode::kMalformedInput},
      {"unterminated string", make_npy("{'descr: ", f4x4), ErrorCode::kMalformedInput},
      {"fortran_order not bool", make_npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (4,)}", f4x4),
       ErrorCode::kMalformedInput},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string msg = expect_error(c.code, [&] { (void)parse_npy(c.bytes, "bad.npy"); });
    EXPECT_NE(msg.find("bad.npy"), std::string::npos) << msg;
  }
}

TEST(InputNpy, ModelInputShapeAndValueChecks) {
  TempDir dir;
  const Shape shape{1, 1, 2, 2};
  const fs::path wrong = dir / "wrong.npy";
  write_bytes(wrong, make_npy(npy_dict("<f4", "(1, 4)"), float_bytes({1, 2, 3, 4})));
  std::string msg =
      expect_error(ErrorCode::kInvalidArgument, [&] { (void)load_model_input(wrong.string(), 0, shape, {}); });
  EXPECT_NE(msg.find("[1,4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[1,1,2,2]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("wrong.npy"), std::string::npos) << msg;

  const fs::path nan = dir / "nan.npy";
  write_bytes(nan, make_npy(npy_dict("<f4", "(1, 1, 2, 2)"), float_bytes({1, NAN, 3, 4})));
  expect_error(ErrorCode::kMalformedInput, [&] { (void)load_model_input(nan.string(), 0, shape, {}); });

  const fs::path ok = dir / "ok.npy";
  write_bytes(ok, make_npy(npy_dict("<f4", "(1, 1, 2, 2)"), float_bytes({1, 2, 3, 4})));
  EXPECT_EQ(load_model_input(ok.string(), 0, shape, {}).data, (std::vector<float>{1, 2, 3, 4}));
  expect_error(ErrorCode::kInvalidArgument, [&] { (void)load_model_input(ok.string(), 1, shape, {}); });

  // uint8 [H,W] is accepted only for one channel.
  const fs::path hw = dir / "hw.npy";
  write_bytes(hw, make_npy(npy_dict("|u1", "(2, 2)"), {0, 255, 0, 255}));
  EXPECT_EQ(load_model_input(hw.string(), 0, shape, {}).data, (std::vector<float>{0, 1, 0, 1}));
  expect_error(ErrorCode::kInvalidArgument, [&] { (void)load_model_input(hw.string(), 0, {1, 3, 2, 2}, {}); });
  // Model input shapes that are not [1,C,H,W].
  for (const Shape& s : {Shape{1, 4}, Shape{2, 1, 2, 2}, Shape{1, 0, 2, 2}, Shape{1, 1, -2, 2}})
    expect_error(ErrorCode::kInvalidArgument, [&] { (void)load_model_input(ok.string(), 0, s, {}); });
}

// ---- images ---------------------------------------------------------------------------------------

void write_png(const fs::path& p, int w, int h, int comp, const Bytes& hwc) {
  ASSERT_NE(stbi_write_png(p.string().c_str(), w, h, comp, hwc.data(), w * comp), 0) << p;
}

TEST(InputImage, PngRoundTripGrayAndRgb) {
  TempDir dir;
  const int W = 5, H = 3;
  Bytes gray(W * H);
  for (int i = 0; i < W * H; ++i) gray[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(17 * i + 3);
  write_png(dir / "g.png", W, H, 1, gray);
  const PixelImage g = load_image_file((dir / "g.png").string(), 1);
  EXPECT_EQ(g.C, 1u);
  EXPECT_EQ(g.H, 3u);
  EXPECT_EQ(g.W, 5u);
  EXPECT_EQ(g.label, -1);
  EXPECT_EQ(g.chw, gray);
  // Gray as RGB: three equal planes.
  const PixelImage g3 = load_image_file((dir / "g.png").string(), 3);
  ASSERT_EQ(g3.chw.size(), 45u);
  for (int c = 0; c < 3; ++c)
    EXPECT_TRUE(std::equal(gray.begin(), gray.end(), g3.chw.begin() + c * 15)) << "channel " << c;

  // RGB, interleaved in the file, planar after loading.
  Bytes rgb(static_cast<std::size_t>(W * H * 3));
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<std::uint8_t>((i * 37 + 11) & 0xff);
  write_png(dir / "c.PNG", W, H, 3, rgb);
  const PixelImage c = load_image_file((dir / "c.PNG").string(), 3);
  ASSERT_EQ(c.C, 3u);
  for (std::size_t q = 0; q < 15; ++q)
    for (std::size_t ch = 0; ch < 3; ++ch) ASSERT_EQ(c.chw[ch * 15 + q], rgb[q * 3 + ch]) << q << "," << ch;
  // RGB as gray: stb's luminance (77 R + 150 G + 29 B) >> 8.
  const PixelImage cg = load_image_file((dir / "c.PNG").string(), 1);
  for (std::size_t q = 0; q < 15; ++q)
    EXPECT_EQ(cg.chw[q], (77 * rgb[q * 3] + 150 * rgb[q * 3 + 1] + 29 * rgb[q * 3 + 2]) >> 8) << q;
  // RGBA: alpha dropped.
  Bytes rgba(static_cast<std::size_t>(W * H * 4), 200);
  write_png(dir / "a.png", W, H, 4, rgba);
  EXPECT_EQ(load_image_file((dir / "a.png").string(), 3).chw, Bytes(45, 200));

  // Through load_model_input: preprocessed, and the model's size is enforced.
  Preprocess pp;
  pp.mean = {0.5};
  pp.std_dev = {0.25};
  const ModelInput in = load_model_input((dir / "c.PNG").string(), 0, {1, 3, 3, 5}, pp);
  ASSERT_EQ(in.data.size(), 45u);
  EXPECT_FLOAT_EQ(in.data[15 + 4], static_cast<float>((rgb[4 * 3 + 1] / 255.0 - 0.5) / 0.25));
  EXPECT_EQ(in.label, -1);
  const std::string msg = expect_error(ErrorCode::kInvalidArgument, [&] {
    (void)load_model_input((dir / "c.PNG").string(), 0, {1, 3, 32, 32}, pp);
  });
  EXPECT_NE(msg.find("image is 5x3 but the model expects 32x32"), std::string::npos) << msg;
  expect_error(ErrorCode::kInvalidArgument, [&] {
    (void)load_model_input((dir / "c.PNG").string(), 0, {1, 2, 3, 5}, pp);
  });
  expect_error(ErrorCode::kInvalidArgument, [&] { (void)load_image_file((dir / "c.PNG").string(), 4); });
}

TEST(InputImage, JpegDecodes) {
  TempDir dir;
  const int W = 16, H = 8;
  Bytes rgb(static_cast<std::size_t>(W * H * 3));
  for (std::size_t q = 0; q < static_cast<std::size_t>(W * H); ++q) {
    rgb[q * 3] = 200;
    rgb[q * 3 + 1] = 100;
    rgb[q * 3 + 2] = 50;
  }
  const fs::path p = dir / "flat.jpg";
  ASSERT_NE(stbi_write_jpg(p.string().c_str(), W, H, 3, rgb.data(), 100), 0);
  const PixelImage img = load_image_file(p.string(), 3);
  ASSERT_EQ(img.C, 3u);
  ASSERT_EQ(img.H, 8u);
  ASSERT_EQ(img.W, 16u);
  const int expect[3] = {200, 100, 50};
  for (std::size_t c = 0; c < 3; ++c)
    for (std::size_t q = 0; q < 128; ++q)
      ASSERT_NEAR(img.chw[c * 128 + q], expect[c], 4) << "channel " << c << " pixel " << q;
  EXPECT_EQ(load_model_input(p.string(), 0, {1, 3, 8, 16}, {}).data.size(), 384u);
}

TEST(InputImage, CorruptImagesThrow) {
  TempDir dir;
  Bytes rgb(8 * 8 * 3, 90);
  write_png(dir / "ok.png", 8, 8, 3, rgb);
  const Bytes png = read_bytes(dir / "ok.png");
  ASSERT_GT(png.size(), 40u);

  // Truncated inside the header chunk, inside the data, and a signature followed by garbage.
  Bytes garbage(png.begin(), png.begin() + 8);
  for (int i = 0; i < 64; ++i) garbage.push_back(static_cast<std::uint8_t>(i * 29 + 7));
  Bytes no_data(png.begin(), png.begin() + 33);  // signature + IHDR only
  for (const Bytes& b : {Bytes(png.begin(), png.begin() + 20), no_data, garbage, Bytes(png.begin(), png.begin() + 5)}) {
    write_bytes(dir / "bad.png", b);
    const std::string msg =
        expect_error(ErrorCode::kMalformedInput, [&] { (void)load_image_file((dir / "bad.png").string(), 3); });
    EXPECT_NE(msg.find("bad.png"), std::string::npos) << msg;
  }
  write_bytes(dir / "empty.png", {});
  expect_error(ErrorCode::kMalformedInput, [&] { (void)load_image_file((dir / "empty.png").string(), 1); });
  // Not an image at all (here a BMP signature) → unsupported.
  write_bytes(dir / "x.png", {'B', 'M', 1, 2, 3, 4, 5, 6, 7, 8});
  expect_error(ErrorCode::kUnsupported, [&] { (void)load_image_file((dir / "x.png").string(), 1); });
  // A header declaring a gigantic image is refused before decoding.
  Bytes big = png;
  big[16] = 0x00, big[17] = 0x00, big[18] = 0x20, big[19] = 0x00;  // width 2^13
  big[20] = 0x00, big[21] = 0x00, big[22] = 0x10, big[23] = 0x00;  // height 2^12: 2^25 pixels
  const Bytes crc = be32_bytes(static_cast<std::uint32_t>(crc32(0L, big.data() + 12, 17)));  // IHDR type + data
  std::copy(crc.begin(), crc.end(), big.begin() + 29);
  expect_error(ErrorCode::kSizeLimit, [&] { (void)decode_image(big, 3, "big.png"); });
}

// A PNG built by hand: signature, IHDR, one IDAT holding zlib(`raw`), IEND, with real CRCs.
Bytes hand_png(std::uint32_t w, std::uint32_t h, std::uint8_t depth, std::uint8_t ctype, const Bytes& raw) {
  Bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto chunk = [&](const char* type, const Bytes& data) {
    Bytes len = be32_bytes(static_cast<std::uint32_t>(data.size()));
    out.insert(out.end(), len.begin(), len.end());
    Bytes body(type, type + 4);
    body.insert(body.end(), data.begin(), data.end());
    out.insert(out.end(), body.begin(), body.end());
    Bytes crc = be32_bytes(static_cast<std::uint32_t>(crc32(0L, body.data(), static_cast<uInt>(body.size()))));
    out.insert(out.end(), crc.begin(), crc.end());
  };
  Bytes ihdr = be32_bytes(w), hb = be32_bytes(h);
  ihdr.insert(ihdr.end(), hb.begin(), hb.end());
  ihdr.insert(ihdr.end(), {depth, ctype, 0, 0, 0});
  chunk("IHDR", ihdr);
  uLongf zlen = compressBound(static_cast<uLong>(raw.size()));
  Bytes z(zlen);
  EXPECT_EQ(compress2(z.data(), &zlen, raw.data(), static_cast<uLong>(raw.size()), 9), Z_OK);
  z.resize(zlen);
  chunk("IDAT", z);
  chunk("IEND", {});
  return out;
}

TEST(InputImage, PngStructureAndInflationBound) {
  // 2x2 gray, filter type 0 per row: decodes as given.
  const Bytes good = hand_png(2, 2, 8, 0, {0, 10, 20, 0, 30, 40});
  EXPECT_EQ(decode_image(good, 1, "good.png").chw, (Bytes{10, 20, 30, 40}));
  // 1x1 image whose data inflates to 8 MiB (a few KiB compressed): refused before stb decodes it.
  const Bytes bomb = hand_png(1, 1, 8, 0, Bytes(std::size_t{8} << 20, 0));
  ASSERT_LT(bomb.size(), 64u * 1024u);
  std::string msg = expect_error(ErrorCode::kMalformedInput, [&] { (void)decode_image(bomb, 1, "bomb.png"); });
  EXPECT_NE(msg.find("inflates to more than the 2 bytes"), std::string::npos) << msg;
  // A flipped byte inside the IHDR (bad CRC), bytes after IEND, truncated zlib data, no IDAT.
  Bytes flipped = good;
  flipped[20] ^= 1;
  msg = expect_error(ErrorCode::kMalformedInput, [&] { (void)decode_image(flipped, 1, "flip.png"); });
  EXPECT_NE(msg.find("CRC"), std::string::npos) << msg;
  Bytes trailing = good;
  trailing.push_back(0);
  expect_error(ErrorCode::kMalformedInput, [&] { (void)decode_image(trailing, 1, "t.png"); });
  const Bytes short_data = hand_png(4, 4, 8, 0, Bytes(3, 0));  // the stream ends, but too early for stb
  expect_error(ErrorCode::kMalformedInput, [&] { (void)decode_image(short_data, 1, "s.png"); });
  Bytes cut = good;
  cut.resize(cut.size() - 12 - 14);  // drop IEND and part of IDAT
  expect_error(ErrorCode::kMalformedInput, [&] { (void)decode_image(cut, 1, "cut.png"); });
  // Invalid colour type / depth pair.
  expect_error(ErrorCode::kMalformedInput, [&] { (void)decode_image(hand_png(2, 2, 3, 2, {0}), 1, "d.png"); });
}

// ---- bad dataset inputs ---------------------------------------------------------------------------

TEST(InputBad, MissingEmptyAndNonRegularFiles) {
  TempDir dir;
  const Shape shape{1, 3, 32, 32};
  for (const std::string name : {"missing.bin", "missing.png", "missing.npy"}) {
    const std::string path = (dir / name).string();
    const std::string msg =
        expect_error(ErrorCode::kInvalidArgument, [&] { (void)load_model_input(path, 0, shape, {}); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
  expect_error(ErrorCode::kInvalidArgument, [&] { (void)Dataset::open((dir / "missing.bin").string()); });
  expect_error(ErrorCode::kInvalidArgument, [&] { (void)load_npy((dir / "missing.npy").string()); });
  write_bytes(dir / "empty.bin", {});
  std::string msg =
      expect_error(ErrorCode::kMalformedInput, [&] { (void)Dataset::open((dir / "empty.bin").string()); });
  EXPECT_NE(msg.find("empty.bin"), std::string::npos) << msg;
  write_bytes(dir / "empty.npy", {});
  expect_error(ErrorCode::kMalformedInput, [&] { (void)load_npy((dir / "empty.npy").string()); });
  fs::create_directories(dir / "adir");
  expect_error(ErrorCode::kInvalidArgument, [&] { (void)Dataset::open((dir / "adir").string()); });
}

TEST(InputBad, TruncatedCifar) {
  SKIP_WITHOUT_DATA();
  TempDir dir;
  const Bytes raw = read_bytes(kCifar10);
  const fs::path p = dir / "cifar10_cut.bin";
  write_bytes(p, Bytes(raw.begin(), raw.begin() + 2 * 3073 + 100));
  std::string msg = expect_error(ErrorCode::kMalformedInput, [&] { (void)Dataset::open(p.string()); });
  EXPECT_NE(msg.find("cifar10_cut.bin"), std::string::npos) << msg;
  msg = expect_error(ErrorCode::kMalformedInput, [&] { (void)Dataset::open(p.string(), DatasetFormat::kCifar10); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  expect_error(ErrorCode::kMalformedInput, [&] {
    (void)load_model_input(p.string(), 0, {1, 3, 32, 32}, {}, DatasetFormat::kCifar10);
  });
  // A label byte outside 0..9.
  Bytes two(raw.begin(), raw.begin() + 2 * 3073);
  two[3073] = 10;
  const Dataset ds = Dataset::from_bytes(two, DatasetFormat::kCifar10, "two.bin");
  EXPECT_EQ(ds.record(0).label, 3);
  expect_error(ErrorCode::kMalformedInput, [&] { (void)ds.record(1); });
  // CIFAR-100 coarse/fine label out of range.
  Bytes c100(3074, 0);
  c100[1] = 100;
  expect_error(ErrorCode::kMalformedInput,
               [&] { (void)Dataset::from_bytes(c100, DatasetFormat::kCifar100, "c100.bin").record(0); });
}

TEST(InputBad, MnistHeaders) {
  const Bytes px(2 * 3 * 3, 1);
  struct Case {
    const char* what;
    Bytes bytes;
  };
  const std::vector<Case> cases = {
      {"bad magic", make_idx3(2052, 2, 3, 3, px)},
      {"labels magic", make_idx3(2049, 2, 3, 3, px)},
      {"short header", Bytes{0, 0, 8, 3, 0, 0}},
      {"truncated images", make_idx3(2051, 3, 3, 3, px)},
      {"huge count", make_idx3(2051, 0xffffffffu, 3, 3, px)},
      {"huge dims", make_idx3(2051, 2, 0xffffffffu, 0xffffffffu, px)},
      {"zero rows", make_idx3(2051, 2, 0, 3, px)},
      {"trailing bytes", make_idx3(2051, 1, 3, 3, px)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string msg = expect_error(ErrorCode::kMalformedInput,
                                         [&] { (void)Dataset::from_bytes(c.bytes, DatasetFormat::kMnist, "m.idx3"); });
    EXPECT_NE(msg.find("m.idx3"), std::string::npos) << msg;
  }
  // Auto-detection: the bad magic is not MNIST, and 34 bytes are no CIFAR file either.
  expect_error(ErrorCode::kMalformedInput,
               [&] { (void)Dataset::from_bytes(make_idx3(2052, 2, 3, 3, px), DatasetFormat::kAuto, "m"); });
  const Dataset ok = Dataset::from_bytes(make_idx3(2051, 2, 3, 3, px), DatasetFormat::kAuto, "m");
  EXPECT_EQ(ok.format(), DatasetFormat::kMnist);
  EXPECT_EQ(ok.size(), 2u);
  EXPECT_EQ(ok.record(1).label, -1);
}

TEST(InputBad, GzipAndOutOfRangeAndShapeMismatch) {
  SKIP_WITHOUT_DATA();
  expect_error(ErrorCode::kUnsupported,
               [] { (void)Dataset::open((kData / "mnist" / "t10k-images-idx3-ubyte.gz").string()); });
  const Dataset ds = Dataset::open(kCifar10.string());
  std::string msg = expect_error(ErrorCode::kInvalidArgument, [&] { (void)ds.record(1017); });
  EXPECT_NE(msg.find("1017"), std::string::npos) << msg;
  EXPECT_NE(msg.find(kCifar10.string()), std::string::npos) << msg;
  expect_error(ErrorCode::kInvalidArgument, [&] { (void)ds.label(std::size_t{1} << 40); });
  expect_error(ErrorCode::kInvalidArgument, [&] {
    (void)load_model_input(kCifar10.string(), 5000, {1, 3, 32, 32}, {});
  });
  // MNIST records into a CIFAR-shaped model.
  msg = expect_error(ErrorCode::kInvalidArgument, [&] {
    (void)load_model_input(kMnist.string(), 0, {1, 3, 32, 32}, {});
  });
  EXPECT_NE(msg.find("[1,28,28]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[1,3,32,32]"), std::string::npos) << msg;
  // An explicit format that does not fit the file.
  expect_error(ErrorCode::kMalformedInput, [&] { (void)Dataset::open(kCifar10.string(), DatasetFormat::kMnist); });
  expect_error(ErrorCode::kMalformedInput, [&] { (void)Dataset::open(kCifar10.string(), DatasetFormat::kCifar100); });
}

}  // namespace
