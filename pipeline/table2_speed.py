"""Table II speed study (`vst-run --job table2-speed`): for each Table II configuration and size, fp32 and int8
TFLite from vst.convert.convert(), ONNX Runtime on the same static ONNX (convert(to="onnx", io_layout="nchw")),
and the GEMM peak, timed in one interleaved loop by vst.bench.compare (ratios paired round by round with 95%
intervals); then one table and the counts against the targets (fp32 <= 0.8x ONNX Runtime, int8 >= 1.5x fp32,
t2-01's effective throughput >= 0.6x the GEMM peak).

It converts and times, so it sits above both: it calls their public functions only.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from vst.common.errors import VstError
from vst.common.fsutil import atomic_write_text, ensure_writable_dir
from vst.common.records import read_conversion_report, table2_name
from vst.pipeline.job import artifact_intact

RESULTS_FILE = "table2-speed.json"
THREADS = 2
SECONDS = 10.0        # per configuration and size: at least compare.MIN_ROUNDS rounds whatever the budget
# the targets the table is counted against
FP32_VS_ORT_MAX, INT8_SPEEDUP_MIN, OF_GEMM_PEAK_MIN = 0.8, 1.5, 0.6
# what is timed, in compare's order: fp32 first, so every ratio is fp32's time over the other's in the same round
ARTIFACTS = (("fp32", "tflite", "fp32", "nhwc"), ("ort", "onnx", "fp32", "nchw"), ("int8", "tflite", "int8", "nhwc"))


def config_ids(configs: Sequence[int] | None = None) -> list[int]:
    """Table II's row ids, all 15 or the given ones (each checked)."""
    from vst.models import table2
    ids = [int(r["id"]) for r in table2()]
    for i in configs or ():
        if i not in ids:
            raise VstError(f"--configs {i}: Table II has configurations {ids[0]}-{ids[-1]}")
    return [i for i in ids if not configs or i in configs]


def artifacts(name: str, size: tuple[int, int], work: Path, label: str | None = None,
              kinds: Sequence[tuple[str, str, str, str]] = ARTIFACTS) -> dict[str, Path]:
    """The artifacts `kinds` names ((key, target, precision, I/O layout); default: the fp32 and int8 TFLite files
    and the static NCHW ONNX) of model `name` (random weights) at one size, converted into `work` as `label`
    (default: the name) unless an earlier run finished them (a rerun resumes)."""
    from vst.convert import convert
    from vst.runtimes.table import TARGETS
    w, h = size
    paths = {}
    for key, to, quant, layout in kinds:
        out = work / f"{label or name}_{w}x{h}_{key}{TARGETS[to]['suffix']}"
        if not artifact_intact(out):
            # proofs: the artifact of a fully checked conversion, without the temporal QA and per-layer diagnosis
            # that a speed study of random weights does not use
            convert(name, to=to, quant=quant, size=size, out=out, io_layout=layout, random_weights=True,
                    checks="proofs")
        paths[key] = out
    return paths


def cell(name: str, size: tuple[int, int], work: Path, seconds: float = SECONDS, threads: int = THREADS,
         video: str | Path | None = None, label: str | None = None) -> dict:
    """One model (a Table II configuration, or any zoo name) at one size: its three artifacts and the GEMM peak
    timed interleaved (vst.bench.compare.compare with gemm_peak), and the figures of one table row."""
    from vst.bench.compare import compare
    paths = artifacts(name, size, work, label)
    res = compare([str(p) for p in paths.values()], size=size, seconds=seconds, video=video, threads=threads,
                  progress=False, gemm_peak=True)
    e = dict(zip(paths, res["entries"]))
    reps = {k: read_conversion_report(paths[k]) for k in ("fp32", "int8")}

    def ratio(key):
        return round(e[key]["speed_ratio"], 3), [round(v, 3) for v in e[key]["speed_ratio_ci"]]
    fp32_vs_ort, fp32_vs_ort_ci = ratio("ort")          # fp32 time / ORT time: < 1 is vst faster
    int8_speedup, int8_speedup_ci = ratio("int8")       # fp32 time / int8 time: > 1 is int8 faster
    return {"model": name, "size": f"{size[0]}x{size[1]}", "macs": e["fp32"]["macs"],
            "ms_median": {k: round(v["latency_ms_median"], 2) for k, v in e.items()},
            "ms_best": {k: round(v["latency_ms_best"], 2) for k, v in e.items()},
            "rounds": res["rounds"], "fp32_vs_ort": fp32_vs_ort, "fp32_vs_ort_ci": fp32_vs_ort_ci,
            "int8_speedup": int8_speedup, "int8_speedup_ci": int8_speedup_ci,
            "gemm_peak_gflops": round(res["gemm_peak"]["gflops"], 1),
            "fp32_effective_gflops": round(e["fp32"]["effective_gflops"], 1),
            "partitions": {q: r["xnnpack"]["partitions"] for q, r in reps.items()},
            "transposes": {q: r["transposes"]["after"] for q, r in reps.items()},
            "int8_psnr_vs_reference_db": reps["int8"]["fidelity"]["psnr_db"]}


