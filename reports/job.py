"""`vst-run`: the main job, zoo -> convert -> host bench -> HTML report, on an embedded default or a job file.

Every step is resumable: finished artifacts (with their reports) are kept, the benchmark store skips measured
cells, and the report is rebuilt from whatever is finished.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from vst.common.cli import parse_size, run_cli
from vst.common.errors import VstError
from vst.common.fsutil import atomic_write_text

TRAINED_PREFIX = "trained:"


# jobs shipped with vst, by the name --job takes: table2 converts and times all of Table II's configurations
EMBEDDED_JOBS = {"default": "default_job.json", "table2": "table2_job.json"}


def default_job(name: str = "default") -> dict:
    return json.loads(resources.files("vst.reports").joinpath(f"data/{EMBEDDED_JOBS[name]}").read_text())


def load_job(path: str | Path | None) -> dict:
    if path is None:
        return default_job()
    if str(path) in EMBEDDED_JOBS and not Path(path).exists():
        return {**default_job(), **default_job(str(path))}
    try:
        job = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise VstError(f"job file {path} does not exist; omit --job for the embedded default, or name an "
                       f"embedded job ({', '.join(EMBEDDED_JOBS)})") from None
    except json.JSONDecodeError as exc:
        raise VstError(f"job file {path} is not JSON ({exc.msg} at line {exc.lineno}); fix it or omit --job") from None
    missing = {"models", "resolutions", "conversions"} - set(job)
    if missing:
        raise VstError(f"job file {path} lacks {sorted(missing)}; see `vst-run --print-default` for the format")
    return {**default_job(), **job}


def resolve_model(spec: str) -> tuple[str, bool]:
    """A job's model entry -> (what vst-convert takes, random weights?). `trained:NAME` is a shipped model."""
    from vst.models import list_models
    if spec.startswith(TRAINED_PREFIX):
        from vst.training.shipped import shipped_models
        name = spec[len(TRAINED_PREFIX):]
        found = {p.stem: p for p in shipped_models()}
        if name not in found:
            raise VstError(f"no shipped trained model {name!r}; shipped: {', '.join(found) or 'none'}")
        return str(found[name]), False
    if spec in list_models():
        return spec, True
    if Path(spec).is_file():
        return spec, False
    raise VstError(f"job model {spec!r} is not trained:NAME, a zoo name or a file")


def _stem(model: str) -> str:
    return Path(model).stem if Path(model).suffix else model


def run_job(job: dict, out: Path, progress: bool = True) -> Path:
    from vst.bench.sweep import Protocol, run_sweep
    from vst.convert import convert
    from vst.reports import build_report

    out = Path(out)
    art_dir, bench_dir = out / "artifacts", out / "bench"
    art_dir.mkdir(parents=True, exist_ok=True)
    models = [resolve_model(m) for m in job["models"]]
    sizes = [parse_size(r) for r in job["resolutions"]]
    cells = [(m, rw, size, c) for m, rw in models for size in sizes for c in job["conversions"]]
    commands = [f"vst-run --out {shlex.quote(str(out))}"]
    artifacts = []
    t0 = time.perf_counter()
    for model, random_weights, (w, h), c in tqdm(cells, desc="convert", unit="artifact", disable=not progress):
        suffix = {"tflite": ".tflite", "onnx": ".onnx", "coreml": ".mlpackage"}[c["to"]]
        target = art_dir / f"{_stem(model)}-{w}x{h}-{c['quant']}{suffix}"
        cmd = (f"vst-convert {shlex.quote(model)} --to {c['to']} --quant {c['quant']} --size {w}x{h} "
               f"-o {shlex.quote(str(target))}" + (" --random-weights" if random_weights else ""))
        commands.append(cmd)
        artifacts.append(str(target))
        if target.exists() and Path(f"{target}.report.json").exists():
            continue  # finished by an earlier run
        convert(model, to=c["to"], quant=c["quant"], size=(w, h), out=target, random_weights=random_weights)
    t_convert = time.perf_counter() - t0

    b = job["bench"]
    protocol = Protocol(warmup_frames=b.get("warmup_frames", 10), warmup_seconds=b.get("warmup_seconds", 1.0),
                        measure_frames=b.get("frames"), measure_seconds=b.get("seconds"), repeats=b.get("repeats", 3),
                        cooldown_s=b.get("cooldown", 2.0), threads=b.get("threads"))
    runnable = [a for a in artifacts if not a.endswith(".mlpackage")]
    commands.append(f"vst-bench --device {b.get('device', 'host')} --model {' '.join(map(shlex.quote, runnable))} "
                    f"--out {shlex.quote(str(bench_dir))}"
                    + (f" --frames {protocol.measure_frames}" if protocol.measure_frames else "")
                    + (f" --seconds {protocol.measure_seconds}" if protocol.measure_seconds else "") + " "
                    f"--repeats {protocol.repeats} --warmup-frames {protocol.warmup_frames} "
                    f"--cooldown {protocol.cooldown_s}" + (f" --threads {protocol.threads}" if protocol.threads else "")
                    + (f" --video {shlex.quote(str(b['video']))}" if b.get("video") else ""))
    t1 = time.perf_counter()
    run_sweep(b.get("device", "host"), runnable, sizes, bench_dir, protocol=protocol, video=b.get("video"),
              progress=progress, log=lambda msg: print(msg, file=sys.stderr))
    t_bench = time.perf_counter() - t1

    report = out / "report.html"
    commands.append(f"vst-report {shlex.quote(str(art_dir))} {shlex.quote(str(bench_dir))} -o {shlex.quote(str(report))}")
    atomic_write_text(out / "commands.txt", "\n".join(commands) + "\n")
    t2 = time.perf_counter()
    build_report([out], report, job.get("title", "vst report"))
    print(f"timing: convert {t_convert:.0f} s, bench {t_bench:.0f} s, report {time.perf_counter() - t2:.0f} s",
          file=sys.stderr)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vst-run", description=__doc__.splitlines()[0])
    parser.add_argument("--job", help="job JSON, or an embedded job's name: table2 (all of Table II's "
                        "configurations in fp32, fp16 and int8); default: the embedded default, see --print-default")
    parser.add_argument("--out", default="vst-out", help="output folder (default: vst-out)")
    parser.add_argument("--print-default", action="store_true", help="print the embedded default job and exit")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.print_default:
        print(json.dumps(default_job(), indent=2))
        return 0
    report = run_job(load_job(args.job), Path(args.out), progress=not args.no_progress)
    print(f"report: {report.resolve()}")
    return 0


def entry() -> int:
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(entry())
