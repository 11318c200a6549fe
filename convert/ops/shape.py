"""Ops that change a tensor's extent: pad, slice (and Split), concat, reshape, and means, maxima and L2 norms over
axes."""
from __future__ import annotations

import numpy as np

from vst.convert.delegates import MAX_CONCAT_INPUTS
from vst.convert.ops.base import IDENTITY, Op, imports, register, unit_moves


@register("pad")
class Pad(Op):
    def reference(self, ctx, node, ins):
        a = node.attrs
        t, l, b, r = a["pads"]
        mode = {"reflect": "reflect", "edge": "replicate", "constant": "constant"}[a["mode"]]
        return ctx.F.pad(ins[0], (l, r, t, b), mode=mode,
                         **({"value": a.get("value", 0.0)} if mode == "constant" else {}))

    def tensorflow(self, ctx, node, x, nm):
        return _pad(ctx.tf, node, x, ctx.ax, nm)

    def mil(self, ctx, node, x, nm):
        a = node.attrs
        t, l, b, r = a["pads"]
        mode = {"reflect": "reflect", "constant": "constant", "edge": "replicate"}[a["mode"]]
        return ctx.mb.pad(x=x, pad=[t, b, l, r], mode=mode, constant_val=float(a.get("value", 0.0)), name=nm)


@imports("Pad", keeps_layout=True)
def import_pad(ctx, node):
    a, ins, out, nm, src_perm = ctx.a, ctx.ins, ctx.out, ctx.nm, ctx.src_perm
    mode = a.get("mode", "constant")
    p = ctx.const(ins[1], "the pads").astype(int).tolist() if len(ins) > 1 else list(a.get("pads"))
    if len(ins) > 3 and ins[3]:
        ctx.unsupported("axes input")
    if len(p) != 8 or min(p) < 0:
        ctx.unsupported("padding other than non-negative 4-D padding")
    before, after = [0] * 4, [0] * 4
    for k in range(4):                       # pads are given per ONNX axis; move them to IR axes
        before[src_perm[k]], after[src_perm[k]] = p[k], p[k + 4]
    if before[0] or before[1] or after[0] or after[1]:
        ctx.unsupported("padding of the batch or channel axis")
    value = float(ctx.const(ins[2], "the value")) if len(ins) > 2 and ins[2] else 0.0
    ctx.add("pad", [ins[0]], out, {"mode": mode, "value": value,
                                   "pads": (before[2], before[3], after[2], after[3])}, nm)


def _pad(tf, node, x, ax, nm):
    t, l, b, r = node.attrs["pads"]
    mode = node.attrs["mode"]
    paddings = [[0, 0]] * 4
    paddings[ax(2)], paddings[ax(3)] = [t, b], [l, r]
    if mode == "constant":
        value = float(node.attrs.get("value", 0.0))
        if value == 0.0:
            return tf.pad(x, paddings, name=nm)
        # zero padding of x - v, plus v: XNNPACK takes PAD but not PADV2 (another constant), which splits the graph
        return tf.add(tf.pad(x - value, paddings), value, name=nm)
    if mode == "reflect":
        return tf.pad(x, paddings, mode="REFLECT", name=nm)
    # edge: repeat the border row/column (no TFLite builtin does this) as one-row slices and concatenations,
    # which XNNPACK takes (GATHER it does not)
    for axis, before, after in ((ax(2), t, b), (ax(3), l, r)):
        if not before and not after:
            continue
        n, size = int(x.shape[axis]), [int(s) for s in x.shape]
        size[axis] = 1
        first, last = ([0] * 4, [0] * 4)
        last[axis] = n - 1
        parts = [tf.slice(x, first, size)] * before + [x] + [tf.slice(x, last, size)] * after
        x = concat_tree(tf, parts, axis, f"{nm}/{axis}")
    return tf.identity(x, name=nm)


@register("slice")
class Slice(Op):
    def reference(self, ctx, node, ins):
        a = node.attrs
        return ins[0].narrow(a["axis"], a["start"], a["end"] - a["start"])

    def tensorflow(self, ctx, node, x, nm):
        a, ax = node.attrs, ctx.ax
        # explicit sizes: XNNPACK refuses a SLICE whose size has -1 entries
        begin, size = [0] * 4, [int(s) for s in x.shape]
        begin[ax(a["axis"])], size[ax(a["axis"])] = a["start"], a["end"] - a["start"]
        return ctx.tf.slice(x, begin, size, name=nm)

    def mil(self, ctx, node, x, nm):
        a = node.attrs
        begin, end = [0, 0, 0, 0], [int(s) for s in x.shape]
        begin[a["axis"]], end[a["axis"]] = a["start"], a["end"]
        return ctx.mb.slice_by_index(x=x, begin=begin, end=end, name=nm)


