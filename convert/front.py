"""What a conversion does before it picks a precision: resolve the source, export and fix it at the asked size,
import it into the IR, and run the reference on the verification photos. One front serves every precision of a
model at one size (CACHE)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vst.common.errors import VstError
from vst.common.fsutil import sha256_of
from vst.convert import qdq, targets, verify
from vst.convert.ir import UnsupportedOp, input_name
from vst.convert.passes import PassResult


@dataclass
class Front:
    """The source, its export and import, the rewrite proofs (`proofs`: rewrites tried -> result) and the
    reference outputs on the verification photos."""
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
CACHE: dict = {}


def _source_identity(model, random_weights, trust_pickle):
    """What fixes the network a model argument names, or None when it cannot be told cheaply."""
    if not isinstance(model, str):
        return None
    path = Path(model)
    if path.is_file():
        return None if random_weights else (str(path.resolve()), sha256_of(path), trust_pickle)
    return model if random_weights else None


def build(model, random_weights, trust_pickle, bind, to, width, height, keep_inputs, keep_qdq) -> Front:
    from vst.convert import onnx_import, sources
    ident = _source_identity(model, random_weights, trust_pickle)
    key = (ident, to, width, height, tuple(sorted((bind or {}).items())), keep_inputs) if ident else None
    try:
        hash(key)
    except TypeError:       # a bound array (--bind NAME=FILE.npy): not cached
        key = None
    cached = CACHE.get(key) if key is not None else None
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
        note = targets.get(to).refused_import_note(src, str(exc))
        if note is None:
            raise
        graph, refusal = None, str(exc)
        passes.append(PassResult("import", False, note))
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
    front = Front(src, static, ir_source, images, graph, refusal, passes, reference, ref_kind, ref_out,
                   qres, kept_all, kept, nhwc_src, inputs)
    if key is not None:
        CACHE.clear()
        CACHE[key] = front
    return front
