"""FPS on a phone you do not own: a latency model per phone, calibrated on 000's Table II points of that phone
(and on results measured there when imported), with its leave-one-out error.

    latency_ms = c0 + c1 * MACs(channels in groups of 8) + c2 * activation bytes + c3 * layers,   c >= 0

fit by non-negative least squares on relative latency residuals (the error MAPE measures), both input sizes
jointly. c0 holds what does not scale with the network: decoding, resizing, the app's per-frame work.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from vst.common.errors import VstError
from vst.common.records import table2_name
from vst.models.profile import PAPER_RESOLUTIONS
from vst.predict.features import FEATURE_LABELS, FEATURES, ModelFeatures, model_features, zoo_features, zoo_names

PHONES = {"iphone11pro": "iPhone 11 Pro", "iphone6s": "iPhone 6s"}
TABLE2 = "Table II"
MEASURED = "measured"


def check_device(device: str) -> str:
    if device not in PHONES:
        raise VstError(f"unknown device {device!r}; the predictor is calibrated for {', '.join(PHONES)}")
    return device


@lru_cache(maxsize=None)
def _zoo_features(name: str, width: int, height: int) -> ModelFeatures:
    return zoo_features(name, width, height)


@dataclass(frozen=True)
class Point:
    """One calibration point: a configuration (key), measured at one size on one phone."""
    key: str
    device: str
    features: ModelFeatures
    fps: float
    origin: str  # TABLE2 or MEASURED

    @property
    def resolution(self) -> str:
        return f"{self.features.width}x{self.features.height}"


def table2_points(device: str) -> list[Point]:
    from vst.models import table2
    check_device(device)
    return [Point(table2_name(r["id"]), device, _zoo_features(table2_name(r["id"]), w, h),
                  r[f"fps_{device}_{w}x{h}"], TABLE2)
            for r in table2() for w, h in PAPER_RESOLUTIONS]


def measured_points(results: str | Path | pd.DataFrame, device: str) -> tuple[list[Point], list[str]]:
    """Points from a vst-bench results folder (or its loaded rows) measured on `device`; rows whose model is
    not a zoo configuration are skipped and named in the second list."""
    from vst.bench.store import load_results
    check_device(device)
    df = results if isinstance(results, pd.DataFrame) else load_results(results)
    df = df[df["device"] == device]
    if df.empty:
        return [], []
    points, skipped = [], []
    for name, (_, row) in zip(zoo_names(df), df.iterrows()):
        fps = pd.to_numeric(row.get("fps_e2e"), errors="coerce")
        if name is None or not np.isfinite(fps) or fps <= 0:
            label = next((v for v in (row.get("artifact"), row.get("model_name")) if isinstance(v, str) and v), "?")
            skipped.append(f"{label} {row.get('resolution')}")
            continue
        # fps_e2e: decode and resize included, as Table II's FPS were measured
        points.append(Point(name, device, _zoo_features(name, int(row["width"]), int(row["height"])), float(fps),
                            MEASURED))
    return points, skipped


@dataclass
class DeviceModel:
    device: str
    coef: np.ndarray          # c0, then one per FEATURES entry, in ms per unit
    lo: np.ndarray            # per-feature range of the calibration rows
    hi: np.ndarray
    n_points: int
    keys: set = field(default_factory=set)
    arches: set = field(default_factory=set)
    layer_types: set = field(default_factory=set)

    def latency_ms(self, f: ModelFeatures) -> float:
        return float(self.coef[0] + np.dot(self.coef[1:], f.vector()))

    def fps(self, f: ModelFeatures) -> float:
        return 1000.0 / self.latency_ms(f)

    def extrapolation(self, f: ModelFeatures) -> list[str]:
        """One note per feature outside the calibrated min..max, per layer type and architecture no calibration
        row has (empty: an interpolation)."""
        notes = []
        for name, v, lo, hi in zip(FEATURES, f.vector(), self.lo, self.hi):
            if v < lo or v > hi:
                notes.append(f"{FEATURE_LABELS[name]} {v:.3g} {'below' if v < lo else 'above'} the calibrated "
                             f"range {lo:.3g}..{hi:.3g}")
        unseen = sorted(set(f.op_mix) - self.layer_types)
        if unseen:
            notes.append(f"layer types {', '.join(unseen)} are not among the calibration rows")
        if f.arch not in self.arches:
            # the same layer types in another arrangement (a tanh output, other widths) are still untested
            notes.append(f"architecture {f.arch} is not among the calibration rows ({', '.join(sorted(self.arches))})")
        return notes


def fit(points: list[Point]) -> DeviceModel:
    if len({p.device for p in points}) != 1:
        raise VstError("fit takes the points of one phone")
    if len(points) < len(FEATURES) + 2:
        raise VstError(f"{len(points)} calibration points cannot fit {len(FEATURES) + 1} coefficients")
    X = np.array([[1.0, *p.features.vector()] for p in points])
    t = np.array([1000.0 / p.fps for p in points])
    scale = X.max(axis=0)  # columns of ~1, so NNLS is not steered by units
    # rows divided by the latency: the solver minimizes relative residuals, which is the error MAPE measures
    c, _ = nnls(X / scale / t[:, None], np.ones(len(t)))
    return DeviceModel(points[0].device, c / scale, X[:, 1:].min(axis=0), X[:, 1:].max(axis=0), len(points),
                       {p.key for p in points}, {p.features.arch for p in points},
                       {t for p in points for t in p.features.op_mix})


def calibrate(device: str, results: str | Path | pd.DataFrame | None = None) -> DeviceModel:
    """The phone's model on Table II, plus the rows of a results folder measured on that phone."""
    extra = measured_points(results, device)[0] if results is not None else []
    return fit(table2_points(device) + extra)


