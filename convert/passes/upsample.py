"""Nearest-neighbour upsampling: as repeats XNNPACK takes, or folded with the conv after it into low-resolution
convs."""
from __future__ import annotations

import numpy as np

from vst.convert.ir import Graph, Node
from vst.convert.passes.base import TFLITE_ONLY, XNNPACK_TARGETS, rewrite
from vst.convert.passes.edit import concat_tree, parity_conv, replace_node, scalar, slice_one


@rewrite(targets=TFLITE_ONLY, prune=False, elsewhere="it replaces TFLite's RESIZE_NEAREST_NEIGHBOR, which "
         "XNNPACK leaves out, by ops of TFLite's emitter; a nearest resize before a conv is nearest_conv_subpixel's")
def nearest_as_repeat(g: Graph) -> int:
    """resize_nearest by integer factors -> a repeat along height, then along width.

    The TFLite emitter writes each repeat as CONCATENATION + RESHAPE, both XNNPACK-delegated, instead of
    RESIZE_NEAREST_NEIGHBOR, which is not.
    """
    count = 0
    for node in [n for n in g.nodes if n.op == "resize_nearest"]:
        sh, sw = node.attrs["scale"]
        new, cur = [], node.inputs[0]
        for axis, times in ((2, sh), (3, sw)):
            if times == 1:
                continue
            out = g.fresh(f"{node.output}__rep{axis}")
            new.append(Node("repeat", [cur], out, {"axis": axis, "times": times}, f"{node.name}/repeat{axis}"))
            g.shapes[out] = ()
            cur = out
        if not new:
            new = [Node("mul", [cur, scalar(g, 1.0)], node.output, {}, node.name)]
        new[-1].output = node.output
        replace_node(g, node, new)
        count += 1
    return count


# Output channels up to which nearest_conv_subpixel writes the four parities as one 3x3 conv (4 * Cout outputs,
# the 2x2 kernels placed at their offsets) + DEPTH_TO_SPACE instead of four 2x2 convs + interleave: 9/4 the MACs
# in one wide GEMM, and no window slices. Medians, fp32 480x320: kunster-t2-10 (8 -> 4) 7.8-9.9 -> 6.3-6.7 ms,
# kunster-t2-04 (16 -> 8) equal at 8 and 16; kunster-t2-01 (128 -> 64, 64 -> 32) 2-5% slower at 64.
SUBPIXEL_ONE_CONV_COUT = 16


# Taps of a 3x3 kernel that land on each of the two low-resolution rows (or columns) a 2x2 kernel sees, for
# output parity 0 and 1 (derivation in nearest_conv_subpixel's docstring).
_SUBPIXEL_TAPS = {0: ((0,), (1, 2)), 1: ((0, 1), (2,))}


@rewrite(targets=XNNPACK_TARGETS)
def nearest_conv_subpixel(g: Graph) -> int:
    """resize_nearest(x2) -> pad(reflect, 1) -> conv 3x3  ==>  four 2x2 convs at low resolution + interleave.

    Why exact: reflect-padding an x2 nearest upsample by 1 equals edge-padding the small image by 1, upsampling
    and cropping 1. Output row 2i+a of the 3x3 conv then reads low-res rows i+a and i+a+1 only, with kernel rows
    {0},{1,2} (a=0) or {0,1},{2} (a=1) summed; the same holds for columns. So each output parity (a, b) is a 2x2
    VALID conv of the edge-padded small image shifted by (a, b): 4*Cin MACs per output pixel instead of 9*Cin,
    and no full-resolution upsample or pad. Sums of kernel taps change float rounding only. With few output
    channels (SUBPIXEL_ONE_CONV_COUT) the four 2x2 kernels sit at offsets (a, b) of one 3x3 kernel over the
    edge-padded image, 4 * Cout outputs in DEPTH_TO_SPACE's (DCR) order, followed by DEPTH_TO_SPACE(2).
    """
    count = 0
    for up in [n for n in g.nodes if n.op == "resize_nearest" and tuple(n.attrs["scale"]) == (2, 2)]:
        pads = g.consumers(up.output)
        if len(pads) != 1 or pads[0].op != "pad" or pads[0].attrs["mode"] != "reflect" or \
                tuple(pads[0].attrs["pads"]) != (1, 1, 1, 1) or up.output == g.output:
            continue
        pad = pads[0]
        convs = g.consumers(pad.output)
        if len(convs) != 1 or convs[0].op != "conv" or pad.output == g.output:
            continue
        conv = convs[0]
        k = g.consts[conv.inputs[1]]
        if k.shape[2:] != (3, 3) or tuple(conv.attrs["stride"]) != (1, 1) or \
                tuple(conv.attrs.get("dilation", (1, 1))) != (1, 1) or conv.attrs.get("group", 1) != 1:
            continue
        x, _, _, h, w = up.inputs[0], *g.shapes[up.inputs[0]]
        new: list[Node] = []
        # edge-pad the small image by 1 (border row/column repeated) as slices + concat
        z = x
        for axis, n in ((2, h), (3, w)):
            first = slice_one(g, new, z, axis, 0, up.name + "/edge")
            last = slice_one(g, new, z, axis, n - 1, up.name + "/edge")
            z = concat_tree(g, new, [first, z, last], axis, f"{up.output}__edge{axis}", f"{up.name}/edge{axis}")
        kks = {}
        for a in (0, 1):
            for b in (0, 1):
                kk = np.zeros(k.shape[:2] + (2, 2), dtype=np.float32)
                for p, rows in enumerate(_SUBPIXEL_TAPS[a]):
                    for q, cols in enumerate(_SUBPIXEL_TAPS[b]):
                        kk[:, :, p, q] = k[:, :, list(rows)][:, :, :, list(cols)].sum(axis=(2, 3))
                kks[a, b] = kk
        if k.shape[0] <= SUBPIXEL_ONE_CONV_COUT:
            new += parity_conv(g, conv, z, kks, (3, 3), (1, 1))
        else:
            new += _four_parity_convs(g, conv, z, kks, h, w)
        i = g.nodes.index(up)
        g.nodes = [n for n in g.nodes if n not in (up, pad, conv)]
        g.nodes[i:i] = new
        count += 1
    return count


