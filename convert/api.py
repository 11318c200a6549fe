"""`convert()`: a model to a verified phone artifact and its report, as named steps: the front (export, import,
reference outputs; vst.convert.front), the rewrites (vst.convert.passes), the target's emitter with its layout,
quantize and verify steps (vst.convert.targets), then the temporal QA and the record (vst.convert.report)."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from vst.common.cli import check_pixels
from vst.common.errors import InternalError, VstError
from vst.common.fsutil import check_creatable_dir, check_not_input, sha256_of, size_of
from vst.common.records import report_path
from vst.convert import front as front_mod, passes as rewrites, qdq, report as report_mod, targets, verify
from vst.convert import temporal as temporal_qa
from vst.convert.passes import PassResult
from vst.convert.verify import THREADS
from vst.runtimes.onnxfile import external_data_files
from vst.runtimes.table import LAYOUTS, PRECISIONS

TARGETS = tuple(targets.REGISTRY)
QUANTS = PRECISIONS
QDQ_FORMS = ("keep", "float")
SUFFIX = {name: t.suffix for name, t in targets.REGISTRY.items()}
# What convert(checks=...) verifies. "proofs" is for speed studies of random-weight networks (vst-run --job table2):
# it keeps what makes the artifact the same function as its source (each rewrite proven exact, the artifact's PSNR
# against the source on the photos) and leaves out what describes a trained network's output quality.
CHECKS = {
    "full": "rewrite proofs, fidelity, per-layer divergence when it fails, temporal QA, sample PNGs, layout-naive "
            "transpose count, the GPU accelerator run (TFLite)",
    "proofs": "rewrite proofs and fidelity only: no temporal QA, sample PNGs, per-layer divergence, layout-naive "
              "transpose count or GPU accelerator run",
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
    package = targets.get(to).package
    if out.is_dir() and package is None:
        raise VstError(f"output {out} is a folder; give a file path")
    if out.is_dir() and not _replaceable_package(out, package[1]):
        # replacing a package deletes the folder: only one vst wrote may go, never a user's folder of files
        raise VstError(f"output {out} is an existing folder that is not a {package[0]} written by vst-convert; "
                       "refusing to delete it: give another -o or move the folder away")
    if len(out.name.encode()) > 200:
        raise VstError(f"output name {out.name[:40]}... is {len(out.name.encode())} bytes long; file systems take "
                       "255 at most with the report's suffix: give a shorter -o")
    check_creatable_dir(out.parent)  # created when the artifact is written, not before the model is known good
    return width, height, out


def _check_not_input(model, calib, bind, out) -> None:
    """The artifact and the report beside it must not replace what the conversion reads: the model, --calib,
    --bind .npy files and an ONNX model's external weights."""
    path = model.split(":")[0] if isinstance(model, str) else model if isinstance(model, os.PathLike) else None
    read = [model if isinstance(model, (str, os.PathLike)) else None, calib,
            *(v for v in (bind or {}).values() if isinstance(v, (str, os.PathLike))),
            *(external_data_files(path) if path is not None else ())]
    check_not_input(out, read)
    check_not_input(report_path(out), read, "the report")


def _replaceable_package(path: Path, package_entries: tuple[str, ...]) -> bool:
    """An empty folder, or a package vst-convert wrote: its report lies beside it and it holds only package
    entries, the first of them among them."""
    entries = {p.name for p in path.iterdir()}
    return not entries or (package_entries[0] in entries and entries <= set(package_entries)
                           and report_path(path).is_file())


def default_out(model: Any, to: str, quant: str, size: tuple[int, int], temporal: bool = False,
                dynamic: bool = False) -> str:
    """The artifact's file name when none is given: <model>-<W>x<H>-<precision>.<ext>, as vst-run names them."""
    from vst.common.records import artifact_file, precision_name
    from vst.models.names import artifact_stem
    tag = precision_name(quant, "temporal" if temporal else "dynamic" if dynamic else None)
    return artifact_file(artifact_stem(str(model)), size[0], size[1], tag, targets.get(to).file_tag + SUFFIX[to])


