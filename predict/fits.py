"""000's Fig. 6 with fits: FPS = a + b ln(parameters in thousands) for Table II's four published columns and
for any benchmarked series of Table II configurations, with R^2, and the Spearman rank correlation of each
measured series against each published column (does this machine order the configurations as the phones do?)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from vst.models.profile import PAPER_RESOLUTIONS
from vst.predict.device import PHONES, table2_name
from vst.predict.features import zoo_names

# Table II's FPS columns: (label, column)
PUBLISHED_COLUMNS = [(f"{label} {w}x{h} (published)", f"fps_{dev}_{w}x{h}")
                     for dev, label in PHONES.items() for w, h in PAPER_RESOLUTIONS]


@dataclass(frozen=True)
class LogFit:
    label: str
    resolution: str
    published: bool
    ids: tuple[int, ...]
    params_k: tuple[float, ...]
    fps: tuple[float, ...]
    a: float
    b: float
    r2: float

    def curve(self, params_k):
        return self.a + self.b * np.log(params_k)


def log_fit(label: str, resolution: str, published: bool, points: dict[int, tuple[float, float]]) -> LogFit:
    """points: Table II id -> (parameters in thousands, FPS)."""
    ids = tuple(sorted(points))
    x = np.array([points[i][0] for i in ids])
    y = np.array([points[i][1] for i in ids])
    reg = stats.linregress(np.log(x), y)
    return LogFit(label, resolution, published, ids, tuple(x), tuple(y), float(reg.intercept), float(reg.slope),
                  float(reg.rvalue ** 2))


def measured_series(bench: pd.DataFrame, metric: str = "fps_e2e") -> dict[tuple[str, str], dict[int, float]]:
    """(series label, resolution) -> Table II id -> median FPS, from vst-bench results rows of Table II
    configurations (zoo names or checkpoints of the same layout), one series per device/runtime/delegate/
    precision."""
    from vst.models import table2
    if bench is None or bench.empty:
        return {}
    t2 = {table2_name(r["id"]): int(r["id"]) for r in table2()}
    df = bench.assign(_zoo=zoo_names(bench))
    df = df[df["_zoo"].isin(t2)]
    out: dict[tuple[str, str], dict[int, float]] = {}
    for key, g in df.groupby(["device", "runtime", "delegate", "precision", "resolution"], dropna=False):
        label = " ".join(str(k) for k in key[:-1] if pd.notna(k) and str(k))
        fps = g.groupby("_zoo")[metric].apply(lambda s: float(pd.to_numeric(s, errors="coerce").median()))
        out[(label, key[-1])] = {t2[name]: v for name, v in fps.items() if np.isfinite(v)}
    return out


def table2_study(bench: pd.DataFrame | None = None) -> dict:
    """{"fits": [LogFit, ...] (four published columns, then each measured series with >= 3 configurations),
    "spearman": [{"series", "resolution", "column", "rho", "p", "n"}, ...] (each measured series against each
    published column, over the configurations both have)}."""
    from vst.models import table2
    rows = {int(r["id"]): r for r in table2()}
    fits = [log_fit(label, col.rsplit("_", 1)[1], True, {i: (r["params_k"], r[col]) for i, r in rows.items()})
            for label, col in PUBLISHED_COLUMNS]
    corr = []
    for (label, res), fps in measured_series(bench).items():
        if len(fps) >= 3:
            fits.append(log_fit(label, res, False, {i: (rows[i]["params_k"], v) for i, v in fps.items()}))
            for pub_label, col in PUBLISHED_COLUMNS:
                ids = sorted(fps)
                rho, p = stats.spearmanr([fps[i] for i in ids], [rows[i][col] for i in ids])
                corr.append({"series": label, "resolution": res, "column": pub_label, "rho": float(rho),
                             "p": float(p), "n": len(ids)})
    return {"fits": fits, "spearman": corr}


def fig6_figure(study: dict):
    """One panel per resolution: FPS against parameters (thousands, log x), each series' points and its
    fitted a + b ln(params) curve, R^2 in the legend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    resolutions = list(dict.fromkeys(f.resolution for f in study["fits"]))
    fig, axes = plt.subplots(1, len(resolutions), figsize=(5.8 * len(resolutions), 4.4), squeeze=False)
    for ax, res in zip(axes[0], resolutions):
        for f in (f for f in study["fits"] if f.resolution == res):
            xs = np.geomspace(min(f.params_k), max(f.params_k), 50)
            line, = ax.plot(xs, f.curve(xs), "--" if f.published else "-", lw=1)
            ax.plot(f.params_k, f.fps, "s" if f.published else "o", color=line.get_color(),
                    mfc="none" if f.published else line.get_color(),
                    label=f"{f.label}: {f.a:.1f} {f.b:+.2f} ln(p), R²={f.r2:.2f}")
        ax.set_xscale("log")
        ax.set_xlabel("parameters (thousands)")
        ax.set_ylabel("FPS")
        ax.set_title(f"input {res}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
