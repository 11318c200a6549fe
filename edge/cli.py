"""`vst-edge`: serve a stylizer to phones on an edge server (002), send a clip's frames to it, and measure the
round trip per resolution the way 002 Table 5 lays it out.

  vst-edge serve -m kunster.a025-s05-stage2 [--host 127.0.0.1 --port 8500]
  vst-edge stylize http://127.0.0.1:8500 --input clip.mp4 --out frames/ [--frames N --size WxH]
  vst-edge bench -m kunster.a025-s05-stage2 [--resolutions 512x256,...] [--delay 0,0.03] [--out t.json]
"""
from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path
from typing import Sequence

from vst.common.cli import (number, parse_size, port_or_zero, positive_int, positive_seconds, run_cli, seconds,
                            size_arg, threads)
from vst.common.errors import VstError
from vst.common.fsutil import check_creatable_dir, check_not_input, prune_on_failure
from vst.edge.server import Limits, serve


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise VstError(f"--host {host!r} is not an address of this machine ({exc})") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        raise VstError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port (0 = any free)") \
            from None
    sock.listen(128)
    return sock


def cmd_serve(args) -> int:
    limits = Limits(max_bytes=args.max_bytes, max_pixels=args.max_pixels, max_queue=args.max_queue,
                    max_batch=args.max_batch, window=args.window, timeout=args.timeout)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        print(f"vst-edge: warning: listening on {args.host}: every machine that can reach it may send frames "
              "(the server has no authentication)", file=sys.stderr, flush=True)
    sock = _bind(args.host, args.port)

    def ready(info: str):
        d = json.loads(info)
        host = f"[{d['host']}]" if ":" in d["host"] else d["host"]
        print(f"vst-edge: serving {d['model']} on http://{host}:{d['port']} (Ctrl-C stops)", flush=True)
    serve(args.model, args.host, args.port, limits, threads=args.threads, ready=ready, sock=sock)
    return 0


def cmd_stylize(args) -> int:
    from vst.edge.clip import stylize_clip
    check_not_input(args.out, [args.input], "--out")
    check_creatable_dir(Path(args.out))
    with prune_on_failure(args.out):      # finished frames are kept for the rerun; an empty folder is not
        stylize_clip(args.url, args.input, args.out, frames=args.frames, size=args.size, fmt=args.format,
                     timeout=args.timeout)
    return 0


def cmd_bench(args) -> int:
    from vst.edge.bench import run_bench
    sizes = [parse_size(s) for s in args.resolutions.split(",") if s.strip()]
    try:
        delays = [seconds(d) for d in args.delay.split(",") if d.strip()]
    except argparse.ArgumentTypeError:
        raise VstError(f"--delay {args.delay!r} is not a comma-separated list of seconds, each 0 or more (e.g. "
                       "0,0.03)") from None
    if not delays:
        raise VstError("--delay names no delay; give seconds such as 0 or 0,0.03")
    if args.out:
        check_not_input(args.out, [args.model], "--out")
        check_creatable_dir(Path(args.out).parent)
    run_bench(args.model, sizes, frames=args.frames, delays=delays, fmt=args.format, interval=args.interval,
              out=Path(args.out) if args.out else None, url=args.url, threads=args.threads)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vst-edge", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="stylize frames sent over HTTP (PNG or JPEG in, same out)")
    d = Limits()
    s.add_argument("-m", "--model", required=True, help="any vst model name: shipped weights, checkpoint, "
                                                        ".onnx[:N], .tflite, multistyle26:N")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback only)")
    s.add_argument("--port", type=port_or_zero, default=8500, help="1-65535; 0 picks a free port (printed on start)")
    s.add_argument("--max-bytes", type=positive_int, default=d.max_bytes, help="largest accepted body (413 beyond)")
    s.add_argument("--max-pixels", type=positive_int, default=d.max_pixels,
                   help="largest accepted frame (413 beyond)")
    s.add_argument("--max-queue", type=positive_int, default=d.max_queue, help="frames waiting at most (503 beyond)")
    s.add_argument("--max-batch", type=positive_int, default=d.max_batch, help="frames stylized together at most")
    s.add_argument("--window", type=seconds, default=d.window, help="seconds to wait for more frames to batch")
    s.add_argument("--timeout", type=positive_seconds, default=d.timeout, help="seconds per request (504 beyond)")
    s.add_argument("--threads", type=threads, default=2, help="torch threads of the stylizer")
    s.set_defaults(func=cmd_serve)

    c = sub.add_parser("stylize", help="send every frame of a clip to an edge server; resumable")
    c.add_argument("url", help="the server, e.g. http://127.0.0.1:8500")
    c.add_argument("--input", required=True, help="video file")
    c.add_argument("--out", required=True, help="folder for frame_NNNNN.png (finished frames are kept)")
    c.add_argument("--frames", type=positive_int, help="first N frames only")
    c.add_argument("--size", type=size_arg, help="resize frames to WxH first (cover + centre crop)")
    c.add_argument("--format", choices=("png", "jpeg"), default="png")
    c.add_argument("--timeout", type=positive_seconds, default=30.0, help="seconds per frame's round trip")
    c.set_defaults(func=cmd_stylize)

    b = sub.add_parser("bench", help="002 Table 5: round trip and payload per resolution, speedup of eq. 6")
    b.add_argument("-m", "--model", required=True, help="model the local server runs (and the local baseline)")
    b.add_argument("--url", help="use this running server instead of starting one on loopback")
    b.add_argument("--resolutions", default="512x256,768x384,1024x512,1920x1080")
    b.add_argument("--frames", type=number(int, 2), default=10, help="frames per resolution (2 at least)")
    b.add_argument("--delay", default="0", help="seconds added to every round trip (a farther edge); a list "
                                                "such as 0,0.03 measures each, one column per delay")
    b.add_argument("--interval", type=positive_int, default=10, help="key-frame interval for the eq. 6 speedup")
    b.add_argument("--format", choices=("png", "jpeg"), default="png")
    b.add_argument("--threads", type=threads, default=2)
    b.add_argument("--out", help="write the table as JSON here too")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


def entry() -> int:
    return run_cli(main, resumable=True)


if __name__ == "__main__":
    raise SystemExit(entry())
