#!/usr/bin/env python
"""The video figures of docs/stylize.md, in one run on this machine.

    .venv/bin/python scripts/bench_video.py [--work DIR] [--frames 100] [--json out.json]

1. vst-stylize end to end (decode 1080p, fit, LiteRT int8, encode H.264, join) with the shipped alpha=0.25
   stage-2 model converted to int8 TFLite at 480x320, on the paper's 1920x1080 25 fps 21 s clip.
2. Key-frame mode (002 Alg. 1) at K = 2, 5, 10 on the first --frames frames of that clip, same model: time per
   stylized frame, per interpolated frame (flow included, and warp only as 002 counts it), measured speedup over
   stylizing every frame against 002 eq. 6's n/j, MS-SSIM (pytorch-msssim) of interpolated frames against the same
   frames stylized directly, and the temporal error (001 eq. 8) with exact flow on a 20-frame pan over a held-out
   photo at 480x320 (full stylization beside each K).
3. OpenCV DIS (medium) against Farneback: end-point error against exact flow and time per frame, which makes
   DIS the default.
4. Temporal error of every shipped stage-2 model converted to fp32, fp16 and int8 TFLite at 320x240, as the
   ratios int8/fp32 and fp16/fp32 (held-out synthetic clips with exact flow, 8 frames).

Artifacts are kept in --work (default: vst-bench-video/), so a rerun skips conversions. The machine is shared:
absolute times are disturbed by other processes; the speedups are ratios of times taken in the same pass.
"""
from __future__ import annotations

import argparse
import sys
import json
import time
import warnings
from pathlib import Path

from vst.common.cli import run_cli  # noqa: E402
from vst.common.quiet import configure_environment  # noqa: E402  (before TensorFlow loads)

configure_environment()
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from vst.common.images import resize_cover  # noqa: E402
from vst.common.synthclips import Motion, render_clip  # noqa: E402
from vst.metrics.evaluate import evaluate, synthetic_eval_clips  # noqa: E402
from vst.metrics.quality import ms_ssim  # noqa: E402
from vst.metrics.temporal import temporal_error  # noqa: E402
from vst.runtimes.stylizer import ArtifactRunner  # noqa: E402
from vst.stylize.frames import LocalStylizer  # noqa: E402
from vst.stylize.keyframes import Flow, KeySchedule, KeyframeInterpolator, grey  # noqa: E402
from vst.stylize.video import stylize_video  # noqa: E402
from vst.video.clips import clip_masks, held_out_photos  # noqa: E402
from vst.video.codec import decode_rgb, paper_clip  # noqa: E402

STAGE2 = ("kunster.a025-s05-stage2", "kunster.a025-s13-stage2", "kunster.a050-s05-stage2")


def artifact(work: Path, model: str, quant: str, size: tuple[int, int]) -> Path:
    from vst.convert import convert
    out = work / f"{model.replace('.', '_')}_{size[0]}x{size[1]}_{quant}.tflite"
    if not out.is_file():
        convert(model, to="tflite", quant=quant, size=size, out=out)
    return out


def end_to_end(work: Path, model_path: Path) -> dict:
    out = work / "stylized_480x320_int8.mp4"
    out.unlink(missing_ok=True)
    return stylize_video(paper_clip(), str(model_path), out, progress=False)


def keyframes(model_path: Path, n_frames: int) -> dict:
    st = LocalStylizer(str(model_path))
    frames = [resize_cover(f, *st.size) for i, f, _ in decode_rgb(paper_clip()) if i < n_frames]
    st(frames[0])                                    # warm-up
    t0 = time.perf_counter()
    direct = [st(f) for f in frames]
    t_full = (time.perf_counter() - t0) / len(frames)
    # a pan over a held-out photo with exact flow, for the temporal error of each output
    photo = held_out_photos()["coffee"]
    c = render_clip(photo, st.size, 20, Motion(zoom=(1.0, 1.1), pan=(0.3, 0.1), layer_radius=0))
    mask = clip_masks(c)
    pan_direct = np.stack([st(f) for f in c.frames])
    rows = {"full": {"stylize_s_per_frame": t_full, "temporal_error": temporal_error(pan_direct, c.flow_bwd, mask)}}
    for k in (2, 5, 10):
        interp = KeyframeInterpolator(st, KeySchedule("every", k))
        t0 = time.perf_counter()
        outs = [interp(i, f) for i, f in enumerate(frames)]
        wall = time.perf_counter() - t0
        mids = [i for i, (_, key) in enumerate(outs) if not key]
        row = interp.timings.summary()
        row["speedup_wall"] = t_full * len(frames) / wall
        row["ms_ssim_interpolated_vs_direct"] = ms_ssim(np.stack([direct[i] for i in mids]),
                                                        np.stack([outs[i][0] for i in mids]))
        row["ms_ssim_all_vs_direct"] = ms_ssim(np.stack(direct), np.stack([o for o, _ in outs]))
        pan = KeyframeInterpolator(st, KeySchedule("every", k))
        row["temporal_error"] = temporal_error(np.stack([pan(i, f)[0] for i, f in enumerate(c.frames)]),
                                               c.flow_bwd, mask)
        rows[f"K={k}"] = row
    return {"frames": len(frames), "size": list(st.size), "rows": rows}


