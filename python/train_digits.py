#!/usr/bin/python3
"""Train Peregrine's bundled default model: a small CNN on scikit-learn's 8x8 digits.

Peregrine ships one model that it trains itself, so that ``peregrine run`` has a
default model and a default input on any fresh machine.  The data come from a Debian
package, not from the network: ``sklearn.datasets.load_digits`` (python3-sklearn)
bundles 1797 8x8 grayscale digits with integer pixels 0..16.  They are the test part
of the UCI "Optical Recognition of Handwritten Digits" (optdigits) data set by
E. Alpaydin and C. Kaynak (CC BY 4.0); scikit-learn is BSD-3-Clause.

What the script does:

1. Loads the digits and converts pixels to uint8 0..255 as round(v*255/16)
   (round half up; only v=8 -> 127.5 -> 128 is a tie).  Splits them into train/test
   with ``train_test_split(test_size=0.25, random_state=0, stratify=labels)``
   (1347 train, 450 test).
2. Trains a small CNN on [N,1,8,8] inputs preprocessed as (pixel/255 - mean)/std,
   mean and std computed on the train split (one channel):

       Conv 1->16 3x3 pad 1 -> BatchNorm -> ReLU
       Conv 16->32 3x3 pad 1 stride 2 -> BatchNorm -> ReLU      (32 x 4 x 4)
       Flatten (512) -> Linear 512->32 -> ReLU -> Linear 32->10

   CPU only, one thread, fixed seeds, deterministic algorithms, a fixed number of
   epochs of Adam; no early stopping, so the test split is used only for reporting.
3. Exports to ONNX opset 13 (eval mode, constant folding, which folds each BatchNorm2d
   into its Conv): input ``input`` float32 [1,1,8,8], output ``logits`` float32 [1,10].
   Adds ``metadata_props`` in the same convention as the shared models in
   /work/shared/data/onnx (pixel_scale, mean, std, labels, dataset, preprocess,
   source, top1_measured, plus top1 with the same value) and runs onnx.checker.
4. Writes, into ``models/`` at the repository root:
     digits_cnn.onnx                       the model
     digits-test-images-idx3-ubyte         test split, MNIST idx3 format (magic 2051, n, 8, 8, uint8)
     digits-test-labels-idx1-ubyte         test labels, MNIST idx1 format (magic 2049, n, uint8)
     digits_cnn.ref_logits_first32.f32     float32 LE [32,10], torch logits of test images 0..31
     digit_sample.png                      test image 0 as an 8x8 grayscale PNG
   (models/README.md is written by hand and describes these files.)

Re-running gives byte-identical files with the same Debian packages
(python3-torch 1.13, python3-onnx 1.12, python3-sklearn 1.2, python3-pil 9.4).

Usage (Debian's interpreter, not a pyenv/venv one):
    /usr/bin/python3 python/train_digits.py [--out models]
"""

import argparse
import os
import random
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn

SEED = 0
EPOCHS = 40
BATCH = 32
LR = 2e-3
PIXEL_SCALE = 1.0 / 255.0


def set_determinism():
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False


def load_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    v = d.images  # float64 [1797,8,8], integers 0..16
    # round half up (only v=8 gives an exact tie: 127.5 -> 128)
    pixels = np.floor(v * 255.0 / 16.0 + 0.5).astype(np.uint8)
    labels = d.target.astype(np.uint8)
    x_tr, x_te, y_tr, y_te = train_test_split(
        pixels, labels, test_size=0.25, random_state=0, stratify=labels)
    return x_tr, x_te, y_tr, y_te


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, stride=1, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 10)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = self.relu(self.fc1(x))
        return self.fc2(x)


def preprocess(pixels_u8, mean, std):
    x = pixels_u8.astype(np.float32) * np.float32(PIXEL_SCALE)
    x = (x - np.float32(mean)) / np.float32(std)
    return torch.from_numpy(x[:, None, :, :].copy())


def train(model, x, y):
    g = torch.Generator().manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS)
    loss_fn = nn.CrossEntropyLoss()
    n = x.shape[0]
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(n, generator=g)
        total = 0.0
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * idx.numel()
        sched.step()
        if epoch % 10 == 9 or epoch == EPOCHS - 1:
            print(f"epoch {epoch + 1:3d}  train loss {total / n:.4f}")


