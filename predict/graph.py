"""What the device predictor knows about an artifact, counted from its own graph: a .tflite read with LiteRT's
flatbuffer schema (no TensorFlow), an .onnx through onnx's shape inference. Per op: conv-like multiply-accumulates
(channels in groups of 8, as vst.models.profile.count_macs counts a module), the bytes it reads and writes at
their real dtype, its type; per graph: the totals, the op mix and the precision the convolutions run at.

Calibration features (data/table2_graph.json, written by `python -m vst.pipeline.table2_graph`): the 15 Table II
configurations as vst-convert writes them (fp32 .tflite and .onnx, random weights, 480x320 and 320x240), so each
format's graph model compares features counted the same way.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vst.common.errors import VstError, first_line

CHANNEL_GROUP = 8          # as the module count (vst.predict.features): vector units take channels in groups
# the graph model's inputs, in the order of its coefficients (after the constant term)
GRAPH_FEATURES = ("macs_grouped", "bytes_moved", "ops")
GRAPH_LABELS = {"macs_grouped": "MACs (channels in groups of 8)", "bytes_moved": "bytes moved", "ops": "ops"}
INT8 = ("int8", "int8-dynamic")
GRAPH_FORMATS = ("tflite", "onnx")
TABLE2_DATA = Path(__file__).parent / "data" / "table2_graph.json"
TFLITE_CONV = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "BATCH_MATMUL")
ONNX_CONV = ("Conv", "ConvTranspose", "Gemm", "MatMul", "ConvInteger", "QLinearConv", "MatMulInteger",
             "QLinearMatMul")


def _up(n: int, g: int = CHANNEL_GROUP) -> int:
    return -(-int(n) // g) * g


@dataclass(frozen=True)
class OpCount:
    op: str
    macs: int
    macs_grouped: int
    bytes: int              # inputs read (weights included) and outputs written, at their dtypes
    precision: str | None   # conv-like ops only: fp32, fp16, int8 or int8-dynamic


@dataclass(frozen=True)
class GraphFeatures:
    name: str
    format: str                     # tflite or onnx
    width: int
    height: int
    precision: str                  # fp32, fp16, int8, int8-dynamic, or "mixed (...)"
    macs: int
    macs_grouped: int
    bytes_moved: int
    ops: int
    weight_bytes: int
    macs_grouped_int8: int = 0                   # of the conv-like ops at int8 (static or dynamic)
    op_mix: dict = field(default_factory=dict)   # op type -> count

    @property
    def macs_grouped_float(self) -> int:
        return self.macs_grouped - self.macs_grouped_int8

    def vector(self) -> list[float]:
        return [float(getattr(self, f)) for f in GRAPH_FEATURES]

    def record(self) -> dict:
        return asdict(self)


def _precision(per_op: list[OpCount], weight_dtypes: set[str]) -> str:
    """The precision the graph computes at: its conv-like ops' (all one, else mixed), else its weights'."""
    seen = sorted({o.precision for o in per_op if o.precision})
    if len(seen) == 1:
        return seen[0]
    if seen:
        return f"mixed ({', '.join(seen)})"
    return "fp16" if "float16" in weight_dtypes else "fp32"


def _op_precision(act: str, weight: str | None, weight_fed_fp16: bool) -> str:
    if act in ("int8", "uint8", "int16"):
        return "int8"
    if weight in ("int8", "uint8"):
        return "int8-dynamic"   # int8 weights, float activations (quantized per frame at run time, or dequantized)
    return "fp16" if weight == "float16" or weight_fed_fp16 else "fp32"


def _features(name, fmt, width, height, per_op: list[OpCount], weight_bytes: int, weight_dtypes: set[str]):
    mix: dict[str, int] = {}
    for o in per_op:
        mix[o.op] = mix.get(o.op, 0) + 1
    return GraphFeatures(name, fmt, width, height, _precision(per_op, weight_dtypes),
                         sum(o.macs for o in per_op), sum(o.macs_grouped for o in per_op),
                         sum(o.bytes for o in per_op), len(per_op), weight_bytes,
                         sum(o.macs_grouped for o in per_op if o.precision in INT8), dict(sorted(mix.items())))


def _image_size(shape: list[int], what: str) -> tuple[int, int]:
    """(width, height) of an image input, NHWC or NCHW (channels are the small axis)."""
    if len(shape) == 4 and shape[3] in (1, 3, 4):
        return shape[2], shape[1]
    if len(shape) == 4 and shape[1] in (1, 3, 4):
        return shape[3], shape[2]
    raise VstError(f"{what}: its first input has shape {shape}, not an image (1xHxWx3 or 1x3xHxW); vst-predict "
                   "counts image-to-image models")


# ---- TFLite -------------------------------------------------------------------------------------------------

def tflite_ops(data: bytes, what: str = "the model") -> tuple[list[OpCount], dict]:
    """Per-op counts of a .tflite's main subgraph, and {'input_shape', 'weight_bytes', 'weight_dtypes'}."""
    from vst.runtimes.litert_graph import _code, _constant, _fb, op_name
    schema, fbu = _fb()
    try:
        model = fbu.convert_bytearray_to_object(bytearray(data))
        sub = model.subgraphs[0]
    except Exception as exc:  # the flatbuffer reader raises what the damage provokes
        raise VstError(f"{what} is not a readable .tflite flatbuffer ({first_line(exc, 120)}); convert it again "
                       "with vst-convert") from None
    dtype_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    np_names = {"float32": "float32", "float16": "float16", "int8": "int8", "uint8": "uint8", "int16": "int16",
                "int32": "int32", "int64": "int64", "bool": "bool", "float64": "float64", "uint16": "uint16"}

    def dtype(t) -> str:
        return np_names.get(dtype_names.get(int(t.type), ""), "int32")

    def shape(t) -> list[int]:
        return [int(d) for d in t.shape] if t.shape is not None else []

    def nbytes(t) -> int:
        return int(np.prod(shape(t), dtype=np.int64)) * np.dtype(dtype(t)).itemsize

    if any(int(d) < 0 for i in sub.inputs for d in (sub.tensors[i].shapeSignature
                                                    if sub.tensors[i].shapeSignature is not None else [])):
        raise VstError(f"{what} has a dynamic input size; vst-predict counts a graph of fixed shapes: convert it "
                       "at one size (vst-convert --size WxH)")
    # a constant that only reaches its op through DEQUANTIZE is a stored fp16 (or int8) weight
    dequant_from = {}
    for op in sub.operators:
        if op_name(_code(model, op)) == "DEQUANTIZE":
            src = sub.tensors[op.inputs[0]]
            if _constant(model, src):
                dequant_from[op.outputs[0]] = dtype(src)
    per_op = []
    for op in sub.operators:
        kind = op_name(_code(model, op))
        ins = [i for i in op.inputs if i >= 0]
        outs = list(op.outputs)
        total = sum(nbytes(sub.tensors[i]) for i in ins + outs)
        macs = grouped = 0
        prec = None
        if kind in TFLITE_CONV and len(ins) >= 2:
            if kind == "TRANSPOSE_CONV":   # inputs: output shape, weights [O, kh, kw, I], activations
                w_i, x_i = op.inputs[1], op.inputs[2]
            else:
                x_i, w_i = op.inputs[0], op.inputs[1]
            x, w, y = sub.tensors[x_i], sub.tensors[w_i], sub.tensors[outs[0]]
            ws, xs, ys = shape(w), shape(x), shape(y)
            n_out = int(np.prod(ys, dtype=np.int64))
            if kind == "CONV_2D":                       # w [O, kh, kw, I/groups]
                cout, k, cin_g = ws[0], ws[1] * ws[2], ws[3]
                px = n_out // cout
                macs, grouped = px * cout * cin_g * k, px * _up(cout) * _up(cin_g) * k
            elif kind == "DEPTHWISE_CONV_2D":           # w [1, kh, kw, O]; one input channel per group
                cout, k = ws[3], ws[1] * ws[2]
                px = n_out // cout
                macs, grouped = px * cout * k, px * _up(cout) * _up(1) * k
            elif kind == "TRANSPOSE_CONV":              # each input element scatters to O * kh*kw outputs
                cout, k, cin = ws[0], ws[1] * ws[2], ws[3]
                px = int(np.prod(xs, dtype=np.int64)) // cin
                macs, grouped = px * cin * cout * k, px * _up(cin) * _up(cout) * k
            else:                                       # FULLY_CONNECTED w [O, I]; BATCH_MATMUL y [.., M, N]
                cout = ys[-1]
                cin = ws[-1] if kind == "FULLY_CONNECTED" else xs[-1]
                rows = n_out // cout
                macs, grouped = rows * cout * cin, rows * _up(cout) * _up(cin)
            prec = _op_precision(dtype(x), dtype(w) if _constant(model, w) else dequant_from.get(w_i),
                                 dequant_from.get(w_i) == "float16")
        per_op.append(OpCount(kind, int(macs), int(grouped), int(total), prec))
    consts = [t for t in sub.tensors if _constant(model, t)]
    info = {"input_shape": shape(sub.tensors[sub.inputs[0]]) if len(sub.inputs) else [],
            "weight_bytes": sum(nbytes(t) for t in consts),
            "weight_dtypes": {dtype(t) for t in consts if len(shape(t)) >= 1}}
    return per_op, info


