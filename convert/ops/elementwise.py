"""Elementwise ops: the unary and binary families, clip, leaky_relu, prelu, hard_swish. Imported, they keep
their input's layout permutation (binary ops: their activations')."""
from __future__ import annotations

import numpy as np

from vst.convert.ops.base import IDENTITY, Op, imports, register

_UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Sqrt": "sqrt", "Reciprocal": "reciprocal",
          "Neg": "neg", "Exp": "exp", "Abs": "abs", "Round": "round"}
_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "max", "Min": "min"}


@register("relu", "sigmoid", "tanh", "sqrt", "rsqrt", "reciprocal", "neg", "exp", "abs", "round")
class Unary(Op):
    def reference(self, ctx, node, ins):
        torch = ctx.torch
        return {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "sqrt": torch.sqrt,
                "rsqrt": torch.rsqrt, "reciprocal": torch.reciprocal, "neg": torch.neg, "exp": torch.exp,
                "abs": torch.abs, "round": torch.round}[node.op](ins[0])   # round: half to even, as ONNX Round

    def tensorflow(self, ctx, node, x, nm):
        tf = ctx.tf
        return {"relu": tf.nn.relu, "sigmoid": tf.sigmoid, "tanh": tf.tanh, "sqrt": tf.sqrt,
                "rsqrt": tf.math.rsqrt, "reciprocal": tf.math.reciprocal, "neg": tf.negative, "exp": tf.exp,
                "abs": tf.abs, "round": tf.round}[node.op](x, name=nm)

    def mil(self, ctx, node, x, nm):
        mb, op = ctx.mb, node.op
        if op == "rsqrt":
            return mb.rsqrt(x=x, epsilon=0.0, name=nm)
        if op == "reciprocal":
            return mb.inverse(x=x, epsilon=0.0, name=nm)
        if op == "neg":
            return mb.mul(x=x, y=np.float32(-1.0), name=nm)
        return getattr(mb, op)(x=x, name=nm)


@imports(*_UNARY, keeps_layout=True)
def import_unary(ctx, node):
    ctx.add(_UNARY[ctx.op], [ctx.ins[0]], ctx.out, {}, ctx.nm)


@register("add", "sub", "mul", "div", "pow", "max", "min", "squared_difference")
class Binary(Op):
    """squared_difference (a - b)^2 is no ONNX op: rewrites make it, for TFLite's one-pass SQUARED_DIFFERENCE."""
    def reference(self, ctx, node, ins):
        torch = ctx.torch
        if node.op == "squared_difference":
            return torch.square(ins[0] - ins[1])
        return {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
                "max": torch.maximum, "min": torch.minimum}[node.op](ins[0], ins[1])

    def tensorflow(self, ctx, node, x, nm):
        tf, graph, op = ctx.tf, ctx.graph, node.op
        l, r = ctx.val(node.inputs[0]), ctx.val(node.inputs[1])
        if op == "mul" and node.inputs[1] in graph.consts and graph.consts[node.inputs[1]].ndim == 0 \
                and float(graph.consts[node.inputs[1]]) == 1.0:
            return tf.identity(l, name=nm)
        return {"add": tf.add, "sub": tf.subtract, "mul": tf.multiply, "div": tf.divide, "pow": tf.pow,
                "max": tf.maximum, "min": tf.minimum,
                "squared_difference": tf.math.squared_difference}[op](l, r, name=nm)

    def mil(self, ctx, node, x, nm):
        mb = ctx.mb
        if node.op == "squared_difference":
            d = mb.sub(x=x, y=ctx.val(node.inputs[1]), name=nm + "_d")
            return mb.mul(x=d, y=d, name=nm)
        fn = {"add": mb.add, "sub": mb.sub, "mul": mb.mul, "div": mb.real_div, "pow": mb.pow,
              "max": mb.maximum, "min": mb.minimum}[node.op]
        return fn(x=x, y=ctx.val(node.inputs[1]), name=nm)


@imports(*_BINARY)
def import_binary(ctx, node):
    acts = [i for i in node.input[:2] if i not in ctx.consts]
    q = ctx.perm.get(acts[0], IDENTITY) if acts else IDENTITY
    if any(ctx.perm.get(i, IDENTITY) != q for i in acts):
        ctx.unsupported("operands in different layouts")
    operands = [ctx.ir_const(i, q) if i in ctx.consts else i for i in ctx.ins[:2]]
    ctx.add(_BINARY[ctx.op], operands, ctx.out, {}, ctx.nm)
    ctx.perm[ctx.out] = q


@imports("Expand")
def import_expand(ctx, node):
    """An Expand read only by binary ops, whose other operand has the expanded shape (F.normalize's norm before
    its Div): they broadcast it the same way, so it is the tensor itself."""
    shape = [int(v) for v in ctx.const(ctx.ins[1], "the shape").tolist()]
    users = ctx.users(ctx.out)
    if node.input[0] in ctx.consts or not users or any(
            u.op_type not in _BINARY or [ctx.shape_of(i) for i in u.input if i != ctx.out] != [shape]
            for u in users):
        ctx.unsupported("only a broadcast that the binary ops reading it would do themselves")
    ctx.alias[ctx.out] = ctx.ins[0]
    ctx.perm[ctx.out] = ctx.src_perm


