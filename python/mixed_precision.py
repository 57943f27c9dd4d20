#!/usr/bin/python3
"""Per-layer bit widths for the quantised ResNets by a multiple-choice knapsack (TECHNIQUES.md §3.8).

For the ResNet-20/32 of python/train_quant.py, choose for every layer a weight width w and the width
a of the activation quantiser that follows it, minimising the summed sensitivity under a budget on
Peregrine's estimated communication (or latency), and write the choice as a --bits-config file for
train_quant.py.

Layers and their activation quantisers (the names of train_quant's export_qdq):
  stem           -> stem_a         (the first conv; weights fixed at 8 bits unless --free-ends)
  blockN.conv1   -> blockN.a1
  blockN.conv2   -> blockN.out     (after the residual add and ReLU; the 8-bit blockN.y before the
                                    add is not a choice)
  fc             -> (none)         (weights fixed at 8 bits unless --free-ends; its input, the
                                    pooled features, is 8-bit)
Candidates: w in {2,3,4,5,6,8} (--weight-choices), a in {2,3,4} (--act-choices).

Sensitivity (HEQuant's, §3.8): for layer l at (w, a), with only that layer quantised and every other
layer float,
    S_l(w, a) = sum over the calibration batch and every element of Y  of  (Y_fp - Y_q)^2 * (dL/dY)^2
  * Y is the layer's output: relu(conv(x)) for stem/conv1, relu(conv2(h) + shortcut) for conv2,
    the logits for fc; Y_q the same with the weights LSQ-quantised to w bits and the result
    LSQ-quantised to a bits (steps initialised as train_quant does, 2*mean|t|/sqrt(Qp), on the
    calibration batch; the 8-bit quantisers and the int32 bias rounding are left out);
  * x, h and the shortcut are the float model's values, so the float model runs once;
  * L = sum over the batch of the float model's cross-entropy (reduction "sum": dL/dY holds each
    image's own gradient); units: loss^2, only the ordering matters.
  Calibration batch: the first --calib (256) training images of
  ../shared/data/cifar10/train_jpeg_50000.bin (the batch train_quant initialises its steps on).

Cost (Peregrine's own cost model): for every uniform configuration (w, a) of the grid, a QDQ model
is exported (float weights, LSQ-initialised steps, no training; the ends at 8 bits unless
--free-ends), `peregrine inspect MODEL --json` plans it, and each protocol node's estimate
(est_bytes_client_to_server + est_bytes_server_to_client in bytes, or est_seconds with --objective
latency) is attributed to a layer by its name (layer_of below):
  * "input", "in_*", "stem*"                            -> stem
  * "blockN.conv1", "blockN.relu1", "blockN.a1*"        -> blockN.conv1
  * every other "blockN.*" (conv2, y, add, relu2, out, the option-A shortcut sub/pad)
                                                         -> blockN.conv2
  * "pool*" (average pool and its 8-bit requantisation) -> the last block's conv2, whose activation
                                                           width sets their rings
  * "flatten", "flat", "fc"                             -> fc
  A suffix "/..." (e.g. "block3.y_q/shift") or "@l<bits>" (a value extended into a <bits>-bit ring)
  is dropped first: an extension belongs to the layer that *produced* the extended value (even where
  the ring it extends into is the consumer's). The per-layer costs of a uniform model add up to its
  total estimate exactly. The cost of layer l at candidate (w, a) is its cost in the uniform model
  (w, a); a fixed end (8-bit weights) takes the value from the uniform model at the reference's w
  (and, for fc, the reference's a). This is an additive approximation: a layer's real cost also
  depends on its neighbours' widths (its input's width sets its accumulator and rings), so the
  program exports the chosen configuration and inspects it (unless --no-verify) to report the real
  estimate beside the predicted one; --fit-rounds N then corrects the model (see fit()).
  The estimates are cached in --cache (JSON, keyed by depth, the ends, the inspect options and the
  peregrine binary's SHA-256), as are the sensitivities (keyed by depth and calibration size).

Knapsack (python/knapsack.py): one candidate per layer, minimise sum S_l subject to sum cost_l <=
budget; costs are rounded *up* to --unit (1024 bytes, or 1e-4 s) and an explicit budget down, so a
solution within the discretised budget is within the real one (of the additive model). The budget
defaults to the cost of the uniform reference (--reference, W4A4, as HEQuant's ILP uses a uniform
reference), discretised the same way, so the reference itself is always feasible (the solution's
predicted cost may then exceed the reference's by less than one unit per layer); --budget-bytes /
--budget-seconds give it explicitly.

Output: --out (the --bits-config JSON: "weight_bits", "act_bits", and "mixed_precision" with the
provenance, the per-layer table and the totals, which train_quant ignores), and the table on stdout.

Usage (ResNet-20: about 3 minutes on two cores the first time, under a minute from the cache):
  nice -n 10 /usr/bin/python3 python/mixed_precision.py --depth 20 --out models/resnet20_mixed_bits.json
"""

