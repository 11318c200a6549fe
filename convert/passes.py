"""Delegate-aware exact rewrites over the IR, each a small function, each proven on real images before it is kept.

Why these three (000 section IV-A, and measured here): TFLite's MIRROR_PAD and RESIZE_NEAREST_NEIGHBOR are not
taken by XNNPACK, which splits the graph into many partitions; sqrt+div instance norms need ops that NNAPI and
int8 kernels lack, while mean/sub/mul/rsqrt are on every allow-list.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from vst.convert.ir import Graph, Node, run_numpy

# A rewrite is kept only if its output matches the unrewritten graph this closely on real images.
EXACT_PSNR_DB = 60.0


@dataclass
class PassResult:
    name: str
    applied: bool
    detail: str

    def as_dict(self) -> dict:
        return {"name": self.name, "applied": self.applied, "detail": self.detail}


def _replace(graph: Graph, node: Node, new_nodes: list[Node]) -> None:
    i = graph.nodes.index(node)
    graph.nodes[i:i + 1] = new_nodes


def reflect_pad_as_slices(graph: Graph) -> tuple[Graph, int]:
    """pad(mode=reflect) -> one-row/column slices + concat, height first then width (reflection is separable)."""
    g = graph.copy()
    count = 0
    for node in [n for n in g.nodes if n.op == "pad" and n.attrs["mode"] == "reflect"]:
        t, l, b, r = node.attrs["pads"]
        _, _, h, w = g.shapes[node.inputs[0]]
        new: list[Node] = []
        cur = node.inputs[0]
        for axis, before, after, n in ((2, t, b, h), (3, l, r, w)):
            if not before and not after:
                continue
            pieces = []
            for k in range(before, 0, -1):                 # rows p..1, mirrored around row 0
                pieces.append(_slice(g, new, cur, axis, k, node.name))
            pieces.append(cur)
            for k in range(n - 2, n - 2 - after, -1):     # rows n-2..n-1-p, mirrored around row n-1
                pieces.append(_slice(g, new, cur, axis, k, node.name))
            cur = _concat(g, new, pieces, axis, f"{node.output}__reflect{axis}", f"{node.name}/concat{axis}")
        new[-1].output = node.output
        _replace(g, node, new)
        count += 1
    return g, count


# XNNPACK takes CONCATENATION of at most this many inputs (measured: 9-input concats of a 9x9 pad fall back).
MAX_CONCAT_INPUTS = 4


def _concat(g: Graph, new: list[Node], pieces: list[str], axis: int, out_base: str, name: str) -> str:
    """Concat as a tree of concats with <= MAX_CONCAT_INPUTS inputs each."""
    level = 0
    while len(pieces) > MAX_CONCAT_INPUTS:
        grouped = []
        for i in range(0, len(pieces), MAX_CONCAT_INPUTS):
            chunk = pieces[i:i + MAX_CONCAT_INPUTS]
            if len(chunk) == 1:
                grouped.append(chunk[0])
                continue
            out = g.fresh(f"{out_base}_l{level}")
            new.append(Node("concat", chunk, out, {"axis": axis}, f"{name}_l{level}_{i}"))
            g.shapes[out] = ()
            grouped.append(out)
        pieces, level = grouped, level + 1
    out = g.fresh(out_base)
    new.append(Node("concat", pieces, out, {"axis": axis}, name))
    g.shapes[out] = ()
    return out


def _slice(g: Graph, new: list[Node], src: str, axis: int, k: int, base: str) -> str:
    out = g.fresh(f"{src}__s{axis}_{k}")
    new.append(Node("slice", [src], out, {"axis": axis, "start": k, "end": k + 1}, f"{base}/slice{axis}_{k}"))
    g.shapes[out] = ()   # placeholder so fresh() sees the name; infer_shapes() recomputes
    return out


def nearest_as_repeat(graph: Graph) -> tuple[Graph, int]:
    """resize_nearest by integer factors -> a repeat along height, then along width.

    The TFLite emitter writes each repeat as CONCATENATION + RESHAPE, both XNNPACK-delegated, instead of
    RESIZE_NEAREST_NEIGHBOR, which is not.
    """
    g = graph.copy()
    count = 0
    for node in [n for n in g.nodes if n.op == "resize_nearest"]:
        sh, sw = node.attrs["scale"]
        new, cur = [], node.inputs[0]
        for axis, times in ((2, sh), (3, sw)):
            if times == 1:
                continue
            out = g.fresh(f"{node.output}__rep{axis}")
            new.append(Node("repeat", [cur], out, {"axis": axis, "times": times}, f"{node.name}/repeat{axis}"))
            g.shapes[out] = ()
            cur = out
        if not new:
            new = [Node("mul", [cur, _scalar(g, 1.0)], node.output, {}, node.name)]
        new[-1].output = node.output
        _replace(g, node, new)
        count += 1
    return g, count


# Output channels up to which nearest_conv_subpixel writes the four parities as one 3x3 conv (4 * Cout outputs,
# the 2x2 kernels placed at their offsets) + DEPTH_TO_SPACE instead of four 2x2 convs + interleave: 9/4 the MACs
# in one wide GEMM, and no window slices. Medians, fp32 480x320: kunster-t2-10 (8 -> 4) 7.8-9.9 -> 6.3-6.7 ms,
# kunster-t2-04 (16 -> 8) equal at 8 and 16; kunster-t2-01 (128 -> 64, 64 -> 32) 2-5% slower at 64.
SUBPIXEL_ONE_CONV_COUT = 16
# Taps of a 3x3 kernel that land on each of the two low-resolution rows (or columns) a 2x2 kernel sees, for
# output parity 0 and 1 (derivation in nearest_conv_subpixel's docstring).
_SUBPIXEL_TAPS = {0: ((0,), (1, 2)), 1: ((0, 1), (2,))}


def nearest_conv_subpixel(graph: Graph) -> tuple[Graph, int]:
    """resize_nearest(x2) -> pad(reflect, 1) -> conv 3x3  ==>  four 2x2 convs at low resolution + interleave.

    Why exact: reflect-padding an x2 nearest upsample by 1 equals edge-padding the small image by 1, upsampling
    and cropping 1. Output row 2i+a of the 3x3 conv then reads low-res rows i+a and i+a+1 only, with kernel rows
    {0},{1,2} (a=0) or {0,1},{2} (a=1) summed; the same holds for columns. So each output parity (a, b) is a 2x2
    VALID conv of the edge-padded small image shifted by (a, b): 4*Cin MACs per output pixel instead of 9*Cin,
    and no full-resolution upsample or pad. Sums of kernel taps change float rounding only. With few output
    channels (SUBPIXEL_ONE_CONV_COUT) the four 2x2 kernels sit at offsets (a, b) of one 3x3 kernel over the
    edge-padded image, 4 * Cout outputs in DEPTH_TO_SPACE's (DCR) order, followed by DEPTH_TO_SPACE(2).
    """
    g = graph.copy()
    count = 0
    for up in [n for n in g.nodes if n.op == "resize_nearest" and tuple(n.attrs["scale"]) == (2, 2)]:
        pads = g.consumers(up.output)
        if len(pads) != 1 or pads[0].op != "pad" or pads[0].attrs["mode"] != "reflect" or \
                tuple(pads[0].attrs["pads"]) != (1, 1, 1, 1) or up.output == g.output:
            continue
        pad = pads[0]
        convs = g.consumers(pad.output)
        if len(convs) != 1 or convs[0].op != "conv" or pad.output == g.output:
            continue
        conv = convs[0]
        k = g.consts[conv.inputs[1]]
        if k.shape[2:] != (3, 3) or tuple(conv.attrs["stride"]) != (1, 1) or \
                tuple(conv.attrs.get("dilation", (1, 1))) != (1, 1) or conv.attrs.get("group", 1) != 1:
            continue
        x, _, _, h, w = up.inputs[0], *g.shapes[up.inputs[0]]
        new: list[Node] = []
        # edge-pad the small image by 1 (border row/column repeated) as slices + concat
        z = x
        for axis, n in ((2, h), (3, w)):
            first = _slice(g, new, z, axis, 0, up.name + "/edge")
            last = _slice(g, new, z, axis, n - 1, up.name + "/edge")
            z = _concat(g, new, [first, z, last], axis, f"{up.output}__edge{axis}", f"{up.name}/edge{axis}")
        kks = {}
        for a in (0, 1):
            for b in (0, 1):
                kk = np.zeros(k.shape[:2] + (2, 2), dtype=np.float32)
                for p, rows in enumerate(_SUBPIXEL_TAPS[a]):
                    for q, cols in enumerate(_SUBPIXEL_TAPS[b]):
                        kk[:, :, p, q] = k[:, :, list(rows)][:, :, :, list(cols)].sum(axis=(2, 3))
                kks[a, b] = kk
        if k.shape[0] <= SUBPIXEL_ONE_CONV_COUT:
            new += _parity_conv(g, conv, z, kks, (3, 3), (1, 1))
        else:
            new += _four_parity_convs(g, conv, z, kks, h, w)
        i = g.nodes.index(up)
        g.nodes = [n for n in g.nodes if n not in (up, pad, conv)]
        g.nodes[i:i] = new
        count += 1
    g.prune()
    return g, count


def _four_parity_convs(g: Graph, conv: Node, z: str, kks: dict, h: int, w: int) -> list[Node]:
    """nearest_conv_subpixel's wide form: one 2x2 conv per output parity on its window of the edge-padded image
    `z`, interleaved into conv.output."""
    new: list[Node] = []
    parts = {}
    for a in (0, 1):
        for b in (0, 1):
            win = z
            for axis, off, n in ((2, a, h), (3, b, w)):
                out = g.fresh(f"{conv.output}__win{a}{b}_{axis}")
                new.append(Node("slice", [win], out, {"axis": axis, "start": off, "end": off + n + 1},
                                f"{conv.name}/window{a}{b}_{axis}"))
                g.shapes[out] = ()
                win = out
            wname = g.fresh(f"{conv.output}__w{a}{b}")
            g.consts[wname] = kks[a, b]
            out = g.fresh(f"{conv.output}__p{a}{b}")
            new.append(Node("conv", [win, wname] + conv.inputs[2:], out, {"stride": (1, 1), "dilation": (1, 1),
                                                                         "group": 1}, f"{conv.name}/parity{a}{b}"))
            g.shapes[out] = ()
            parts[a, b] = out
    rows_ = []
    for a in (0, 1):
        out = g.fresh(f"{conv.output}__row{a}")
        new.append(Node("interleave", [parts[a, 0], parts[a, 1]], out, {"axis": 3}, f"{conv.name}/cols{a}"))
        g.shapes[out] = ()
        rows_.append(out)
    new.append(Node("interleave", rows_, conv.output, {"axis": 2}, f"{conv.name}/rows"))
    return new


def _parity_conv(g: Graph, conv: Node, x: str, kernels: dict, size: tuple[int, int], stride: tuple[int, int]
                 ) -> list[Node]:
    """One conv of `x` whose 4 * Cout outputs are conv.output's four parities, kernels[a, b] placed at offset
    (a, b) of a `size` kernel, then DEPTH_TO_SPACE(2) into conv.output: DCR order puts channel (2a + b) * Cout + c
    at (2i + a, 2j + b). Used by nearest_conv_subpixel (narrow form) and conv_output_parities."""
    cout, cin, kh, kw = next(iter(kernels.values())).shape
    big = np.zeros((4 * cout, cin) + tuple(size), np.float32)
    for (a, b), k in kernels.items():
        big[(2 * a + b) * cout:(2 * a + b + 1) * cout, :, a:a + kh, b:b + kw] = k
    bias = g.consts[conv.inputs[2]] if len(conv.inputs) > 2 else np.zeros(cout, np.float32)
    wname, bname = g.fresh(f"{conv.output}__parity_w"), g.fresh(f"{conv.output}__parity_b")
    g.consts[wname], g.consts[bname] = big, np.tile(np.asarray(bias, np.float32), 4)
    mid = g.fresh(f"{conv.output}__parities")
    g.shapes[mid] = ()
    return [Node("conv", [x, wname, bname], mid, {"stride": tuple(stride), "dilation": (1, 1), "group": 1},
                 conv.name + "/parities"),
            Node("depth_to_space", [mid], conv.output, {"block": 2}, conv.name + "/interleave")]


def _scalar(g: Graph, value: float) -> str:
    name = g.fresh("const")
    g.consts[name] = np.asarray(value, dtype=np.float32)
    return name


def _norm_mean(g: Graph, norm: Node, src: str, out: str, name: str) -> list[Node]:
    """The spatial mean `out` of `src` for instance norm `norm`: one MEAN, or with parity_groups (set by
    stride2_conv_on_parities) a MEAN per channel and a 1x1 conv averaging each channel's parities."""
    k = norm.attrs.get("parity_groups", 1)
    if k == 1:
        return [Node("reduce_mean", [src], out, {"axes": (2, 3)}, name)]
    c4 = g.shapes[norm.inputs[0]][1]
    c = c4 // k
    avg = np.zeros((c4, c4, 1, 1), np.float32)
    for o in range(c4):
        avg[o, o % c::c, 0, 0] = 1.0 / k
    part, wname = g.fresh(f"{out}__per_parity"), g.fresh(f"{out}__parity_avg")
    g.consts[wname] = avg
    g.shapes[part] = ()
    return [Node("reduce_mean", [src], part, {"axes": (2, 3)}, name + "/per_parity"),
            Node("conv", [part, wname], out, {"stride": (1, 1), "dilation": (1, 1), "group": 1}, name)]


