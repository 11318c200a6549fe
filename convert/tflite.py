"""IR -> TFLite, written natively in NHWC so the flatbuffer needs no TRANSPOSE; LiteRT inspection helpers.

We emit TensorFlow ops ourselves instead of going through onnx2tf: every activation in the IR is 4-D with a
known logical NCHW layout, so each op maps to its NHWC form directly and constants are laid out at conversion
time. `layout="nchw"` keeps activations in NCHW and wraps layout-bound ops in transposes, the way a
layout-naive converter does; it exists to measure the `transposes.before` figure of the report.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable

import numpy as np

from vst.common.errors import InternalError, VstError
from vst.common.quiet import configure_environment
from vst.convert.ir import BINARY, Graph, UnsupportedOp, input_name

configure_environment()

NCHW_TO_NHWC_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}
# Ops computing normalization statistics (see statistics_nodes) carry this name prefix. In int8 files they stay
# float: int8 ADD/RSQRT on them are not XNNPACK-delegated, and one quantization scale across channels whose
# variances differ by orders of magnitude ruins the normalization.
STATS_PREFIX = "chanstats"


def _tf():
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    return tf


def tensor_name(name: str) -> str:
    """An IR name as TensorFlow takes it (and as the TFLite file names the tensor)."""
    name = re.sub(r"[^A-Za-z0-9_.\-/]", "_", name).strip("/") or "op"
    return name if re.match(r"[A-Za-z0-9.]", name) else "n" + name


def build_tf_function(graph: Graph, io_layout: str = "nhwc", layout: str = "nhwc") -> Callable:
    """A tf.function computing `graph`, input and output in `io_layout`, activations in `layout`."""
    tf = _tf()
    n_, c_, h_, w_ = graph.input_shape
    in_shape = [n_, h_, w_, c_] if io_layout == "nhwc" else [n_, c_, h_, w_]

    def ax(a: int) -> int:
        return NCHW_TO_NHWC_AXIS[a] if layout == "nhwc" else a

    def cval(name: str):
        v = graph.consts[name]
        if v.ndim == 4 and layout == "nhwc":
            v = v.transpose(0, 2, 3, 1)
        return tf.constant(np.ascontiguousarray(v, dtype=np.float32))

    def nhwc_op(x, fn):
        # Layout-bound TF ops (conv, resize) exist only in NHWC on CPU; naive layout pays two transposes each.
        if layout == "nhwc":
            return fn(x)
        return tf.transpose(fn(tf.transpose(x, [0, 2, 3, 1])), [0, 3, 1, 2])

    float_stats = statistics_nodes(graph)

    # kept inputs (a style bottleneck, say) follow the image; 4-D ones laid out like the activations
    extra = [(k, list(v.transpose(0, 2, 3, 1).shape if io_layout == "nhwc" else v.shape))
             for k, v in graph.extra.items()]
    specs = [tf.TensorSpec(in_shape, tf.float32, name="image")] + \
        [tf.TensorSpec(shp, tf.float32, name=input_name(k)) for k, shp in extra]

    @tf.function(input_signature=specs, autograph=False)
    def fn(image, *kept):
        x = image
        if io_layout != layout:
            x = tf.transpose(x, [0, 2, 3, 1] if layout == "nhwc" else [0, 3, 1, 2])
        env = {graph.input: x}
        for (k, _), t in zip(extra, kept):
            env[k] = t if io_layout == layout else tf.transpose(t, [0, 2, 3, 1] if layout == "nhwc" else [0, 3, 1, 2])

        def val(name):
            return env[name] if name in env else cval(name)

        for node in graph.nodes:
            a, op, nm = node.attrs, node.op, tensor_name(node.name or node.output)
            if node.output in float_stats:
                nm = f"{STATS_PREFIX}/{nm}"   # per-channel statistics: kept float in int8 files
            x = val(node.inputs[0]) if node.inputs[0] in env else None
            if op == "conv":
                y = nhwc_op(x, lambda t: _conv(tf, graph, node, t, nm))
            elif op == "conv_transpose":
                y = nhwc_op(x, lambda t: _deconv(tf, graph, node, t, nm))
            elif op == "pad":
                y = _pad(tf, node, x, ax, nm)
            elif op == "instance_norm":
                if a.get("parity_groups", 1) != 1:
                    raise InternalError(f"norm {node.name!r} shares statistics across parities but was not decomposed")
                axes = [ax(2), ax(3)]
                mean = tf.reduce_mean(x, axes, keepdims=True)
                d = x - mean
                var = tf.reduce_mean(d * d, axes, keepdims=True)
                gshape = [1, 1, 1, -1] if layout == "nhwc" else [1, -1, 1, 1]
                gamma = tf.constant(graph.consts[node.inputs[1]].reshape(gshape).astype(np.float32))
                beta = tf.constant(graph.consts[node.inputs[2]].reshape(gshape).astype(np.float32))
                y = tf.add(d * (tf.math.rsqrt(var + a["eps"]) * gamma), beta, name=nm)
            elif op == "resize_nearest":
                sh, sw = a["scale"]
                y = nhwc_op(x, lambda t: tf.compat.v1.image.resize_nearest_neighbor(
                    t, [int(t.shape[1]) * sh, int(t.shape[2]) * sw], align_corners=False,
                    half_pixel_centers=False, name=nm))
            elif op == "repeat":
                y = _interleave(tf, [x] * a["times"], ax(a["axis"]), nm)
            elif op == "interleave":
                y = _interleave(tf, [val(i) for i in node.inputs], ax(a["axis"]), nm)
            elif op == "slice":
                # explicit sizes: XNNPACK refuses a SLICE whose size has -1 entries
                begin, size = [0] * 4, [int(s) for s in x.shape]
                begin[ax(a["axis"])], size[ax(a["axis"])] = a["start"], a["end"] - a["start"]
                y = tf.slice(x, begin, size, name=nm)
            elif op == "concat":
                y = tf.concat([val(i) for i in node.inputs], ax(a["axis"]), name=nm)
            elif op == "reduce_mean":
                y = tf.reduce_mean(x, [ax(i) for i in a["axes"]], keepdims=True, name=nm)
            elif op == "clip":
                y = tf.clip_by_value(x, a["min"] if a["min"] is not None else -np.inf,
                                     a["max"] if a["max"] is not None else np.inf, name=nm)
            elif op == "leaky_relu":
                y = tf.nn.leaky_relu(x, a["alpha"], name=nm)
            elif op == "prelu":
                y = _prelu(tf, graph, node, x, layout, nm)
            elif op == "hard_swish":
                # the converter fuses x * relu6(x + 3) / 6 into HARD_SWISH
                y = tf.multiply(x * tf.nn.relu6(x + 3.0), 1.0 / 6.0, name=nm)
            elif op == "resize_bilinear":
                half = not a["align_corners"]
                y = nhwc_op(x, lambda t: tf.compat.v1.image.resize_bilinear(
                    t, list(a["size"]), align_corners=a["align_corners"], half_pixel_centers=half, name=nm))
            elif op == "depth_to_space":
                y = nhwc_op(x, lambda t: tf.nn.depth_to_space(t, a["block"], name=nm))
            elif op == "space_to_depth":
                y = nhwc_op(x, lambda t: tf.nn.space_to_depth(t, a["block"], name=nm))
            elif op in BINARY:
                l, r = val(node.inputs[0]), val(node.inputs[1])
                if op == "mul" and node.inputs[1] in graph.consts and graph.consts[node.inputs[1]].ndim == 0 \
                        and float(graph.consts[node.inputs[1]]) == 1.0:
                    y = tf.identity(l, name=nm)
                else:
                    y = {"add": tf.add, "sub": tf.subtract, "mul": tf.multiply, "div": tf.divide, "pow": tf.pow,
                         "max": tf.maximum, "min": tf.minimum}[op](l, r, name=nm)
            else:
                fn_ = {"relu": tf.nn.relu, "sigmoid": tf.sigmoid, "tanh": tf.tanh, "sqrt": tf.sqrt,
                       "rsqrt": tf.math.rsqrt, "reciprocal": tf.math.reciprocal, "neg": tf.negative, "exp": tf.exp,
                       "abs": tf.abs, "round": tf.round}.get(op)
                if fn_ is None:
                    raise VstError(f"op {op} (node {node.name!r}) cannot be converted to tflite")
                y = fn_(x, name=nm)
            env[node.output] = y
        out = env[graph.output]
        if io_layout != layout:
            out = tf.transpose(out, [0, 3, 1, 2] if layout == "nhwc" else [0, 2, 3, 1])
        return tf.identity(out, name="stylized")

    return fn


def feeds_for(graph: Graph, io_layout: str, values: dict | None = None) -> dict[str, np.ndarray]:
    """Kept inputs by their TFLite names, in the artifact's I/O layout: `values` (IR layout) or the samples."""
    out = {}
    for k, v in graph.extra.items():
        v = np.asarray((values or {}).get(k, v), np.float32)
        out[input_name(k)] = v.transpose(0, 2, 3, 1) if io_layout == "nhwc" else v
    return out