import argparse
import hashlib
import json
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import knapsack  # noqa: E402
from train_cifar import cifar_metadata, evaluate, load_test, load_train  # noqa: E402
from train_quant import (MEAN, STD, FloatResNet, Lsq, QResNet, build_torch_quantised, export_qdq,  # noqa: E402
                         load_float_weights, shortcut_a, standardise)

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
ENDS_BITS = 8  # train_quant's --first-weight-bits / --last-weight-bits defaults
CACHE_VERSION = 1


# ---- layers ---------------------------------------------------------------------------------------

def layer_plan(q):
    """[(layer name, activation quantiser name or None)] in network order: every weight layer of
    QResNet `q` with the configurable activation quantiser that follows it (fc has none)."""
    weights = [name for name, _ in q.weight_quantisers()]
    acts = [name for name, _ in q.act_quantisers()]
    if len(weights) != len(acts) + 1 or weights[-1] != "fc":
        raise RuntimeError("unexpected QResNet layout: %s / %s" % (weights, acts))
    return list(zip(weights[:-1], acts)) + [("fc", None)]


def layer_of(node, n_blocks):
    """The layer a protocol node of `peregrine inspect` belongs to (module docstring)."""
    base = re.split(r"[/@]", node, maxsplit=1)[0]
    if base == "input" or base.startswith("in_") or base.startswith("stem"):
        return "stem"
    m = re.match(r"block(\d+)\.(.*)$", base)
    if m and int(m.group(1)) < n_blocks:
        part = m.group(2)
        if part in ("conv1", "relu1") or part.startswith("a1"):
            return "block%s.conv1" % m.group(1)
        return "block%s.conv2" % m.group(1)
    if base.startswith("pool"):
        return "block%d.conv2" % (n_blocks - 1)
    if base in ("flatten", "flat", "fc"):
        return "fc"
    raise ValueError("protocol node %r belongs to no layer of the ResNet" % node)


def candidates(layer, act, args):
    """The (w, a) candidates of a layer; a is None for fc."""
    fixed = layer in ("stem", "fc") and not args.free_ends
    ws = (ENDS_BITS,) if fixed else args.weight_choices
    return [(w, a) for w in ws for a in ((None,) if act is None else args.act_choices)]


def label(w, a):
    return "W%d" % w if a is None else "W%dA%d" % (w, a)


def parse_ref(text):
    m = re.fullmatch(r"W(\d+)A(\d+)", text.upper())
    if not m:
        raise argparse.ArgumentTypeError("expected WxAy, e.g. W4A4")
    return int(m.group(1)), int(m.group(2))


def int_list(text):
    return tuple(sorted({int(v) for v in text.split(",")}))


# ---- sensitivity ----------------------------------------------------------------------------------

def float_pass(q, x, y):
    """The float model on x with every layer's input(s), output Y and dL/dY (L: summed
    cross-entropy). Returns {layer: (inputs, Y, dL/dY)} and the logits (all detached)."""
    rec, outs = {}, []

    def keep(name, inputs, out):
        rec[name] = [tuple(t.detach() if t is not None else None for t in inputs), out]
        outs.append(out)
        return out

    a = keep("stem", (x, None), F.relu(F.conv2d(x, q.stem.weight, q.stem.bias, 1, 1)))
    for i, (m, (down, planes)) in enumerate(zip(q.blocks, q.meta)):
        c1, c2 = m["c1"], m["c2"]
        h = keep("block%d.conv1" % i, (a, None), F.relu(F.conv2d(a, c1.weight, c1.bias, c1.stride, 1)))
        sc = shortcut_a(a, planes) if down else a
        a = keep("block%d.conv2" % i, (h, sc), F.relu(F.conv2d(h, c2.weight, c2.bias, 1, 1) + sc))
    p = F.adaptive_avg_pool2d(a, 1).flatten(1)
    logits = keep("fc", (p, None), F.linear(p, q.fc_w, q.fc_b))
    loss = F.cross_entropy(logits, y, reduction="sum")
    grads = torch.autograd.grad(loss, outs)
    for (name, r), g in zip(rec.items(), grads):
        rec[name] = (r[0], r[1].detach(), g.detach())
    return rec, logits.detach()