def _norm_affine(g: Graph, norm: Node, value: str, base: str) -> str:
    """gamma or beta of `norm` as a [1, C, 1, 1] constant, repeated per parity group when it has them."""
    name = g.fresh(base)
    v = np.asarray(g.consts[value], np.float32).reshape(-1)
    g.consts[name] = np.tile(v, norm.attrs.get("parity_groups", 1)).reshape(1, -1, 1, 1)
    return name


def instance_norm_rsqrt(graph: Graph) -> tuple[Graph, int]:
    """instance_norm -> mean, sub, mul, mean, add, rsqrt, mul, mul, add; and, in already-decomposed norms,
    div(a, sqrt(v)) -> mul(a, rsqrt(v)), pow(x, 2) -> mul(x, x): ops every delegate here takes in every precision.
    """
    g = graph.copy()
    count = 0
    for node in [n for n in g.nodes if n.op == "instance_norm"]:
        x, gamma, beta = node.inputs
        p = node.output
        mean, d, sq, var, ve, inv, scale, y = (g.fresh(f"{p}__{s}") for s in
                                               ("mean", "d", "sq", "var", "ve", "inv", "scale", "y"))
        eps = _scalar(g, node.attrs["eps"])
        gname, bname = _norm_affine(g, node, gamma, f"{p}__gamma"), _norm_affine(g, node, beta, f"{p}__beta")
        nm = node.name
        _replace(g, node, [
            *_norm_mean(g, node, x, mean, nm + "/mean"),
            Node("sub", [x, mean], d, {}, nm + "/center"),
            Node("mul", [d, d], sq, {}, nm + "/square"),
            *_norm_mean(g, node, sq, var, nm + "/var"),
            Node("add", [var, eps], ve, {}, nm + "/var_eps"),
            Node("rsqrt", [ve], inv, {}, nm + "/rsqrt"),
            Node("mul", [inv, gname], scale, {}, nm + "/scale"),
            Node("mul", [d, scale], y, {}, nm + "/normalize"),
            Node("add", [y, bname], p, {}, nm + "/shift"),
        ])
        count += 1
    for node in list(g.nodes):
        if node.op == "pow" and node.inputs[1] in g.consts and np.all(g.consts[node.inputs[1]] == 2.0):
            node.op, node.inputs = "mul", [node.inputs[0], node.inputs[0]]
            count += 1
        elif node.op == "div":
            src = g.producer(node.inputs[1])
            if src is None or src.op != "sqrt":
                continue
            rs = g.fresh(f"{src.output}__rsqrt")
            g.nodes.insert(g.nodes.index(node), Node("rsqrt", [src.inputs[0]], rs, {}, src.name + "/rsqrt"))
            num = node.inputs[0]
            if num in g.consts and np.all(g.consts[num] == 1.0):
                node.op, node.inputs = "mul", [rs, _scalar(g, 1.0)]
            else:
                node.op, node.inputs = "mul", [num, rs]
            count += 1
    g.prune()
    return g, count


