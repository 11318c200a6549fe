"""vst from Python: what the commands do, as functions with the commands' own defaults, quiet unless asked, and
typed results.

    import vst.api as vst
    art = vst.convert("kunster.a025-s05-stage2", to="tflite", quant="int8", dynamic=True, size=(480, 320))
    cells = vst.bench([art.path], sizes=[(480, 320)])
    ratio = vst.compare([fp32_path, art.path])
    ops = vst.profile(art.path)
    phone = vst.predict(art.path, "iphone11pro")
    done = vst.stylize("clip.mp4", art.path, "styled.mp4")

Defaults are read from each command's argument parser, so a function and its command never disagree. Every
function keeps third-party chatter and progress bars off the terminal unless verbose=True (progress=True brings
the bars back alone). Bad input raises vst.common.errors.VstError, whose message is the command's one line.

(The API lives in vst.api because vst.convert, vst.bench, ... are the packages that implement it.)
"""
from __future__ import annotations

import argparse
import contextlib
import io
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

__all__ = ["Conversion", "Cell", "Compared", "Comparison", "OpTime", "Profile", "Stylized", "convert", "bench",
           "compare", "profile", "predict", "stylize", "defaults"]


@lru_cache(maxsize=None)
def defaults(command: str) -> dict[str, Any]:
    """The defaults of a command's options (dest -> value), from its own parser."""
    from importlib import import_module
    module = {"vst-convert": "vst.convert.cli", "vst-bench": "vst.bench.cli", "vst-stylize": "vst.stylize.cli",
              "vst-predict": "vst.predict.cli"}[command]
    parser: argparse.ArgumentParser = import_module(module).build_parser()
    return {a.dest: a.default for a in parser._actions if a.dest != "help" and a.default is not argparse.SUPPRESS}


def _quiet(verbose: bool):
    from vst.common.quiet import configure_environment, quiet_stderr
    configure_environment()
    return quiet_stderr(verbose=verbose)


# ---- convert ----------------------------------------------------------------------------------------------------

@dataclass
class Conversion:
    """An artifact vst-convert wrote, with the verdicts of its conversion report (`report`, the whole record)."""
    path: Path
    target: str
    precision: str
    size: tuple[int, int]
    psnr_db: float | None
    fidelity_passed: bool | None      # None: not gated (random weights)
    temporal_ratio: float | None
    temporal_passed: bool | None
    kb: float
    report: dict = field(repr=False)

    @property
    def ok(self) -> bool:
        """Both checks passed, or were not gated: what vst-convert's exit code 0 means."""
        return self.fidelity_passed is not False and self.temporal_passed is not False


def convert(model: Any, to: str | None = None, quant: str | None = None, size: tuple[int, int] | None = None,
            out: str | Path | None = None, dynamic: bool = False, verbose: bool = False, **options) -> Conversion:
    """vst-convert MODEL: `options` are vst.convert.api.convert's (calib, io_layout, bind, temporal, checks,
    gpu_check, ...). The default file name is the command's (<model>-<W>x<H>-<precision>.<ext>)."""
    from vst.common.records import precision as precision_of
    from vst.convert.api import convert as run, default_out
    d = defaults("vst-convert")
    to, quant, size = to or d["to"], quant or d["quant"], tuple(size or d["size"])
    out = out or default_out(model, to, quant, size, bool(options.get("temporal")), dynamic)
    with _quiet(verbose):
        rep = run(model, to=to, quant=quant, size=size, out=out, dynamic=dynamic, **options)
    fid, tmp = rep.get("fidelity") or {}, rep.get("temporal") or {}
    path = Path(rep["artifact"]["path"])
    return Conversion(path, to, precision_of(rep), size, fid.get("psnr_db"), fid.get("passed"), tmp.get("ratio"),
                      tmp.get("passed"), round(rep["artifact"].get("bytes", 0) / 1024, 1), rep)


# ---- bench ------------------------------------------------------------------------------------------------------

@dataclass
class Cell:
    """One measured cell of a sweep (a row of the store's results.csv, with its intervals and memory)."""
    device: str
    artifact: str
    resolution: str
    delegate_used: str
    fps_e2e: float
    fps_inference: float
    fps_inference_ci: tuple[float, float]
    replicability: str
    load_ms: float
    first_inference_ms: float
    memory_peak_mb: float | None
    result_path: Path


