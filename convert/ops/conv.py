"""Convolutions: conv (with its pads imported as a pad op before it), conv_transpose, a Linear on channel-last
activations or on a pooled [1, C] as a 1x1 conv, and PixelUnshuffle as a one-hot depthwise conv."""
from __future__ import annotations

import numpy as np

from vst.common.errors import VstError
from vst.convert.ops.base import Op, UnsupportedOp, imports, register
from vst.convert.ops.shape import concat_tree


@register("conv")
class Conv(Op):
    def reference(self, ctx, node, ins):
        a = node.attrs
        return ctx.F.conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a["stride"], 0,
                            a.get("dilation", (1, 1)), a.get("group", 1))

    def tensorflow(self, ctx, node, x, nm):
        return ctx.nhwc_op(x, lambda t: _conv(ctx.tf, ctx.graph, node, t, nm))

    def mil(self, ctx, node, x, nm):
        a, val = node.attrs, ctx.val
        kw = {"bias": val(node.inputs[2])} if len(node.inputs) > 2 else {}
        return ctx.mb.conv(x=x, weight=val(node.inputs[1]), strides=list(a["stride"]), pad_type="valid",
                           dilations=list(a.get("dilation", (1, 1))), groups=a.get("group", 1), name=nm, **kw)


@imports("Conv")
def import_conv(ctx, node):
    a, ins, out, nm = ctx.a, ctx.ins, ctx.out, ctx.nm
    ctx.plain(node.input[0])
    w = ctx.const(ins[1], "the weight")
    if w.ndim != 4 or a.get("auto_pad", "NOTSET") != "NOTSET":
        ctx.unsupported("only 2-D convolutions with explicit pads")
    pads = list(a.get("pads", [0, 0, 0, 0]))
    x = ins[0]
    if any(pads):
        padded = f"{out}__pad"
        ctx.add("pad", [x], padded, {"mode": "constant", "value": 0.0,
                                     "pads": (pads[0], pads[1], pads[2], pads[3])}, nm + "/pad")
        x = padded
    ctx.add("conv", [x] + [i for i in ins[1:] if i], out,
            {"stride": tuple(a.get("strides", (1, 1))), "dilation": tuple(a.get("dilations", (1, 1))),
             "group": int(a.get("group", 1))}, nm)


def _conv(tf, graph, node, x, nm):
    w = graph.consts[node.inputs[1]]
    a = node.attrs
    s, d, group = a["stride"], a.get("dilation", (1, 1)), a.get("group", 1)
    cin = int(x.shape[-1])
    if group == 1:
        y = tf.nn.conv2d(x, tf.constant(w.transpose(2, 3, 1, 0).copy()), [1, s[0], s[1], 1], "VALID",
                         dilations=[1, d[0], d[1], 1], name=nm)
    elif group == cin and w.shape[0] % cin == 0:
        y = tf.nn.depthwise_conv2d(x, tf.constant(w.reshape(cin, -1, *w.shape[2:]).transpose(2, 3, 0, 1).copy()),
                                   [1, s[0], s[1], 1], "VALID", dilations=list(d), name=nm)
    elif cin % group == 0 and w.shape[0] % group == 0:
        # grouped: one convolution per group on a channel slice, concatenated (SLICE, CONV_2D and
        # CONCATENATION are XNNPACK ops; TF's grouped CONV_2D is not convertible on every build)
        ci, co = cin // group, w.shape[0] // group
        parts = [tf.nn.conv2d(tf.slice(x, [0, 0, 0, k * ci], [int(x.shape[0]), int(x.shape[1]), int(x.shape[2]), ci]),
                              tf.constant(w[k * co:(k + 1) * co].transpose(2, 3, 1, 0).copy()), [1, s[0], s[1], 1],
                              "VALID", dilations=[1, d[0], d[1], 1]) for k in range(group)]
        y = concat_tree(tf, parts, 3, nm)
    else:
        raise UnsupportedOp(f"ONNX op Conv with group={group} (node {node.name!r}) cannot be converted to tflite")
    if len(node.inputs) > 2:
        y = tf.nn.bias_add(y, tf.constant(graph.consts[node.inputs[2]].astype(np.float32)), name=nm + "/bias")
    return y


@register("conv_transpose")
class ConvTranspose(Op):
    def reference(self, ctx, node, ins):
        a = node.attrs
        return ctx.F.conv_transpose2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a["stride"], a["pads"],
                                      a["output_padding"], a.get("group", 1))

    def tensorflow(self, ctx, node, x, nm):
        return ctx.nhwc_op(x, lambda t: _deconv(ctx.tf, ctx.graph, node, t, nm))

    def mil(self, ctx, node, x, nm):
        a, val, mb, n = node.attrs, ctx.val, ctx.mb, ctx.batch
        wt = val(node.inputs[1])
        (ph, pw), (oh, ow) = a["pads"], a["output_padding"]
        if oh > ph or ow > pw:
            raise VstError(f"ConvTranspose {node.name!r} with output_padding > pads cannot be converted "
                           "to coreml")
        y = mb.conv_transpose(x=x, weight=wt, strides=list(a["stride"]), pad_type="valid", name=nm + "_full")
        hh = (int(x.shape[2]) - 1) * a["stride"][0] + wt.shape[2]
        ww = (int(x.shape[3]) - 1) * a["stride"][1] + wt.shape[3]
        y = mb.slice_by_index(x=y, begin=[0, 0, ph, pw], end=[n, wt.shape[1], hh - ph + oh, ww - pw + ow],
                              name=nm + "_crop")
        if len(node.inputs) > 2:
            y = mb.add(x=y, y=val(node.inputs[2]).reshape(1, -1, 1, 1), name=nm)
        return y


