"""The main job, zoo -> convert -> host bench -> HTML report, on an embedded default or a job file (its command,
vst-run, is pipeline/cli.py).

Every step is resumable: finished artifacts (with their reports) are kept, the benchmark store skips measured
cells, and the report is rebuilt from whatever is finished.
"""
from __future__ import annotations

import json
import shlex
import sys
import time
from importlib import resources
from pathlib import Path

import jsonschema
from vst.common.progress import bar

from vst.bench import cli as bench_cli
from vst.common.cli import command_line, parse_size
from vst.convert import cli as convert_cli
from vst.common.errors import VstError
from vst.common.fsutil import atomic_write_text, ensure_writable_dir
from vst.common.records import COMMANDS_FILE, artifact_file, precision_name, report_path
from vst.models.names import artifact_stem
from vst.reports import cli as reports_cli
from vst.runtimes.table import TARGETS



# jobs shipped with vst, by the name --job takes: table2 converts and times all of Table II's configurations
EMBEDDED_JOBS = {"default": "default_job.json", "table2": "table2_job.json"}


def default_job(name: str = "default") -> dict:
    return json.loads(resources.files("vst.pipeline").joinpath(f"data/{EMBEDDED_JOBS[name]}").read_text())


def _job_schema() -> dict:
    return json.loads(resources.files("vst.pipeline").joinpath("data/job.schema.json").read_text())


def validate_job(job: dict, where: str) -> None:
    """Raise a one-line VstError naming the first place `job` breaks pipeline/data/job.schema.json."""
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(_job_schema()).iter_errors(job))
    if error is not None:
        at = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise VstError(f"job file {where}: {at}: {error.message[:200]}; see `vst-run --print-default` for the "
                       "format")


def load_job(path: str | Path | None) -> dict:
    if path is None:
        path = "default"
    if str(path) in EMBEDDED_JOBS and not Path(path).exists():
        job = default_job(str(path))
        validate_job(job, f"(embedded {path})")   # the shipped jobs obey the schema users' files do
        return _shipped_study({**default_job(), **job})
    def no_constant(name: str):      # NaN and Infinity pass a schema's number checks: refused here
        raise VstError(f"job file {path} holds {name}, which no job setting takes; give a finite number")
    try:
        job = json.loads(Path(path).read_text(), parse_constant=no_constant)
    except FileNotFoundError:
        raise VstError(f"job file {path} does not exist; omit --job for the embedded default, or name an "
                       f"embedded job ({', '.join(EMBEDDED_JOBS)})") from None
    except IsADirectoryError:
        raise VstError(f"job file {path} is a folder; give a JSON file or omit --job") from None
    except UnicodeDecodeError:
        raise VstError(f"job file {path} is not UTF-8 text; give a JSON file or omit --job") from None
    except json.JSONDecodeError as exc:
        raise VstError(f"job file {path} is not JSON ({exc.msg} at line {exc.lineno}); fix it or omit --job") from None
    except RecursionError:        # Python's parser recurses per level: a 100k-deep file exhausts the stack
        raise VstError(f"job file {path} nests deeper than any job does; fix it or omit --job") from None
    validate_job(job, str(path))
    return _shipped_study({**default_job(), **job})


# study records shipped with vst, by the name a job's "study" may give instead of a folder
SHIPPED_STUDIES = {"table2": "data/table2_study"}


def _shipped_study(job: dict) -> dict:
    """"study": "table2" names the shipped record (vst-train --study table2 --teacher multistyle26:5) unless a
    folder of that name exists where vst-run runs."""
    name = job.get("study")
    if name in SHIPPED_STUDIES and not Path(name).exists():
        job["study"] = str(resources.files("vst.pipeline").joinpath(SHIPPED_STUDIES[name]))
    return job


def artifact_intact(target: Path) -> bool:
    """Whether vst-convert finished `target`: its report exists and records the artifact's size and content."""
    from vst.common.fsutil import sha256_of
    try:
        recorded = json.loads(report_path(target).read_text())["artifact"]
        return target.exists() and recorded["sha256"] == sha256_of(target)
    except (OSError, ValueError, KeyError, TypeError):
        return False  # missing, unreadable or from an older vst: convert again


def resolve_model(spec: str) -> tuple[str, bool]:
    """A job's model entry (any model name vst-convert takes, see vst.models.resolver) -> (what vst-convert takes,
    random weights?)."""
    from vst.models.resolver import resolve_model as resolve_name
    if spec.startswith("trained:"):
        raise VstError(f"job model {spec!r}: shipped models are named ARCH.TAG now, e.g. "
                       f"{spec[len('trained:'):].replace('-', '.', 1)}")
    handle = resolve_name(spec).require("vst-convert")
    if handle.form == "zoo" and ":" in spec:
        raise VstError(f"job model {spec!r}: give a named configuration from `vst-zoo list` (overrides are "
                       "for vst-convert)")
    return (str(handle.path), False) if handle.form == "shipped" else (spec, handle.form == "zoo")


