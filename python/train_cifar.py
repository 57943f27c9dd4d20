#!/usr/bin/python3
"""Train an efficient CIFAR-10 network for Peregrine and export it as ONNX with reference logits.

Networks (``--arch``):
  mobilenetv2      torchvision's MobileNetV2 (inverted residuals, ReLU6, depthwise 3x3) at width
                   ``--width`` with the stem convolution at stride 1 for 32x32 inputs, so that the
                   depthwise layers run at 32x32 ... 2x2 (torchvision's block strides 1,2,2,2,1,2,1
                   after the stem), and a 10-way classifier.
  efficientnet_b0  torchvision's EfficientNet-B0 blocks (MBConv 3x3/5x5 with squeeze-and-excitation)
                   at ``--width`` / ``--depth``, stem at stride 1, with SiLU replaced by ReLU6 and the
                   SE gate's Sigmoid by Hardsigmoid (both piecewise linear, exact on shares).

Data: ``../shared/data/cifar10/train_jpeg_50000.bin`` (50,000 JPEG records: label byte,
uint32 LE length, JPEG bytes), decoded once with Pillow into a uint8 cache next to the checkpoint.
Test: the 1017 lossless test images ``test_batch_first1017_lossless.bin`` (accuracy on the first
1000 is what models/README.md reports).

Training: SGD with Nesterov momentum 0.9, weight decay 4e-5 (5e-4 on no parameter: MobileNet's
usual small decay), label smoothing 0.1, batch 128, cosine schedule from ``--lr`` over
``--epochs`` with one warm-up epoch, random crop (4-pixel zero pad) + horizontal flip, inputs
standardised per channel with the CIFAR-10 mean/std. CPU only (``--threads``), seed fixed.
Checkpoints after every epoch (``--ckpt``); ``--resume`` continues from one. Long runs belong in
the background: ``nice -n 10 /usr/bin/python3 python/train_cifar.py ... > log 2>&1 &``.

Export (``--export``, also done at the end of training): ONNX opset 13, input ``input`` float32
[1,3,32,32], output ``logits`` [1,10], BatchNorm folded into the convolutions by constant
folding, metadata_props in the convention of ../shared/data/onnx (pixel_scale, mean, std, labels,
dataset, preprocess, source, top1, top1_measured), and ``<name>.ref_logits_first32.f32`` (float32
LE [32,10], the torch logits of lossless test images 0..31).

Usage: /usr/bin/python3 python/train_cifar.py --arch mobilenetv2 --width 0.5 --epochs 30 \
          --out models/mobilenetv2_cifar10.onnx --ckpt /tmp/mnv2.pt
"""

import argparse
import io
import math
import os
import random
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
LABELS = "airplane,automobile,bird,cat,deer,dog,frog,horse,ship,truck"


def shared_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "shared", "data"))


def load_train(cache):
    """All 50,000 training images as uint8 [N,32,32,3] and labels [N] (decoded once, cached)."""
    if cache and os.path.exists(cache):
        d = np.load(cache)
        return d["x"], d["y"]
    from PIL import Image
    path = os.path.join(shared_dir(), "cifar10", "train_jpeg_50000.bin")
    xs, ys = [], []
    with open(path, "rb") as f:
        data = f.read()
    off = 0
    while off < len(data):
        label = data[off]
        (n,) = struct.unpack_from("<I", data, off + 1)
        if n > 1 << 16 or off + 5 + n > len(data):
            raise ValueError("bad record at offset %d" % off)
        img = Image.open(io.BytesIO(data[off + 5:off + 5 + n])).convert("RGB")
        xs.append(np.asarray(img, dtype=np.uint8))
        ys.append(label)
        off += 5 + n
    x, y = np.stack(xs), np.array(ys, dtype=np.int64)
    if x.shape != (50000, 32, 32, 3):
        raise ValueError("unexpected training set shape %s" % (x.shape,))
    if cache:
        np.savez(cache, x=x, y=y)
    return x, y


