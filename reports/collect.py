"""Find what a report is made of among the paths a user gives: conversion reports, benchmark stores, and the
commands that produced them (recorded by the main job as commands.txt)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vst.common.errors import InternalError, VstError

CONVERT_REPORT_SUFFIX = ".report.json"
BENCH_INDEX = "results.csv"
COMMANDS_FILE = "commands.txt"
COMPARE_SUFFIX = ".compare.json"   # vst-bench --compare ... --json NAME.compare.json


@dataclass
class Inputs:
    conversions: list[tuple[Path, dict]] = field(default_factory=list)
    bench: pd.DataFrame = field(default_factory=pd.DataFrame)
    bench_dirs: list[Path] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    comparisons: list[tuple[Path, dict]] = field(default_factory=list)


def _read_comparison(path: Path) -> dict:
    import json
    try:
        doc = json.loads(path.read_text())
        if not isinstance(doc.get("entries"), list) or not doc["entries"]:
            raise ValueError("no entries")
        for e in doc["entries"]:
            float(e["latency_ms_median"])
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise VstError(f"{path} is not a vst-bench --compare JSON ({type(exc).__name__}); write it again with "
                       "vst-bench --compare A B --json NAME.compare.json") from None
    return doc


def collect(paths: list[str | Path]) -> Inputs:
    from vst.bench.store import load_results
    from vst.convert.report import load as load_report, validate as validate_report

    found = Inputs()
    seen_reports: set[Path] = set()
    frames = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise VstError(f"{path} does not exist; give conversion reports (*.report.json), vst-bench --out "
                           "folders, or folders holding them")
        if path.is_file():
            if path.name.endswith(CONVERT_REPORT_SUFFIX):
                report_files, bench_dirs, command_files = [path], [], []
            elif path.name == BENCH_INDEX:
                report_files, bench_dirs, command_files = [], [path.parent], []
            elif path.name.endswith(COMPARE_SUFFIX):
                report_files, bench_dirs, command_files = [], [], []
                found.comparisons.append((path, _read_comparison(path)))
            else:
                raise VstError(f"{path} is neither a conversion report (*{CONVERT_REPORT_SUFFIX}) , a "
                               f"benchmark index ({BENCH_INDEX}) nor a comparison (*{COMPARE_SUFFIX}); give one of "
                               "those or a folder")
        else:
            report_files = sorted(path.rglob(f"*{CONVERT_REPORT_SUFFIX}"))
            bench_dirs = sorted({p.parent for p in path.rglob(BENCH_INDEX)} |
                                {p.parent.parent for p in path.rglob("results/*.json")})
            command_files = sorted(path.rglob(COMMANDS_FILE))
            found.comparisons += [(p, _read_comparison(p)) for p in sorted(path.rglob(f"*{COMPARE_SUFFIX}"))]
        for rf in report_files:
            if rf.resolve() in seen_reports:
                continue
            seen_reports.add(rf.resolve())
            doc = load_report(rf)
            try:
                validate_report(doc)
            except InternalError as exc:
                raise VstError(f"{rf} is not a valid vst-convert report ({exc}); "
                               "re-run vst-convert") from None
            found.conversions.append((rf, doc))
        for bd in bench_dirs:
            if bd.resolve() not in {d.resolve() for d in found.bench_dirs}:
                found.bench_dirs.append(bd)
                frames.append(load_results(bd).assign(store=str(bd)))
        for cf in command_files:
            found.commands.extend(line for line in cf.read_text().splitlines() if line.strip())
    if frames:
        found.bench = pd.concat(frames, ignore_index=True)
    if not found.conversions and found.bench.empty and not found.comparisons:
        raise VstError("found no conversion reports and no benchmark results in " + ", ".join(map(str, paths)) +
                       "; run vst-convert / vst-bench first, or the main job `vst-run`")
    return found
