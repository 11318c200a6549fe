"""IR -> Core ML ML program (MIL builder), quantization, and structural checks that work on Linux.

Core ML is NCHW-native, so the program needs no transpose. With io_layout="nhwc" the input and output are
images (CVPixelBuffer, interleaved like NHWC), which Core ML converts without an op in the program; with
"nchw" they are MLMultiArray tensors.
"""
from __future__ import annotations

import contextlib
import os
import platform
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vst.common.errors import InternalError, VstError
from vst.common.fsutil import write_folder
from vst.convert.ir import Graph, input_name
from vst.convert.ops import REGISTRY

IMAGE = "image"     # the image input's name in the program and the artifact


def _mb():
    from coremltools.converters.mil import Builder as mb
    return mb


def kept_names(graph: Graph) -> dict[str, str]:
    """Program input name of each kept input (`--keep-input`): the names its TFLite artifact gives them."""
    names = {k: input_name(k) for k in graph.extra}
    if IMAGE in names.values():
        raise VstError(f"a kept input is named {IMAGE!r}, the name of the image input in a Core ML artifact: "
                       "bind that input instead (--bind NAME=FILE.npy)")
    return names


@dataclass
class Lowering:
    """What an op's MIL lowering sees (vst.convert.ops): `val` gives a var or constant by IR name, `batch` the
    program's batch size."""
    mb: Any
    graph: Graph
    val: Callable[[str], Any]
    batch: int


def build_program(graph: Graph, image_io: bool):
    import coremltools as ct
    from coremltools.converters.mil.mil import Function, Program
    mb = _mb()
    n, c, h, w = graph.input_shape
    kept = kept_names(graph)
    specs = {IMAGE: mb.TensorSpec(shape=(n, c, h, w)),
             **{kept[k]: mb.TensorSpec(shape=tuple(int(d) for d in v.shape)) for k, v in graph.extra.items()}}
    # a Function built directly, not the mb.program decorator: the number of inputs is the model's
    with Function(specs, opset_version=ct.target.iOS16) as func:
        env = {graph.input: func.inputs[IMAGE], **{k: func.inputs[kept[k]] for k in graph.extra}}

        def val(name):
            if name in env:
                return env[name]
            v = graph.consts[name].astype(np.float32)
            return v if v.ndim else np.float32(v)

        ctx = Lowering(mb, graph, val, n)
        for node in graph.nodes:
            x = val(node.inputs[0])
            nm = _name(node.name or node.output)
            op = REGISTRY.get(node.op)
            if op is None or op.mil is None:
                raise VstError(f"op {node.op} (node {node.name!r}) cannot be converted to coreml")
            y = op.mil(ctx, node, x, nm)
            env[node.output] = y
        out = env[graph.output]
        if image_io and image_output(graph):
            # an image output holds 0..255 pixels: clip to the displayable range and scale
            out = mb.mul(x=mb.clip(x=out, alpha=0.0, beta=1.0), y=np.float32(255.0))
        func.set_outputs([mb.identity(x=out, name="stylized")])
    prog = Program()
    prog.add_function("main", func)
    return prog


def image_output(graph: Graph) -> bool:
    """An RGB output is a Core ML image; others (a style bottleneck) stay multi-arrays."""
    return graph.shapes.get(graph.output, (0, 0))[1] == 3


def _name(s: str) -> str:
    import re
    s = re.sub(r"[^A-Za-z0-9_]", "_", s).strip("_") or "op"
    return s if not s[0].isdigit() else "n" + s


def to_mlpackage(graph: Graph, quant: str, io_layout: str):
    """Build, convert (fp32 / fp16 compute / int8 weights + fp16 compute) and return the MLModel."""
    image_io = io_layout == "nhwc"
    with quiet():
        return _convert(graph, quant, image_io)


@contextlib.contextmanager
def quiet():
    """coremltools prints version warnings and progress bars on stderr; the report carries what matters."""
    import logging
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        level = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(level)


def _convert(graph: Graph, quant: str, image_io: bool):
    import coremltools as ct
    n, c, h, w = graph.input_shape
    prog = build_program(graph, image_io)
    kw = {}
    if image_io:
        # kept inputs (a style bottleneck) stay multi-arrays beside the image
        kw["inputs"] = [ct.ImageType(name=IMAGE, shape=(n, c, h, w), scale=1 / 255.0,
                                     color_layout=ct.colorlayout.RGB)] + \
            [ct.TensorType(name=nm, shape=graph.extra[k].shape) for k, nm in kept_names(graph).items()]
        if image_output(graph):
            # ct.convert ignores `outputs` for a MIL program; the function's output types carry it instead
            prog.functions["main"].output_types = [ct.ImageType(name="stylized", color_layout=ct.colorlayout.RGB)]
    return _ct_convert(prog, quant, **kw)


def from_torch(module, quant: str, io_layout: str, width: int, height: int):
    """The Core ML fallback for PyTorch sources the IR refuses: coremltools' own PyTorch frontend on the traced
    module. The image comes in as with the native program (a pixel buffer with NHWC I/O); the output is a
    multi-array named like the native one's image output (the module's [0, 1] floats, not a pixel buffer)."""
    import coremltools as ct
    import torch
    shape = (1, 3, height, width)
    with torch.no_grad():
        traced = torch.jit.trace(module, torch.rand(shape))      # sources hand modules over in eval mode
    image = ct.ImageType(name=IMAGE, shape=shape, scale=1 / 255.0, color_layout=ct.colorlayout.RGB) \
        if io_layout == "nhwc" else ct.TensorType(name=IMAGE, shape=shape)
    with quiet():
        return _ct_convert(traced, quant, inputs=[image], outputs=[ct.TensorType(name="stylized")])


