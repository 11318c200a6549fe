"""Live stylization (vst-live, stylize/cli.py): stylize as frames arrive, dropping what the model cannot keep up
with, and report delivered FPS, drop ratio and capture-to-output latency.

A capture thread publishes frames at the source's pace (a camera's own, a file's rate or --fps) into a one-frame
slot; the model takes the newest frame when it is free, so a frame overwritten before the model took it is
dropped (as a phone camera pipeline with a latest-frame policy does). Output goes to a window when a display
exists, otherwise (or with -o) to an MP4 at the source's rate, each frame at its capture time. Ctrl-C stops the
run as q does and keeps what was recorded.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from vst.common.errors import VstError
from vst.common.fsutil import atomic_path
from vst.stylize.frames import LocalStylizer, fit
from vst.video.codec import H264Writer, decode_rgb, probe


class Source:
    """Frames with their capture times, paced like a camera. `.frames()` yields (index, rgb, t_capture)."""

    def __init__(self, spec: str, fps: float | None):
        self.spec = spec
        if spec.isdigit():
            self.camera = int(spec)
            level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)   # a missing camera is our one line
            try:
                # OpenCV takes an index that fits an int; past that it raises instead of failing to open
                cap = cv2.VideoCapture(self.camera) if self.camera < 2**31 else None
            finally:
                cv2.utils.logging.setLogLevel(level)
            if cap is None or not cap.isOpened():
                if cap is not None:
                    cap.release()
                raise VstError(f"camera {self.camera} does not exist or cannot be opened; give another index or a "
                               "video file")
            self.cap = cap
            self.fps = fps or cap.get(cv2.CAP_PROP_FPS) or 30.0
            self.size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        else:
            self.camera = None
            path = Path(spec)
            if not path.is_file():
                raise VstError(f"source {spec} is neither a camera index nor an existing video file")
            info = probe(path)
            if info.frames < 1:
                raise VstError(f"{spec} holds no video frames; give a video with at least one frame")
            self.path, self.fps, self.size = path, fps or info.fps, (info.width, info.height)
        if not 0 < self.fps <= MAX_FPS:
            raise VstError(f"source {spec} runs at {self.fps} fps; give --fps (above 0, at most {MAX_FPS})")

    def frames(self):
        if self.camera is not None:
            i = 0
            while True:
                ok, bgr = self.cap.read()
                if not ok:
                    return
                yield i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), time.perf_counter()
                i += 1
        t0 = time.perf_counter()
        for i, rgb, _ in decode_rgb(self.path):
            due = t0 + i / self.fps
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            yield i, rgb, time.perf_counter()

    def close(self):
        if self.camera is not None:
            self.cap.release()


def has_display() -> bool:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    gui = [ln for ln in cv2.getBuildInformation().splitlines() if ln.strip().startswith("GUI:")]
    return bool(gui) and "NONE" not in gui[0].upper()


@contextlib.contextmanager
def ctrl_c_stops(stopped: threading.Event):
    """Within the block, Ctrl-C sets `stopped` instead of raising, so that the loop ends at the next frame and the
    recording is finalized (a camera runs until q or Ctrl-C); a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield                      # signal handlers can only be set from the main thread
        return

    def handler(signum, frame):
        stopped.set()
        signal.signal(signal.SIGINT, previous)

    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous) and previous != signal.SIG_IGN:
        previous = signal.default_int_handler
    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_live(stylize, source: Source, seconds: float | None = None, sink=None) -> dict:
    """Drive `stylize` (RGB -> RGB) from `source`; `sink(index, rgb_out)` receives each delivered frame. Ctrl-C
    ends the run like the end of the source, with `interrupted` set in the figures."""
    slot: list = [None]
    cond = threading.Condition()
    state = {"captured": 0, "dropped": 0, "done": False}
    stop = threading.Event()
    interrupted = threading.Event()

    def capture():
        try:
            for item in source.frames():
                if stop.is_set():
                    break
                with cond:
                    if slot[0] is not None:
                        state["dropped"] += 1      # the model never took the previous frame
                    slot[0] = item
                    state["captured"] += 1
                    cond.notify()
        finally:
            with cond:
                state["done"] = True
                cond.notify()

    # warm up first (lazy initialisation of the runtime) so that the figures show the steady state
    stylize(np.zeros((stylize.size[1], stylize.size[0], 3), np.uint8))
    th = threading.Thread(target=capture, daemon=True)
    latencies: list[float] = []
    t_start = time.perf_counter()
    th.start()
    try:
        with ctrl_c_stops(interrupted):
            _loop(stylize, sink, slot, cond, state, interrupted, latencies, seconds, t_start)
    finally:
        stop.set()
        th.join(timeout=5)
        source.close()
    elapsed = time.perf_counter() - t_start
    captured = state["captured"]
    delivered = len(latencies)
    lat = np.array(latencies) * 1e3
    return {"source_fps": round(source.fps, 3), "captured": captured, "delivered": delivered,
            "dropped": captured - delivered, "drop_ratio": round((captured - delivered) / captured, 4) if captured else None,
            "delivered_fps": round(delivered / elapsed, 2) if elapsed > 0 else None,
            "latency_ms_p50": round(float(np.percentile(lat, 50)), 2) if len(lat) else None,
            "latency_ms_p90": round(float(np.percentile(lat, 90)), 2) if len(lat) else None,
            "seconds": round(elapsed, 3), "interrupted": interrupted.is_set()}


