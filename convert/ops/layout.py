"""ONNX ops that make no IR op: constants (read before the walk), identities, and transposes, reshapes, flattens,
squeezes and unsqueezes that only change the layout, tracked as a permutation of the IR tensor (see
onnx_import.to_ir). A tensor of rank r < 4 is the rank-4 tensor with 1s before its axes (ONNX's broadcasting
alignment), so the [1, C] between a global pool and a squeeze-excitation's Linear layers is the IR's
[1, C, 1, 1] permuted."""
from __future__ import annotations

import numpy as np

from vst.convert.ops.base import imports, unit_moves
from vst.convert.ops.conv import import_linear, import_pixel_unshuffle
from vst.convert.ops.norm import import_group_norm


@imports("Constant")
def import_constant(ctx, node):
    pass     # its value is among the import's constants already


@imports("Identity", "Dropout")
def import_identity(ctx, node):
    ctx.alias[ctx.out] = ctx.ins[0]
    ctx.perm[ctx.out] = ctx.src_perm


@imports("Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze")
def import_layout(ctx, node):
    if node.input[0] in ctx.consts:      # of a constant: onnxslim folds those; one left is refused
        ctx.unsupported()
    if ctx.op == "Transpose":
        q = _transpose_perm(ctx.a, len(ctx.a["perm"]) if "perm" in ctx.a else len(ctx.shape_of(node.input[0])))
    else:
        src = ctx.shape_of(node.input[0])
        dst = _target_shape(ctx, node, src)
        q = unit_moves(src, dst) if dst is not None else None
    if q is None and ctx.op == "Reshape" and (import_group_norm(ctx, node) or import_linear(ctx, node)
                                              or import_pixel_unshuffle(ctx, node)):
        return
    if q is None:
        ctx.unsupported("it changes more than the layout")
    ctx.alias[ctx.out] = ctx.ins[0]
    ctx.perm[ctx.out] = tuple(ctx.src_perm[k] for k in q)


def _transpose_perm(a: dict, rank: int) -> tuple[int, ...] | None:
    if rank > 4:
        return None
    p = [int(k) for k in a.get("perm", range(rank - 1, -1, -1))]
    if sorted(p) != list(range(rank)):
        return None
    lead = 4 - rank          # the leading unit axes of a lower-rank tensor stay where they are
    return tuple(range(lead)) + tuple(k + lead for k in p)


def _target_shape(ctx, node, src: list[int]) -> list[int] | None:
    """The ONNX output shape of a Reshape (by its constant target), Flatten, Squeeze or Unsqueeze."""
    a, op = ctx.a, ctx.op
    if op == "Flatten":
        k = int(a.get("axis", 1)) % (len(src) + 1)
        return [int(np.prod(src[:k])), int(np.prod(src[k:]))]
    axes = a.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = ctx.consts.get(node.input[1])
        if axes is None:
            return None
    if op == "Squeeze":
        keep = set(range(len(src))) - {int(x) % len(src) for x in axes} if axes is not None else \
            {k for k, v in enumerate(src) if v != 1}
        return [v for k, v in enumerate(src) if k in keep]
    if op == "Unsqueeze":
        if axes is None:
            return None
        rank = len(src) + len(axes)
        put = {int(x) % rank for x in axes}
        rest = iter(src)
        return [1 if k in put else next(rest) for k in range(rank)]
    target = axes      # a Reshape's second input
    dst = [src[k] if int(v) == 0 and not a.get("allowzero", 0) else int(v) for k, v in enumerate(target.tolist())]
    if -1 in dst:
        known = int(np.prod([v for v in dst if v != -1]))
        dst = [int(np.prod(src)) // known if v == -1 else v for v in dst]
    return dst
