"""Turn collected inputs into the template's context: the zoo beside Table II, conversion cards, benchmark
table, plots, sample frames, environment and commands."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pandas as pd

from vst.models import table2
from vst.models.profile import zoo_table
from vst.predict.fits import fig6_figure, table2_study
from vst.reports.collect import Inputs
from vst.reports.environment import host_environment
from vst.reports.figures import figure_data_uri
from vst.reports.samples import clip_rows, sample_rows

PAPER_FPS = {"iPhone 11 Pro 480x320": "fps_iphone11pro_480x320", "iPhone 11 Pro 320x240": "fps_iphone11pro_320x240",
             "iPhone 6s 480x320": "fps_iphone6s_480x320", "iPhone 6s 320x240": "fps_iphone6s_320x240"}


def _fmt(v, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _cell_label(row: pd.Series) -> str:
    return f"{row['device']} {row['runtime']} {row['precision']} {row['resolution']}"


def zoo_rows(bench: pd.DataFrame) -> tuple[list[dict], list[str]]:
    """Table II with vst's counts, and measured median FPS of any benchmarked model of the same configuration
    (trained or random weights: the conversion record names the configuration)."""
    rows, measured_cols = [], []
    refs = table2()
    counted = zoo_table([f"kunster-t2-{int(ref['id']):02d}" for ref in refs])
    for ref, (_, zoo) in zip(refs, counted.iterrows()):
        hits = bench[bench["named_config"] == zoo["name"]] if len(bench) else bench
        measured = {}
        for _, b in hits.iterrows():
            col = _cell_label(b)
            measured[col] = _fmt(float(b["fps_e2e"]))
            if col not in measured_cols:
                measured_cols.append(col)
        rows.append({"id": int(ref["id"]), "name": zoo["name"], "alpha": ref["alpha"], "beta": ref["beta"],
                     "params_paper": f"{ref['params_k']:.0f}k", "params_vst": f"{zoo['params'] / 1000:.1f}k",
                     "gmacs": f"{zoo['gmacs_480x320']:.2f}", "size_paper": f"{ref['size_mb']:.2f}",
                     "size_vst": f"{zoo['size_mb']:.2f}",
                     "paper_fps": {c: _fmt(ref[k], 2) for c, k in PAPER_FPS.items()}, "measured": measured})
    return rows, sorted(measured_cols)


def conversion_card(path: Path, rep: dict) -> dict:
    src, size, fid = rep["source"], rep["size"], rep.get("fidelity") or {}
    xnn = rep.get("xnnpack")
    xnn_text = (f"{xnn['partitions']} partition(s), {xnn['delegated_nodes']}"
                f"{'/' + str(xnn['total_nodes']) if xnn.get('total_nodes') is not None else ''} nodes delegated"
                if xnn else "not applicable")
    if fid.get("measured", True) and fid:
        psnr = "identical" if fid.get("psnr_db") is None else f"{fid['psnr_db']:.1f} dB"
        fid_text = (f"PSNR {psnr} (threshold {fid.get('threshold_psnr_db')} dB), max |err| "
                    f"{fid.get('max_abs_err', float('nan')):.2g}, {fid.get('images')} real images")
    else:
        fid_text = fid.get("note", "not measured on this host")
    delegates = []
    for name, d in (rep.get("delegates") or {}).items():
        # one line per (op, reason): a rule that fails at 15 sites is one finding, with its sites listed
        grouped: dict[tuple, list[str]] = {}
        for f in d["fallbacks"]:
            grouped.setdefault((f["op"], f["reason"], f["source"]), []).append(str(f["node"]))
        delegates.append({"name": name, "verdict": d["verdict"], "full": d["verdict"] == "full",
                          "fallbacks": [f"{op} ×{len(nodes)} (at {', '.join(nodes)}): {reason} [{source}]"
                                        for (op, reason, source), nodes in grouped.items()]})
    art = rep.get("artifact") or {}
    tmp = rep.get("temporal") or {}
    if tmp.get("measured"):
        verdict = {True: "", False: " — over the threshold", None: " (not judged)"}[tmp.get("passed")]
        temporal_text = (f"{tmp['ratio']:.2f}x its source's temporal error (001 eq. 8, threshold "
                         f"{tmp['threshold_ratio']}x){verdict}")
    else:
        temporal_text = tmp.get("note", "not measured (report from before temporal QA)")
    return {
        "temporal": temporal_text, "temporal_passed": tmp.get("passed") is not False,
        "title": f"{Path(src['name']).name} → {rep['target']} {rep['quant']} {size['width']}x{size['height']}",
        "source": f"{src['kind']} {src['name']}" + (f" ({src['arch']} {src.get('config', {})})" if src.get("arch") else ""),
        "random_weights": bool(src.get("random_weights")), "target": rep["target"], "quant": rep["quant"],
        "size": f"{size['width']}x{size['height']}", "io_layout": rep.get("io_layout", "?"),
        "artifact": Path(art.get("path", path.name)).name, "artifact_kb": f"{art.get('bytes', 0) / 1024:.1f}",
        "transposes_before": rep["transposes"]["before"], "transposes_after": rep["transposes"]["after"],
        "xnnpack": xnn_text, "fidelity": fid_text, "fidelity_passed": bool(fid.get("passed", False)),
        "conversion_s": _fmt((rep.get("timing") or {}).get("conversion_s"), 1),
        "passes": rep.get("passes", []), "delegates": delegates,
        "op_histogram": sorted((rep.get("op_histogram") or {}).items(), key=lambda kv: -kv[1]),
    }


BENCH_COLUMNS = ["model", "device", "runtime", "precision", "resolution", "delegate used", "FPS e2e (median ± spread)",
                 "FPS inference", "inference ms median", "inference ms p90", "e2e / inference", "CV", "flag"]


def bench_rows(bench: pd.DataFrame) -> list[dict]:
    rows = []
    ordered = bench.sort_values(["model_name", "device", "runtime", "precision", "resolution"], na_position="last")
    for _, b in ordered.iterrows():
        rows.append({
            "model": b["model_name"], "device": b["device"], "runtime": b["runtime"], "precision": b["precision"],
            "resolution": b["resolution"], "delegate used": b["delegate_used"],
            "FPS e2e (median ± spread)": f"{float(b['fps_e2e']):.1f} ± {100 * float(b['repeat_spread']):.1f}%",
            "FPS inference": _fmt(float(b["fps_inference"])),
            "inference ms median": _fmt(float(b["inference_ms_median"]), 2),
            "inference ms p90": _fmt(float(b["inference_ms_p90"]), 2),
            "e2e / inference": _fmt(float(b["e2e_over_inference"]), 2),
            "CV": _fmt(float(b["inference_ms_cv"]), 3), "flag": "spread!" if b["spread_flag"] else ""})
    return rows


def plots(inputs: Inputs) -> list[dict]:
    from vst.bench.plots import fps_vs_params, latency_distribution
    out = []
    if len(inputs.bench):
        out.append({"title": "FPS versus parameters (log x), with Table II's published iPhone points",
                    "uri": figure_data_uri(fps_vs_params(inputs.bench))})
    for store in inputs.bench_dirs:
        df = inputs.bench[inputs.bench["store"] == str(store)]
        if len(df):
            out.append({"title": f"Per-frame inference latency ({store.name})",
                        "uri": figure_data_uri(latency_distribution(df, store))})
    return out


def table2_report(bench: pd.DataFrame) -> dict | None:
    """The report's Table II study: None unless the results hold a measured series of Table II
    configurations; else the figure and the fits and correlations as formatted rows."""
    study = table2_study(bench)
    if not study["spearman"]:
        return None
    return {"uri": figure_data_uri(fig6_figure(study)),
            "fits": [{"series": f.label, "resolution": f.resolution, "n": len(f.ids), "a": f"{f.a:.2f}",
                      "b": f"{f.b:.2f}", "r2": f"{f.r2:.3f}"} for f in study["fits"]],
            "spearman": [{**c, "rho": f"{c['rho']:.2f}", "p": f"{c['p']:.2g}"} for c in study["spearman"]]}


def build_context(inputs: Inputs, title: str = "vst report") -> dict:
    notices = []
    if any(rep["source"].get("random_weights") for _, rep in inputs.conversions):
        notices.append("Some artifacts were converted from random weights (marked below): their speed and op "
                       "support are real, their pictures and int8 fidelity are not meaningful.")
    zoo, measured_cols = zoo_rows(inputs.bench)
    try:
        version = metadata.version("vst")
    except metadata.PackageNotFoundError:
        version = "(not installed)"
    return {
        "title": title, "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "vst_version": version, "notices": notices, "zoo_rows": zoo, "paper_fps_columns": list(PAPER_FPS),
        "measured_columns": measured_cols,
        "conversions": [conversion_card(p, r) for p, r in inputs.conversions],
        "bench_columns": BENCH_COLUMNS, "bench_rows": bench_rows(inputs.bench) if len(inputs.bench) else [],
        "plots": plots(inputs), "table2_study": table2_report(inputs.bench), "samples": sample_rows(inputs.conversions),
        "clips": clip_rows(inputs.conversions),
        "environment": host_environment(), "commands": inputs.commands,
    }
