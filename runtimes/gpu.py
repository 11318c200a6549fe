"""LiteRT's GPU accelerator on this machine: ML Drift over WebGPU (Dawn on Vulkan). Without a GPU it runs on Mesa's
software Vulkan driver (lavapipe, from Mesa 25; Debian 12's own Mesa 22.3 offers no adapter Dawn accepts): its
speed says nothing about a phone, its coverage (which ops the GPU takes) and numerics (it computes in float16) do.

The accelerator lives in a worker process (vst.runtimes.gpu_worker); GpuSession has the interface of every session
in vst.runtimes, so vst-convert's checks, vst-bench and vst-stylize run it like any other runtime."""
from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import numpy as np

from vst.common.errors import VstError
from vst.runtimes.delegation import Delegation
from vst.runtimes.gpu_worker import array_header, read_array

SOFTWARE_NOTE = "software GPU (Mesa lavapipe over Vulkan): coverage and numerics are the GPU's, its speed is not a phone's"
ACCELERATOR = "LiteRT GPU accelerator (ML Drift, WebGPU)"
SETUP_HINT = ("install Mesa >= 25 with its Vulkan drivers (Debian 12: apt-get install -t bookworm-backports "
              "mesa-vulkan-drivers; scripts/setup.sh does it)")
START_TIMEOUT_S = 60
RUN_TIMEOUT_S = 300        # one frame on a software GPU: seconds at most at the sizes vst takes
_ADAPTER = re.compile(r"Selected adapter: (.*?), arch=(\S+), vendor=(\S+), backend=(\S+), adapterType=(.*)$", re.M)


def _runtime_dir() -> str:
    """The private runtime folder Dawn's Vulkan loader wants ($XDG_RUNTIME_DIR), made once per process."""
    path = os.environ.get("XDG_RUNTIME_DIR")
    if path and os.path.isdir(path):
        return path
    return _private_dir()


@lru_cache(maxsize=None)
def _private_dir() -> str:
    path = tempfile.mkdtemp(prefix="vst-xdg-")      # mode 0700, as the variable's specification asks
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


class WorkerEnded(VstError):
    """The worker process died or stopped answering (a crash in the Vulkan driver or the accelerator): no answer
    about the model, not a refusal of it."""