def _is_square(node) -> bool:
    return node.op == "mul" and node.inputs[0] == node.inputs[1]


def statistics_nodes(graph: Graph) -> set[str]:
    """Outputs of the ops that compute normalization statistics: squared deviations, their spatial mean, and
    every op on 1x1 per-channel tensors (var + eps, rsqrt, gamma scaling), but not the mean of the activations
    itself. Measured on multistyle26 at 480x320: keeping the squares and variances float as well raises int8
    PSNR against fp32 from 27.2 to 28.8 dB, still in one XNNPACK partition."""
    out = set()
    for n in graph.nodes:
        spatial = tuple(graph.shapes.get(n.output, (0, 0, 0, 0))[2:])
        src = graph.producer(n.inputs[0])
        # a mean of squares taken in two steps (spatial_mean_by_rows) keeps both steps float
        if _is_square(n) or (n.op == "reduce_mean" and src is not None and (_is_square(src) or src.output in out)):
            out.add(n.output)
        elif n.op != "reduce_mean" and spatial == (1, 1):
            out.add(n.output)
    return out


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
        y = _concat_tree(tf, parts, 3, nm)
    else:
        raise UnsupportedOp(f"ONNX op Conv with group={group} (node {node.name!r}) cannot be converted to tflite")
    if len(node.inputs) > 2:
        y = tf.nn.bias_add(y, tf.constant(graph.consts[node.inputs[2]].astype(np.float32)), name=nm + "/bias")
    return y