def _loop(stylize, sink, slot, cond, state, interrupted, latencies, seconds, t_start) -> None:
    """The model's side: take the newest frame, stylize it, hand it to the sink, until the source ends, the
    sink declines, --seconds pass or Ctrl-C."""
    while not interrupted.is_set():
        with cond:
            while slot[0] is None and not state["done"] and not interrupted.is_set():
                cond.wait(0.1)
            if slot[0] is None:
                break
            index, rgb, t_cap = slot[0]
            slot[0] = None
        out = stylize(fit(rgb, stylize.size))
        if sink is not None and sink(index, out) is False:
            break
        latencies.append(time.perf_counter() - t_cap)
        if seconds is not None and time.perf_counter() - t_start >= seconds:
            break


# pacing faster than this is no camera, and the H.264 time base of the recording cannot represent it
MAX_FPS = 1000
DEFAULT_OUT = Path("vst-live.mp4")


def fresh_default(path: Path = DEFAULT_OUT) -> Path:
    """The recording's path when the user named none: never a file that exists (the user did not ask for it
    to be replaced), so vst-live.mp4, else vst-live-2.mp4, -3, ..."""
    n = 2
    candidate = path
    while candidate.exists() or candidate.is_symlink():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def record(model: str, source_spec: str, fps: float | None = None, size: tuple[int, int] | None = None,
           out: Path | None = None, seconds: float | None = None, accelerator: str = "cpu") -> tuple[dict, bool]:
    """Stylize `source_spec` live with `model`: to a window when `out` is None, else recorded to `out` (an MP4 at
    the source's rate). Returns the figures and whether the source is a camera."""
    source = Source(source_spec, fps)
    stylize = LocalStylizer(model, size, source.size, accelerator=accelerator)
    if out is None:
        def show(index, rgb):
            cv2.imshow("vst-live", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            return (cv2.waitKey(1) & 0xFF) != ord("q")
        try:
            return run_live(stylize, source, seconds, show), source.camera is not None
        finally:
            cv2.destroyAllWindows()
    with atomic_path(out, suffix=".tmp.mp4") as tmp:
        with H264Writer(tmp, stylize.size, source.fps) as writer:
            # each delivered frame at its capture index: the recording plays at the source's real timing
            stats = run_live(stylize, source, seconds, lambda i, rgb: writer.write(rgb, pts=i))
        if stats["delivered"] == 0:
            if stats["interrupted"]:
                raise KeyboardInterrupt       # nothing to keep: run_cli says so
            raise VstError("no frame was delivered; nothing recorded")
    stats["recorded"] = str(out)
    return stats, source.camera is not None
