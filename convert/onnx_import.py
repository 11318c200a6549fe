"""ONNX -> IR at one static size: fix the input shape, bind extra inputs, fold constants (onnxslim), map ops."""
from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from vst.common.errors import InternalError, VstError
from vst.convert.ir import Graph, Node, UnsupportedOp
from vst.runtimes.onnxfile import bind_value, read_npy

_UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Sqrt": "sqrt", "Reciprocal": "reciprocal",
          "Neg": "neg", "Exp": "exp", "Abs": "abs", "Round": "round"}
_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "max", "Min": "min"}


def image_input(model: onnx.ModelProto) -> tuple[onnx.ValueInfoProto, str]:
    """The image input and its layout: NCHW (3 channels at axis 1) or NHWC (3 at axis 3, as TF exports have)."""
    inits = {i.name for i in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        dims = inp.type.tensor_type.shape.dim
        if len(dims) != 4:
            continue
        # [1, 3, H, 3] is ambiguous: a leading Transpose to NCHW says NHWC
        to_nchw = any(n.op_type == "Transpose" and inp.name in n.input and
                      [a.ints for a in n.attribute if a.name == "perm"] == [[0, 3, 1, 2]] for n in model.graph.node)
        if dims[1].dim_value == 3 and not (to_nchw and dims[3].dim_value == 3):
            return inp, "nchw"
        if dims[3].dim_value == 3:
            return inp, "nhwc"
    raise VstError("the ONNX model has no image input (a 4-D input with 3 channels, NCHW or NHWC); "
                   "vst-convert takes image-to-image stylizers")


NHWC_PERM = (0, 2, 3, 1)     # an NHWC source's 4-D tensor = the IR's NCHW tensor transposed by this


def kept_samples(model: onnx.ModelProto, keep, bind: dict[str, Any] | None) -> dict[str, np.ndarray]:
    """Values for each input kept in the artifact (`--keep-input NAME`), stacked [N, *shape]: its `--bind`
    value(s) when given (popped from `bind`: they then bind nothing; a .npy file may stack N values), else one
    seeded standard-normal draw. The first value verifies the artifact; int8 calibration cycles through all.
    Shapes must be static; only 4-D inputs can be kept (the emitters keep every activation 4-D)."""
    img, _ = image_input(model)
    inits = {i.name for i in model.graph.initializer}
    inputs = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input
              if i.name not in inits and i.name != img.name}
    out = {}
    for k, name in enumerate(keep):
        if name not in inputs:
            raise VstError(f"--keep-input {name}: the model has no such input; it takes "
                           f"{', '.join(inputs) or 'no extra inputs'} besides the image {img.name!r}")
        dims = inputs[name]
        if len(dims) != 4 or any(v <= 0 for v in dims):
            raise VstError(f"--keep-input {name}: its shape {dims} is not a static 4-D shape; only those can be "
                           "artifact inputs: bind it instead (--bind NAME=VALUE)")
        raw = bind.pop(name) if bind and name in bind else None
        if isinstance(raw, str) and raw.endswith(".npy"):
            # a stack of N values (N style bottlenecks, say): the first verifies, all calibrate int8
            value = read_npy(name, raw)
            if not value.size or value.size % int(np.prod(dims)):
                raise VstError(f"--bind {name}: {raw} holds {value.size} numbers, not a multiple of the input's "
                               f"{int(np.prod(dims))} (shape {dims})")
            out[name] = value.reshape(-1, *dims)
        elif raw is not None:
            out[name] = bind_value(name, raw, dims).reshape(1, *dims)
        else:
            out[name] = np.random.default_rng(k).standard_normal((1, *dims)).astype(np.float32)
    return out


