"""The results store: one JSON per finished cell (raw samples) and an append-only CSV index, one row per cell.

A cell's JSON is written atomically before its CSV row is appended, and a sweep skips cells whose JSON exists;
so a sweep killed at any point resumes without redoing or losing a finished cell (a row missing after a kill
between the two writes is restored from the JSON).
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pandas as pd

from vst.bench.result import check_result, read_result
from vst.common.errors import VstError
from vst.common.fsutil import atomic_write_text, ensure_writable_dir

INDEX = "results.csv"
RESULTS = "results"
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


def _append_row(out_dir: Path, row: dict) -> None:
    index = out_dir / INDEX
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    if not index.exists() or index.stat().st_size == 0:
        writer.writeheader()
    writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in COLUMNS})
    # one write() on an O_APPEND descriptor: a kill cannot interleave or half-append a row this small
    fd = os.open(index, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, buf.getvalue().encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def result_path(out_dir: Path, cell: str) -> Path:
    return Path(out_dir) / RESULTS / f"{cell}.json"


def save_result(out_dir: str | Path, result: dict, source: str = "measured") -> dict:
    """Validate, write the cell's JSON atomically, then append its CSV row; returns the row."""
    out_dir = Path(out_dir)
    ensure_writable_dir(out_dir / RESULTS)
    result = check_result(result, f"result of cell {result.get('plan', {}).get('cell_id', '?')}")
    path = result_path(out_dir, result["plan"]["cell_id"])
    atomic_write_text(path, json.dumps(result, indent=1))
    row = row_of(result, path.relative_to(out_dir), source)
    _append_row(out_dir, row)
    return row


def _indexed(out_dir: Path) -> pd.DataFrame:
    index = out_dir / INDEX
    if not index.exists() or index.stat().st_size == 0:
        return pd.DataFrame(columns=COLUMNS)
    return pd.read_csv(index, dtype={"cell_id": str, "run_id": str})


def finished_cells(out_dir: str | Path) -> set[str]:
    """Cells whose result JSON exists (the JSON, written first and atomically, is what counts as finished)."""
    d = Path(out_dir) / RESULTS
    return {p.stem for p in d.glob("*.json")} if d.is_dir() else set()


def reconcile(out_dir: str | Path) -> int:
    """Append rows for result JSONs that have none (a kill between the two writes); returns how many."""
    out_dir = Path(out_dir)
    have = set(_indexed(out_dir)["cell_id"].astype(str))
    added = 0
    for cell in sorted(finished_cells(out_dir) - have):
        path = result_path(out_dir, cell)
        result = read_result(path)
        _append_row(out_dir, row_of(result, path.relative_to(out_dir), "measured"))
        added += 1
    return added


def load_results(out_dir: str | Path, history: bool = False) -> pd.DataFrame:
    """One row per cell (the latest run of each unless history=True), columns as COLUMNS. Read-only."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise VstError(f"{out_dir} is not a results folder; run vst-bench --out {out_dir} first")
    df = _indexed(out_dir)
    missing = finished_cells(out_dir) - set(df["cell_id"].astype(str))
    if missing:
        extra = [row_of(read_result(result_path(out_dir, c)), result_path(out_dir, c).relative_to(out_dir),
                        "measured") for c in sorted(missing)]
        df = pd.concat([df, pd.DataFrame(extra, columns=COLUMNS)], ignore_index=True)
    if not history and len(df):
        df = df.sort_values("finished_at").drop_duplicates("cell_id", keep="last").reset_index(drop=True)
    df["spread_flag"] = df["spread_flag"].astype(str).str.lower().isin(["true", "1"])
    return df


def load_result(out_dir: str | Path, row: dict | pd.Series) -> dict:
    """The full result (raw samples) behind one row of load_results."""
    return json.loads((Path(out_dir) / row["result_path"]).read_text())


def import_results(paths: list[str | Path], out_dir: str | Path) -> list[dict]:
    """Validate result files measured elsewhere (a phone, another machine) and add them to the store."""
    rows = []
    for p in paths:
        result = read_result(p)
        rows.append(save_result(out_dir, result, source="imported"))
    return rows
