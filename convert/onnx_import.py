"""ONNX -> IR at one static size: fix the input shape, bind extra inputs, fold constants (onnxslim), map ops."""
from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from vst.common.errors import VstError
from vst.convert.ir import Graph, Node

_UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Sqrt": "sqrt", "Reciprocal": "reciprocal",
          "Neg": "neg", "Exp": "exp", "Abs": "abs"}
_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "max", "Min": "min"}


def image_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    inits = {i.name for i in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        dims = inp.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[1].dim_value == 3:
            return inp
    raise VstError("the ONNX model has no image input (a 4-D input with 3 channels, NCHW); "
                   "vst-convert takes image-to-image stylizers")


def _bind_value(name: str, raw: Any, dims: list[int]) -> np.ndarray:
    """A --bind value for an input of shape `dims`: an index (one-hot) for a 1-D input, or numbers of that shape."""
    fix = f"give an index 0..{dims[0] - 1} or a list of {int(np.prod(dims))} numbers" if len(dims) == 1 else \
        f"give {int(np.prod(dims))} numbers of shape {dims}"
    if isinstance(raw, bool) or not isinstance(raw, (int, float, list)):
        raise VstError(f"--bind {name}: {raw!r} is not a number or a list of numbers; {fix}")
    try:
        value = np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError):
        raise VstError(f"--bind {name}: {raw!r} is not a flat list of numbers; {fix}") from None
    if not np.isfinite(value).all():
        raise VstError(f"--bind {name}: values must be finite numbers; {fix}")
    if value.ndim == 0 and len(dims) == 1:
        if not float(value).is_integer() or not 0 <= int(value) < dims[0]:
            raise VstError(f"--bind {name}: index {raw!r} is not a whole number in 0..{dims[0] - 1}")
        return np.eye(dims[0], dtype=np.float32)[int(value)]
    if value.size != int(np.prod(dims)):
        raise VstError(f"--bind {name}: got {value.size} number(s) for an input of shape {dims}; {fix}")
    return value


