"""Convolutions: affine ops folded in, output and input parities, space-to-depth, shifts as depthwise convs."""
from __future__ import annotations

import numpy as np

from vst.convert.ir import Graph, Node
from vst.convert.passes.base import TFLITE_ONLY, XNNPACK_TARGETS, rewrite
from vst.convert.passes.edit import concat_tree, parity_conv, replace_node, slice_one


# XNNPACK's int8 ADD takes an input whose scale is at least 2**-10 of the output's (xnn_create_add_nd_qs8 in
# XNNPACK's binary-elementwise-nd.c); shift_as_depthwise rewrites constants under 2**-8 of the sum's range on real
# photos, a 4x margin for calibration sets wider than those photos.
MIN_ADD_SCALE_RATIO = 2.0 ** -8


INT8_ADD_ONLY = ("float ADD of a per-channel constant is XNNPACK-delegated; only int8 ADD has a limit on "
                 "input-to-output scale ratios")


@rewrite(targets=TFLITE_ONLY, precisions=("int8", "int8-dynamic"), why_not=INT8_ADD_ONLY)
def shift_as_depthwise(g: Graph) -> int:
    """add(x, c), c a per-channel constant [1, C, 1, 1] on a full-size activation (the instance-norm shift by
    beta) whose range is tiny beside the sum's  ==>  1x1 depthwise conv of x, weights 1, bias c. int8 TFLite only.

    Why: XNNPACK's int8 ADD needs each input's scale within [2**-10, 2**8) of the output's. A trained beta of
    ~1e-4 quantizes at ~3.5e-6 against a sum at ~0.1, so that ADD stays on the reference kernels and splits the
    graph (trained kunster: 5 ADDs, 6 partitions). A depthwise conv's bias is int32 at scale in_scale * w_scale,
    so a tiny shift is fine. Exact: x * 1 + c is the same float sum. Only constants under MIN_ADD_SCALE_RATIO of
    the sum's range (measured on the real photos the passes are proven on) are rewritten: the ADDs XNNPACK takes
    stay ADDs (rewriting those too cost multistyle26 1.8 dB of int8 PSNR). All-zero constants (untrained betas)
    are never rewritten: the converter folds x + 0 away.
    """
    sites = []
    for node in g.nodes:
        if node.op != "add" or len(node.inputs) != 2:
            continue
        consts = [i for i in node.inputs if i in g.consts]
        if len(consts) != 1:
            continue
        x = next(i for i in node.inputs if i not in g.consts)
        c, shape = g.consts[consts[0]], tuple(g.shapes.get(x, ()))
        if len(shape) == 4 and shape[2:] != (1, 1) and c.shape == (1, shape[1], 1, 1) and np.any(c):
            sites.append((node, x, c))
    if not sites:
        return 0
    ranges = _value_ranges(g, [n.output for n, _, _ in sites])
    count = 0
    for node, x, c in sites:
        c_range = float(max(c.max(), 0.0) - min(c.min(), 0.0))
        if c_range >= MIN_ADD_SCALE_RATIO * ranges[node.output]:
            continue
        ch = c.shape[1]
        wname, bname = g.fresh(f"{node.output}__dw_w"), g.fresh(f"{node.output}__dw_b")
        g.consts[wname] = np.ones((ch, 1, 1, 1), np.float32)
        g.consts[bname] = np.asarray(c, np.float32).reshape(ch)
        node.op, node.inputs = "conv", [x, wname, bname]
        node.attrs = {"stride": (1, 1), "dilation": (1, 1), "group": ch}
        count += 1
    return count


def _value_ranges(g: Graph, names: list[str]) -> dict[str, float]:
    """max(v, 0) - min(v, 0) of each tensor over the real photos at the graph's size (what int8 calibration sees)."""
    import torch
    from vst.convert.ir import run_graph
    from vst.convert.verify import eval_images
    _, _, h, w = g.input_shape
    rec: dict = {}
    with torch.no_grad():
        run_graph(g, torch.from_numpy(eval_images(w, h)), record=rec, keep=True)
    return {n: float(max(rec[n].max(), 0.0) - min(rec[n].min(), 0.0)) for n in names}