def convert_job(job: dict, art_dir: Path, commands: list[str], progress: bool = True,
                ray_address: str | None = None) -> list[str]:
    """The job's conversion phase into `art_dir`: every artifact's path, its vst-convert command appended to
    `commands`; finished artifacts are kept. `ray_address`: the conversions are tasks of that Ray cluster,
    several at a time (vst.pipeline.cluster)."""
    from vst.convert import convert
    models = [resolve_model(m) for m in job["models"]]
    sizes = [parse_size(r) for r in job["resolutions"]]
    ensure_writable_dir(art_dir)  # only once the job is known to be valid: a bad job leaves no folders
    if ray_address:
        from vst.bench.cluster import connect
        connect(ray_address)
    cells = [(m, rw, size, c) for m, rw in models for size in sizes for c in job["conversions"]]
    # random weights are studied for speed: the job may verify them by proofs only (convert.api.CHECKS)
    rw_checks = job.get("convert", {}).get("random_weights_checks", "full")
    artifacts, pending = [], []
    # with Ray the conversions run after this loop, as tasks with their own bar
    for model, random_weights, (w, h), c in bar(cells, desc="convert", unit="artifact",
                                                progress=progress and not ray_address):
        suffix = TARGETS[c["to"]]["suffix"]
        dynamic = c.get("dynamic", False)
        label = precision_name(c["quant"], "dynamic" if dynamic else None)
        target = art_dir / artifact_file(artifact_stem(model), w, h, label, suffix)
        checks = rw_checks if random_weights else "full"
        commands.append(command_line(convert_cli.build_parser(), model, to=c["to"], quant=c["quant"],
                                     size=f"{w}x{h}", out=target, dynamic=dynamic, random_weights=random_weights,
                                     checks=checks if checks != "full" else None))
        artifacts.append(str(target))
        if artifact_intact(target):
            continue  # finished by an earlier run
        if target.exists():
            print(f"rebuilding {target}: it does not match its conversion report", file=sys.stderr)
        options = dict(to=c["to"], quant=c["quant"], size=(w, h), random_weights=random_weights, checks=checks,
                       dynamic=dynamic)
        if ray_address:
            pending.append((model, target, options))
        else:
            convert(model, out=target, **options)
    if pending:
        from vst.pipeline.cluster import convert_on_cluster
        convert_on_cluster(pending, progress)
    return artifacts


def run_job(job: dict, out: Path, progress: bool = True, command: str | None = None,
            ray_address: str | None = None) -> Path:
    """The job into `out`; `ray_address`: its conversions and benchmark cells are tasks of that Ray cluster
    ("local": an embedded one), everything still written into `out` by this process."""
    from vst.bench.sweep import Protocol, run_sweep
    from vst.reports import build_report

    out = Path(out)
    art_dir, bench_dir = out / "artifacts", out / "bench"
    sizes = [parse_size(r) for r in job["resolutions"]]
    if job.get("study"):
        from vst.training.study import load_study
        load_study(job["study"])  # a missing study fails before any conversion, not after the benchmark
    commands = [command or f"vst-run --out {shlex.quote(str(out))}"]
    t0 = time.perf_counter()
    artifacts = convert_job(job, art_dir, commands, progress, ray_address)
    t_convert = time.perf_counter() - t0

    b = job["bench"]
    protocol = Protocol(warmup_frames=b.get("warmup_frames", 10), warmup_seconds=b.get("warmup_seconds", 1.0),
                        measure_frames=b.get("frames"), measure_seconds=b.get("seconds"), repeats=b.get("repeats", 3),
                        cooldown_s=b.get("cooldown", 2.0), threads=b.get("threads"))
    runnable = [a for a in artifacts if not a.endswith(".mlpackage")]
    commands.append(command_line(bench_cli.build_parser(), device=b.get("device", "host"), model=runnable,
                                 out=bench_dir, frames=protocol.measure_frames, seconds=protocol.measure_seconds,
                                 repeats=protocol.repeats, warmup_frames=protocol.warmup_frames,
                                 warmup_seconds=protocol.warmup_seconds, cooldown=protocol.cooldown_s,
                                 threads=protocol.threads, video=b.get("video")))
    t1 = time.perf_counter()
    run_sweep(b.get("device", "host"), runnable, sizes, bench_dir, protocol=protocol, video=b.get("video"),
              progress=progress, log=lambda msg: print(msg, file=sys.stderr), ray_address=ray_address)
    t_bench = time.perf_counter() - t1

    report = out / "report.html"
    studies = [job["study"]] if job.get("study") else []
    commands.append(command_line(reports_cli.build_parser(), art_dir, bench_dir, out=report,
                                 study=studies or None))
    atomic_write_text(out / COMMANDS_FILE, "\n".join(commands) + "\n")
    t2 = time.perf_counter()
    build_report([out], report, job.get("title", "vst report"), studies)
    print(f"timing: convert {t_convert:.0f} s, bench {t_bench:.0f} s, report {time.perf_counter() - t2:.0f} s",
          file=sys.stderr)
    return report