@imports("Slice", keeps_layout=True)
def import_slice(ctx, node):
    ins, out, nm = ctx.ins, ctx.out, ctx.nm
    x = ins[0]
    starts, ends = (ctx.const(i, "the bounds").astype(int).tolist() for i in ins[1:3])
    axes = ctx.const(ins[3], "the axes").astype(int).tolist() if len(ins) > 3 and ins[3] else \
        list(range(len(starts)))
    steps = ctx.const(ins[4], "the steps").tolist() if len(ins) > 4 and ins[4] else [1] * len(starts)
    dims = ctx.shape_of(node.input[0])
    todo = []
    for s0, e0, ax, st in zip(starts, ends, axes, steps):
        n_ = dims[ax % len(dims)]
        s0, e0 = (max(0, min(v + n_ if v < 0 else v, n_)) for v in (s0, e0))
        if st != 1 or e0 <= s0:
            ctx.unsupported("only unit steps")
        if (s0, e0) != (0, n_):
            todo.append((ctx.ir_axis(ax), s0, e0))
    for k, (ax, s0, e0) in enumerate(todo):
        y = out if k == len(todo) - 1 else f"{out}__slice{k}"
        ctx.add("slice", [x], y, {"axis": ax, "start": s0, "end": e0}, f"{nm}/{k}")
        x = y
    if not todo:
        ctx.alias[out] = x


@register("concat")
class Concat(Op):
    def reference(self, ctx, node, ins):
        return ctx.torch.cat(ins, dim=node.attrs["axis"])

    def tensorflow(self, ctx, node, x, nm):
        return ctx.tf.concat([ctx.val(i) for i in node.inputs], ctx.ax(node.attrs["axis"]), name=nm)

    def mil(self, ctx, node, x, nm):
        return ctx.mb.concat(values=[ctx.val(i) for i in node.inputs], axis=node.attrs["axis"], name=nm)


@imports("Concat", keeps_layout=True)
def import_concat(ctx, node):
    src_perm = ctx.src_perm
    for i in node.input[1:]:
        if ctx.perm.get(i, IDENTITY) != src_perm or i in ctx.consts:
            ctx.unsupported("inputs in different layouts, or a constant input")
    ctx.add("concat", ctx.ins, ctx.out, {"axis": ctx.ir_axis(ctx.a["axis"])}, ctx.nm)


def concat_tree(tf, xs: list, axis: int, nm: str):
    """Concatenate in groups of at most MAX_CONCAT_INPUTS (XNNPACK refuses wider CONCATENATIONs)."""
    while len(xs) > MAX_CONCAT_INPUTS:
        xs = [tf.concat(xs[i:i + MAX_CONCAT_INPUTS], axis) if len(xs[i:i + MAX_CONCAT_INPUTS]) > 1 else xs[i]
              for i in range(0, len(xs), MAX_CONCAT_INPUTS)]
    return tf.concat(xs, axis, name=nm)


@register("reshape")
class Reshape(Op):
    # made by neither importer nor rewrite (an ONNX Reshape imports as a layout permutation): reference only
    def reference(self, ctx, node, ins):
        return ins[0].reshape(node.attrs["shape"])


@register("reduce_mean", "reduce_max")
class Reduce(Op):
    def reference(self, ctx, node, ins):
        axes = tuple(node.attrs["axes"])
        if node.op == "reduce_max":
            return ins[0].amax(dim=axes, keepdim=True)
        return ins[0].mean(dim=axes, keepdim=True)

    def tensorflow(self, ctx, node, x, nm):
        fn = ctx.tf.reduce_max if node.op == "reduce_max" else ctx.tf.reduce_mean
        return fn(x, [ctx.ax(i) for i in node.attrs["axes"]], keepdims=True, name=nm)

    def mil(self, ctx, node, x, nm):
        fn = ctx.mb.reduce_max if node.op == "reduce_max" else ctx.mb.reduce_mean
        return fn(x=x, axes=list(node.attrs["axes"]), keep_dims=True, name=nm)


