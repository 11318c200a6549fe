"""Reflection padding written as slices and concats XNNPACK takes (TFLite's MIRROR_PAD splits partitions)."""
from __future__ import annotations

from vst.convert.ir import Graph, Node
from vst.convert.passes.base import XNNPACK_TARGETS, rewrite
from vst.convert.passes.edit import concat_tree, replace_node, slice_one


@rewrite(targets=XNNPACK_TARGETS, prune=False)
def reflect_pad_as_slices(g: Graph) -> int:
    """pad(mode=reflect) -> one-row/column slices + concat, height first then width (reflection is separable)."""
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
                pieces.append(slice_one(g, new, cur, axis, k, node.name))
            pieces.append(cur)
            for k in range(n - 2, n - 2 - after, -1):     # rows n-2..n-1-p, mirrored around row n-1
                pieces.append(slice_one(g, new, cur, axis, k, node.name))
            cur = concat_tree(g, new, pieces, axis, f"{node.output}__reflect{axis}", f"{node.name}/concat{axis}")
        new[-1].output = node.output
        replace_node(g, node, new)
        count += 1
    return count
