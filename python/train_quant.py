#!/usr/bin/python3
"""Quantisation-aware fine-tuning of the shipped akamaster ResNet-20/32 and export as QDQ ONNX.

Peregrine's quantised-network substrate (issue 18; TECHNIQUES.md §3.8). Starting from the float
weights in ../shared/data/models/cifar10_resnet{20,32}_akamaster (weights_f32.bin + manifest), this
script

1. folds every BatchNorm into the convolution before it (conv with bias; the BN statistics of the
   shipped model, frozen),
2. inserts LSQ quantisers (Esser et al., "Learned Step Size Quantization", ICLR 2020: a learned
   per-tensor step s, gradient scale 1/sqrt(N*Qp), straight-through rounding) on every weight and
   activation, with the bit widths of the integer program Peregrine runs (below),
3. fine-tunes on ../shared/data/cifar10/train_jpeg_50000.bin with SGD and distillation from the
   float model (CPU, --threads; a few epochs fit a 2-core machine in the background),
4. exports QDQ ONNX (opset 13) and, beside it, the logits of a *PyTorch quantised* model built from
   the same integers (torch.nn.quantized modules on the onednn engine): the reference that
   Peregrine's integer executor is tested against.

Integer semantics (what the QDQ file says, and what the PyTorch quantised model computes):
  input      x standardised (mean/std of the akamaster models), q = clamp(round(x/s_in) + 128, 0, 255)
             (uint8, zero point 128: an 8-bit signed value)
  conv1      Conv(W: int8 at --first-weight-bits, bias int32 at s_in*s_w) -> Relu -> a-bit unsigned
  block      h = Qa(Relu(conv1(x)));  y = Q8s(conv2(h))  (8-bit signed, uint8 zero point 128);
             out = Qa(Relu(y + shortcut(x)))   (shortcut: identity or option A: x[:, :, ::2, ::2]
             with zero channels padded before and after)
  head       p = Q8u(GlobalAveragePool(out)); logits = Gemm(p, W at --last-weight-bits) + bias (float)
Weights are symmetric per tensor (zero point 0, values in [-(2^(w-1)-1), 2^(w-1)-1]); biases are
int32 at the product of the input and weight scales.

Per-layer bit widths (mixed precision, TECHNIQUES.md §3.8): --bits-config FILE.json, a JSON object
  {"weight_bits": {layer: w, ...}, "act_bits": {quantiser: a, ...}}
overrides the uniform widths by name (python/mixed_precision.py writes such files; other top-level keys
are ignored). Layers are named as export_qdq's Conv/Gemm nodes ("stem", "block0.conv1",
"block0.conv2", ..., "fc"); quantisers as the a-bit activations' QuantizeLinear nodes without "_q"
("stem_a", "block0.a1", "block0.out", ...; the 8-bit ones "in", "blockN.y", "pool_a" are fixed).
Names not in the config keep --weight-bits (stem: --first-weight-bits, fc: --last-weight-bits) and
--act-bits; a name the model does not have is an error. Without the option the output is that of
the uniform configuration, byte for byte.

Bit widths below 8 in ONNX (the convention Peregrine's importer reads; docs/QUANTISED.md):
  * the container is uint8 (activations) or int8 (weights); ONNX has no narrower integer type that
    every tool reads;
  * an a-bit activation is written as Clip(min = 0, max = (2^a - 1)*s) -> QuantizeLinear(s, zp 0):
    any ONNX runtime computes clamp(round(x/s), 0, 2^a - 1), and the width is recoverable as
    log2(max/s + 1);
  * a w-bit weight is an int8 initializer whose values lie in [-(2^(w-1)-1), 2^(w-1)-1]; the width is
    recoverable from the values; metadata_props "peregrine.bits" lists every width
    ("name=bits,..."), for readers who want it without scanning.

Outputs: <out>.onnx, <out>.ref_logits_first32.f32 (float32 LE [32,10]: the PyTorch quantised
model's logits on lossless test images 0..31), <out>.fakequant_logits_first32.f32 (the QAT
model's), and a summary line with the accuracies on the first 1000 lossless test images (float,
QAT fake-quant, PyTorch quantised).

Usage (background, niced):
  nice -n 10 /usr/bin/python3 python/train_quant.py --depth 20 --act-bits 4 --weight-bits 4 \
      --epochs 6 --out models/resnet20_cifar10_quant.onnx --ckpt /tmp/q20.pt > /tmp/q20.log 2>&1 &
"""

