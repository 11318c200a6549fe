"""Temporal QA of an artifact: its temporal error (001 eq. 8) over its source model's, on short clips with exact
flow at the artifact's own size. Per-frame PSNR passes int8 artifacts that flicker several times more than their
source; this ratio catches them.

Kept apart from the quantization code on purpose: convert() calls `temporal_check` once the artifact is written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vst.convert.report import write_samples
from vst.metrics.evaluate import synthetic_eval_clips
from vst.metrics.temporal import temporal_error

# An artifact may flicker at most 25% more than its source. Temporal fine-tuning (stage 2) cut the shipped models'
# error to 0.40-0.56 of stage 1 (models/trained/README.md), so a larger ratio gives back a large share of it.
THRESHOLD_RATIO = 1.25
QA_FRAMES = 4
# one pan and one zoom clip, over the two held-out photos
QA_CLIPS = ("coffee-pan", "grace_hopper-zoom")


def temporal_check(reference: Callable[[np.ndarray], np.ndarray], artifact: Path, width: int, height: int,
                   runnable: bool, random_weights: bool, feeds: dict | None = None, runner=None,
                   samples: bool = True) -> dict:
    """The "temporal" record of a conversion report. `reference` maps an NCHW float batch to the source model's
    outputs (the fidelity reference); the artifact runs through vst.runtimes at its fixed size and layout (or
    through `runner`, an ArtifactRunner of it on another delegate). `samples`: keep the first clip in and out
    beside the artifact."""
    clips = synthetic_eval_clips((width, height), QA_FRAMES, only=QA_CLIPS)
    rec = {"threshold_ratio": THRESHOLD_RATIO, "clips": len(clips), "frames": QA_FRAMES,
           "flow": "exact (synthetic clips over held-out photos)", "measured": False, "passed": None,
           "ratio": None, "error_artifact": None, "error_source": None}
    if not runnable:
        rec["note"] = "the artifact cannot run on this host (Core ML predicts only on macOS)"
        return rec
    from vst.runtimes.stylizer import ArtifactRunner
    # feeds: kept inputs, the values `reference` runs with
    runner = runner or ArtifactRunner(artifact, feeds=feeds)
    e_src, e_art = [], []
    for i, c in enumerate(clips):
        x = c.frames.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        ref = np.asarray(reference(x))
        if ref.ndim != 4 or ref.shape[1] != 3:
            rec["note"] = "the model's output is not an RGB image: no temporal error"
            return rec
        got = runner(torch.from_numpy(x)).numpy()
        if i == 0 and samples:
            # the first clip in and out, kept beside the report: vst-report loops it (input | fp32 | int8)
            rec["clip"] = {"input": list(write_samples(artifact, _names("clip_input", x), x).values()),
                           "output": list(write_samples(artifact, _names("clip_output", got), got).values())}
        e_src.append(temporal_error(np.clip(ref, 0, 1), c.flow_bwd, c.mask))
        e_art.append(temporal_error(np.clip(got, 0, 1), c.flow_bwd, c.mask))
    es, ea = float(np.mean(e_src)), float(np.mean(e_art))
    ratio = ea / es if es > 0 else None
    rec.update(measured=True, error_source=round(es, 6), error_artifact=round(ea, 6),
               ratio=round(ratio, 4) if ratio is not None else None)
    if random_weights:
        rec["note"] = "random weights: measured, not judged (their flicker is no property of a shipped model)"
    elif ratio is not None:
        rec["passed"] = ratio <= THRESHOLD_RATIO
    return rec


def not_measured(note: str) -> dict:
    """The "temporal" record of a conversion that did not run the QA."""
    return {"threshold_ratio": THRESHOLD_RATIO, "clips": 0, "frames": 0, "measured": False, "passed": None,
            "ratio": None, "error_artifact": None, "error_source": None, "note": note}


def _names(prefix: str, frames) -> tuple[str, ...]:
    return tuple(f"{prefix}_{t:02d}" for t in range(len(frames)))