def bind_and_fix(model: onnx.ModelProto, width: int, height: int,
                 bind: dict[str, Any] | None = None, keep=()) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """Give the image input a static 1x3xHxW shape and turn every other input into a constant, except those
    named in `keep` (they stay inputs, after the image, in the source's own layout).

    Extra inputs (a style-mixing vector, say) are bound from `bind`; a 1-D input not in `bind` becomes a
    one-hot vector selecting its first entry, which the report states.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    img, layout = image_input(model)
    bind = dict(bind or {})
    bound: dict[str, Any] = {}
    inits = {i.name for i in model.graph.initializer}
    kept = []
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        if inp.name == img.name:
            dims = inp.type.tensor_type.shape.dim
            for d, v in zip(dims, (1, 3, height, width) if layout == "nchw" else (1, height, width, 3)):
                d.ClearField("dim_param")
                d.dim_value = v
            kept.insert(0, inp)
            continue
        if inp.name in keep:
            kept.append(inp)
            continue
        dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
        if any(v <= 0 for v in dims):
            raise VstError(f"ONNX input {inp.name!r} has a dynamic shape; only the image input may be dynamic")
        if inp.name in bind:
            value = bind_value(inp.name, bind.pop(inp.name), dims)
        elif len(dims) == 1:
            value = np.eye(dims[0], dtype=np.float32)[0]
        else:
            raise VstError(f"ONNX input {inp.name!r} (shape {dims}) is not an image; bind it to a value "
                           f"(--bind {inp.name}=FILE.npy) or keep it as an artifact input (--keep-input {inp.name})")
        value = value.reshape(dims)
        bound[inp.name] = value.tolist() if value.size <= 64 else f"array{list(value.shape)}"
        model.graph.initializer.append(numpy_helper.from_array(value, inp.name))
    if bind:
        extra = [i.name for i in model.graph.input if i.name not in inits and i.name != img.name]
        raise VstError(f"--bind {', '.join(sorted(bind))}: the model has no such input; it takes "
                       f"{', '.join(extra) or 'no extra inputs'} besides the image {img.name!r}")
    del model.graph.input[:]
    model.graph.input.extend(kept)
    for out in model.graph.output:
        out.type.tensor_type.ClearField("shape")
    if layout == "nhwc":
        _nchw_io(model, img.name)
    return model, bound


def _nchw_io(model: onnx.ModelProto, image: str) -> None:
    """An NHWC source gets an NCHW image input and, for each 4-D output, an NCHW output: a Transpose at each end
    that the import cancels against the source's own layout transposes (to_ir tracks layout permutations), so
    the pipeline, the reference and the emitters all see one NCHW graph."""
    g = model.graph
    inner = f"{image}__nhwc"
    for n in g.node:
        n.input[:] = [inner if i == image else i for i in n.input]
    inp = next(i for i in g.input if i.name == image)
    d = inp.type.tensor_type.shape.dim
    h, w = d[1].dim_value, d[2].dim_value
    for dim, v in zip(d, (1, 3, h, w)):
        dim.dim_value = v
    nodes = [onnx.helper.make_node("Transpose", [image], [inner], perm=[0, 2, 3, 1], name=f"{image}/to_nhwc")]
    for out in g.output:
        if out.type.tensor_type.elem_type and len(out.type.tensor_type.shape.dim) not in (0, 4):
            continue
        src = f"{out.name}__nhwc"
        for n in g.node:
            n.output[:] = [src if o == out.name else o for o in n.output]
            n.input[:] = [src if i == out.name else i for i in n.input]
        g.node.append(onnx.helper.make_node("Transpose", [src], [out.name], perm=[0, 3, 1, 2],
                                            name=f"{out.name}/to_nchw"))
    for n in reversed(nodes):
        g.node.insert(0, n)


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


IDENTITY = (0, 1, 2, 3)


def to_ir(model: onnx.ModelProto, target: str, kept: dict[str, np.ndarray] | None = None,
          nhwc: bool = False) -> Graph:
    """Map a static, folded ONNX graph to the IR; an op outside the IR is refused with its name and the target.
    `kept`: the inputs besides the image with their verification values, as the source lays them out (NHWC
    for an `nhwc` source: tracked as a permutation of an NCHW IR input, like its transposes).

    Transposes (and reshapes that only move unit axes) are not ops here: each ONNX tensor is tracked as a
    permutation of an IR tensor (onnx = ir.transpose(perm)), elementwise ops, pads, concats and means follow the
    permutation, and ops bound to a layout (convolutions, resizes, norms) need it to be the identity again. A
    TF-exported graph's NHWC<->NCHW transposes thus cancel at import and no TRANSPOSE reaches the artifact.
    """
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
    perm: dict[str, tuple[int, ...]] = {}
    extra: dict[str, np.ndarray] = {}
    for i in g.input[1:]:
        if i.name not in (kept or {}):
            raise InternalError(f"ONNX input {i.name!r} is neither the image nor a kept input")
        q = NHWC_PERM if nhwc else IDENTITY
        first = np.asarray(kept[i.name], np.float32)[0]       # kept values come stacked [N, *shape]
        extra[i.name] = np.ascontiguousarray(first.transpose(np.argsort(q)))
        perm[i.name] = q
    n_uses: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            n_uses[i] = n_uses.get(i, 0) + 1

    def name(t: str) -> str:
        return alias.get(t, t)

    def const(t: str, what: str, node) -> np.ndarray:
        if t not in consts:
            raise UnsupportedOp(f"ONNX {node.op_type} node {node.name!r}: {what} is computed at run time; "
                                f"vst-convert needs it constant to convert to {target}")
        return consts[t]

    def unsupported(node, why=""):
        raise UnsupportedOp(f"ONNX op {node.op_type} (node {node.name or node.output[0]!r}"
                            f"{', ' + why if why else ''}) cannot be converted to {target}")

    def plain(node, *tensors):
        """Layout-bound ops need their activations in the IR's own (NCHW) order."""
        for t in tensors:
            if perm.get(t, IDENTITY) != IDENTITY:
                unsupported(node, f"it runs on a transposed tensor (permutation {perm[t]})")

    def ir_const(t: str, q: tuple[int, ...], node) -> str:
        """A constant operand as rank 4 (or scalar) in the IR's axis order, for a result permuted by q."""
        v = _broadcast4(consts[t], node, target)
        if v.ndim == 0 or q == IDENTITY:
            consts[t] = v
            return t
        out = f"{t}__perm{''.join(map(str, q))}"
        consts[out] = v.transpose(np.argsort(q))
        return out

    def shape_of(t: str) -> list[int]:
        return list(consts[t].shape) if t in consts else model_shape(model, t)

    for node in g.node:
        op, a, ins, out = node.op_type, _attrs(node), [name(i) for i in node.input], node.output[0]
        nm = node.name or out
        src_perm = perm.get(node.input[0], IDENTITY) if node.input else IDENTITY
        if op == "Constant":
            continue
        if op in ("Identity", "Dropout"):
            alias[out] = ins[0]
            perm[out] = src_perm
            continue
        if op in ("Transpose", "Reshape") and node.input[0] not in consts:
            q = _layout_perm(node, a, shape_of(node.input[0]) if op == "Reshape" else [0] * 4, consts)
            if q is None:
                unsupported(node, "it changes more than the layout")
            alias[out] = ins[0]
            perm[out] = tuple(src_perm[k] for k in q)
            continue
        if op == "Conv":
            plain(node, node.input[0])
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
            plain(node, node.input[0])
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
            if len(p) != 8 or min(p) < 0:
                unsupported(node, "padding other than non-negative 4-D padding")
            before, after = [0] * 4, [0] * 4
            for k in range(4):                       # pads are given per ONNX axis; move them to IR axes
                before[src_perm[k]], after[src_perm[k]] = p[k], p[k + 4]
            if before[0] or before[1] or after[0] or after[1]:
                unsupported(node, "padding of the batch or channel axis")
            value = float(const(ins[2], "the value", node)) if len(ins) > 2 and ins[2] else 0.0
            nodes.append(Node("pad", [ins[0]], out, {"mode": mode, "value": value,
                                                     "pads": (before[2], before[3], after[2], after[3])}, nm))
        elif op == "InstanceNormalization":
            plain(node, node.input[0])
            nodes.append(Node("instance_norm", ins[:3], out, {"eps": float(a.get("epsilon", 1e-5))}, nm))
        elif op == "BatchNormalization":
            # inference form: a per-channel scale and shift (fold_affine_into_conv merges them into a conv)
            plain(node, node.input[0])
            gamma, beta, mean, var = (const(i, "a statistic", node).astype(np.float64) for i in ins[1:5])
            scale = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
            sname, bname = f"{out}__bn_scale", f"{out}__bn_shift"
            consts[sname] = scale.reshape(1, -1, 1, 1).astype(np.float32)
            consts[bname] = (beta - mean * scale).reshape(1, -1, 1, 1).astype(np.float32)
            nodes.append(Node("mul", [ins[0], sname], f"{out}__bn", {}, nm + "/scale"))
            nodes.append(Node("add", [f"{out}__bn", bname], out, {}, nm + "/shift"))
        elif op == "Resize":
            plain(node, node.input[0])
            nodes.append(_resize(node, a, ins, out, nm, model_shape(model, node.input[0]), const, unsupported))
        elif op == "DepthToSpace":
            plain(node, node.input[0])
            x = ins[0]
            if a.get("mode", "DCR") == "CRD":
                x = _crd_as_dcr(node, a, x, nodes, consts, n_uses, unsupported)
            nodes.append(Node("depth_to_space", [x], out, {"block": int(a["blocksize"])}, nm))
        elif op in ("ReduceMean", "GlobalAveragePool"):
            axes = a.get("axes") if op == "ReduceMean" else [2, 3]
            if axes is None and len(ins) > 1:
                axes = const(ins[1], "the axes", node).tolist()
            axes = sorted(src_perm[int(x) % 4] for x in (axes or []))
            if axes != [2, 3] or a.get("keepdims", 1) != 1:
                unsupported(node, f"axes {axes}: only the spatial mean with keepdims")
            nodes.append(Node("reduce_mean", [ins[0]], out, {"axes": (2, 3)}, nm))
        elif op == "Concat":
            for i in node.input[1:]:
                if perm.get(i, IDENTITY) != src_perm or i in consts:
                    unsupported(node, "inputs in different layouts, or a constant input")
            nodes.append(Node("concat", ins, out, {"axis": src_perm[int(a["axis"]) % 4]}, nm))
        elif op == "Slice":
            x = ins[0]
            starts, ends = (const(i, "the bounds", node).astype(int).tolist() for i in ins[1:3])
            axes = const(ins[3], "the axes", node).astype(int).tolist() if len(ins) > 3 and ins[3] else \
                list(range(len(starts)))
            steps = const(ins[4], "the steps", node).tolist() if len(ins) > 4 and ins[4] else [1] * len(starts)
            dims = shape_of(node.input[0])
            todo = []
            for s0, e0, ax, st in zip(starts, ends, axes, steps):
                n_ = dims[ax % 4]
                s0, e0 = (max(0, min(v + n_ if v < 0 else v, n_)) for v in (s0, e0))
                if st != 1 or e0 <= s0:
                    unsupported(node, "only unit steps")
                if (s0, e0) != (0, n_):
                    todo.append((src_perm[ax % 4], s0, e0))
            for k, (ax, s0, e0) in enumerate(todo):
                y = out if k == len(todo) - 1 else f"{out}__slice{k}"
                nodes.append(Node("slice", [x], y, {"axis": ax, "start": s0, "end": e0}, f"{nm}/{k}"))
                x = y
            if not todo:
                alias[out] = x
        elif op in _UNARY or op in ("HardSwish", "Clip", "LeakyRelu", "PRelu", "HardSigmoid"):
            # elementwise: the result keeps its input's layout permutation
            if op in _UNARY:
                nodes.append(Node(_UNARY[op], [ins[0]], out, {}, nm))
            elif op == "HardSwish":
                nodes.append(Node("hard_swish", [ins[0]], out, {}, nm))
            elif op == "Clip":
                lo = float(const(ins[1], "min", node)) if len(ins) > 1 and ins[1] else a.get("min")
                hi = float(const(ins[2], "max", node)) if len(ins) > 2 and ins[2] else a.get("max")
                nodes.append(Node("clip", [ins[0]], out, {"min": lo, "max": hi}, nm))
            elif op == "LeakyRelu":
                nodes.append(Node("leaky_relu", [ins[0]], out, {"alpha": float(a.get("alpha", 0.01))}, nm))
            elif op == "PRelu":
                slope = ir_const(ins[1], src_perm, node) if ins[1] in consts else unsupported(node, "slope input")
                nodes.append(Node("prelu", [ins[0], slope], out, {}, nm))
            else:   # HardSigmoid: clip(alpha * x + beta, 0, 1)
                al, be = f"{out}__alpha", f"{out}__beta"
                consts[al], consts[be] = np.float32(a.get("alpha", 0.2)), np.float32(a.get("beta", 0.5))
                nodes += [Node("mul", [ins[0], al], f"{out}__ax", {}, nm + "/scale"),
                          Node("add", [f"{out}__ax", be], f"{out}__axb", {}, nm + "/shift"),
                          Node("clip", [f"{out}__axb"], out, {"min": 0.0, "max": 1.0}, nm)]
        elif op in _BINARY:
            acts = [i for i in node.input[:2] if i not in consts]
            q = perm.get(acts[0], IDENTITY) if acts else IDENTITY
            if any(perm.get(i, IDENTITY) != q for i in acts):
                unsupported(node, "operands in different layouts")
            operands = [ir_const(i, q, node) if i in consts else i for i in ins[:2]]
            nodes.append(Node(_BINARY[op], operands, out, {}, nm))
            perm[out] = q
            continue
        else:
            unsupported(node)
        if op in _UNARY or op in ("HardSwish", "Clip", "LeakyRelu", "PRelu", "HardSigmoid", "Pad", "ReduceMean",
                                  "GlobalAveragePool", "Concat", "Slice"):
            perm[out] = src_perm
    out_name = g.output[0].name
    if perm.get(out_name, IDENTITY) != IDENTITY:
        raise UnsupportedOp(f"the ONNX output {out_name!r} is a transposed tensor (permutation {perm[out_name]}); "
                            f"cannot convert to {target}")
    graph = Graph(inp.name, name(out_name), shape, nodes,
                  {k: np.asarray(v, dtype=np.float32) for k, v in consts.items() if np.asarray(v).dtype.kind in "fiub"},
                  extra=extra)
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
            raise UnsupportedOp(f"tensor {t!r} has rank {len(s)}; the {target} emitter keeps every activation 4-D")
    return graph