import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_cifar import (add_run_args, cifar_metadata, epoch_batches, evaluate, load_test, load_train,  # noqa: E402
                         seed_all, shared_dir)

# The akamaster models' preprocessing (../shared/data/README.md).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def standardise(x_u8_chw):
    x = torch.from_numpy(x_u8_chw.astype(np.float32) / 255.0)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def load_float_weights(depth):
    """The shipped float weights as a dict name -> tensor (weights_f32.bin + weights_manifest.tsv)."""
    d = os.path.join(shared_dir(), "models", "cifar10_resnet%d_akamaster" % depth)
    raw = np.fromfile(os.path.join(d, "weights_f32.bin"), dtype="<f4")
    out = {}
    with open(os.path.join(d, "weights_manifest.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, shape, off, count = line.rstrip("\n").split("\t")
            dims = [int(v) for v in shape.split("x")]
            out[name] = torch.from_numpy(raw[int(off):int(off) + int(count)].reshape(dims).copy())
    return out


def fold_bn(w, prefix_bn, wd, eps=1e-5):
    """Conv weight w [M,C,k,k] followed by BN `prefix_bn` -> (w', b') of one conv with bias."""
    g, b = wd[prefix_bn + ".weight"], wd[prefix_bn + ".bias"]
    m, v = wd[prefix_bn + ".running_mean"], wd[prefix_bn + ".running_var"]
    s = g / torch.sqrt(v + eps)
    return w * s.view(-1, 1, 1, 1), b - m * s


# ---- LSQ -----------------------------------------------------------------------------------------

def round_ste(x):
    return (x.round() - x).detach() + x


def grad_scale(x, g):
    return (x - x * g).detach() + x * g


class Lsq(nn.Module):
    """LSQ quantiser: x -> clamp(round(x/s), qn, qp)*s with a learned step s (per tensor).
    `zero_point` shifts the integer grid for uint8 containers (only used at export)."""

    def __init__(self, bits, signed, symmetric_weight=False):
        super().__init__()
        self.bits, self.signed = bits, signed
        if signed:
            self.qn = -(2 ** (bits - 1) - 1) if symmetric_weight else -(2 ** (bits - 1))
            self.qp = 2 ** (bits - 1) - 1
        else:
            self.qn, self.qp = 0, 2 ** bits - 1
        self.is_weight = symmetric_weight
        self.s = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("initialised", torch.tensor(0))

    def init_from(self, x):
        with torch.no_grad():
            self.s.copy_(2 * x.abs().mean() / math.sqrt(self.qp))
            self.initialised.fill_(1)

    def forward(self, x):
        if self.training and self.initialised.item() == 0:
            self.init_from(x)
        # LSQ's gradient scale 1/sqrt(N*Qp): N = weights of the layer, or features of one sample
        n = x.numel() if self.is_weight else x[0].numel()
        g = 1.0 / math.sqrt(n * self.qp)
        s = grad_scale(self.s.abs() + 1e-8, g)
        return round_ste(torch.clamp(x / s, self.qn, self.qp)) * s

    def integers(self, x):
        s = self.s.abs().item() + 1e-8
        return torch.clamp(torch.round(x / s), self.qn, self.qp), s


def step(lsq):
    """The current step of an LSQ quantiser (no gradient: the bias follows it)."""
    return lsq.s.detach().abs() + 1e-8


class QConv(nn.Module):
    """Conv with bias (BN folded) and an LSQ weight quantiser."""

    def __init__(self, w, b, stride, wbits):
        super().__init__()
        self.weight = nn.Parameter(w.clone())
        self.bias = nn.Parameter(b.clone())
        self.stride = stride
        self.wq = Lsq(wbits, True, symmetric_weight=True)
        self.wq.init_from(w)

    def forward(self, x, s_x):
        # The bias as the integer program holds it: int32 at the scale s_x*s_w (straight-through).
        s_b = (s_x.detach() if torch.is_tensor(s_x) else s_x) * (self.wq.s.abs() + 1e-8)
        return F.conv2d(x, self.wq(self.weight), round_ste(self.bias / s_b) * s_b, self.stride, 1)


def shortcut_a(x, planes):
    """akamaster option A: even rows/columns, planes/4 zero channels before and after."""
    p = planes // 4
    return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))