def instance_norm_moments(graph: Graph) -> tuple[Graph, int]:
    """instance_norm  ==>  m = mean(x), v = max(mean(x * x) - m * m, 0), s = gamma * rsqrt(v + eps),
    y = x * s + (beta - m * s); the conv bias feeding it, if the norm is its only reader, set to zero.

    Why: the textbook decomposition (instance_norm_rsqrt) makes four passes over the full-size activation after
    its mean (x - m, its square, the scale, the shift); this one makes three (x * x, the scale, the shift; the
    shift fuses a following ReLU) and leaves x - m out. Exact up to float rounding: a bias b on every pixel of a
    channel moves its mean by b and nothing else, and var = E[x^2] - E[x]^2; dropping the bias keeps E[x] near 0,
    which is where that difference loses least. float only: in int8 files the full-size squares would be a float
    island, and the shift a tensor int8 cannot scale across channels.
    """
    g = graph.copy()
    count = 0
    for node in [n for n in g.nodes if n.op == "instance_norm"]:
        x, gamma, beta = node.inputs
        p, nm = node.output, node.name
        conv = g.producer(x)
        if conv is not None and conv.op == "conv" and len(conv.inputs) > 2 and len(g.consumers(x)) == 1 \
                and x != g.output:
            zero = g.fresh(f"{conv.output}__bias_cancelled")
            g.consts[zero] = np.zeros_like(np.asarray(g.consts[conv.inputs[2]], np.float32))
            conv.inputs = conv.inputs[:2] + [zero] + conv.inputs[3:]
        mean, sq, msq, m2, var, vpos, ve, inv, scale, ms, shift, y = (g.fresh(f"{p}__{s}") for s in (
            "mean", "sq", "msq", "m2", "var", "vpos", "ve", "inv", "scale", "ms", "shift", "y"))
        gname, bname = _norm_affine(g, node, gamma, f"{p}__gamma"), _norm_affine(g, node, beta, f"{p}__beta")
        new = [
            *_norm_mean(g, node, x, mean, nm + "/mean"),
            Node("mul", [x, x], sq, {}, nm + "/square"),
            *_norm_mean(g, node, sq, msq, nm + "/mean_square"),
            Node("mul", [mean, mean], m2, {}, nm + "/mean_squared"),
            Node("sub", [msq, m2], var, {}, nm + "/var"),
            Node("max", [var, _scalar(g, 0.0)], vpos, {}, nm + "/var_nonneg"),
            Node("add", [vpos, _scalar(g, node.attrs["eps"])], ve, {}, nm + "/var_eps"),
            Node("rsqrt", [ve], inv, {}, nm + "/rsqrt"),
            Node("mul", [inv, gname], scale, {}, nm + "/scale"),
            Node("mul", [mean, scale], ms, {}, nm + "/mean_scaled"),
            Node("sub", [bname, ms], shift, {}, nm + "/shift_of_mean"),
            Node("mul", [x, scale], y, {}, nm + "/normalize"),
            Node("add", [y, shift], p, {}, nm + "/shift"),
        ]
        for n in new:
            g.shapes.setdefault(n.output, ())
        _replace(g, node, new)
        count += 1
    g.prune()
    return g, count


