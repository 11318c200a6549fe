"""Temporal-aware int8 (`vst-convert --quant int8 --temporal`): keep float the few ops whose quantization noise
makes the video flicker, chosen per model by a measured sensitivity pass.

Why: int8 rounding noise is not tied to the scene. Under sub-pixel motion it lands differently in every frame,
so it adds to the temporal error (001 eq. 8, an RMS) even when per-frame PSNR against fp32 looks fine. The pass
calibrates on video frames, quantizes once, then measures on tuning clips (synthetic, exact flow, photos and
motions that the held-out evaluation clips never use) how much each op's int8 costs in temporal error, and
keeps float the most costly ops until the int8 file's temporal error is within `target` of fp32's.
Calibration is done once; each candidate is a re-quantization of the calibrated model (cheap, no re-calibration).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from vst.common.images import sample_photos
from vst.common.synthclips import Motion, render_clip
from vst.metrics.evaluate import EvalClip
from vst.metrics.temporal import temporal_error
from vst.video.clips import HELD_OUT_PHOTOS, clip_masks

# Tuning material: photos outside HELD_OUT_PHOTOS (which the evaluation clips use) and motions unlike the
# evaluation's pan and zoom (vst.metrics.evaluate.EVAL_MOTIONS), so figures on the held-out clips are unbiased.
TUNE_PHOTOS = ("astronaut", "chelsea", "rocket")
TUNE_MOTIONS = {"drift": Motion(zoom=(1.15, 1.0), pan=(-0.12, 0.1), layer_speed=(-2.5, 1.5)),
                "tilt": Motion(zoom=(1.0, 1.1), pan=(0.05, -0.2), layer_speed=(1.5, -2.0), layer_radius=0.12)}
TUNE_FRAMES = 6
TARGET_RATIO = 1.05          # temporal error of the int8 file / fp32's, on the tuning clips
MAX_FLOAT_FRACTION = 0.5     # never keep more than this share of the layers float
CLIP_RANGES = True           # activation ranges: MSE-optimal clipping (tflite.mse_range) instead of min/max
assert not set(TUNE_PHOTOS) & set(HELD_OUT_PHOTOS)
log = logging.getLogger(__name__)


def tuning_clips(width: int, height: int, n_frames: int = TUNE_FRAMES) -> list[EvalClip]:
    photos = sample_photos(TUNE_PHOTOS)
    names = list(photos)
    clips = []
    for i, bg in enumerate(names):
        fg = names[(i + 1) % len(names)]
        mname, motion = list(TUNE_MOTIONS.items())[i % len(TUNE_MOTIONS)]
        c = render_clip(photos[bg], (width, height), n_frames, motion, photos[fg])
        clips.append(EvalClip(f"{bg}-{mname}", c.frames, c.flow_bwd, clip_masks(c)))
    return clips


def calibration_frames(width: int, height: int) -> np.ndarray:
    """Frames of the tuning clips (NCHW float32 in [0, 1]): int8 ranges seen on moving video, not stills."""
    frames = np.concatenate([c.frames for c in tuning_clips(width, height)])
    return np.ascontiguousarray(frames.transpose(0, 3, 1, 2)).astype(np.float32) / 255.0


def clips_temporal_error(run: Callable[[np.ndarray], np.ndarray], clips: list[EvalClip]) -> float:
    """Mean temporal error over `clips`; `run` maps NCHW float frames to NCHW float outputs."""
    errs = []
    for c in clips:
        x = np.ascontiguousarray(c.frames.transpose(0, 3, 1, 2)).astype(np.float32) / 255.0
        errs.append(temporal_error(np.clip(run(x), 0, 1), c.flow_bwd, c.mask))
    return float(np.mean(errs))


@dataclass
class Choice:
    float_layers: list[str]              # candidates (layers) kept float, beyond statistics
    candidates: int                      # candidates considered
    fp32_error: float                    # tuning clips
    int8_error: float                    # tuning clips, plain int8 (statistics float only)
    chosen_error: float                  # tuning clips, with float_layers float
    sensitivity: list[dict] = field(default_factory=list)   # per candidate: error with it alone kept float
    reached_target: bool = False

    def as_dict(self) -> dict:
        return {"float_layers": self.float_layers, "candidates": self.candidates,
                "tuning": {"fp32_temporal_error": round(self.fp32_error, 6),
                           "int8_temporal_error": round(self.int8_error, 6),
                           "chosen_temporal_error": round(self.chosen_error, 6),
                           "ratio_before": round(self.int8_error / self.fp32_error, 4),
                           "ratio_after": round(self.chosen_error / self.fp32_error, 4),
                           "target_ratio": TARGET_RATIO, "reached_target": self.reached_target},
                "sensitivity": self.sensitivity}


def choose_float_ops(quantize: Callable[[list[str]], bytes], candidates: list[str],
                     run: Callable[[bytes, np.ndarray], np.ndarray], fp32: bytes, clips: list[EvalClip],
                     target: float = TARGET_RATIO, max_fraction: float = MAX_FLOAT_FRACTION) -> Choice:
    """Greedy mixed precision. `quantize(layers)` gives an int8 file with those candidates float too.

    Sensitivity: the temporal error with each candidate alone kept float (one re-quantization each). Then ops
    are added in order of that gain until the tuning error is within `target` x fp32, or `max_fraction` of the
    candidates are float; a candidate that does not lower the error when added is dropped again.
    """
    def err(model: bytes) -> float:
        return clips_temporal_error(lambda x: run(model, x), clips)

    e32 = err(fp32)
    e8 = err(quantize([]))
    log.info("tuning clips: fp32 %.5f, int8 %.5f (%.3fx)", e32, e8, e8 / e32)
    sens = []
    for name in candidates:
        sens.append({"layer": name, "temporal_error": round(err(quantize([name])), 6)})
        log.info("sensitivity %s: %.3fx fp32 when float", name, sens[-1]["temporal_error"] / e32)
    order = sorted(sens, key=lambda r: r["temporal_error"])
    chosen: list[str] = []
    best = e8
    limit = max(1, int(max_fraction * len(candidates)))
    for row in order:
        if best <= target * e32 or len(chosen) >= limit:
            break
        if row["temporal_error"] >= e8:
            break                                   # ops sorted by gain: the rest do not help alone
        trial = err(quantize(chosen + [row["layer"]]))
        log.info("greedy + %s: %.3fx fp32", row["layer"], trial / e32)
        if trial < best:
            chosen.append(row["layer"])
            best = trial
    return Choice(chosen, len(candidates), e32, e8, best, sens, best <= target * e32)


CONV_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"}
# ops that carry no rounding of their own (they move int8 values); keeping them float only adds conversions
_NO_ROUNDING = {"RESHAPE", "SLICE", "CONCATENATION", "STRIDED_SLICE", "GATHER", "PAD", "TRANSPOSE", "QUANTIZE",
                "DEQUANTIZE", "RESIZE_NEAREST_NEIGHBOR", "DEPTH_TO_SPACE"}


def layers(float_ops: list[dict], statistics: set[str]) -> dict[str, list[str]]:
    """Ops in execution order cut into layers, each led by a convolution: the conv, its normalization and
    activation, up to the next conv (ops before the first conv join it). Keeping single ops float would
    requantize their output right away; a layer is the unit whose float keeps its noise out of the next conv.
    Layer name: the name of its convolution's output. Statistics ops are float already and left out.
    Measured (kunster a025 stage 2, 320x240): no single layer kept float lowers the tuning error by more than
    4% of fp32's, so the unit is a whole layer and the choice greedy over many."""
    out: dict[str, list[str]] = {}
    pending: list[str] = []
    current = None
    for o in float_ops:
        if o["op"] in CONV_OPS:
            key = _source_conv(o["name"])
            if key == current:               # another parity of the same rewritten upsampling conv
                out[current].append(o["name"])
                continue
            current = key
            out[current] = pending + [o["name"]]
            pending = []
        elif o["name"] not in statistics and o["op"] not in _NO_ROUNDING:
            (out[current] if current is not None else pending).append(o["name"])
    if pending and current is not None:
        out[current] += pending
    return out


