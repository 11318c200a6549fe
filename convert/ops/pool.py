"""Pooling: max_pool and avg_pool over height and width (MaxPool2d(2) and AvgPool2d(2) of U-Nets and pix2pix
encoders), padded through a pad op before them (MaxPool2d(3, 2, 1) of ResNet stems, AvgPool2d(3, 1, 1)); ceil mode
pads the far edge further, and an average whose divisor changes at the edge (ceil mode, count_include_pad=False)
is the padded mean times a constant map. Dilation is refused here and goes to the fallback converters."""
from __future__ import annotations

import numpy as np

from vst.convert.ops.base import Op, imports, register


class _Pool(Op):
    tf_name: str = ""
    mil_name: str

    def tensorflow(self, ctx, node, x, nm):
        a, tf = node.attrs, ctx.tf
        fn = getattr(tf.nn, self.tf_name)
        return ctx.nhwc_op(x, lambda t: fn(t, list(a["kernel"]), list(a["stride"]), "VALID", name=nm))

    def mil(self, ctx, node, x, nm):
        a = node.attrs
        kw = {"exclude_padding_from_average": True} if self.mil_name == "avg_pool" else {}
        return getattr(ctx.mb, self.mil_name)(x=x, kernel_sizes=list(a["kernel"]), strides=list(a["stride"]),
                                              pad_type="valid", name=nm, **kw)


@register("max_pool")
class MaxPool(_Pool):
    tf_name, mil_name = "max_pool2d", "max_pool"

    def reference(self, ctx, node, ins):
        a = node.attrs
        return ctx.F.max_pool2d(ins[0], tuple(a["kernel"]), tuple(a["stride"]))


@register("avg_pool")
class AvgPool(_Pool):
    mil_name = "avg_pool"

    def reference(self, ctx, node, ins):
        a = node.attrs
        return ctx.F.avg_pool2d(ins[0], tuple(a["kernel"]), tuple(a["stride"]))

    def tensorflow(self, ctx, node, x, nm):
        """As a depthwise convolution with weights 1/(kh*kw): the same sums, and XNNPACK takes it at every
        precision, where it leaves a full-int8 AVERAGE_POOL_2D to the reference kernels (measured, LiteRT 2.3)."""
        a, tf = node.attrs, ctx.tf
        (kh, kw), (sh, sw) = a["kernel"], a["stride"]

        def pool(t):
            ones = tf.constant(1.0 / (kh * kw), tf.float32, [kh, kw, int(t.shape[-1]), 1])
            return tf.nn.depthwise_conv2d(t, ones, [1, sh, sw, 1], "VALID", name=nm)
        return ctx.nhwc_op(x, pool)


@imports("MaxPool", "AveragePool")
def import_pool(ctx, node):
    """A pool as a pad op and the unpadded, floor-mode pool (then, for an average whose divisor changes at the
    edge, a multiplication by a constant map: torch's ceil mode and count_include_pad=False)."""
    a = ctx.a
    ctx.plain(node.input[0])
    kernel = tuple(int(k) for k in a.get("kernel_shape", ()))
    if len(kernel) != 2:
        ctx.unsupported("only 2-D pooling")
    if len(node.output) > 1 and node.output[1]:
        ctx.unsupported("its argmax indices are used")
    pads = [int(p) for p in a.get("pads", (0, 0, 0, 0))]
    stride = tuple(int(s) for s in a.get("strides", (1, 1)))
    op = "max_pool" if node.op_type == "MaxPool" else "avg_pool"
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") or tuple(a.get("dilations", (1, 1))) != (1, 1) \
            or any(p >= k for p, k in zip(pads, kernel * 2)):
        ctx.unsupported("only undilated pooling with pads smaller than the kernel")
    src = ctx.shape_of(node.input[0])[2:]
    counts, extra = [], []
    for n, k, s, before, after in zip(src, kernel, stride, pads[:2], pads[2:]):
        c, e = pool_counts(n, k, s, before, after, bool(a.get("ceil_mode", 0)),
                           op == "max_pool" or bool(a.get("count_include_pad", 0)))
        counts.append(c)
        extra.append(e)
    x = ctx.ins[0]
    full = (pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1])
    if any(full):
        # average: zeros, summed. max: the border repeated, exact since every window that reaches a padded row
        # also holds the border row it repeats (pads < kernel, and ceil mode's last window starts inside)
        x = f"{ctx.out}__pad"
        ctx.add("pad", [ctx.ins[0]], x, {"mode": "edge" if op == "max_pool" else "constant", "value": 0.0,
                                         "pads": full}, ctx.nm + "/pad")
    scale = kernel[0] * kernel[1] / np.outer(counts[0], counts[1])
    plain = op == "max_pool" or np.all(scale == 1)
    pooled = ctx.out if plain else f"{ctx.out}__sum"
    ctx.add(op, [x], pooled, {"kernel": kernel, "stride": stride}, ctx.nm)
    if not plain:
        # the windows at the edge divide by fewer than kh*kw: the mean of kh*kw times kh*kw / count
        m = f"{ctx.out}__divisor"
        ctx.consts[m] = scale.reshape(1, 1, *scale.shape).astype(np.float32)
        ctx.add("mul", [pooled, m], ctx.out, {}, ctx.nm + "/divisor")


def pool_counts(n: int, k: int, s: int, before: int, after: int, ceil: bool,
                include_pad: bool) -> tuple[np.ndarray, int]:
    """torch's pooling along one axis of `n`: each output window's divisor for an average (the window clipped to
    the padded input, and to the input itself unless `include_pad`), and the rows ceil mode reads past the
    padding. Ceil mode keeps a last window only if it starts inside the input or its leading padding."""
    span = n + before + after - k
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + before:
        out -= 1
    start = np.arange(out) * s - before
    end = np.minimum(start + k, n + after)
    counts = end - start if include_pad else np.minimum(end, n) - np.maximum(start, 0)
    return counts.astype(np.float64), max(0, (out - 1) * s + k - (n + before + after))
