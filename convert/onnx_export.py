"""The ONNX target: the static, folded graph, optional NHWC I/O, fp16 or int8 (QDQ) via ONNX Runtime tools."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from vst.common.errors import VstError


def with_layout(model: onnx.ModelProto, io_layout: str) -> onnx.ModelProto:
    """NHWC I/O for an NCHW graph: one Transpose after the image input and one before the output; inputs kept
    besides the image (--keep-input) stay as the source has them."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    if io_layout == "nchw":
        return model
    g = model.graph
    inp, out = g.input[0], g.output[0]
    n, c, h, w = (d.dim_value for d in inp.type.tensor_type.shape.dim)
    inner_in, inner_out = inp.name + "_nchw", out.name + "_nchw"
    for node in g.node:
        node.input[:] = [inner_in if i == inp.name else i for i in node.input]
        node.output[:] = [inner_out if o == out.name else o for o in node.output]
    g.node.insert(0, helper.make_node("Transpose", [inp.name], [inner_in], perm=[0, 3, 1, 2], name="to_nchw"))
    g.node.append(helper.make_node("Transpose", [inner_out], [out.name], perm=[0, 2, 3, 1], name="to_nhwc"))
    g.input[0].CopyFrom(helper.make_tensor_value_info(inp.name, onnx.TensorProto.FLOAT, [n, h, w, c]))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(out.name, onnx.TensorProto.FLOAT, [n, h, w, c]))
    return model


def quantize(model: onnx.ModelProto, quant: str, calib_batch, io_layout: str, kept: dict | None = None
             ) -> tuple[onnx.ModelProto, str]:
    """`kept`: stacked values of the inputs besides the image, cycled with the calibration images (int8)."""
    if quant == "fp32":
        return model, "float32 kept"
    if quant == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16
        return convert_float_to_float16(model, keep_io_types=True), "float16 weights and activations, float32 I/O"
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from vst.convert.verify import to_layout
    name = model.graph.input[0].name
    feeds = [{name: to_layout(b[None], io_layout), **{k: v[i % len(v)] for k, v in (kept or {}).items()}}
             for i, b in enumerate(calib_batch)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(feeds)

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "f.onnx", Path(tmp) / "q.onnx"
        onnx.save(model, str(src))
        try:
            quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True)
        except Exception as exc:  # ORT quantization raises assorted types
            raise VstError(f"ONNX int8 quantization failed ({type(exc).__name__}: {str(exc)[:160]})") from None
        return onnx.load(str(dst)), f"int8 QDQ (ONNX Runtime static quantization, per-channel weights), " \
                                    f"calibrated on {len(feeds)} real images"


def run(model: onnx.ModelProto, batch: np.ndarray, feeds: dict | None = None) -> np.ndarray:
    from vst.runtimes.ort import OrtSession
    return OrtSession(model, threads=2).run_batch(batch, feeds)
