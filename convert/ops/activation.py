"""Smooth activations and the channel softmax: gelu (erf and tanh forms), erf, elu, softplus, mish, softmax.
Imported, they keep their input's layout permutation. ONNX's Selu, and torch's Softplus threshold (a Where on a
Greater that picks x where softplus(x) equals it in float), are imported as these."""
from __future__ import annotations

import numpy as np

from vst.convert.ops.base import IDENTITY, Op, imports, register

# erf(x) = 1 - poly(t) exp(-x^2), t = 1 / (1 + p|x|), odd in x: Abramowitz and Stegun 7.1.26, |error| <= 1.5e-7.
# TFLite has no ERF kernel; the erf inside a GELU is fused into TFLite's GELU instead (passes/activations.py).
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


@register("gelu")
class Gelu(Op):
    def reference(self, ctx, node, ins):
        return ctx.F.gelu(ins[0], approximate=node.attrs["approximate"])

    def tensorflow(self, ctx, node, x, nm):
        return ctx.tf.nn.gelu(x, approximate=node.attrs["approximate"] == "tanh", name=nm)

    def mil(self, ctx, node, x, nm):
        mode = "TANH_APPROXIMATION" if node.attrs["approximate"] == "tanh" else "EXACT"
        return ctx.mb.gelu(x=x, mode=mode, name=nm)


@imports("Gelu", keeps_layout=True)
def import_gelu(ctx, node):
    ctx.add("gelu", [ctx.ins[0]], ctx.out, {"approximate": ctx.a.get("approximate", "none")}, ctx.nm)


@register("erf")
class Erf(Op):
    def reference(self, ctx, node, ins):
        return ctx.torch.erf(ins[0])

    def tensorflow(self, ctx, node, x, nm):
        tf = ctx.tf
        ax = tf.abs(x)
        t = tf.math.reciprocal(1.0 + _ERF_P * ax)
        poly = _ERF_A[4]
        for a in _ERF_A[3::-1]:
            poly = poly * t + a
        return tf.multiply(tf.sign(x), 1.0 - poly * t * tf.exp(-ax * ax), name=nm)

    def mil(self, ctx, node, x, nm):
        return ctx.mb.erf(x=x, name=nm)


@imports("Erf", keeps_layout=True)
def import_erf(ctx, node):
    ctx.add("erf", [ctx.ins[0]], ctx.out, {}, ctx.nm)


@register("elu")
class Elu(Op):
    def reference(self, ctx, node, ins):
        return ctx.F.elu(ins[0], node.attrs["alpha"])

    def tensorflow(self, ctx, node, x, nm):
        tf, alpha = ctx.tf, node.attrs["alpha"]
        if alpha == 1.0:
            return tf.nn.elu(x, name=nm)
        # relu(x) + alpha * elu(min(x, 0)): TFLite's ELU has no alpha
        return tf.add(tf.nn.relu(x), alpha * tf.nn.elu(tf.minimum(x, 0.0)), name=nm)

    def mil(self, ctx, node, x, nm):
        return ctx.mb.elu(x=x, alpha=float(node.attrs["alpha"]), name=nm)


@imports("Elu", keeps_layout=True)
def import_elu(ctx, node):
    ctx.add("elu", [ctx.ins[0]], ctx.out, {"alpha": float(ctx.a.get("alpha", 1.0))}, ctx.nm)


@imports("Selu", keeps_layout=True)
def import_selu(ctx, node):
    # gamma * elu(x, alpha)
    a, out = ctx.a, ctx.out
    g = f"{out}__gamma"
    ctx.consts[g] = np.float32(a.get("gamma", 1.0507009873554805))
    ctx.add("elu", [ctx.ins[0]], f"{out}__elu", {"alpha": float(a.get("alpha", 1.6732632423543772))}, ctx.nm + "/elu")
    ctx.add("mul", [f"{out}__elu", g], out, {}, ctx.nm)


