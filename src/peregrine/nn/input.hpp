// Client-side input loading for the `nn` layer (DESIGN.md §2): the client's image, dataset record
// or array, turned into the float network input [1,C,H,W] the model expects.
//
// Formats (byte layouts as in ../shared/data/README.md):
//   * PNG and JPEG images, decoded with Debian's stb_image (libstb), converted to gray (C = 1) or
//     RGB (C = 3) and stored planar CHW. No resizing: the image must already have the model's size.
//   * CIFAR-10 binary (3073-byte records: label, then R, G, B planes of 32×32 uint8).
//   * CIFAR-100 binary (3074-byte records: coarse label, fine label, then the 3072 pixels).
//   * MNIST idx3 images (big-endian header: magic 2051, count, rows, cols; then uint8 pixels), with
//     the idx1 labels file beside it (magic 2049, count; then uint8 labels), when present.
//   * NumPy .npy, versions 1.0/2.0/3.0, dtypes '<f4', '<f8', '|u1', C order.
//
// Preprocessing is the rule of the ONNX metadata_props (README §5): for uint8 pixels the network
// input is (pixel · pixel_scale − mean[c]) / std[c].
//
// Validation: every byte read from a file is checked before use. Sizes are checked against the file
// size before anything is allocated (a header cannot make us allocate more than the file justifies,
// and nothing above kMaxTensorElements = 2^28 elements); magic numbers, dtypes, label ranges and
// record indices are checked; truncated files are refused. Errors are peregrine::Error with a
// one-line message naming the file and what is wrong:
//   * kInvalidArgument: the file is missing or unreadable, a record index is out of range, the input
//     does not have the shape the model expects, an ambiguous dataset needs an explicit format, or a
//     caller argument is outside the documented domain.
//   * kMalformedInput: the bytes fail validation (bad magic, truncated, sizes that do not add up,
//     corrupt image data, malformed .npy header or metadata value).
//   * kUnsupported: well-formed input that this loader does not handle (Fortran-order or big-endian
//     .npy, other dtypes, image formats other than PNG/JPEG, gzip-compressed datasets).
//   * kSizeLimit: an image or .npy file larger than the bounds below.
//
// Thread-safety: free functions are pure (no global mutable state; stb_image keeps its failure
// reason thread-local); a Dataset is immutable after open() and record() may be called
// concurrently (positioned reads, no shared file offset).
// Source: NumPy NEP 1 (.npy format), Krizhevsky 2009 (CIFAR binary version), LeCun et al. (idx
// format); reconstruction.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace peregrine::nn {

/// Largest .npy file accepted (bytes; 2^28 float32 elements), checked before the file is read.
inline constexpr std::uint64_t kMaxInputFileBytes = std::uint64_t{1} << 30;
/// Largest PNG/JPEG file accepted (bytes), checked before the file is read.
inline constexpr std::uint64_t kMaxImageFileBytes = std::uint64_t{64} << 20;
/// Largest decoded image accepted (pixels per channel, W·H), checked from the image header before
/// decoding.
inline constexpr std::uint64_t kMaxImagePixels = std::uint64_t{1} << 24;

/// Preprocessing of uint8 pixels into network input: x = (pixel · pixel_scale − mean[c]) / std_dev[c].
/// `mean` and `std_dev` each hold 0 values (mean 0 / std 1), 1 value (used for every channel) or
/// one value per channel. Plain value type.
struct Preprocess {
  double pixel_scale = 1.0 / 255;  ///< multiplies the raw pixel value 0..255
  std::vector<double> mean;        ///< subtracted after scaling, per channel
  std::vector<double> std_dev;     ///< divides after subtracting, per channel (never 0)
};

/// Reads the preprocessing from an ONNX model's metadata_props (Graph::metadata): keys
/// `pixel_scale` (one number), `mean` and `std` (comma-separated numbers, one per channel). An
/// absent key keeps the default of Preprocess (pixel_scale 1/255, mean 0, std 1).
/// Throws Error(kMalformedInput) when a present value is not a list of finite numbers, pixel_scale
/// is not > 0, a std value is 0, or mean and std have different lengths (neither being 1).
/// Thread-safe (pure).
Preprocess preprocess_from_metadata(const std::map<std::string, std::string>& metadata_props);

/// Class names from the metadata key `labels` (comma-separated; name k is class k; surrounding
/// spaces trimmed). Empty when the key is absent or empty. Never throws. Thread-safe (pure).
std::vector<std::string> labels_from_metadata(const std::map<std::string, std::string>& metadata_props);

/// An image of uint8 pixels, planar: chw[(c·H + y)·W + x], c in [0,C). For RGB, c = 0 red, 1 green,
/// 2 blue. Invariant (kept by the loaders): chw.size() == C·H·W. `label` is the class from the
/// dataset, or -1 when unknown (image files, MNIST without a labels file).
struct PixelImage {
  std::size_t C = 0, H = 0, W = 0;
  std::vector<std::uint8_t> chw;
  int label = -1;
};