def quantised_output(q, layer, inputs, w, a):
    """Layer `layer`'s output on the float inputs with its weights at w bits and its output at a
    bits (LSQ steps initialised as train_quant does), every other layer float."""
    x, sc = inputs
    if layer == "fc":
        wq = Lsq(w, True, symmetric_weight=True)
        wq.init_from(q.fc_w)
        return F.linear(x, wq(q.fc_w), q.fc_b)
    if layer == "stem":
        conv = q.stem
    else:
        i, which = re.match(r"block(\d+)\.conv([12])$", layer).groups()
        conv = q.blocks[int(i)]["c" + which]
    wq = Lsq(w, True, symmetric_weight=True)
    wq.init_from(conv.weight)
    pre = F.conv2d(x, wq(conv.weight), conv.bias, conv.stride, 1)
    pre = F.relu(pre + sc if sc is not None else pre)
    aq = Lsq(a, False)
    aq.init_from(pre)
    return aq(pre)


def sensitivities(q, plan, x, y, args, cached):
    """{layer: {label: S}} for every candidate (module docstring); `cached` entries are reused."""
    need = [(layer, act) for layer, act in plan
            if any(label(w, a) not in cached.get(layer, {}) for w, a in candidates(layer, act, args))]
    out = {layer: dict(v) for layer, v in cached.items()}
    if not need:
        return out
    t0 = time.time()
    rec, logits = float_pass(q, x, y)
    with torch.no_grad():
        ref = FloatResNet(q)(x)
    if not torch.allclose(ref, logits, rtol=1e-4, atol=1e-4):
        raise RuntimeError("the recording float pass disagrees with train_quant.FloatResNet")
    with torch.no_grad():
        for layer, act in need:
            inputs, y_fp, g = rec[layer]
            g2 = (g.double() ** 2)
            for w, a in candidates(layer, act, args):
                key = label(w, a)
                if key in out.get(layer, {}):
                    continue
                y_q = quantised_output(q, layer, inputs, w, a)
                out.setdefault(layer, {})[key] = float((((y_fp - y_q).double() ** 2) * g2).sum())
    print("sensitivities: %d layers in %.0f s" % (len(need), time.time() - t0), flush=True)
    return out


# ---- cost -----------------------------------------------------------------------------------------

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def wait_for(path, tries=30, delay=10):
    """The peregrine binary may be briefly missing while it is relinked."""
    for k in range(tries):
        if os.path.exists(path):
            return
        print("  waiting for %s (%d/%d)" % (path, k + 1, tries), flush=True)
        time.sleep(delay)
    raise SystemExit("%s does not exist" % path)


def inspect(binary, onnx_path, extra, tries=5):
    """`peregrine inspect MODEL --json OUT [extra options]`: the parsed JSON."""
    out = onnx_path[:-len(".onnx")] + ".inspect.json"
    for k in range(tries):
        wait_for(binary)
        r = subprocess.run([binary, "inspect", onnx_path, "--json", out] + extra, capture_output=True, text=True)
        if r.returncode == 0 and os.path.exists(out):
            with open(out) as f:
                return json.load(f)
        if k + 1 < tries and not os.path.exists(binary):
            continue
        if k + 1 < tries:
            time.sleep(5)  # a binary caught mid-link fails once; a real error fails every time
            continue
        raise RuntimeError("peregrine inspect %s failed (%d):\n%s" % (onnx_path, r.returncode, r.stderr[-3000:]))