@rewrite(targets=("tflite", "coreml", "executorch", "executorch-coreml"))
def fold_affine_into_conv(g: Graph) -> int:
    """conv -> mul(per-channel or scalar constant) / add(same)  ==>  one conv with scaled weights and shifted bias.

    Why: inference BatchNorm imports as a per-channel scale and shift; folded, it costs nothing at run time and
    the int8 file has no extra requantized tensor. Exact up to float rounding of w * s (a conv is linear per
    output channel). Only a conv whose output feeds nothing else is folded.
    """
    count = 0
    changed = True
    while changed:
        changed = False
        for conv in [n for n in g.nodes if n.op == "conv"]:
            users = g.consumers(conv.output)
            if len(users) != 1 or conv.output == g.output or users[0].op not in ("mul", "add"):
                continue
            nxt = users[0]
            cs = [i for i in nxt.inputs if i in g.consts]
            w = g.consts[conv.inputs[1]]
            cout = w.shape[0]
            if len(cs) != 1 or nxt.inputs.count(conv.output) != 1:
                continue
            c = np.asarray(g.consts[cs[0]], np.float32)
            if c.ndim != 0 and c.shape != (1, cout, 1, 1):
                continue
            vec = np.broadcast_to(c.reshape(-1), (cout,)) if c.ndim else np.full(cout, float(c), np.float32)
            bias = g.consts[conv.inputs[2]] if len(conv.inputs) > 2 else np.zeros(cout, np.float32)
            if nxt.op == "mul":
                w, bias = w * vec.reshape(-1, 1, 1, 1), bias * vec
            else:
                bias = bias + vec
            wname, bname = g.fresh(f"{conv.output}__w_folded"), g.fresh(f"{conv.output}__b_folded")
            g.consts[wname], g.consts[bname] = w.astype(np.float32), bias.astype(np.float32)
            conv.inputs = [conv.inputs[0], wname, bname]
            conv.output = nxt.output
            g.nodes.remove(nxt)
            count += 1
            changed = True
            break
    return count


# Output channels at or under which a k x k conv computes its four output parities as one stride-2 conv
# (conv_output_parities). Measured (vst-bench --profile, t2-01 fp32 at 480x320): XNNPACK runs the table2 decoder's
# last 9x9 conv, 32 -> 3 channels, at 2.8 GMAC/s against ~110 GMAC/s for the 64-channel 3x3s; one 9x9 conv alone
# at 480x320 (scripts/bench_parity_convs.py) runs 2.6-5.7x faster with 3 outputs (8, 16, 32 inputs) and
# 1.05-1.75x faster from 3 inputs to 8, 16 or 32 outputs.
MAX_PARITY_COUT = 32


MIN_PARITY_KERNEL = 5


# ... and 3x3 ones at the input's full resolution with at most 16 outputs (beta < 1 configurations: 3x3 first and
# last convs). kunster-t2-10 fp32 at 480x320 (3 -> 4, 4 -> 3), interleaved, median of 5 turns x 6: 8.2-9.4 ms ->
# 5.9-6.6 ms with the full-resolution 3x3s rewritten; rewriting the 1/4-resolution residual 3x3s as well was slower
# (6.4-7.1 ms); kunster-t2-11 (3 -> 32 first) was no faster with its first conv rewritten (best of 30 38.9-41.2 ms
# against 37.5-39.0 ms with only its last conv, 32 -> 3, rewritten).
MAX_PARITY_COUT_3X3 = 16


@rewrite(targets=XNNPACK_TARGETS)
def conv_output_parities(g: Graph) -> int:
    """conv k x k, stride 1, few output channels, even output size  ==>  one stride-2 conv with a (k+1)x(k+1)
    kernel whose 4*Cout output channels are the four output parities, then DEPTH_TO_SPACE(2).

    Why: a GEMM with N = Cout = 3 wastes most of each XNNPACK micro-kernel tile and loads every input tap for
    only 3 outputs. Output (2i+a, 2j+b) reads input rows 2i+a .. 2i+a+k-1, i.e. the rows a .. a+k-1 of the
    (k+1)-row window at stride 2 starting at 2i: the parity's kernel is the original one shifted by (a, b) in a
    zero (k+1)x(k+1) kernel. Channel (2a+b)*Cout+c then lands at (2i+a, 2j+b) under DEPTH_TO_SPACE (DCR order).
    ((k+1)/k)^2 more MACs (1.23x for 9x9) in a GEMM four times wider. Exact: the same products, zeros added.
    """
    count = 0
    for conv in [n for n in g.nodes if n.op == "conv"]:
        w = g.consts.get(conv.inputs[1])
        if w is None or w.ndim != 4:
            continue
        cout, cin, kh, kw = w.shape
        _, _, ho, wo = g.shapes[conv.output]
        if conv.attrs.get("group", 1) != 1 or tuple(conv.attrs["stride"]) != (1, 1) or \
                tuple(conv.attrs.get("dilation", (1, 1))) != (1, 1) or cout > MAX_PARITY_COUT or ho % 2 or wo % 2:
            continue
        full_res = (ho, wo) == tuple(g.input_shape[2:])
        if min(kh, kw) < MIN_PARITY_KERNEL and not (full_res and min(kh, kw) >= 3 and cout <= MAX_PARITY_COUT_3X3):
            continue
        # every parity reads the same kernel, shifted by (a, b) in a (k+1) x (k+1) window at stride 2
        replace_node(g, conv, parity_conv(g, conv, conv.inputs[0], {(a, b): w for a in (0, 1) for b in (0, 1)},
                                       (kh + 1, kw + 1), (2, 2)))
        count += 1
    return count


