"""Instance norms and the means inside them: forms every delegate takes, exact in each precision."""
from __future__ import annotations

import numpy as np

from vst.convert.ir import Graph, Node
from vst.convert.passes.base import TFLITE_ONLY, XNNPACK_TARGETS, rewrite
from vst.convert.passes.edit import replace_node, scalar


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


@rewrite(targets=XNNPACK_TARGETS)
def instance_norm_rsqrt(g: Graph) -> int:
    """instance_norm -> mean, sub, mul, mean, add, rsqrt, mul, mul, add; and, in already-decomposed norms,
    div(a, sqrt(v)) -> mul(a, rsqrt(v)), pow(x, 2) -> mul(x, x): ops every delegate here takes in every precision.
    """
    count = 0
    for node in [n for n in g.nodes if n.op == "instance_norm"]:
        x, gamma, beta = node.inputs
        p = node.output
        mean, d, sq, var, ve, inv, scale, y = (g.fresh(f"{p}__{s}") for s in
                                               ("mean", "d", "sq", "var", "ve", "inv", "scale", "y"))
        eps = scalar(g, node.attrs["eps"])
        gname, bname = _norm_affine(g, node, gamma, f"{p}__gamma"), _norm_affine(g, node, beta, f"{p}__beta")
        nm = node.name
        replace_node(g, node, [
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
                node.op, node.inputs = "mul", [rs, scalar(g, 1.0)]
            else:
                node.op, node.inputs = "mul", [num, rs]
            count += 1
    return count


MOMENTS_FLOAT_ONLY = ("int8 files keep the squares and variances float (tflite.STATS_PREFIX), which the "
                      "full-size squares would turn into a full-size float island; fp16 files keep "
                      "instance_norm_rsqrt, with which their speed and fidelity were measured")


@rewrite(targets=TFLITE_ONLY, precisions=("fp32",), why_not=MOMENTS_FLOAT_ONLY,
         elsewhere="ExecuTorch's XNNPACK partitioner has no squared-difference op, which would cost it a full-size "
                   "x - m: its programs take instance_norm_raw_moments")
def instance_norm_moments(g: Graph) -> int:
    """instance_norm  ==>  m = mean(x), v = mean(squared_difference(x, m)), s = gamma * rsqrt(v + eps),
    y = x * s + (beta - m * s); the conv bias feeding it, if the norm is its only reader, set to zero.

    Why: the textbook decomposition (instance_norm_rsqrt) makes four passes over the full-size activation after
    its mean (x - m, its square, the scale, the shift); this one makes three (the squared deviation in one op,
    TFLite's SQUARED_DIFFERENCE, the scale, the shift; the shift fuses a following ReLU) and never writes x - m.
    The variance is taken from centred values, not as E[x^2] - m^2: a GPU computes a TFLite file in float16
    whatever its precision, where x * x overflows (inf) once |x| > 255.9 (a TransformerNet on 0-255 pixels: 23 dB
    on LiteRT's GPU against 47 dB centred, docs/gpu.md). Exact up to float rounding: a bias b on every pixel of a
    channel moves its mean by b and nothing else; dropping it keeps m near 0, so x * s and m * s cancel little
    in the shift. float only: in int8 files the full-size squares would be a float island, and the shift a tensor
    int8 cannot scale across channels.
    """
    return _moments(g, centred=True)


@rewrite(targets=("executorch",), precisions=("fp32",), why_not=MOMENTS_FLOAT_ONLY,
         elsewhere="TFLite files also run on GPUs, in float16, where x * x overflows: they take "
                   "instance_norm_moments")
def instance_norm_raw_moments(g: Graph) -> int:
    """instance_norm_moments with the variance as E[x^2] - m^2 (clamped at 0): the same three full-size passes
    for ExecuTorch's XNNPACK delegate, which has a square (x * x) but no squared difference, and runs on the CPU
    in float32, where x * x overflows nowhere near an image's activations. Dropping the conv bias keeps m near 0,
    where the difference loses least (>= 60 dB on the real photos, as every rewrite is proven)."""
    return _moments(g, centred=False)


def _moments(g: Graph, centred: bool) -> int:
    """Both forms of instance_norm_moments: the variance from centred values (one squared_difference) or as
    E[x^2] - m^2 (a square, its mean, the mean's square subtracted, clamped at 0)."""
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
        mean, sq, var, ve, inv, scale, ms, shift, y = (g.fresh(f"{p}__{s}") for s in (
            "mean", "sq", "var", "ve", "inv", "scale", "ms", "shift", "y"))
        gname, bname = _norm_affine(g, node, gamma, f"{p}__gamma"), _norm_affine(g, node, beta, f"{p}__beta")
        if centred:
            variance = [Node("squared_difference", [x, mean], sq, {}, nm + "/square"),
                        *_norm_mean(g, node, sq, var, nm + "/var")]
        else:
            msq, m2, raw = (g.fresh(f"{p}__{s}") for s in ("msq", "m2", "raw_var"))
            variance = [Node("mul", [x, x], sq, {}, nm + "/square"),
                        *_norm_mean(g, node, sq, msq, nm + "/mean_square"),
                        Node("mul", [mean, mean], m2, {}, nm + "/mean_squared"),
                        Node("sub", [msq, m2], raw, {}, nm + "/raw_var"),
                        Node("max", [raw, scalar(g, 0.0)], var, {}, nm + "/var")]
        new = [
            *_norm_mean(g, node, x, mean, nm + "/mean"),
            *variance,
            Node("add", [var, scalar(g, node.attrs["eps"])], ve, {}, nm + "/var_eps"),
            Node("rsqrt", [ve], inv, {}, nm + "/rsqrt"),
            Node("mul", [inv, gname], scale, {}, nm + "/scale"),
            Node("mul", [mean, scale], ms, {}, nm + "/mean_scaled"),
            Node("sub", [bname, ms], shift, {}, nm + "/shift_of_mean"),
            Node("mul", [x, scale], y, {}, nm + "/normalize"),
            Node("add", [y, shift], p, {}, nm + "/shift"),
        ]
        for n in new:
            g.shapes.setdefault(n.output, ())
        replace_node(g, node, new)
        count += 1
    return count


# Channels under which widen_channel_broadcasts widens a per-channel operand to [1, C, 1, W]. XNNPACK's
# broadcasting binary kernels loop over the innermost (channel) run: one instance norm on a 4-channel 480x320
# activation took 0.97 ms with its scale and shift widened and 1.78 ms without; at 32 channels and over the plain
# broadcast was as fast or faster (one-norm LiteRT models timed alone, 2 threads, 4 to 128 channels). ExecuTorch's
# XNNPACK delegate runs the same kernels: kunster-t2-15 320x240's two 4-channel full-size adds took 0.65-0.78 ms
# each unwidened, and its adds 2.0 ms in all against 0.12 ms widened (ETDump, 2 threads).
WIDEN_BELOW_CHANNELS = 32


@rewrite(targets=("executorch",), elsewhere="TFLite's converter folds them itself")
def fold_identity_affines(g: Graph) -> int:
    """add(x, 0) or sub(x, 0), and mul(x, 1), with a constant of zeros (ones) that does not widen x  ==>  x. An
    untrained norm's beta (zeros) and gamma (ones): TFLite's converter folds them away, torch.export keeps them, and
    in an ExecuTorch program each shift by zeros is a full-size add (in int8 a requantizing one). Exact."""
    count = 0
    for node in list(g.nodes):
        if node.op not in ("add", "sub", "mul") or len(node.inputs) != 2 or node.output == g.output:
            continue
        neutral = 1.0 if node.op == "mul" else 0.0
        sides = [1] if node.op == "sub" else [0, 1]
        for k in sides:
            c, x = node.inputs[k], node.inputs[1 - k]
            if c not in g.consts or x in g.consts:
                continue
            value, shape = np.asarray(g.consts[c]), tuple(g.shapes.get(x, ()))
            if not shape or np.broadcast_shapes(value.shape, shape) != shape or np.any(value != neutral):
                continue
            for n in g.nodes:
                n.inputs = [x if i == node.output else i for i in n.inputs]
            g.nodes.remove(node)
            count += 1
            break
    return count


@rewrite(targets=XNNPACK_TARGETS)
def widen_channel_broadcasts(g: Graph) -> int:
    """add/sub/mul/squared_difference of a full-size activation [1, C, H, W] (C < WIDEN_BELOW_CHANNELS) and a
    per-channel [1, C, 1, 1] operand  ==>  the operand widened to [1, C, 1, W]: a constant is stored widened, a
    computed one (an instance norm's mean or scale) is multiplied by ones. Exact: the same values, broadcast one
    axis earlier.
    """
    count = 0
    wide: dict[str, str] = {}
    for node in list(g.nodes):
        if node.op not in ("add", "sub", "mul", "squared_difference") or len(node.inputs) != 2:
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
    return count


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


@rewrite(targets=TFLITE_ONLY, prune=False)
def spatial_mean_by_rows(g: Graph) -> int:
    """reduce_mean of an activation [1, C, H, W] over (H, W) where mean_by_rows(C, H, W)  ==>  reduce_mean over
    H, then over W. Exact up to float rounding: every row has W values, so the mean of the row means is the mean
    (and in float closer to it: fewer values summed in each step)."""
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
    return count