def layer_costs(report, n_blocks):
    """{layer: {"bytes": B, "seconds": s}} of an inspect report, and its totals."""
    layers = {}
    for e in report["protocol"]:
        c = layers.setdefault(layer_of(e["node"], n_blocks), {"bytes": 0, "seconds": 0.0})
        c["bytes"] += e["est_bytes_client_to_server"] + e["est_bytes_server_to_client"]
        c["seconds"] += e["est_seconds"]
    est = report["estimate"]
    total = {"bytes": est["est_bytes_client_to_server"] + est["est_bytes_server_to_client"],
             "seconds": est["est_seconds"], "rounds": est["est_rounds"]}
    if sum(c["bytes"] for c in layers.values()) != total["bytes"]:
        raise RuntimeError("the per-node bytes do not add up to the model's estimate")
    return layers, total


def export_untrained(depth, wd, x_calib, wbits, abits, ends, bits_config, path):
    """A QDQ model from the float weights with LSQ-initialised steps (no training); the QResNet."""
    q = QResNet(depth, wd, abits, wbits, ends, ends, bits_config)
    q.train()
    with torch.no_grad():
        q(x_calib)  # LSQ initialisation of the activation steps, as train_quant does
    q.eval()
    _, fz = build_torch_quantised(q)
    meta = cifar_metadata(MEAN, STD, "Peregrine python/mixed_precision.py: untrained (LSQ initialisation "
                          "only), for the cost model", 0.0, "not measured")
    export_qdq(q, fz, path, meta)
    return q


def uniform_costs(depth, wd, x_calib, grid, ends, binary, extra, tmp, cache_entry):
    """{(w, a): {"layers": {layer: {"bytes", "seconds"}}, "total": {...}}} of the uniform models of the
    grid, the ends' weights at `ends` bits (None: at w too); computed where cache_entry lacks them."""
    out = {}
    n_blocks = (depth - 2) // 2
    for w, a in grid:
        key = "W%dA%d" % (w, a)
        if key not in cache_entry:
            t0 = time.time()
            path = os.path.join(tmp, "uniform_%s.onnx" % key)
            export_untrained(depth, wd, x_calib, w, a, w if ends is None else ends, None, path)
            layers, total = layer_costs(inspect(binary, path, extra), n_blocks)
            cache_entry[key] = {"layers": layers, "total": total}
            print("  cost %s: %.2f MB, %.3f s estimated (%.0f s)" % (key, total["bytes"] / 1e6, total["seconds"],
                                                                     time.time() - t0), flush=True)
        out[(w, a)] = cache_entry[key]
    return out


# ---- main -----------------------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depth", type=int, default=20, choices=(20, 32))
    ap.add_argument("--out", required=True, help="the --bits-config JSON to write")
    ap.add_argument("--objective", choices=("bytes", "latency"), default="bytes",
                    help="the cost: estimated bytes (both directions) or estimated seconds")
    ap.add_argument("--reference", type=parse_ref, default=(4, 4),
                    help="the uniform configuration whose cost is the default budget (WxAy)")
    ap.add_argument("--budget-bytes", type=float, default=None)
    ap.add_argument("--budget-seconds", type=float, default=None)
    ap.add_argument("--unit", type=float, default=None,
                    help="the knapsack's cost unit (default 1024 bytes, or 1e-4 s for latency)")
    ap.add_argument("--weight-choices", type=int_list, default=(2, 3, 4, 5, 6, 8))
    ap.add_argument("--act-choices", type=int_list, default=(2, 3, 4))
    ap.add_argument("--free-ends", action="store_true",
                    help="let the first and last layers' weights take every width too (default: 8 bits)")
    ap.add_argument("--calib", type=int, default=256, help="calibration images (the first N of the training set)")
    ap.add_argument("--peregrine", default=os.path.join(REPO, "build", "apps", "peregrine", "peregrine"))
    ap.add_argument("--inspect-args", default="",
                    help="more options for `peregrine inspect`, e.g. \"--net wan\" (part of the cache key)")
    ap.add_argument("--cache", default="/tmp/peregrine_mixed_precision_cache.json")
    ap.add_argument("--data-cache", default="/tmp/peregrine_cifar10_train_u8.npz",
                    help="train_cifar's decoded training set cache")
    ap.add_argument("--no-verify", dest="verify", action="store_false",
                    help="do not export and inspect the chosen configuration (nor refit the budget)")
    ap.add_argument("--fit-rounds", type=int, default=0,
                    help="while the inspected cost of the choice exceeds the budget, raise the chosen candidates' "
                         "costs to those observed and solve again, at most this many times (see fit)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    w_ref, a_ref = args.reference
    if w_ref not in args.weight_choices or a_ref not in args.act_choices:
        ap.error("the reference W%dA%d is not in the grid" % (w_ref, a_ref))
    if (args.budget_bytes if args.objective == "latency" else args.budget_seconds) is not None:
        ap.error("--budget-bytes goes with --objective bytes, --budget-seconds with --objective latency")
    return args


def load_cache(path):
    cache = {}
    if os.path.exists(path):
        with open(path) as f:
            cache = json.load(f)
    return cache if cache.get("version") == CACHE_VERSION else {"version": CACHE_VERSION}


def save_cache(path, cache):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cache, f)
    os.replace(tmp, path)