# ---- ONNX ---------------------------------------------------------------------------------------------------

def onnx_ops(path: Path, size: tuple[int, int] | None = None) -> tuple[list[OpCount], dict]:
    """Per-op counts of an .onnx (shapes by onnx's shape inference; weights' values are never read), and
    {'input_shape', 'weight_bytes', 'weight_dtypes'}. `size` fixes a free height and width of the image input."""
    from onnx import helper, shape_inference
    model = _load_onnx(path)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    dims = _onnx_input(model, path).type.tensor_type.shape.dim
    if size is not None and len(dims) == 4:
        # the image's spatial axes: NCHW when the channel axis is the second, else NHWC
        nchw = dims[1].HasField("dim_value") and dims[1].dim_value in (1, 3, 4)
        hw = (2, 3) if nchw else (1, 2)
        for axis, value in zip(hw, (size[1], size[0])):
            if dims[axis].HasField("dim_value") and dims[axis].dim_value not in (0, value):
                raise _fixed_at(path, _image_size(_onnx_input_shape(model, path), path.name))
            dims[axis].dim_value = value
        if not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1
    shape_in = [d.dim_value if d.HasField("dim_value") else -1 for d in dims]
    if any(d <= 0 for d in shape_in):
        raise VstError(f"{path.name} has a free input size {shape_in}; give --size WxH to count it at one size")
    try:
        # ONNX Runtime's symbolic inference follows shapes computed in the graph (a reflection pad's pads, an
        # exporter's Shape/Concat chains) where onnx's own leaves them unknown
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
        inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    except Exception:  # it gives up on some ops onnx's inference knows; that one then says what is wrong
        try:
            inferred = shape_inference.infer_shapes(model, data_prop=True)
        except Exception as exc:  # onnx raises InferenceError and friends on an inconsistent graph
            raise VstError(f"{path.name}: onnx cannot infer its shapes ({first_line(exc, 120)})") from None
    types = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape"):
            types[vi.name] = (tt.elem_type, [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim])
    for t in g.initializer:
        types[t.name] = (t.data_type, list(t.dims))
    for node in g.node:   # Constant nodes hold their value in an attribute
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.HasField("t"):
                    types[node.output[0]] = (a.t.data_type, list(a.t.dims))

    def np_dtype(elem: int) -> str:
        try:
            return np.dtype(helper.tensor_dtype_to_np_dtype(elem)).name
        except (KeyError, TypeError, ValueError):
            return "float32"

    def nbytes(name: str) -> int:
        if name not in types:
            return 0
        elem, shp = types[name]
        if any(d < 0 for d in shp):
            return 0
        return int(np.prod(shp, dtype=np.int64)) * np.dtype(np_dtype(elem)).itemsize

    def shp(name: str) -> list[int]:
        return types.get(name, (0, []))[1]

    def dt(name: str) -> str | None:
        return np_dtype(types[name][0]) if name in types else None

    # where a weight comes from through DequantizeLinear (QDQ) or Cast: its stored dtype
    produced = {o: n for n in g.node for o in n.output}

    def stored(name: str) -> str | None:
        n = produced.get(name)
        if n is not None and n.op_type in ("DequantizeLinear", "Cast") and n.input[0] in inits:
            return dt(n.input[0])
        return dt(name)

    def act_dtype(name: str) -> str | None:
        n = produced.get(name)
        if n is not None and n.op_type == "DequantizeLinear":   # QDQ: the activation was quantized before the op
            return dt(n.input[0])
        if n is not None and n.op_type == "DynamicQuantizeLinear":
            return "int8-dynamic"
        return dt(name)

    unknown = set()
    per_op = []
    for node in g.node:
        if node.op_type == "Constant":
            continue
        ins = [i for i in node.input if i]
        total = sum(nbytes(i) for i in ins) + sum(nbytes(o) for o in node.output if o)
        macs = grouped = 0
        prec = None
        if node.op_type in ONNX_CONV:
            x, w, y = _onnx_operands(node)
            xs, ws, ys = shp(x), shp(w), shp(y)
            if not xs or not ws or not ys or min(xs + ws + ys) < 0:
                unknown.add(node.op_type)
            elif node.op_type in ("Conv", "ConvInteger", "QLinearConv"):   # w [O, I/groups, kh, kw]
                cout, cin_g, k = ws[0], ws[1], int(np.prod(ws[2:], dtype=np.int64))
                px = int(np.prod(ys, dtype=np.int64)) // cout
                macs, grouped = px * cout * cin_g * k, px * _up(cout) * _up(cin_g) * k
            elif node.op_type == "ConvTranspose":                           # w [I, O/groups, kh, kw]
                cin, cout_g, k = ws[0], ws[1], int(np.prod(ws[2:], dtype=np.int64))
                px = int(np.prod(xs, dtype=np.int64)) // cin
                macs, grouped = px * cin * cout_g * k, px * _up(cin) * _up(cout_g) * k
            else:                                                           # y [.., M, N] from x [.., M, K]
                trans_a = next((a.i for a in node.attribute if a.name == "transA"), 0)
                cout, cin = ys[-1], (xs[-2] if trans_a else xs[-1])
                rows = int(np.prod(ys, dtype=np.int64)) // cout
                macs, grouped = rows * cout * cin, rows * _up(cout) * _up(cin)
            a = act_dtype(x)
            prec = _op_precision(a if a != "int8-dynamic" else "float32",
                                 "int8" if a == "int8-dynamic" else stored(w), stored(w) == "float16")
        per_op.append(OpCount(node.op_type, int(macs), int(grouped), int(total), prec))
    if unknown:
        raise VstError(f"{path.name}: onnx's shape inference leaves the shapes of its {', '.join(sorted(unknown))} "
                       "ops unknown, so their MACs cannot be counted; give --size WxH, or convert it with vst-convert")
    weights = [t for t in g.initializer if len(t.dims) >= 1]
    info = {"input_shape": shape_in, "weight_bytes": sum(nbytes(t.name) for t in weights),
            "weight_dtypes": {np_dtype(t.data_type) for t in weights}}
    return per_op, info