def akamaster_blocks(depth):
    """(weight-name prefix, stride, down-sampling shortcut?, planes) of every residual block of the
    akamaster ResNet-depth, in network order."""
    cin = 16
    for stage, planes in enumerate((16, 32, 64)):
        for blk in range((depth - 2) // 6):
            stride = 2 if (stage > 0 and blk == 0) else 1
            yield "layer%d.%d" % (stage + 1, blk), stride, stride != 1 or cin != planes, planes
            cin = planes


def load_bits_config(path):
    """The per-layer widths of a --bits-config file: {"weight_bits": {layer: bits}, "act_bits":
    {quantiser: bits}} (both optional; other top-level keys are ignored). "" -> None."""
    if not path:
        return None
    with open(path) as f:
        cfg = json.load(f)
    return {"weight_bits": dict(cfg.get("weight_bits", {})), "act_bits": dict(cfg.get("act_bits", {}))}


class QResNet(nn.Module):
    """The integer program of the module docstring, with LSQ quantisers (fake quantisation).

    Bit widths: uniform (`wbits`, `abits`; the stem's and the classifier's weights at `first_wbits`,
    `last_wbits`) unless `bits_config` (see load_bits_config) names a layer or an activation
    quantiser. Each width is looked up once, here; afterwards it lives in its Lsq module (`.bits`,
    `.qp`), which is what the forward pass, build_torch_quantised and export_qdq read."""

    def __init__(self, depth, wd, abits, wbits, first_wbits, last_wbits, bits_config=None):
        super().__init__()
        cfg = bits_config or {}
        w_over, a_over = dict(cfg.get("weight_bits", {})), dict(cfg.get("act_bits", {}))

        def wb(layer, default=wbits):
            return int(w_over.pop(layer, default))

        def act(quantiser):
            return Lsq(int(a_over.pop(quantiser, abits)), False)

        self.qin = Lsq(8, True)
        w, b = fold_bn(wd["conv1.weight"], "bn1", wd)
        self.stem = QConv(w, b, 1, wb("stem", first_wbits))
        self.qstem = act("stem_a")
        self.blocks = nn.ModuleList()
        self.meta = []
        for pre, stride, down, planes in akamaster_blocks(depth):
            name = "block%d" % len(self.blocks)
            w1, b1 = fold_bn(wd[pre + ".conv1.weight"], pre + ".bn1", wd)
            w2, b2 = fold_bn(wd[pre + ".conv2.weight"], pre + ".bn2", wd)
            m = nn.ModuleDict({"c1": QConv(w1, b1, stride, wb(name + ".conv1")), "q1": act(name + ".a1"),
                               "c2": QConv(w2, b2, 1, wb(name + ".conv2")), "q2": Lsq(8, True),
                               "qo": act(name + ".out")})
            self.blocks.append(m)
            self.meta.append((down, planes))
        self.qpool = Lsq(8, False)
        self.fc_w = nn.Parameter(wd["linear.weight"].clone())
        self.fc_b = nn.Parameter(wd["linear.bias"].clone())
        self.fcq = Lsq(wb("fc", last_wbits), True, symmetric_weight=True)
        self.fcq.init_from(self.fc_w)
        if w_over or a_over:
            raise ValueError("bits config names what this ResNet-%d does not have: %s" %
                             (depth, ", ".join(sorted(list(w_over) + list(a_over)))))

    def weight_quantisers(self):
        """(layer name, weight Lsq) of every Conv/Gemm, in network order (export_qdq's node names)."""
        out = [("stem", self.stem.wq)]
        for i, m in enumerate(self.blocks):
            out += [("block%d.conv1" % i, m["c1"].wq), ("block%d.conv2" % i, m["c2"].wq)]
        return out + [("fc", self.fcq)]

    def act_quantisers(self):
        """(quantiser name, Lsq) of every activation whose width is configurable (--act-bits), in
        network order; the 8-bit ones (input, pre-residual conv outputs, pooled features) are not."""
        out = [("stem_a", self.qstem)]
        for i, m in enumerate(self.blocks):
            out += [("block%d.a1" % i, m["q1"]), ("block%d.out" % i, m["qo"])]
        return out

    def bit_widths(self):
        """The widths in effect, in the --bits-config form (bits)."""
        return {"weight_bits": {k: lsq.bits for k, lsq in self.weight_quantisers()},
                "act_bits": {k: lsq.bits for k, lsq in self.act_quantisers()}}

    def forward(self, x):
        x = self.qin(x)
        x = self.qstem(F.relu(self.stem(x, step(self.qin))))
        s_x = step(self.qstem)
        for m, (down, planes) in zip(self.blocks, self.meta):
            h = m["q1"](F.relu(m["c1"](x, s_x)))
            y = m["q2"](m["c2"](h, step(m["q1"])))
            sc = shortcut_a(x, planes) if down else x
            x = m["qo"](F.relu(y + sc))
            s_x = step(m["qo"])
        p = self.qpool(F.adaptive_avg_pool2d(x, 1).flatten(1))
        s_b = step(self.qpool) * (self.fcq.s.abs() + 1e-8)
        return F.linear(p, self.fcq(self.fc_w), round_ste(self.fc_b / s_b) * s_b)


class FloatResNet(nn.Module):
    """The float teacher (BN folded): the same graph without quantisers."""

    def __init__(self, q):
        super().__init__()
        self.q = q

    def forward(self, x):
        q = self.q
        x = F.relu(F.conv2d(x, q.stem.weight, q.stem.bias, 1, 1))
        for m, (down, planes) in zip(q.blocks, q.meta):
            h = F.relu(F.conv2d(x, m["c1"].weight, m["c1"].bias, m["c1"].stride, 1))
            y = F.conv2d(h, m["c2"].weight, m["c2"].bias, 1, 1)
            x = F.relu(y + (shortcut_a(x, planes) if down else x))
        return F.linear(F.adaptive_avg_pool2d(x, 1).flatten(1), q.fc_w, q.fc_b)


# ---- integers, PyTorch quantised model, QDQ ONNX --------------------------------------------------

class Frozen:
    """Every integer and scale of the trained model (what the QDQ file and the PyTorch quantised
    model are both built from)."""

    def __init__(self, q):
        self.q = q
        self.s_in = q.qin.s.abs().item() + 1e-8
        self.layers = {}  # name -> (w_int [M,C,k,k] int, s_w, b_int [M] int)

    def conv(self, name, conv, s_x):
        wi, s_w = conv.wq.integers(conv.weight.detach())
        bi = torch.round(conv.bias.detach() / (s_x * s_w))
        self.layers[name] = (wi.to(torch.int64), s_w, bi.to(torch.int64))
        return self.layers[name]


def act_scale(lsq):
    return lsq.s.abs().item() + 1e-8


def build_torch_quantised(q):
    """A torch.nn.quantized model (onednn engine) with exactly the integers of the QDQ export.
    Returns (forward function on float standardised input [N,3,32,32] -> float logits, Frozen)."""
    import torch.nn.quantized as nnq
    import torch.nn.intrinsic.quantized as nniq
    torch.backends.quantized.engine = "onednn"
    fz = Frozen(q)

    def qconv(name, conv, s_x, s_out, zp_out, relu, cin, cout):
        wi, s_w, bi = fz.conv(name, conv, s_x)
        mod = (nniq.ConvReLU2d if relu else nnq.Conv2d)(cin, cout, 3, conv.stride, 1, bias=True)
        qw = torch.quantize_per_tensor(wi.float() * s_w, s_w, 0, torch.qint8)
        mod.set_weight_bias(qw, bi.double().mul(s_x * s_w).float())
        mod.scale, mod.zero_point = s_out, zp_out
        return mod

    s_in = fz.s_in
    s_stem = act_scale(q.qstem)
    stem = qconv("stem", q.stem, s_in, s_stem, 0, True, 3, 16)
    blocks = []
    s_x = s_stem
    cin = 16
    for i, (m, (down, planes)) in enumerate(zip(q.blocks, q.meta)):
        s1, s2, so = act_scale(m["q1"]), act_scale(m["q2"]), act_scale(m["qo"])
        c1 = qconv("block%d.conv1" % i, m["c1"], s_x, s1, 0, True, cin, planes)
        c2 = qconv("block%d.conv2" % i, m["c2"], s1, s2, 128, False, planes, planes)
        blocks.append((c1, c2, s1 * m["q1"].qp, so, so * m["qo"].qp, down, planes))
        s_x, cin = so, planes
    s_pool = act_scale(q.qpool)
    fw, s_fw = q.fcq.integers(q.fc_w.detach())
    fb = torch.round(q.fc_b.detach() / (s_pool * s_fw))
    fz.layers["fc"] = (fw.to(torch.int64), s_fw, fb.to(torch.int64))
    fz.scales = {"stem": s_stem, "pool": s_pool}

    def forward(x):
        with torch.no_grad():
            xq = torch.quantize_per_tensor(x, s_in, 128, torch.quint8)
            h = torch.clamp(stem(xq), 0, q.qstem.qp * s_stem)
            for c1, c2, hi1, so, hio, down, planes in blocks:
                t = torch.clamp(c1(h), 0, hi1)
                y = c2(t)
                sc = shortcut_a(h, planes) if down else h
                h = torch.clamp(torch.ops.quantized.add_relu(y, sc, so, 0), 0, hio)
            p = torch.quantize_per_tensor(F.adaptive_avg_pool2d(h.dequantize(), 1).flatten(1), s_pool, 0,
                                          torch.quint8).dequantize()
            return F.linear(p, fw.float() * s_fw, fb.double().mul(s_pool * s_fw).float())

    return forward, fz


def export_qdq(q, fz, path, meta):
    """The QDQ ONNX file of the module docstring (opset 13), checked."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes, inits, bits = [], [], {}

    def const(name, arr, dtype):
        inits.append(numpy_helper.from_array(np.asarray(arr, dtype=dtype), name))
        return name

    def scalar(name, v):
        return const(name, np.float32(v), np.float32)

    def quant(x, name, s, zp, lsq=None):
        """QuantizeLinear/DequantizeLinear at 8 bits, or at `lsq`'s width (unsigned, after a ReLU)
        with the Clip [0, qp*s] of the docstring's convention."""
        lo, hi, nbits = (None, None, 8) if lsq is None else (0.0, lsq.qp * s, lsq.bits)
        src = x
        if lo is not None:
            nodes.append(helper.make_node("Clip", [x, scalar(name + "_lo", lo), scalar(name + "_hi", hi)],
                                          [name + "_clip"], name=name + "_clip"))
            src = name + "_clip"
        sn, zn = scalar(name + "_scale", s), const(name + "_zp", np.uint8(zp), np.uint8)
        nodes.append(helper.make_node("QuantizeLinear", [src, sn, zn], [name + "_q"], name=name + "_q"))
        nodes.append(helper.make_node("DequantizeLinear", [name + "_q", sn, zn], [name + "_dq"], name=name + "_dq"))
        bits[name + "_q"] = nbits
        return name + "_dq"

    def weights(name, s_x, wbits, stride=None, x=None, gemm=False):
        wi, s_w, bi = fz.layers[name]
        wn = const(name + "_w", wi.numpy().astype(np.int8), np.int8)
        bn = const(name + "_b", bi.numpy().astype(np.int32), np.int32)
        ws, bs = scalar(name + "_w_scale", s_w), scalar(name + "_b_scale", s_x * s_w)
        wz, bz = const(name + "_w_zp", np.int8(0), np.int8), const(name + "_b_zp", np.int32(0), np.int32)
        nodes.append(helper.make_node("DequantizeLinear", [wn, ws, wz], [name + "_wf"], name=name + "_wdq"))
        nodes.append(helper.make_node("DequantizeLinear", [bn, bs, bz], [name + "_bf"], name=name + "_bdq"))
        bits[wn] = wbits
        if gemm:
            nodes.append(helper.make_node("Gemm", [x, name + "_wf", name + "_bf"], ["logits"], name=name,
                                          transB=1))
            return "logits"
        nodes.append(helper.make_node("Conv", [x, name + "_wf", name + "_bf"], [name + "_y"], name=name,
                                      kernel_shape=[3, 3], strides=[stride, stride], pads=[1, 1, 1, 1]))
        return name + "_y"

    def relu(x, name):
        nodes.append(helper.make_node("Relu", [x], [name], name=name))
        return name

    a = quant("input", "in", fz.s_in, 128)
    s_stem = fz.scales["stem"]
    a = quant(relu(weights("stem", fz.s_in, q.stem.wq.bits, 1, a), "stem_relu"), "stem_a", s_stem, 0, q.qstem)
    s_x = s_stem
    for i, (m, (down, planes)) in enumerate(zip(q.blocks, q.meta)):
        pre = "block%d" % i
        s1, s2, so = act_scale(m["q1"]), act_scale(m["q2"]), act_scale(m["qo"])
        h = quant(relu(weights(pre + ".conv1", s_x, m["c1"].wq.bits, m["c1"].stride, a), pre + ".relu1"),
                  pre + ".a1", s1, 0, m["q1"])
        y = quant(weights(pre + ".conv2", s1, m["c2"].wq.bits, 1, h), pre + ".y", s2, 128)
        sc = a
        if down:
            p = planes // 4
            nodes.append(helper.make_node(
                "Slice", [a, const(pre + "_st", [0, 0], np.int64), const(pre + "_en", [1 << 30, 1 << 30], np.int64),
                          const(pre + "_ax", [2, 3], np.int64), const(pre + "_sp", [2, 2], np.int64)],
                [pre + ".sub"], name=pre + ".sub"))
            nodes.append(helper.make_node("Pad", [pre + ".sub", const(pre + "_pads", [0, p, 0, 0, 0, p, 0, 0], np.int64)],
                                          [pre + ".pad"], name=pre + ".pad", mode="constant"))
            sc = pre + ".pad"
        nodes.append(helper.make_node("Add", [y, sc], [pre + ".add"], name=pre + ".add"))
        a = quant(relu(pre + ".add", pre + ".relu2"), pre + ".out", so, 0, m["qo"])
        s_x = so
    nodes.append(helper.make_node("GlobalAveragePool", [a], ["pool"], name="pool"))
    p = quant("pool", "pool_a", fz.scales["pool"], 0)
    nodes.append(helper.make_node("Flatten", [p], ["flat"], name="flatten", axis=1))
    weights("fc", fz.scales["pool"], q.fcq.bits, x="flat", gemm=True)
    graph = helper.make_graph(nodes, "resnet_quant", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="peregrine")
    model.ir_version = 7
    meta = dict(meta)
    meta["peregrine.bits"] = ",".join("%s=%d" % kv for kv in sorted(bits.items()))
    for k, v in meta.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, path)