def bits_config(plan, groups, choice):
    """The --bits-config of a knapsack choice."""
    weight_bits, act_bits = {}, {}
    for (layer, act), g, i in zip(plan, groups, choice):
        w, a = g[i][2]
        weight_bits[layer] = w
        if act is not None:
            act_bits[act] = a
    return {"weight_bits": weight_bits, "act_bits": act_bits}


def fit(groups, budget_units, budget_real, unit, obj, plan, args, export_inspect, reference):
    """Solve the knapsack and (unless --no-verify) export and inspect its choice.

    With --fit-rounds N > 0, while the inspected cost of the choice exceeds the budget, the costs of
    the chosen candidates are raised to those observed in that model (never lowered: a candidate can
    cost more beside other neighbours than in its uniform model) and the knapsack is solved again, at
    most N times; the answer is then the configuration of least sensitivity among those inspected
    within the budget, `reference` (the uniform reference's record) included when it is within.
    Without, the answer is the knapsack's choice, whatever its inspected cost.
    Returns (choice, the record of every round). `groups` is updated."""
    rounds = []
    for round_ in range(args.fit_rounds + 1):
        try:
            choice = knapsack.solve(groups, budget_units)
        except ValueError as e:
            if not rounds:
                raise SystemExit("no configuration fits the budget: %s" % e)
            break  # the raised costs leave nothing within the budget
        record = {"round": round_, "choice": choice, "sensitivity": knapsack.totals(groups, choice)[1]}
        rounds.append(record)
        if not args.verify:
            break
        observed, total = export_inspect(bits_config(plan, groups, choice), round_)
        record.update(inspected=total[obj], bytes=total["bytes"], seconds=total["seconds"], rounds=total["rounds"],
                      fits=total[obj] <= budget_real, layers={layer: observed[layer][obj] for layer, _ in plan})
        print("round %d: knapsack choice of sensitivity %.4g, inspected %.6g (budget %.6g)" % (
            round_, record["sensitivity"], total[obj], budget_real), flush=True)
        if record["fits"] or round_ == args.fit_rounds:
            break
        for (layer, _), g, i in zip(plan, groups, choice):
            seen = int(math.ceil(observed[layer][obj] / unit))
            if seen > g[i][0]:
                g[i] = (seen,) + tuple(g[i][1:])
    if args.fit_rounds == 0 or not args.verify:
        return rounds[0]["choice"], rounds
    fits = [r for r in rounds + [reference] if r.get("fits")]
    if not fits:
        return rounds[0]["choice"], rounds
    best = min(fits, key=lambda r: r["sensitivity"])
    if best is reference:
        print("no knapsack choice tried is both within the budget (inspected) and less sensitive than the "
              "uniform reference: the answer is the reference", flush=True)
        rounds.append(reference)
    return best["choice"], rounds


