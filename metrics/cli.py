"""`vst-eval-temporal`: temporal error (001 eq. 8) of stylizers on videos, with optional fidelity to a reference."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from vst.common.cli import check_pixels, number, positive_int, run_cli, side_or_size_arg, threads
from vst.common.errors import VstError
from vst.common.fsutil import atomic_write_text, check_creatable_dir, check_not_input
from vst.metrics.evaluate import evaluate, synthetic_eval_clips, video_eval_clips
from vst.runtimes.stylizer import load_runner
from vst.video.flow import FLOW_BACKENDS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vst-eval-temporal", description=__doc__)
    p.add_argument("models", nargs="+", metavar="MODEL",
                   help="any model name: vst checkpoint, shipped weights (kunster.a025-s05-stage2), TorchScript, "
                        ".pt2, model.onnx[:STYLE], multistyle26:STYLE, or a converted .tflite/.pte artifact (at its "
                        "own size)")
    p.add_argument("--videos", help="folder of videos (flow by OpenCV Farneback, cached); default: synthetic "
                                    "clips over held-out photos with exact flow")
    p.add_argument("--sintel", metavar="DIR",
                   help="001 Table 2's protocol: MPI Sintel layout (final/<scene>/frame_XXXX.png, flow/<scene>/*.flo, "
                        "occlusions/, invalid/); prints one row per model, one column per scene")
    p.add_argument("--scenes", help="with --sintel: comma-separated scenes (default: Alley_2, Ambush_5, Bandage_2, "
                                    "Market_6, Temple_2 where present, else all)")
    p.add_argument("--flow", default="gt", choices=("gt",) + FLOW_BACKENDS,
                   help="with --sintel: warp with the ground-truth flow (default, as 001) or an OpenCV estimate, "
                        "whose end-point error against the ground truth is printed too")
    p.add_argument("--size", type=side_or_size_arg, help="frame size: a square side (128) or WxH (480x320); default: the fixed size "
                                   "of the artifacts given, else 128 (Sintel: its own frame size)")
    p.add_argument("--frames", type=number(int, 2), help="consecutive frames per clip (default 8; with --sintel: all)")
    p.add_argument("--per-video", type=positive_int, default=2, help="clips taken from each video (default 2)")
    p.add_argument("--reference", help="also report PSNR against this model's output (e.g. the teacher)")
    p.add_argument("--json", dest="json_out", help="write the results as JSON to this file")
    p.add_argument("--threads", type=threads, default=2)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    import torch
    args = build_parser().parse_args(argv)
    if args.frames is None and not args.sintel:
        args.frames = 8
    if args.json_out:
        check_not_input(args.json_out, [*args.models, args.reference, args.videos, args.sintel], "--json")
        if Path(args.json_out).is_dir():
            raise VstError(f"--json {args.json_out} is a folder; give a file path")
        check_creatable_dir(Path(args.json_out).parent)
    if args.sintel and args.videos:
        raise VstError("give --sintel or --videos, not both")
    if (args.scenes or args.flow != "gt") and not args.sintel:
        raise VstError("--scenes and --flow apply to --sintel DIR only")
    runners = {spec: load_runner(spec, command="vst-eval-temporal") for spec in args.models}
    fixed = {r.size for r in runners.values() if r.size}
    if args.sintel:
        return _sintel(args, runners, fixed)
    if args.size:
        size = args.size
    elif len(fixed) > 1:
        raise VstError(f"the artifacts take different sizes ({', '.join(f'{w}x{h}' for w, h in sorted(fixed))}); "
                       "evaluate each at its own size")
    else:
        size = next(iter(fixed), (128, 128))
    if min(size) < 16:
        raise VstError(f"--size must be at least 16 pixels a side, got {size[0]}x{size[1]}")
    check_pixels(*size)
    torch.set_num_threads(args.threads)
    clips = (video_eval_clips(args.videos, size, args.frames, args.per_video) if args.videos
             else synthetic_eval_clips(size, args.frames))
    reference = load_runner(args.reference, command="vst-eval-temporal") if args.reference else None
    results = evaluate(runners, clips, reference)
    print(f"{len(clips)} clips x {args.frames} frames at {size[0]}x{size[1]} "
          f"({'videos in ' + args.videos if args.videos else 'synthetic, held-out photos'})")
    print(f"{'model':<48} {'E_temporal':>10} {'PSNR/ref':>9} {'detail':>7}")
    for name, row in results.items():
        ref = f"{row['psnr_vs_reference']:9.2f}" if "psnr_vs_reference" in row else f"{'-':>9}"
        det = f"{row['detail_energy']:7.4f}" if "detail_energy" in row else f"{'-':>7}"
        label = Path(name).name if Path(name).is_file() else name
        print(f"{label[-48:]:<48} {row['temporal_error']:10.4f} {ref} {det}")
    if args.json_out:
        atomic_write_text(args.json_out, json.dumps({"clips": len(clips), "frames": args.frames, "size": list(size),
                                                     "videos": args.videos, "reference": args.reference,
                                                     "results": results}, indent=2))
    return 0


def _label(name: str) -> str:
    return Path(name).name if Path(name).is_file() else name


def _sintel(args, runners, fixed) -> int:
    import torch
    from vst.metrics.sintel import format_table, sintel_scenes, sintel_table
    size = None
    if args.size:
        size = args.size
    elif len(fixed) > 1:
        raise VstError("the artifacts take different sizes; evaluate each at its own size")
    elif fixed:
        size = next(iter(fixed))
    if size:
        check_pixels(*size)
    torch.set_num_threads(args.threads)
    scenes = sintel_scenes(args.sintel, args.scenes.split(",") if args.scenes else None, args.frames, size=size)
    table = sintel_table(runners, scenes, args.flow)
    h, w = scenes[0].frames.shape[1:3]
    count = f"up to {args.frames}" if args.frames else "all"
    print(f"MPI Sintel layout {args.sintel}: {len(scenes)} scenes x {count} frames at {w}x{h}, "
          f"E_temporal (001 eq. 8), flow: {'ground truth' if args.flow == 'gt' else args.flow}")
    for line in format_table(table, _label):
        print(line)
    if args.json_out:
        atomic_write_text(args.json_out, json.dumps({"sintel": args.sintel, "frames": args.frames, "size": [w, h],
                                                     **table}, indent=2))
    return 0


def entry() -> int:
    return run_cli(main)


if __name__ == "__main__":
    raise SystemExit(entry())
