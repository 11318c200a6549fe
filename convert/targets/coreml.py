"""Core ML ML programs (.mlpackage) built from the IR in NCHW, Core ML's native layout, with image I/O. Linux has no
Core ML runtime: the program's structure is checked here and its numbers on macOS. What the native import refuses
from a PyTorch source goes to coremltools' own PyTorch frontend."""
from __future__ import annotations

import numpy as np

from vst.common.errors import VstError, first_line
from vst.convert import coreml, delegates, verify
from vst.convert.passes import PassResult
from vst.convert.targets.base import Conversion, Emitted, Target, register


def _verdicts(ops: list, quant: str) -> dict:
    return delegates.coreml_verdicts(ops, "float32" if quant == "fp32" else "float16")


@register
class CoreMLTarget(Target):
    name = "coreml"
    rewrite_note = ("Core ML has pad(mode=reflect), upsample_nearest_neighbor and instance_norm on ANE, GPU and CPU "
                    "(rules/coreml.json); its fused instance_norm also avoids float16 overflow of a squared "
                    "deviation")
    runs_here = False
    package = ("Core ML package", ("Manifest.json", "Data"))

    def emit(self, c: Conversion) -> Emitted:
        graph, quant, io_layout = c.graph, c.quant, c.io_layout
        model = coreml.to_mlpackage(graph, quant, io_layout)
        ops = coreml.mil_ops(model)
        struct = coreml.structural_checks(model, graph, io_layout)
        io = "images (pixel buffers)" if io_layout == "nhwc" else "NCHW tensors"
        c.passes.append(PassResult("layout", True, f"ML program in NCHW (Core ML's native layout); I/O {io}; "
                                                  f"transpose {c.src_transposes} -> {struct['transposes']}"))
        c.passes.append(PassResult("quantize", quant != "fp32", coreml.QUANT_DETAIL[quant]))
        ref = np.clip(c.ref_out, 0, 1) if io_layout == "nhwc" and coreml.image_output(graph) else c.ref_out

        def ir_note():    # Linux: no Core ML runtime. Check the exact graph the program was built from instead.
            return ("Core ML predicts only on macOS; structural checks ran instead. The IR the ML program was "
                    f"built from matches the reference {verify.ir_agreement(c.ref_out, graph, c.images)}")
        got, fid = coreml.fidelity(model, c.images, io_layout, ref, quant, c.ref_kind, ir_note)
        c.passes.append(PassResult("verify", True, coreml.verify_detail(struct, fid["measured"])))
        return Emitted(lambda out: coreml.save(model, out),
                       {"op_histogram": coreml.histogram(ops),
                        "transposes": {"before": c.src_transposes, "after": struct["transposes"]},
                        "delegates": _verdicts(ops, quant), "structure": struct, "fidelity": fid}, got)

    def refused_import_note(self, src, refusal: str) -> str | None:
        if src.module is None:      # coremltools has no ONNX frontend
            return None
        return f"native import refused ({refusal}); converting with coremltools' PyTorch frontend"

    def emit_refused(self, c: Conversion) -> Emitted:
        """A PyTorch source the IR refused: coremltools' own PyTorch frontend builds the program. Linux cannot run
        it, and no IR stands behind it to check instead, so its numbers are measured on macOS only."""
        module, refusal, quant, io_layout = c.front.src.module, c.front.refusal, c.quant, c.io_layout
        w, h = c.size
        try:
            model = coreml.from_torch(module, quant, io_layout, w, h)
        except VstError as exc:
            raise VstError(f"{refusal}, and the coremltools fallback failed too ({exc})") from None
        except Exception as exc:  # tracing raises assorted types; keep its first line
            raise VstError(f"{refusal}, and the coremltools fallback could not trace the module "
                           f"({first_line(exc, 160)})") from None
        ops = coreml.mil_ops(model)
        struct = coreml.structure(model, (1, 3, h, w), io_layout, {}, False)
        c.passes.append(PassResult("layout", False, f"coremltools' PyTorch frontend: NCHW program, "
                                                    f"{'image' if io_layout == 'nhwc' else 'NCHW tensor'} input, "
                                                    f"multi-array output; transpose {struct['transposes']}"))
        c.passes.append(PassResult("quantize", quant != "fp32", coreml.QUANT_DETAIL[quant]))
        got, fid = coreml.fidelity(model, c.images, io_layout, c.ref_out, quant, c.ref_kind, lambda: (
            "Core ML predicts only on macOS, and this program was built by coremltools from the traced module, "
            "not from vst's IR: nothing numeric was checked here"))
        c.passes.append(PassResult("verify", True, coreml.verify_detail(struct, fid["measured"])))
        cost = {"transposes": struct["transposes"], "psnr_db": fid["psnr_db"]}
        return Emitted(lambda out: coreml.save(model, out),
                       {"op_histogram": coreml.histogram(ops),
                        "transposes": {"before": None, "after": struct["transposes"]},
                        "delegates": _verdicts(ops, quant), "structure": struct, "fidelity": fid}, got,
                       {"produced_by": "coremltools", "why": refusal, "cost": cost})

    def artifact_inputs(self, inputs: list[dict], c: Conversion) -> list[dict]:
        if c.graph is None:
            return inputs
        # an NCHW program: its kept inputs are multi-arrays in the IR's logical layout
        return [dict(i, shape=list(c.graph.extra[i["name"]].shape), layout="NCHW (Core ML's)")
                if i["role"] == "kept" else i for i in inputs]
