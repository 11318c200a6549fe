"""Find what a report is made of among the paths a user gives: conversion reports, benchmark stores, and the
commands that produced them (recorded by the main job as commands.txt)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vst.common.errors import VstError
from vst.common.records import COMMANDS_FILE, CONVERSION_REPORT_SUFFIX, RESULTS_INDEX, read_record, schema

COMPARE_SUFFIX = ".compare.json"   # vst-bench --compare ... --json NAME.compare.json


@dataclass
class Inputs:
    conversions: list[tuple[Path, dict]] = field(default_factory=list)
    bench: pd.DataFrame = field(default_factory=pd.DataFrame)
    bench_dirs: list[Path] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    comparisons: list[tuple[Path, dict]] = field(default_factory=list)


# What the page reads of a conversion report where the report's schema leaves a section loosely typed (it is
# checked as well as that schema: a forged report is one line, not a traceback halfway through the page).
REPORT_PAGE_FIELDS = {
    "type": "object",
    "properties": {
        "profile": {"properties": {
            "ops": {"type": "array", "items": {
                "type": "object", "required": ["op", "name", "shape", "dtype", "ms", "share"],
                "properties": {"op": {"type": "string"}, "name": {"type": "string"}, "dtype": {"type": "string"},
                               "shape": {"type": "array", "items": {"type": "integer"}},
                               "ms": {"type": "number"}, "share": {"type": "number"}}}},
            "by_op": {"type": "object", "additionalProperties": {"type": "number"}}}},
    },
}
# A vst-bench --compare JSON as the page reads it (bench.compare writes it; NaN stands for an interval that
# could not be drawn).
COMPARISON_FIELDS = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object", "required": ["entries"],
    "properties": {
        "size": {"type": "string"}, "rounds": {"type": "integer"},
        "entries": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["artifact", "runtime", "latency_ms_median"],
            "properties": {"artifact": {"type": "string"}, "runtime": {"type": "string"},
                           "precision": {"type": ["string", "null"]}, "latency_ms_median": {"type": "number"}}}},
    },
    # every entry after the first is measured against the first
    "allOf": [{"properties": {"entries": {"prefixItems": [{}], "items": {
        "required": ["speed_ratio", "speed_ratio_ci", "resolved"],
        "properties": {"speed_ratio": {"type": "number"}, "resolved": {"type": "boolean"},
                       "speed_ratio_ci": {"type": "array", "items": {"type": "number"}, "minItems": 2,
                                          "maxItems": 2}}}}}}],
}


def _read_comparison(path: Path) -> dict:
    return read_record(path, COMPARISON_FIELDS, "a vst-bench --compare JSON",
                       "write it again with vst-bench --compare A B --json NAME.compare.json", allow_nan=True)


def _read_report(path: Path) -> dict:
    return read_record(path, {"allOf": [schema("conversion-report"), REPORT_PAGE_FIELDS]}, "a vst-convert report",
                       "convert the model again with vst-convert, or leave this report out")


def _read_commands(path: Path) -> list[str]:
    """The main job's command log: text lines, shown as text (escaped) on the page."""
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise VstError(f"cannot read {path} ({why}): it is not the command log vst-run writes; move it away "
                       "or give the folders inside this one") from None
    return [line for line in text.splitlines() if line.strip()]


def collect(paths: list[str | Path]) -> Inputs:
    from vst.bench.store import load_results

    found = Inputs()
    seen_reports: set[Path] = set()
    frames = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise VstError(f"{path} does not exist; give conversion reports (*.report.json), vst-bench --out "
                           "folders, or folders holding them")
        if path.is_file():
            if path.name.endswith(CONVERSION_REPORT_SUFFIX):
                report_files, bench_dirs, command_files = [path], [], []
            elif path.name == RESULTS_INDEX:
                report_files, bench_dirs, command_files = [], [path.parent], []
            elif path.name.endswith(COMPARE_SUFFIX):
                report_files, bench_dirs, command_files = [], [], []
                found.comparisons.append((path, _read_comparison(path)))
            else:
                raise VstError(f"{path} is neither a conversion report (*{CONVERSION_REPORT_SUFFIX}) , a "
                               f"benchmark index ({RESULTS_INDEX}) nor a comparison (*{COMPARE_SUFFIX}); give one of "
                               "those or a folder")
        else:
            report_files = sorted(path.rglob(f"*{CONVERSION_REPORT_SUFFIX}"))
            bench_dirs = sorted({p.parent for p in path.rglob(RESULTS_INDEX)} |
                                {p.parent.parent for p in path.rglob("results/*.json")})
            command_files = sorted(path.rglob(COMMANDS_FILE))
            found.comparisons += [(p, _read_comparison(p)) for p in sorted(path.rglob(f"*{COMPARE_SUFFIX}"))]
        for rf in report_files:
            if rf.resolve() in seen_reports:
                continue
            seen_reports.add(rf.resolve())
            found.conversions.append((rf, _read_report(rf)))
        for bd in bench_dirs:
            if bd.resolve() not in {d.resolve() for d in found.bench_dirs}:
                found.bench_dirs.append(bd)
                frames.append(load_results(bd).assign(store=str(bd)))
        for cf in command_files:
            found.commands.extend(_read_commands(cf))
    if frames:
        found.bench = pd.concat(frames, ignore_index=True)
    if not found.conversions and found.bench.empty and not found.comparisons:
        raise VstError("found no conversion reports and no benchmark results in " + ", ".join(map(str, paths)) +
                       "; run vst-convert / vst-bench first, or the main job `vst-run`")
    return found
