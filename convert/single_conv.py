"""One convolution as a TFLite file, plain or with a named rewrite applied: the unit a conv rewrite's speed is
measured on (docs/convert.md: conv_output_parities per 9x9 conv at 480x320), through the same IR, rewrite and
TensorFlow lowering that convert() uses."""
from __future__ import annotations

import numpy as np

from vst.common.errors import VstError


def single_conv_tflite(cin: int, cout: int, kernel: int = 9, size: tuple[int, int] = (480, 320),
                       rewrite: str | None = None, seed: int = 0) -> tuple[bytes, int]:
    """A fp32 NHWC TFLite file of one kernel x kernel, stride-1 conv (random weights, zero bias) whose output is
    `size` (W, H) with `cout` channels, from an unpadded input with `cin` channels; `rewrite` names a registered
    rewrite (vst.convert.passes.ORDER) to apply first. Returns the file's bytes and the sites the rewrite changed
    (0 when it does not apply to this conv, or when none is named)."""
    from vst.convert.ir import Graph, Node
    from vst.convert.passes import ORDER, REGISTRY
    if rewrite is not None and rewrite not in REGISTRY:
        raise VstError(f"unknown rewrite {rewrite!r}; the rewrites are {', '.join(ORDER)}")
    if min(cin, cout, kernel, *size) < 1:
        raise VstError(f"channels, kernel and size must be at least 1, got {cin}, {cout}, {kernel}, {size}")
    rng = np.random.default_rng(seed)
    w, h = size
    consts = {"w": rng.standard_normal((cout, cin, kernel, kernel)).astype(np.float32),
              "b": np.zeros(cout, np.float32)}
    g = Graph("x", "y", (1, cin, h + kernel - 1, w + kernel - 1),
              [Node("conv", ["x", "w", "b"], "y", {"stride": (1, 1), "dilation": (1, 1), "group": 1}, "conv")],
              consts)
    g.infer_shapes()
    sites = 0
    if rewrite is not None:
        g, sites = REGISTRY[rewrite](g)
        g.infer_shapes()
    import tensorflow as tf
    from vst.convert.tflite import build_tf_function
    fn = build_tf_function(g, "nhwc", "nhwc")
    return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn).convert(), sites