def load_test(n=1017):
    path = os.path.join(shared_dir(), "cifar10", "test_batch_first1017_lossless.bin")
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)[:n]
    return raw[:, 1:].reshape(-1, 3, 32, 32), raw[:, 0].astype(np.int64)  # CHW


def standardise_chw(x_u8):
    x = torch.from_numpy(x_u8.astype(np.float32) / 255.0)
    m = torch.tensor(MEAN).view(1, 3, 1, 1)
    s = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - m) / s


def add_run_args(ap, ckpt):
    """The options every training script here shares (threads, checkpoint, data cache, resume,
    export only, timing runs, output)."""
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ckpt", default=ckpt)
    ap.add_argument("--cache", default="/tmp/peregrine_cifar10_train_u8.npz")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--export", action="store_true", help="only export the checkpoint")
    ap.add_argument("--limit-batches", type=int, default=0, help="stop each epoch after this many (timing)")
    ap.add_argument("--out", required=True)


def seed_all(threads):
    """CPU threads and every seed (0): runs are repeatable on one machine."""
    torch.set_num_threads(threads)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def build(arch, width, depth=1.0):
    if arch == "mobilenetv2":
        from torchvision.models import mobilenet_v2
        m = mobilenet_v2(num_classes=10, width_mult=width)
        m.features[0][0].stride = (1, 1)  # 32x32 inputs: stem at stride 1
        return m
    if arch == "efficientnet_b0":
        from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf
        setting, last = _efficientnet_conf("efficientnet_b0", width_mult=width, depth_mult=depth)
        m = EfficientNet(setting, dropout=0.2, num_classes=10, last_channel=last)
        m.features[0][0].stride = (1, 1)
        swap_activations(m)
        return m
    raise ValueError("unknown arch " + arch)


def swap_activations(module):
    """SiLU -> ReLU6 and the squeeze-and-excitation Sigmoid -> Hardsigmoid (clip(x/6 + 1/2, 0, 1)):
    piecewise-linear activations that Peregrine computes exactly on shares."""
    for name, child in module.named_children():
        if isinstance(child, nn.SiLU):
            setattr(module, name, nn.ReLU6(inplace=True))
        elif isinstance(child, nn.Sigmoid):
            setattr(module, name, nn.Hardsigmoid())
        else:
            swap_activations(child)


def augment(xb, gen):
    """Random crop with 4-pixel zero padding and horizontal flip on a standardised batch."""
    n = xb.shape[0]
    padded = F.pad(xb, (4, 4, 4, 4))
    i = torch.randint(0, 9, (n,), generator=gen)
    j = torch.randint(0, 9, (n,), generator=gen)
    out = torch.empty_like(xb)
    for k in range(n):
        out[k] = padded[k, :, i[k]:i[k] + 32, j[k]:j[k] + 32]
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def epoch_batches(x_all, epoch, batch, limit, gen):
    """(b, idx, augmented batch) over one epoch: a fixed permutation per epoch (seed 100 + epoch),
    at most `limit` batches (0: all)."""
    perm = torch.randperm(x_all.shape[0], generator=torch.Generator().manual_seed(100 + epoch))
    steps = math.ceil(x_all.shape[0] / batch)
    for b in range(min(steps, limit) if limit else steps):
        idx = perm[b * batch:(b + 1) * batch]
        yield b, idx, augment(x_all[idx], gen)


def evaluate(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for k in range(0, x.shape[0], 256):
            correct += (model(x[k:k + 256]).argmax(1) == y[k:k + 256]).sum().item()
    return correct / x.shape[0]


def export_onnx(model, path, input_shape, meta):
    """ONNX opset 13 (input ``input``, output ``logits``, constant folding) with ``meta`` as
    metadata_props, checked. Shared with export_imagenet.py."""
    import onnx
    model.eval()
    torch.onnx.export(model, torch.zeros(*input_shape), path, opset_version=13, do_constant_folding=True,
                      input_names=["input"], output_names=["logits"])
    m = onnx.load(path)
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, path)


