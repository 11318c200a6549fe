"""IR -> TFLite, written natively in NHWC so the flatbuffer needs no TRANSPOSE; LiteRT inspection helpers.

We emit TensorFlow ops ourselves instead of going through onnx2tf: every activation in the IR is 4-D with a
known logical NCHW layout, so each op maps to its NHWC form directly (its `tensorflow` lowering in
vst.convert.ops) and constants are laid out at conversion time. `layout="nchw"` keeps activations in NCHW and
wraps layout-bound ops in transposes, the way a layout-naive converter does; it exists to measure the
`transposes.before` figure of the report.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from vst.common.errors import VstError
from vst.common.quiet import configure_environment
from vst.convert.ir import Graph, input_name
from vst.convert.ops import REGISTRY

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


@dataclass
class Lowering:
    """What an op's TensorFlow lowering sees (vst.convert.ops): `ax` maps a logical NCHW axis to the
    activations' layout, `val` gives a tensor or constant by IR name, `nhwc_op` runs a layout-bound TF op."""
    tf: Any
    graph: Graph
    layout: str
    ax: Callable[[int], int]
    val: Callable[[str], Any]
    nhwc_op: Callable


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

        ctx = Lowering(tf, graph, layout, ax, val, nhwc_op)
        for node in graph.nodes:
            nm = tensor_name(node.name or node.output)
            if node.output in float_stats:
                nm = f"{STATS_PREFIX}/{nm}"   # per-channel statistics: kept float in int8 files
            x = val(node.inputs[0]) if node.inputs[0] in env else None
            op = REGISTRY.get(node.op)
            if op is None or op.tensorflow is None:
                raise VstError(f"op {node.op} (node {node.name!r}) cannot be converted to tflite")
            y = op.tensorflow(ctx, node, x, nm)
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
    return node.op == "squared_difference" or (node.op == "mul" and node.inputs[0] == node.inputs[1])


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
        elif n.op in ("add", "rsqrt") and n.inputs[0] in out:
            out.add(n.output)      # var + eps and its rsqrt of a per-pixel norm (over channels): [1, 1, H, W]
    return out


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