def bench(models: Sequence[str | Path], device: str | None = None, sizes: Sequence[tuple[int, int]] | None = None,
          out: str | Path | None = None, frames: int | None | str = "default", repeats: int | None = None,
          threads: int | None = None, video: str | Path | None = None, delegates: Sequence[str] | None = None,
          verbose: bool = False, progress: bool = False, **protocol) -> list[Cell]:
    """vst-bench --model MODELS: the same protocol as the command (frames per repeat, repeats, warmup, cooldown),
    into the same resumable store (`out`). frames=None measures the whole clip (the default: 100, or the whole
    of a shorter clip); `protocol` may set warmup_frames, warmup_seconds, cooldown_s, measure_seconds."""
    from vst.bench.plan import default_frames
    from vst.bench.sweep import Protocol, parse_resolutions, run_sweep
    d = defaults("vst-bench")
    sizes = list(sizes) if sizes else parse_resolutions(d["resolutions"])
    if frames == "default":
        frames = default_frames(video)
    proto = Protocol(warmup_frames=protocol.pop("warmup_frames", d["warmup_frames"]),
                     warmup_seconds=protocol.pop("warmup_seconds", d["warmup_seconds"]), measure_frames=frames,
                     measure_seconds=protocol.pop("measure_seconds", d["seconds"]),
                     repeats=repeats or d["repeats"], cooldown_s=protocol.pop("cooldown_s", d["cooldown"]),
                     threads=threads)
    if protocol:
        raise TypeError(f"bench() got unexpected options {', '.join(protocol)}")
    out = Path(out or d["out"])
    # the command's per-cell lines are its console output; here the returned cells are, unless asked for
    shown = contextlib.nullcontext() if verbose or progress else contextlib.redirect_stdout(io.StringIO())
    with _quiet(verbose), shown:
        df = run_sweep(device or d["device"], [str(m) for m in models], sizes, out, proto, video, delegates,
                       progress=progress)
    return [Cell(r["device"], str(r["artifact"]), r["resolution"], r["delegate_used"], float(r["fps_e2e"]),
                 float(r["fps_inference"]), (float(r["fps_inference_ci_low"]), float(r["fps_inference_ci_high"])),
                 str(r["replicability"]), float(r["load_ms"]), float(r["first_inference_ms"]),
                 None if r["memory_peak_mb"] is None else float(r["memory_peak_mb"]), out / r["result_path"])
            for _, r in df.iterrows()]


# ---- compare ----------------------------------------------------------------------------------------------------

@dataclass
class Compared:
    artifact: str
    latency_ms_median: float
    speed_ratio: float | None                      # against the first artifact; None for the first
    speed_ratio_ci: tuple[float, float] | None
    resolved: bool | None                          # the interval is within +-5% of the ratio


@dataclass
class Comparison:
    size: str
    rounds: int
    entries: list[Compared]
    record: dict = field(repr=False)               # everything vst-bench --compare --json writes


def compare(models: Sequence[str | Path], size: tuple[int, int] | None = None, seconds: float | None = None,
            threads: int | None = None, video: str | Path | None = None, verbose: bool = False,
            progress: bool = False) -> Comparison:
    """vst-bench --compare: the models timed interleaved on the same frames, each one's speed as a ratio to the
    first's with a bootstrap interval (30 s unless `seconds`)."""
    from vst.bench.compare import compare as run
    with _quiet(verbose):
        res = run([str(m) for m in models], size, 30.0 if seconds is None else seconds, video, threads,
                  progress=progress)
    entries = [Compared(e["artifact"], e["latency_ms_median"], e.get("speed_ratio"),
                        tuple(e["speed_ratio_ci"]) if "speed_ratio_ci" in e else None, e.get("resolved"))
               for e in res["entries"]]
    return Comparison(res["size"], res["rounds"], entries, res)


# ---- profile ----------------------------------------------------------------------------------------------------

@dataclass
class OpTime:
    index: int
    op: str
    name: str
    ms: float
    share: float


@dataclass
class Profile:
    whole_ms: float
    threads: int
    runs: int
    ops: list[OpTime]                              # slowest first
    record: dict = field(repr=False)


def profile(artifact: str | Path, threads: int | None = None, runs: int | None = None,
            verbose: bool = False) -> Profile:
    """vst-bench --profile: the per-op time of a .tflite (each op cut out and timed) or a .pte (ExecuTorch's
    ETDump), on this machine."""
    from vst.common.errors import VstError
    d = defaults("vst-bench")
    path = Path(artifact)
    if path.suffix not in (".tflite", ".pte") or not path.is_file():
        raise VstError(f"profile takes a .tflite or .pte file; {path} is not one")
    if path.suffix == ".pte":
        from vst.runtimes.executorch import profile as run
    else:
        from vst.runtimes.profile import profile as run
    with _quiet(verbose):
        prof = run(path, threads=threads or d["threads"] or 2, runs=runs or d["profile_runs"])
    ops = sorted((OpTime(o["index"], o["op"], o.get("name") or "", o["ms"], o.get("share") or 0.0)
                  for o in prof["ops"]), key=lambda o: -o.ms)
    return Profile(prof["whole_ms"], prof["threads"], prof["runs"], ops, prof)


# ---- predict, stylize ---------------------------------------------------------------------------------------------

def predict(model: str | Path, device: str, sizes: Sequence[tuple[int, int]] | None = None,
            results: str | Path | None = None, verbose: bool = False):
    """vst-predict: the phone FPS predicted for a model or artifact (vst.predict.device.Prediction per size)."""
    from vst.predict.device import predict as run
    with _quiet(verbose):
        return run(str(model), device, list(sizes) if sizes else None, results)


@dataclass
class Stylized:
    output: Path
    frames: int
    size: tuple[int, int]
    seconds: float
    end_to_end_fps: float | None
    record: dict = field(repr=False)               # everything vst-stylize --json prints


def stylize(video: str | Path, model: str | Path, out: str | Path, size: tuple[int, int] | None = None,
            verbose: bool = False, progress: bool = False, **options) -> Stylized:
    """vst-stylize VIDEO -m MODEL -o OUT; `options` are vst.stylize.video.stylize_video's (keyframes, flow, sbs,
    edge, style, accelerator, ...)."""
    from vst.stylize.video import stylize_video
    with _quiet(verbose):
        stats = stylize_video(video, str(model), out, size=size, progress=progress, **options)
    return Stylized(Path(stats["output"]), stats["frames"], tuple(stats["size"]), stats["seconds"],
                    stats["end_to_end_fps"], stats)