# Channels under which widen_channel_broadcasts widens a per-channel operand to [1, C, 1, W]. XNNPACK's
# broadcasting binary kernels loop over the innermost (channel) run: one instance norm on a 4-channel 480x320
# activation took 0.97 ms with its scale and shift widened and 1.78 ms without; at 32 channels and over the plain
# broadcast was as fast or faster (one-norm LiteRT models timed alone, 2 threads, 4 to 128 channels).
WIDEN_BELOW_CHANNELS = 32


def widen_channel_broadcasts(graph: Graph) -> tuple[Graph, int]:
    """add/sub/mul of a full-size activation [1, C, H, W] (C < WIDEN_BELOW_CHANNELS) and a per-channel
    [1, C, 1, 1] operand  ==>  the operand widened to [1, C, 1, W]: a constant is stored widened, a computed one
    (an instance norm's mean or scale) is multiplied by ones. Exact: the same values, broadcast one axis earlier.
    """
    g = graph.copy()
    count = 0
    wide: dict[str, str] = {}
    for node in list(g.nodes):
        if node.op not in ("add", "sub", "mul") or len(node.inputs) != 2:
            continue
        shapes = [tuple(g.shapes.get(i, g.consts[i].shape if i in g.consts else ())) for i in node.inputs]
        for k in (0, 1):
            big, small = shapes[1 - k], shapes[k]
            if len(big) != 4 or len(small) != 4 or big[2] == 1 or big[3] == 1 or \
                    big[1] >= WIDEN_BELOW_CHANNELS or small != (1, big[1], 1, 1):
                continue
            name = node.inputs[k]
            if name not in wide:
                out = g.fresh(f"{name}__wide")
                if name in g.consts:
                    g.consts[out] = np.ascontiguousarray(np.broadcast_to(
                        np.asarray(g.consts[name], np.float32), (1, big[1], 1, big[3])))
                else:
                    ones = g.fresh(f"{name}__ones")
                    g.consts[ones] = np.ones((1, big[1], 1, big[3]), np.float32)
                    g.shapes[out] = ()
                    src = g.producer(name)
                    g.nodes.insert(g.nodes.index(src) + 1 if src is not None else 0,
                                   Node("mul", [name, ones], out, {}, (src.name if src else name) + "/wide"))
                wide[name] = out
            node.inputs[k] = wide[name]
            count += 1
            break
    g.prune()
    return g, count