class _Worker:
    """One worker process and its log."""

    def __init__(self):
        self.log = tempfile.NamedTemporaryFile(prefix="vst-gpu-", suffix=".log", delete=False)
        env = {**os.environ, "XDG_RUNTIME_DIR": _runtime_dir()}
        self.proc = subprocess.Popen([sys.executable, "-m", "vst.runtimes.gpu_worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, env=env)
        atexit.register(self.close)

    def ask(self, req: dict, array: np.ndarray | None = None, timeout: float = RUN_TIMEOUT_S) -> tuple[dict, np.ndarray | None]:
        try:
            if array is not None:
                array = np.ascontiguousarray(array)
                req = {**req, **array_header(array)}
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            if array is not None:
                self.proc.stdin.write(array.tobytes())
            self.proc.stdin.flush()
            ans = json.loads(self._readline(timeout))
            out = read_array(self.proc.stdout, ans) if ans.get("ok") and "shape" in ans else None
            return ans, out
        except (ValueError, OSError, EOFError):
            self.close()
            return {"ok": False, "error": f"the GPU worker ended ({self._why()})", "crashed": True}, None

    def _readline(self, timeout: float) -> bytes:
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            self.proc.kill()
            raise OSError(f"no answer in {timeout:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            raise OSError("no answer")
        return line

    def _why(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "it stopped answering"
        return f"exit {code}" + (" (a crash in the Vulkan driver or the accelerator)" if code < 0 else "")

    def adapter(self) -> dict | None:
        try:
            text = Path(self.log.name).read_text(errors="replace")
        except OSError:
            return None
        m = _ADAPTER.search(text)
        return None if m is None else {"name": m.group(1), "arch": m.group(2), "vendor": m.group(3),
                                       "backend": m.group(4), "type": m.group(5).strip()}

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


_SHARED: list[_Worker] = []


def _shared() -> _Worker:
    """The process's one worker for sessions (starting the accelerator costs a second; a crash replaces it)."""
    if not _SHARED or _SHARED[0].proc.poll() is not None:
        _SHARED[:] = [_Worker()]
    return _SHARED[0]


class GpuSession:
    """A .tflite on LiteRT's GPU accelerator. `cpu_fallback` lets ops the GPU refuses run on the CPU (else such a
    model is refused); `fully_accelerated` says whether any did."""
    runtime = "litert"

    def __init__(self, model: str | Path, size: tuple[int, int] | None = None, cpu_fallback: bool = True):
        from vst.runtimes.litert import input_spec, output_quant
        path = Path(model)
        self.input = input_spec(path)
        if self.input.size is None:
            raise VstError(f"{path}: the GPU check takes fixed-size artifacts; convert with --size WxH")
        if size is not None and tuple(size) != self.input.size:
            w, h = self.input.size
            raise VstError(f"{path} takes {w}x{h} frames; the GPU accelerator does not resize its input: give "
                           f"{w}x{h} or convert at the size you want")
        self.output_quant = output_quant(path)
        self.version = version("ai-edge-litert")
        self._worker = _shared()
        ans, _ = self._worker.ask({"op": "open", "path": str(path.resolve()), "cpu_fallback": cpu_fallback},
                                  timeout=START_TIMEOUT_S)
        if not ans.get("ok"):
            usable, why, _ = availability()
            if not usable:      # the machine, not the model
                raise VstError(why)
            kind = WorkerEnded if ans.get("crashed") else VstError
            raise kind(f"{path}: {ACCELERATOR} could not compile it ({ans['error']}); {_hint(ans['error'])}")
        self._id = ans["id"]
        self.fully_accelerated = ans["fully_accelerated"]
        self.load_ms = ans["load_ms"]
        self.adapter = self._worker.adapter()
        state = "fully accelerated" if self.fully_accelerated else "partly on the CPU"
        soft = self.adapter is None or self.adapter.get("arch") == "software"
        self.delegation = Delegation("litert", "gpu", detail=f"gpu ({state}" + (
            "; software GPU: its speed is not a phone's)" if soft else ")"))
        self.last_ms: float | None = None

    def extra_inputs(self) -> dict:
        return {}

    def run(self, x: np.ndarray, feeds: dict | None = None) -> np.ndarray:
        if feeds:
            raise VstError("the GPU check takes single-input artifacts; bind the extra inputs at conversion")
        ans, y = self._worker.ask({"op": "run", "id": self._id}, x)
        if not ans.get("ok"):
            kind = WorkerEnded if ans.get("crashed") else VstError
            raise kind(f"{ACCELERATOR} failed to run the model ({ans['error']})")
        self.last_ms = ans["ms"]
        return y

    def close(self) -> None:
        if self._id is not None and self._worker.proc.poll() is None:
            self._worker.ask({"op": "close", "id": self._id})
        self._id = None

    def __del__(self):
        try:
            self.close()
        except Exception:   # interpreter shutdown: the worker goes with the process
            pass


def _hint(error: str) -> str:
    if "not accelerated" in error:
        return "some ops stay on the CPU: open it with CPU fallback to run it anyway"
    if "adapter" in error.lower() or "vulkan" in error.lower() or "ended" in error:
        return SETUP_HINT
    return "check the artifact with vst-convert"


def taken(paths: list[Path]) -> list[bool | None]:
    """For each model file: does the GPU alone take it whole (None: the worker crashed on it). One worker for all,
    a fresh one after a crash, so one bad op costs only its own answer."""
    out: list[bool | None] = []
    rest = [str(Path(p).resolve()) for p in paths]
    while rest:
        w = _Worker()
        ans, _ = w.ask({"op": "probe", "paths": rest}, timeout=START_TIMEOUT_S + 10 * len(rest))
        w.close()
        if ans.get("ok"):
            return out + ans["taken"]
        # a crash: ask one at a time until the one that crashes, record it, go on after it
        ans1, _ = (w := _Worker()).ask({"op": "probe", "paths": rest[:1]}, timeout=START_TIMEOUT_S)
        w.close()
        out.append(ans1["taken"][0] if ans1.get("ok") else None)
        rest = rest[1:]
    return out


@lru_cache(maxsize=None)
def availability() -> tuple[bool, str, dict | None]:
    """(usable, why not or what, adapter) for this machine: compiles a one-op model on the GPU once per process."""
    from vst.runtimes.litert_graph import one_op_probe
    with tempfile.TemporaryDirectory(prefix="vst-gpu-probe-") as d:
        probe = Path(d) / "probe.tflite"
        probe.write_bytes(one_op_probe())
        w = _shared()        # the worker sessions will use: its adapter is theirs
        ans, _ = w.ask({"op": "probe", "paths": [str(probe)]}, timeout=START_TIMEOUT_S)
        adapter = w.adapter()
    if ans.get("ok") and ans["taken"][0]:
        return True, f"{ACCELERATOR} on {adapter['name'] if adapter else 'an unnamed adapter'}", adapter
    why = ans.get("error") or "it compiled no model"
    return False, f"{ACCELERATOR} is not usable here ({why}): {SETUP_HINT}", adapter
