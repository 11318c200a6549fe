"""The phone harnesses' code run on this machine: the Swift runner (ios_harness/VstBenchKit, product vst-runner)
and the Kotlin runner on the JVM (android_harness/jvm), both over vst's native backend on LiteRT's C API.

They take a plan and write a result exactly as the phone apps do, so Python drives them the way it drives phones
(`vst-bench --device swift-linux` / `kotlin-jvm`): build once, then per cell write the plan, run the runner, read
its result. What differs from a phone is the frame source (ffmpeg from the imageio-ffmpeg wheel instead of the
platform's decoder) and the machine.

`NativeCell` runs one repeat per launch, so that an interleaved sweep can alternate these runners with the Python
host runner repeat by repeat (bench/interleave.py): each launch loads and warms the model up again, as a fresh
app start would.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vst.bench.artifacts import Artifact
from vst.bench.devices import Device, read_tool_json
from vst.common.errors import VstError

REPO = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT_S = 1800      # a first `swift build -c release` on two cores takes minutes
DELEGATES = ("xnnpack", "gpu")


@dataclass(frozen=True)
class Runner:
    name: str               # the registry's "runner" value
    tool: str               # the toolchain it needs on PATH
    build: tuple[str, ...]
    command: tuple[str, ...]
    cwd: Path


RUNNERS = {
    "swift": Runner("swift", "swift", ("swift", "build", "-c", "release", "--product", "vst-runner"),
                    (str(REPO / "ios_harness/VstBenchKit/.build/release/vst-runner"),),
                    REPO / "ios_harness/VstBenchKit"),
    "kotlin": Runner("kotlin", "kotlinc", ("bash", str(REPO / "android_harness/jvm/build.sh")),
                     ("bash", str(REPO / "android_harness/jvm/run.sh")), REPO / "android_harness"),
}


def runner_env() -> dict[str, str]:
    """Where the runners find LiteRT's C API library and ffmpeg: the Python install's own copies."""
    import ai_edge_litert
    try:
        import imageio_ffmpeg
        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise VstError(f"the native runners decode clips with ffmpeg from imageio-ffmpeg, which is missing ({exc}); "
                       "run scripts/setup.sh") from None
    from vst.runtimes.gpu import _runtime_dir
    return {**os.environ, "VST_LITERT_LIB": str(Path(ai_edge_litert.__file__).parent / "libLiteRt.so"),
            "VST_FFMPEG": ffmpeg, "XDG_RUNTIME_DIR": _runtime_dir()}


def _said(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
    return lines[-1].strip()[:400] if lines else f"exit code {proc.returncode}"


class NativeDriver:
    """Runs plans in one of the harness runners on this machine."""
    platform = "host"

    def __init__(self, device: Device, timeout_s: float = 1800):
        runner = device.props.get("runner")
        if runner not in RUNNERS:
            raise VstError(f"{device.name}: unknown runner {runner!r}; the registry's runner is one of "
                           f"{', '.join(RUNNERS)}")
        self.device, self.runner, self.timeout_s = device, RUNNERS[runner], timeout_s
        self._built = False

    def prepare(self) -> None:
        """Build the runner (the toolchains keep their outputs: a rebuild of unchanged sources takes seconds)."""
        if self._built:
            return
        if not shutil.which(self.runner.tool):
            raise VstError(f"{self.device.name} needs {self.runner.tool} on PATH to build its runner; run "
                           "scripts/setup.sh")
        try:
            proc = subprocess.run(self.runner.build, cwd=self.runner.cwd, capture_output=True, text=True,
                                  timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise VstError(f"building the {self.runner.name} runner took over {BUILD_TIMEOUT_S} s; run "
                           f"`{' '.join(self.runner.build)}` in {self.runner.cwd} to see why") from None
        if proc.returncode:
            raise VstError(f"building the {self.runner.name} runner failed: {_said(proc)}")
        self._built = True

    def run_cell(self, plan: dict, artifact_path: Path, clip: Path, workdir: Path) -> dict:
        from vst.bench.host import _battery, _thermal
        self.prepare()
        p = json.loads(json.dumps(plan))
        p["artifact"]["path"], p["frame_source"]["path"] = str(Path(artifact_path).resolve()), str(Path(clip).resolve())
        plan_file, result_file = workdir / f"{plan['cell_id']}.plan.json", workdir / f"{plan['cell_id']}.result.json"
        plan_file.write_text(json.dumps(p, indent=1))
        thermal0, battery0 = _thermal(), _battery()
        cmd = [*self.runner.command, "run", "--plan", str(plan_file), "--result", str(result_file)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s, env=runner_env())
        except subprocess.TimeoutExpired:
            raise VstError(f"{self.device.name}: the {self.runner.name} runner gave no result in "
                           f"{self.timeout_s:.0f} s") from None
        if proc.returncode or not result_file.exists():
            raise VstError(f"{self.device.name}: the {self.runner.name} runner failed: {_said(proc)}")
        result = read_tool_json(result_file, f"the {self.runner.name} runner")
        result["plan"] = plan  # the host-side plan back (its paths, its cell id)
        env = dict(result.get("environment", {}))
        for key, value in (("thermal_start", thermal0), ("thermal_end", _thermal()), ("battery_start", battery0),
                           ("battery_end", _battery())):
            if env.get(key) is None:
                env[key] = value
        result["environment"] = env
        return result


class NativeCell:
    """HostCell's interface (repeat(i), result(...)) over a native runner, one launch per repeat."""

    def __init__(self, plan: dict, art: Artifact, driver: NativeDriver, tick=None):
        self.plan, self.art, self.driver, self.tick = plan, art, driver, tick
        self.single = {**plan, "repeats": 1}
        self.first: dict | None = None
        self.peak_mb = 0.0

    def repeat(self, index: int) -> dict:
        with tempfile.TemporaryDirectory(prefix="vst-native-") as work:
            doc = self.driver.run_cell(self.single, self.art.path, Path(self.plan["frame_source"]["path"]),
                                       Path(work))
        self.first = self.first or doc
        if doc.get("memory"):
            self.peak_mb = max(self.peak_mb, doc["memory"]["peak_mb"])
        rep = dict(doc["repeats"][0], index=index)
        if self.tick:
            for _ in range(rep["e2e"]["frames"] + rep["inference"]["frames"]):
                self.tick()
        return rep

    def result(self, run_id: str, repeats: list, reference: tuple[float, float], started: str | None = None,
               load_ms: float | None = None, first_ms: float | None = None, thermal0=None, battery0=None,
               memory: dict | None = None) -> dict:
        """The cell's document: the first launch's load, first inference and memory (a cold start), the
        highest peak of all launches, every launch's repeat."""
        from vst.bench.host import REFERENCE_WORKLOAD, _merged_memory, _now
        doc = json.loads(json.dumps(self.first))
        doc.update(plan=self.plan, run_id=run_id, repeats=repeats, finished_at=_now(),
                   host_reference={"workload": REFERENCE_WORKLOAD, "before_ms": reference[0],
                                   "after_ms": reference[1]})
        if started:
            doc["started_at"] = started
        if load_ms is not None:
            doc["load_ms"] = load_ms
        if first_ms is not None:
            doc["first_inference_ms"] = first_ms
        if doc.get("memory"):
            doc["memory"]["peak_mb"] = self.peak_mb
        doc["memory"] = _merged_memory(memory, doc.get("memory"))
        env = doc["environment"]
        env["thermal_start"] = thermal0 or env.get("thermal_start")
        env["battery_start"] = battery0 or env.get("battery_start")
        return doc