def leave_one_out(device: str, results: str | Path | pd.DataFrame | None = None) -> pd.DataFrame:
    """For every Table II row and both sizes: the published FPS and the FPS predicted by a model calibrated
    without that configuration (its Table II points and any imported measurements of it)."""
    points = table2_points(device) + (measured_points(results, device)[0] if results is not None else [])
    rows = []
    for key in dict.fromkeys(p.key for p in points if p.origin == TABLE2):
        model = fit([p for p in points if p.key != key])
        for p in points:
            if p.key == key and p.origin == TABLE2:
                rows.append({"id": int(key.rsplit("-", 1)[1]), "device": device, "resolution": p.resolution,
                             "published_fps": p.fps, "predicted_fps": round(model.fps(p.features), 2)})
    return pd.DataFrame(rows, columns=["id", "device", "resolution", "published_fps", "predicted_fps"])


def mape(loo: pd.DataFrame) -> float:
    """Mean absolute percentage error of predicted against published FPS, in percent."""
    return float(100 * np.mean(np.abs(loo["predicted_fps"] - loo["published_fps"]) / loo["published_fps"]))


@dataclass
class Prediction:
    label: str
    device: str
    width: int
    height: int
    fps: float
    latency_ms: float
    loo_mape: float
    n_points: int
    extrapolation: list[str]
    published_fps: float | None
    note: str | None = None        # what the count stands on, when not the model's own modules

    def line(self) -> str:
        pub = f"; Table II published {self.published_fps:.2f}" if self.published_fps is not None else ""
        return (f"{self.label} {self.width}x{self.height} on {PHONES[self.device]}: {self.fps:.1f} FPS "
                f"({self.latency_ms:.1f} ms/frame) predicted, leave-one-out MAPE {self.loo_mape:.1f}% over "
                f"{self.n_points} calibration points{pub}")


def predict(spec: str, device: str, sizes: list[tuple[int, int]] | None = None,
            results: str | Path | pd.DataFrame | None = None) -> list[Prediction]:
    """Predicted FPS of MODEL_OR_ARTIFACT on `device` at each size (default: the artifact's fixed size, else
    the paper's two)."""
    from vst.predict.features import resolve_source
    check_device(device)
    src = resolve_source(spec)
    sizes = sizes or ([src.size] if src.size else list(PAPER_RESOLUTIONS))
    model = calibrate(device, results)
    err = mape(leave_one_out(device, results))
    published = {(p.key, p.resolution): p.fps for p in table2_points(device)}
    out = []
    for w, h in sizes:
        f = model_features(src.model, w, h, src.label)
        # a Table II configuration (zoo name, or a checkpoint of the same layout) shows its published figure
        key = next((k for k in dict.fromkeys(k for k, _ in published)
                    if (_zoo_features(k, w, h).vector(), _zoo_features(k, w, h).params) == (f.vector(), f.params)),
                   None)
        lat = model.latency_ms(f)
        out.append(Prediction(src.label, device, w, h, 1000.0 / lat, lat, err, model.n_points, model.extrapolation(f),
                              published.get((key, f"{w}x{h}")) if key else None, src.note))
    return out
