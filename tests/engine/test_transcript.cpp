// Wire-transcript check (issue 15): with fixed PRG seeds, the bytes each party sends during a whole
// session (plan, hello, set-up, every layer, the reveal) are hashed (SHA-256). A refactor of the
// planner, the strategy registry or the executor must not change a single byte on the wire; when a
// change is meant to change the protocol, the hashes below are updated in the same commit with the
// reason in its message.
//
// History: recorded before the strategy-registry refactor, which left every byte unchanged; then
// hello version 5 (he_params_id carries the hash of the session's HE sets), which changes only the
// hello (checked by building the old hello on the new code: the old digests came back); then the
// worker threads (issue 16), which give every HE ciphertext its own PRG forked in order from the
// party's (values change, sizes and order do not), recorded with an IKNP digest beside the silent one;
// then the super-batches of the 1-of-N and additive OTs (a super-batch's corrections in one piece
// before its messages: the order of the bytes changes on layers of more than one batch, so
// ResNet-20's digests changed and the digits model's did not); then per-layer HE parameters (the
// HEQuant issue: every coefficient-encoded layer takes the smallest q that lowers its bytes, a
// second prime of 49, 46, … bits, so the set-up sends one public key per parameter set and the
// ciphertexts change size: every digest changed).
//
// The digest is over the byte stream as each endpoint hands it to its transport (frame headers
// included), so buffering and flush points do not matter, only the content and order.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "peregrine/engine/engine.hpp"
#include "peregrine/nn/input.hpp"
#include "peregrine/nn/onnx_import.hpp"

using namespace peregrine;
namespace fs = std::filesystem;

namespace {

const fs::path kData = PEREGRINE_SHARED_DATA_DIR;
const fs::path kModels = PEREGRINE_MODELS_DIR;

// The recorded digests (server, client).
constexpr const char* kDigitsServer = "0d544896b561a90764913c0c16353e02342818d7b5ecaab0c8c3661027ff7762";
constexpr const char* kDigitsClient = "4ccee18273810d46f9ba5ba3969568108aa1d7367c76ce6384e548f27531beb9";
constexpr const char* kDigitsIknpServer = "5ac8d67433a0d05f3fe974490cac68b00c1f19099585aad9bcba60050e2f785f";
constexpr const char* kDigitsIknpClient = "05d82fccc7a50c27f50990323a85527f252eb196d7ebb5d98abedeadb3f6b71a";
constexpr const char* kResnet20Server = "9a8b9d95ee5524b3edd8f785bd33a675f67efe81faacf9343d44976f16786064";
constexpr const char* kResnet20Client = "3bc33d5879b3311a9e98e1d364c85ebf1d70b545ebe14af8b5dd1a11edc792d1";

/// A channel that forwards to `inner` and hashes every byte it writes.
class HashingChannel final : public net::Channel {
 public:
  explicit HashingChannel(std::unique_ptr<net::Channel> inner)
      : net::Channel(inner->options()), inner_(std::move(inner)), md_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(md_, EVP_sha256(), nullptr);
  }
  ~HashingChannel() override {
    close_output();
    EVP_MD_CTX_free(md_);
  }
  std::string hex() {
    unsigned char d[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(md_, d, &len);
    std::string s;
    char buf[3];
    for (unsigned i = 0; i < len; ++i) {
      std::snprintf(buf, sizeof buf, "%02x", d[i]);
      s += buf;
    }
    return s;
  }

 protected:
  void write_raw(const std::uint8_t* data, std::size_t n) override {
    EVP_DigestUpdate(md_, data, n);
    inner_->send(data, n);
    inner_->flush();
  }
  void read_raw(std::uint8_t* data, std::size_t n) override { inner_->recv(data, n); }

 private:
  std::unique_ptr<net::Channel> inner_;
  EVP_MD_CTX* md_;
};

struct Digests {
  std::string server, client;
  std::vector<std::uint64_t> logits;
};

Digests transcript(const engine::ServerModel& model, const std::vector<float>& x, mpc::OtBackend ot,
                   std::size_t threads = 1) {
  auto [a, b] = net::make_memory_pair();
  HashingChannel sch(std::move(a)), cch(std::move(b));
  Seed ss{}, cs{};
  ss[0] = 1;
  cs[0] = 2;
  std::exception_ptr err;
  std::thread server([&] {
    try {
      Prg prg = Prg::from_seed(ss);
      engine::serve_session(sch, model, prg, ot, threads);
      sch.flush();
    } catch (...) {
      err = std::current_exception();
    }
  });
  Prg prg = Prg::from_seed(cs);
  auto res = engine::client_session(cch, [&](const nn::FixedPlan&) { return x; }, prg, nullptr, ot,
                                    engine::Fidelity::kExact, {}, threads);
  cch.flush();
  server.join();
  if (err) std::rethrow_exception(err);
  return {sch.hex(), cch.hex(), res.logits_ring};
}

engine::ServerModel model_of(const fs::path& onnx, const fs::path& data, std::size_t calib_from, std::size_t calib_n,
                             std::vector<float>* x0, const engine::ServerOptions& so = {}) {
  nn::Graph g = nn::load_onnx(onnx.string());
  nn::Dataset ds = nn::Dataset::open(data.string());
  nn::Preprocess pp = nn::preprocess_from_metadata(g.metadata);
  std::vector<nn::Tensor> calib;
  for (std::size_t i = 0; i < calib_n; ++i)
    calib.push_back({g.shape_of("input"), nn::apply_preprocess(ds.record(calib_from + i), pp)});
  *x0 = nn::apply_preprocess(ds.record(0), pp);
  return engine::ServerModel(nn::quantize_model(g, calib), engine::NetworkProfile::lan(), {}, so);
}

void check(const engine::ServerModel& m, const std::vector<float>& x, mpc::OtBackend ot, const char* want_server,
           const char* want_client, std::size_t threads = 1) {
  Digests d = transcript(m, x, ot, threads);
  // the run is deterministic: a second one gives the same bytes
  Digests again = transcript(m, x, ot, threads);
  EXPECT_EQ(d.server, again.server);
  EXPECT_EQ(d.client, again.client);
  EXPECT_EQ(d.server, want_server) << "server transcript changed";
  EXPECT_EQ(d.client, want_client) << "client transcript changed";
}

}  // namespace

