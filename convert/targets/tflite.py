"""TFLite for LiteRT: activations emitted in NHWC from the IR, quantized in place (full int8, dynamic-range int8,
or temporal-aware int8), checked on the host's XNNPACK. What the native import refuses goes to litert-torch
(PyTorch sources, fp32 with NHWC I/O, where the extra is installed) or onnx2tf (convert/fallback.py); their fp32
file is quantized by ai-edge-quantizer for int8 and int8 --dynamic."""
from __future__ import annotations

from pathlib import Path

from vst.common.errors import VstError, first_line
from vst.convert import delegates, fallback, verify
from vst.convert.passes import PassResult
from vst.convert.targets.base import Conversion, Emitted, Target, register
from vst.convert.verify import THREADS
from vst.runtimes.litert_graph import custom_ops

QUANT_DETAIL = {
    "fp32": "float32 kept",
    "fp16": "float16 weights (DEQUANTIZE to float32 at load)",
    "int8": "full-integer int8 ops, float I/O, calibrated on {n} real images; normalization statistics (squared "
            "deviations, variances, rsqrt) kept float",
}


def _tflite():
    from vst.convert import tflite      # TensorFlow loads on first use only
    return tflite


@register
class TFLiteTarget(Target):
    name = "tflite"

    def emit(self, c: Conversion) -> Emitted:
        tflite = _tflite()
        graph, io_layout, quant, passes = c.graph, c.io_layout, c.quant, c.passes
        kept = self._kept_values(c)
        feeds = tflite.feeds_for(graph, io_layout)     # kept inputs: their verification values
        rep, tq, dq = None, None, None
        if quant == "int8" and not c.temporal and not c.dynamic:
            rep_layout = [verify.to_layout(b[None], io_layout) for b in c.calib_batch]
            # every input in the converter's order (image first); kept inputs cycle through their values (the
            # activations after a style input span what all the given styles make, not one style's range)
            calib_feeds = [list(tflite.feeds_for(graph, io_layout, {k: v[i % len(v)] for k, v in kept.items()})
                                .values()) for i in range(len(rep_layout))]

            def representative():
                for x, f in zip(rep_layout, calib_feeds):
                    yield [x, *f]
            rep = representative
        before = None     # a whole second conversion, only to count what the NHWC emission saves
        if c.checks == "full":
            # the same for every precision of one rewritten graph: counted once per front
            counts = c.front.naive_transposes.setdefault((c.rewrites_applied, io_layout), {})
            if "transposes" not in counts:
                naive = tflite.to_tflite(graph, "fp32", io_layout=io_layout, layout="nchw")
                counts["transposes"] = tflite.histogram(tflite.ops(naive)).get("TRANSPOSE", 0)
            before = counts["transposes"]
        if c.temporal:
            from vst.convert import temporal_quant
            w, h = c.size
            data, tq = temporal_quant.quantize(graph, io_layout, w, h, THREADS)
        elif c.dynamic:
            from vst.convert import temporal_quant
            data = tflite.to_tflite(graph, "int8", io_layout=io_layout, layout="nhwc", dynamic=True)
            dq = temporal_quant.dynamic_record(data)
        else:
            data = tflite.to_tflite(graph, quant, io_layout=io_layout, layout="nhwc", representative=rep)
        ops = tflite.ops(data)
        hist = tflite.histogram(ops)
        after = hist.get("TRANSPOSE", 0)
        passes.append(PassResult("layout", True, f"activations emitted in NHWC, constants laid out at conversion; "
                                                f"I/O {io_layout}; TRANSPOSE "
                                                f"{before if before is not None else 'not counted'} -> {after}"))
        passes.append(PassResult("quantize", quant != "fp32", self._quant_detail(c, tq, dq)))
        got = verify.from_layout(tflite.run(data, verify.to_layout(c.images, io_layout), THREADS, feeds), io_layout)
        fid = verify.fidelity(c.ref_out, got, quant, c.ref_kind)
        if not fid["passed"] and c.checks == "full":
            rows = verify.first_divergence(graph, data, c.images[0], io_layout, fid["threshold_psnr_db"], feeds)
            fid["per_layer"] = rows
            fid["first_divergence"] = next((r for r in rows if r["below_threshold"]), None)
        passes.append(_verify_pass(c, fid))
        extra = {"quantization": {"temporal": tq}} if tq is not None else \
            {"quantization": {"dynamic": dq}} if dq is not None else {}
        return Emitted(data, {**extra, "op_histogram": hist, "transposes": {"before": before, "after": after},
                              **_checks(ops, fid, tflite.xnnpack_partitions(data, THREADS))}, got)

    @staticmethod
    def _kept_values(c: Conversion) -> dict:
        """Each kept input's values, stacked, in the IR's NCHW."""
        return {k: v.transpose(0, 1, 4, 2, 3) if c.front.nhwc_src else v for k, v in c.front.kept_all.items()}

    @staticmethod
    def _quant_detail(c: Conversion, tq: dict | None, dq: dict | None) -> str:
        if dq is not None:
            return (f"dynamic-range int8: {dq['int8_weight_ops']} of {dq['conv_ops']} convolutions with int8 "
                    "per-channel weights, activations quantized per frame at run time (no calibration); "
                    "normalization float")
        if tq is not None:
            return (f"temporal-aware int8: calibrated on {tq['calibration']['frames']} video frames; "
                    f"{len(tq['float_layers'])} of {tq['candidates']} conv layers kept float by measured temporal "
                    f"sensitivity; tuning-clip temporal error {tq['tuning']['ratio_before']}x -> "
                    f"{tq['tuning']['ratio_after']}x fp32 (target {tq['tuning']['target_ratio']}x); normalization "
                    "statistics float")
        n = len(c.calib_batch) if c.calib_batch is not None else 0
        return QUANT_DETAIL[c.quant].format(n=n)

    def refused_import_note(self, src, refusal: str) -> str | None:
        return (f"native import refused ({refusal}); converting with a fallback converter (conversion_path says "
                "which and why)")

    def emit_refused(self, c: Conversion) -> Emitted:
        """PyTorch sources: litert-torch where it can make the file; all else: onnx2tf."""
        src, refusal = c.front.src, c.front.refusal
        # int8: the converter's fp32 file, quantized by ai-edge-quantizer (_quantized)
        made = "fp32" if c.quant == "int8" else c.quant
        passed_over = None if src.module is None else fallback.litert_torch_unusable(made, c.io_layout)
        if src.module is not None and passed_over is None:
            return _litert_torch(c, src.module, refusal)
        return _onnx2tf(c, refusal, {"litert-torch": passed_over} if passed_over else None)

    def temporal_feeds(self, c: Conversion) -> dict | None:
        return _tflite().feeds_for(c.graph, c.io_layout)

    def accelerator_checks(self, c: Conversion, out: Path, emitted: Emitted) -> dict:
        """LiteRT's GPU accelerator run on the artifact (vst.convert.gpu_check): its record, and the measured
        GPU verdict in place of the allow-list's."""
        from vst.convert import gpu_check
        allow_list = emitted.record["delegates"]["tflite_gpu"]
        if c.checks != "full":
            rec = gpu_check.not_measured(f"left out: conversion checks {c.checks!r}")
        elif not c.gpu_check:
            rec = gpu_check.not_measured("left out: asked not to run it (--no-gpu-check)")
        else:
            rec = gpu_check.measure(c, out, emitted.outputs, allow_list)
        return {"gpu": rec, "delegates": {**emitted.record["delegates"],
                                          "tflite_gpu": gpu_check.delegate_verdict(rec, allow_list)}}


