"""Figures from the results store: FPS versus parameters (000's Fig. 6, Table II's published iPhone points
overlaid) and per-model latency distributions from the raw samples. Functions return matplotlib figures.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from vst.bench.store import load_result, load_results  # noqa: E402
from vst.common.fsutil import atomic_path  # noqa: E402

PUBLISHED = {"iphone11pro": "iPhone 11 Pro", "iphone6s": "iPhone 6s"}


def _resolutions(df: pd.DataFrame, reference: bool) -> list[str]:
    # largest input first, as 000's tables; not the order cells happened to finish in (interleaved sweeps
    # finish them all in the last round)
    res = sorted(dict.fromkeys(df["resolution"]), key=lambda r: -int(r.split("x")[0]) * int(r.split("x")[1])) \
        if len(df) else []
    if reference:
        res += [r for r in ("480x320", "320x240") if r not in res]
    return res


SERIES_KEY = ["device", "runtime", "delegate", "precision"]


def series_colors(df: pd.DataFrame) -> dict[tuple, str]:
    """One colour per series (device, runtime, delegate, precision) for the whole figure: a series keeps its
    colour in every panel, and the published iPhone points keep theirs."""
    keys = list(dict.fromkeys(tuple(r) for r in df[SERIES_KEY].itertuples(index=False))) if len(df) else []
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    palette = [c for i, c in enumerate(cycle) if i not in (7,)]  # tab grey is kept for the published points
    return {k: palette[i % len(palette)] for i, k in enumerate(keys)}


def _point_label(row) -> str:
    """Table II id for a Table II configuration, else the model's name (shortened)."""
    cfg = row.get("named_config")
    if isinstance(cfg, str) and cfg.startswith("kunster-t2-"):
        return cfg.removeprefix("kunster-t2-")
    name = str(row.get("model_name") or row.get("artifact"))
    return name if len(name) <= 18 else name[:17] + "…"


def fps_vs_params(df: pd.DataFrame, reference: bool = True, metric: str = "fps_e2e") -> plt.Figure:
    """One panel per resolution: FPS against parameters (log x), one colour per device/runtime/delegate/precision
    (the same in every panel), each point labelled with its Table II id or model name; with reference=True,
    000's Table II FPS for the iPhone 11 Pro and 6s as published (hollow squares). Points are not joined: the
    models of a series differ in more than their parameter count, and a line through them suggests a trend that
    is not there."""
    from vst.models import table2
    df = df[pd.to_numeric(df["params"], errors="coerce").notna()].copy()
    df["params"] = pd.to_numeric(df["params"])
    res = _resolutions(df, reference)
    colors = series_colors(df)
    published_colors = {"iphone11pro": "#7f7f7f", "iphone6s": "#17becf"}
    fig, axes = plt.subplots(1, max(1, len(res)), figsize=(6.0 * max(1, len(res)), 4.6), squeeze=False)
    for ax, r in zip(axes[0], res):
        sub = df[df["resolution"] == r]
        for key, g in sub.groupby(SERIES_KEY, dropna=False, sort=False):
            key = tuple(key)
            ax.plot(g["params"], g[metric], "o", color=colors[key], label=" ".join(str(k) for k in key if pd.notna(k)))
            for _, row in g.iterrows():
                ax.annotate(_point_label(row), (row["params"], row[metric]), textcoords="offset points",
                            xytext=(3, 3), fontsize=6, color=colors[key])
        if reference and r in ("480x320", "320x240"):
            rows = table2()
            for dev, label in PUBLISHED.items():
                col = f"fps_{dev}_{r}"
                pts = sorted((row["params_k"] * 1000, row[col]) for row in rows)
                ax.plot([p for p, _ in pts], [f for _, f in pts], "s", mfc="none", color=published_colors[dev],
                        label=f"{label} (000 Table II, published)")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # a narrow log range labels every minor tick
        ax.set_xlabel("parameters")
        ax.set_ylabel("FPS end to end (decode + resize + inference)" if metric == "fps_e2e"
                      else "FPS inference only")
        ax.set_title(f"input {r}")
        ax.grid(True, which="both", alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def latency_distribution(df: pd.DataFrame, out_dir: str | Path, kind: str = "inference_ms") -> plt.Figure:
    """Box plots of per-frame latency (kind: inference_ms, e2e_ms, decode_ms, resize_ms) per cell, read from
    the raw samples behind each row, one panel per resolution."""
    res = _resolutions(df, False) or ["(none)"]
    fig, axes = plt.subplots(len(res), 1, figsize=(9, 0.5 + 0.45 * max(2, len(df)) * 1.0 + 1.2 * len(res)),
                             squeeze=False)
    for ax, r in zip(axes[:, 0], res):
        sub = df[df["resolution"] == r]
        data, labels = [], []
        for _, row in sub.iterrows():
            result = load_result(out_dir, row)
            part = "inference" if kind == "inference_ms" else "e2e"
            data.append([x for rep in result["repeats"] for x in rep[part][kind]])
            labels.append(f"{row['model_name'] or row['artifact']} · {row['device']} {row['runtime']} {row['delegate']}"
                          f" {row['precision'] if pd.notna(row['precision']) else ''}".rstrip())
        if data:
            ax.boxplot(data, orientation="horizontal", showfliers=True, whis=(5, 95))
            ax.set_yticks(range(1, len(labels) + 1), labels, fontsize=7)
            ax.set_xscale("log")  # models differ by 10x and more; a stalled frame would flatten a linear axis
        ax.set_xlabel(f"{kind.replace('_ms', '')} latency per frame (ms); whiskers p5-p95")
        ax.set_title(f"input {r}")
        ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def save_plots(out_dir: str | Path) -> list[Path]:
    """Write fps_vs_params.png and latency.png into the results folder."""
    out_dir = Path(out_dir)
    df = load_results(out_dir)
    paths = []
    for name, fig in (("fps_vs_params.png", fps_vs_params(df)), ("latency.png", latency_distribution(df, out_dir))):
        with atomic_path(out_dir / name) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
        plt.close(fig)
        paths.append(out_dir / name)
    return paths