TEST(WireTranscript, DigitsModel) {
  std::vector<float> x;
  auto m = model_of(kModels / "digits_cnn.onnx", kModels / "digits-test-images-idx3-ubyte", 400, 8, &x);
  check(m, x, mpc::OtBackend::kSilent, kDigitsServer, kDigitsClient);
  check(m, x, mpc::OtBackend::kIknp, kDigitsIknpServer, kDigitsIknpClient);
}

// ResNet-20 (../shared/data) and its CIFAR-10 batch; false when the shared data is not present.
static bool resnet20_files(fs::path* model, fs::path* data) {
  *model = kData / "onnx" / "resnet20_cifar10.onnx";
  *data = kData / "cifar10" / "test_batch_first1017_lossless.bin";
  return fs::exists(*model) && fs::exists(*data);
}

TEST(WireTranscript, Resnet20SilentOt) {
  fs::path model, data;
  if (!resnet20_files(&model, &data)) GTEST_SKIP() << "shared data not present";
  std::vector<float> x;
  auto m = model_of(model, data, 1000, 4, &x);
  check(m, x, mpc::OtBackend::kSilent, kResnet20Server, kResnet20Client);
}

// A server that keeps no prepared weights (budget 0: every HE layer runs from the raw weights,
// kernels made on demand) or only some (a budget that ends mid-network) sends exactly the bytes of
// the one that keeps them all; so does every thread count (`--threads T`: core::Workers in both
// parties spread HE encryptions, products, decryptions and on-demand kernels, made per batch of
// outputs, over T threads).
TEST(WireTranscript, Resnet20SendsTheSameBytesForEveryBudgetAndThreadCount) {
  fs::path model, data;
  if (!resnet20_files(&model, &data)) GTEST_SKIP() << "shared data not present";
  std::vector<float> x;
  engine::ServerOptions all, none, some;
  none.prepared_budget_bytes = 0;
  some.prepared_budget_bytes = std::size_t{64} << 20;
  const std::pair<engine::ServerOptions, std::size_t> runs[] = {{all, 2}, {all, 3}, {none, 1}, {none, 3}, {some, 1}};
  for (const auto& [so, threads] : runs) {
    auto m = model_of(model, data, 1000, 4, &x, so);
    EXPECT_LE(m.prepared_bytes(), so.prepared_budget_bytes);
    EXPECT_EQ(m.per_session_layers() > 0, so.prepared_budget_bytes < all.prepared_budget_bytes);
    check(m, x, mpc::OtBackend::kSilent, kResnet20Server, kResnet20Client, threads);
  }
}

TEST(WireTranscript, DigitsModelSendsTheSameBytesForEveryThreadCount) {
  std::vector<float> x;
  auto m = model_of(kModels / "digits_cnn.onnx", kModels / "digits-test-images-idx3-ubyte", 400, 8, &x);
  check(m, x, mpc::OtBackend::kSilent, kDigitsServer, kDigitsClient, 4);
  check(m, x, mpc::OtBackend::kIknp, kDigitsIknpServer, kDigitsIknpClient, 2);
}