def _concat_tree(tf, xs: list, axis: int, nm: str):
    """Concatenate in groups of at most MAX_CONCAT_INPUTS (XNNPACK refuses wider CONCATENATIONs)."""
    from vst.convert.delegates import MAX_CONCAT_INPUTS
    while len(xs) > MAX_CONCAT_INPUTS:
        xs = [tf.concat(xs[i:i + MAX_CONCAT_INPUTS], axis) if len(xs[i:i + MAX_CONCAT_INPUTS]) > 1 else xs[i]
              for i in range(0, len(xs), MAX_CONCAT_INPUTS)]
    return tf.concat(xs, axis, name=nm)


def _prelu(tf, graph, node, x, layout, nm):
    # relu(x) + (-alpha) * relu(-x) with a rank-3 [1, 1, C] alpha is the form the converter turns into PRELU
    alpha = np.asarray(graph.consts[node.inputs[1]], np.float32)
    ch = int(x.shape[3] if layout == "nhwc" else x.shape[1])
    if alpha.ndim == 4:
        alpha = alpha.transpose(0, 2, 3, 1) if layout == "nhwc" else alpha
        alpha = alpha[0]
    alpha = np.broadcast_to(alpha, (1, 1, ch) if layout == "nhwc" else (ch, 1, 1)).copy()
    return tf.add(tf.nn.relu(x), tf.constant(-alpha) * tf.nn.relu(-x), name=nm)


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


def _interleave(tf, xs: list, axis: int, nm: str):
    """Alternate the inputs' entries along `axis` (a repeat when they are all the same tensor): concat on the
    next axis, then merge the two axes with a reshape. CONCATENATION and RESHAPE are XNNPACK ops."""
    shape = [int(s) for s in xs[0].shape]
    if axis + 1 < len(shape):
        y = tf.concat(xs, axis + 1)
    else:
        y = tf.stack(xs, axis + 1)
    shape[axis] *= len(xs)
    return tf.reshape(y, shape, name=nm)