@imports("ConvTranspose")
def import_conv_transpose(ctx, node):
    a, ins, out, nm = ctx.a, ctx.ins, ctx.out, ctx.nm
    ctx.plain(node.input[0])
    ctx.const(ins[1], "the weight")
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if pads[0] != pads[2] or pads[1] != pads[3] or a.get("group", 1) != 1 or \
            tuple(a.get("dilations", (1, 1))) != (1, 1) or "output_shape" in a:
        ctx.unsupported("only symmetric pads, group 1, no dilation")
    ctx.add("conv_transpose", [i for i in ins if i], out,
            {"stride": tuple(a.get("strides", (1, 1))), "pads": (pads[0], pads[1]),
             "output_padding": tuple(a.get("output_padding", (0, 0)))}, nm)


def _deconv(tf, graph, node, x, nm):
    # PyTorch/ONNX ConvTranspose = full VALID transposed conv, cropped by `pads` each side (output_padding
    # extends the far side); TF's SAME would crop asymmetrically, so write VALID + an explicit crop.
    w = graph.consts[node.inputs[1]]
    a = node.attrs
    (sh, sw), (ph, pw), (oh, ow) = a["stride"], a["pads"], a["output_padding"]
    kh, kw = w.shape[2:]
    h, wd = int(x.shape[1]), int(x.shape[2])
    full_h, full_w = (h - 1) * sh + kh + oh, (wd - 1) * sw + kw + ow
    y = tf.nn.conv2d_transpose(x, tf.constant(w.transpose(2, 3, 1, 0).copy()),
                               [int(x.shape[0]), full_h, full_w, w.shape[1]], [1, sh, sw, 1], "VALID", name=nm)
    out_h, out_w = full_h - 2 * ph, full_w - 2 * pw
    if ph or pw:
        y = tf.slice(y, [0, ph, pw, 0], [int(y.shape[0]), out_h, out_w, int(y.shape[3])])
    if len(node.inputs) > 2:
        y = tf.nn.bias_add(y, tf.constant(graph.consts[node.inputs[2]].astype(np.float32)))
    return y


def _linear(ctx, x: str, w: np.ndarray, bias: np.ndarray | None, out: str, q, nm: str) -> None:
    """A Linear ([Cin, Cout] weight `w`) on the channels of IR tensor `x` as a 1x1 conv; the ONNX result `out` keeps
    the layout permutation q of the channel-last tensor it was computed on."""
    if q[3] != 1:
        ctx.unsupported("a Linear on an axis other than the channels")
    wname = f"{out}__conv_w"
    ctx.consts[wname] = np.ascontiguousarray(np.asarray(w, np.float32).T.reshape(w.shape[1], w.shape[0], 1, 1))
    inputs = [x, wname]
    if bias is not None:
        bname = f"{out}__conv_b"
        ctx.consts[bname] = np.broadcast_to(np.asarray(bias, np.float32).reshape(-1), (w.shape[1],)).copy()
        inputs.append(bname)
    ctx.add("conv", inputs, out, {"stride": (1, 1), "dilation": (1, 1), "group": 1}, nm)
    ctx.perm[out] = q


@imports("MatMul")
def import_matmul(ctx, node):
    """A Linear layer on channel-last activations (ConvNeXt's blocks: permute to NHWC, Linear, permute back) or
    on the [1, C] after a global pool: MatMul of an activation whose last ONNX axis is the IR's channel axis by a
    constant [Cin, Cout] weight is a 1x1 convolution."""
    if node.input[0] in ctx.consts or len(ctx.shape_of(node.input[0])) > 4:
        ctx.unsupported("only a constant weight on the channel axis of an activation (a Linear on NHWC)")
    w = np.asarray(ctx.const(ctx.ins[1], "the weight"), np.float32)
    if w.ndim != 2:
        ctx.unsupported(f"a rank-{w.ndim} weight")
    _linear(ctx, ctx.ins[0], w, None, ctx.out, ctx.src_perm, ctx.nm)