def main():
    args = parse_args()
    w_ref, a_ref = args.reference
    obj = "bytes" if args.objective == "bytes" else "seconds"
    budget = args.budget_bytes if args.objective == "bytes" else args.budget_seconds
    unit = args.unit or (1024.0 if args.objective == "bytes" else 1e-4)
    extra = shlex.split(args.inspect_args)
    t_start = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    wd = load_float_weights(args.depth)
    q = QResNet(args.depth, wd, a_ref, w_ref, ENDS_BITS, ENDS_BITS)
    plan = layer_plan(q)
    n_blocks = len(q.blocks)
    x_u8, y_u8 = load_train(args.data_cache)
    x_calib = standardise(np.ascontiguousarray(x_u8[:args.calib].transpose(0, 3, 1, 2)))
    y_calib = torch.from_numpy(y_u8[:args.calib])
    cache = load_cache(args.cache)
    wait_for(args.peregrine)
    binary_hash = sha256(args.peregrine)
    skey = "resnet%d calib%d" % (args.depth, args.calib)
    ckey = "resnet%d ends%s peregrine %s%s" % (args.depth, "free" if args.free_ends else ENDS_BITS, binary_hash[:16],
                                               "".join(" " + a for a in extra))

    # a. sensitivities
    sens = sensitivities(q, plan, x_calib, y_calib, args, cache.setdefault("sensitivity", {}).get(skey, {}))
    cache["sensitivity"][skey] = sens
    save_cache(args.cache, cache)

    with tempfile.TemporaryDirectory(prefix="peregrine_mp_") as tmp:
        # b. costs of the uniform grid
        grid = [(w, a) for w in args.weight_choices for a in args.act_choices]
        t0 = time.time()
        uni = uniform_costs(args.depth, wd, x_calib, grid, None if args.free_ends else ENDS_BITS, args.peregrine,
                            extra, tmp, cache.setdefault("costs", {}).setdefault(ckey, {}))
        if sha256(args.peregrine) != binary_hash:
            del cache["costs"][ckey]
            save_cache(args.cache, cache)
            raise SystemExit("%s changed during the run (relinked?): run again" % args.peregrine)
        save_cache(args.cache, cache)
        print("costs: %d uniform models (%.0f s; cache %s)" % (len(grid), time.time() - t0, args.cache), flush=True)

        def cost(layer, w, a):
            """The layer's cost (bytes or seconds) at candidate (w, a) (module docstring)."""
            src = (w if layer not in ("stem", "fc") or args.free_ends else w_ref, a_ref if a is None else a)
            return uni[src]["layers"][layer][obj]

        # c. the knapsack: costs rounded up to units
        groups = [[(int(math.ceil(cost(layer, w, a) / unit)), sens[layer][label(w, a)], (w, a))
                   for w, a in candidates(layer, act, args)] for layer, act in plan]
        ref_choice = [[it[2] for it in g].index((ENDS_BITS if layer in ("stem", "fc") and not args.free_ends else w_ref,
                                                 None if act is None else a_ref))
                      for g, (layer, act) in zip(groups, plan)]
        ref_cost = uni[(w_ref, a_ref)]["total"][obj]
        budget_real = ref_cost if budget is None else budget
        budget_units = knapsack.totals(groups, ref_choice)[0] if budget is None else int(budget // unit)
        ref_value = knapsack.totals(groups, ref_choice)[1]
        reference = {"round": "reference", "choice": ref_choice, "sensitivity": ref_value, "inspected": ref_cost,
                     "bytes": uni[(w_ref, a_ref)]["total"]["bytes"], "seconds": uni[(w_ref, a_ref)]["total"]["seconds"],
                     "rounds": uni[(w_ref, a_ref)]["total"]["rounds"], "fits": ref_cost <= budget_real,
                     "layers": {layer: uni[(w_ref, a_ref)]["layers"][layer][obj] for layer, _ in plan}}

        def export_inspect(config, round_):
            path = os.path.join(tmp, "round%d.onnx" % round_)
            export_untrained(args.depth, wd, x_calib, w_ref, a_ref, ENDS_BITS, config, path)
            return layer_costs(inspect(args.peregrine, path, extra), n_blocks)

        choice, fitted = fit(groups, budget_units, budget_real, unit, obj, plan, args, export_inspect, reference)
        config = bits_config(plan, groups, choice)

        # d. output
        final = next((r for r in fitted if r["choice"] == choice and "inspected" in r), None)
        rows = []
        for (layer, act), g, i, r in zip(plan, groups, choice, ref_choice):
            rows.append({"layer": layer, "activation": act, "bits": label(*g[i][2]),
                         "cost": cost(layer, *g[i][2]), "cost_inspected": final["layers"][layer] if final else None,
                         "sensitivity": g[i][1], "reference_cost": cost(layer, *g[r][2]),
                         "reference_sensitivity": g[r][1]})
        result = {
            "tool": "python/mixed_precision.py (TECHNIQUES.md 3.8); train_quant.py reads only weight_bits and act_bits",
            "depth": args.depth, "objective": args.objective, "unit": unit, "reference": "W%dA%d" % (w_ref, a_ref),
            "budget": budget_real,
            "budget_source": "given" if budget is not None else "uniform W%dA%d" % (w_ref, a_ref),
            "free_ends": args.free_ends, "calib": args.calib,
            "inspect_args": args.inspect_args, "peregrine_sha256": binary_hash,
            "predicted_cost": sum(r["cost"] for r in rows), "reference_cost": ref_cost,
            "sensitivity": sum(r["sensitivity"] for r in rows),
            "reference_sensitivity": sum(r["reference_sensitivity"] for r in rows),
            "inspected": None,
            "fit_rounds": [{k: v for k, v in r.items() if k not in ("layers", "choice")} for r in fitted],
            "layers": rows}
        if final:
            x_te, y_te = load_test()
            x_te, y_te = standardise(x_te[:1000]), torch.from_numpy(y_te[:1000])
            q_mix = export_untrained(args.depth, wd, x_calib, w_ref, a_ref, ENDS_BITS, config,
                                     os.path.join(tmp, "final.onnx"))
            ends = w_ref if args.free_ends else ENDS_BITS
            q_ref = export_untrained(args.depth, wd, x_calib, w_ref, a_ref, ends, None,
                                     os.path.join(tmp, "reference.onnx"))
            result["inspected"] = {k: final[k] for k in ("bytes", "seconds", "rounds", "fits")}
            result["inspected"].update(top1_untrained=evaluate(q_mix, x_te, y_te),
                                       top1_untrained_reference=evaluate(q_ref, x_te, y_te))
    print_table(result, obj)
    config["mixed_precision"] = result
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(config, f, indent=1)
        f.write("\n")
    print("wrote %s (%.0f s in all)" % (args.out, time.time() - t_start))


def print_table(result, obj):
    """The per-layer table and the totals of a result (the "mixed_precision" entry of the output)."""
    unit_name, scale = ("KB", 1e3) if obj == "bytes" else ("ms", 1e-3)
    ref = result["reference"]
    print("\n%-13s %-11s %-6s %10s %10s %12s   %10s %12s" % (
        "layer", "activation", "bits", unit_name + " pred.", unit_name + " insp.", "sensitivity",
        "%s %s" % (ref, unit_name), "%s sens." % ref))
    for r in result["layers"]:
        print("%-13s %-11s %-6s %10.1f %10s %12.4g   %10.1f %12.4g" % (
            r["layer"], r["activation"] or "-", r["bits"], r["cost"] / scale,
            "-" if r["cost_inspected"] is None else "%.1f" % (r["cost_inspected"] / scale), r["sensitivity"],
            r["reference_cost"] / scale, r["reference_sensitivity"]))
    ins = result["inspected"]
    print("%-32s %10.1f %10s %12.4g   %10.1f %12.4g" % (
        "total", result["predicted_cost"] / scale, "-" if ins is None else "%.1f" % (ins[obj] / scale),
        result["sensitivity"], result["reference_cost"] / scale, result["reference_sensitivity"]))
    print("budget %.1f %s (%s); pred. = the sum of the layers' costs in the uniform models, insp. = the chosen "
          "configuration exported untrained and inspected" % (result["budget"] / scale, unit_name,
                                                               result["budget_source"]))
    if ins:
        print("inspected: %.2f MB, %.3f s, %d rounds, %s the budget; untrained (LSQ-initialised) fake-quant top-1 on "
              "the first 1000 test images %.3f (uniform %s %.3f)" % (
                  ins["bytes"] / 1e6, ins["seconds"], ins["rounds"], "within" if ins["fits"] else "OVER",
                  ins["top1_untrained"], ref, ins["top1_untrained_reference"]))
        if not ins["fits"]:
            print("warning: no configuration tried fits the budget by the inspected estimate; the one written is the "
                  "knapsack's first choice (more --fit-rounds, or a smaller budget)")


if __name__ == "__main__":
    sys.exit(main())
