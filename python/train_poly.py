#!/usr/bin/python3
"""x^2+x ResNets for Flash-style private inference: layer-by-layer ReLU -> x^2+x replacement.

Issue 20 (TECHNIQUES.md §5.7, reconstruction). Starting from the shipped akamaster ResNet-20/32
(../shared/data/models/cifar10_resnet{20,32}_akamaster, weights_f32.bin + manifest) this script

1. builds the network with its BatchNorms kept (trained; pre-activations stay O(1)),
2. replaces the activations one stage at a time, in network order (the stem's, then per residual
   block its inner one and its output one: --per-stage activations per stage), each new x^2+x
   initialised by halving the BatchNorm in front of it (x = u/2 gives u^2/4 + u/2, ReLU(u) up to a
   constant on |u| <= 1),
3. after each replacement fine-tunes --stage-batches batches with cross entropy, distillation from
   the ReLU teacher (--kd, KL on the logits), an MSE between the residual blocks' outputs and the
   teacher's (--feat, the Sisyphus remedy against escaping activations; Garimella et al., arXiv
   2107.12342) and a penalty on pre-activations beyond --range (--range-penalty), with Adam and
   gradient-norm clipping at 1.0,
4. fine-tunes the all-x^2+x network --final-epochs epochs (cosine learning rate),
5. folds every BatchNorm into its convolution and exports ONNX opset 13 in which each activation is
   Add(Mul(x, x), x) -- the pattern Peregrine's importer lowers to one square and one add -- with the
   PyTorch logits of lossless test images 0..31 beside it (.ref_logits_first32.f32) and each
   activation's recorded pre-activation range (max |x| over the first 1000 lossless test images and
   2048 training images) as .ranges.json and in metadata_props "peregrine.preact_max".

Runs on CPU (--threads), in the background, checkpointing after every stage and epoch (--resume):

  nice -n 10 /usr/bin/python3 python/train_poly.py --depth 20 --out models/resnet20_cifar10_poly.onnx \
      --ckpt /tmp/poly20.pt > /tmp/poly20.log 2>&1 &
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_cifar import add_run_args, cifar_metadata, epoch_batches, evaluate, export_onnx, load_test, load_train, seed_all  # noqa: E402
from train_quant import MEAN, STD, akamaster_blocks, load_float_weights, shortcut_a, standardise  # noqa: E402


class Poly(nn.Module):
    """x^2 + x, element-wise."""

    def forward(self, x):
        return x * x + x


class StreamPoly(nn.Module):
    """u + a*u^2 = (x^2 + x)/a with x = a*u, for the activations on the residual stream (the stem's
    and every block output's). Squaring the stream as it is would compound block after block (the
    identity shortcut carries each output into the next square); the one scalar a, shared by all of
    them and learned, keeps it near linear where it must be. Export folds a away (Folded): the
    stream is stored as s = x^2 + x, the convolutions reading it take 1/a, the ones writing into it a."""

    def __init__(self, a):
        super().__init__()
        self.a = a

    def forward(self, u):
        return u + self.a * u * u


def conv_bn(wd, conv, bn, stride):
    w = wd[conv + ".weight"]
    c = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], stride, w.shape[2] // 2, bias=False)
    c.weight.data.copy_(w)
    b = nn.BatchNorm2d(w.shape[0])
    for k in ("weight", "bias", "running_mean", "running_var"):
        getattr(b, k).data.copy_(wd[bn + "." + k])
    return c, b


class PolyResNet(nn.Module):
    """akamaster ResNet (conv -> BN -> activation, option-A shortcuts) whose activations are each
    ReLU or x^2+x (`self.acts`, in network order: stem, then per block a1 and out)."""

    def __init__(self, depth, wd):
        super().__init__()
        self.conv1, self.bn1 = conv_bn(wd, "conv1", "bn1", 1)
        self.blocks = nn.ModuleList()
        self.meta = []
        for pre, stride, down, planes in akamaster_blocks(depth):
            c1, b1 = conv_bn(wd, pre + ".conv1", pre + ".bn1", stride)
            c2, b2 = conv_bn(wd, pre + ".conv2", pre + ".bn2", 1)
            self.blocks.append(nn.ModuleDict({"c1": c1, "b1": b1, "c2": c2, "b2": b2}))
            self.meta.append((down, planes))
        self.fc = nn.Linear(64, 10)
        self.fc.weight.data.copy_(wd["linear.weight"])
        self.fc.bias.data.copy_(wd["linear.bias"])
        self.acts = nn.ModuleList([nn.ReLU() for _ in range(1 + 2 * len(self.blocks))])
        self.a = nn.Parameter(torch.tensor(0.05))  # StreamPoly's scale
        self.record = None  # list: pre-activation tensors of the last forward (for the range penalty)

    def bn_before(self, i):
        """The BatchNorm directly in front of activation i (for the block outputs: the residual
        branch's)."""
        if i == 0:
            return self.bn1
        return self.blocks[(i - 1) // 2]["b1" if (i - 1) % 2 == 0 else "b2"]

    @staticmethod
    def on_stream(i):
        return i == 0 or i % 2 == 0

    def act(self, i, x):
        if self.record is not None:  # the pre-activation the exported graph squares
            self.record.append(x * self.a if self.on_stream(i) and not isinstance(self.acts[i], nn.ReLU) else x)
        return self.acts[i](x)

    def forward(self, x, features=None):
        x = self.act(0, self.bn1(self.conv1(x)))
        for k, (m, (down, planes)) in enumerate(zip(self.blocks, self.meta)):
            h = self.act(1 + 2 * k, m["b1"](m["c1"](x)))
            y = m["b2"](m["c2"](h))
            x = self.act(2 + 2 * k, y + (shortcut_a(x, planes) if down else x))
            if features is not None:
                features.append(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class Folded(nn.Module):
    """The inference graph: BN folded into the convolutions, every activation x*x + x."""

    def __init__(self, net):
        super().__init__()
        self.convs = nn.ModuleList()
        self.meta = net.meta

        a = net.a.item()

        def fold(c, b, scale_in=1.0, scale_out=1.0):
            s = b.weight / torch.sqrt(b.running_var + b.eps)
            f = nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, bias=True)
            f.weight.data.copy_(c.weight * s.view(-1, 1, 1, 1) * (scale_in * scale_out))
            f.bias.data.copy_((b.bias - b.running_mean * s) * scale_out)
            return f

        self.convs.append(fold(net.conv1, net.bn1, scale_out=a))  # x = a*u on the stream
        for m in net.blocks:
            self.convs.append(fold(m["c1"], m["b1"], scale_in=1.0 / a))  # reads s = a*z
            self.convs.append(fold(m["c2"], m["b2"], scale_out=a))  # a*y + s = a*(y + z)
        self.fc = nn.Linear(64, 10)
        self.fc.weight.data.copy_(net.fc.weight / a)
        self.fc.bias.data.copy_(net.fc.bias)

    def forward(self, x):
        x = self.convs[0](x)
        x = x * x + x
        for k, (down, planes) in enumerate(self.meta):
            h = self.convs[1 + 2 * k](x)
            h = h * h + h
            y = self.convs[2 + 2 * k](h) + (shortcut_a(x, planes) if down else x)
            x = y * y + y
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def preact_max(net, x):
    """max |pre-activation| per activation over x (eval mode), as a list of floats."""
    net.eval()
    out = None
    with torch.no_grad():
        for k in range(0, x.shape[0], 256):
            net.record = []
            net(x[k:k + 256])
            m = [r.abs().max().item() for r in net.record]
            out = m if out is None else [max(a, b) for a, b in zip(out, m)]
    net.record = None
    return out


def make_act(net, i):
    return StreamPoly(net.a) if net.on_stream(i) else Poly()


def replace(net, i):
    """ReLU -> x^2+x at activation i; an inner one (not on the residual stream) with the BatchNorm
    in front of it halved."""
    net.acts[i] = make_act(net, i)
    if net.on_stream(i):
        return
    bn = net.bn_before(i)
    with torch.no_grad():
        bn.weight.mul_(0.5)
        bn.bias.mul_(0.5)


def train_steps(net, teacher, opt, batches, y_all, args, lr_of):
    """One pass over `batches` ((b, idx, xb) tuples); returns the mean loss."""
    net.train()
    tot, seen, skipped = 0.0, 0, 0
    for b, idx, xb in batches:
        for g in opt.param_groups:
            g["lr"] = lr_of(b)
        net.record = [] if args.range_penalty > 0 else None
        feats, tfeats = [], []
        out = net(xb, feats)
        with torch.no_grad():
            t = teacher(xb, tfeats)
        loss = F.cross_entropy(out, y_all[idx])
        if args.kd > 0:
            loss = loss + args.kd * F.kl_div(F.log_softmax(out, 1), F.softmax(t, 1), reduction="batchmean")
        if args.feat > 0:
            loss = loss + args.feat * sum(F.mse_loss(f, g) for f, g in zip(feats, tfeats)) / len(feats)
        if args.range_penalty > 0:
            # mean: over every element (weak on the rare escaping sample); max: over each sample's
            # largest |pre-activation| (aims at the escapes themselves).
            if args.range_mode == "max":
                pen = sum(F.relu(r.abs().flatten(1).amax(1) - args.range).pow(2).mean() for r in net.record)
            else:
                pen = sum(F.relu(r.abs() - args.range).pow(2).mean() for r in net.record)
            loss = loss + args.range_penalty * pen
        net.record = None
        opt.zero_grad()
        if not math.isfinite(loss.item()):  # an escaping batch: skip it rather than poison the weights
            skipped += 1
            print("  batch %d: loss not finite, skipped (%d so far)" % (b, skipped), flush=True)
            if skipped > 20:
                raise SystemExit("more than 20 batches with a non-finite loss: lower --lr or raise --range-penalty")
            continue
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        tot += loss.item() * idx.numel()
        seen += idx.numel()
        if b % 50 == 0:
            print("  batch %d loss %.4f" % (b, loss.item()), flush=True)
    return tot / max(1, seen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depth", type=int, default=20, choices=(20, 32))
    ap.add_argument("--per-stage", type=int, default=2, help="activations replaced per stage")
    ap.add_argument("--stage-batches", type=int, default=60, help="fine-tuning batches after each replacement")
    ap.add_argument("--final-epochs", type=float, default=3.0)
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--kd", type=float, default=1.0)
    ap.add_argument("--feat", type=float, default=0.5)
    ap.add_argument("--range", type=float, default=8.0, help="pre-activations beyond this are penalised")
    ap.add_argument("--range-penalty", type=float, default=0.01)
    ap.add_argument("--range-mode", choices=("mean", "max"), default="mean",
                    help="penalise every element beyond --range (mean) or each sample's largest (max)")
    add_run_args(ap, "/tmp/peregrine_poly.pt")
    args = ap.parse_args()

    seed_all(args.threads)
    wd = load_float_weights(args.depth)
    net = PolyResNet(args.depth, wd)
    teacher = PolyResNet(args.depth, wd).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    x_te_u8, y_te = load_test()
    x_te, y_te = standardise(x_te_u8), torch.from_numpy(y_te)
    acc_relu = evaluate(teacher, x_te[:1000], y_te[:1000])
    print("ReLU teacher top-1 on the first 1000 lossless test images: %.4f" % acc_relu, flush=True)
    x_u8, y = load_train(args.cache)
    x_all = standardise(np.ascontiguousarray(x_u8.transpose(0, 3, 1, 2)))
    y_all = torch.from_numpy(y)
    n_act = len(net.acts)
    stages = [list(range(i, min(n_act, i + args.per_stage))) for i in range(0, n_act, args.per_stage)]
    steps = math.ceil(x_all.shape[0] / args.batch)
    final_batches = int(round(args.final_epochs * steps))
    state = {"stage": 0, "final": 0}
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    if (args.resume or args.export) and os.path.exists(args.ckpt):
        ck = torch.load(args.ckpt)
        for i in range(n_act):
            if i in ck["poly"]:
                net.acts[i] = make_act(net, i)
        net.load_state_dict(ck["model"])
        opt = torch.optim.Adam(net.parameters(), lr=args.lr)
        opt.load_state_dict(ck["opt"])
        state = ck["state"]

    def save():
        torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "state": state,
                    "poly": [i for i in range(n_act) if not isinstance(net.acts[i], nn.ReLU)]}, args.ckpt)

    gen = torch.Generator().manual_seed(1)
    if not args.export:
        while state["stage"] < len(stages):
            s = state["stage"]
            t0 = time.time()
            for i in stages[s]:
                replace(net, i)
            opt = torch.optim.Adam(net.parameters(), lr=args.lr)
            batches = list(epoch_batches(x_all, 1000 + s, args.batch, args.stage_batches, gen))
            loss = train_steps(net, teacher, opt, batches, y_all, args, lambda b: args.lr)
            acc = evaluate(net, x_te[:1000], y_te[:1000])
            print("stage %d/%d (activations %s -> x^2+x) loss %.4f test %.4f (%.0f s)" %
                  (s + 1, len(stages), stages[s], loss, acc, time.time() - t0), flush=True)
            state["stage"] = s + 1
            save()
        epoch = 0
        while state["final"] < final_batches:
            t0 = time.time()
            done = state["final"]
            ep = done // steps
            left = min(steps - done % steps, final_batches - done)
            batches = [bt for bt in epoch_batches(x_all, 2000 + ep, args.batch, done % steps + left, gen)
                       if bt[0] >= done % steps]
            loss = train_steps(net, teacher, opt, batches, y_all, args,
                               lambda b: 0.5 * args.lr * (1 + math.cos(math.pi * (ep * steps + b) / final_batches)))
            state["final"] = done + left
            acc = evaluate(net, x_te[:1000], y_te[:1000])
            print("final fine-tuning %d/%d batches loss %.4f test %.4f (%.0f s)" %
                  (state["final"], final_batches, loss, acc, time.time() - t0), flush=True)
            save()
            epoch += 1

    net.eval()
    acc = evaluate(net, x_te[:1000], y_te[:1000])
    folded = Folded(net).eval()
    acc_folded = evaluate(folded, x_te[:1000], y_te[:1000])
    ranges_te = preact_max(net, x_te[:1000])
    ranges_tr = preact_max(net, x_all[:2048])
    ranges = [max(a, b) for a, b in zip(ranges_te, ranges_tr)]
    names = ["stem"] + ["block%d.%s" % (k, w) for k in range(len(net.blocks)) for w in ("a1", "out")]
    stem = args.out[:-len(".onnx")]
    meta = cifar_metadata(
        MEAN, STD,
        "Peregrine python/train_poly.py --depth %d --per-stage %d --stage-batches %d --final-epochs %g --kd %g "
        "--feat %g --range %g --range-penalty %g --range-mode %s (ReLU -> x^2+x layer by layer from the akamaster "
        "float weights)" % (args.depth, args.per_stage, args.stage_batches, args.final_epochs, args.kd, args.feat,
                            args.range, args.range_penalty, args.range_mode),
        acc_folded, "%.4f on the first 1000 lossless CIFAR-10 test images (BN folded; ReLU teacher %.4f)" % (
            acc_folded, acc_relu))
    meta["peregrine.preact_max"] = ",".join("%s=%.3f" % (n, r) for n, r in zip(names, ranges))
    export_onnx(folded, args.out, (1, 3, 32, 32), meta)
    with torch.no_grad():
        folded(x_te[:32]).numpy().astype("<f4").tofile(stem + ".ref_logits_first32.f32")
    with open(stem + ".ranges.json", "w") as f:
        json.dump({"preact_max": dict(zip(names, ranges)), "top1_first1000": acc_folded, "relu_top1_first1000": acc_relu},
                  f, indent=1)
    print("top-1 on the first 1000 lossless test images: ReLU %.4f, x^2+x %.4f (BN folded %.4f); "
          "max |pre-activation| %.2f" % (acc_relu, acc, acc_folded, max(ranges)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
