"""Ops that change a tensor's extent: pad, slice, concat, reshape and the spatial mean."""
from __future__ import annotations

from vst.convert.delegates import MAX_CONCAT_INPUTS
from vst.convert.ops.base import IDENTITY, Op, imports, register


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
        return tf.pad(x, paddings, constant_values=node.attrs.get("value", 0.0), name=nm)
    if mode == "reflect":
        return tf.pad(x, paddings, mode="REFLECT", name=nm)
    # edge: repeat the border row/column (no TFLite builtin does this)
    for axis, before, after in ((ax(2), t, b), (ax(3), l, r)):
        n = int(x.shape[axis])
        parts = [tf.gather(x, [0], axis=axis)] * before + [x] + [tf.gather(x, [n - 1], axis=axis)] * after
        x = tf.concat(parts, axis) if len(parts) > 1 else x
    return x


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
    ins, out, nm, src_perm = ctx.ins, ctx.out, ctx.nm, ctx.src_perm
    x = ins[0]
    starts, ends = (ctx.const(i, "the bounds").astype(int).tolist() for i in ins[1:3])
    axes = ctx.const(ins[3], "the axes").astype(int).tolist() if len(ins) > 3 and ins[3] else \
        list(range(len(starts)))
    steps = ctx.const(ins[4], "the steps").tolist() if len(ins) > 4 and ins[4] else [1] * len(starts)
    dims = ctx.shape_of(node.input[0])
    todo = []
    for s0, e0, ax, st in zip(starts, ends, axes, steps):
        n_ = dims[ax % 4]
        s0, e0 = (max(0, min(v + n_ if v < 0 else v, n_)) for v in (s0, e0))
        if st != 1 or e0 <= s0:
            ctx.unsupported("only unit steps")
        if (s0, e0) != (0, n_):
            todo.append((src_perm[ax % 4], s0, e0))
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
    ctx.add("concat", ctx.ins, ctx.out, {"axis": src_perm[int(ctx.a["axis"]) % 4]}, ctx.nm)


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


@register("reduce_mean")
class ReduceMean(Op):
    def reference(self, ctx, node, ins):
        return ins[0].mean(dim=tuple(node.attrs["axes"]), keepdim=True)

    def tensorflow(self, ctx, node, x, nm):
        return ctx.tf.reduce_mean(x, [ctx.ax(i) for i in node.attrs["axes"]], keepdims=True, name=nm)

    def mil(self, ctx, node, x, nm):
        return ctx.mb.reduce_mean(x=x, axes=list(node.attrs["axes"]), keep_dims=True, name=nm)


@imports("ReduceMean", "GlobalAveragePool", keeps_layout=True)
def import_reduce_mean(ctx, node):
    op, a, ins = ctx.op, ctx.a, ctx.ins
    axes = a.get("axes") if op == "ReduceMean" else [2, 3]
    if axes is None and len(ins) > 1:
        axes = ctx.const(ins[1], "the axes").tolist()
    axes = sorted(ctx.src_perm[int(x) % 4] for x in (axes or []))
    if axes != [2, 3] or a.get("keepdims", 1) != 1:
        ctx.unsupported(f"axes {axes}: only the spatial mean with keepdims")
    ctx.add("reduce_mean", [ins[0]], ctx.out, {"axes": (2, 3)}, ctx.nm)
