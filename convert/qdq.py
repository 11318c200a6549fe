"""QDQ ONNX (QuantizeLinear/DequantizeLinear pairs, as ONNX Runtime's and tf2onnx's quantizers write) -> float.

The import works on float graphs: quantized weights are dequantized into float constants (exactly what
DequantizeLinear computes). Activation fake-quantization is either kept (`keep=True`, the default for fp32 and
fp16 artifacts) or dropped:

- kept: each activation QuantizeLinear -> DequantizeLinear pair becomes the float ops that compute it,
  clip(round(x / scale), qmin - zp, qmax - zp) * scale (Div, Round, Clip, Mul: ONNX rounds half to even, and so
  do torch.round, TF's Round and LiteRT's ROUND), with the source's own scales and zero points, so the artifact
  reproduces the source's activation rounding (ONNX's reference semantics of the QDQ file);
- dropped: the graph computes in float where the source simulated int8 activations. A --quant int8 artifact
  is made from this form, re-quantized by the target's own calibration, not with the source's scales.

Fidelity is measured against ONNX Runtime running the QDQ file as it came, both with its default graph
optimizations (which fuse the pairs into int8 kernels with their own requantization arithmetic) and with them
disabled (the reference semantics), see source_fidelity.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from vst.common.errors import VstError

Q, DQ = "QuantizeLinear", "DequantizeLinear"


@dataclass
class QdqResult:
    weights: int = 0          # DequantizeLinear of constants folded into float constants
    activations: int = 0      # Q/DQ nodes on activations dropped, or kept as float rounding ops
    kept: bool = False

    @property
    def form(self) -> str:
        return "kept" if self.kept else "float"

    def detail(self) -> str:
        head = f"QDQ source made float: {self.weights} quantized constant(s) dequantized, "
        if self.kept:
            return head + (f"{self.activations} activation Quantize/DequantizeLinear node(s) kept as float rounding "
                           "(Div, Round, Clip, Mul with the source's scales and zero points: the artifact reproduces "
                           "the source's int8 activation rounding)")
        return head + (f"{self.activations} activation Quantize/DequantizeLinear node(s) dropped (the artifact "
                       "computes in float where the source simulated int8 activations)")


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


_MOVES_ONLY = {"Transpose", "Pad", "Reshape", "Identity", "Squeeze", "Unsqueeze", "Slice", "Flatten"}
_RANGE = {onnx.TensorProto.INT8: (-128, 127), onnx.TensorProto.UINT8: (0, 255)}


def _rounding_nodes(n: onnx.NodeProto, consts: dict, new_inits: list) -> list[onnx.NodeProto]:
    """An activation QuantizeLinear as float ops computing its QuantizeLinear -> DequantizeLinear value, written
    to the Q node's output name (its DequantizeLinear consumers then read it directly)."""
    scale = np.asarray(consts[n.input[1]], np.float32)
    zp = consts[n.input[2]] if len(n.input) > 2 and n.input[2] else np.zeros((), np.uint8)
    if scale.size != 1 or np.asarray(zp).size != 1:
        raise VstError(f"QuantizeLinear {n.name!r} quantizes an activation per channel; keeping its rounding is "
                       "not supported: convert with --qdq float")
    lo, hi = _RANGE.get(onnx.helper.np_dtype_to_tensor_dtype(np.asarray(zp).dtype), (None, None))
    if lo is None:
        raise VstError(f"QuantizeLinear {n.name!r} quantizes to {np.asarray(zp).dtype}; keeping its rounding "
                       "takes int8/uint8 only: convert with --qdq float")
    z = int(np.asarray(zp).reshape(()))
    base, y = n.output[0], n.output[0]
    names = {k: f"{base}/fq_{k}" for k in ("scale", "lo", "hi")}
    for k, v in (("scale", scale.reshape(())), ("lo", np.float32(lo - z)), ("hi", np.float32(hi - z))):
        new_inits.append(numpy_helper.from_array(np.asarray(v, np.float32), names[k]))
    mk = onnx.helper.make_node
    return [mk("Div", [n.input[0], names["scale"]], [f"{base}/fq_div"], name=f"{n.name}/fq_div"),
            mk("Round", [f"{base}/fq_div"], [f"{base}/fq_round"], name=f"{n.name}/fq_round"),
            mk("Clip", [f"{base}/fq_round", names["lo"], names["hi"]], [f"{base}/fq_clip"], name=f"{n.name}/fq_clip"),
            mk("Mul", [f"{base}/fq_clip", names["scale"]], [y], name=f"{n.name}/fq_mul")]


