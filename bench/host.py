"""The host runner: executes a plan on this machine with LiteRT (XNNPACK or builtin kernels), ONNX Runtime
(CPU provider) or PyTorch (eager), and returns a result in the shared schema.

End to end follows 000: frames are decoded from the H.264 clip and resized to the input size (decode: the codec's
YUV frame; resize: one swscale pass to RGB at the input size, video.codec.scale_cover). Decode and resize
run on a producer thread while the main thread runs inference (FFmpeg, OpenCV and all three runtimes release the
GIL), the way a phone pipeline overlaps its camera or decoder with the network; so end-to-end FPS approaches
inference FPS and the summary reports their ratio.
"""
from __future__ import annotations

import os
import platform
import queue
import threading
import time
from datetime import datetime, timezone

import numpy as np

from vst.bench.artifacts import Artifact, input_spec
from vst.video.codec import decode_video_frames, scale_cover
from vst.common.errors import VstError
from vst.common.hostinfo import MEMORY_SOURCE, cpu_name, peak_resident_mb, reset_peak, resident_mb
from vst.runtimes.spec import prepare
from vst.runtimes.table import DELEGATES

HOST_DELEGATES = {rt: ds for (plat, rt), ds in DELEGATES.items() if plat == "host"}
# pure-inference frames are kept prepared in memory; beyond this they are reused cyclically
PREPARED_BYTES = 256 * 2 ** 20
QUEUE_DEPTH = 4


class HostModel:
    """One loaded model: prepare(rgb uint8 HxWx3) -> model input; infer(input) -> output. A thin layer over a
    vst.runtimes session that fixes the benchmark's input size."""

    def __init__(self, art: Artifact, width: int, height: int, threads: int | None, delegate: str):
        from vst.runtimes import open_session
        model = art.zoo_name if art.zoo_name else art.path
        self.session = open_session(model, runtime=art.runtime, threads=threads, delegate=delegate,
                                    size=(width, height))
        if self.session.runtime == "pytorch" and hasattr(self.session.model, "arch"):
            from vst.models import check_input_size    # a vst architecture's sizes (TorchScript has none)
            check_input_size(width, height, self.session.model.arch)
        self.spec = self.session.input
        self.layout, self.dtype, self.width, self.height = self.spec.layout, self.spec.dtype, width, height
        self.runtime = self.session.runtime
        self.runtime_version = self.session.version
        self.delegate_used = self.session.delegation.summary()
        self.feeds = None
        if art.bind:  # a multi-input ONNX model: its extra inputs fixed for the whole measurement
            from vst.runtimes.onnxfile import bind_value
            shapes = {i.name: [d if isinstance(d, int) else 1 for d in i.shape] for i in self.session.inputs}
            self.feeds = {k: bind_value(k, v, shapes[k]).reshape(shapes[k]) for k, v in art.bind.items()}

    def prepare(self, rgb: np.ndarray):
        x = prepare(self.spec, rgb)
        if self.runtime == "pytorch":
            import torch
            return torch.from_numpy(x)
        return x

    def infer(self, x):
        return self.session.run(x, self.feeds) if self.feeds else self.session.run(x)


def _thermal():
    import psutil
    temps = getattr(psutil, "sensors_temperatures", lambda: {})() or {}
    readings = [t.current for group in temps.values() for t in group if t.current]
    return {"source": "psutil", "state": None, "celsius": max(readings) if readings else None}


def _battery():
    import psutil
    b = psutil.sensors_battery() if hasattr(psutil, "sensors_battery") else None
    if b is None:
        return None
    return {"source": "psutil", "level_pct": float(b.percent), "celsius": None, "charging": bool(b.power_plugged)}


REFERENCE_WORKLOAD = "numpy float32 sin+add over 2^18 values x40, single thread, median of 7"