def _layout_perm(node, a: dict, src: list[int], consts: dict) -> tuple[int, ...] | None:
    """The permutation a Transpose applies, or that a Reshape amounts to when it only moves unit axes
    ([1, C, 1, 1] <-> [1, 1, 1, C]); None when it does more."""
    if len(src) != 4:
        return None
    if node.op_type == "Transpose":
        p = tuple(int(k) for k in a.get("perm", (3, 2, 1, 0)))
        return p if sorted(p) == [0, 1, 2, 3] else None
    target = consts.get(node.input[1]) if len(node.input) > 1 else None
    if target is None or target.size != 4:
        return None
    dst = [src[k] if int(v) == 0 else int(v) for k, v in enumerate(target.tolist())]
    if -1 in dst:
        known = int(np.prod([v for v in dst if v != -1]))
        dst = [int(np.prod(src)) // known if v == -1 else v for v in dst]
    big_src, big_dst = [k for k in range(4) if src[k] != 1], [k for k in range(4) if dst[k] != 1]
    if [src[k] for k in big_src] != [dst[k] for k in big_dst]:
        return None
    units = iter(k for k in range(4) if src[k] == 1)
    order = iter(big_src)
    return tuple(next(order) if dst[k] != 1 else next(units) for k in range(4))


def _resize(node, a, ins, out, nm, src, const, unsupported) -> Node:
    """Resize -> resize_nearest (integer pixel repeats) or resize_bilinear (half-pixel or align-corners)."""
    scales = const(ins[2], "the scales", node) if len(ins) > 2 and ins[2] else None
    if scales is None or scales.size == 0:
        sizes = const(ins[3], "the sizes", node)
        scales = np.asarray(sizes, dtype=np.float64) / np.asarray(src, dtype=np.float64)
    sc = [float(s) for s in np.asarray(scales).ravel()]
    if len(sc) != 4 or sc[0] != 1 or sc[1] != 1:
        unsupported(node, f"scales {sc}: only height/width scales")
    mode, ctm = a.get("mode", "nearest"), a.get("coordinate_transformation_mode", "half_pixel")
    if mode == "linear":
        size = (int(np.floor(src[2] * sc[2] + 1e-6)), int(np.floor(src[3] * sc[3] + 1e-6)))
        if a.get("antialias", 0) or ctm not in ("half_pixel", "pytorch_half_pixel", "align_corners") or min(size) < 2:
            unsupported(node, f"linear mode with {ctm} coordinates")
        return Node("resize_bilinear", [ins[0]], out, {"size": size, "align_corners": ctm == "align_corners"}, nm)
    if mode != "nearest":
        unsupported(node, f"mode {mode}")
    if any(s != int(s) or s < 1 for s in sc[2:]):
        unsupported(node, f"scales {sc}: only integer nearest scales")
    sh, sw = int(sc[2]), int(sc[3])
    nmode = a.get("nearest_mode", "round_prefer_floor")
    if not all(_nearest_is_repeat(ctm, nmode, s, n) for s, n in ((sh, src[2]), (sw, src[3]))):
        unsupported(node, f"nearest mode {ctm}/{nmode} is not a pixel repeat")
    return Node("resize_nearest", [ins[0]], out, {"scale": (sh, sw)}, nm)


def _crd_as_dcr(node, a, x: str, nodes: list[Node], consts: dict, n_uses: dict, unsupported) -> str:
    """DepthToSpace CRD (PyTorch's PixelShuffle) reads channel c*b*b + k where DCR (TF's DEPTH_TO_SPACE) reads
    k*C + c: reorder the output channels of the convolution that feeds it instead (exact, a permutation)."""
    b = int(a["blocksize"])
    conv = next((n for n in nodes if n.output == x), None)
    if conv is None or conv.op != "conv" or n_uses.get(x, 0) != 1 or conv.attrs.get("group", 1) != 1:
        unsupported(node, "CRD mode after something other than a convolution")
    w = consts[conv.inputs[1]]
    c = w.shape[0] // (b * b)
    order = np.arange(c * b * b).reshape(c, b * b).T.ravel()   # DCR position k*C + c <- CRD channel c*b*b + k
    new_w = f"{conv.inputs[1]}__dcr"
    consts[new_w] = np.asarray(w)[order]
    conv.inputs = [conv.inputs[0], new_w] + conv.inputs[2:]
    if len(conv.inputs) > 2:
        new_b = f"{conv.inputs[2]}__dcr"
        consts[new_b] = np.asarray(consts[conv.inputs[2]])[order]
        conv.inputs[2] = new_b
    return x


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