def to_tflite(graph: Graph, quant: str, io_layout: str = "nhwc", layout: str = "nhwc",
              representative: Callable[[], Iterable[list[np.ndarray]]] | None = None,
              dynamic: bool = False) -> bytes:
    """Convert with the TFLite converter: fp32, fp16 (float16 weights) or full-integer int8 (float I/O);
    `dynamic` int8: dynamic-range quantization (int8 weights, activations quantized per frame at run time,
    which XNNPACK runs as int8 GEMMs), no representative data."""
    if quant == "int8" and not dynamic:
        return Int8Quantizer(graph, io_layout, layout, representative).model()
    tf = _tf()
    fn = build_tf_function(graph, io_layout, layout)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    if quant == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif quant == "int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]      # no representative data: dynamic range
    import warnings
    try:
        warnings.filterwarnings("ignore", module="tensorflow")
        return conv.convert()
    except VstError:
        raise
    except Exception as exc:
        raise _converter_error(exc) from None


def _converter_error(exc: Exception) -> VstError:
    # the converter's errors are long MLIR dumps; keep the first useful line
    first = next((ln for ln in str(exc).splitlines() if "error" in ln.lower()), str(exc)[:200])
    return VstError(f"TFLite converter failed ({first.strip()[:240]})")


class Int8Quantizer:
    """Full-integer int8 of `graph`, calibrated once on `representative`; `model(extra)` re-quantizes the
    calibrated file with the ops named in `extra` kept float too (cheap: no new calibration), for mixed
    precision (vst.convert.temporal_quant). Normalization statistics are always float (see STATS_PREFIX)."""

    def __init__(self, graph: Graph, io_layout: str = "nhwc", layout: str = "nhwc",
                 representative: Callable[[], Iterable[list[np.ndarray]]] | None = None):
        if representative is None:
            raise VstError("int8 needs a representative dataset (--calib DIR)")
        tf = _tf()
        import warnings
        warnings.filterwarnings("ignore", module="tensorflow")
        fn = build_tf_function(graph, io_layout, layout)
        try:
            self.float_model = tf.lite.TFLiteConverter.from_concrete_functions(
                [fn.get_concrete_function()], fn).convert()
            # names of the statistics ops, as the float file calls them, to keep them float
            self.float_ops = ops(self.float_model)
            self.statistics = [o["name"] for o in self.float_ops if STATS_PREFIX + "/" in o["name"]]
            conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = representative
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            self._plain = None
            if self.statistics:
                self._debugger = tf.lite.experimental.QuantizationDebugger(
                    converter=conv, debug_dataset=representative,
                    debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=self.statistics))
            else:
                self._debugger, self._plain = None, conv
        except VstError:
            raise
        except Exception as exc:
            raise _converter_error(exc) from None

    def clip_ranges(self, frames: Iterable[np.ndarray], bins: int = 2048) -> dict:
        """Replace the calibrated min/max of every activation with the range that minimizes its int8
        quantization error (rounding inside, clipping outside) on the histogram of `frames` (inputs in the
        I/O layout). Min/max spends the 256 levels on rare outliers; a clipped range rounds the bulk finer.
        Applies to every later `model()`; returns {"tensors", "mean_range_ratio"} for the report."""
        if self._debugger is None:
            raise VstError("clipping activation ranges needs normalization statistics in the graph")
        from tensorflow.lite.tools import flatbuffer_utils as fu
        from vst.runtimes.litert import LiteRTSession
        calibrated = fu.convert_bytearray_to_object(bytearray(self._debugger.calibrated_model))
        sub = calibrated.subgraphs[0]
        ranged = {i: (float(t.quantization.min[0]), float(t.quantization.max[0])) for i, t in enumerate(sub.tensors)
                  if t.quantization is not None and t.quantization.min is not None and len(t.quantization.min) == 1
                  and t.type == 0 and t.quantization.max[0] > t.quantization.min[0]}     # float32 activations
        hists = {i: np.zeros(bins) for i in ranged}
        sess = LiteRTSession(self._debugger.calibrated_model, threads=2, delegate="none", preserve=True)
        for x in frames:
            sess.run(x)
            for i, (lo, hi) in ranged.items():
                hists[i] += np.histogram(sess.it.get_tensor(i), bins, (lo, hi))[0]
        ratios = []
        for i, (lo, hi) in ranged.items():
            a, b = mse_range(hists[i], lo, hi)
            sub.tensors[i].quantization.min = np.array([a], np.float32)
            sub.tensors[i].quantization.max = np.array([b], np.float32)
            ratios.append((b - a) / (hi - lo))
        self._debugger.calibrated_model = bytes(fu.convert_object_to_bytearray(calibrated))
        return {"tensors": len(ranged), "mean_range_ratio": round(float(np.mean(ratios)), 4) if ratios else 1.0}

    def model(self, extra: Iterable[str] = ()) -> bytes:
        extra = [n for n in extra if n not in self.statistics]
        try:
            if self._debugger is None and not extra:
                return self._plain.convert()
            if self._debugger is None:
                raise VstError("keeping chosen ops float needs normalization statistics in the graph")
            # set the option in place: the options setter would rebuild the numeric-verify debug model
            self._debugger.options.denylisted_nodes = self.statistics + extra
            return self._debugger.get_nondebug_quantized_model()
        except VstError:
            raise
        except Exception as exc:
            raise _converter_error(exc) from None