def convert(model: Any, to: str = "tflite", quant: str = "fp32", size: tuple[int, int] = (480, 320),
            out: str | os.PathLike | None = None, calib: str | os.PathLike | None = None, io_layout: str = "nhwc",
            random_weights: bool = False, trust_pickle: bool = False, bind: dict | None = None,
            profile: bool = False, temporal: bool = False, qdq_form: str | None = None,
            keep_inputs: tuple[str, ...] = (), dynamic: bool = False, checks: str = "full",
            gpu_check: bool = True) -> dict:
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
    `dynamic` (tflite and executorch int8 only): dynamic-range int8, int8 weights and activations quantized per
    frame at run time.
    `checks`: "full", or "proofs" for studies of speed (random weights): the rewrite proofs and the artifact's
    fidelity are kept; the temporal QA, sample PNGs, per-layer divergence and the layout-naive transpose count,
    which say nothing about an untrained network's speed, are left out (see CHECKS).
    `gpu_check` (tflite, full checks): run the artifact on LiteRT's GPU accelerator (vst.convert.gpu_check); the
    report's tflite_gpu verdict is then measured, not read off the allow-list.
    Raises VstError (one line) on bad input; nothing is left at `out` then.
    """
    t0 = time.perf_counter()
    if out is not None:     # first: an output onto an input is refused whatever else is wrong with it
        _check_not_input(model, calib, bind, out)
    width, height, out = _check_args(to, quant, size, io_layout, out)
    if profile and to not in ("tflite", "executorch"):
        raise VstError(f"--profile times TFLite and ExecuTorch artifacts on this machine; drop it for --to {to}")
    if temporal and (to != "tflite" or quant != "int8"):
        raise VstError("--temporal applies to --to tflite --quant int8 only")
    if qdq_form not in (None, *QDQ_FORMS):
        raise VstError(f"unknown --qdq {qdq_form!r}; use one of {', '.join(QDQ_FORMS)}")
    if qdq_form == "keep" and quant == "int8":
        raise VstError("--qdq keep makes float artifacts that round like the QDQ source; --quant int8 re-quantizes "
                       "the float form with its own calibration: drop --qdq keep or use --quant fp32")
    if keep_inputs and temporal:
        raise VstError("--temporal with --keep-input is not done: bind the input for a temporal-aware int8 file")
    if dynamic and (to not in ("tflite", "executorch") or quant != "int8"):
        raise VstError("--dynamic applies to --quant int8 with --to tflite or --to executorch only")
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
    front = front_mod.build(model, random_weights, trust_pickle, bind, to, width, height, tuple(keep_inputs),
                            keep_qdq)
    src, qres, kept = front.src, front.qres, front.kept
    inputs = [dict(i, **({"calibrated_with": f"{len(front.kept_all[i['name']])} value(s), cycled with the images"}
                         if i["role"] == "kept" and quant == "int8" else {})) for i in front.inputs]
    target = targets.get(to)
    passes: list[PassResult] = list(front.passes)
    graph, applied = _rewrite(front, target, "int8-dynamic" if dynamic else quant, passes)
    # temporal and kept never both; ExecuTorch's module path quantizes dynamically itself, and a TFLite fallback's
    # file is quantized by ai-edge-quantizer (targets/tflite.py)
    if graph is None and target.needs_ir and (temporal or kept or (dynamic and to not in ("executorch", "tflite"))):
        flag = "--temporal" if temporal else "--dynamic" if dynamic else "--keep-input"
        raise VstError(f"{flag} needs the native converter, which refused this model ({front.refusal})")
    conversion = targets.Conversion(front, graph, quant, io_layout, (width, height), calib_batch, passes, applied,
                                    temporal, dynamic, checks, gpu_check)
    emitted = target.emit_refused(conversion) if graph is None and target.needs_ir else target.emit(conversion)
    targets.write_artifact(out, emitted.artifact)
    result = {**emitted.record, "artifact": {"path": str(out), "bytes": size_of(out)},
              "conversion_path": emitted.conversion_path}
    t_acc = time.perf_counter()
    result.update(target.accelerator_checks(conversion, out, emitted))
    t_acc = time.perf_counter() - t_acc
    inputs = target.artifact_inputs(inputs, conversion)
    outputs = emitted.outputs
    if src.describe().get("random_weights") and result["fidelity"].get("measured"):
        _ungate(result["fidelity"])
    t_qa = time.perf_counter()
    if checks == "full":
        result["temporal"] = temporal_qa.temporal_check(
            front.reference, out, width, height, runnable=target.runs_here, random_weights=src.random_weights,
            feeds=target.temporal_feeds(conversion) if kept else None,
            runner=target.temporal_runner(conversion, out))
    else:
        result["temporal"] = temporal_qa.not_measured(f"left out: conversion checks {checks!r} ({CHECKS[checks]})")
    t_qa = time.perf_counter() - t_qa

    if qres is not None:
        result["fidelity"]["qdq_source"] = qdq.source_fidelity(front.static, qres, outputs, front.images,
                                                               feeds=kept, verified_against=front.ref_out)
    if not rewrites.in_step_order([p.name for p in passes]):
        raise InternalError(f"conversion steps out of their order {rewrites.STEPS}: {[p.name for p in passes]}")
    rep = {
        "schema_version": 1,
        "source": src.describe(),
        "model": src.model_record(width, height, front.static),
        "target": to, "quant": quant, "size": {"width": width, "height": height}, "io_layout": io_layout,
        "inputs": inputs,
        "passes": [p.as_dict() for p in passes], "checks": checks,
        **result,
        "timing": {"conversion_s": round(time.perf_counter() - t0, 3), "temporal_qa_s": round(t_qa, 3),
                   "accelerator_checks_s": round(t_acc, 3)},
        "tool_versions": report_mod.tool_versions(),
    }
    if checks == "full" and outputs is not None and outputs.ndim == 4 and outputs.shape[1] == 3:   # images only
        rep["samples"] = {"photos": report_mod.write_samples(out, verify.EVAL_PHOTOS, outputs)}
    # lets a resuming job tell a finished artifact from a damaged one (vst.pipeline.job.artifact_intact)
    rep["artifact"]["sha256"] = sha256_of(out)
    if profile:
        from vst.runtimes.profile import profile as profile_ops, summary
        if to == "executorch":
            from vst.runtimes.executorch import profile as profile_ops
        rep["profile"] = summary(profile_ops(out, threads=THREADS))
    if calib_from:
        rep["calibration"] = {"images": int(len(calib_batch)), "from": calib_from,
                              "used": quant == "int8" and not dynamic and not temporal}
    report_mod.write(rep, out)
    return rep


def _rewrite(front, target, precision: str, passes: list) -> tuple[Any, tuple[str, ...]]:
    """Run the rewrites in their one order, each proven on the photos or passed over with its reason; the
    proofs are kept in the front, so precisions that reach the same graph share them. Returns the rewritten
    graph (None where the native import refused) and the rewrites applied."""
    graph, applied, chain_out = front.graph, (), None
    if graph is None:
        return None, applied
    for name in rewrites.ORDER:
        reason = rewrites.REGISTRY[name].skip_reason(target.name, target.rewrite_note, precision)
        if reason is not None:
            res = PassResult(name, False, reason)
        else:
            # the rewrites applied so far fix the graph (one that changed nothing left it as it was)
            if applied + (name,) not in front.proofs:
                front.proofs[applied + (name,)] = rewrites.prove(graph, name, front.images, chain_out)
            graph, res, chain_out = front.proofs[applied + (name,)]
            applied += (name,) if res.applied else ()
        passes.append(res)
    return graph, applied


def _ungate(fid: dict) -> None:
    """Random weights: the fidelity figures are facts about this untrained network, not a verdict on the
    converter (int8 of a random kunster scores ~20 dB, its activations span no trained range), so the
    threshold is not applied; trained weights keep it."""
    fid["gate_passed_if_trained"] = fid["passed"]
    fid["passed"] = None
    fid["note"] = (f"random weights: PSNR reported, not gated (the {fid['threshold_psnr_db']} dB threshold "
                   "applies to trained weights)")
