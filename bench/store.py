"""The results store: one JSON per finished cell (raw samples) and an append-only CSV index, one row per cell.

A cell's JSON is written atomically before its CSV row is appended, and a sweep skips cells whose JSON exists;
so a sweep killed at any point resumes without redoing or losing a finished cell (a row missing after a kill
between the two writes is restored from the JSON).

Nothing in a store is trusted: a damaged result JSON counts as not measured (the next sweep measures the cell
again), damaged index rows are dropped and rewritten from the JSONs, paths are derived from cell ids rather
than read from the index, and one writer at a time holds OUT/.lock.
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Iterator

import pandas as pd

from vst.bench.result import check_result, read_result
from vst.common.errors import VstError
from vst.common.fsutil import atomic_write_text, ensure_writable_dir
from vst.common.records import RESULTS_FOLDER, RESULTS_INDEX

INDEX = RESULTS_INDEX
RESULTS = RESULTS_FOLDER
LOCK = ".lock"
COLUMNS = ["run_id", "cell_id", "finished_at", "source", "device", "platform", "hardware", "chip", "os", "runtime",
           "runtime_version", "delegate", "delegate_used", "threads", "artifact", "artifact_format", "model_name",
           "arch", "params", "precision", "resolution", "width", "height", "layout", "dtype", "frames", "repeats",
           "load_ms", "first_inference_ms", "inference_ms_median", "inference_ms_p90", "inference_ms_trimmed_mean",
           "inference_ms_cv", "e2e_ms_median", "e2e_ms_p90", "decode_ms_median", "resize_ms_median", "fps_e2e",
           "fps_inference", "e2e_over_inference", "repeat_spread", "spread_flag", "thermal_start", "thermal_end",
           "battery_start", "battery_end", "result_path", "named_config"]


def _thermal(t: dict | None) -> str:
    if not t:
        return ""
    return " ".join(x for x in (t.get("state"), f"{t['celsius']:.0f}C" if t.get("celsius") is not None else None) if x)


def _battery(b: dict | None) -> str:
    return f"{b['level_pct']:.0f}%" if b and b.get("level_pct") is not None else ""


def row_of(result: dict, result_path: Path, source: str) -> dict:
    plan, env, s = result["plan"], result["environment"], result["summary"]
    lat, model = s["latency_ms"], plan["artifact"].get("model") or {}
    return {
        "run_id": result["run_id"], "cell_id": plan["cell_id"], "finished_at": result["finished_at"],
        "source": source, "device": env["device"], "platform": env["platform"], "hardware": env.get("hardware"),
        "chip": env.get("chip"), "os": env["os"], "runtime": env["runtime"], "runtime_version": env["runtime_version"],
        "delegate": env["delegate_requested"], "delegate_used": env["delegate_used"], "threads": env["threads"],
        "artifact": plan["artifact"]["zoo_name"] or Path(plan["artifact"]["path"]).name,
        "artifact_format": plan["artifact"]["format"], "model_name": model.get("name"), "arch": model.get("arch"),
        "params": model.get("params"), "precision": model.get("precision"), "named_config": model.get("named_config"),
        "resolution": f"{result['input']['width']}x{result['input']['height']}",
        "width": result["input"]["width"], "height": result["input"]["height"], "layout": result["input"]["layout"],
        "dtype": result["input"]["dtype"], "frames": sum(r["e2e"]["frames"] for r in result["repeats"]),
        "repeats": len(result["repeats"]), "load_ms": result["load_ms"],
        "first_inference_ms": result["first_inference_ms"],
        "inference_ms_median": lat["inference_ms"]["median"], "inference_ms_p90": lat["inference_ms"]["p90"],
        "inference_ms_trimmed_mean": lat["inference_ms"]["trimmed_mean"], "inference_ms_cv": lat["inference_ms"]["cv"],
        "e2e_ms_median": lat["e2e_ms"]["median"], "e2e_ms_p90": lat["e2e_ms"]["p90"],
        "decode_ms_median": lat["decode_ms"]["median"], "resize_ms_median": lat["resize_ms"]["median"],
        "fps_e2e": s["fps_e2e"], "fps_inference": s["fps_inference"], "e2e_over_inference": s["e2e_over_inference"],
        "repeat_spread": s["repeat_spread"], "spread_flag": s["spread_flag"],
        "thermal_start": _thermal(env["thermal_start"]), "thermal_end": _thermal(env["thermal_end"]),
        "battery_start": _battery(env["battery_start"]), "battery_end": _battery(env["battery_end"]),
        "result_path": str(result_path),
    }


MEMORY_COLUMNS = {"memory_baseline_mb": "baseline_mb", "memory_after_load_mb": "after_load_mb",
                  "memory_peak_mb": "peak_mb", "memory_peak_reset": "peak_reset",
                  "memory_shared_with": "shared_with"}


def _result_columns(df: pd.DataFrame, results: dict[str, dict]) -> dict[str, list]:
    """Each row's runner (harness) and memory record, read from its result file; results from before memory
    was recorded leave those columns empty."""
    cols: dict[str, list] = {"harness": [], **{c: [] for c in MEMORY_COLUMNS}}
    for cell in df["cell_id"].astype(str):
        doc = results.get(cell) or {}
        mem = doc.get("memory") or {}
        cols["harness"].append((doc.get("environment") or {}).get("harness"))
        for col, key in MEMORY_COLUMNS.items():
            cols[col].append(mem.get(key))
    return cols


def _write_all(fd: int, data: bytes, what: Path) -> None:
    """os.write may write less than asked (a disk filling up): loop, and fail loudly on no progress."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except OSError as exc:
            raise VstError(f"cannot write {what}: {exc.strerror}; free space and run the command again "
                           "(measured cells are kept)") from None
        if n <= 0:
            raise VstError(f"cannot write {what}: the disk took no more bytes; free space and run the command "
                           "again (measured cells are kept)")
        view = view[n:]