def _ct_convert(source, quant: str, **kw):
    """ct.convert of a MIL program or a traced module to an ML program: fp32 / fp16 compute, or int8 weights
    with fp16 compute."""
    import coremltools as ct
    precision = ct.precision.FLOAT32 if quant == "fp32" else ct.precision.FLOAT16
    try:
        model = ct.convert(source, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16,
                           compute_precision=precision, skip_model_load=platform.system() != "Darwin", **kw)
        if quant == "int8":
            import coremltools.optimize.coreml as cto
            cfg = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric",
                                                                                  dtype="int8"))
            model = cto.linear_quantize_weights(model, config=cfg)
    except VstError:
        raise
    except Exception as exc:  # coremltools raises assorted types; keep one line
        raise VstError(f"Core ML conversion failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    return model


def mil_ops(model) -> list[dict]:
    """Ops of the program's main function as Core ML will run them (consts left out)."""
    prog = model._mil_program
    if prog is None:
        raise InternalError("the Core ML model carries no MIL program")
    out = []
    for op in prog.functions["main"].operations:
        if op.op_type == "const":
            continue
        row = {"op": op.op_type, "name": op.name}
        if op.op_type == "conv" and op.dilations is not None:
            row["dilations"] = [int(d) for d in op.dilations.val]
        out.append(row)
    return out


def structural_checks(model, graph: Graph, io_layout: str) -> dict:
    """What Linux can prove: program ops, no transpose, I/O names, types and shapes."""
    return structure(model, graph.input_shape, io_layout, {nm: list(graph.extra[k].shape)
                                                           for k, nm in kept_names(graph).items()},
                     image_output(graph))


def structure(model, input_shape, io_layout: str, kept: dict[str, list], image_out: bool) -> dict:
    """structural_checks for any ML program: `kept` the multi-array inputs expected after the image (name ->
    shape), `image_out` whether the output should be a pixel buffer."""
    spec = model.get_spec()
    ops = mil_ops(model)
    n, c, h, w = input_shape

    def desc(f):
        t = f.type.WhichOneof("Type")
        if t == "imageType":
            return {"name": f.name, "type": "image", "width": f.type.imageType.width,
                    "height": f.type.imageType.height}
        return {"name": f.name, "type": "multiarray", "shape": list(f.type.multiArrayType.shape)}

    inputs = [desc(f) for f in spec.description.input]
    outputs = [desc(f) for f in spec.description.output]
    expect_img = io_layout == "nhwc"
    image, others = inputs[0], inputs[1:]
    io_ok = image["name"] == IMAGE and (image["type"] == "image") == expect_img and \
        [(d["name"], d["type"], d.get("shape")) for d in others] == \
        [(nm, "multiarray", shape) for nm, shape in kept.items()] and \
        all((d["type"] == "image") == (expect_img and image_out) for d in outputs) and \
        (image.get("shape", [n, c, h, w]) == [n, c, h, w]) and \
        (not expect_img or (image["width"], image["height"]) == (w, h))
    return {"spec_version": spec.specificationVersion, "inputs": inputs, "outputs": outputs,
            "transposes": sum(o["op"] == "transpose" for o in ops), "io_ok": bool(io_ok),
            "ops": len(ops)}


# what each precision means for an ML program, as the `quantize` pass says it (native path and fallback)
QUANT_DETAIL = {"fp32": "float32 compute precision", "fp16": "float16 compute precision",
                "int8": "int8 weights (coremltools.optimize linear_quantize_weights, symmetric), float16 compute"}


def verify_detail(struct: dict, measured: bool) -> str:
    return (f"structure: {struct['ops']} ops, {struct['transposes']} transpose, I/O ok={struct['io_ok']}; "
            f"numeric: {'measured' if measured else 'macOS only'}")


def fidelity(model, images: np.ndarray, io_layout: str, ref: np.ndarray, quant: str, ref_kind: str,
             note: Callable[[], str]) -> tuple[np.ndarray | None, dict]:
    """The program's outputs on the reference images and their fidelity where Core ML predicts (macOS); else
    None and a record that nothing was measured, saying why and what was checked instead (`note`, called only
    then). Native path and coremltools fallback alike."""
    from vst.convert import verify
    from vst.runtimes import coreml as coreml_runtime
    if coreml_runtime.can_predict():
        got = coreml_runtime.predict(model, images, io_layout)
        return got, verify.fidelity(ref, got, quant, ref_kind)
    return None, verify.not_measured(len(images), quant, ref_kind, note())


def histogram(ops: list[dict]) -> dict[str, int]:
    from vst.convert.report import op_histogram
    return op_histogram(o["op"] for o in ops)


def save(model, target: Path) -> None:
    """Write the .mlpackage folder beside its final place, then rename it in (no partial package)."""
    write_folder(target, lambda tmp: model.save(str(tmp)), ".mlpackage")   # coremltools insists on the extension
