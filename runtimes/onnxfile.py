"""An ONNX file as vst reads it before any runtime does: its external data vetted (locations inside the model's
folder, sizes within bounds) and loaded, its weights counted, and the values bound to its extra inputs (--bind).
vst-convert and vst-bench share these."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vst.common.errors import VstError


def read_npy(name: str, path: str) -> np.ndarray:
    try:
        value = np.load(path, allow_pickle=False).astype(np.float32).ravel()
    except (OSError, ValueError, TypeError) as exc:
        raise VstError(f"--bind {name}: cannot read {path} as a .npy array of numbers ({str(exc)[:120]})") from None
    if not np.isfinite(value).all():
        raise VstError(f"--bind {name}: {path} holds values that are not finite numbers")
    return value


def bind_value(name: str, raw: Any, dims: list[int]) -> np.ndarray:
    """A --bind value for an input of shape `dims`: an index (one-hot) for a 1-D input, or numbers of that shape."""
    fix = f"give an index 0..{dims[0] - 1} or a list of {int(np.prod(dims))} numbers" if len(dims) == 1 else \
        f"give {int(np.prod(dims))} numbers of shape {dims}"
    if isinstance(raw, str) and raw.endswith(".npy"):   # a style bottleneck computed elsewhere, say
        raw = read_npy(name, raw).tolist()
    if isinstance(raw, bool) or not isinstance(raw, (int, float, list)):
        raise VstError(f"--bind {name}: {raw!r} is not a number or a list of numbers; {fix}")
    try:
        value = np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError):
        raise VstError(f"--bind {name}: {raw!r} is not a flat list of numbers; {fix}") from None
    if not np.isfinite(value).all():
        raise VstError(f"--bind {name}: values must be finite numbers; {fix}")
    if value.ndim == 0 and len(dims) == 1:
        if not float(value).is_integer() or not 0 <= int(value) < dims[0]:
            raise VstError(f"--bind {name}: index {raw!r} is not a whole number in 0..{dims[0] - 1}")
        return np.eye(dims[0], dtype=np.float32)[int(value)]
    if value.size != int(np.prod(dims)):
        raise VstError(f"--bind {name}: got {value.size} number(s) for an input of shape {dims}; {fix}")
    return value


def _all_tensors(graph):
    """Every tensor a graph holds, subgraphs (If/Loop/Scan bodies) included: each may name external data."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for a in node.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            if a.HasField("g"):
                yield from _all_tensors(a.g)
            for g in a.graphs:
                yield from _all_tensors(g)


def check_external_data(model, path: Path, limit: int = 2 * 1024 ** 3) -> bool:
    """Check that each external data location the model names is a file inside the model's folder (a path
    read from a model file must not reach other files of the machine), and, before anything is read, that what
    the tensors declare is at most `limit` bytes (a stylizer's weights are megabytes; a model past protobuf's
    2 GB cannot be held as one ModelProto anyway) and lies within those files; returns whether there is any."""
    from onnx import helper
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    def declared_bytes(t, info) -> int:  # its length, else its shape times its type's size
        if info.length:
            return int(info.length)
        try:
            itemsize = helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
        except (KeyError, TypeError, ValueError):  # strings and unknown types: no fixed size
            return 0
        return int(np.prod([max(int(d), 0) for d in t.dims], dtype=object)) * itemsize

    def text(n: int) -> str:
        return next((f"{n / size:.1f} {unit}" for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3))
                     if n >= size), f"{n} bytes")

    base = path.parent.resolve()
    external = [t for t in _all_tensors(model.graph) if uses_external_data(t)]
    files, spans = {}, []
    for t in external:
        try:
            info = ExternalDataInfo(t)
        except ValueError:  # an offset or length that is not a number
            info = None
        if info is None or (info.offset or 0) < 0 or (info.length or 0) < 0:
            raise VstError(f"{path}: tensor {t.name!r} gives its external data an offset or length that is not "
                           "a byte count; the model is damaged: export it again")
        location = info.location
        target = (base / location).resolve()
        if Path(location).is_absolute() or not target.is_relative_to(base):
            raise VstError(f"{path}: tensor {t.name!r} names external data {location!r} outside the model's "
                           "folder; refusing to read it (keep external data files beside the .onnx file)")
        if not target.is_file():
            raise VstError(f"{path}: external data file {location!r} of tensor {t.name!r} is missing; "
                           "copy it beside the .onnx file")
        files[target] = target.stat().st_size
        spans.append((t.name, location, target, info.offset or 0, declared_bytes(t, info)))
    declared, real = sum(s[-1] for s in spans), sum(files.values())
    if max(declared, real) > limit:
        raise VstError(f"{path} declares {text(declared)} of external data in files holding {text(real)}, over "
                       f"vst's limit of {text(limit)} (a stylizer's weights are megabytes); refusing to read it")
    for name, location, target, offset, need in spans:
        if offset + need > files[target]:
            raise VstError(f"{path}: tensor {name!r} declares {text(need)} of external data at offset {offset} "
                           f"of {location!r}, which holds {text(files[target])}; the model or its data file is "
                           "damaged: export the model again")
    return bool(external)


def load_external_data(model, path: Path) -> None:
    """Load tensors stored beside an ONNX file, once check_external_data has vetted their locations and sizes."""
    from onnx.external_data_helper import load_external_data_for_model
    if check_external_data(model, path):
        load_external_data_for_model(model, str(path.parent.resolve()))


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


def external_data_files(path: str | Path) -> list[Path]:
    """The files an ONNX file's tensors name as their external data (empty for anything that is not a readable
    ONNX file: its reader says what is wrong). An output must not replace them: they are inputs too."""
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data
    path = Path(path)
    if path.suffix.lower() != ".onnx" or not path.is_file():
        return []
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # protobuf's DecodeError and friends: the source reader names the problem
        return []
    return sorted({path.parent / ExternalDataInfo(t).location for t in _all_tensors(model.graph)
                   if uses_external_data(t)})


def parse_bind(items: list[str]) -> dict:
    """--bind NAME=VALUE items (vst-convert, vst-bench): a JSON number or list, or a .npy file's path."""
    import json
    from vst.common.cli import parse_assignments
    out = {}
    for key, value in parse_assignments(items, "--bind", "style_weights=3").items():
        if value.endswith(".npy"):
            out[key] = value          # an array file, read at import (a style bottleneck, say)
            continue
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            raise VstError(f"--bind {key}: {value!r} is not a number or JSON list") from None
    return out