# When spatial_mean_by_rows splits a spatial MEAN. XNNPACK reduces [1, H, W, C] over H and W with C values per inner
# step, and a MEAN over H (W * C contiguous values per row) then one over W is faster while C is small:
# - under 16 channels, at any size: one 480x320 MEAN alone (LiteRT, 2 threads, input copy subtracted) took 0.16 ms
#   on 4 float channels and 0.27 ms on 8, against 0.04 and 0.10 ms by rows;
# - up to 32 channels from 160x120 pixels on (the half-size parities of stride2_conv_on_parities' norms, full-size
#   norms of alpha 0.5 and 1), measured later on another CPU of this machine kind, each MEAN alone in one
#   interleaved run: float 160x240 1.19x (16 ch) and 1.44x (32), 320x480 1.37x and 1.73x, 120x160x16 1.26x;
#   at 64 channels and at 80x120 (16 ch: 0.78x) one MEAN was as fast or faster. Whole files, vst-bench --compare:
#   kunster-t2-10 int8 480x320 1.062x, t2-15 int8 1.057x, t2-03 int8 1.047x, t2-01 fp32 1.031x.
MEAN_BY_ROWS_BELOW_CHANNELS = 16
MEAN_BY_ROWS_LARGE = (32, 160 * 120)        # (up to this many channels, from this many pixels on)