def _verify_pass(c: Conversion, fid: dict) -> PassResult:
    return PassResult("verify", True, f"LiteRT vs {c.ref_kind} on {len(c.images)} photos: PSNR "
                                      f"{fid['psnr_db']} dB (threshold {fid['threshold_psnr_db']})")


def _checks(ops: list, fid: dict, xnn: dict) -> dict:
    """What the host measures of a TFLite file: XNNPACK's partitions, the delegates' verdicts, the fidelity."""
    return {"xnnpack": {"delegated_nodes": xnn["delegated_nodes"], "partitions": xnn["partitions"],
                        "total_nodes": xnn["total_nodes"], "threads": THREADS},
            "delegates": {"xnnpack": delegates.xnnpack_verdict(xnn), **delegates.tflite_verdicts(ops)},
            "fidelity": fid}


def _litert_torch(c: Conversion, module, refusal: str) -> Emitted:
    """A file made by litert-torch from the PyTorch module (fp32, NHWC I/O)."""
    try:
        data, layout = fallback.litert_torch_convert(module, *c.size)
    except Exception as exc:  # torch.export and the lowering raise assorted types; keep the first line
        raise VstError(f"{refusal}, and the litert-torch fallback failed too ({first_line(exc, 160)})") from None
    if layout != c.io_layout:
        raise VstError(f"{refusal}; the installed litert-torch has no to_channel_last_io, so its file would take "
                       f"{layout.upper()} input: upgrade litert-torch or pass --io-layout {layout}")
    return _third_party(c, data, "litert-torch", "litert-torch's own lowering (to_channel_last_io: NHWC I/O)",
                        "float32 kept", refusal)