# Channels (of the full-resolution tensor) up to which stride2_conv_on_parities reads a stride-2 conv's input as
# parities. vst-bench --compare, int8, pass off vs on, one interleaved run each: 4 channels (alpha 0.125,
# kunster-t2-10 and t2-15 at 480x320 and 320x240) 1.045-1.11x faster; 8 channels (alpha 0.25, t2-09 and t2-14)
# 0.945-0.98x, where the bigger parity convs cost more than the copies they save; measured again after
# spatial_mean_by_rows took the parity norms' means by rows: both sites 0.964-0.985x, the encoder's site alone
# 0.992-1.014x (t2-14 at both sizes, t2-09 at 320x240).
MAX_PARITY_INPUT_CIN = 4


PARITIES_INT8_ONLY = ("XNNPACK's float convs (fp32, fp16 on the host, and dynamic-range int8, whose "
                      "activations stay float) ran the parity forms slower than the ones they replace: "
                      "kunster-t2-10 480x320 with the pass, fp32 0.934x and --dynamic 1.001x the speed without "
                      "it (vst-bench --compare)")


@rewrite(targets=XNNPACK_TARGETS, precisions=("int8",), why_not=PARITIES_INT8_ONLY)
def stride2_conv_on_parities(g: Graph) -> int:
    """DEPTH_TO_SPACE(2) of z -> instance_norm -> [relu] -> pad(reflect, 1) -> conv k x k at stride 2 (k = 3 or 4)
    ==>  instance_norm of z with statistics shared by each channel's four parities -> [relu] -> z's first block
    row and column repeated (top, left; for k = 4 the last ones too, bottom, right) -> conv (k - 1) x (k - 1) at
    stride 1 over the 4 * C parity channels.

    Where: the encoder's first stride-2 conv reads the first conv's parities (3x3), and the decoder's last conv,
    made a 4x4 stride-2 conv by conv_output_parities, reads the last upsampling conv's parities. Why: those
    full-resolution DEPTH_TO_SPACEs are undone by the next conv, which reads every other pixel (and, once
    conv_input_space_to_depth has run, by a SPACE_TO_DEPTH); at 4 channels XNNPACK also runs such a conv at a
    fraction of its GEMM rate (int8 kunster-t2-10: 50 GMAC/s against 200-330 for its other convs). Exact: kernel
    row u reads unpadded row 2i + u - 1 = 2(i + p) + a with p = (u - 1) // 2 and a = (u - 1) % 2, parity a of
    block i + p; at i = 0 the reflected row -1 is row 1, parity 1 of block 0, which the repeated first block row
    holds, and for k = 4 the reflected row H is row H - 2, parity 0 of the last block, which the repeated last
    block row holds. A norm's mean and variance over the image are the means over its four parities. The same
    products and sums, in another order, zeros added.
    """
    count = 0
    for d2s in [n for n in g.nodes if n.op == "depth_to_space" and n.attrs["block"] == 2]:
        chain, cur = [], d2s
        while len(chain) < 4:        # norm, [relu], pad, conv: each the only reader of the one before
            nxt = g.consumers(cur.output)
            if len(nxt) != 1 or cur.output == g.output:
                break
            cur = nxt[0]
            chain.append(cur)
            if cur.op == "conv":
                break
        if [n.op for n in chain] not in (["instance_norm", "pad", "conv"], ["instance_norm", "relu", "pad", "conv"]):
            continue
        pad, conv = chain[-2], chain[-1]
        if pad.op != "pad" or pad.attrs["mode"] != "reflect" or tuple(pad.attrs["pads"]) != (1, 1, 1, 1) or \
                conv.op != "conv" or conv.inputs[0] != pad.output or tuple(conv.attrs["stride"]) != (2, 2) or \
                tuple(conv.attrs.get("dilation", (1, 1))) != (1, 1) or conv.attrs.get("group", 1) != 1 or \
                len(g.consumers(pad.output)) != 1:
            continue
        w = g.consts.get(conv.inputs[1])
        z = d2s.inputs[0]
        c = g.shapes[d2s.output][1]
        k = w.shape[2] if w is not None and w.shape[2] == w.shape[3] else 0
        if k not in (3, 4) or c > MAX_PARITY_INPUT_CIN:
            continue
        norm = chain[0]
        norm.inputs = [z] + norm.inputs[1:]
        norm.attrs = {**norm.attrs, "parity_groups": 4}
        for n in chain[:-2]:
            g.shapes[n.output] = ()
        new: list[Node] = []
        x = chain[-3].output
        for axis in (2, 3):      # repeat the first block row (and for k = 4 the last), then column
            ends = [slice_one(g, new, x, axis, 0, pad.name + "/first_block"), x]
            if k == 4:
                ends.append(slice_one(g, new, x, axis, g.shapes[z][axis] - 1, pad.name + "/last_block"))
            x = concat_tree(g, new, ends, axis, f"{pad.output}__blocks{axis}", f"{pad.name}/blocks{axis}")
        cout = w.shape[0]
        big = np.zeros((cout, 4 * c, k - 1, k - 1), np.float32)
        for u in range(k):
            for v in range(k):
                (p, a), (q, b) = divmod(u - 1, 2), divmod(v - 1, 2)
                big[:, (2 * a + b) * c:(2 * a + b + 1) * c, p + 1, q + 1] = w[:, :, u, v]
        wname = g.fresh(f"{conv.output}__parity_input_w")
        g.consts[wname] = big
        conv.inputs = [x, wname] + conv.inputs[2:]
        conv.attrs = {**conv.attrs, "stride": (1, 1)}
        g.nodes = [n for n in g.nodes if n is not d2s and n is not pad]
        i = g.nodes.index(conv)
        g.nodes[i:i] = new
        count += 1
    return count