def to_float(model: onnx.ModelProto, keep: bool = False) -> tuple[onnx.ModelProto, QdqResult]:
    """A float copy of a QDQ model (see the module docstring); the graph's outputs keep their names. With
    `keep`, activation rounding is kept as float ops with the source's scales and zero points."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    consts = _const_map(model)
    res = QdqResult(kept=keep)
    q_scale: dict[str, float] = {}
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
            if n.op_type in _MOVES_ONLY and n.input[0] in q_scale:
                # tf2onnx pads and transposes the int8 tensor between a pair: the value stays on the same grid
                q_scale[n.output[0]] = q_scale[n.input[0]]
            continue
        x = n.input[0]
        if all(i in consts for i in n.input if i):
            # quantized constants (weights, a bound style vector and what reshapes it): computed here with
            # ONNX's own reference semantics, so each DequantizeLinear yields the float the source means
            for name, value in zip(n.output, _evaluate(n, consts)):
                consts[name] = value
                new_inits.append(numpy_helper.from_array(np.asarray(value), name))
            res.weights += n.op_type == DQ
        elif keep and n.op_type == Q:
            kept.extend(_rounding_nodes(n, consts, new_inits))
            q_scale[n.output[0]] = float(np.asarray(consts[n.input[1]]).ravel()[0])
            res.activations += 1
        else:
            if keep and n.op_type == DQ and (x not in q_scale or n.input[1] not in consts
                                             or float(np.asarray(consts[n.input[1]]).ravel()[0]) != q_scale[x]):
                # a DequantizeLinear of a tensor the graph receives quantized, or with another scale than its
                # QuantizeLinear's: the pair is not a plain rounding of a float activation
                raise VstError(f"DequantizeLinear {n.name!r} does not follow a QuantizeLinear of the same scale; "
                               "keeping the source's rounding is not supported for it: convert with --qdq float")
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


def source_fidelity(static: onnx.ModelProto, res: QdqResult, got: np.ndarray | None, images: np.ndarray,
                    feeds: dict | None = None, verified_against: np.ndarray | None = None) -> dict:
    """The artifact's outputs `got` (NCHW, None where they cannot be computed here) against ONNX Runtime running
    the QDQ source as it came, two ways: with its default graph optimizations (int8 QLinear kernels fused from
    the pairs: how ONNX Runtime deploys the file) and with them disabled (ONNX's reference semantics of every
    QuantizeLinear/DequantizeLinear: what the file means); and against the source's float form (activation
    pairs dropped). The float form's own scores say what dropping the rounding costs any float artifact.
    `verified_against`: the outputs the conversion already verified against (the reference semantics for the
    kept form, the float form otherwise), not computed again."""
    from vst.convert import verify
    from vst.convert.onnx_import import slim
    from vst.runtimes.ort import OrtSession

    def db(ref, out):
        return verify._finite(verify.compare(ref, out)["psnr_db"])
    known = "ort_reference" if res.kept else "float_form"
    runs = {"ort_default": lambda: OrtSession(static, threads=None),
            "ort_reference": lambda: OrtSession(static, threads=None, optimize=False),
            "float_form": lambda: OrtSession(slim(to_float(static)[0]), threads=None)}
    refs = {k: verified_against if k == known and verified_against is not None else
            session().run_batch(images, feeds) for k, session in runs.items()}
    row = {"form": res.form,
           "reference": "onnxruntime (QDQ source ONNX as given, default optimizations: fused int8 kernels)",
           "ort_default_vs_reference_psnr_db": db(refs["ort_reference"], refs["ort_default"]),
           "float_graph_psnr_db": db(refs["ort_default"], refs["float_form"]),
           "float_graph_reference_psnr_db": db(refs["ort_reference"], refs["float_form"])}
    if got is None:
        row.update(psnr_db=None, reference_semantics_psnr_db=None, float_form_psnr_db=None)
        return row
    cmp = verify.compare(refs["ort_default"], got)
    row.update(psnr_db=verify._finite(cmp["psnr_db"]), max_abs_err=cmp["max_abs_err"],
               reference_semantics_psnr_db=db(refs["ort_reference"], got), float_form_psnr_db=db(refs["float_form"], got))
    return row
