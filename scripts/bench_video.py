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

The measurements are vst.stylize.measure's (end_to_end, keyframe_study, flow_accuracy, precision_ratios); the
artifacts come from vst.convert.convert and are kept in --work (default: vst-bench-video/), so a rerun skips
conversions. The machine is shared: absolute times are disturbed by other processes; the speedups are ratios of
times taken in the same pass. --models and --ks are for quick checks.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vst.common.cli import positive_int, run_cli
from vst.common.quiet import configure_environment

configure_environment()                                    # before TensorFlow loads

STAGE2 = ("kunster.a025-s05-stage2", "kunster.a025-s13-stage2", "kunster.a050-s05-stage2")


def artifact(work: Path, model: str, quant: str, size: tuple[int, int]) -> Path:
    from vst.convert import convert
    out = work / f"{model.replace('.', '_')}_{size[0]}x{size[1]}_{quant}.tflite"
    if not out.is_file():
        convert(model, to="tflite", quant=quant, size=size, out=out)
    return out


def main(argv=None) -> int:
    import torch
    from vst.stylize.measure import end_to_end, flow_accuracy, keyframe_study, precision_ratios
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="vst-bench-video")
    p.add_argument("--frames", type=positive_int, default=100)
    p.add_argument("--ks", type=lambda s: [positive_int(k) for k in s.split(",")], default=[2, 5, 10],
                   help="key-frame intervals K, comma-separated")
    p.add_argument("--models", type=lambda s: s.split(","), default=list(STAGE2),
                   help="shipped models whose precisions' temporal errors are compared (part 4)")
    p.add_argument("--video", help="clip for parts 1 and 2 (default: the paper's 1080p clip)")
    p.add_argument("--json")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    int8 = artifact(work, "kunster.a025-s05-stage2", "int8", (480, 320))
    res = {"end_to_end": end_to_end(int8, work / "stylized_480x320_int8.mp4", args.video)}
    e = res["end_to_end"]
    print(f"vst-stylize, kunster.a025-s05-stage2 int8 TFLite 480x320, {args.video or 'paper clip 1920x1080 25 fps'} "
          f"{e['frames']} frames: {e['end_to_end_fps']} fps end to end ({e['seconds']} s)")
    res["keyframes"] = keyframe_study(int8, args.frames, args.ks, args.video)
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
    res["flow"] = flow_accuracy()
    for m, r in res["flow"].items():
        print(f"flow {m:<9}: end-point error {r['epe_px']:.3f} px, {r['ms_per_frame']:.1f} ms/frame at 480x320")
    size = (320, 240)
    res["temporal_ratios"] = {m: precision_ratios({q: artifact(work, m, q, size) for q in ("fp32", "fp16", "int8")},
                                                  size) for m in args.models}
    for m, r in res["temporal_ratios"].items():
        print(f"{m}: temporal error int8/fp32 {r['int8/fp32']:.2f}, fp16/fp32 {r['fp16/fp32']:.3f} (320x240)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # third-party chatter filtered; -v keeps it