def mse_range(hist: np.ndarray, lo: float, hi: float, levels: int = 256, steps: int = 64) -> tuple[float, float]:
    """The [a, b] within [lo, hi] that minimizes the expected int8 error of values with histogram `hist` over
    [lo, hi]: uniform rounding noise step^2/12 inside, the distance to the range outside. The range keeps 0
    inside (TFLite nudges it there anyway, and zero padding must be exact)."""
    n = len(hist)
    x = lo + (np.arange(n) + 0.5) * (hi - lo) / n
    p = hist / max(hist.sum(), 1.0)
    fr = np.linspace(1.0 / steps, 1.0, steps)
    a_c = min(lo, 0.0) * fr if lo < 0 else np.array([lo])
    b_c = max(hi, 0.0) * fr if hi > 0 else np.array([hi])
    A, B = a_c[:, None, None], b_c[None, :, None]
    step = (B - A) / (levels - 1)
    err = np.where(x < A, (A - x) ** 2, np.where(x > B, (x - B) ** 2, step ** 2 / 12))
    cost = (err * p).sum(-1)
    ia, ib = np.unravel_index(np.argmin(cost), cost.shape)
    return float(a_c[ia]), float(b_c[ib])


# ---------------------------------------------------------------- inspection with LiteRT (vst.runtimes)

def ops(model: bytes) -> list[dict]:
    from vst.runtimes.litert import ops as litert_ops
    return litert_ops(model)


def histogram(op_list: list[dict]) -> dict[str, int]:
    from vst.convert.report import op_histogram
    return op_histogram(o["op"] for o in op_list)


def xnnpack_partitions(model: bytes, threads: int = 2) -> dict:
    """Measured on the host: which nodes XNNPACK took, and in how many partitions (DELEGATE nodes)."""
    from vst.runtimes.litert import LiteRTSession
    d = LiteRTSession(model, threads=threads, delegate="xnnpack").delegation
    return {"partitions": d.partitions, "delegated_nodes": d.delegated_nodes, "total_nodes": d.total_nodes,
            "not_delegated": d.not_delegated}


def run(model: bytes, batch: np.ndarray, threads: int = 2, feeds: dict | None = None) -> np.ndarray:
    """Run image by image (the artifact has batch 1); batch and result in the artifact's I/O layout; `feeds`:
    kept inputs by name (feeds_for)."""
    from vst.runtimes.litert import LiteRTSession
    sess = LiteRTSession(model, threads=threads)
    return np.stack([sess.run(img[None].astype(np.float32), feeds)[0].copy() for img in batch])


def intermediates(model: bytes, image: np.ndarray, feeds: dict | None = None) -> dict[str, np.ndarray]:
    """Every float (or dequantized int8) tensor after one run, by tensor name, for per-layer comparison."""
    from vst.runtimes.litert import LiteRTSession
    sess = LiteRTSession(model, threads=1, delegate="none", preserve=True)
    sess.run(image[None].astype(np.float32), feeds)
    return sess.tensors()