@imports("Gemm")
def import_gemm(ctx, node):
    """A Linear on [1, C] (a squeeze-excitation written with nn.Linear after a global pool and a flatten): the
    [1, C] is the IR's [1, C, 1, 1] (see ops/layout.py), so the Linear is a 1x1 convolution on the 1x1 map."""
    a = ctx.a
    if node.input[0] in ctx.consts or a.get("transA", 0):
        ctx.unsupported("only an activation times a constant weight")
    w = np.asarray(ctx.const(ctx.ins[1], "the weight"), np.float32) * np.float32(a.get("alpha", 1.0))
    w = w.T if a.get("transB", 0) else w
    bias = np.asarray(ctx.const(ctx.ins[2], "the bias"), np.float32) * np.float32(a.get("beta", 1.0)) \
        if len(ctx.ins) > 2 and ctx.ins[2] else None
    if bias is not None and bias.size not in (1, w.shape[1]):
        ctx.unsupported(f"a bias of shape {list(bias.shape)}")
    _linear(ctx, ctx.ins[0], w, bias, ctx.out, ctx.src_perm, ctx.nm)


def import_linear(ctx, node) -> bool:
    """torch's export of a Linear on a 4-D channel-last tensor: Reshape [1, H, W, C] -> [-1, C], Gemm by a
    constant weight, Reshape back to [1, H, W, Cout]. Imported as one 1x1 conv (rank 4 throughout). False when
    `node` (a Reshape) does not start that pattern."""
    src = ctx.shape_of(node.input[0])
    target = ctx.consts.get(node.input[1]) if len(node.input) > 1 else None
    if len(src) != 4 or src[0] != 1 or target is None or target.size != 2 or int(target[-1]) != src[3]:
        return False
    users = ctx.users(node.output[0])
    if len(users) != 1 or users[0].op_type != "Gemm" or users[0].input[0] != node.output[0]:
        return False
    from onnx.helper import get_attribute_value
    gemm = users[0]
    ga = {a.name: get_attribute_value(a) for a in gemm.attribute}
    back = ctx.users(gemm.output[0])
    if ga.get("transA", 0) or ga.get("alpha", 1.0) != 1.0 or gemm.input[1] not in ctx.consts or \
            (len(gemm.input) > 2 and gemm.input[2] and gemm.input[2] not in ctx.consts) or \
            len(back) != 1 or back[0].op_type != "Reshape" or back[0].input[1] not in ctx.consts:
        return False
    w = np.asarray(ctx.consts[gemm.input[1]], np.float32)
    w = w.T if ga.get("transB", 0) else w
    if [int(v) for v in ctx.consts[back[0].input[1]].tolist()] != list(src[:3]) + [w.shape[1]]:
        return False
    bias = np.asarray(ctx.consts[gemm.input[2]], np.float32) * ga.get("beta", 1.0) \
        if len(gemm.input) > 2 and gemm.input[2] else None
    ctx.done.update({gemm.output[0], back[0].output[0]})
    _linear(ctx, ctx.ins[0], w, bias, back[0].output[0], ctx.src_perm, node.name or back[0].output[0])
    return True


def import_pixel_unshuffle(ctx, node) -> bool:
    """torch's PixelUnshuffle(b) export: Reshape [1, C, H, W] -> [1, C, H/b, b, W/b, b], Transpose
    [0, 1, 3, 5, 2, 4], Reshape to [1, C*b*b, H/b, W/b]: channel c*b*b + i*b + j holds pixel (i, j) of each b x b
    block of channel c. Imported as a depthwise convolution with b*b one-hot b x b filters per channel, stride b:
    a depthwise conv's output channel c*m + k is filter k of channel c, torch's order exactly (TFLite's
    SPACE_TO_DEPTH puts the block position first, (i*b + j)*C + c), and one-hot sums are exact in float.
    False when `node` (a Reshape) does not start that pattern."""
    src = ctx.shape_of(node.input[0])
    target = ctx.consts.get(node.input[1]) if len(node.input) > 1 else None
    if len(src) != 4 or target is None or target.size != 6:
        return False
    n_, c, h, w = src
    b = int(target[3])
    if b < 2 or h % b or w % b or [int(v) for v in target.tolist()] != [n_, c, h // b, b, w // b, b]:
        return False
    users = ctx.users(node.output[0])
    if len(users) != 1 or users[0].op_type != "Transpose" or \
            [a.ints for a in users[0].attribute if a.name == "perm"] != [[0, 1, 3, 5, 2, 4]]:
        return False
    back = ctx.users(users[0].output[0])
    if len(back) != 1 or back[0].op_type != "Reshape" or back[0].input[1] not in ctx.consts:
        return False
    shape = [int(v) for v in ctx.consts[back[0].input[1]].tolist()]
    want = [n_, c * b * b, h // b, w // b]
    if len(shape) != 4 or any(v not in (want[k], -1) for k, v in enumerate(shape)):
        return False
    ctx.plain(node.input[0])
    out = back[0].output[0]
    wname = f"{out}__unshuffle_w"
    onehot = np.zeros((c * b * b, 1, b, b), np.float32)
    for k in range(c * b * b):
        onehot[k, 0, (k % (b * b)) // b, k % b] = 1.0
    ctx.consts[wname] = onehot
    ctx.done.update({users[0].output[0], out})
    ctx.add("conv", [ctx.ins[0], wname], out, {"stride": (b, b), "dilation": (1, 1), "group": c},
            node.name or out)
    return True