# Input channels up to which conv_input_space_to_depth rewrites a stride-2 conv. XNNPACK's conv reads its
# input one kernel tap at a time, cin values per tap: with the image's 3 channels, the int8 kunster-t2-04 spent
# 37% of its op time in its first conv (3 -> 32 parities, 10x10 at stride 2) at 126 GMAC/s against 450-580 for
# its other convs (vst-bench --profile). Up to 16 it also takes the last conv's parity form (8 or 16 channels in,
# 10x10 at stride 2): int8 kunster.a025/a050 stage-2 at 480x320, medians 9.5-10.1 -> 8.5-8.8 ms and
# 14.1-18.9 -> 11.9-16.3 ms; fp32 12.6 vs 13.3 ms and unchanged (interleaved A/B in one process).
MAX_S2D_CIN = 16


@rewrite(targets=XNNPACK_TARGETS)
def conv_input_space_to_depth(g: Graph) -> int:
    """conv k x k (k even), stride 2, <= MAX_S2D_CIN input channels, even input size  ==>  SPACE_TO_DEPTH(2) of
    the input, then a stride-1 conv with a (k/2) x (k/2) kernel over 4 * Cin channels.

    Why exact: output (i, j) of the stride-2 conv reads input (2i + u, 2j + v) for u, v < k; with u = 2p + a and
    v = 2q + b that is (i + p, j + q) of the block-2 space-to-depth image, channel (2a + b) * Cin + c, so the new
    kernel holds K[o, c, 2p + a, 2q + b] there: the same products, summed in another order. Typical site: the
    first conv after conv_output_parities (10x10 at stride 2 for a 9x9 conv).
    """
    count = 0
    for conv in [n for n in g.nodes if n.op == "conv"]:
        w = g.consts.get(conv.inputs[1])
        if w is None or w.ndim != 4 or conv.inputs[0] not in g.shapes:
            continue
        cout, cin, kh, kw = w.shape
        _, _, h, wd = g.shapes[conv.inputs[0]]
        if conv.attrs.get("group", 1) != 1 or tuple(conv.attrs["stride"]) != (2, 2) or \
                tuple(conv.attrs.get("dilation", (1, 1))) != (1, 1) or cin > MAX_S2D_CIN or kh % 2 or kw % 2 or \
                h % 2 or wd % 2:
            continue
        w2 = w.reshape(cout, cin, kh // 2, 2, kw // 2, 2).transpose(0, 3, 5, 1, 2, 4).reshape(
            cout, 4 * cin, kh // 2, kw // 2)
        wname, s2d = g.fresh(f"{conv.output}__s2d_w"), g.fresh(f"{conv.inputs[0]}__s2d")
        g.consts[wname] = np.ascontiguousarray(w2, np.float32)
        g.shapes[s2d] = ()
        g.nodes.insert(g.nodes.index(conv), Node("space_to_depth", [conv.inputs[0]], s2d, {"block": 2},
                                                 conv.name + "/space_to_depth"))
        conv.inputs = [s2d, wname] + conv.inputs[2:]
        conv.attrs = dict(conv.attrs, stride=(1, 1))
        count += 1
    return count