@imports("ReduceMean", "GlobalAveragePool", "ReduceMax", "GlobalMaxPool")
def import_reduce(ctx, node):
    """Means and maxima kept 4-D: over height and width (a global pool), over channels (a per-pixel statistic),
    or over all three."""
    axes, q = _reduce_axes(ctx, node)
    ctx.add("reduce_max" if "Max" in ctx.op else "reduce_mean", [ctx.ins[0]], ctx.out, {"axes": axes}, ctx.nm)
    ctx.perm[ctx.out] = q


@imports("ReduceL2")
def import_reduce_l2(ctx, node):
    """The L2 norm (F.normalize's ReduceL2 over channels): sqrt(mean(x * x) * n), n the values each mean
    reduces; the square and its mean are statistics int8 files keep float (tflite.statistics_nodes)."""
    axes, q = _reduce_axes(ctx, node)
    x, out, nm = ctx.ins[0], ctx.out, ctx.nm
    n = int(np.prod([ctx.shape_of(node.input[0])[k] for k in _onnx_axes(ctx, node)]))
    sq, m, s, count = (f"{out}__{k}" for k in ("sq", "mean", "sum", "n"))
    ctx.consts[count] = np.float32(n)
    ctx.add("mul", [x, x], sq, {}, nm + "/square")
    ctx.add("reduce_mean", [sq], m, {"axes": axes}, nm + "/mean")
    ctx.add("mul", [m, count], s, {}, nm + "/sum")
    ctx.add("sqrt", [s], out, {}, nm)
    ctx.perm[out] = q


def _onnx_axes(ctx, node) -> list[int]:
    a, ins = ctx.a, ctx.ins
    rank = len(ctx.shape_of(node.input[0]))
    axes = a.get("axes") if ctx.op.startswith("Reduce") else [2, 3]
    if axes is None and len(ins) > 1 and ins[1]:
        axes = ctx.const(ins[1], "the axes").tolist()
    if axes is None or not len(axes):
        if a.get("noop_with_empty_axes", 0):
            ctx.unsupported("no axes")
        axes = range(rank)
    return sorted({int(x) % rank for x in axes})


def _reduce_axes(ctx, node) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A reduction's IR axes and its result's layout permutation. Without keepdims the ONNX result is the kept
    one with the reduced axes dropped, which only moves unit axes (ops/layout.py): `x.mean((2, 3))` before a
    squeeze-excitation's Linear layers."""
    gone, q = _onnx_axes(ctx, node), ctx.src_perm
    if not ctx.a.get("keepdims", 1):
        src = ctx.shape_of(node.input[0])
        moved = unit_moves([1 if k in gone else v for k, v in enumerate(src)],
                           [v for k, v in enumerate(src) if k not in gone])
        if moved is None:
            ctx.unsupported(f"axes {gone} without keepdims")
        q = tuple(q[k] for k in moved)
    axes = tuple(sorted({ctx.ir_axis(x) for x in gone} - {0}))    # the batch is 1: nothing to reduce
    if not axes:
        ctx.unsupported(f"axes {gone}: only over channels and/or height and width")
    return axes, q


@imports("Split")
def import_split(ctx, node):
    """Split along one axis: a slice per output (each keeps the input's layout permutation)."""
    a, ins, q = ctx.a, ctx.ins, ctx.src_perm
    dims = ctx.shape_of(node.input[0])
    ax = int(a.get("axis", 0)) % len(dims)
    n = dims[ax]
    if len(ins) > 1 and ins[1]:
        sizes = ctx.const(ins[1], "the split sizes").astype(int).tolist()
    elif "split" in a:
        sizes = [int(v) for v in a["split"]]
    else:
        k = int(a.get("num_outputs", len(node.output)))
        step = -(-n // k)
        sizes = [min(step, n - i * step) for i in range(k)]
    if sum(sizes) != n or len(sizes) != len(node.output) or min(sizes) < 1:
        ctx.unsupported(f"split sizes {sizes} of an axis of {n}")
    start = 0
    for k, (size, out) in enumerate(zip(sizes, node.output)):
        if out:
            ctx.add("slice", [ins[0]], out, {"axis": ctx.ir_axis(ax), "start": start, "end": start + size},
                    f"{ctx.nm}/{k}")
            ctx.perm[out] = q
        start += size
