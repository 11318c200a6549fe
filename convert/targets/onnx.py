"""ONNX for ONNX Runtime: the source graph itself (fixed at the asked size, extra inputs bound or kept), laid out
and quantized for the asked I/O and precision. ONNX Runtime runs every ONNX op, so it needs neither the IR nor
its rewrites."""
from __future__ import annotations

from vst.convert import onnx_export, report as report_mod, verify
from vst.convert.passes import PassResult
from vst.convert.targets.base import Conversion, Emitted, Target, register


@register
class OnnxTarget(Target):
    name = "onnx"
    rewrite_note = "ONNX Runtime runs Pad(reflect), Resize and InstanceNormalization natively"
    needs_ir = False

    def emit(self, c: Conversion) -> Emitted:
        """The ONNX file keeps the source's inputs as they are: names, layouts, values (each kept input's values
        stacked: the first verifies, all calibrate int8)."""
        kept = c.front.kept_all
        io_layout = c.io_layout
        model = onnx_export.with_layout(c.front.ir_source, io_layout)
        c.passes.append(PassResult("layout", io_layout == "nhwc", "ONNX Runtime is NCHW-native: " +
                                   ("Transpose added at input and output for NHWC I/O" if io_layout == "nhwc"
                                    else "NCHW I/O kept")))
        model, qdetail = onnx_export.quantize(model, c.quant, c.calib_batch, io_layout, kept)
        c.passes.append(PassResult("quantize", c.quant != "fp32", qdetail))
        got = verify.from_layout(onnx_export.run(model, verify.to_layout(c.images, io_layout),
                                                 {k: v[0] for k, v in kept.items()}), io_layout)
        fid = verify.fidelity(c.ref_out, got, c.quant, c.ref_kind)
        c.passes.append(PassResult("verify", True, f"ONNX Runtime vs {c.ref_kind}: PSNR {fid['psnr_db']} dB"))
        hist = report_mod.op_histogram(n.op_type for n in model.graph.node)
        return Emitted(model.SerializeToString(),
                       {"op_histogram": hist, "transposes": {"before": c.src_transposes,
                                                             "after": hist.get("Transpose", 0)},
                        "delegates": {}, "fidelity": fid}, got)

    def refused_import_note(self, src, refusal: str) -> str | None:
        return f"IR import refused ({refusal}); not needed for onnx: the source graph is written as it is"

    def artifact_inputs(self, inputs: list[dict], c: Conversion) -> list[dict]:
        return [dict(i, artifact_name=i["name"]) if i["role"] == "kept" else i for i in inputs]

    def temporal_feeds(self, c: Conversion) -> dict | None:
        return c.front.kept
