#!/usr/bin/python3
"""Export torchvision's ImageNet classifiers for Peregrine (issue 16), with random weights whose
BatchNorm statistics are recalibrated on real images, and the inputs and float logits to check
private runs against.

Models (``--models``, default all): resnet50, resnet18, squeezenet1_1, mobilenet_v2, densenet121,
efficientnet_b0 — torchvision (Debian python3-torchvision), ``weights=None`` (no download), 1000
classes, seed fixed per model.

Images: CIFAR-10 test images from ../shared/data (the lossless batch), upsampled 32x32 -> 224x224
bilinearly and rounded to uint8, so that every consumer sees the same pixels: images 100..355
recalibrate BatchNorm (train mode, cumulative averages, no gradients), images 0..15 are written
as ``cifar10_224_u8.npy`` (uint8 [16,224,224,3], HWC as PIL and numpy give it) for
``--input`` / ``--calib`` of ``peregrine run|eval|bench``.

Per model ``<name>.onnx``: ONNX opset 13, input ``input`` float32 [1,3,224,224], output ``logits``
[1,1000], BatchNorm folded by constant folding where it follows a convolution, metadata_props in
the convention of ../shared/data/onnx (pixel_scale, mean, std = ImageNet's; preprocess; source),
and ``<name>.ref_logits_first16.f32`` (float32 LE [16,1000]: the torch logits of the 16 images).
Model files are tens of MB: they are not committed; this script regenerates them (a few minutes
on two cores; ``--threads``).

Usage: /usr/bin/python3 python/export_imagenet.py --out build/imagenet [--models resnet18,...]
"""

import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_cifar import export_onnx, load_test  # noqa: E402  (ONNX writer; the lossless CIFAR-10 test images)

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
MODELS = ["resnet50", "resnet18", "squeezenet1_1", "mobilenet_v2", "densenet121", "efficientnet_b0"]


def upsample_u8(x_chw_u8, size=224):
    """uint8 [N,3,32,32] -> uint8 [N,3,size,size], bilinear, rounded."""
    x = torch.from_numpy(x_chw_u8.astype(np.float32))
    y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8).numpy()


def standardise(x_u8):
    x = torch.from_numpy(x_u8.astype(np.float32) / 255.0)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def build(name, seed):
    import torchvision
    torch.manual_seed(seed)
    return getattr(torchvision.models, name)(weights=None, num_classes=1000)


def recalibrate_bn(model, images_u8, batch):
    """BatchNorm running statistics from the images (train mode, cumulative average)."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(0, len(images_u8), batch):
            model(standardise(images_u8[i:i + batch]))
    model.eval()


def export(model, name, out_dir, images_u8):
    path = os.path.join(out_dir, name + ".onnx")
    meta = {
        "pixel_scale": "0.00392156862745098",
        "mean": ",".join("%g" % v for v in MEAN),
        "std": ",".join("%g" % v for v in STD),
        "preprocess": "x/255, then (x - mean)/std per channel; CHW; 224x224 (CIFAR-10 upsampled bilinearly)",
        "source": "Peregrine python/export_imagenet.py: torchvision %s, random weights, BatchNorm "
                  "recalibrated on 256 upsampled CIFAR-10 test images" % name,
    }
    export_onnx(model, path, (1, 3, 224, 224), meta)
    with torch.no_grad():
        ref = torch.cat([model(standardise(images_u8[i:i + 4])) for i in range(0, len(images_u8), 4)])
    ref.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".ref_logits_first16.f32"))
    return path, ref


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated, from: " + ",".join(MODELS))
    ap.add_argument("--calib-images", type=int, default=256, help="images for the BatchNorm statistics")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    names = [n for n in args.models.split(",") if n]
    for n in names:
        if n not in MODELS:
            ap.error("unknown model %r" % n)

    x, _ = load_test(100 + args.calib_images)
    run_u8 = upsample_u8(x[:16])
    calib_u8 = upsample_u8(x[100:100 + args.calib_images])
    np.save(os.path.join(args.out, "cifar10_224_u8.npy"), np.ascontiguousarray(run_u8.transpose(0, 2, 3, 1)))
    for k, name in enumerate(names):
        t0 = time.time()
        model = build(name, seed=1000 + MODELS.index(name))
        recalibrate_bn(model, calib_u8, batch=16)
        path, ref = export(model, name, args.out, run_u8)
        top = ref.argmax(1).tolist()
        print("%s: %s (%.1f MB), %.0f s; float top-1 of the 16 images %s" % (
            name, path, os.path.getsize(path) / 1e6, time.time() - t0, top), flush=True)


if __name__ == "__main__":
    main()