def _append_row(out_dir: Path, row: dict) -> None:
    index = out_dir / INDEX
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    if not index.exists() or index.stat().st_size == 0:
        writer.writeheader()
    writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in COLUMNS})
    # one write() on an O_APPEND descriptor: a kill cannot interleave rows; a short write (disk full) leaves a
    # row without its newline, which _read_index drops and reconcile rewrites from the cell's JSON
    fd = os.open(index, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        _write_all(fd, buf.getvalue().encode(), index)
        os.fsync(fd)
    finally:
        os.close(fd)


CELL_ID = re.compile(r"[0-9a-f]{16}")


def result_path(out_dir: Path, cell: str) -> Path:
    # cell ids come from files a user may have edited: only a plain id may name a file, so that every path
    # the store opens stays inside it
    if not CELL_ID.fullmatch(str(cell)):
        raise VstError(f"{cell!r} is not a vst-bench cell id; the results folder {out_dir} is damaged: "
                       "delete the rows or files that carry it")
    return Path(out_dir) / RESULTS / f"{cell}.json"


def save_result(out_dir: str | Path, result: dict, source: str = "measured") -> dict:
    """Validate, write the cell's JSON atomically, then append its CSV row; returns the row."""
    out_dir = Path(out_dir)
    result = check_result(result, f"result of cell {result.get('plan', {}).get('cell_id', '?')}")
    ensure_writable_dir(out_dir / RESULTS)
    path = result_path(out_dir, result["plan"]["cell_id"])
    atomic_write_text(path, json.dumps(result, indent=1))
    row = row_of(result, path.relative_to(out_dir), source)
    _append_row(out_dir, row)
    return {**row, **result["trust"]}


def _fields(line: str) -> list[str] | None:
    try:
        return next(csv.reader([line]), [])
    except csv.Error:  # a stray carriage return, say: a damaged line
        return None


def _read_index(out_dir: Path) -> tuple[pd.DataFrame, int]:
    """The index's well-formed rows, and how many damaged lines were left out: a last row without its newline
    (a disk that filled during an append), rows with the wrong number of fields, rows whose result_path is
    not the file of their cell (a path read from a store must not lead out of it)."""
    index = out_dir / INDEX
    if index.is_dir():
        raise VstError(f"{index} is a folder, not vst-bench's index; move it away and run vst-bench again (rows "
                       "are rebuilt from the result files)")
    if not index.exists() or index.stat().st_size == 0:
        return pd.DataFrame(columns=COLUMNS), 0
    try:
        text = index.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise VstError(f"cannot read {index} ({exc.strerror}); check its permissions") from None
    lines = text.split("\n")
    tail = lines.pop()  # "" when the file ends in a newline, else a row cut short
    bad = 1 if tail else 0
    header = _fields(lines[0]) if lines else None
    if header and header != COLUMNS and header[:2] == COLUMNS[:2]:
        # an index written by another vst version (other columns): every row is rebuilt from the result files
        return pd.DataFrame(columns=COLUMNS), len(lines) - 1 + bad
    if header != COLUMNS:
        raise VstError(f"{index} does not start with the vst-bench header; move it away and run vst-bench "
                       "again (rows are rebuilt from the result files)")
    good = [lines[0]]
    for line in lines[1:]:
        fields = _fields(line) or []
        row = dict(zip(COLUMNS, fields))
        if len(fields) != len(COLUMNS) or not CELL_ID.fullmatch(row["cell_id"]) or \
                row["result_path"] != f"{RESULTS}/{row['cell_id']}.json":
            bad += 1
            continue
        good.append(line)
    df = pd.read_csv(io.StringIO("\n".join(good) + "\n"), dtype={"cell_id": str, "run_id": str})
    return df, bad


def scan_results(out_dir: str | Path) -> tuple[dict[str, dict], dict[str, str]]:
    """(cell -> result) for every result JSON that is valid and belongs to its file name, and (cell -> what is
    wrong) for the damaged ones (truncated, `{}`, another cell's content): those count as not measured."""
    d = Path(out_dir) / RESULTS
    good, damaged = {}, {}
    for p in sorted(d.glob("*.json")) if d.is_dir() else ():
        if not CELL_ID.fullmatch(p.stem):
            continue  # not a file the store wrote
        try:
            result = read_result(p)
        except VstError as exc:
            damaged[p.stem] = str(exc)
            continue
        if result["plan"]["cell_id"] != p.stem:
            damaged[p.stem] = f"{p} holds cell {result['plan']['cell_id']}"
            continue
        good[p.stem] = result
    return good, damaged


def finished_cells(out_dir: str | Path) -> set[str]:
    """Cells whose result JSON exists and is valid (the JSON, written first and atomically, is what counts)."""
    return set(scan_results(out_dir)[0])


def reconcile(out_dir: str | Path, results: dict[str, dict] | None = None) -> int:
    """Make results.csv hold exactly one well-formed row per valid result JSON at least: drop damaged rows and
    rows of cells without a valid JSON (rewriting the file atomically), then append rows for JSONs that have
    none (a kill between the two writes). Returns how many rows were dropped or added."""
    out_dir = Path(out_dir)
    if results is None:
        results = scan_results(out_dir)[0]
    df, bad = _read_index(out_dir)
    orphans = ~df["cell_id"].astype(str).isin(results)
    changed = bad + int(orphans.sum())
    if changed:
        buf = io.StringIO()
        df[~orphans].to_csv(buf, index=False, columns=COLUMNS, lineterminator="\n")
        atomic_write_text(out_dir / INDEX, buf.getvalue())
        df = df[~orphans]
    have = set(df["cell_id"].astype(str))
    for cell in sorted(set(results) - have):
        _append_row(out_dir, row_of(results[cell], result_path(out_dir, cell).relative_to(out_dir), "measured"))
        changed += 1
    return changed


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def load_results(out_dir: str | Path, history: bool = False, log=_stderr) -> pd.DataFrame:
    """One row per cell (the latest run of each unless history=True), columns as COLUMNS. Read-only: damaged
    rows and result files are left out with a warning (the next vst-bench run on the folder repairs them)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise VstError(f"{out_dir} is not a results folder; run vst-bench --out {out_dir} first")
    results, damaged = scan_results(out_dir)
    df, bad = _read_index(out_dir)
    keep = df["cell_id"].astype(str).isin(results)
    if bad or damaged or not keep.all():
        log(f"warning: {out_dir}: left out {bad + int((~keep).sum())} damaged index row(s) and "
            f"{len(damaged)} damaged result file(s); run vst-bench on it again to repair and re-measure")
    df = df[keep]
    missing = set(results) - set(df["cell_id"].astype(str))
    if missing:
        extra = [row_of(results[c], result_path(out_dir, c).relative_to(out_dir), "measured") for c in sorted(missing)]
        df = pd.concat([df, pd.DataFrame(extra, columns=COLUMNS)], ignore_index=True)
    if not history and len(df):
        df = df.sort_values("finished_at").drop_duplicates("cell_id", keep="last")
    df = df.reset_index(drop=True)
    df["spread_flag"] = df["spread_flag"].astype(str).str.lower().isin(["true", "1"])
    # derived from the result files, not stored in the index: stores written before these existed keep their header
    for col, values in {**_trust_columns(df, results), **_result_columns(df, results)}.items():
        df[col] = values
    return df


TRUST_COLUMNS = ["fps_e2e_ci_low", "fps_e2e_ci_high", "fps_inference_ci_low", "fps_inference_ci_high",
                 "replicability", "drift", "interleaved_cells"]


def _trust_columns(df: pd.DataFrame, results: dict[str, dict]) -> dict[str, list]:
    """Each row's bootstrap intervals, MLPerf replicability verdict and machine drift (from its result's trust figures)."""
    cols: dict[str, list] = {c: [] for c in TRUST_COLUMNS}
    for cell in df["cell_id"].astype(str):
        s = results[cell]["trust"]
        for kind in ("fps_e2e", "fps_inference"):
            lo, hi = s[f"{kind}_ci"]
            cols[f"{kind}_ci_low"].append(lo)
            cols[f"{kind}_ci_high"].append(hi)
        cols["replicability"].append(s["replicability"])
        cols["drift"].append(s["drift"])
        # how many cells took turns with this one (round-robin repeats); 1: it ran alone or back to back
        cols["interleaved_cells"].append(len((results[cell].get("interleaving") or {}).get("cells") or ()) or 1)
    return cols


def load_result(out_dir: str | Path, row: dict | pd.Series) -> dict:
    """The full result (raw samples) behind one row of load_results (its path derived from the cell id)."""
    return read_result(result_path(Path(out_dir), row["cell_id"]))


@contextlib.contextmanager
def store_lock(out_dir: Path) -> Iterator[None]:
    """Hold OUT/.lock for writing: two runs on one folder would both measure every cell and interleave rows."""
    ensure_writable_dir(out_dir)
    fd = os.open(out_dir / LOCK, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise VstError(f"another vst-bench run is writing to {out_dir}; wait for it to finish or give "
                           "another --out") from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def import_results(paths: list[str | Path], out_dir: str | Path, log=_stderr) -> list[dict]:
    """Validate result files measured elsewhere (a phone, another machine) and add them to the store."""
    results = [read_result(p) for p in paths]  # all valid before anything is written
    out_dir = Path(out_dir)
    with store_lock(out_dir):
        have = scan_results(out_dir)[0]
        rows = []
        for path, result in zip(paths, results):
            old = have.get(result["plan"]["cell_id"])
            # the same measurement (same run, same finish time) imported again adds nothing: no second row
            if old and (old["run_id"], old["finished_at"]) == (result["run_id"], result["finished_at"]):
                log(f"{path}: already in {out_dir} (run {result['run_id']}); skipped")
                continue
            rows.append(save_result(out_dir, result, source="imported"))
        return rows