def reference_ms() -> float:
    """A short fixed workload (about 5 ms) whose time tracks the machine's speed: timed before and after each
    cell, a change says the machine itself sped up or slowed down (other processes, frequency scaling).
    Elementwise numpy runs on one thread, so BLAS threading cannot make the reference noisier than the load."""
    x = np.linspace(0, 1, 1 << 18, dtype=np.float32)
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        y = x
        for _ in range(40):
            y = np.sin(y) + x
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _pipeline(model: HostModel, path: str, limit: int | None, seconds: float | None, tick=None) -> dict:
    """Decode+resize on a producer thread, inference here; per-frame samples and wall time."""
    q: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce():
        try:
            for frame, t0, t1 in decode_video_frames(path, limit):
                if stop.is_set():
                    break
                t2 = time.perf_counter()
                x = model.prepare(scale_cover(frame, model.width, model.height))
                q.put((x, t0, t1, t2, time.perf_counter()))
        except BaseException as exc:  # handed to the consumer, which raises it in the caller's thread
            failure.append(exc)
        finally:
            q.put(None)

    rec = {"decode_ms": [], "resize_ms": [], "inference_ms": [], "e2e_ms": []}
    thread = threading.Thread(target=produce, daemon=True)
    start = end = None
    thread.start()
    try:
        while (item := q.get()) is not None:
            x, t0, t1, t2, t3 = item
            start = t0 if start is None else start
            i0 = time.perf_counter()
            model.infer(x)
            end = time.perf_counter()
            rec["decode_ms"].append((t1 - t0) * 1e3)
            rec["resize_ms"].append((t3 - t2) * 1e3)
            rec["inference_ms"].append((end - i0) * 1e3)
            rec["e2e_ms"].append((end - t0) * 1e3)
            if tick:
                tick()
            if seconds is not None and end - start >= seconds:
                break
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()
    if failure:
        raise VstError(f"decoding {path} failed: {failure[0]}")
    if start is None:
        raise VstError(f"{path} yielded no frames; give a non-empty H.264 video")
    return {"frames": len(rec["e2e_ms"]), "wall_s": end - start, **rec}