def _load_onnx(path: Path):
    import onnx
    if not path.is_file():
        raise VstError(f"{path} does not exist or is not a file")
    try:
        return onnx.load(str(path), load_external_data=False)   # shapes only: weights' values are never read
    except Exception as exc:  # protobuf's DecodeError and friends
        raise VstError(f"{path.name} is not a readable ONNX model ({first_line(exc, 120)})") from None


def _onnx_input(model, path: Path):
    inits = {t.name for t in model.graph.initializer}
    first = next((i for i in model.graph.input if i.name not in inits), None)
    if first is None:
        raise VstError(f"{path.name} has no input; vst-predict counts image-to-image models")
    return first


def _onnx_input_shape(model, path: Path) -> list[int]:
    return [d.dim_value if d.HasField("dim_value") else -1
            for d in _onnx_input(model, path).type.tensor_type.shape.dim]


def _onnx_operands(node) -> tuple[str, str, str]:
    """(activation, weight, output) names of a conv-like ONNX node."""
    i = list(node.input)
    if node.op_type in ("QLinearConv", "QLinearMatMul"):   # x, x_scale, x_zp, w, w_scale, w_zp, ...
        return i[0], i[3], node.output[0]
    return i[0], i[1], node.output[0]


# ---- entry points -------------------------------------------------------------------------------------------