@register("clip")
class Clip(Op):
    def reference(self, ctx, node, ins):
        return ins[0].clamp(node.attrs.get("min"), node.attrs.get("max"))

    def tensorflow(self, ctx, node, x, nm):
        a = node.attrs
        return ctx.tf.clip_by_value(x, a["min"] if a["min"] is not None else -np.inf,
                                    a["max"] if a["max"] is not None else np.inf, name=nm)

    def mil(self, ctx, node, x, nm):
        a = node.attrs
        return ctx.mb.clip(x=x, alpha=float(a["min"] if a["min"] is not None else -3.4e38),
                           beta=float(a["max"] if a["max"] is not None else 3.4e38), name=nm)


@imports("Clip", keeps_layout=True)
def import_clip(ctx, node):
    a, ins = ctx.a, ctx.ins
    lo = float(ctx.const(ins[1], "min")) if len(ins) > 1 and ins[1] else a.get("min")
    hi = float(ctx.const(ins[2], "max")) if len(ins) > 2 and ins[2] else a.get("max")
    ctx.add("clip", [ins[0]], ctx.out, {"min": lo, "max": hi}, ctx.nm)


@imports("HardSigmoid", keeps_layout=True)
def import_hard_sigmoid(ctx, node):
    # clip(alpha * x + beta, 0, 1)
    a, out, nm = ctx.a, ctx.out, ctx.nm
    al, be = f"{out}__alpha", f"{out}__beta"
    ctx.consts[al], ctx.consts[be] = np.float32(a.get("alpha", 0.2)), np.float32(a.get("beta", 0.5))
    ctx.add("mul", [ctx.ins[0], al], f"{out}__ax", {}, nm + "/scale")
    ctx.add("add", [f"{out}__ax", be], f"{out}__axb", {}, nm + "/shift")
    ctx.add("clip", [f"{out}__axb"], out, {"min": 0.0, "max": 1.0}, nm)


@register("leaky_relu")
class LeakyRelu(Op):
    def reference(self, ctx, node, ins):
        return ctx.F.leaky_relu(ins[0], node.attrs["alpha"])

    def tensorflow(self, ctx, node, x, nm):
        return ctx.tf.nn.leaky_relu(x, node.attrs["alpha"], name=nm)

    def mil(self, ctx, node, x, nm):
        return ctx.mb.leaky_relu(x=x, alpha=float(node.attrs["alpha"]), name=nm)


@imports("LeakyRelu", keeps_layout=True)
def import_leaky_relu(ctx, node):
    ctx.add("leaky_relu", [ctx.ins[0]], ctx.out, {"alpha": float(ctx.a.get("alpha", 0.01))}, ctx.nm)


@register("prelu")
class PRelu(Op):
    def reference(self, ctx, node, ins):
        return ctx.torch.where(ins[0] >= 0, ins[0], ins[0] * ins[1])

    def tensorflow(self, ctx, node, x, nm):
        # relu(x) + (-alpha) * relu(-x) with a rank-3 [1, 1, C] alpha is the form the converter turns into PRELU
        tf, layout = ctx.tf, ctx.layout
        alpha = np.asarray(ctx.graph.consts[node.inputs[1]], np.float32)
        ch = int(x.shape[3] if layout == "nhwc" else x.shape[1])
        if alpha.ndim == 4:
            alpha = alpha.transpose(0, 2, 3, 1) if layout == "nhwc" else alpha
            alpha = alpha[0]
        alpha = np.broadcast_to(alpha, (1, 1, ch) if layout == "nhwc" else (ch, 1, 1)).copy()
        return tf.add(tf.nn.relu(x), tf.constant(-alpha) * tf.nn.relu(-x), name=nm)

    def mil(self, ctx, node, x, nm):
        # MIL prelu takes one alpha per channel
        alpha = np.broadcast_to(ctx.graph.consts[node.inputs[1]].reshape(-1), (int(x.shape[1]),))
        return ctx.mb.prelu(x=x, alpha=alpha.astype(np.float32), name=nm)


@imports("PRelu", keeps_layout=True)
def import_prelu(ctx, node):
    ins = ctx.ins
    slope = ctx.ir_const(ins[1], ctx.src_perm) if ins[1] in ctx.consts else ctx.unsupported("slope input")
    ctx.add("prelu", [ins[0], slope], ctx.out, {}, ctx.nm)


@register("hard_swish")
class HardSwish(Op):
    def reference(self, ctx, node, ins):
        return ctx.F.hardswish(ins[0])

    def tensorflow(self, ctx, node, x, nm):
        # the converter fuses x * relu6(x + 3) / 6 into HARD_SWISH
        tf = ctx.tf
        return tf.multiply(x * tf.nn.relu6(x + 3.0), 1.0 / 6.0, name=nm)

    def mil(self, ctx, node, x, nm):
        # x * relu6(x + 3) / 6 == x * sigmoid_hard(x, 1/6, 0.5)
        mb = ctx.mb
        return mb.mul(x=x, y=mb.sigmoid_hard(x=x, alpha=1 / 6, beta=0.5), name=nm)


@imports("HardSwish", keeps_layout=True)
def import_hard_swish(ctx, node):
    ctx.add("hard_swish", [ctx.ins[0]], ctx.out, {}, ctx.nm)