def bind_and_fix(model: onnx.ModelProto, width: int, height: int,
                 bind: dict[str, Any] | None = None) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """Give the image input a static 1x3xHxW shape and turn every other input into a constant.

    Extra inputs (a style-mixing vector, say) are bound from `bind`; a 1-D input not in `bind` becomes a
    one-hot vector selecting its first entry, which the report states.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    img = image_input(model)
    bind = dict(bind or {})
    bound: dict[str, Any] = {}
    inits = {i.name for i in model.graph.initializer}
    keep = []
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        if inp.name == img.name:
            dims = inp.type.tensor_type.shape.dim
            for d, v in zip(dims, (1, 3, height, width)):
                d.ClearField("dim_param")
                d.dim_value = v
            keep.append(inp)
            continue
        dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
        if any(v <= 0 for v in dims):
            raise VstError(f"ONNX input {inp.name!r} has a dynamic shape; only the image input may be dynamic")
        if inp.name in bind:
            value = _bind_value(inp.name, bind.pop(inp.name), dims)
        elif len(dims) == 1:
            value = np.eye(dims[0], dtype=np.float32)[0]
        else:
            raise VstError(f"ONNX input {inp.name!r} (shape {dims}) is not an image; bind it to a value")
        value = value.reshape(dims)
        bound[inp.name] = value.tolist() if value.size <= 64 else f"array{list(value.shape)}"
        model.graph.initializer.append(numpy_helper.from_array(value, inp.name))
    if bind:
        extra = [i.name for i in model.graph.input if i.name not in inits and i.name != img.name]
        raise VstError(f"--bind {', '.join(sorted(bind))}: the model has no such input; it takes "
                       f"{', '.join(extra) or 'no extra inputs'} besides the image {img.name!r}")
    del model.graph.input[:]
    model.graph.input.extend(keep)
    for out in model.graph.output:
        out.type.tensor_type.ClearField("shape")
    return model, bound


def slim(model: onnx.ModelProto) -> onnx.ModelProto:
    """Constant folding, shape inference, dead-node removal (onnxslim)."""
    import onnxslim
    try:
        return onnxslim.slim(model)
    except Exception as exc:  # onnxslim raises many kinds; the user needs to know the model did not fold
        raise VstError(f"onnxslim could not simplify the ONNX graph ({type(exc).__name__}: "
                       f"{str(exc).splitlines()[0][:160] if str(exc) else ''})") from None


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _nearest_is_repeat(mode: str, nearest_mode: str, scale: int, n_in: int) -> bool:
    """True when Resize(nearest) of `n_in` pixels at an integer scale maps output i to input i // scale."""
    out = np.arange(n_in * scale, dtype=np.float64)
    if mode == "asymmetric":
        src = out / scale
    elif mode in ("half_pixel", "pytorch_half_pixel"):
        src = (out + 0.5) / scale - 0.5
    elif mode == "tf_half_pixel_for_nn":
        src = (out + 0.5) / scale
    elif mode == "align_corners":
        src = out * (n_in - 1) / (n_in * scale - 1)
    else:
        return False
    rnd = {"floor": np.floor, "ceil": np.ceil,
           "round_prefer_floor": lambda v: np.ceil(v - 0.5), "round_prefer_ceil": lambda v: np.floor(v + 0.5)}
    if nearest_mode not in rnd:
        return False
    idx = np.clip(rnd[nearest_mode](src), 0, n_in - 1).astype(int)
    return bool(np.array_equal(idx, np.arange(n_in * scale) // scale))


def to_ir(model: onnx.ModelProto, target: str) -> Graph:
    """Map a static, folded ONNX graph to the IR; an op outside the IR is refused with its name and the target."""
    g = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            v = onnx.helper.get_attribute_value(n.attribute[0])
            consts[n.output[0]] = numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else np.asarray(v)
    inp = g.input[0]
    shape = tuple(d.dim_value for d in inp.type.tensor_type.shape.dim)
    if len(g.output) != 1:
        raise VstError(f"the ONNX model has {len(g.output)} outputs; vst-convert takes one stylized image output")
    nodes: list[Node] = []
    alias: dict[str, str] = {}

    def name(t: str) -> str:
        return alias.get(t, t)

    def const(t: str, what: str, node) -> np.ndarray:
        if t not in consts:
            raise VstError(f"ONNX {node.op_type} node {node.name!r}: {what} is computed at run time; "
                           f"vst-convert needs it constant to convert to {target}")
        return consts[t]

    def unsupported(node, why=""):
        raise VstError(f"ONNX op {node.op_type} (node {node.name or node.output[0]!r}{', ' + why if why else ''}) "
                       f"cannot be converted to {target}")

    for node in g.node:
        op, a, ins, out = node.op_type, _attrs(node), [name(i) for i in node.input], node.output[0]
        nm = node.name or out
        if op == "Constant":
            continue
        if op == "Identity" or (op == "Dropout"):
            alias[out] = ins[0]
            continue
        if op == "Conv":
            w = const(ins[1], "the weight", node)
            if w.ndim != 4 or a.get("auto_pad", "NOTSET") != "NOTSET":
                unsupported(node, "only 2-D convolutions with explicit pads")
            pads = list(a.get("pads", [0, 0, 0, 0]))
            x = ins[0]
            if any(pads):
                padded = f"{out}__pad"
                nodes.append(Node("pad", [x], padded, {"mode": "constant", "value": 0.0,
                                                      "pads": (pads[0], pads[1], pads[2], pads[3])}, nm + "/pad"))
                x = padded
            nodes.append(Node("conv", [x] + [i for i in ins[1:] if i], out,
                              {"stride": tuple(a.get("strides", (1, 1))), "dilation": tuple(a.get("dilations", (1, 1))),
                               "group": int(a.get("group", 1))}, nm))
        elif op == "ConvTranspose":
            const(ins[1], "the weight", node)
            pads = list(a.get("pads", [0, 0, 0, 0]))
            if pads[0] != pads[2] or pads[1] != pads[3] or a.get("group", 1) != 1 or \
                    tuple(a.get("dilations", (1, 1))) != (1, 1) or "output_shape" in a:
                unsupported(node, "only symmetric pads, group 1, no dilation")
            nodes.append(Node("conv_transpose", [i for i in ins if i], out,
                              {"stride": tuple(a.get("strides", (1, 1))), "pads": (pads[0], pads[1]),
                               "output_padding": tuple(a.get("output_padding", (0, 0)))}, nm))
        elif op == "Pad":
            mode = a.get("mode", "constant")
            p = const(ins[1], "the pads", node).astype(int).tolist() if len(ins) > 1 else list(a.get("pads"))
            if len(ins) > 3 and ins[3]:
                unsupported(node, "axes input")
            if len(p) != 8 or any(p[i] for i in (0, 1, 4, 5)) or min(p) < 0:
                unsupported(node, "padding other than non-negative height/width padding")
            value = float(const(ins[2], "the value", node)) if len(ins) > 2 and ins[2] else 0.0
            nodes.append(Node("pad", [ins[0]], out, {"mode": mode, "value": value,
                                                     "pads": (p[2], p[3], p[6], p[7])}, nm))
        elif op == "InstanceNormalization":
            nodes.append(Node("instance_norm", ins[:3], out, {"eps": float(a.get("epsilon", 1e-5))}, nm))
        elif op == "Resize":
            if a.get("mode", "nearest") != "nearest":
                unsupported(node, f"mode {a.get('mode')}")
            scales = const(ins[2], "the scales", node) if len(ins) > 2 and ins[2] else None
            if scales is None or scales.size == 0:
                sizes = const(ins[3], "the sizes", node)
                src = model_shape(model, ins[0])
                scales = np.asarray(sizes, dtype=np.float64) / np.asarray(src, dtype=np.float64)
            sc = [float(s) for s in np.asarray(scales).ravel()]
            if len(sc) != 4 or sc[0] != 1 or sc[1] != 1 or any(s != int(s) or s < 1 for s in sc[2:]):
                unsupported(node, f"scales {sc}: only integer height/width scales")
            sh, sw = int(sc[2]), int(sc[3])
            ctm, nmode = a.get("coordinate_transformation_mode", "half_pixel"), a.get("nearest_mode", "round_prefer_floor")
            src_hw = model_shape(model, ins[0])[2:]
            if not all(_nearest_is_repeat(ctm, nmode, s, n) for s, n in ((sh, src_hw[0]), (sw, src_hw[1]))):
                unsupported(node, f"nearest mode {ctm}/{nmode} is not a pixel repeat")
            nodes.append(Node("resize_nearest", [ins[0]], out, {"scale": (sh, sw)}, nm))
        elif op == "ReduceMean":
            axes = a.get("axes")
            if axes is None and len(ins) > 1:
                axes = const(ins[1], "the axes", node).tolist()
            axes = sorted(int(x) % 4 for x in (axes or []))
            if axes != [2, 3] or a.get("keepdims", 1) != 1:
                unsupported(node, f"axes {axes}: only the spatial mean with keepdims")
            nodes.append(Node("reduce_mean", [ins[0]], out, {"axes": (2, 3)}, nm))
        elif op in _UNARY:
            nodes.append(Node(_UNARY[op], [ins[0]], out, {}, nm))
        elif op in _BINARY:
            for i in ins[:2]:
                if i in consts:
                    consts[i] = _broadcast4(consts[i], node, target)
            nodes.append(Node(_BINARY[op], ins[:2], out, {}, nm))
        elif op == "Clip":
            lo = float(const(ins[1], "min", node)) if len(ins) > 1 and ins[1] else a.get("min")
            hi = float(const(ins[2], "max", node)) if len(ins) > 2 and ins[2] else a.get("max")
            nodes.append(Node("clip", [ins[0]], out, {"min": lo, "max": hi}, nm))
        elif op == "LeakyRelu":
            nodes.append(Node("leaky_relu", [ins[0]], out, {"alpha": float(a.get("alpha", 0.01))}, nm))
        else:
            unsupported(node)
    graph = Graph(inp.name, name(g.output[0].name), shape, nodes,
                  {k: np.asarray(v, dtype=np.float32) for k, v in consts.items()})
    graph.prune()
    try:
        graph.infer_shapes()
    except RuntimeError as exc:
        # mismatched shapes (a skip connection after strided convs, say) mean the size does not fit the strides
        h, w = shape[2:]
        raise VstError(f"size {w}x{h} does not fit the network's strides (shapes disagree: "
                       f"{str(exc).splitlines()[0][:160]}); use a multiple of 4 or of the network's total stride"
                       ) from None
    for t, s in graph.shapes.items():
        if len(s) != 4:
            raise VstError(f"tensor {t!r} has rank {len(s)}; the {target} emitter keeps every activation 4-D")
    return graph


def model_shape(model: onnx.ModelProto, tensor: str) -> list[int]:
    for vi in list(model.graph.value_info) + list(model.graph.input):
        if vi.name == tensor:
            return [d.dim_value for d in vi.type.tensor_type.shape.dim]
    raise VstError(f"no static shape known for {tensor!r}")


def _broadcast4(v: np.ndarray, node, target: str) -> np.ndarray:
    """Constants of a binary op as NCHW rank 4 (or scalars), so emitters can lay them out like activations."""
    v = np.asarray(v)
    if v.size == 1:
        return v.reshape(())
    if v.ndim > 4:
        raise VstError(f"ONNX {node.op_type} node {node.name!r} has a rank-{v.ndim} constant; "
                       f"cannot convert to {target}")
    return v.reshape((1,) * (4 - v.ndim) + v.shape)
