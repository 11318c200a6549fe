"""ExecuTorch speed study (`vst-run --job executorch-speed`): for each Table II configuration and size, timed in one
interleaved loop by vst.bench.compare: vst's .pte (fp32, whole network in one XNNPACK subgraph), ExecuTorch's
default lowering of the same module (what a PyTorch user gets: to_edge_transform_and_lower with the XNNPACK
partitioner, no rewrite), vst's TFLite fp32, and the int8 pair (vst's .pte int8 and TFLite int8, both full int8
calibrated the same way). Ratios are paired round by round with 95% intervals and counted against the targets:
vst's .pte >= 3x the default lowering's throughput, and its time <= 1.1x TFLite's (fp32 against fp32, int8 against
int8). Modelled on vst.pipeline.table2_speed, whose conversion and Table II helpers it calls.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

from vst.common.errors import VstError
from vst.common.fsutil import atomic_write_text
from vst.common.records import read_conversion_report
from vst.pipeline import table2_speed
from vst.pipeline.table2_speed import SECONDS, THREADS, artifacts

RESULTS_FILE = "executorch-speed.json"
# the targets the table is counted against
VS_DEFAULT_MIN, VS_TFLITE_MAX = 3.0, 1.1
# what vst-convert makes, (key, target, precision, I/O layout); vst's fp32 .pte first: compare's baseline
CONVERTED = (("pte", "executorch", "fp32", "nhwc"), ("tflite", "tflite", "fp32", "nhwc"),
             ("pte_int8", "executorch", "int8", "nhwc"), ("tflite_int8", "tflite", "int8", "nhwc"))


def default_lowering(name: str, size: tuple[int, int], work: Path) -> tuple[Path, dict]:
    """ExecuTorch's own lowering of zoo model `name` (the same seeded random weights vst-convert takes) at one size,
    written once into `work` (a rerun reuses it); its delegation summary is kept beside it."""
    import torch
    from vst.convert import pte, sources
    from vst.convert.targets import write_artifact
    w, h = size
    out = work / f"{name}_{w}x{h}_default.pte"
    summary = out.with_name(out.name + ".delegation.json")
    if out.is_file() and summary.is_file():
        return out, json.loads(summary.read_text())
    module = sources.resolve_source(name, random_weights=True).module
    lowered = pte.default_program(module, torch.rand(1, 3, h, w))
    write_artifact(out, lowered.data)
    atomic_write_text(summary, json.dumps(lowered.delegation, indent=1) + "\n")
    return out, lowered.delegation


def cell(name: str, size: tuple[int, int], work: Path, seconds: float = SECONDS, threads: int = THREADS,
         video: str | Path | None = None) -> dict:
    """One model at one size: its five programs timed interleaved, and one table row."""
    from vst.bench.compare import compare
    from vst.bench.stats import paired_ratio
    paths = artifacts(name, size, work, kinds=CONVERTED[:2])
    int8_error = None
    try:
        paths.update(artifacts(name, size, work, kinds=CONVERTED[2:]))
    except VstError as exc:     # an int8 program that fails costs its columns, not the fp32 figures of the cell
        int8_error = str(exc)
        print(f"{name} {size[0]}x{size[1]}: no int8 pair: {int8_error}", file=sys.stderr, flush=True)
    paths["default"], default_delegation = default_lowering(name, size, work)
    res = compare([str(p) for p in paths.values()], size=size, seconds=seconds, video=video, threads=threads,
                  progress=False)
    e = dict(zip(paths, res["entries"]))

    def ratio(num: str, den: str) -> tuple[float, list[float]]:
        r, lo, hi = paired_ratio(e[num]["round_ms"], e[den]["round_ms"])
        return round(r, 3), [round(lo, 3), round(hi, 3)]
    reps = {k: read_conversion_report(paths[k]) for k in ("pte", "pte_int8") if k in paths}
    vs_default, vs_default_ci = ratio("default", "pte")          # default's time / vst's: vst's throughput gain
    vs_tflite, vs_tflite_ci = ratio("pte", "tflite")             # vst .pte time / TFLite time
    int8_vs_tflite, int8_vs_tflite_ci = ratio("pte_int8", "tflite_int8") if int8_error is None else (None, None)
    return {"model": name, "size": f"{size[0]}x{size[1]}", "rounds": res["rounds"],
            "ms_median": {k: round(v["latency_ms_median"], 2) for k, v in e.items()},
            "vs_default": vs_default, "vs_default_ci": vs_default_ci,
            "vs_tflite": vs_tflite, "vs_tflite_ci": vs_tflite_ci,
            "int8_vs_tflite": int8_vs_tflite, "int8_vs_tflite_ci": int8_vs_tflite_ci,
            "subgraphs": {"default": default_delegation["subgraphs"],
                          **{k: r["executorch"]["delegation"]["subgraphs"] for k, r in reps.items()}},
            "default_compute_outside": default_delegation["compute_nodes_outside"],
            **({"int8_error": int8_error} if int8_error else {}),
            "drift": round(res["drift"], 3)}


def line(row: dict) -> str:
    """What is printed as a cell finishes."""
    ms = row["ms_median"]
    return (f"{row['model']} {row['size']}: vst .pte {ms['pte']} ms, default {ms['default']} ms, TFLite "
            f"{ms['tflite']} ms; int8 .pte {ms.get('pte_int8', '-')} ms, TFLite int8 {ms.get('tflite_int8', '-')} ms")


def format_table(res: dict) -> str:
    """The table of docs/executorch.md and the counts against the targets."""
    rows = res["rows"]

    def ci(r, k):
        if r[k] is None:
            return "- (no int8 program)"
        return f"{r[k]:.2f} [{r[k + '_ci'][0]:.2f}, {r[k + '_ci'][1]:.2f}]"
    lines = [f"ExecuTorch (XNNPACK) vs LiteRT (XNNPACK), {res['threads']} threads, one interleaved run per row; ms: "
             f"medians; ratios: medians of the ratios paired round by round [95% interval] ({res['load']})",
             f"| config | size | default ms | vst .pte ms | TFLite ms | .pte int8 ms | TFLite int8 ms | "
             f"vst .pte vs default, throughput [>= {VS_DEFAULT_MIN}] | .pte / TFLite time [<= {VS_TFLITE_MAX}] | "
             f"int8 .pte / TFLite int8 time [<= {VS_TFLITE_MAX}] | subgraphs default/vst/vst int8 |",
             "|---" * 11 + "|"]
    for r in rows:
        ms, sg = r["ms_median"], r["subgraphs"]
        lines.append(f"| {r['model']} | {r['size']} | {ms['default']} | {ms['pte']} | {ms['tflite']} | "
                     f"{ms.get('pte_int8', '-')} | {ms.get('tflite_int8', '-')} | {ci(r, 'vs_default')} | "
                     f"{ci(r, 'vs_tflite')} | {ci(r, 'int8_vs_tflite')} | "
                     f"{sg['default']}/{sg['pte']}/{sg.get('pte_int8', '-')} |")
    n = len(rows)
    lines.append(f"vst .pte >= {VS_DEFAULT_MIN}x the default lowering: "
                 f"{sum(r['vs_default'] >= VS_DEFAULT_MIN for r in rows)}/{n} cells; .pte time <= {VS_TFLITE_MAX}x "
                 f"TFLite fp32: {sum(r['vs_tflite'] <= VS_TFLITE_MAX for r in rows)}/{n}; int8 .pte time <= "
                 f"{VS_TFLITE_MAX}x TFLite int8: "
                 f"{sum(r['int8_vs_tflite'] is not None and r['int8_vs_tflite'] <= VS_TFLITE_MAX for r in rows)}/"
                 f"{sum(r['int8_vs_tflite'] is not None for r in rows)} (cells with an int8 program)")
    return "\n".join(lines)


def run_study(out: Path, sizes: Sequence[tuple[int, int]], configs: Sequence[int] | None = None,
              seconds: float = SECONDS, threads: int = THREADS, video: str | Path | None = None) -> Path:
    """The study into `out` as table2_speed runs its own: programs and TFLite files in out/artifacts (kept, so a
    rerun resumes), the table printed, every figure in out/executorch-speed.json."""
    return table2_speed.run_study(out, sizes, configs, seconds, threads, video, study=sys.modules[__name__])
