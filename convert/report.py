"""The conversion report, the record later steps read: schema, validation, tool versions, the naming rule that
puts it beside its artifact, reading and writing it."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

from vst.common.errors import VstError
from vst.common.fsutil import atomic_write_text
from vst.common.records import check_record

TOOLS = ("torch", "onnx", "onnxruntime", "onnxslim", "tensorflow", "ai-edge-litert", "coremltools", "numpy")


@lru_cache(maxsize=None)
def schema() -> dict:
    return json.loads(resources.files("vst.convert").joinpath("schemas/convert_report.schema.json").read_text())


def tool_versions() -> dict[str, str]:
    out = {}
    for t in TOOLS:
        try:
            out[t] = metadata.version(t)
        except metadata.PackageNotFoundError:
            out[t] = "not installed"
    return out


def validate(report: dict) -> None:
    check_record(report, schema(), "report")


SUFFIX = ".report.json"


def report_path(artifact: str | Path) -> Path:
    """The one naming rule: a conversion report lies beside its artifact as `<artifact>.report.json`."""
    return Path(f"{artifact}{SUFFIX}")


def load(report_file: str | Path) -> dict:
    """A conversion report file as a dict; one-line errors for text that is not a JSON object."""
    import json as _json
    report_file = Path(report_file)
    try:
        doc = _json.loads(report_file.read_text())
    except (_json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VstError(f"{report_file} is not valid JSON ({exc.__class__.__name__}); re-run vst-convert or "
                       "delete it") from None
    if not isinstance(doc, dict):
        raise VstError(f"{report_file} holds no conversion report object; re-run vst-convert or delete it")
    return doc


def read(artifact: str | Path) -> dict | None:
    """The report beside an artifact, or None when there is none."""
    rp = report_path(artifact)
    return load(rp) if rp.exists() else None


def precision_name(quant: str, method: str | None = None) -> str:
    """How reports, benchmarks and vst-run's file names call a precision: the --quant value, with the int8
    method when it is not plain full-integer (int8-dynamic: --dynamic; int8-temporal: --temporal)."""
    return f"{quant}-{method}" if quant == "int8" and method else quant


def precision(report: dict) -> str:
    """precision_name of the artifact a conversion report describes."""
    methods = [m for m in ("dynamic", "temporal") if m in (report.get("quantization") or {})]
    return precision_name(report.get("quant"), methods[0] if methods else None)


def op_histogram(op_names) -> dict[str, int]:
    """Op name -> count, sorted by name: the form every report shows."""
    from collections import Counter
    return dict(sorted(Counter(op_names).items()))


def write(report: dict, artifact: Path) -> Path:
    validate(report)
    path = report_path(artifact)
    atomic_write_text(path, json.dumps(report, indent=2, sort_keys=False) + "\n")
    return path


SAMPLES_SUFFIX = ".samples"


def samples_dir(artifact: str | Path) -> Path:
    """The artifact's outputs on the verification photos lie beside it as PNGs, so later steps show them without
    running the model again."""
    return Path(f"{artifact}{SAMPLES_SUFFIX}")


def write_samples(artifact: Path, names: tuple[str, ...], outputs_nchw) -> dict[str, str]:
    """Store the artifact's outputs (NCHW [0, 1]) as `<artifact>.samples/<photo>.png`; name -> relative path."""
    import numpy as np
    from vst.common.images import save_png
    folder = samples_dir(artifact)
    folder.mkdir(exist_ok=True)
    out = {}
    for name, y in zip(names, outputs_nchw):
        save_png(folder / f"{name}.png",
                 (np.clip(np.asarray(y, np.float32).transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8))
        out[name] = f"{folder.name}/{name}.png"
    return out


def read_sample(report_file: Path, relative: str):
    """A stored sample output as RGB uint8, or None when it is missing or unreadable."""
    import cv2
    path = (report_file.parent / relative).resolve()
    if not path.is_relative_to(report_file.parent.resolve()) or not path.is_file():
        return None  # a path read from a record must stay beside it
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def onnx_weights(model) -> tuple[int | None, str]:
    """Parameters and weight precision of an ONNX model: weights are the initializers with at least one axis
    (scalars are shape constants), counted from their shapes."""
    import math

    import onnx
    weights = [t for t in model.graph.initializer if len(t.dims) >= 1]
    params = sum(math.prod(t.dims) for t in weights)   # from shapes: values may sit in external files
    dtypes = {t.data_type for t in weights}
    precision = ("int8" if onnx.TensorProto.INT8 in dtypes or onnx.TensorProto.UINT8 in dtypes
                 else "fp16" if onnx.TensorProto.FLOAT16 in dtypes else "fp32")
    return params or None, precision
