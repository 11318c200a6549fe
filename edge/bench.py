"""002 Table 5 on this machine: per resolution, the round trip of one key frame to the edge server, the bytes it
moves, stylizing the same frame locally, interpolating an intermediate frame (Farneback flow + bilinear warp,
002 Alg. 1), and the speedup of 002 eq. 6 at a key-frame interval K:

    speedup = n * t_local / (n/K * t_edge + (n - n/K) * t_interp)

The edge runs on loopback (a subprocess started here, or --url), so the round trip is encoding + HTTP + the
server's stylization + decoding, without a radio; each `--delay` adds a fixed network delay to every round trip
and gets its own column, the way 002 Table 5 has one per server.
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
    src = torch.from_numpy(np.array(styled)).permute(2, 0, 1)[None].float()  # decoded frames are read-only
    for f in frames[1:]:
        t0 = time.perf_counter()
        flow = torch.from_numpy(farneback(key, f)).permute(2, 0, 1)[None]
        warp(src, flow)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _median(values) -> float:
    return float(np.median(list(values)))


def run_bench(model: str, sizes: list[tuple[int, int]], frames: int = 10, delays: list[float] = (0.0,),
              fmt: str = "png", interval: int = 10, out: Path | None = None, url: str | None = None,
              threads: int = 2, log=lambda s: print(s, file=sys.stderr, flush=True)) -> list[dict]:
    """One row per (resolution, delay). Per resolution the same `frames` photos go to the edge once per delay
    (after one warm-up frame) and are stylized locally once; prints the table to stdout, writes JSON to `out`."""
    delays = list(delays)
    if frames < 2 or interval < 1 or not delays or min(delays) < 0:
        raise VstError("--frames must be at least 2, --interval at least 1 and every --delay >= 0")
    if len(set(delays)) != len(delays):
        raise VstError(f"--delay lists a value twice: {','.join(f'{d:g}' for d in delays)}")
    torch.set_num_threads(threads)
    local = load_runner(model)
    photos = list(sample_photos().values())
    server = None if url else LocalServer(model, threads=threads)
    rows = []
    try:
        remote = edge_keyframe_stylizer(url or server.url, fmt=fmt, timeout=600)
        for w, h in sizes:
            clip = [resize_cover(photos[i % len(photos)], w, h) for i in range(frames)]
            remote.delay = 0.0
            styled = remote(clip[0])  # warm-up: first-call allocations on both sides
            t_local = []
            for f in clip:
                x = torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255
                t0 = time.perf_counter()
                local(x)
                t_local.append(time.perf_counter() - t0)
            t_loc = _median(t_local)
            t_interp = _interp_seconds(clip, styled)
            n = 300  # 002 section 4.4's clip length
            keys = -(-n // interval)
            for delay in delays:
                remote.delay = delay
                remote.history.clear()
                for f in clip:
                    remote(f)
                hist = remote.history
                t_edge = _median(e.seconds for e in hist)
                rows.append({"resolution": f"{w}x{h}", "delay_s": delay, "edge_round_trip_s": t_edge,
                             "server_s": _median(e.server_seconds for e in hist),
                             # what 002 Table 5 reports: the frame's trip, without the stylization
                             "network_s": _median(e.seconds - e.server_seconds for e in hist),
                             "bytes_up": int(np.mean([e.bytes_up for e in hist])),
                             "bytes_down": int(np.mean([e.bytes_down for e in hist])),
                             "local_stylize_s": t_loc, "interpolate_s": t_interp, "interval": interval,
                             "speedup_eq6": n * t_loc / (keys * t_edge + (n - keys) * t_interp),
                             "frames": frames, "format": fmt, "threads": threads})
                log(f"{w}x{h}, delay {delay * 1e3:g} ms: edge round trip {t_edge * 1e3:.1f} ms "
                    f"(network {rows[-1]['network_s'] * 1e3:.1f} ms), local {t_loc * 1e3:.1f} ms, "
                    f"interpolate {t_interp * 1e3:.1f} ms")
    finally:
        if server:
            server.stop()
    print(table(rows, model), flush=True)
    if out:
        atomic_write_text(out, json.dumps({"model": model, "rows": rows}, indent=1))
    return rows


def _delay_name(delay: float) -> str:
    return "loopback" if delay == 0 else f"loopback + {delay * 1e3:g} ms"


def table(rows: list[dict], model: str) -> str:
    """002 Table 5's layout (a row per resolution, a latency column per server: here per injected delay), then
    the round trips with the server's share in brackets and the rest of eq. 6 in the same row."""
    if not rows:
        return ""
    delays = list(dict.fromkeys(r["delay_s"] for r in rows))
    by = {(r["resolution"], r["delay_s"]): r for r in rows}
    first = rows[0]
    head = (["Resolution"] + [f"network, {_delay_name(d)} (s)" for d in delays]
            + [f"round trip (server), {_delay_name(d)} (s)" for d in delays]
            + ["KiB up / down", "local stylize (s)", "interpolate (s)"]
            + [f"speedup eq. 6, K={first['interval']}, {_delay_name(d)}" for d in delays])
    lines = [f"Latency (in seconds) of sending one frame to the edge server: {model}, {first['format']}, "
             f"median of {first['frames']} frames, {first['threads']} torch threads per side",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for res in dict.fromkeys(r["resolution"] for r in rows):
        rs = [by[(res, d)] for d in delays]
        cells = ([res] + [f"{r['network_s']:.4f}" for r in rs]
                 + [f"{r['edge_round_trip_s']:.3f} ({r['server_s']:.3f})" for r in rs]
                 + [f"{rs[0]['bytes_up'] / 1024:.0f} / {rs[0]['bytes_down'] / 1024:.0f}",
                    f"{rs[0]['local_stylize_s']:.3f}", f"{rs[0]['interpolate_s']:.3f}"]
                 + [f"{r['speedup_eq6']:.1f}" for r in rs])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