def _softplus_tf(tf, x):
    # relu(x) + log(1 + exp(-|x|)): log(1 + exp(x)) without overflow for large x
    return tf.nn.relu(x) + tf.math.log(1.0 + tf.exp(-tf.abs(x)))


@register("softplus")
class Softplus(Op):
    def reference(self, ctx, node, ins):
        return ctx.F.softplus(ins[0])      # x itself above 20, where log(1 + exp(x)) - x < 2.1e-9

    def tensorflow(self, ctx, node, x, nm):
        return ctx.tf.identity(_softplus_tf(ctx.tf, x), name=nm)

    def mil(self, ctx, node, x, nm):
        return ctx.mb.softplus(x=x, name=nm)


@imports("Softplus", keeps_layout=True)
def import_softplus(ctx, node):
    ctx.add("softplus", [ctx.ins[0]], ctx.out, {}, ctx.nm)


@register("mish")
class Mish(Op):
    def reference(self, ctx, node, ins):
        return ctx.F.mish(ins[0])

    def tensorflow(self, ctx, node, x, nm):
        tf = ctx.tf
        return tf.multiply(x, tf.tanh(_softplus_tf(tf, x)), name=nm)

    def mil(self, ctx, node, x, nm):
        mb = ctx.mb
        return mb.mul(x=x, y=mb.tanh(x=mb.softplus(x=x)), name=nm)


@imports("Mish", keeps_layout=True)
def import_mish(ctx, node):
    ctx.add("mish", [ctx.ins[0]], ctx.out, {}, ctx.nm)


@register("softmax")
class Softmax(Op):
    def reference(self, ctx, node, ins):
        return ctx.torch.softmax(ins[0], dim=node.attrs["axis"])

    def tensorflow(self, ctx, node, x, nm):
        return ctx.tf.nn.softmax(x, axis=ctx.ax(node.attrs["axis"]), name=nm)

    def mil(self, ctx, node, x, nm):
        return ctx.mb.softmax(x=x, axis=node.attrs["axis"], name=nm)


@imports("Softmax", keeps_layout=True)
def import_softmax(ctx, node):
    axis = ctx.ir_axis(ctx.a.get("axis", -1))
    if axis != 1:
        ctx.unsupported(f"softmax over axis {axis} of NCHW: only over channels")   # the one SOFTMAX axis NHWC keeps last
    ctx.add("softmax", [ctx.ins[0]], ctx.out, {"axis": 1}, ctx.nm)


# torch exports Softplus(beta, threshold) as Where(Greater(beta * x, threshold), x, Softplus(beta * x) / beta).
# Above a threshold of 15 or more, softplus(z) - z = log(1 + exp(-z)) < 3.1e-7 relative to z: the Where picks
# what softplus computes in float, so it imports as the softplus branch alone.
_SOFTPLUS_THRESHOLD_MIN = 15.0


@imports("Greater")
def import_greater(ctx, node):
    # only a softplus threshold's condition; the Where reading it checks the rest
    users = ctx.users(ctx.out)
    if not users or any(n.op_type != "Where" or n.input[0] != ctx.out for n in users) or node.input[1] not in ctx.consts:
        ctx.unsupported("only the threshold of a softplus")
    ctx.marks[ctx.out] = (ctx.ins[0], float(np.asarray(ctx.consts[node.input[1]]).reshape(-1)[0]))


@imports("Where")
def import_where(ctx, node):
    cond = ctx.marks.get(node.input[0])
    big, soft = ctx.ins[1], ctx.ins[2]
    src = ctx.producer(soft)
    if src is not None and src.op in ("div", "mul") and src.inputs[1] in ctx.consts:
        src = ctx.producer(src.inputs[0])
    if cond is None or src is None or src.op != "softplus" or cond[1] < _SOFTPLUS_THRESHOLD_MIN or \
            cond[0] not in (big, src.inputs[0]):
        ctx.unsupported("only the threshold of a softplus")
    ctx.alias[ctx.out] = soft
    ctx.perm[ctx.out] = ctx.perm.get(node.input[2], IDENTITY)
