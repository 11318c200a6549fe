"""Normalization: instance_norm; ONNX BatchNormalization imported as a per-channel scale and shift; torch's
GroupNorm pattern and LayerNormalization imported as means, rsqrt and elementwise ops."""
from __future__ import annotations

import numpy as np

from vst.common.errors import InternalError
from vst.convert.ops.base import IDENTITY, Op, imports, register


@register("instance_norm")
class InstanceNorm(Op):
    def reference(self, ctx, node, ins):
        a = node.attrs
        k = a.get("parity_groups", 1)   # statistics shared by channels c, c + C, ... (stride2_conv_on_parities)
        t = ins[0]
        if k > 1:
            n_, c4, h, w = t.shape
            t = t.reshape(n_, k, c4 // k, h, w).transpose(1, 2).reshape(n_, c4 // k, k * h, w)
        y = ctx.F.instance_norm(t, weight=ins[1], bias=ins[2], eps=a["eps"])
        if k > 1:
            y = y.reshape(n_, c4 // k, k, h, w).transpose(1, 2).reshape(n_, c4, h, w)
        return y

    def tensorflow(self, ctx, node, x, nm):
        tf, graph, a, ax = ctx.tf, ctx.graph, node.attrs, ctx.ax
        if a.get("parity_groups", 1) != 1:
            raise InternalError(f"norm {node.name!r} shares statistics across parities but was not decomposed")
        axes = [ax(2), ax(3)]
        mean = tf.reduce_mean(x, axes, keepdims=True)
        d = x - mean
        var = tf.reduce_mean(d * d, axes, keepdims=True)
        gshape = [1, 1, 1, -1] if ctx.layout == "nhwc" else [1, -1, 1, 1]
        gamma = tf.constant(graph.consts[node.inputs[1]].reshape(gshape).astype(np.float32))
        beta = tf.constant(graph.consts[node.inputs[2]].reshape(gshape).astype(np.float32))
        return tf.add(d * (tf.math.rsqrt(var + a["eps"]) * gamma), beta, name=nm)

    def mil(self, ctx, node, x, nm):
        a, val = node.attrs, ctx.val
        if a.get("parity_groups", 1) != 1:     # made by a TFLite-only rewrite
            raise InternalError(f"norm {node.name!r} shares statistics across parities")
        return ctx.mb.instance_norm(x=x, gamma=val(node.inputs[1]).reshape(-1), beta=val(node.inputs[2]).reshape(-1),
                                    epsilon=float(a["eps"]), name=nm)


@imports("InstanceNormalization")
def import_instance_norm(ctx, node):
    ctx.plain(node.input[0])
    ctx.add("instance_norm", ctx.ins[:3], ctx.out, {"eps": float(ctx.a.get("epsilon", 1e-5))}, ctx.nm)


@imports("BatchNormalization")
def import_batch_norm(ctx, node):
    # inference form: a per-channel scale and shift (fold_affine_into_conv merges them into a conv)
    a, ins, out, nm, consts = ctx.a, ctx.ins, ctx.out, ctx.nm, ctx.consts
    ctx.plain(node.input[0])
    gamma, beta, mean, var = (ctx.const(i, "a statistic").astype(np.float64) for i in ins[1:5])
    scale = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
    sname, bname = f"{out}__bn_scale", f"{out}__bn_shift"
    consts[sname] = scale.reshape(1, -1, 1, 1).astype(np.float32)
    consts[bname] = (beta - mean * scale).reshape(1, -1, 1, 1).astype(np.float32)
    ctx.add("mul", [ins[0], sname], f"{out}__bn", {}, nm + "/scale")
    ctx.add("add", [f"{out}__bn", bname], out, {}, nm + "/shift")


def _normalize(ctx, x: str, out: str, nm: str, mean, eps: float, gamma: str | None, beta: str | None) -> None:
    """(x - m) * rsqrt(v + eps) * gamma + beta in IR ops every target takes, with m and v the means that
    `mean(src, dst, name)` adds (over axes, or over channel groups). The squares and variances are statistics
    that int8 files keep float (tflite.statistics_nodes)."""
    m, d, sq, v, ve, inv, y = (f"{out}__{s}" for s in ("mean", "d", "sq", "var", "ve", "inv", "y"))
    e = f"{out}__eps"
    ctx.consts[e] = np.float32(eps)
    mean(x, m, nm + "/mean")
    ctx.add("sub", [x, m], d, {}, nm + "/center")
    ctx.add("mul", [d, d], sq, {}, nm + "/square")
    mean(sq, v, nm + "/var")
    ctx.add("add", [v, e], ve, {}, nm + "/var_eps")
    ctx.add("rsqrt", [ve], inv, {}, nm + "/rsqrt")
    steps = [("mul", gamma, "scale"), ("add", beta, "shift")]
    steps = [s for s in steps if s[1] is not None]
    ctx.add("mul", [d, inv], out if not steps else y, {}, nm + "/normalize")
    cur = y
    for k, (op, c, what) in enumerate(steps):
        nxt = out if k == len(steps) - 1 else f"{out}__{what}"
        ctx.add(op, [cur, c], nxt, {}, f"{nm}/{what}")
        cur = nxt


def _affine(ctx, name: str, value: np.ndarray | None, neutral: float, q) -> str | None:
    """A gamma or beta constant in the IR's order for a result permuted by q; None when it changes nothing."""
    if value is None or np.all(np.asarray(value) == neutral):
        return None
    ctx.consts[name] = np.asarray(value, np.float32)
    return ctx.ir_const(name, q)


def import_group_norm(ctx, node) -> bool:
    """torch's GroupNorm export: Reshape [1, C, H, W] -> [1, G, -1], InstanceNormalization over the G groups,
    Reshape back to [1, C, H, W] (then the per-channel affine as Mul and Add). Imported as one normalization
    whose means are spatial means averaged over each group's channels by a 1x1 convolution (rank 4 throughout,
    so NHWC; the statistics stay 1x1 per channel). False when `node` (a Reshape) does not start that pattern."""
    src = ctx.shape_of(node.input[0])
    target = ctx.consts.get(node.input[1]) if len(node.input) > 1 else None
    if len(src) != 4 or target is None or target.size != 3 or int(target[0]) not in (0, 1) or src[0] != 1:
        return False
    g, c = int(target[1]), src[1]
    users = ctx.users(node.output[0])
    if g < 1 or c % g or len(users) != 1 or users[0].op_type != "InstanceNormalization":
        return False
    inorm = users[0]
    back = ctx.users(inorm.output[0])
    if len(back) != 1 or back[0].op_type != "Reshape" or back[0].input[1] not in ctx.consts:
        return False
    shape = [src[k] if int(v) == 0 else int(v) for k, v in enumerate(ctx.consts[back[0].input[1]].tolist())]
    if -1 in shape:
        shape[shape.index(-1)] = int(np.prod(src)) // -int(np.prod(shape))
    if shape != list(src) or inorm.input[1] not in ctx.consts or inorm.input[2] not in ctx.consts:
        return False
    ctx.plain(node.input[0])
    k = c // g
    scale, bias = (np.repeat(np.asarray(ctx.consts[t], np.float32).reshape(-1), k) for t in inorm.input[1:3])
    eps = float(next((a.f for a in inorm.attribute if a.name == "epsilon"), 1e-5))
    out, x = back[0].output[0], ctx.ins[0]
    nm = node.name or out
    ctx.done.update({inorm.output[0], out})
    if k == 1:     # a group per channel: an instance norm
        gname, bname = f"{out}__gamma", f"{out}__beta"
        ctx.consts[gname], ctx.consts[bname] = scale, bias
        ctx.add("instance_norm", [x, gname, bname], out, {"eps": eps}, nm)
        return True
    avg = np.zeros((c, c, 1, 1), np.float32)
    for o in range(c):
        avg[o, (o // k) * k:(o // k + 1) * k, 0, 0] = 1.0 / k
    wname = f"{out}__group_avg"
    ctx.consts[wname] = avg

    def group_mean(s, dst, name):
        ctx.add("reduce_mean", [s], f"{dst}__per_channel", {"axes": (2, 3)}, name + "/per_channel")
        ctx.add("conv", [f"{dst}__per_channel", wname], dst, {"stride": (1, 1), "dilation": (1, 1), "group": 1},
                name)
    _normalize(ctx, x, out, nm, group_mean, eps, _affine(ctx, f"{out}__gamma", scale.reshape(1, -1, 1, 1), 1.0,
                                                         IDENTITY),
               _affine(ctx, f"{out}__beta", bias.reshape(1, -1, 1, 1), 0.0, IDENTITY))
    return True


@imports("LayerNormalization", keeps_layout=True)
def import_layer_norm(ctx, node):
    """LayerNormalization over the trailing axes from `axis` of the ONNX tensor: over channels (a channel-last
    LayerNorm, its transposes tracked as a layout), or over C, H, W; its mean and variance as reduce_mean."""
    a, ins, q = ctx.a, ctx.ins, ctx.src_perm
    if any(o for o in node.output[1:]):
        ctx.unsupported("its mean or inverse deviation outputs are used")
    r = len(ctx.shape_of(node.input[0]))
    start = int(a.get("axis", -1)) % r + 4 - r       # a rank-r tensor is rank 4 with 1s before (ctx.ir_axis)
    axes = tuple(sorted(q[k] for k in range(start, 4)))
    if 0 in axes:
        ctx.unsupported("normalization over the batch axis")
    scale = ctx.const(ins[1], "the scale")
    bias = ctx.const(ins[2], "the bias") if len(ins) > 2 and ins[2] else None
    out, nm = ctx.out, ctx.nm

    def mean(s, dst, name):
        ctx.add("reduce_mean", [s], dst, {"axes": axes}, name)
    _normalize(ctx, ins[0], out, nm, mean, float(a.get("epsilon", 1e-5)),
               _affine(ctx, f"{out}__gamma", scale, 1.0, q), _affine(ctx, f"{out}__beta", bias, 0.0, q))