def _source_conv(op_name: str) -> str:
    """The layer an op's name belongs to: the parity convolutions that nearest_conv_subpixel makes of one
    upsampling conv (`<conv>/parityRC`) are one layer."""
    first = op_name.split(";")[-1]
    return re.sub(r"/parity\d\d.*$", "", first) if "/parity" in first else op_name


def precisions(model: bytes) -> list[dict]:
    """Per op of an int8/mixed file: its name, type and the precision it computes in."""
    from vst.convert.tflite import ops
    rows = []
    for o in ops(model):
        if o["op"] in ("QUANTIZE", "DEQUANTIZE"):
            continue
        rows.append({"op": o["name"], "type": o["op"],
                     "precision": "int8" if "int8" in o["dtypes"] else "float32"})
    return rows


def quantize(graph, io_layout: str, width: int, height: int, threads: int = 2) -> tuple[bytes, dict]:
    """The temporal-aware int8 file of `graph` at WxH and its report record (`quantization.temporal`)."""
    from vst.convert import tflite, verify
    frames = calibration_frames(width, height)
    rep_layout = [verify.to_layout(f[None], io_layout) for f in frames]

    def rep():
        for x in rep_layout:
            yield [x]

    q = tflite.Int8Quantizer(graph, io_layout, "nhwc", rep)
    clipped = q.clip_ranges(rep_layout) if CLIP_RANGES else None
    groups = layers(q.float_ops, set(q.statistics))
    candidates = list(groups)

    def run(model: bytes, x: np.ndarray) -> np.ndarray:
        return verify.from_layout(tflite.run(model, verify.to_layout(x, io_layout), threads), io_layout)

    def quantize_layers(names: list[str]) -> bytes:
        return q.model([op for n in names for op in groups[n]])

    choice = choose_float_ops(quantize_layers, candidates, run, q.float_model, tuning_clips(width, height))
    data = quantize_layers(choice.float_layers)
    per_op = precisions(data)
    rec = {"method": "video-frame calibration + greedy float ops by measured temporal sensitivity",
           "calibration": {"frames": int(len(frames)), "from": f"synthetic clips over {', '.join(TUNE_PHOTOS)} "
                                                             f"({', '.join(TUNE_MOTIONS)})"},
           "activation_ranges": {"method": "mse-optimal clipping of calibrated min/max", **clipped}
           if clipped else {"method": "calibrated min/max"},
           "tuning_clips": {"photos": list(TUNE_PHOTOS), "motions": list(TUNE_MOTIONS), "frames": TUNE_FRAMES},
           **choice.as_dict(),
           "float_op_count": sum(r["precision"] == "float32" for r in per_op), "op_count": len(per_op),
           "per_op": per_op}
    return data, rec


def dynamic_record(model: bytes) -> dict:
    """Report record of a dynamic-range int8 file (`vst-convert --quant int8 --dynamic`): which ops hold int8
    weights (the converter leaves float the convolutions with few weights), every op's precision."""
    per_op = [{**r, "precision": "int8-weights" if r["precision"] == "int8" else r["precision"]}
              for r in precisions(model)]
    convs = [r for r in per_op if r["type"] in CONV_OPS]
    return {"method": "dynamic-range int8: int8 per-channel weights, activations quantized per frame at run time",
            "conv_ops": len(convs), "int8_weight_ops": sum(r["precision"] == "int8-weights" for r in convs),
            "per_op": per_op}
