"""`convert()`: the pipeline of named passes from a model to a verified phone artifact and its report."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vst.common.cli import check_pixels
from vst.common.errors import VstError
from vst.common.fsutil import atomic_path, check_creatable_dir, sha256_of, size_of
from vst.convert import delegates, fallback, qdq, report as report_mod, verify
from vst.convert import temporal as temporal_qa
from vst.convert.ir import UnsupportedOp, input_name
from vst.runtimes.table import LAYOUTS, PRECISIONS, TARGETS as TARGET_TABLE
from vst.convert.passes import (NOT_NEEDED, QUANT_NOT_NEEDED, QUANT_REWRITES, REWRITES, TARGET_REWRITES,
                                 PassResult, prove)

TARGETS = tuple(TARGET_TABLE)
QUANTS = PRECISIONS
QDQ_FORMS = ("keep", "float")
SUFFIX = {t: spec["suffix"] for t, spec in TARGET_TABLE.items()}
THREADS = 2
# What convert(checks=...) verifies. "proofs" is for speed studies of random-weight networks (vst-run --job table2):
# it keeps what makes the artifact the same function as its source (each rewrite proven exact, the artifact's PSNR
# against the source on the photos) and leaves out what describes a trained network's output quality.
CHECKS = {
    "full": "rewrite proofs, fidelity, per-layer divergence when it fails, temporal QA, sample PNGs, layout-naive "
            "transpose count",
    "proofs": "rewrite proofs and fidelity only: no temporal QA, sample PNGs, per-layer divergence or layout-naive "
              "transpose count",
}


def _check_args(to, quant, size, io_layout, out) -> tuple[int, int, Path]:
    if to not in TARGETS:
        raise VstError(f"unknown target {to!r}; use one of {', '.join(TARGETS)}")
    if quant not in QUANTS:
        raise VstError(f"unknown precision {quant!r}; use one of {', '.join(QUANTS)}")
    if io_layout not in LAYOUTS:
        raise VstError(f"unknown I/O layout {io_layout!r}; use nhwc or nchw")
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise VstError(f"size must be (width, height) integers, got {size!r}") from None
    if width < 1 or height < 1:
        raise VstError(f"size {width}x{height} must be positive")
    check_pixels(width, height)
    if out is None:
        raise VstError("give an output path (-o OUT)")
    out = Path(out)
    if out.suffix != SUFFIX[to]:
        raise VstError(f"output {out} should end in {SUFFIX[to]} for --to {to}")
    if out.is_dir() and to != "coreml":
        raise VstError(f"output {out} is a folder; give a file path")
    if out.is_dir() and not _replaceable_mlpackage(out):
        # replacing a package deletes the folder: only one vst wrote may go, never a user's folder of files
        raise VstError(f"output {out} is an existing folder that is not a Core ML package written by vst-convert; "
                       "refusing to delete it: give another -o or move the folder away")
    if len(out.name.encode()) > 200:
        raise VstError(f"output name {out.name[:40]}... is {len(out.name.encode())} bytes long; file systems take "
                       "255 at most with the report's suffix: give a shorter -o")
    check_creatable_dir(out.parent)  # created when the artifact is written, not before the model is known good
    return width, height, out


def _replaceable_mlpackage(path: Path) -> bool:
    """An empty folder, or a package vst-convert wrote: its report lies beside it and it holds only package
    entries."""
    entries = {p.name for p in path.iterdir()}
    return not entries or ("Manifest.json" in entries and entries <= {"Manifest.json", "Data"}
                           and report_mod.report_path(path).is_file())


def convert(model: Any, to: str = "tflite", quant: str = "fp32", size: tuple[int, int] = (480, 320),
            out: str | os.PathLike | None = None, calib: str | os.PathLike | None = None, io_layout: str = "nhwc",
            random_weights: bool = False, trust_pickle: bool = False, bind: dict | None = None,
            profile: bool = False, temporal: bool = False, qdq_form: str | None = None,
            keep_inputs: tuple[str, ...] = (), dynamic: bool = False, checks: str = "full") -> dict:
    """Convert `model` (checkpoint path, zoo name, TorchScript/ExportedProgram/ONNX path, or a Stylizer) into
    a `to` artifact at `out`, verify it on real photos, write `<out>.report.json` and return the report.

    `bind` fixes extra model inputs (e.g. {"style_weights": 3} selects style 3 of a multi-style ONNX model).
    `profile` (tflite only) adds the per-op time breakdown on this machine (vst.runtimes.profile) to the report.
    `temporal` (tflite int8 only): temporal-aware mixed precision (vst.convert.temporal_quant).
    `qdq_form` (QDQ sources): "keep" reproduces the source's activation rounding with its own scales (default
    for TFLite fp32/fp16), "float" drops it (default for int8, which re-quantizes with its own calibration, and
    for the other targets).
    `keep_inputs`: extra inputs kept as artifact inputs instead of bound (a style bottleneck, say);
    a `bind` value given for one is its verification value only.
    `dynamic` (tflite int8 only): dynamic-range int8, int8 weights and activations quantized per frame at run time.
    `checks`: "full", or "proofs" for studies of speed (random weights): the rewrite proofs and the artifact's
    fidelity are kept; the temporal QA, sample PNGs, per-layer divergence and the layout-naive transpose count,
    which say nothing about an untrained network's speed, are left out (see CHECKS).
    Raises VstError (one line) on bad input; nothing is left at `out` then.
    """
    t0 = time.perf_counter()
    width, height, out = _check_args(to, quant, size, io_layout, out)
    if profile and to != "tflite":
        raise VstError(f"--profile times TFLite artifacts on this machine; drop it for --to {to}")
    if temporal and (to != "tflite" or quant != "int8"):
        raise VstError("--temporal applies to --to tflite --quant int8 only")
    if qdq_form not in (None, *QDQ_FORMS):
        raise VstError(f"unknown --qdq {qdq_form!r}; use one of {', '.join(QDQ_FORMS)}")
    if qdq_form == "keep" and quant == "int8":
        raise VstError("--qdq keep makes float artifacts that round like the QDQ source; --quant int8 re-quantizes "
                       "the float form with its own calibration: drop --qdq keep or use --quant fp32")
    if keep_inputs and temporal:
        raise VstError("--temporal with --keep-input is not done: bind the input for a temporal-aware int8 file")
    if dynamic and (to != "tflite" or quant != "int8"):
        raise VstError("--dynamic applies to --to tflite --quant int8 only")
    if dynamic and temporal:
        raise VstError("--dynamic and --temporal are two int8 methods; choose one")
    if dynamic and calib is not None:
        raise VstError("--dynamic quantizes activations at run time from each frame and takes no --calib; drop it")
    if checks not in CHECKS:
        raise VstError(f"unknown checks {checks!r}; use one of {', '.join(CHECKS)}")
    calib_batch, calib_from = None, None
    if calib is not None or quant == "int8":
        calib_batch, calib_from = verify.calibration_images(calib, width, height)

    # kept by default where it is verified to reproduce the file (TFLite fp32/fp16: 57.6 dB at 128x128 against
    # the reference semantics); ONNX Runtime runs a Div/Round graph with its own rewrites (36 dB), so ONNX
    # artifacts stay float unless asked
    keep_qdq = (qdq_form or ("keep" if to == "tflite" and quant != "int8" else "float")) == "keep"
    front = _front(model, random_weights, trust_pickle, bind, to, width, height, tuple(keep_inputs), keep_qdq)
    src, static, ir_source, images, graph, refusal = (front.src, front.static, front.ir_source, front.images,
                                                      front.graph, front.refusal)
    kept_all, kept, qres = front.kept_all, front.kept, front.qres
    inputs = [dict(i, **({"calibrated_with": f"{len(kept_all[i['name']])} value(s), cycled with the images"}
                         if i["role"] == "kept" and quant == "int8" else {})) for i in front.inputs]
    passes: list[PassResult] = list(front.passes)
    if graph is not None:
        applied, chain_out = (), None
        pipeline = "int8-dynamic" if dynamic else quant    # the keys of QUANT_REWRITES
        for name in REWRITES:
            if name not in TARGET_REWRITES[to]:
                res = PassResult(name, False, f"not needed for {to}: {NOT_NEEDED[to]}")
            elif pipeline not in QUANT_REWRITES.get(name, (pipeline,)):
                res = PassResult(name, False, f"not needed for {pipeline}: {QUANT_NOT_NEEDED[name]}")
            else:
                # the rewrites applied so far fix the graph (one that changed nothing left it as it was):
                # precisions that reach the same graph share the proofs
                if applied + (name,) not in front.proofs:
                    front.proofs[applied + (name,)] = prove(graph, name, images, chain_out)
                graph, res, chain_out = front.proofs[applied + (name,)]
                applied += (name,) if res.applied else ()
            passes.append(res)
    reference, ref_kind, ref_out = front.reference, front.ref_kind, front.ref_out
    src_transposes = sum(n.op_type == "Transpose" for n in static.graph.node)
    if graph is None and to != "onnx":
        if temporal or kept or dynamic:     # temporal and kept never both (refused above)
            flag = "--temporal" if temporal else "--dynamic" if dynamic else "--keep-input"
            raise VstError(f"{flag} needs the native converter, which refused this model ({refusal})")
        if to == "coreml":
            result = fallback.emit_coremltools(src.module, quant, io_layout, (width, height), images, ref_out,
                                               ref_kind, passes, out, refusal)
        else:   # PyTorch sources: litert-torch where it can make the file; all else: onnx2tf
            passed_over = None if src.module is None else fallback.litert_torch_unusable(quant, io_layout)
            if src.module is not None and passed_over is None:
                result = fallback.emit_litert_torch(src.module, quant, io_layout, (width, height), images, ref_out,
                                                    ref_kind, passes, out, refusal)
            else:
                result = fallback.emit_onnx2tf(ir_source, quant, io_layout, images, ref_out, ref_kind, passes, out,
                                               refusal, {"litert-torch": passed_over} if passed_over else None)
    else:
        emit = {"tflite": _emit_tflite, "coreml": _emit_coreml, "onnx": _emit_onnx}[to]
        extra = {"temporal": temporal, "dynamic": dynamic, "checks": checks} if to == "tflite" else {}
        if to == "tflite":    # each kept input's values, stacked, in the IR's NCHW
            extra["kept"] = {k: v.transpose(0, 1, 4, 2, 3) if front.nhwc_src else v for k, v in kept_all.items()}
            extra["naive_counts"] = front.naive_transposes.setdefault((applied, io_layout), {})
        if to == "onnx":      # the ONNX file keeps the source's inputs as they are: names, layouts, values
            extra["kept"] = kept_all
        result = emit(graph, ir_source, quant, io_layout, calib_batch, images, ref_out, ref_kind, passes,
                      src_transposes, out, **extra)
        result["conversion_path"] = {"produced_by": "native"}
        if to == "coreml":    # an NCHW program: its kept inputs are multi-arrays in the IR's logical layout
            inputs = [dict(i, shape=list(graph.extra[i["name"]].shape), layout="NCHW (Core ML's)")
                      if i["role"] == "kept" else i for i in inputs]
        if to == "onnx":
            inputs = [dict(i, artifact_name=i["name"]) if i["role"] == "kept" else i for i in inputs]
    outputs = result.pop("outputs", None)
    if src.describe().get("random_weights") and result["fidelity"].get("measured"):
        _ungate(result["fidelity"])
    t_qa = time.perf_counter()
    if checks == "full":
        result["temporal"] = temporal_qa.temporal_check(
            reference, out, width, height, runnable=to != "coreml", random_weights=src.random_weights,
            feeds=(kept if to == "onnx" else _tflite().feeds_for(graph, io_layout)) if kept else None)
    else:
        result["temporal"] = temporal_qa.not_measured(f"left out: conversion checks {checks!r} ({CHECKS[checks]})")
    t_qa = time.perf_counter() - t_qa

    if qres is not None:
        result["fidelity"]["qdq_source"] = qdq.source_fidelity(static, qres, outputs, images, feeds=kept,
                                                               verified_against=ref_out)
    rep = {
        "schema_version": 1,
        "source": src.describe(),
        "model": src.model_record(width, height, static),
        "target": to, "quant": quant, "size": {"width": width, "height": height}, "io_layout": io_layout,
        "inputs": inputs,
        "passes": [p.as_dict() for p in passes], "checks": checks,
        **result,
        "timing": {"conversion_s": round(time.perf_counter() - t0, 3), "temporal_qa_s": round(t_qa, 3)},
        "tool_versions": report_mod.tool_versions(),
    }
    if checks == "full" and outputs is not None and outputs.ndim == 4 and outputs.shape[1] == 3:   # images only
        rep["samples"] = {"photos": report_mod.write_samples(out, verify.EVAL_PHOTOS, outputs)}
    # lets a resuming job tell a finished artifact from a damaged one (vst.pipeline.job.artifact_intact)
    rep["artifact"]["sha256"] = sha256_of(out)
    if profile:
        from vst.runtimes.profile import profile as profile_ops, summary
        rep["profile"] = summary(profile_ops(out, threads=THREADS))
    if calib_from:
        rep["calibration"] = {"images": int(len(calib_batch)), "from": calib_from,
                              "used": quant == "int8" and not dynamic and not temporal}
    report_mod.write(rep, out)
    return rep


@dataclass
class _Front:
    """What a conversion does before it picks a precision: the source, its export and import, the rewrite
    proofs (`proofs`: rewrites tried -> result) and the reference outputs on the verification photos."""
    src: Any
    static: Any
    ir_source: Any
    images: np.ndarray
    graph: Any
    refusal: str | None
    passes: list
    reference: Any
    ref_kind: str
    ref_out: np.ndarray
    qres: Any
    kept_all: dict
    kept: dict
    nhwc_src: bool
    inputs: list
    proofs: dict = field(default_factory=dict)
    naive_transposes: dict = field(default_factory=dict)   # by rewrites applied and I/O layout


# The last front, for a job converting one model at one size to several precisions in a row (vst-run):
# export, import and proofs run once for all of them. Kept for zoo names with random weights, whose weights are
# seeded, so that the name alone fixes the network, and for model files by their content (the default job's
# shipped models: its conversions took 124 s with an export and a front for each precision). An ONNX file's
# external data is not hashed: it would have to change within one job to matter.
_FRONT_CACHE: dict = {}


def _source_identity(model, random_weights, trust_pickle):
    """What fixes the network a model argument names, or None when it cannot be told cheaply."""
    if not isinstance(model, str):
        return None
    path = Path(model)
    if path.is_file():
        return None if random_weights else (str(path.resolve()), sha256_of(path), trust_pickle)
    return model if random_weights else None


def _front(model, random_weights, trust_pickle, bind, to, width, height, keep_inputs, keep_qdq) -> _Front:
    from vst.convert import onnx_import, sources
    ident = _source_identity(model, random_weights, trust_pickle)
    key = (ident, to, width, height, tuple(sorted((bind or {}).items())), keep_inputs) if ident else None
    try:
        hash(key)
    except TypeError:       # a bound array (--bind NAME=FILE.npy): not cached
        key = None
    cached = _FRONT_CACHE.get(key) if key is not None else None
    if cached is not None and (cached.qres is None or cached.qres.kept == keep_qdq):  # the QDQ form only matters for QDQ
        return cached
    src = sources.resolve_source(model, random_weights=random_weights, trust_pickle=trust_pickle)
    if key is not None and random_weights and not src.random_weights:
        key = None      # a checkpoint found by its name with --random-weights: its file may change between calls
    sources.check_size(src, width, height)
    passes: list[PassResult] = []

    # export: torch -> ONNX at this static size (or the given ONNX), extra inputs bound, folded by onnxslim
    onnx_raw = sources.export_onnx(src, width, height)
    if src.style is not None:
        bind = {"style_weights": src.style, **(bind or {})}
    bind, given = dict(bind or {}), set(bind or {})
    kept_all = onnx_import.kept_samples(onnx_raw, keep_inputs, bind)     # takes their --bind values off `bind`
    kept = {k: v[0] for k, v in kept_all.items()}      # the verification value of each kept input
    static, bound = onnx_import.bind_and_fix(onnx_raw, width, height, bind, keep=kept)
    src.bound_inputs = bound
    n_before = len(static.graph.node)
    static = onnx_import.slim(static)
    nhwc_src = src.module is None and onnx_import.image_input(onnx_raw)[1] == "nhwc"
    # where each kept input's verification value came from, and how the artifact lays it out
    inputs = [{"name": onnx_import.image_input(onnx_raw)[0].name, "role": "image"}] + [
        {"name": k, "role": "kept", "artifact_name": input_name(k), "shape": list(v.shape[1:]),
         "layout": "source's (NHWC)" if nhwc_src else "source's",
         "verified_with": f"the first of {len(v)} --bind value(s)" if k in given else
         "a seeded standard-normal draw (no --bind value)"}
        for k, v in kept_all.items()]
    nhwc_note = " (NHWC source: NCHW transposes added at its ends)" if nhwc_src else ""
    passes.append(PassResult("export", True, f"{'torch.onnx (dynamo) at ' if src.module is not None else 'ONNX file fixed at '}"
                             f"1x3x{height}x{width}{nhwc_note}{', bound ' + ', '.join(bound) if bound else ''}; onnxslim: "
                             f"{n_before} -> {len(static.graph.node)} nodes"))
    ir_source = static          # the graph the IR is built from: the source, made float if it is QDQ
    qres = None
    if qdq.has_qdq(static):
        ir_source, qres = qdq.to_float(static, keep=keep_qdq)
        ir_source = onnx_import.slim(ir_source)
        passes.append(PassResult("dequantize", True, qres.detail()))   # listed only for QDQ sources
    images = verify.eval_images(width, height)
    try:
        graph, refusal = onnx_import.to_ir(ir_source, to, kept_all, nhwc_src), None
    except UnsupportedOp as exc:
        if to == "coreml" and src.module is None:     # coremltools has no ONNX frontend
            raise
        graph, refusal = None, str(exc)
        if to == "coreml":  # a PyTorch source: coremltools' own frontend may take it (convert/fallback.py)
            passes.append(PassResult("import", False, f"native import refused ({refusal}); converting with "
                                                      "coremltools' PyTorch frontend"))
        elif to == "onnx":   # the ONNX writer takes the source graph itself; ONNX Runtime runs every ONNX op
            passes.append(PassResult("import", False, f"IR import refused ({refusal}); not needed for onnx: "
                                                      "the source graph is written as it is"))
        else:              # litert-torch or onnx2tf may still take it (convert/fallback.py)
            passes.append(PassResult("import", False, f"native import refused ({refusal}); converting with a "
                                                      "fallback converter (conversion_path says which and why)"))
    if graph is not None:
        out_shape = graph.shapes[graph.output]
        if out_shape[1] == 3 and out_shape[1:] != (3, height, width):
            raise VstError(f"size {width}x{height} does not fit the network's strides: the output would be "
                           f"{graph.shapes[graph.output][3]}x{graph.shapes[graph.output][2]}; use a multiple of 4 "
                           "(or of the network's total stride)")
        passes.append(PassResult("import", True, f"{len(graph.nodes)} IR ops: " +
                                 ", ".join(f"{k} {v}" for k, v in graph.histogram().items())))
    # a QDQ source is verified against its float form (what the artifact computes); what dropping the source's
    # activation rounding costs is measured against the QDQ file itself (qdq.source_fidelity)
    if qres is not None and qres.kept:
        # the kept form claims the QDQ file's own semantics: verified against them (ONNX Runtime with graph
        # optimizations off computes each pair as written; its fused int8 kernels are reported beside)
        reference, ref_kind = sources.reference_fn(src, static, optimize=False, feeds=kept)
        ref_kind += ", QDQ file as given: activation rounding kept"
    else:
        reference, ref_kind = sources.reference_fn(src, ir_source, feeds=kept)
        if qres is not None:
            ref_kind += ", dequantized"
    ref_out = reference(images)
    front = _Front(src, static, ir_source, images, graph, refusal, passes, reference, ref_kind, ref_out,
                   qres, kept_all, kept, nhwc_src, inputs)
    if key is not None:
        _FRONT_CACHE.clear()
        _FRONT_CACHE[key] = front
    return front


def _tflite():
    from vst.convert import tflite      # TensorFlow loads on first use only
    return tflite


def _ungate(fid: dict) -> None:
    """Random weights: the fidelity figures are facts about this untrained network, not a verdict on the
    converter (int8 of a random kunster scores ~20 dB, its activations span no trained range), so the
    threshold is not applied; trained weights keep it."""
    fid["gate_passed_if_trained"] = fid["passed"]
    fid["passed"] = None
    fid["note"] = (f"random weights: PSNR reported, not gated (the {fid['threshold_psnr_db']} dB threshold "
                   "applies to trained weights)")


def _emit_tflite(graph, static, quant, io_layout, calib_batch, images, ref_out, ref_kind, passes, src_t, out,
                 temporal=False, dynamic=False, kept=None, checks="full", naive_counts=None):
    from vst.convert import tflite
    rep, tq, dq = None, None, None
    feeds = tflite.feeds_for(graph, io_layout)     # kept inputs: their verification values
    if quant == "int8" and not temporal and not dynamic:
        rep_layout = [verify.to_layout(b[None], io_layout) for b in calib_batch]

        # every input in the converter's order (image first); kept inputs cycle through their values (the
        # activations after a style input span what all the given styles make, not one style's range)
        calib_feeds = [list(tflite.feeds_for(graph, io_layout, {k: v[i % len(v)] for k, v in (kept or {}).items()})
                            .values()) for i in range(len(rep_layout))]

        def representative():
            for x, f in zip(rep_layout, calib_feeds):
                yield [x, *f]
        rep = representative
    before = None     # a whole second conversion, only to count what the NHWC emission saves
    if checks == "full":
        # the same for every precision of one rewritten graph: counted once per front (naive_counts)
        counts = {} if naive_counts is None else naive_counts
        if "transposes" not in counts:
            naive = tflite.to_tflite(graph, "fp32", io_layout=io_layout, layout="nchw")
            counts["transposes"] = tflite.histogram(tflite.ops(naive)).get("TRANSPOSE", 0)
        before = counts["transposes"]
    if temporal:
        from vst.convert import temporal_quant
        n, _, h, w = graph.input_shape
        data, tq = temporal_quant.quantize(graph, io_layout, w, h, THREADS)
    elif dynamic:
        from vst.convert import temporal_quant
        data = tflite.to_tflite(graph, "int8", io_layout=io_layout, layout="nhwc", dynamic=True)
        dq = temporal_quant.dynamic_record(data)
    else:
        data = tflite.to_tflite(graph, quant, io_layout=io_layout, layout="nhwc", representative=rep)
    ops = tflite.ops(data)
    hist = tflite.histogram(ops)
    after = hist.get("TRANSPOSE", 0)
    passes.append(PassResult("layout", True, f"activations emitted in NHWC, constants laid out at conversion; "
                                            f"I/O {io_layout}; TRANSPOSE {before if before is not None else 'not counted'} -> {after}"))
    passes.append(PassResult("quantize", quant != "fp32", {
        "fp32": "float32 kept",
        "fp16": "float16 weights (DEQUANTIZE to float32 at load)",
        "int8": f"full-integer int8 ops, float I/O, calibrated on {len(calib_batch) if calib_batch is not None else 0} "
                "real images; normalization statistics (squared deviations, variances, rsqrt) kept float"}[quant]
        if tq is None and dq is None else
        f"dynamic-range int8: {dq['int8_weight_ops']} of {dq['conv_ops']} convolutions with int8 per-channel weights, "
        "activations quantized per frame at run time (no calibration); normalization float"
        if dq is not None else
        f"temporal-aware int8: calibrated on {tq['calibration']['frames']} video frames; {len(tq['float_layers'])} of "
        f"{tq['candidates']} conv layers kept float by measured temporal sensitivity; tuning-clip temporal error "
        f"{tq['tuning']['ratio_before']}x -> {tq['tuning']['ratio_after']}x fp32 (target "
        f"{tq['tuning']['target_ratio']}x); normalization statistics float"))
    xnn = tflite.xnnpack_partitions(data, THREADS)
    got = verify.from_layout(tflite.run(data, verify.to_layout(images, io_layout), THREADS, feeds), io_layout)
    fid = verify.fidelity(ref_out, got, quant, ref_kind)
    if not fid["passed"] and checks == "full":
        rows = verify.first_divergence(graph, data, images[0], io_layout, fid["threshold_psnr_db"], feeds)
        fid["per_layer"] = rows
        fid["first_divergence"] = next((r for r in rows if r["below_threshold"]), None)
    passes.append(PassResult("verify", True, f"LiteRT vs {ref_kind} on {len(images)} photos: PSNR "
                                            f"{fid['psnr_db']} dB (threshold {fid['threshold_psnr_db']})"))
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    extra = {"quantization": {"temporal": tq}} if tq is not None else \
        {"quantization": {"dynamic": dq}} if dq is not None else {}
    return {**extra, "op_histogram": hist, "transposes": {"before": before, "after": after},
            "xnnpack": {"delegated_nodes": xnn["delegated_nodes"], "partitions": xnn["partitions"],
                        "total_nodes": xnn["total_nodes"], "threads": THREADS},
            "delegates": {"xnnpack": delegates.xnnpack_verdict(xnn), **delegates.tflite_verdicts(ops)},
            "fidelity": fid, "artifact": {"path": str(out), "bytes": len(data)}, "outputs": got}


def _emit_coreml(graph, static, quant, io_layout, calib_batch, images, ref_out, ref_kind, passes, src_t, out):
    from vst.convert import coreml
    from vst.convert.ir import run_numpy
    model = coreml.to_mlpackage(graph, quant, io_layout)
    ops = coreml.mil_ops(model)
    struct = coreml.structural_checks(model, graph, io_layout)
    passes.append(PassResult("layout", True, f"ML program in NCHW (Core ML's native layout); I/O "
                                            f"{'images (pixel buffers)' if io_layout == 'nhwc' else 'NCHW tensors'}; "
                                            f"transpose {src_t} -> {struct['transposes']}"))
    passes.append(PassResult("quantize", quant != "fp32", coreml.QUANT_DETAIL[quant]))
    ref = np.clip(ref_out, 0, 1) if io_layout == "nhwc" and coreml.image_output(graph) else ref_out

    def ir_note():    # Linux: no Core ML runtime. Check the exact graph the program was built from instead.
        ir = verify.compare(ref_out, run_numpy(graph, images))
        return ("Core ML predicts only on macOS; structural checks ran instead. The IR the ML program was built "
                f"from matches the reference at PSNR {verify._finite(ir['psnr_db'])} dB")
    got, fid = coreml.fidelity(model, images, io_layout, ref, quant, ref_kind, ir_note)
    passes.append(PassResult("verify", True, coreml.verify_detail(struct, fid["measured"])))
    coreml.save(model, out)
    return {"op_histogram": coreml.histogram(ops), "transposes": {"before": src_t, "after": struct["transposes"]},
            "delegates": delegates.coreml_verdicts(ops, "float32" if quant == "fp32" else "float16"),
            "structure": struct, "fidelity": fid, "artifact": {"path": str(out), "bytes": size_of(out)},
            "outputs": got}


def _emit_onnx(graph, static, quant, io_layout, calib_batch, images, ref_out, ref_kind, passes, src_t, out,
               kept: dict | None = None):
    """`kept`: each kept input's values, stacked (the first verifies, all calibrate int8)."""
    from vst.convert import onnx_export
    kept = kept or {}
    model = onnx_export.with_layout(static, io_layout)
    passes.append(PassResult("layout", io_layout == "nhwc", "ONNX Runtime is NCHW-native: " +
                             ("Transpose added at input and output for NHWC I/O" if io_layout == "nhwc"
                              else "NCHW I/O kept")))
    model, qdetail = onnx_export.quantize(model, quant, calib_batch, io_layout, kept)
    passes.append(PassResult("quantize", quant != "fp32", qdetail))
    got = verify.from_layout(onnx_export.run(model, verify.to_layout(images, io_layout),
                                             {k: v[0] for k, v in kept.items()}), io_layout)
    fid = verify.fidelity(ref_out, got, quant, ref_kind)
    passes.append(PassResult("verify", True, f"ONNX Runtime vs {ref_kind}: PSNR {fid['psnr_db']} dB"))
    data = model.SerializeToString()
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    hist = report_mod.op_histogram(n.op_type for n in model.graph.node)
    return {"op_histogram": hist,
            "transposes": {"before": src_t, "after": hist.get("Transpose", 0)},
            "delegates": {}, "fidelity": fid, "artifact": {"path": str(out), "bytes": len(data)}, "outputs": got}
