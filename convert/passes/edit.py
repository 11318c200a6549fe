"""Graph edits the rewrites share: replacing a node, trees of narrow concats, one-row slices, scalar constants,
the convolution of one output parity."""
from __future__ import annotations

import numpy as np

from vst.convert.delegates import MAX_CONCAT_INPUTS
from vst.convert.ir import Graph, Node

def replace_node(graph: Graph, node: Node, new_nodes: list[Node]) -> None:
    i = graph.nodes.index(node)
    graph.nodes[i:i + 1] = new_nodes


def concat_tree(g: Graph, new: list[Node], pieces: list[str], axis: int, out_base: str, name: str) -> str:
    """Concat as a tree of concats with <= MAX_CONCAT_INPUTS inputs each."""
    level = 0
    while len(pieces) > MAX_CONCAT_INPUTS:
        grouped = []
        for i in range(0, len(pieces), MAX_CONCAT_INPUTS):
            chunk = pieces[i:i + MAX_CONCAT_INPUTS]
            if len(chunk) == 1:
                grouped.append(chunk[0])
                continue
            out = g.fresh(f"{out_base}_l{level}")
            new.append(Node("concat", chunk, out, {"axis": axis}, f"{name}_l{level}_{i}"))
            g.shapes[out] = ()
            grouped.append(out)
        pieces, level = grouped, level + 1
    out = g.fresh(out_base)
    new.append(Node("concat", pieces, out, {"axis": axis}, name))
    g.shapes[out] = ()
    return out


def slice_one(g: Graph, new: list[Node], src: str, axis: int, k: int, base: str) -> str:
    out = g.fresh(f"{src}__s{axis}_{k}")
    new.append(Node("slice", [src], out, {"axis": axis, "start": k, "end": k + 1}, f"{base}/slice{axis}_{k}"))
    g.shapes[out] = ()   # placeholder so fresh() sees the name; infer_shapes() recomputes
    return out


def scalar(g: Graph, value: float) -> str:
    name = g.fresh("const")
    g.consts[name] = np.asarray(value, dtype=np.float32)
    return name


def parity_conv(g: Graph, conv: Node, x: str, kernels: dict, size: tuple[int, int], stride: tuple[int, int]
                 ) -> list[Node]:
    """One conv of `x` whose 4 * Cout outputs are conv.output's four parities, kernels[a, b] placed at offset
    (a, b) of a `size` kernel, then DEPTH_TO_SPACE(2) into conv.output: DCR order puts channel (2a + b) * Cout + c
    at (2i + a, 2j + b). Used by nearest_conv_subpixel (narrow form) and conv_output_parities."""
    cout, cin, kh, kw = next(iter(kernels.values())).shape
    big = np.zeros((4 * cout, cin) + tuple(size), np.float32)
    for (a, b), k in kernels.items():
        big[(2 * a + b) * cout:(2 * a + b + 1) * cout, :, a:a + kh, b:b + kw] = k
    bias = g.consts[conv.inputs[2]] if len(conv.inputs) > 2 else np.zeros(cout, np.float32)
    wname, bname = g.fresh(f"{conv.output}__parity_w"), g.fresh(f"{conv.output}__parity_b")
    g.consts[wname], g.consts[bname] = big, np.tile(np.asarray(bias, np.float32), 4)
    mid = g.fresh(f"{conv.output}__parities")
    g.shapes[mid] = ()
    return [Node("conv", [x, wname, bname], mid, {"stride": tuple(stride), "dilation": (1, 1), "group": 1},
                 conv.name + "/parities"),
            Node("depth_to_space", [mid], conv.output, {"block": 2}, conv.name + "/interleave")]
