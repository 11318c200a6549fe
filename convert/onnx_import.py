"""ONNX -> IR at one static size: fix the input shape, bind extra inputs, fold constants (onnxslim), map ops."""
from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from vst.common.errors import InternalError, VstError
from vst.convert.ir import Graph, Node, UnsupportedOp
from vst.convert.ops import IDENTITY, IMPORTERS
from vst.runtimes.onnxfile import bind_value, read_npy


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

    ctx = ImportContext(model, target, consts, alias, perm, n_uses)
    for node in g.node:       # each ONNX op type has its importer in vst.convert.ops
        ctx.at(node)
        if node.output and all(o in ctx.done for o in node.output if o):
            continue        # computed already by the importer of a pattern it belongs to (a group norm's reshapes)
        importer = IMPORTERS.get(node.op_type)
        if importer is None:
            ctx.unsupported()
        importer.fn(ctx, node)
        if importer.keeps_layout:         # elementwise and the like: the result keeps its input's permutation
            perm[ctx.out] = ctx.src_perm
    out_name = g.output[0].name
    if perm.get(out_name, IDENTITY) != IDENTITY:
        raise UnsupportedOp(f"the ONNX output {out_name!r} is a transposed tensor (permutation {perm[out_name]}); "
                            f"cannot convert to {target}")
    graph = Graph(inp.name, alias.get(out_name, out_name), shape, ctx.nodes,
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


class ImportContext:
    """What an importer (vst.convert.ops) sees: the ONNX node being imported (`at`), read through the import's
    aliases and layout permutations, the import's state, and the checks that refuse a node."""

    def __init__(self, model: onnx.ModelProto, target: str, consts: dict, alias: dict, perm: dict, n_uses: dict):
        self.model, self.target, self.consts, self.alias, self.perm, self.n_uses = \
            model, target, consts, alias, perm, n_uses
        self.nodes: list[Node] = []
        self.marks: dict = {}          # what one importer leaves for a later one of the same pattern
        self.done: set[str] = set()    # ONNX outputs an importer of a whole pattern has produced already

    def at(self, node: onnx.NodeProto) -> None:
        self.node, self.op, self.a = node, node.op_type, _attrs(node)
        self.ins, self.out = [self.alias.get(i, i) for i in node.input], node.output[0]
        self.nm = node.name or self.out
        self.src_perm = self.perm.get(node.input[0], IDENTITY) if node.input else IDENTITY

    def add(self, op: str, inputs: list[str], output: str, attrs: dict, name: str) -> None:
        self.nodes.append(Node(op, inputs, output, attrs, name))

    def const(self, t: str, what: str) -> np.ndarray:
        if t not in self.consts:
            raise UnsupportedOp(f"ONNX {self.node.op_type} node {self.node.name!r}: {what} is computed at run time; "
                                f"vst-convert needs it constant to convert to {self.target}")
        return self.consts[t]

    def unsupported(self, why: str = ""):
        node = self.node
        raise UnsupportedOp(f"ONNX op {node.op_type} (node {node.name or node.output[0]!r}"
                            f"{', ' + why if why else ''}) cannot be converted to {self.target}")

    def plain(self, *tensors: str) -> None:
        """Layout-bound ops need their activations in the IR's own (NCHW) order."""
        for t in tensors:
            if self.perm.get(t, IDENTITY) != IDENTITY:
                self.unsupported(f"it runs on a transposed tensor (permutation {self.perm[t]})")

    def ir_const(self, t: str, q: tuple[int, ...]) -> str:
        """A constant operand as rank 4 (or scalar) in the IR's axis order, for a result permuted by q."""
        v = _broadcast4(self.consts[t], self.node, self.target)
        if v.ndim == 0 or q == IDENTITY:
            self.consts[t] = v
            return t
        out = f"{t}__perm{''.join(map(str, q))}"
        self.consts[out] = v.transpose(np.argsort(q))
        return out

    def producer(self, t: str) -> Node | None:
        """The IR node computing tensor `t` (after aliases), None for inputs and constants."""
        t = self.alias.get(t, t)
        return next((n for n in reversed(self.nodes) if n.output == t), None)

    def users(self, t: str) -> list[onnx.NodeProto]:
        """The ONNX nodes reading tensor `t`."""
        return [n for n in self.model.graph.node if t in n.input]

    def shape_of(self, t: str) -> list[int]:
        return list(self.consts[t].shape) if t in self.consts else model_shape(self.model, t)

    def ir_axis(self, axis: int, t: str | None = None) -> int:
        """The IR axis of ONNX axis `axis` of tensor `t` (the node's first input): a tensor of rank r < 4 (the
        [1, C] of a squeeze-excitation's Linear layers) is the rank-4 tensor with 1s before its axes, as ONNX
        broadcasting aligns them, then permuted like any other."""
        t = t or self.node.input[0]
        try:
            r = len(self.shape_of(t))
        except VstError:
            r = 4
        return self.perm.get(t, IDENTITY)[int(axis) % r + 4 - r]

    def model_shape(self, t: str) -> list[int]:
        return model_shape(self.model, t)
