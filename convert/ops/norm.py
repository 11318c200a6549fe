"""Normalization: instance_norm, and ONNX BatchNormalization imported as a per-channel scale and shift."""
from __future__ import annotations

import numpy as np

from vst.common.errors import InternalError
from vst.convert.ops.base import Op, imports, register


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
