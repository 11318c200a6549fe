"""QDQ ONNX (QuantizeLinear/DequantizeLinear pairs, as ONNX Runtime's and tf2onnx's quantizers write) -> float.

The import works on float graphs: quantized weights are dequantized into float constants (exactly what
DequantizeLinear computes), and activation fake-quantization is dropped. The float graph therefore differs
from the QDQ source by the activation rounding the source simulates; the fidelity check measures that against
ONNX Runtime running the QDQ file as it came. A --quant int8 artifact is re-quantized by the target's own
calibration, not with the source's scales.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from vst.common.errors import VstError

Q, DQ = "QuantizeLinear", "DequantizeLinear"


@dataclass
class QdqResult:
    weights: int = 0          # DequantizeLinear of constants folded into float constants
    activations: int = 0      # Q/DQ nodes on activations dropped

    def detail(self) -> str:
        return (f"QDQ source made float: {self.weights} quantized constant(s) dequantized, {self.activations} "
                "activation Quantize/DequantizeLinear node(s) dropped (the artifact computes in float where the "
                "source simulated int8 activations)")


def _const_map(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].type == onnx.AttributeProto.TENSOR:
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return consts


def _evaluate(node: onnx.NodeProto, consts: dict) -> list:
    from onnx.reference import ReferenceEvaluator
    try:
        return ReferenceEvaluator(node).run(None, {i: consts[i] for i in node.input if i})
    except Exception as exc:  # the reference evaluator raises many kinds; one line names the node
        raise VstError(f"cannot evaluate constant ONNX {node.op_type} node {node.name!r} ({str(exc)[:120]})") from None


def has_qdq(model: onnx.ModelProto) -> bool:
    return any(n.op_type in (Q, DQ) for n in model.graph.node)


def to_float(model: onnx.ModelProto) -> tuple[onnx.ModelProto, QdqResult]:
    """A float copy of a QDQ model (see the module docstring); the graph's outputs keep their names."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    consts = _const_map(model)
    res = QdqResult()
    rename: dict[str, str] = {}
    kept, new_inits = [], []

    def src(t: str) -> str:
        while t in rename:
            t = rename[t]
        return t

    for n in g.node:
        n.input[:] = [src(i) for i in n.input]
        if n.op_type not in (Q, DQ) and not (n.input and all(i in consts for i in n.input if i)):
            kept.append(n)
            continue
        x = n.input[0]
        if all(i in consts for i in n.input if i):
            # quantized constants (weights, a bound style vector and what reshapes it): computed here with
            # ONNX's own reference semantics, so each DequantizeLinear yields the float the source means
            for name, value in zip(n.output, _evaluate(n, consts)):
                consts[name] = value
                new_inits.append(numpy_helper.from_array(np.asarray(value), name))
            res.weights += n.op_type == DQ
        else:
            rename[n.output[0]] = x
            res.activations += 1
    outputs = {o.name for o in g.output}
    for o in list(outputs):
        if src(o) != o:             # an output produced by a dropped node keeps its name through an Identity
            kept.append(onnx.helper.make_node("Identity", [src(o)], [o], name=f"{o}/float"))
    del g.node[:]
    g.node.extend(kept)
    g.initializer.extend(new_inits)
    # int8 tensor types of the QDQ graph no longer hold; shape inference (onnxslim) recomputes them
    del g.value_info[:]
    used = {i for n in g.node for i in n.input}
    inits = [i for i in g.initializer if i.name in used or i.name in outputs]
    del g.initializer[:]
    g.initializer.extend(inits)
    return model, res


def source_fidelity(qdq_out: np.ndarray, float_out: np.ndarray, artifact: Path, target: str, io_layout: str,
                    images: np.ndarray) -> dict:
    """The artifact against ONNX Runtime running the QDQ source as it came, and how far the source's float form
    already is from it (the part no converter keeping float activations can recover)."""
    from vst.convert import verify
    row = {"reference": "onnxruntime (QDQ source ONNX as given)",
           "float_graph_psnr_db": verify._finite(verify.compare(qdq_out, float_out)["psnr_db"])}
    if target == "tflite":
        from vst.convert import tflite
        got = tflite.run(Path(artifact).read_bytes(), verify.to_layout(images, io_layout))
    elif target == "onnx":
        from vst.convert import onnx_export
        got = onnx_export.run(onnx.load(str(artifact)), verify.to_layout(images, io_layout))
    else:
        row["psnr_db"] = None
        return row
    cmp = verify.compare(qdq_out, verify.from_layout(got, io_layout))
    row.update(psnr_db=verify._finite(cmp["psnr_db"]), max_abs_err=cmp["max_abs_err"])
    return row