def mean_by_rows(c: int, h: int, w: int) -> bool:
    """Whether a spatial mean of [1, c, h, w] is taken by rows (see MEAN_BY_ROWS_BELOW_CHANNELS)."""
    return c < MEAN_BY_ROWS_BELOW_CHANNELS or (c <= MEAN_BY_ROWS_LARGE[0] and h * w >= MEAN_BY_ROWS_LARGE[1])


def spatial_mean_by_rows(graph: Graph) -> tuple[Graph, int]:
    """reduce_mean of an activation [1, C, H, W] over (H, W) where mean_by_rows(C, H, W)  ==>  reduce_mean over
    H, then over W. Exact up to float rounding: every row has W values, so the mean of the row means is the mean
    (and in float closer to it: fewer values summed in each step)."""
    g = graph.copy()
    count = 0
    for node in list(g.nodes):
        shape = tuple(g.shapes.get(node.inputs[0], ()))
        if node.op != "reduce_mean" or tuple(node.attrs["axes"]) != (2, 3) or len(shape) != 4 or \
                1 in shape[2:] or not mean_by_rows(*shape[1:]):
            continue
        rows = g.fresh(f"{node.output}__rows")
        g.shapes[rows] = (shape[0], shape[1], 1, shape[3])
        g.nodes.insert(g.nodes.index(node), Node("reduce_mean", [node.inputs[0]], rows, {"axes": (2,)},
                                                 node.name + "/rows"))
        node.inputs, node.attrs = [rows], {**node.attrs, "axes": (3,)}
        count += 1
    return g, count


# XNNPACK's int8 ADD takes an input whose scale is at least 2**-10 of the output's (xnn_create_add_nd_qs8 in
# XNNPACK's binary-elementwise-nd.c); shift_as_depthwise rewrites constants under 2**-8 of the sum's range on real
# photos, a 4x margin for calibration sets wider than those photos.
MIN_ADD_SCALE_RATIO = 2.0 ** -8


def shift_as_depthwise(graph: Graph) -> tuple[Graph, int]:
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
    g = graph.copy()
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
        return g, 0
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
    g.prune()
    return g, count


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


def fold_affine_into_conv(graph: Graph) -> tuple[Graph, int]:
    """conv -> mul(per-channel or scalar constant) / add(same)  ==>  one conv with scaled weights and shifted bias.

    Why: inference BatchNorm imports as a per-channel scale and shift; folded, it costs nothing at run time and
    the int8 file has no extra requantized tensor. Exact up to float rounding of w * s (a conv is linear per
    output channel). Only a conv whose output feeds nothing else is folded.
    """
    g = graph.copy()
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
    g.prune()
    return g, count


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