def _prepared_frames(model: HostModel, path: str, count: int, budget: int = PREPARED_BYTES) -> list:
    """Model inputs for the pure-inference phase: the clip's first frames, as many as fit `budget` bytes."""
    per_frame = model.width * model.height * 3 * (1 if model.dtype in ("uint8", "int8") else 4)
    keep = max(1, min(count, budget // per_frame))
    return [model.prepare(scale_cover(f, model.width, model.height)) for f, _, _ in decode_video_frames(path, keep)]


def _inference_only(model: HostModel, inputs: list, frames: int, seconds: float | None, tick=None) -> dict:
    samples = []
    start = time.perf_counter()
    end = start
    for i in range(frames):
        x = inputs[i % len(inputs)]
        t0 = time.perf_counter()
        model.infer(x)
        end = time.perf_counter()
        samples.append((end - t0) * 1e3)
        if tick:
            tick()
        if seconds is not None and end - start >= seconds:
            break
    return {"frames": len(samples), "wall_s": end - start, "inference_ms": samples}


class HostCell:
    """One cell measured in steps, so that a sweep can interleave the repeats of many cells (round-robin):
    `HostCell(...)` loads and warms the model up, `repeat(i)` measures repeat i (cooldown, end to end, inference
    only), `result(...)` assembles the result document. `budget` bounds the bytes of prepared inference-only
    inputs this cell keeps (cells open together share PREPARED_BYTES)."""

    def __init__(self, plan: dict, art: Artifact, tick=None, budget: int = PREPARED_BYTES, shared_with: int = 0,
                 peak_reset: bool | None = None):
        runtime = plan["runtime"]
        if runtime not in HOST_DELEGATES:
            raise VstError(f"the host cannot run {runtime} artifacts ({art.label}); Core ML runs on iPhones only: "
                           "use --device with an iPhone name")
        if plan["delegate"] not in HOST_DELEGATES[runtime]:
            raise VstError(f"{runtime} on the host takes delegate {' or '.join(HOST_DELEGATES[runtime])}, "
                           f"not {plan['delegate']}")
        spec = input_spec(art)
        w, h = plan["input"]["width"], plan["input"]["height"]
        if spec.size and spec.size != (w, h):
            raise VstError(f"{art.label} has a fixed {spec.size[0]}x{spec.size[1]} input; plan asks for {w}x{h}")
        self.plan, self.art, self.tick = plan, art, tick
        self.clip = plan["frame_source"]["path"]
        self.started, self.thermal0, self.battery0 = _now(), _thermal(), _battery()

        # the high-water mark starts here, so the peak is this cell's (imports and earlier cells left out)
        self.shared_with = shared_with
        self.peak_reset = reset_peak() if peak_reset is None else peak_reset
        self.baseline_mb = resident_mb()
        t0 = time.perf_counter()
        self.model = model = HostModel(art, w, h, plan["threads"], plan["delegate"])
        self.load_ms = (time.perf_counter() - t0) * 1e3
        self.after_load_mb = resident_mb()

        warm_inputs = _prepared_frames(model, self.clip, max(1, min(plan["warmup"]["frames"] or 1, 32)))
        t0 = time.perf_counter()
        model.infer(warm_inputs[0])
        self.first_ms = (time.perf_counter() - t0) * 1e3
        done, w0 = 1, time.perf_counter()
        while done < plan["warmup"]["frames"] or time.perf_counter() - w0 < plan["warmup"]["seconds"]:
            model.infer(warm_inputs[done % len(warm_inputs)])
            done += 1
        limit = plan["measure"]["frames"]
        self.inputs = _prepared_frames(model, self.clip, limit or plan["frame_source"].get("frames") or 10 ** 9,
                                       budget)

    def repeat(self, index: int) -> dict:
        plan, clip = self.plan, self.clip
        limit, seconds = plan["measure"]["frames"], plan["measure"]["seconds"]
        time.sleep(plan["cooldown_s"])
        e2e = _pipeline(self.model, clip, limit, seconds, self.tick)
        announced = plan["frame_source"].get("frames")
        expected = min(limit, announced) if limit and announced else (limit or announced)
        if seconds is None and expected and e2e["frames"] < expected:
            # a clip cut short (a copy interrupted, a disk that filled) must not pass for a complete measurement
            raise VstError(f"{clip} decoded only {e2e['frames']} of the {expected} frames its header announces; "
                           "it is truncated: give a complete video")
        inf = _inference_only(self.model, self.inputs, e2e["frames"], None, self.tick)
        return {"index": index, "e2e": e2e, "inference": inf}

    def memory(self) -> dict | None:
        """The memory record so far (None where /proc/self/status cannot be read)."""
        peak = peak_resident_mb()
        if None in (self.baseline_mb, self.after_load_mb, peak):
            return None
        return {"source": MEMORY_SOURCE, "baseline_mb": round(self.baseline_mb, 1),
                "after_load_mb": round(self.after_load_mb, 1), "peak_mb": round(peak, 1),
                "peak_reset": self.peak_reset, "arena_mb": None, "shared_with": self.shared_with}

    def result(self, run_id: str, repeats: list, reference: tuple[float, float], started: str | None = None,
               load_ms: float | None = None, first_ms: float | None = None, thermal0=None, battery0=None,
               memory: dict | None = None) -> dict:
        """The result document; the keyword arguments carry what an earlier session measured when a cell's
        repeats were spread over runs of the command (an interrupted sweep resumed)."""
        plan, model = self.plan, self.model
        env = {"device": plan["device"], "platform": "host", "hardware": cpu_name(), "chip": platform.machine(),
               "os": platform.platform(), "runtime": plan["runtime"], "runtime_version": model.runtime_version,
               "delegate_requested": plan["delegate"], "delegate_used": model.delegate_used,
               "threads": plan["threads"], "thermal_start": thermal0 if started else self.thermal0,
               "thermal_end": _thermal(), "battery_start": battery0 if started else self.battery0,
               "battery_end": _battery(),
               "harness": f"vst.bench.host (python {platform.python_version()}, {os.cpu_count()} cpus)"}
        return {"schema": "vst-bench-result/1", "plan": plan, "run_id": run_id, "started_at": started or self.started,
                "finished_at": _now(), "environment": env,
                "input": {"width": model.width, "height": model.height, "layout": model.layout, "dtype": model.dtype},
                "load_ms": self.load_ms if load_ms is None else load_ms,
                "first_inference_ms": self.first_ms if first_ms is None else first_ms,
                "memory": _merged_memory(memory, self.memory()), "repeats": repeats,
                "host_reference": {"workload": REFERENCE_WORKLOAD, "before_ms": reference[0],
                                   "after_ms": reference[1]}}


def _merged_memory(earlier: dict | None, now: dict | None) -> dict | None:
    """A cell resumed in another session: its load figures stay the first session's, its peak the higher one."""
    if not earlier or not now:
        return now or earlier
    return {**earlier, "peak_mb": max(earlier["peak_mb"], now["peak_mb"]),
            "shared_with": max(earlier.get("shared_with") or 0, now.get("shared_with") or 0)}


def execute_plan(plan: dict, art: Artifact, run_id: str, tick=None) -> dict:
    """Run one validated plan on this machine, its repeats one after another; the result still goes through
    check_result before storing. tick(), when given, is called after every measured frame (a progress bar
    inside the cell)."""
    ref_before = reference_ms()
    cell = HostCell(plan, art, tick)
    repeats = [cell.repeat(r) for r in range(plan["repeats"])]
    return cell.result(run_id, repeats, (ref_before, reference_ms()))
