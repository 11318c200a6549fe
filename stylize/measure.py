"""The video figures of docs/stylize.md as functions: vst-stylize end to end, key-frame mode (002 Alg. 1) against
stylizing every frame (time per frame, speedup, MS-SSIM, temporal error), DIS against Farneback flow, and the
temporal error of an artifact's precisions as ratios to fp32. scripts/bench_video.py runs them all in one pass.

Times are wall clock on this machine: on a shared one, compare only ratios of times taken in the same pass."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from vst.common.errors import VstError

KEYFRAME_KS = (2, 5, 10)
FLOW_METHODS = ("dis", "farneback")


def end_to_end(model: str | Path, out: str | Path, video: str | Path | None = None) -> dict:
    """vst-stylize on `video` (default: the paper's 1920x1080 25 fps clip) with `model`, written to `out` (replaced
    if there); returns stylize_video's record (frames, seconds, end_to_end_fps, ...)."""
    from vst.stylize.video import stylize_video
    from vst.video.codec import paper_clip
    out = Path(out)
    out.unlink(missing_ok=True)
    return stylize_video(video or paper_clip(), str(model), out, progress=False)


def keyframe_study(model: str | Path, frames: int = 100, ks: Sequence[int] = KEYFRAME_KS,
                   video: str | Path | None = None, pan_frames: int = 20,
                   size: tuple[int, int] | None = None) -> dict:
    """Key frames every K (each of `ks`) on the first `frames` frames of `video` (default: the paper's clip) with
    DIS flow, against stylizing every frame: per K the interpolator's timings (KeyframeInterpolator.timings'
    summary: stylize, interpolate and warp-only time per frame, measured and eq. 6 speedups), the wall-clock
    speedup, MS-SSIM of the interpolated frames (and of all) against the same frames stylized directly, and the
    temporal error (001 eq. 8, exact flow) of a `pan_frames`-frame pan over a held-out photo. `size`: for a model
    without a fixed size (an artifact has its own). Returns {frames, size, rows: {"full": ..., "K=k": ...}}."""
    from vst.common.images import resize_cover
    from vst.common.synthclips import Motion, render_clip
    from vst.metrics.quality import ms_ssim
    from vst.metrics.temporal import temporal_error
    from vst.stylize.frames import LocalStylizer
    from vst.stylize.keyframes import KeySchedule, KeyframeInterpolator
    from vst.video.clips import clip_masks, held_out_photos
    from vst.video.codec import decode_rgb, paper_clip
    if frames < 2 or not ks or min(ks) < 2:
        raise VstError(f"the key-frame study needs at least 2 frames and K >= 2, got {frames} frames and K {list(ks)}")
    st = LocalStylizer(str(model), size)
    clip = [resize_cover(f, *st.size) for i, f, _ in decode_rgb(video or paper_clip()) if i < frames]
    st(clip[0])                                    # warm-up
    t0 = time.perf_counter()
    direct = [st(f) for f in clip]
    t_full = (time.perf_counter() - t0) / len(clip)
    # a pan over a held-out photo with exact flow, for the temporal error of each output
    pan_clip = render_clip(held_out_photos()["coffee"], st.size, pan_frames,
                           Motion(zoom=(1.0, 1.1), pan=(0.3, 0.1), layer_radius=0))
    mask = clip_masks(pan_clip)
    pan_direct = np.stack([st(f) for f in pan_clip.frames])
    rows = {"full": {"stylize_s_per_frame": t_full,
                     "temporal_error": temporal_error(pan_direct, pan_clip.flow_bwd, mask)}}
    for k in ks:
        interp = KeyframeInterpolator(st, KeySchedule("every", k))
        t0 = time.perf_counter()
        outs = [interp(i, f) for i, f in enumerate(clip)]
        wall = time.perf_counter() - t0
        mids = [i for i, (_, key) in enumerate(outs) if not key]
        row = interp.timings.summary()
        row["speedup_wall"] = t_full * len(clip) / wall
        row["ms_ssim_interpolated_vs_direct"] = ms_ssim(np.stack([direct[i] for i in mids]),
                                                        np.stack([outs[i][0] for i in mids])) if mids else None
        row["ms_ssim_all_vs_direct"] = ms_ssim(np.stack(direct), np.stack([o for o, _ in outs]))
        pan = KeyframeInterpolator(st, KeySchedule("every", k))
        row["temporal_error"] = temporal_error(np.stack([pan(i, f)[0] for i, f in enumerate(pan_clip.frames)]),
                                               pan_clip.flow_bwd, mask)
        rows[f"K={k}"] = row
    return {"frames": len(clip), "size": list(st.size), "rows": rows}


def flow_accuracy(size: tuple[int, int] = (480, 320), n_frames: int = 6,
                  methods: Sequence[str] = FLOW_METHODS) -> dict:
    """End-point error against exact flow (masked) and median time per frame of each flow method, interleaved
    frame by frame, over the held-out synthetic clips: {method: {epe_px, ms_per_frame}}."""
    from vst.metrics.evaluate import synthetic_eval_clips
    from vst.stylize.keyframes import Flow, grey
    clips = synthetic_eval_clips(size, n_frames)
    for m in methods:
        Flow(m)                                                # a bad name is one line before any clip is built
    out = {m: {"epe": [], "s": []} for m in methods}
    for c in clips:
        for t in range(len(c.frames) - 1):
            a, b = grey(c.frames[t + 1]), grey(c.frames[t])   # flow from frame t+1 to frame t: flow_bwd
            for m in out:
                f = Flow(m)                                    # a fresh estimator per frame pair, as measured
                t0 = time.perf_counter()
                est = f(a, b)
                out[m]["s"].append(time.perf_counter() - t0)
                out[m]["epe"].append(float(np.linalg.norm(est - c.flow_bwd[t], axis=-1)[c.mask[t]].mean()))
    return {m: {"epe_px": float(np.mean(v["epe"])), "ms_per_frame": 1e3 * float(np.median(v["s"]))}
            for m, v in out.items()}


def precision_ratios(artifacts: dict[str, str | Path], size: tuple[int, int], n_frames: int = 8,
                     base: str = "fp32") -> dict:
    """Temporal error (001 eq. 8, held-out synthetic clips with exact flow, vst.metrics.evaluate) of the same
    model's artifacts, keyed by precision, and each one's ratio to `base`'s: {temporal_error: {precision: e},
    "<precision>/<base>": ratio, ...}."""
    from vst.metrics.evaluate import evaluate, synthetic_eval_clips
    from vst.runtimes.stylizer import ArtifactRunner
    if base not in artifacts:
        raise VstError(f"precision ratios need the {base} artifact, got {', '.join(artifacts) or 'none'}")
    runners = {q: ArtifactRunner(Path(p)) for q, p in artifacts.items()}
    e = {q: r["temporal_error"] for q, r in evaluate(runners, synthetic_eval_clips(size, n_frames)).items()
         if q != "input"}
    return {"temporal_error": e, **{f"{q}/{base}": e[q] / e[base] for q in artifacts if q != base}}