def conv_output_parities(graph: Graph) -> tuple[Graph, int]:
    """conv k x k, stride 1, few output channels, even output size  ==>  one stride-2 conv with a (k+1)x(k+1)
    kernel whose 4*Cout output channels are the four output parities, then DEPTH_TO_SPACE(2).

    Why: a GEMM with N = Cout = 3 wastes most of each XNNPACK micro-kernel tile and loads every input tap for
    only 3 outputs. Output (2i+a, 2j+b) reads input rows 2i+a .. 2i+a+k-1, i.e. the rows a .. a+k-1 of the
    (k+1)-row window at stride 2 starting at 2i: the parity's kernel is the original one shifted by (a, b) in a
    zero (k+1)x(k+1) kernel. Channel (2a+b)*Cout+c then lands at (2i+a, 2j+b) under DEPTH_TO_SPACE (DCR order).
    ((k+1)/k)^2 more MACs (1.23x for 9x9) in a GEMM four times wider. Exact: the same products, zeros added.
    """
    g = graph.copy()
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
        _replace(g, conv, _parity_conv(g, conv, conv.inputs[0], {(a, b): w for a in (0, 1) for b in (0, 1)},
                                       (kh + 1, kw + 1), (2, 2)))
        count += 1
    g.prune()
    return g, count


# Channels (of the full-resolution tensor) up to which stride2_conv_on_parities reads a stride-2 conv's input as
# parities. vst-bench --compare, int8, pass off vs on, one interleaved run each: 4 channels (alpha 0.125,
# kunster-t2-10 and t2-15 at 480x320 and 320x240) 1.045-1.11x faster; 8 channels (alpha 0.25, t2-09 and t2-14)
# 0.945-0.98x, where the bigger parity convs cost more than the copies they save; measured again after
# spatial_mean_by_rows took the parity norms' means by rows: both sites 0.964-0.985x, the encoder's site alone
# 0.992-1.014x (t2-14 at both sizes, t2-09 at 320x240).
MAX_PARITY_INPUT_CIN = 4


def stride2_conv_on_parities(graph: Graph) -> tuple[Graph, int]:
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
    g = graph.copy()
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
            ends = [_slice(g, new, x, axis, 0, pad.name + "/first_block"), x]
            if k == 4:
                ends.append(_slice(g, new, x, axis, g.shapes[z][axis] - 1, pad.name + "/last_block"))
            x = _concat(g, new, ends, axis, f"{pad.output}__blocks{axis}", f"{pad.name}/blocks{axis}")
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
    g.prune()
    return g, count


# Input channels up to which conv_input_space_to_depth rewrites a stride-2 conv. XNNPACK's conv reads its
# input one kernel tap at a time, cin values per tap: with the image's 3 channels, the int8 kunster-t2-04 spent
# 37% of its op time in its first conv (3 -> 32 parities, 10x10 at stride 2) at 126 GMAC/s against 450-580 for
# its other convs (vst-bench --profile). Up to 16 it also takes the last conv's parity form (8 or 16 channels in,
# 10x10 at stride 2): int8 kunster.a025/a050 stage-2 at 480x320, medians 9.5-10.1 -> 8.5-8.8 ms and
# 14.1-18.9 -> 11.9-16.3 ms; fp32 12.6 vs 13.3 ms and unchanged (interleaved A/B in one process).
MAX_S2D_CIN = 16


def conv_input_space_to_depth(graph: Graph) -> tuple[Graph, int]:
    """conv k x k (k even), stride 2, <= MAX_S2D_CIN input channels, even input size  ==>  SPACE_TO_DEPTH(2) of
    the input, then a stride-1 conv with a (k/2) x (k/2) kernel over 4 * Cin channels.

    Why exact: output (i, j) of the stride-2 conv reads input (2i + u, 2j + v) for u, v < k; with u = 2p + a and
    v = 2q + b that is (i + p, j + q) of the block-2 space-to-depth image, channel (2a + b) * Cin + c, so the new
    kernel holds K[o, c, 2p + a, 2q + b] there: the same products, summed in another order. Typical site: the
    first conv after conv_output_parities (10x10 at stride 2 for a 9x9 conv).
    """
    g = graph.copy()
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
    g.prune()
    return g, count