def cifar_metadata(mean, std, source, top1, top1_measured):
    """metadata_props of a CIFAR-10 model in the convention of ../shared/data/onnx."""
    return {
        "pixel_scale": "0.00392156862745098",
        "mean": ",".join("%g" % v for v in mean),
        "std": ",".join("%g" % v for v in std),
        "labels": LABELS,
        "dataset": "cifar10",
        "preprocess": "x/255, then (x - mean)/std per channel; CHW",
        "source": source,
        "top1": "%.4f" % top1,
        "top1_measured": top1_measured,
    }


def export(model, path, top1, n_top1, arch, width, depth, epochs):
    meta = cifar_metadata(MEAN, STD, "Peregrine python/train_cifar.py --arch %s --width %g --depth %g --epochs %d" % (
        arch, width, depth, epochs), top1, "%.4f on the first %d lossless CIFAR-10 test images" % (top1, n_top1))
    export_onnx(model, path, (1, 3, 32, 32), meta)
    x, _ = load_test(32)
    with torch.no_grad():
        ref = model(standardise_chw(x)).numpy().astype("<f4")
    ref.tofile(path[:-len(".onnx")] + ".ref_logits_first32.f32")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="mobilenetv2")
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--depth", type=float, default=1.0, help="efficientnet_b0: depth multiplier")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--batch", type=int, default=128)
    add_run_args(ap, "/tmp/peregrine_train.pt")
    args = ap.parse_args()

    seed_all(args.threads)
    model = build(args.arch, args.width, args.depth)
    x_te_u8, y_te = load_test()
    x_te, y_te = standardise_chw(x_te_u8), torch.from_numpy(y_te)
    start = 0
    if (args.resume or args.export) and os.path.exists(args.ckpt):
        ck = torch.load(args.ckpt)
        model.load_state_dict(ck["model"])
        start = ck["epoch"]
    if args.export:
        export(model, args.out, evaluate(model, x_te[:1000], y_te[:1000]), 1000, args.arch, args.width, args.depth, start)
        return

    x_u8, y = load_train(args.cache)
    x_all = standardise_chw(np.ascontiguousarray(x_u8.transpose(0, 3, 1, 2)))
    y_all = torch.from_numpy(y)
    decay, no_decay = [], []
    for n_, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 4e-5}, {"params": no_decay, "weight_decay": 0}],
                          lr=args.lr, momentum=0.9, nesterov=True)
    steps_per_epoch = math.ceil(x_all.shape[0] / args.batch)
    total = args.epochs * steps_per_epoch

    def lr_at(step):
        if step < steps_per_epoch:
            return args.lr * (step + 1) / steps_per_epoch
        return 0.5 * args.lr * (1 + math.cos(math.pi * (step - steps_per_epoch) / max(1, total - steps_per_epoch)))

    if args.resume and os.path.exists(args.ckpt):
        opt.load_state_dict(ck["opt"])
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    gen = torch.Generator().manual_seed(1)
    for epoch in range(start, args.epochs):
        model.train()
        t0, seen, loss_sum = time.time(), 0, 0.0
        for b, idx, xb in epoch_batches(x_all, epoch, args.batch, args.limit_batches, gen):
            for g in opt.param_groups:
                g["lr"] = lr_at(epoch * steps_per_epoch + b)
            opt.zero_grad()
            loss = loss_fn(model(xb), y_all[idx])
            loss.backward()
            opt.step()
            seen += idx.numel()
            loss_sum += loss.item() * idx.numel()
        acc = evaluate(model, x_te[:1000], y_te[:1000])
        print("epoch %d/%d loss %.4f test %.4f (%.0f s, %.1f img/s)" %
              (epoch + 1, args.epochs, loss_sum / max(1, seen), acc, time.time() - t0, seen / (time.time() - t0)),
              flush=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch + 1}, args.ckpt)
    export(model, args.out, evaluate(model, x_te[:1000], y_te[:1000]), 1000, args.arch, args.width, args.depth,
           args.epochs)


if __name__ == "__main__":
    sys.exit(main())
