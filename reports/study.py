"""The report's Fig. 8 section: what each Table II size keeps of the style (a `vst-train --study` folder),
beside its speed (measured host FPS where the results hold that configuration, and 000's published FPS)."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from vst.common.images import load_image
from vst.common.records import table2_name
from vst.models import table2
from vst.reports.figures import figure_data_uri, png_data_uri
from vst.training.study import load_study

PUBLISHED_X = ("fps_iphone11pro_480x320", "iPhone 11 Pro 480x320 FPS (000 Table II, published)")


def host_fps(bench: pd.DataFrame, resolution: str = "480x320") -> dict[str, float]:
    """Median end-to-end host FPS of fp32 artifacts per Table II configuration at `resolution`."""
    if not len(bench) or "named_config" not in bench:
        return {}
    rows = bench[(bench["device"] == "host") & (bench["precision"] == "fp32") & (bench["resolution"] == resolution)
                 & bench["named_config"].notna()]
    return {str(k): float(v) for k, v in rows.groupby("named_config")["fps_e2e"].median().items()}


def study_figure(rows: list[dict], x_key: str, x_label: str, teacher_temporal: float):
    """Fidelity and temporal error against FPS, one labelled point per configuration: the size trade-off."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    pts = [r for r in rows if r.get(x_key) is not None and not math.isnan(r[x_key])]
    for ax, key, label in ((a, "psnr_vs_teacher", "PSNR vs teacher, held-out photos (dB, higher = closer)"),
                           (b, "temporal_error", "temporal error, 001 eq. 8 (lower = steadier)")):
        ax.scatter([r[x_key] for r in pts], [r[key] for r in pts], c=[math.log10(r["params"]) for r in pts],
                   cmap="viridis", s=28)
        for r in pts:
            ax.annotate(r["config"][-2:], (r[x_key], r[key]), fontsize=7, xytext=(3, 2), textcoords="offset points")
        ax.set_xlabel(x_label, fontsize=8)
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    b.axhline(teacher_temporal, color="grey", ls="--", lw=0.8, label="teacher")
    b.legend(fontsize=7)
    fig.suptitle("Each Table II configuration distilled from one teacher (labels: Table II id; colour: log params)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def study_section(folder: str | Path, bench: pd.DataFrame, measured: dict[str, dict]) -> dict:
    """Template context for one study folder. `measured`: configuration -> {column: FPS text} from the Table II
    table (zoo_rows), so the section shows the same measured FPS the table does."""
    folder = Path(folder)
    doc = load_study(folder)
    published = {table2_name(r["id"]): r for r in table2()}
    host = host_fps(bench)
    rows = []
    for r in doc["configs"]:
        pub = published[r["config"]]
        rows.append({**r, "pub_11_480": pub["fps_iphone11pro_480x320"], "pub_6s_480": pub["fps_iphone6s_480x320"],
                     "host_480": host.get(r["config"], float("nan")), "measured": measured.get(r["config"], {})})
    on_host = sum(not math.isnan(r["host_480"]) for r in rows)
    # measured host speed when it covers the study's configurations, the phone's published speed otherwise
    x_key, x_label = ("host_480", "host FPS end to end, fp32 480x320 (measured)") if on_host >= max(2, len(rows) // 2) \
        else ("pub_11_480", PUBLISHED_X[1])
    grid = folder / doc["grid"]
    rec = doc["recipe"]
    return {
        "folder": str(folder), "teacher": doc["teacher"]["name"],
        "teacher_temporal": f"{doc['teacher']['temporal_error']:.4f}",
        "input_temporal": f"{doc['teacher']['input_temporal_error']:.4f}",
        "recipe": f"stage-1 distillation, {rec['steps']} steps of batch 4 at {rec['size']} px, {rec['crops']} crops, "
                  f"seed {rec['seed']}; measured at {rec['eval_size']} px",
        "held_out": doc["held_out"], "grid_uri": png_data_uri(load_image(grid)) if grid.is_file() else None,
        "plot_uri": figure_data_uri(study_figure(rows, x_key, x_label, doc["teacher"]["temporal_error"])) if rows else None,
        "measured_columns": sorted({c for r in rows for c in r["measured"]}),
        "rows": [{"config": r["config"], "alpha": f"{r['alpha']:g}", "beta": f"{r['beta']:g}",
                  "params": f"{r['params'] / 1000:.1f}k", "psnr": f"{r['psnr_vs_teacher']:.2f}",
                  "temporal": f"{r['temporal_error']:.4f}", "train_s": f"{r['train_s']:.0f}",
                  "pub_11_480": f"{r['pub_11_480']:.2f}", "pub_6s_480": f"{r['pub_6s_480']:.2f}",
                  "measured": r["measured"]} for r in rows],
    }