REWRITES: dict[str, Callable[[Graph], tuple[Graph, int]]] = {
    "fold_affine_into_conv": fold_affine_into_conv,
    "nearest_conv_subpixel": nearest_conv_subpixel,
    "conv_output_parities": conv_output_parities,
    "stride2_conv_on_parities": stride2_conv_on_parities,
    "conv_input_space_to_depth": conv_input_space_to_depth,
    "reflect_pad_as_slices": reflect_pad_as_slices,
    "nearest_as_repeat": nearest_as_repeat,
    "instance_norm_moments": instance_norm_moments,
    "instance_norm_rsqrt": instance_norm_rsqrt,
    "shift_as_depthwise": shift_as_depthwise,
    "widen_channel_broadcasts": widen_channel_broadcasts,
    "spatial_mean_by_rows": spatial_mean_by_rows,
}

# Which rewrites each target needs, and why the others are left out (rules/*.json hold the op citations).
TARGET_REWRITES = {
    "tflite": ("fold_affine_into_conv", "nearest_conv_subpixel", "conv_output_parities",
               "stride2_conv_on_parities", "conv_input_space_to_depth", "reflect_pad_as_slices", "nearest_as_repeat",
               "instance_norm_moments", "instance_norm_rsqrt", "shift_as_depthwise", "widen_channel_broadcasts",
               "spatial_mean_by_rows"),
    "coreml": ("fold_affine_into_conv",),
    "onnx": (),
}
NOT_NEEDED = {
    "coreml": "Core ML has pad(mode=reflect), upsample_nearest_neighbor and instance_norm on ANE, GPU and CPU "
              "(rules/coreml.json); its fused instance_norm also avoids float16 overflow of a squared deviation",
    "onnx": "ONNX Runtime runs Pad(reflect), Resize and InstanceNormalization natively",
}
# Rewrites only some precisions need, and why the others leave them out.
# Keys: the --quant precisions, with dynamic-range int8 (--dynamic: float activations, int8 weights) apart.
QUANT_REWRITES = {"shift_as_depthwise": ("int8", "int8-dynamic"), "instance_norm_moments": ("fp32",),
                  "stride2_conv_on_parities": ("int8",)}
QUANT_NOT_NEEDED = {
    "instance_norm_moments": "int8 files keep the squares and variances float (tflite.STATS_PREFIX), which the "
                             "full-size E[x^2] would turn into a full-size float island; fp16 runs on GPUs, where "
                             "E[x^2] overflows float16 sooner than the squared deviation",
    "shift_as_depthwise": "float ADD of a per-channel constant is XNNPACK-delegated; only int8 ADD has a limit on "
                          "input-to-output scale ratios",
    "stride2_conv_on_parities": "XNNPACK's float convs (fp32, fp16 on the host, and dynamic-range int8, whose "
                                "activations stay float) ran the parity forms slower than the ones they replace: "
                                "kunster-t2-10 480x320 with the pass, fp32 0.934x and --dynamic 1.001x the speed "
                                "without it (vst-bench --compare)",
}


def prove_and_apply(graph: Graph, name: str, images_nchw: np.ndarray) -> tuple[Graph, PassResult]:
    """Run one rewrite; keep it only if outputs on real images stay >= EXACT_PSNR_DB from the unrewritten graph."""
    new, res, _ = prove(graph, name, images_nchw)
    return new, res


def prove(graph: Graph, name: str, images_nchw: np.ndarray, ref: np.ndarray | None = None
          ) -> tuple[Graph, PassResult, np.ndarray | None]:
    """prove_and_apply for a chain of rewrites: `ref` is `graph`'s output on the images if a previous proof
    already computed it (None: run it here); returns the kept graph, the result and the kept graph's output
    (None when nothing ran), so each graph of the chain runs once, not twice."""
    from vst.convert.verify import compare
    new, count = REWRITES[name](graph)
    if count == 0:
        return graph, PassResult(name, False, "nothing to rewrite in this model"), ref
    new.infer_shapes()
    ref = run_numpy(graph, images_nchw) if ref is None else ref
    got = run_numpy(new, images_nchw)
    cmp = compare(ref, got)
    if cmp["psnr_db"] < EXACT_PSNR_DB:
        return graph, PassResult(name, False, f"skipped: rewrite of {count} site(s) not exact on this model "
                                              f"(PSNR {cmp['psnr_db']:.1f} dB < {EXACT_PSNR_DB} dB)"), ref
    return new, PassResult(name, True, f"{count} site(s) rewritten; PSNR {_db(cmp['psnr_db'])} vs unrewritten on "
                                       f"{len(images_nchw)} real image(s), max abs err {cmp['max_abs_err']:.2e}"), got


def _db(v: float) -> str:
    return "inf dB (bit-identical)" if v == float("inf") else f"{v:.1f} dB"
