"""FPS on a phone you do not own: a latency model per phone, calibrated on 000's Table II points of that phone
(and on results measured there when imported), with its leave-one-out error. Two models of one form:

    module:  latency_ms = c0 + c1 * MACs(channels in groups of 8) + c2 * activation bytes + c3 * layers
    graph:   latency_ms = c0 + c1 * MACs(channels in groups of 8) + c2 * bytes moved + c3 * ops,   c >= 0

fit by non-negative least squares on relative latency residuals (the error MAPE measures), both input sizes
jointly. c0 holds what does not scale with the network: decoding, resizing, the app's per-frame work. The module
model counts a vst architecture's PyTorch modules; the graph model counts an artifact's own graph
(vst.predict.graph) and is calibrated on the graphs of the Table II configurations as vst-convert writes them.
Table II is Core ML float: int8 MACs get their own coefficient only where imported phone rows measured int8.
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
from vst.predict.graph import (GRAPH_FEATURES, GRAPH_FORMATS, GRAPH_LABELS, INT8, GraphFeatures, graph_features,
                               load_table2)

PHONES = {"iphone11pro": "iPhone 11 Pro", "iphone6s": "iPhone 6s"}
TABLE2 = "Table II"
MEASURED = "measured"
MODULE = "module"
GRAPH_KINDS = GRAPH_FORMATS    # graph models: one per format, calibrated on that format's Table II graphs
# with int8 phone measurements, the graph model's MACs split by the precision they run at
GRAPH_SPLIT = ("macs_grouped_float", "macs_grouped_int8", "bytes_moved", "ops")
LABELS = {**FEATURE_LABELS, **GRAPH_LABELS, "macs_grouped_float": "float MACs (channels in groups of 8)",
          "macs_grouped_int8": "int8 MACs (channels in groups of 8)"}
# what the calibration is, in words (docs/predict.md)
MODEL_NAMES = {MODULE: "module model", **{fmt: f".{fmt} graph model" for fmt in GRAPH_KINDS}}
TABLE2_WORDS = "000's Table II (15 configurations x 480x320, 320x240, Core ML float, FPS end to end)"
SOURCE = {MODULE: f"{TABLE2_WORDS}, counted from each configuration's PyTorch modules",
          **{fmt: f"{TABLE2_WORDS}, counted from the graph of each configuration's fp32 .{fmt} as vst-convert "
                  "writes it" for fmt in GRAPH_KINDS}}


def check_device(device: str) -> str:
    if device not in PHONES:
        raise VstError(f"unknown device {device!r}; the predictor is calibrated for {', '.join(PHONES)}")
    return device


@lru_cache(maxsize=None)
def _zoo_features(name: str, width: int, height: int) -> ModelFeatures:
    return zoo_features(name, width, height)


@lru_cache(maxsize=None)
def _table2_graphs() -> dict:
    return {(g.format, g.name, g.width, g.height): g for g in load_table2()}


@dataclass(frozen=True)
class Point:
    """One calibration point: a configuration (key), measured at one size on one phone."""
    key: str
    device: str
    features: ModelFeatures | GraphFeatures
    fps: float
    origin: str  # TABLE2 or MEASURED

    @property
    def resolution(self) -> str:
        return f"{self.features.width}x{self.features.height}"


def table2_points(device: str, kind: str = MODULE) -> list[Point]:
    from vst.models import table2
    check_device(device)

    def features(key, w, h):
        return _zoo_features(key, w, h) if kind == MODULE else _table2_graphs()[(kind, key, w, h)]
    return [Point(table2_name(r["id"]), device, features(table2_name(r["id"]), w, h),
                  r[f"fps_{device}_{w}x{h}"], TABLE2)
            for r in table2() for w, h in PAPER_RESOLUTIONS]


def measured_points(results: str | Path | pd.DataFrame, device: str,
                    kind: str = MODULE) -> tuple[list[Point], list[str]]:
    """Points from a vst-bench results folder (or its loaded rows) measured on `device`, and the rows skipped,
    named with why. Module model: rows whose model is a zoo configuration. Graph model: rows whose artifact is a
    .tflite or .onnx this machine can read (counted from its graph, at its precision), else float rows of a
    Table II configuration at a paper size (counted as its fp32 .tflite, as Table II's points are)."""
    from vst.bench.store import load_results
    check_device(device)
    df = results if isinstance(results, pd.DataFrame) else load_results(results)
    df = df[df["device"] == device]
    if df.empty:
        return [], []
    points, skipped = [], []
    for name, (_, row) in zip(zoo_names(df), df.iterrows()):
        fps = pd.to_numeric(row.get("fps_e2e"), errors="coerce")
        label = next((v for v in (row.get("artifact"), row.get("model_name")) if isinstance(v, str) and v), "?")
        f = None
        if np.isfinite(fps) and fps > 0:
            f = _zoo_features(name, int(row["width"]), int(row["height"])) if kind == MODULE and name else \
                _measured_graph(row, name, kind) if kind in GRAPH_KINDS else None
        if f is None:
            skipped.append(f"{label} {row.get('resolution')}")
            continue
        # fps_e2e: decode and resize included, as Table II's FPS were measured
        model_name = row.get("model_name")
        key = name or (model_name if isinstance(model_name, str) and model_name else Path(label).name)
        points.append(Point(key, device, f, float(fps), MEASURED))
    return points, skipped


def _measured_graph(row, name: str | None, fmt: str) -> GraphFeatures | None:
    art = row.get("artifact")
    path = Path(art) if isinstance(art, str) and art else None
    if path is not None and path.suffix.lower() == f".{fmt}" and path.is_file():
        try:
            return graph_features(path, (int(row["width"]), int(row["height"])), name)
        except VstError:
            return None
    float_row = str(row.get("precision") or "fp32") in ("fp32", "fp16")
    return _table2_graphs().get((fmt, name, int(row["width"]), int(row["height"]))) if float_row else None


def _kind(f) -> str:
    return f.format if isinstance(f, GraphFeatures) else MODULE


def _int8(f) -> bool:
    return isinstance(f, GraphFeatures) and f.macs_grouped_int8 > 0


@dataclass
class DeviceModel:
    device: str
    kind: str                 # MODULE, or the graph format its points were counted from
    columns: tuple            # the features, in the order of coef[1:]
    coef: np.ndarray          # c0, then one per column, in ms per unit
    lo: np.ndarray            # per-column range of the calibration rows
    hi: np.ndarray
    n_points: int
    keys: set = field(default_factory=set)
    arches: set = field(default_factory=set)
    layer_types: set = field(default_factory=set)
    n_measured: int = 0
    int8_points: int = 0      # calibration points whose graph computes at int8

    @property
    def int8_calibrated(self) -> bool:
        return "macs_grouped_int8" in self.columns

    def vector(self, f) -> list[float]:
        if _kind(f) != self.kind:
            raise VstError(f"a {self.kind} model cannot predict {_kind(f)} features")
        return [float(getattr(f, c)) for c in self.columns]

    def latency_ms(self, f) -> float:
        return float(self.coef[0] + np.dot(self.coef[1:], self.vector(f)))

    def fps(self, f) -> float:
        return 1000.0 / self.latency_ms(f)

    def extrapolation(self, f) -> list[str]:
        """One note per feature outside the calibrated min..max, per layer or op type and architecture no
        calibration row has, and for a precision the calibration has no point of (empty: an interpolation)."""
        notes = []
        for name, v, lo, hi in zip(self.columns, self.vector(f), self.lo, self.hi):
            if (v < lo or v > hi) and not (name == "macs_grouped_int8" and v == 0):
                notes.append(f"{LABELS[name]} {v:.3g} {'below' if v < lo else 'above'} the calibrated "
                             f"range {lo:.3g}..{hi:.3g}")
        unseen = sorted(set(f.op_mix) - self.layer_types)
        if unseen:
            notes.append(f"{'layer' if self.kind == MODULE else 'op'} types {', '.join(unseen)} are not among the "
                         "calibration rows")
        arch = getattr(f, "arch", None)
        if self.kind == MODULE and arch not in self.arches:
            # the same layer types in another arrangement (a tanh output, other widths) are still untested
            notes.append(f"architecture {arch} is not among the calibration rows ({', '.join(sorted(self.arches))})")
        if _int8(f) and not self.int8_calibrated:
            notes.append(precision_note(f.precision))
        return notes


def precision_note(precision: str) -> str:
    """What the calibration says about an int8 model: nothing (Table II is Core ML float, no int8 point)."""
    return (f"precision {precision} is not in the calibrated model (Table II was measured in Core ML float and no "
            "int8 point was imported): predicted from its graph as counted, as if it ran at float speed per MAC")


def fit(points: list[Point]) -> DeviceModel:
    if len({p.device for p in points}) != 1:
        raise VstError("fit takes the points of one phone")
    kinds = {_kind(p.features) for p in points}
    if len(kinds) != 1:
        raise VstError("fit takes points counted one way (modules or graphs)")
    [kind] = kinds
    columns = FEATURES if kind == MODULE else GRAPH_FEATURES
    # int8 MACs get their own coefficient only when int8 was measured on two configurations or more
    if columns == GRAPH_FEATURES and len({p.key for p in points if _int8(p.features)}) >= 2:
        columns = GRAPH_SPLIT
    if len(points) < len(columns) + 2:
        raise VstError(f"{len(points)} calibration points cannot fit {len(columns) + 1} coefficients")
    X = np.array([[1.0, *(float(getattr(p.features, c)) for c in columns)] for p in points])
    t = np.array([1000.0 / p.fps for p in points])
    scale = np.where(X.max(axis=0) > 0, X.max(axis=0), 1.0)  # columns of ~1, so NNLS is not steered by units
    # rows divided by the latency: the solver minimizes relative residuals, which is the error MAPE measures
    c, _ = nnls(X / scale / t[:, None], np.ones(len(t)))
    return DeviceModel(points[0].device, kind, columns, c / scale, X[:, 1:].min(axis=0), X[:, 1:].max(axis=0),
                       len(points), {p.key for p in points}, {getattr(p.features, "arch", None) for p in points},
                       {t for p in points for t in p.features.op_mix}, sum(p.origin == MEASURED for p in points),
                       sum(_int8(p.features) for p in points))


def _points(device: str, results, kind: str) -> list[Point]:
    return table2_points(device, kind) + (measured_points(results, device, kind)[0] if results is not None else [])


def calibrate(device: str, results: str | Path | pd.DataFrame | None = None, kind: str = MODULE) -> DeviceModel:
    """The phone's model on Table II, plus the rows of a results folder measured on that phone."""
    return fit(_points(device, results, kind))


def leave_one_out(device: str, results: str | Path | pd.DataFrame | None = None, kind: str = MODULE) -> pd.DataFrame:
    """For every Table II row and both sizes: the published FPS and the FPS predicted by a model calibrated
    without that configuration (its Table II points and any imported measurements of it)."""
    points = _points(device, results, kind)
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
    model: str = MODULE            # counted from the PyTorch modules or from the artifact's graph
    precision: str | None = None   # the artifact's (graph, or its conversion report); None: a torch model
    precision_calibrated: bool = True
    calibration: str = ""          # what the points are, in words

    def line(self) -> str:
        pub = f"; Table II published {self.published_fps:.2f}" if self.published_fps is not None else ""
        return (f"{self.label} {self.width}x{self.height} on {PHONES[self.device]}: {self.fps:.1f} FPS "
                f"({self.latency_ms:.1f} ms/frame) predicted, leave-one-out MAPE {self.loo_mape:.1f}% over "
                f"{self.n_points} calibration points{pub}")


def describe(model: DeviceModel, loo_mape: float) -> str:
    """The calibration in one line: what the points are, how many, and the leave-one-out error."""
    extra = f" and {model.n_measured} measured {model.device} row(s) you imported" if model.n_measured else ""
    int8 = (f"; int8 MACs calibrated on {model.int8_points} int8 point(s)" if model.int8_calibrated else
            "; precision is not a feature (no int8 point)")
    return (f"{MODEL_NAMES[model.kind]} calibrated for {PHONES[model.device]} on {model.n_points} points: "
            f"{SOURCE[model.kind]}{extra}{int8}; leave-one-out MAPE {loo_mape:.1f}%")


@lru_cache(maxsize=16)
def _calibrated(device: str, kind: str) -> tuple[DeviceModel, float]:
    return calibrate(device, None, kind), mape(leave_one_out(device, None, kind))


def calibrated(device: str, results=None, kind: str = MODULE) -> tuple[DeviceModel, float]:
    """The phone's model and its leave-one-out MAPE (Table II alone is computed once per process)."""
    if results is None:
        return _calibrated(device, kind)
    return calibrate(device, results, kind), mape(leave_one_out(device, results, kind))


def predict(spec: str, device: str, sizes: list[tuple[int, int]] | None = None,
            results: str | Path | pd.DataFrame | None = None) -> list[Prediction]:
    """Predicted FPS of MODEL_OR_ARTIFACT on `device` at each size (default: the artifact's fixed size, else
    the paper's two). A .tflite or .onnx is counted from its own graph (graph model); a vst architecture from its
    modules (module model)."""
    from vst.predict.features import resolve_source
    from vst.predict.graph import input_size
    check_device(device)
    src = resolve_source(spec)
    kind = src.artifact.suffix.lower()[1:] if src.artifact is not None else MODULE
    fixed = input_size(src.artifact) if src.artifact is not None else src.size
    sizes = sizes or ([fixed] if fixed else list(PAPER_RESOLUTIONS))
    model, err = calibrated(device, results, kind)
    published = {(p.key, p.resolution): p.fps for p in table2_points(device, kind)}
    out = []
    for w, h in sizes:
        if kind != MODULE:
            f = graph_features(src.artifact, (w, h), src.label)
            precision = f.precision
            # the fp32 .tflite of a Table II configuration counts exactly as its calibration row
            key = next((k for (fmt, k, gw, gh), g in _table2_graphs().items()
                        if (fmt, gw, gh) == (kind, w, h) and (g.vector(), g.op_mix) == (f.vector(), f.op_mix)), None)
        else:
            f = model_features(src.model, w, h, src.label)
            precision = src.precision
            # a Table II configuration (zoo name, or a checkpoint of the same layout) shows its published figure
            key = next((k for k in dict.fromkeys(k for k, _ in published)
                        if (_zoo_features(k, w, h).vector(), _zoo_features(k, w, h).params) == (f.vector(), f.params)),
                       None)
        notes = model.extrapolation(f)
        int8 = _int8(f) if kind != MODULE else precision in INT8
        if kind == MODULE and int8:
            notes.append(precision_note(precision))   # a .pte or .mlpackage at int8: its report says so
        lat = model.latency_ms(f)
        out.append(Prediction(src.label, device, w, h, 1000.0 / lat, lat, err, model.n_points, notes,
                              published.get((key, f"{w}x{h}")) if key else None, src.note, kind, precision,
                              not int8 or model.int8_calibrated, describe(model, err)))
    return out