def write_idx_images(path, imgs):
    n, h, w = imgs.shape
    with open(path, "wb") as f:
        f.write(struct.pack(">IIII", 2051, n, h, w))
        f.write(np.ascontiguousarray(imgs, dtype=np.uint8).tobytes())


def write_idx_labels(path, labels):
    with open(path, "wb") as f:
        f.write(struct.pack(">II", 2049, labels.shape[0]))
        f.write(np.ascontiguousarray(labels, dtype=np.uint8).tobytes())


def write_png_gray(path, img):
    """8-bit grayscale PNG; Pillow if available, else a minimal hand-written PNG."""
    try:
        from PIL import Image
        Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8), mode="L").save(path, format="PNG")
        return
    except ImportError:
        pass
    h, w = img.shape

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(img[r].astype(np.uint8)) for r in range(h))
    png = (b"\x89PNG\r\n\x1a\n"
           + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9))
           + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def export_onnx(model, path, mean, std, top1, n_test):
    import onnx

    model.eval()
    dummy = torch.zeros(1, 1, 8, 8)
    torch.onnx.export(model, dummy, path, opset_version=13, do_constant_folding=True,
                      input_names=["input"], output_names=["logits"],
                      training=torch.onnx.TrainingMode.EVAL)
    m = onnx.load(path)
    top1_s = f"{top1:.4f}"
    meta = [
        ("dataset", "sklearn_digits_8x8"),
        ("preprocess", f"x/255 then (x-{mean})/{std}"),
        ("labels", ",".join(str(i) for i in range(10))),
        ("source", "Peregrine python/train_digits.py (trained here, seed 0) on scikit-learn "
                   "load_digits = UCI optdigits test part (Alpaydin & Kaynak); "
                   "scikit-learn BSD-3-Clause, UCI dataset CC BY 4.0"),
        ("top1_measured", top1_s),
        ("top1", top1_s),
        ("top1_n", str(n_test)),
        ("pixel_scale", repr(PIXEL_SCALE)),
        ("mean", str(mean)),
        ("std", str(std)),
    ]
    del m.metadata_props[:]
    for k, v in meta:
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "models"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    set_determinism()
    x_tr, x_te, y_tr, y_te = load_data()
    print(f"train {len(y_tr)}  test {len(y_te)}")

    # mean/std of pixel/255 over the train split (one channel), rounded to 4 decimals so
    # the metadata strings are exact; training and reference logits use these exact values
    f = x_tr.astype(np.float64) * PIXEL_SCALE
    mean = round(float(f.mean()), 4)
    std = round(float(f.std()), 4)
    print(f"mean {mean}  std {std}")

    xt, yt = preprocess(x_tr, mean, std), torch.from_numpy(y_tr.astype(np.int64))
    xe, ye = preprocess(x_te, mean, std), torch.from_numpy(y_te.astype(np.int64))

    model = DigitsCNN()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters {n_params}")
    train(model, xt, yt)

    model.eval()
    with torch.no_grad():
        logits = model(xe)
    top1 = float((logits.argmax(1) == ye).float().mean())
    print(f"test top-1 {top1:.4f} ({int((logits.argmax(1) == ye).sum())}/{len(ye)})")
    if top1 < 0.97:
        print("warning: test accuracy below 0.97", file=sys.stderr)

    onnx_path = os.path.join(args.out, "digits_cnn.onnx")
    m = export_onnx(model, onnx_path, mean, std, top1, len(ye))
    print("ops:", [n.op_type for n in m.graph.node])

    # reference logits: batch-1 forward, as the exported graph is evaluated
    with torch.no_grad():
        ref = torch.cat([model(xe[i:i + 1]) for i in range(32)]).numpy().astype("<f4")
    ref.tofile(os.path.join(args.out, "digits_cnn.ref_logits_first32.f32"))

    write_idx_images(os.path.join(args.out, "digits-test-images-idx3-ubyte"), x_te)
    write_idx_labels(os.path.join(args.out, "digits-test-labels-idx1-ubyte"), y_te)
    write_png_gray(os.path.join(args.out, "digit_sample.png"), x_te[0])
    print(f"test image 0 has label {int(y_te[0])}")
    for name in sorted(os.listdir(args.out)):
        print(f"{os.path.getsize(os.path.join(args.out, name)):8d}  {name}")


if __name__ == "__main__":
    main()