/// Loads a PNG or JPEG file (recognised by its signature, not its name) and converts it to
/// `channels` channels: 1 = gray (luminance, stb's integer weights 77/150/29 of 256) or 3 = RGB.
/// Alpha is dropped (not composited); 16-bit PNGs are reduced to 8 bits. Returns [C,H,W] with
/// label -1. Throws Error(kInvalidArgument) when `channels` is not 1 or 3 or the file cannot be read,
/// Error(kSizeLimit) above kMaxImageFileBytes / kMaxImagePixels, Error(kUnsupported) for other
/// image formats, Error(kMalformedInput) for corrupt or truncated data. Thread-safe.
PixelImage load_image_file(const std::string& path, std::size_t channels);

/// Same as load_image_file, from the bytes of a PNG/JPEG file; `name` is used in error messages.
/// Same errors (no kInvalidArgument for I/O). Thread-safe.
PixelImage decode_image(std::span<const std::uint8_t> bytes, std::size_t channels,
                        const std::string& name = "<memory>");

/// Dataset file layouts. kAuto detects: MNIST idx3 by its magic; otherwise CIFAR-10 when the size
/// is a multiple of 3073, CIFAR-100 when it is a multiple of 3074; when both divide, a path
/// containing "cifar100"/"cifar-100"/"cifar_100" (or else "cifar10"/"cifar-10"/"cifar_10") decides.
enum class DatasetFormat { kAuto, kCifar10, kCifar100, kMnist };

/// "auto", "cifar10", "cifar100", "mnist".
const char* dataset_format_name(DatasetFormat fmt) noexcept;
/// Inverse of dataset_format_name (exact, lower case). Throws Error(kInvalidArgument) naming the
/// accepted values otherwise.
DatasetFormat parse_dataset_format(const std::string& name);

/// A dataset file of fixed-size uint8 image records, opened once (header, size and labels file
/// validated at open) and read one record at a time with positioned reads, so the data itself is
/// never held in memory. Copies share the open file.
/// Thread-safety: immutable after open(); size()/record()/... may be called concurrently.
class Dataset {
 public:
  /// Opens `path`. For MNIST, labels are read from the file named like `path` with "images-idx3"
  /// replaced by "labels-idx1" (or "images.idx3" by "labels.idx1") when such a file exists; it
  /// must then have magic 2049 and the same count, else Error(kMalformedInput).
  /// Throws Error(kInvalidArgument) when the file cannot be opened or is not a regular file, or
  /// when kAuto cannot decide between CIFAR-10 and CIFAR-100 (pass the format explicitly);
  /// Error(kMalformedInput) for an empty or truncated file, a size that is not a whole number of
  /// records, a bad MNIST magic or header, or trailing bytes; Error(kUnsupported) for a
  /// gzip-compressed file.
  static Dataset open(const std::string& path, DatasetFormat fmt = DatasetFormat::kAuto);

  /// Same from bytes in memory (tests, fuzzing); `name` is used in messages (and for kAuto
  /// tie-breaking). MNIST labels are not looked up (label -1). Same errors, without I/O ones.
  static Dataset from_bytes(std::vector<std::uint8_t> bytes, DatasetFormat fmt = DatasetFormat::kAuto,
                            const std::string& name = "<memory>");

  /// Number of records.
  std::size_t size() const noexcept { return count_; }
  /// Record `i` as [C,H,W] uint8 (CIFAR: 3×32×32; MNIST: 1×rows×cols) with its label (CIFAR-100:
  /// the fine label 0..99; MNIST: -1 without a labels file). Throws Error(kInvalidArgument) when
  /// i ≥ size(), Error(kMalformedInput) when the record's label byte is out of range (CIFAR-10
  /// 0..9, CIFAR-100 coarse 0..19 / fine 0..99) or the file was truncated after open.
  PixelImage record(std::size_t i) const;
  /// Label of record `i` alone (no pixel read for MNIST). Same errors as record().
  int label(std::size_t i) const;
  /// Format after detection (never kAuto).
  DatasetFormat format() const noexcept { return format_; }
  /// "cifar10", "cifar100" or "mnist".
  std::string format_name() const { return dataset_format_name(format_); }
  /// Channels, height, width of every record.
  std::size_t channels() const noexcept { return C_; }
  std::size_t height() const noexcept { return H_; }
  std::size_t width() const noexcept { return W_; }
  /// Whether records carry labels (always for CIFAR; MNIST only with its labels file).
  bool has_labels() const noexcept { return has_labels_; }
  /// The path or name given at open.
  const std::string& name() const noexcept { return name_; }

  /// Positioned reads over a file or a buffer (implementation detail, shared between copies).
  class Source;