def flows(size=(480, 320)) -> dict:
    """End-point error against exact flow (masked) and time per frame, interleaved, over the held-out clips."""
    clips = synthetic_eval_clips(size, 6)
    out = {m: {"epe": [], "s": []} for m in ("dis", "farneback")}
    for c in clips:
        for t in range(len(c.frames) - 1):
            a, b = grey(c.frames[t + 1]), grey(c.frames[t])   # flow from frame t+1 to frame t: flow_bwd
            for m in out:
                f = Flow(m)
                t0 = time.perf_counter()
                est = f(a, b)
                out[m]["s"].append(time.perf_counter() - t0)
                err = np.linalg.norm(est - c.flow_bwd[t], axis=-1)[c.mask[t]]
                out[m]["epe"].append(float(err.mean()))
    return {m: {"epe_px": float(np.mean(v["epe"])), "ms_per_frame": 1e3 * float(np.median(v["s"]))}
            for m, v in out.items()}


def temporal_ratios(work: Path) -> dict:
    size = (320, 240)
    clips = synthetic_eval_clips(size, 8)
    res = {}
    for model in STAGE2:
        runners = {q: ArtifactRunner(artifact(work, model, q, size)) for q in ("fp32", "fp16", "int8")}
        e = {q: r["temporal_error"] for q, r in evaluate(runners, clips).items() if q != "input"}
        res[model] = {"temporal_error": e, "int8/fp32": e["int8"] / e["fp32"], "fp16/fp32": e["fp16"] / e["fp32"]}
    return res


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="vst-bench-video")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--json")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    int8 = artifact(work, "kunster.a025-s05-stage2", "int8", (480, 320))
    res = {"end_to_end": end_to_end(work, int8)}
    e = res["end_to_end"]
    print(f"vst-stylize, kunster.a025-s05-stage2 int8 TFLite 480x320, paper clip 1920x1080 25 fps {e['frames']} "
          f"frames: {e['end_to_end_fps']} fps end to end ({e['seconds']} s)")
    res["keyframes"] = keyframes(int8, args.frames)
    kf = res["keyframes"]["rows"]
    print(f"key frames on the first {res['keyframes']['frames']} frames (DIS flow); full stylization "
          f"{kf['full']['stylize_s_per_frame'] * 1e3:.1f} ms/frame, temporal error {kf['full']['temporal_error']:.4f}")
    print(f"{'K':>5} {'stylize ms':>10} {'interp ms':>9} {'warp ms':>7} {'speedup':>7} {'warp-only':>9} "
          f"{'eq.6':>5} {'MS-SSIM':>7} {'E_temp':>7}")
    for k, r in kf.items():
        if k == "full":
            continue
        print(f"{k:>5} {r['stylize_s_per_frame'] * 1e3:10.1f} {r['interpolate_s_per_frame'] * 1e3:9.2f} "
              f"{r['warp_only_s_per_frame'] * 1e3:7.2f} {r['speedup_measured']:7.2f} "
              f"{r['speedup_measured_warp_only']:9.2f} {r['speedup_eq6_prediction']:5.2f} "
              f"{r['ms_ssim_interpolated_vs_direct']:7.4f} {r['temporal_error']:7.4f}")
    res["flow"] = flows()
    for m, r in res["flow"].items():
        print(f"flow {m:<9}: end-point error {r['epe_px']:.3f} px, {r['ms_per_frame']:.1f} ms/frame at 480x320")
    res["temporal_ratios"] = temporal_ratios(work)
    for m, r in res["temporal_ratios"].items():
        print(f"{m}: temporal error int8/fp32 {r['int8/fp32']:.2f}, fp16/fp32 {r['fp16/fp32']:.3f} (320x240)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    sys.exit(run_cli(main))  # third-party chatter filtered; -v keeps it
