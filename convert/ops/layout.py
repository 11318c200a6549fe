"""ONNX ops that make no IR op: constants (read before the walk), identities, and transposes and reshapes that
only change the layout, tracked as a permutation of the IR tensor (see onnx_import.to_ir)."""
from __future__ import annotations

import numpy as np

from vst.convert.ops.base import imports
from vst.convert.ops.conv import import_linear
from vst.convert.ops.norm import import_group_norm


@imports("Constant")
def import_constant(ctx, node):
    pass     # its value is among the import's constants already


@imports("Identity", "Dropout")
def import_identity(ctx, node):
    ctx.alias[ctx.out] = ctx.ins[0]
    ctx.perm[ctx.out] = ctx.src_perm


@imports("Transpose", "Reshape")
def import_layout(ctx, node):
    if node.input[0] in ctx.consts:      # of a constant: onnxslim folds those; one left is refused
        ctx.unsupported()
    q = _layout_perm(node, ctx.a, ctx.shape_of(node.input[0]) if ctx.op == "Reshape" else [0] * 4, ctx.consts)
    if q is None and ctx.op == "Reshape" and (import_group_norm(ctx, node) or import_linear(ctx, node)):
        return
    if q is None:
        ctx.unsupported("it changes more than the layout")
    ctx.alias[ctx.out] = ctx.ins[0]
    ctx.perm[ctx.out] = tuple(ctx.src_perm[k] for k in q)


def _layout_perm(node, a: dict, src: list[int], consts: dict) -> tuple[int, ...] | None:
    """The permutation a Transpose applies, or that a Reshape amounts to when it only moves unit axes
    ([1, C, 1, 1] <-> [1, 1, 1, C]); None when it does more."""
    if len(src) != 4:
        return None
    if node.op_type == "Transpose":
        p = tuple(int(k) for k in a.get("perm", (3, 2, 1, 0)))
        return p if sorted(p) == [0, 1, 2, 3] else None
    target = consts.get(node.input[1]) if len(node.input) > 1 else None
    if target is None or target.size != 4:
        return None
    dst = [src[k] if int(v) == 0 else int(v) for k, v in enumerate(target.tolist())]
    if -1 in dst:
        known = int(np.prod([v for v in dst if v != -1]))
        dst = [int(np.prod(src)) // known if v == -1 else v for v in dst]
    big_src, big_dst = [k for k in range(4) if src[k] != 1], [k for k in range(4) if dst[k] != 1]
    if [src[k] for k in big_src] != [dst[k] for k in big_dst]:
        return None
    units = iter(k for k in range(4) if src[k] == 1)
    order = iter(big_src)
    return tuple(next(order) if dst[k] != 1 else next(units) for k in range(4))
