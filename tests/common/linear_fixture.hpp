// Shared harness of the HE linear-layer tests: both parties as threads over an in-memory channel,
// HE session set-up, the layer's drivers, reconstruction mod t, and the exactness / byte-model
// checks every layer test makes.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <bit>
#include <functional>
#include <string>
#include <vector>

#include "two_party.hpp"
#include "peregrine/linear/conv.hpp"
#include "peregrine/linear/he_layer.hpp"
#include "peregrine/nn/fixed.hpp"

namespace peregrine::test {

/// A square-kernel conv shape with equal strides and padding on every side (the layer tests' shapes).
inline linear::Conv2dMeta conv_meta(std::size_t C, std::size_t H, std::size_t W, std::size_t M, std::size_t k,
                                    std::size_t stride, std::size_t pad, std::size_t groups = 1, int weight_bits = 13) {
  linear::Conv2dMeta m;
  m.C = C; m.H = H; m.W = W; m.M = M; m.kh = m.kw = k;
  m.stride_h = m.stride_w = stride;
  m.pad_top = m.pad_bottom = m.pad_left = m.pad_right = pad;
  m.groups = groups;
  m.weight_bits = weight_bits;
  return m;
}

/// Plaintext reference: conv(x, w) + b mod 2^ℓ for x [C,H,W] (values mod t = 2^ℓ), w [M, C/g, kh, kw]:
/// the one reference convolution of the project, the fixed-point executor's (nn::run_fixed_node),
/// on a one-node program of this shape (test binaries that use it link peregrine_nn).
inline std::vector<linear::u64> reference_conv(const linear::Conv2dMeta& m, const std::vector<linear::u64>& x, const std::vector<std::int64_t>& w,
                                              const std::vector<std::int64_t>& b, linear::u64 tmask) {
  const auto I = [](std::size_t v) { return static_cast<std::int64_t>(v); };
  nn::FixedModel model;
  nn::FixedPlan& p = model.plan;
  p.ring_bits = std::popcount(tmask);
  p.values = {{"x", {1, I(m.C), I(m.H), I(m.W)}, 0, p.ring_bits}, {"y", {1, I(m.M), I(m.out_h()), I(m.out_w())}, 0, p.ring_bits}};
  nn::FxNode n = nn::FxNode::of(nn::FxOp::kConv);
  nn::FxConvAttrs& a = n.conv();
  a.C = I(m.C); a.H = I(m.H); a.W = I(m.W); a.M = I(m.M); a.kh = I(m.kh); a.kw = I(m.kw);
  a.sh = I(m.stride_h); a.sw = I(m.stride_w); a.groups = I(m.groups);
  a.pads = {I(m.pad_top), I(m.pad_left), I(m.pad_bottom), I(m.pad_right)};
  n.inputs = {0};
  n.output = 1;
  p.nodes = {n};
  p.output = 1;
  model.weights.entries = {{w, b}};
  return nn::run_fixed_node(model, 0, {x});
}

/// One two-party run of a linear layer: reconstructed output, the plaintext reference, the cost
/// model and the bytes each party sent during the layer (HE set-up excluded).
struct LayerRun {
  std::vector<linear::u64> y, want;
  linear::LayerCost model;
  std::size_t sent_client = 0, sent_server = 0;
};

/// Runs server(ch, he) and client(ch, he) (each returning its output share) after the HE session
/// set-up (with Galois keys for `galois`, when given), and fills y = y0 + y1 mod t and the byte
/// counts (set-up excluded); want and model are the caller's.
inline LayerRun run_layer(const he::HeParamsPtr& P, Prg& client_prg,
                          const std::function<std::vector<linear::u64>(net::Channel&, const linear::HeServer&)>& server,
                          const std::function<std::vector<linear::u64>(net::Channel&, const linear::HeClient&)>& client,
                          std::span<const std::uint64_t> galois = {}) {
  auto pr = net::make_memory_pair();
  LayerRun r;
  std::vector<linear::u64> y0, y1;
  run_parties(
      [&] {
        const linear::HeServer he = linear::he_server_setup(*pr.first, P, galois);
        const std::size_t before = pr.first->stats().bytes_sent;
        y0 = server(*pr.first, he);
        r.sent_server = pr.first->stats().bytes_sent - before;
      },
      [&] {
        const linear::HeClient he = linear::he_client_setup(*pr.second, P, client_prg, galois);
        const std::size_t before = pr.second->stats().bytes_sent;
        y1 = client(*pr.second, he);
        r.sent_client = pr.second->stats().bytes_sent - before;
      });
  const linear::u64 t = P->t();
  r.y.resize(y0.size());
  for (std::size_t i = 0; i < y0.size(); ++i) r.y[i] = static_cast<linear::u64>((static_cast<unsigned __int128>(y0[i]) + y1[i]) % t);
  return r;
}

/// The output equals the reference exactly and the measured bytes equal the cost model.
inline void expect_exact_run(const LayerRun& r, const std::string& what) {
  ASSERT_EQ(r.y.size(), r.want.size()) << what;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < r.y.size(); ++i) bad += r.y[i] != r.want[i];
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << r.y.size() << " outputs differ";
  EXPECT_EQ(r.sent_client, r.model.bytes_client_to_server) << what;
  EXPECT_EQ(r.sent_server, r.model.bytes_server_to_client) << what;
}

}  // namespace peregrine::test