# ---- main ----------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depth", type=int, default=20, choices=(20, 32))
    ap.add_argument("--act-bits", type=int, default=4)
    ap.add_argument("--weight-bits", type=int, default=4)
    ap.add_argument("--first-weight-bits", type=int, default=8)
    ap.add_argument("--last-weight-bits", type=int, default=8)
    ap.add_argument("--bits-config", default="",
                    help="JSON {\"weight_bits\": {layer: bits}, \"act_bits\": {quantiser: bits}}: per-layer widths "
                         "overriding the uniform ones (python/mixed_precision.py writes it)")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--lr", type=float, default=0.0005)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--warmup", type=float, default=0.0, help="epochs of linear warm-up to --lr (then cosine)")
    ap.add_argument("--kd", type=float, default=0.0, help="weight of the distillation loss (float teacher)")
    ap.add_argument("--from", dest="from_ckpt", default="",
                    help="start from this checkpoint's weights and steps with a fresh schedule (a second stage)")
    add_run_args(ap, "/tmp/peregrine_quant.pt")
    args = ap.parse_args()

    seed_all(args.threads)
    wd = load_float_weights(args.depth)
    bits_config = load_bits_config(args.bits_config)
    q = QResNet(args.depth, wd, args.act_bits, args.weight_bits, args.first_weight_bits, args.last_weight_bits,
                bits_config)
    teacher = FloatResNet(QResNet(args.depth, wd, args.act_bits, args.weight_bits, args.first_weight_bits,
                                  args.last_weight_bits))
    for p in teacher.parameters():
        p.requires_grad_(False)
    x_te_u8, y_te = load_test()
    x_te, y_te = standardise(x_te_u8), torch.from_numpy(y_te)
    acc_float = evaluate(teacher, x_te[:1000], y_te[:1000])
    x_u8, y = load_train(args.cache)
    x_all = standardise(np.ascontiguousarray(x_u8.transpose(0, 3, 1, 2)))
    y_all = torch.from_numpy(y)
    start = 0
    if (args.resume or args.export) and os.path.exists(args.ckpt):
        ck = torch.load(args.ckpt)
        check_ckpt_bits(ck, q, args.ckpt)
        q.load_state_dict(ck["model"])
        start = ck["epoch"]
    elif args.from_ckpt:
        ck_from = torch.load(args.from_ckpt)
        check_ckpt_bits(ck_from, q, args.from_ckpt)
        q.load_state_dict(ck_from["model"])
    else:  # LSQ initialisation of the activation steps on one training batch
        q.train()
        with torch.no_grad():
            q(x_all[:256])
        print("fake-quant top-1 after the LSQ initialisation: %.4f" % evaluate(q, x_te[:1000], y_te[:1000]), flush=True)
    print("float (BN folded) top-1 on the first 1000 lossless test images: %.4f" % acc_float, flush=True)
    if not args.export:
        steps = math.ceil(x_all.shape[0] / args.batch)
        total = max(1, args.epochs * steps)
        opt = torch.optim.SGD(q.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=0)
        if args.resume and os.path.exists(args.ckpt):
            opt.load_state_dict(ck["opt"])
        gen = torch.Generator().manual_seed(1)
        for epoch in range(start, args.epochs):
            q.train()
            t0, seen, loss_sum = time.time(), 0, 0.0
            for b, idx, xb in epoch_batches(x_all, epoch, args.batch, args.limit_batches, gen):
                step, warm = epoch * steps + b, int(args.warmup * steps)
                for g in opt.param_groups:
                    g["lr"] = (args.lr * (step + 1) / warm if step < warm else
                               0.5 * args.lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm))))
                out = q(xb)
                loss = F.cross_entropy(out, y_all[idx])
                if args.kd > 0:
                    with torch.no_grad():
                        t = teacher(xb)
                    loss = loss + args.kd * F.kl_div(F.log_softmax(out, 1), F.softmax(t, 1), reduction="batchmean")
                opt.zero_grad()
                loss.backward()
                opt.step()
                seen += idx.numel()
                loss_sum += loss.item() * idx.numel()
                if b % 20 == 0:
                    print("  batch %d loss %.4f" % (b, loss.item()), flush=True)
            acc = evaluate(q, x_te[:1000], y_te[:1000])
            print("epoch %d/%d loss %.4f fake-quant test %.4f (%.0f s)" %
                  (epoch + 1, args.epochs, loss_sum / max(1, seen), acc, time.time() - t0), flush=True)
            torch.save({"model": q.state_dict(), "opt": opt.state_dict(), "epoch": epoch + 1,
                        "bits": q.bit_widths()}, args.ckpt)
        start = args.epochs

    acc_fq = evaluate(q, x_te[:1000], y_te[:1000])
    fwd, fz = build_torch_quantised(q)
    with torch.no_grad():
        ql = torch.cat([fwd(x_te[k:k + 250]) for k in range(0, 1000, 250)])
    acc_tq = (ql.argmax(1) == y_te[:1000]).float().mean().item()
    q.eval()
    stem = args.out[:-len(".onnx")]
    meta = cifar_metadata(
        MEAN, STD,
        "Peregrine python/train_quant.py --depth %d --act-bits %d --weight-bits %d --first-weight-bits %d "
        "--last-weight-bits %d%s --epochs %d (LSQ QAT from the akamaster float weights)" % (
            args.depth, args.act_bits, args.weight_bits, args.first_weight_bits, args.last_weight_bits,
            " --bits-config " + os.path.basename(args.bits_config) if args.bits_config else "", start),
        acc_tq, "%.4f on the first 1000 lossless CIFAR-10 test images (PyTorch quantised, onednn); "
                "float %.4f, fake-quant %.4f" % (acc_tq, acc_float, acc_fq))
    export_qdq(q, fz, args.out, meta)
    ql[:32].numpy().astype("<f4").tofile(stem + ".ref_logits_first32.f32")
    with torch.no_grad():
        q(x_te[:32]).numpy().astype("<f4").tofile(stem + ".fakequant_logits_first32.f32")
    agree = (ql.argmax(1) == evaluate_logits(q, x_te[:1000]).argmax(1)).float().mean().item()
    print("top-1 on the first 1000 lossless test images: float %.4f, fake-quant %.4f, PyTorch quantised %.4f "
          "(fake-quant/quantised top-1 agreement %.4f)" % (acc_float, acc_fq, acc_tq, agree), flush=True)


def check_ckpt_bits(ck, q, path):
    """A checkpoint saved with other bit widths cannot continue this model (older checkpoints carry no
    widths and are not checked)."""
    if "bits" in ck and ck["bits"] != q.bit_widths():
        raise SystemExit("%s was trained with other bit widths than this model's (--bits-config?)" % path)


def evaluate_logits(model, x):
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[k:k + 250]) for k in range(0, x.shape[0], 250)])


if __name__ == "__main__":
    sys.exit(main())
