"""Pooling: max_pool and avg_pool over height and width (MaxPool2d(2) and AvgPool2d(2) of U-Nets and pix2pix
encoders), padded through a pad op before them (MaxPool2d(3, 2, 1) of ResNet stems, AvgPool2d(3, 1, 1)). Ceil mode,
dilation and averages that leave the padding out of the count are refused here and go to the fallback converters."""
from __future__ import annotations

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
    a = ctx.a
    ctx.plain(node.input[0])
    kernel = tuple(int(k) for k in a.get("kernel_shape", ()))
    if len(kernel) != 2:
        ctx.unsupported("only 2-D pooling")
    if len(node.output) > 1 and node.output[1]:
        ctx.unsupported("its argmax indices are used")
    pads = [int(p) for p in a.get("pads", (0, 0, 0, 0))]
    op = "max_pool" if node.op_type == "MaxPool" else "avg_pool"
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") or a.get("ceil_mode", 0) \
            or tuple(a.get("dilations", (1, 1))) != (1, 1) or (any(pads) and op == "avg_pool"
                                                                 and not a.get("count_include_pad", 0)) \
            or any(p >= k for p, k in zip(pads, kernel * 2)):
        ctx.unsupported("only floor-mode, undilated pooling, padded only as MaxPool or with count_include_pad")
    x = ctx.ins[0]
    if any(pads):
        # average: zeros counted in the mean. max: the border repeated, exact since every window that reaches a
        # padded row also holds the border row it repeats (pads < kernel), which -inf padding would leave to it
        x = f"{ctx.out}__pad"
        ctx.add("pad", [ctx.ins[0]], x, {"mode": "edge" if op == "max_pool" else "constant", "value": 0.0,
                                         "pads": (pads[0], pads[1], pads[2], pads[3])}, ctx.nm + "/pad")
    ctx.add(op, [x], ctx.out, {"kernel": kernel, "stride": tuple(int(s) for s in a.get("strides", (1, 1)))}, ctx.nm)
