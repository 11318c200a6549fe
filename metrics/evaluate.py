"""Evaluate stylizers on video clips: temporal error (001 eq. 8), fidelity to a reference, detail energy."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vst.common.images import to_tensor_batch
from vst.common.synthclips import Motion, render_clip
from vst.metrics.temporal import detail_energy, psnr, temporal_error
from vst.video.clips import clip_masks, held_out_photos, video_clips
from vst.runtimes.stylizer import Runner


@dataclass
class EvalClip:
    name: str
    frames: np.ndarray   # T x H x W x 3 uint8
    flow_bwd: np.ndarray  # (T-1) x H x W x 2
    mask: np.ndarray     # (T-1) x H x W bool


# Fixed motions for the held-out evaluation clips: a pan with a sliding disc, and a zoom with a slower disc.
EVAL_MOTIONS = {"pan": Motion(zoom=(1.0, 1.0), pan=(0.2, 0.08), layer_speed=(3.0, 1.0)),
                "zoom": Motion(zoom=(1.0, 1.2), pan=(0.0, 0.0), layer_speed=(-2.0, 1.5), layer_radius=0.15)}


def _wh(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def synthetic_eval_clips(size: int | tuple[int, int] = 128, n_frames: int = 8,
                         only: tuple[str, ...] | None = None) -> list[EvalClip]:
    """Clips over the held-out photos (never used for training), with exact flow and masks; size is a square
    side or (W, H), e.g. a converted artifact's fixed input size; `only` renders just the clips so named
    (e.g. "coffee-pan")."""
    size = _wh(size)
    photos = held_out_photos()
    names = list(photos)
    clips = []
    for i, bg in enumerate(names):
        fg = names[(i + 1) % len(names)]
        for mname, motion in EVAL_MOTIONS.items():
            if only is not None and f"{bg}-{mname}" not in only:
                continue
            c = render_clip(photos[bg], size, n_frames, motion, photos[fg])
            clips.append(EvalClip(f"{bg}-{mname}", c.frames, c.flow_bwd, clip_masks(c)))
    return clips


def video_eval_clips(folder: str, size: int | tuple[int, int] = 128, n_frames: int = 8,
                     per_video: int = 2) -> list[EvalClip]:
    """Runs of consecutive frames of the user's videos, with cached Farneback flow and Ruder masks."""
    return [EvalClip(f"video{i}", c.frames, c.flow_bwd, c.valid)
            for i, c in enumerate(video_clips(folder, _wh(size), n_frames, per_video))]


def stylize_frames(runner: Runner, frames: np.ndarray, chunk: int = 8) -> torch.Tensor:
    outs = []
    with torch.no_grad():
        for i in range(0, len(frames), chunk):
            outs.append(runner(to_tensor_batch(list(frames[i:i + chunk]))).float())
    return torch.cat(outs)


def evaluate(runners: dict[str, Runner], clips: list[EvalClip], reference: Runner | None = None) -> dict[str, dict]:
    """name -> {"temporal_error", "psnr_vs_reference" (if reference), "detail_energy"}, averaged over clips.

    "input" is the temporal error of the unstylized frames: the floor that resampling alone leaves.
    """
    refs = [stylize_frames(reference, c.frames) for c in clips] if reference else None
    results: dict[str, dict] = {"input": {"temporal_error": float(np.mean(
        [temporal_error(c.frames, c.flow_bwd, c.mask) for c in clips]))}}
    for name, runner in runners.items():
        errs, psnrs, details = [], [], []
        for i, c in enumerate(clips):
            y = stylize_frames(runner, c.frames)
            errs.append(temporal_error(y, c.flow_bwd, c.mask))
            details.append(detail_energy(y))
            if refs is not None:
                psnrs.append(psnr(y, refs[i]))
        row = {"temporal_error": float(np.mean(errs)), "detail_energy": float(np.mean(details))}
        if refs is not None:
            row["psnr_vs_reference"] = float(np.mean(psnrs))
        results[name] = row
    return results
