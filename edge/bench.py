"""002 Table 5 on this machine: per resolution, the round trip of one key frame to the edge server, the bytes it
moves, stylizing the same frame locally, interpolating an intermediate frame (Farneback flow + bilinear warp,
002 Alg. 1), and the speedup of 002 eq. 6 at a key-frame interval K:

    speedup = n * t_local / (n/K * t_edge + (n - n/K) * t_interp)

The edge runs on loopback (a subprocess started here, or --url), so the round trip is encoding + HTTP + the
server's stylization + decoding, without a radio; `--delay` adds a fixed network delay to every round trip.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vst.common.errors import VstError
from vst.common.fsutil import atomic_write_text
from vst.common.images import resize_cover, sample_photos
from vst.runtimes.remote import edge_keyframe_stylizer
from vst.runtimes.stylizer import load_runner


class LocalServer:
    """`vst-edge serve` in a subprocess on loopback at a free port; stopped on exit."""

    def __init__(self, model: str, threads: int = 2, extra: list[str] | None = None, start_timeout: float = 120):
        cmd = [sys.executable, "-m", "vst.edge.cli", "serve", "-m", model, "--port", "0", "--threads", str(threads),
               *(extra or [])]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = None
        deadline = time.monotonic() + start_timeout
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if "serving" in line or not line:
                break
        if "http://" not in line:
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.stop()
            raise VstError(f"the edge server did not start: {err.strip().splitlines()[-1] if err.strip() else line}")
        self.url = line.split(" on ", 1)[1].split()[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _interp_seconds(frames: list[np.ndarray], styled: np.ndarray) -> float:
    """Median time to make one intermediate frame from a stylized key frame: flow key -> frame, then warp."""
    from vst.video.flow import farneback, warp
    times = []
    key = frames[0]
    src = torch.from_numpy(styled).permute(2, 0, 1)[None].float()
    for f in frames[1:]:
        t0 = time.perf_counter()
        flow = torch.from_numpy(farneback(key, f)).permute(2, 0, 1)[None]
        warp(src, flow)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run_bench(model: str, sizes: list[tuple[int, int]], frames: int = 10, delay: float = 0.0, fmt: str = "png",
              interval: int = 10, out: Path | None = None, url: str | None = None, threads: int = 2,
              log=lambda s: print(s, flush=True)) -> list[dict]:
    if frames < 2 or interval < 1 or delay < 0:
        raise VstError("--frames must be at least 2, --interval at least 1 and --delay >= 0")
    torch.set_num_threads(threads)
    local = load_runner(model)
    photos = list(sample_photos().values())
    server = None if url else LocalServer(model, threads=threads)
    rows = []
    try:
        remote = edge_keyframe_stylizer(url or server.url, fmt=fmt, delay=delay, timeout=120)
        for w, h in sizes:
            clip = [resize_cover(photos[i % len(photos)], w, h) for i in range(frames)]
            remote(clip[0])  # warm-up: first-call allocations on both sides
            remote.history.clear()
            styled = [remote(f) for f in clip]
            t_local = []
            for f in clip:
                x = torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255
                t0 = time.perf_counter()
                local(x)
                t_local.append(time.perf_counter() - t0)
            t_edge = float(np.median([e.seconds for e in remote.history]))
            t_interp = _interp_seconds(clip, styled[0])
            t_loc = float(np.median(t_local))
            n = 300  # 002 section 4.4's clip length
            keys = -(-n // interval)
            rows.append({"resolution": f"{w}x{h}", "edge_round_trip_s": t_edge,
                         "server_s": float(np.median([e.server_seconds for e in remote.history])),
                         "bytes_up": int(np.mean([e.bytes_up for e in remote.history])),
                         "bytes_down": int(np.mean([e.bytes_down for e in remote.history])),
                         "local_stylize_s": t_loc, "interpolate_s": t_interp, "interval": interval,
                         "speedup_eq6": n * t_loc / (keys * t_edge + (n - keys) * t_interp),
                         "frames": frames, "delay_s": delay, "format": fmt})
            r = rows[-1]
            log(f"{r['resolution']}: edge {t_edge * 1e3:.1f} ms, local {t_loc * 1e3:.1f} ms, "
                f"interpolate {t_interp * 1e3:.1f} ms")
    finally:
        if server:
            server.stop()
    log(table(rows, model))
    if out:
        atomic_write_text(out, json.dumps({"model": model, "rows": rows}, indent=1))
    return rows


def table(rows: list[dict], model: str) -> str:
    lines = [f"model {model}, loopback" + (f" + {rows[0]['delay_s'] * 1e3:g} ms injected delay" if rows and
                                           rows[0]["delay_s"] else "") + f", {rows[0]['format'] if rows else ''}",
             "| resolution | edge round trip (s) | of which server (s) | KiB up / down | local stylize (s) "
             "| interpolate (s) | speedup eq. 6, K=%d |" % (rows[0]["interval"] if rows else 0),
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['resolution']} | {r['edge_round_trip_s']:.4f} | {r['server_s']:.4f} | "
                     f"{r['bytes_up'] / 1024:.0f} / {r['bytes_down'] / 1024:.0f} | {r['local_stylize_s']:.4f} | "
                     f"{r['interpolate_s']:.4f} | {r['speedup_eq6']:.1f} |")
    return "\n".join(lines)