def _quantized(c: Conversion, data: bytes) -> tuple[bytes, str | None, dict]:
    """int8 of a fallback's fp32 file: ai-edge-quantizer's static recipe calibrated on the images the native
    int8 path calibrates on, or its dynamic-range recipe. Returns the file, what the report's quantize step and
    conversion_path say, and the dynamic record; other precisions pass through."""
    if c.quant != "int8":
        return data, None, {}
    calib = None if c.dynamic else [verify.to_layout(b[None], c.io_layout) for b in c.calib_batch]
    try:
        data = fallback.quantize_file(data, calib, c.dynamic)
    except Exception as exc:  # the quantizer raises assorted types; the refusal and its first line say enough
        raise VstError(f"{c.front.refusal}, and ai-edge-quantizer could not quantize the fallback's fp32 file "
                       f"({first_line(exc, 160)})") from None
    how = fallback.AEQ_DYNAMIC if c.dynamic else f"{fallback.AEQ_STATIC}, calibrated on {len(calib)} real images"
    extra = {}
    if c.dynamic:
        from vst.convert import temporal_quant
        extra = {"quantization": {"dynamic": temporal_quant.dynamic_record(data)}}
    return data, f"ai-edge-quantizer {fallback.quantizer_version()}: {how}", extra


def _onnx2tf(c: Conversion, refusal: str, others: dict | None) -> Emitted:
    """A file made by onnx2tf from the exported ONNX; `others`: converters passed over, and why."""
    if c.io_layout != "nhwc":
        raise VstError(f"{refusal}; the onnx2tf fallback makes only files with NHWC I/O (asked: {c.io_layout})")
    files = fallback.onnx2tf_files(c.front.ir_source, refusal)
    made = "fp32" if c.quant == "int8" else c.quant
    if made not in files:
        raise VstError(f"{refusal}, and the onnx2tf fallback wrote no {made} file")
    emitted = _third_party(c, files[made], "onnx2tf", "onnx2tf's own layout conversion",
                           "float32 kept" if made == "fp32" else "onnx2tf float16 weights", refusal)
    if others:
        emitted.conversion_path["others"] = others
    return emitted


def _third_party(c: Conversion, data: bytes, producer: str, layout_detail: str, quant_detail: str,
                 refusal: str) -> Emitted:
    """Check and describe a TFLite file another converter made (int8: quantized by ai-edge-quantizer first): its
    ops, XNNPACK partitions, fidelity against the reference, and the cost of the path."""
    tflite = _tflite()
    flex = [op for op in custom_ops(data) if op.startswith("Flex")]
    if flex:
        raise VstError(f"{refusal}, and {producer}'s file needs TensorFlow select ops ({', '.join(flex)}), which "
                       "LiteRT runs only with the Flex delegate (not in vst's runners or the phone harnesses): "
                       "replace that op in the model, or convert with --to onnx")
    data, quantized_by, extra = _quantized(c, data)
    quant_detail = quantized_by or quant_detail
    ops = tflite.ops(data)
    hist = tflite.histogram(ops)
    xnn = tflite.xnnpack_partitions(data, THREADS)
    got = tflite.run(data, verify.to_layout(c.images, c.io_layout), THREADS)
    got = verify.from_layout(got, c.io_layout) if got.shape[1:] != c.ref_out.shape[1:] else got
    fid = verify.fidelity(c.ref_out, got, c.quant, c.ref_kind)
    c.passes.append(PassResult("layout", False, f"{layout_detail}; TRANSPOSE {hist.get('TRANSPOSE', 0)}"))
    c.passes.append(PassResult("quantize", c.quant != "fp32", quant_detail))
    c.passes.append(_verify_pass(c, fid))
    record = {**extra, "op_histogram": hist, "transposes": {"before": None, "after": hist.get("TRANSPOSE", 0)},
              **_checks(ops, fid, xnn)}
    cost = {"transposes": hist.get("TRANSPOSE", 0), "xnnpack_partitions": xnn["partitions"],
            "not_delegated": sorted({o["op"] for o in xnn["not_delegated"]}), "psnr_db": fid["psnr_db"]}
    path = {"produced_by": producer, "why": refusal, "cost": cost}
    return Emitted(data, record, None, {**path, "quantized_by": quantized_by} if quantized_by else path)