def line(row: dict) -> str:
    """What is printed as a cell finishes."""
    ms = row["ms_median"]
    return f"{row['model']} {row['size']}: fp32 {ms['fp32']} ms, ORT {ms['ort']} ms, int8 {ms['int8']} ms"


def run(sizes: Sequence[tuple[int, int]], work: Path, configs: Sequence[int] | None = None,
        seconds: float = SECONDS, threads: int = THREADS, video: str | Path | None = None,
        cell: Callable[..., dict] = cell, line: Callable[[dict], str] = line) -> dict:
    """Every cell (sizes x configurations; `cell` times one, `line` says it), printed as it finishes;
    {rows, load, threads, seconds}."""
    if seconds <= 0:
        raise VstError("--seconds must be positive")
    ids = config_ids(configs)
    ensure_writable_dir(work)
    load0 = os.getloadavg()[0]
    rows = []
    for size in sizes:
        for i in ids:
            row = cell(table2_name(i), size, work, seconds, threads, video)
            print(line(row), flush=True)
            rows.append(row)
    load = f"load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    return {"rows": rows, "load": load, "threads": threads, "seconds": seconds}


def format_table(res: dict) -> str:
    """The table of docs/convert.md and the counts against the targets."""
    rows = res["rows"]

    def ci(r, k):
        return f"{r[k]:.3f} [{r[k + '_ci'][0]:.2f}, {r[k + '_ci'][1]:.2f}]"
    lines = [f"Table II family, LiteRT + XNNPACK vs ONNX Runtime, {res['threads']} threads; ms: medians of the "
             f"interleaved runs; ratios: medians of the ratios paired round by round [95% interval] ({res['load']})",
             f"| config | size | GMAC | fp32 ms | ORT ms | fp32/ORT [<= {FP32_VS_ORT_MAX}] | int8 ms | "
             f"int8 speedup [>= {INT8_SPEEDUP_MIN}] | fp32 GFLOP/s (best) | GEMM peak GFLOP/s | partitions fp32/int8 |",
             "|---" * 11 + "|"]
    for r in rows:
        ms = r["ms_median"]
        lines.append(f"| {r['model']} | {r['size']} | {r['macs'] / 1e9:.2f} | {ms['fp32']} | {ms['ort']} | "
                     f"{ci(r, 'fp32_vs_ort')} | {ms['int8']} | {ci(r, 'int8_speedup')} | "
                     f"{r['fp32_effective_gflops']} | {r['gemm_peak_gflops']} | "
                     f"{r['partitions']['fp32']}/{r['partitions']['int8']} |")
    peak = max(r["gemm_peak_gflops"] for r in rows)
    for r in rows:
        if r["model"] == table2_name(1):
            lines.append(f"{r['model']} {r['size']} fp32: {r['fp32_effective_gflops']} GFLOP/s effective = "
                         f"{r['fp32_effective_gflops'] / peak:.2f}x the GEMM peak measured in this run ({peak} "
                         f"GFLOP/s) [>= {OF_GEMM_PEAK_MIN}]")
    n = len(rows)
    lines.append(f"fp32 <= {FP32_VS_ORT_MAX}x ORT: {sum(r['fp32_vs_ort'] <= FP32_VS_ORT_MAX for r in rows)}/{n} "
                 f"cells; int8 >= {INT8_SPEEDUP_MIN}x fp32: "
                 f"{sum(r['int8_speedup'] >= INT8_SPEEDUP_MIN for r in rows)}/{n} cells")
    return "\n".join(lines)


def run_study(out: Path, sizes: Sequence[tuple[int, int]], configs: Sequence[int] | None = None,
              seconds: float = SECONDS, threads: int = THREADS, video: str | Path | None = None,
              study: Any = None) -> Path:
    """The study into `out`: artifacts in out/artifacts (kept, so a rerun resumes), the table printed, and
    every figure in out/table2-speed.json. `study`: another study module with the same cell, line, format_table
    and RESULTS_FILE (vst.pipeline.executorch_speed); default this one."""
    study = study or sys.modules[__name__]
    res = run(sizes, Path(out) / "artifacts", configs, seconds, threads, video, study.cell, study.line)
    print(study.format_table(res))
    path = Path(out) / study.RESULTS_FILE
    atomic_write_text(path, json.dumps(res, indent=1) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return path
