"""What the phone's GPU takes of the zoo (`vst-run --job gpu-coverage`): every model at every TFLite precision
(fp32, fp16, full int8, dynamic int8) converted by vst.convert.convert(), whose GPU check runs the artifact on
LiteRT's GPU accelerator (vst.convert.gpu_check); one table of what the GPU took, its float16 fidelity and
temporal error, and where the allow-list (rules/tflite_gpu.json) disagrees with it. Model files of the user's
(TorchScript, .pt2, ONNX, checkpoints) join the zoo with --models.

It converts, so it sits above convert: it calls its public function and reads the reports it writes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from vst.common.errors import VstError
from vst.common.fsutil import atomic_write_text, ensure_writable_dir
from vst.common.records import artifact_file, read_conversion_report, table2_name
from vst.pipeline.job import artifact_intact, resolve_model

RESULTS_FILE = "gpu-coverage.json"     # one per size: gpu-coverage-WxH.json
SIZE = (128, 96)
# the zoo's families beside Table II: Huang, ReCoNet, Johnson, and one shipped (trained) model
ZOO_EXTRA = ("huang-353-res48", "reconet", "johnson", "kunster.a025-s05-stage2")
PRECISIONS = (("fp32", "fp32", False), ("fp16", "fp16", False), ("int8", "int8", False),
              ("int8-dynamic", "int8", True))


def models(configs: Sequence[int] | None, extra: Sequence[str] = ()) -> list[str]:
    from vst.pipeline.table2_speed import config_ids
    return [table2_name(i) for i in config_ids(configs)] + ([] if configs else list(ZOO_EXTRA)) + list(extra)


def cell(model: str, key: str, quant: str, dynamic: bool, size: tuple[int, int], work: Path) -> dict:
    """One artifact: converted with full checks (the GPU run among them) unless an earlier run finished it."""
    from vst.convert import convert
    from vst.models.names import artifact_stem
    spec, random_weights = resolve_model(model)
    out = work / artifact_file(artifact_stem(model), *size, key, ".tflite")     # vst-convert's own default name
    if not artifact_intact(out):
        convert(spec, to="tflite", quant=quant, dynamic=dynamic, size=size, out=out, random_weights=random_weights)
    rep = read_conversion_report(out)
    g = rep.get("gpu") or {}
    row = {"model": model, "precision": key, "size": f"{size[0]}x{size[1]}", "artifact": out.name,
           "path": rep["conversion_path"]["produced_by"], "gpu_measured": bool(g.get("measured"))}
    if not g.get("measured"):
        return {**row, "note": g.get("reason", "no GPU record")}
    fid, tmp = g.get("fidelity") or {}, g.get("temporal") or {}
    return {**row, "verdict": g["verdict"], "cpu_ops": [o["op"] for o in g.get("cpu_ops", [])],
            "psnr_vs_source_db": fid.get("psnr_db"), "psnr_vs_cpu_db": (g.get("vs_cpu") or {}).get("psnr_db"),
            "temporal_ratio": tmp.get("ratio"), "allow_list": g["allow_list"]["verdict"],
            "allow_list_falls_back": g["allow_list"]["falls_back"], "agrees": g["agrees_with_allow_list"],
            "random_weights": rep["source"]["random_weights"]}


def run_study(out: Path, size: tuple[int, int] = SIZE, configs: Sequence[int] | None = None,
              extra: Sequence[str] = ()) -> dict:
    from vst.runtimes import gpu
    usable, why, _ = gpu.availability()
    if not usable:
        raise VstError(why)
    work = out / "artifacts"
    ensure_writable_dir(work)
    rows = []
    for model in models(configs, extra):
        for key, quant, dynamic in PRECISIONS:
            try:
                row = cell(model, key, quant, dynamic, size, work)
            except VstError as exc:     # a precision the converter refuses for this model is a finding too
                row = {"model": model, "precision": key, "size": f"{size[0]}x{size[1]}", "gpu_measured": False,
                       "note": f"not converted: {exc}"}
            print(line(row), flush=True)
            rows.append(row)
    res = {"rows": rows, "size": f"{size[0]}x{size[1]}", "adapter": why}
    atomic_write_text(out / RESULTS_FILE.replace(".json", f"-{size[0]}x{size[1]}.json"), json.dumps(res, indent=1))
    print(format_table(res))
    return res


def line(r: dict) -> str:
    if not r["gpu_measured"]:
        return f"{r['model']} {r['precision']}: {r.get('note')}"
    cpu = f" (on the CPU: {', '.join(r['cpu_ops'])})" if r["cpu_ops"] else ""
    return (f"{r['model']} {r['precision']}: GPU {r['verdict']}{cpu}, {r['psnr_vs_source_db']} dB vs source, "
            f"temporal {r['temporal_ratio']}x; allow-list {r['allow_list']}")


def format_table(res: dict) -> str:
    rows = res["rows"]
    lines = [f"LiteRT GPU accelerator on {res['adapter']}, {res['size']}: what the GPU took of each artifact",
             "| model | precision | made by | GPU | ops on the CPU | PSNR vs source dB | vs CPU dB | temporal ratio "
             "| allow-list | agrees |", "|---" * 10 + "|"]
    for r in rows:
        if not r["gpu_measured"]:
            lines.append(f"| {r['model']} | {r['precision']} | | not run | {r.get('note', '')} | | | | | |")
            continue
        lines.append(f"| {r['model']} | {r['precision']} | {r['path']} | {r['verdict']} | "
                     f"{', '.join(r['cpu_ops']) or '-'} | {r['psnr_vs_source_db']} | {r['psnr_vs_cpu_db']} | "
                     f"{r['temporal_ratio']} | {r['allow_list']} | {'yes' if r['agrees'] else 'NO'} |")
    done = [r for r in rows if r["gpu_measured"]]
    lines.append(f"{sum(r['verdict'] == 'full' for r in done)} of {len(done)} artifacts run whole on the GPU; the "
                 f"allow-list disagrees on {sum(not r['agrees'] for r in done)}; "
                 f"{len(rows) - len(done)} not run")
    return "\n".join(lines)