def graph_features(path: str | Path, size: tuple[int, int] | None = None, name: str | None = None) -> GraphFeatures:
    """Features of a .tflite or .onnx file, counted from its graph (an .onnx of free size at `size`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".tflite", ".onnx"):
        raise VstError(f"{path.name}: vst-predict counts the graph of a .tflite or .onnx file; for a "
                       f"{suffix or 'file'} give the model it was converted from")
    if not path.is_file():
        raise VstError(f"{path} does not exist or is not a file")
    if suffix == ".tflite":
        per_op, info = tflite_ops(path.read_bytes(), path.name)
    else:
        per_op, info = onnx_ops(path, size)
    w, h = _image_size(info["input_shape"], path.name)
    if size is not None and (w, h) != tuple(size):
        raise _fixed_at(path, (w, h))
    return _features(name or path.name, suffix[1:], w, h, per_op, info["weight_bytes"], info["weight_dtypes"])


def _fixed_at(path: Path, size: tuple[int, int]) -> VstError:
    return VstError(f"{path.name} is fixed at {size[0]}x{size[1]}; drop --size (or convert it at the size you want)")


def input_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) a .tflite or .onnx fixes, or None where its image input's height or width is free."""
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        f = graph_features(path)
        return f.width, f.height
    shape = _onnx_input_shape(_load_onnx(path), path)
    if len(shape) == 4 and shape[0] in (1, -1):
        shape = [1, *shape[1:]]
    return None if any(d <= 0 for d in shape) else _image_size(shape, path.name)


def load_table2() -> list[GraphFeatures]:
    """The calibration features shipped with vst (made by `python -m vst.pipeline.table2_graph`)."""
    rows = json.loads(TABLE2_DATA.read_text())["rows"]
    return [GraphFeatures(**r) for r in rows]