 private:
  Dataset() = default;
  static Dataset open_source(std::shared_ptr<const Source> src, DatasetFormat fmt, const std::string& name,
                             const std::string& labels_path);

  std::shared_ptr<const Source> src_;
  std::string name_;
  DatasetFormat format_ = DatasetFormat::kAuto;
  std::size_t count_ = 0, C_ = 0, H_ = 0, W_ = 0;
  std::uint64_t header_bytes_ = 0;  ///< bytes before record 0
  std::uint64_t record_bytes_ = 0;  ///< bytes per record, label bytes included
  std::uint64_t label_bytes_ = 0;   ///< label bytes at the start of each record (CIFAR)
  bool has_labels_ = false;
  std::vector<std::uint8_t> mnist_labels_;  ///< MNIST labels (empty when no labels file)
};

/// A NumPy array read from a .npy file, converted to float (uint8 values 0..255 are exact).
/// Invariant: data.size() == product of shape (1 for shape {}).
struct NpyArray {
  std::vector<std::size_t> shape;
  std::vector<float> data;  ///< C order (row-major)
  bool is_uint8 = false;    ///< the file's dtype was '|u1' (pixels), not a float type
};

/// Loads a .npy file: format versions 1.0, 2.0 and 3.0; dtypes '<f4', '<f8' (converted to float,
/// rounding to nearest; magnitudes above FLT_MAX become ±inf) and '|u1'; C order only. The header
/// dictionary is parsed strictly (exactly the keys descr, fortran_order, shape; Python literals
/// only; header ≤ 64 KiB; rank ≤ 8), and the data must be exactly shape-product × itemsize bytes,
/// checked before anything is allocated. Throws Error(kInvalidArgument) when the file cannot be
/// read; Error(kSizeLimit) for a file above kMaxInputFileBytes or an array above 2^28 elements;
/// Error(kMalformedInput) for a bad magic or header or a data size that does not match the header;
/// Error(kUnsupported) for fortran_order True, big-endian or other dtypes, other format versions.
/// Thread-safe.
NpyArray load_npy(const std::string& path);

/// Same as load_npy, from the bytes of a .npy file; `name` is used in messages. Thread-safe.
NpyArray parse_npy(std::span<const std::uint8_t> bytes, const std::string& name = "<memory>");

/// Applies `pp` to `img`: returns [C,H,W] float, (pixel · pixel_scale − mean[c]) / std_dev[c]
/// computed in double and rounded to float. Throws Error(kInvalidArgument) when pp.mean or
/// pp.std_dev has a length other than 0, 1 or img.C, or a std value is 0. Thread-safe (pure).
std::vector<float> apply_preprocess(const PixelImage& img, const Preprocess& pp);

/// One client input, ready for the network.
struct ModelInput {
  std::vector<float> data;  ///< [1,C,H,W] float, preprocessed, row-major
  int label = -1;           ///< true class when the source knows it (dataset records), else -1
  std::string description;  ///< one line: what was loaded ("cifar10 record 0 of x.bin (label 3)")
};

/// Loads one network input for a model whose input shape is `input_shape` = [1,C,H,W].
/// Dispatch: when `fmt` is kAuto and `path` is a folder → its `index`-th PNG/JPEG file in name
/// order; when the file name ends in .png/.jpg/.jpeg (any case) → image (converted to C channels; C
/// must be 1 or 3), preprocessed with `pp`; .npy → float arrays are taken as already-preprocessed
/// network input and must have shape [1,C,H,W] or [C,H,W] with finite values, uint8 arrays are
/// pixels of shape [C,H,W], [1,C,H,W], [H,W,C], [1,H,W,C] or (C = 1) [H,W] and are preprocessed
/// with `pp`; a batch [N,C,H,W] (uint8 also [N,H,W,C]) gives its record `index`; anything else (or
/// any explicit `fmt`) → Dataset::open(path, fmt) and record `index`. `index` must be 0 for image
/// files and single-input .npy files.
/// Throws Error(kInvalidArgument) when input_shape is not [1,C,H,W] with positive extents, when the
/// input's shape differs from the model's (the message gives both), when `index` is out of range;
/// plus the errors of the loader used. Thread-safe.
ModelInput load_model_input(const std::string& path, std::size_t index, const std::vector<std::int64_t>& input_shape,
                            const Preprocess& pp, DatasetFormat fmt = DatasetFormat::kAuto);

/// How many inputs load_model_input can read from `path` (the same dispatch): the PNG/JPEG files of
/// a folder, 1 for an image, N for a .npy batch (1 for a single input), the records of a dataset.
/// Errors: those of the loader used. Thread-safe.
std::size_t count_model_inputs(const std::string& path, const std::vector<std::int64_t>& input_shape,
                               DatasetFormat fmt = DatasetFormat::kAuto);

}  // namespace peregrine::nn