def _four_parity_convs(g: Graph, conv: Node, z: str, kks: dict, h: int, w: int) -> list[Node]:
    """nearest_conv_subpixel's wide form: one 2x2 conv per output parity on its window of the edge-padded image
    `z`, interleaved into conv.output."""
    new: list[Node] = []
    parts = {}
    for a in (0, 1):
        for b in (0, 1):
            win = z
            for axis, off, n in ((2, a, h), (3, b, w)):
                out = g.fresh(f"{conv.output}__win{a}{b}_{axis}")
                new.append(Node("slice", [win], out, {"axis": axis, "start": off, "end": off + n + 1},
                                f"{conv.name}/window{a}{b}_{axis}"))
                g.shapes[out] = ()
                win = out
            wname = g.fresh(f"{conv.output}__w{a}{b}")
            g.consts[wname] = kks[a, b]
            out = g.fresh(f"{conv.output}__p{a}{b}")
            new.append(Node("conv", [win, wname] + conv.inputs[2:], out, {"stride": (1, 1), "dilation": (1, 1),
                                                                         "group": 1}, f"{conv.name}/parity{a}{b}"))
            g.shapes[out] = ()
            parts[a, b] = out
    rows_ = []
    for a in (0, 1):
        out = g.fresh(f"{conv.output}__row{a}")
        new.append(Node("interleave", [parts[a, 0], parts[a, 1]], out, {"axis": 3}, f"{conv.name}/cols{a}"))
        g.shapes[out] = ()
        rows_.append(out)
    new.append(Node("interleave", rows_, conv.output, {"axis": 2}, f"{conv.name}/rows"))
    return new


@rewrite(targets=("executorch",), elsewhere="TFLite's emitter writes an interleave as a concat on the next axis "
         "and a free reshape in NHWC; an ExecuTorch program traces it in NCHW")
def interleaves_as_depth_to_space(g: Graph) -> int:
    """interleave on rows of (interleave on columns of (p00, p01), interleave on columns of (p10, p11))  ==>
    concat of p00, p01, p10, p11 on channels -> depth_to_space(2): nearest_conv_subpixel's four parity convs put
    together as one sub-pixel block. Traced for ExecuTorch, an interleave is torch.stack on a new last axis: below
    its channels-last pass each one is a transpose of every parity to NCHW, a concat of single values and a
    transpose back (kunster-t2-01 320x240: two of its copies took 1.6 ms each), where this is one concat of
    whole pixels and one depth-to-space (one transpose once vst.convert.xnnpack_graph has run). Exact: DCR
    channel (a * 2 + b) * C + c of the concat is p_ab's channel c, which depth_to_space puts at row 2h + a,
    column 2w + b, as the interleaves do."""
    count = 0
    for rows in [n for n in g.nodes if n.op == "interleave" and n.attrs["axis"] == 2 and len(n.inputs) == 2]:
        cols = [g.producer(i) for i in rows.inputs]
        if any(c is None or c.op != "interleave" or c.attrs["axis"] != 3 or len(c.inputs) != 2 or
               len(g.consumers(c.output)) != 1 or c.output == g.output for c in cols):
            continue
        parts = [p for c in cols for p in c.inputs]
        cat = g.fresh(f"{rows.output}__parities")
        g.shapes[cat] = ()
        for c in cols:
            g.nodes.remove(c)
        replace_node(g, rows, [Node("concat", parts, cat, {"axis": 1}, rows.name + "/parities"),
                               Node("depth_to_space", [cat], rows.output, {"block": 2}, rows.name)])
        count += 1
    return count
