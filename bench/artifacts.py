"""What a benchmarked model is: file format, runtime, input shape read from the artifact itself, and the model
facts (name, parameters, precision) from vst-convert's `<artifact>.report.json` when one lies beside it.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vst.bench.plan import sha256_of
from vst.common.errors import VstError

FORMATS = {".tflite": ("tflite", "litert"), ".onnx": ("onnx", "onnxruntime"), ".safetensors": ("pytorch", "pytorch"),
           ".pt": ("pytorch", "pytorch"), ".pth": ("pytorch", "pytorch"), ".mlpackage": ("mlpackage", "coreml"),
           ".mlmodelc": ("mlmodelc", "coreml")}
RUNTIMES_BY_PLATFORM = {"host": {"litert", "onnxruntime", "pytorch"}, "android": {"litert"}, "ios": {"coreml"}}


@dataclass
class Artifact:
    spec: str                      # what the user typed
    format: str
    runtime: str
    sha256: str
    path: Path | None = None       # None for a zoo name (random weights: speed does not depend on them)
    zoo_name: str | None = None
    info: dict[str, Any] = field(default_factory=dict)  # model_name, arch, params, precision, report

    @property
    def label(self) -> str:
        return self.zoo_name or (self.path.name if self.path else self.spec)

    def plan_entry(self, path_on_runner: str | None = None) -> dict:
        return {"path": path_on_runner or str(self.path or f"zoo:{self.zoo_name}"), "format": self.format,
                "sha256": self.sha256, "zoo_name": self.zoo_name,
                "model": {"name": self.info.get("model_name"), "arch": self.info.get("arch"),
                          "params": self.info.get("params"), "precision": self.info.get("precision")}}


def resolve_artifact(spec: str) -> Artifact:
    """A file path (.tflite, .onnx, .safetensors/.pt, .mlpackage) or a zoo name such as kunster-t2-04."""
    from vst.models import list_models
    path = Path(spec)
    if path.exists():
        suffix = path.suffix.lower()
        if suffix not in FORMATS:
            raise VstError(f"{spec}: unknown artifact type {suffix or '(none)'}; give one of "
                           f"{', '.join(sorted(FORMATS))} or a zoo name from `vst-zoo list`")
        fmt, runtime = FORMATS[suffix]
        art = Artifact(spec, fmt, runtime, sha256_of(path), path=path.resolve())
    elif spec in list_models():
        art = Artifact(spec, "pytorch", "pytorch", hashlib.sha256(f"zoo:{spec}".encode()).hexdigest(), zoo_name=spec)
    else:
        raise VstError(f"{spec} is neither a file nor a zoo model name; give a .tflite/.onnx/.safetensors/"
                       f".mlpackage path or a name from `vst-zoo list`")
    art.info = model_info(art)
    return art


def _report(path: Path) -> dict | None:
    rp = path.with_name(path.name + ".report.json")
    if not rp.exists():
        return None
    try:
        return json.loads(rp.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VstError(f"{rp} is not JSON ({exc}); re-run vst-convert or delete it") from None


def _zoo_params(arch: str | None, config: dict | None, name: str | None) -> int | None:
    from vst.models import count_params, create_model
    try:
        if name and not arch:
            return count_params(create_model(name))
        if arch:
            return count_params(create_model(arch, **(config or {})))
    except (VstError, TypeError):
        return None
    return None


def model_info(art: Artifact) -> dict[str, Any]:
    """model_name, arch, params, precision: from the convert report, else from the artifact itself."""
    info: dict[str, Any] = {"model_name": None, "arch": None, "params": None, "precision": None, "report": None}
    if art.zoo_name:
        from vst.models import resolve
        arch, _ = resolve(art.zoo_name)
        info.update(model_name=art.zoo_name, arch=arch, params=_zoo_params(None, None, art.zoo_name),
                    precision="fp32")
        return info
    report = _report(art.path)
    if report:
        src = report.get("source") or {}
        name = src.get("name") or src.get("arch")
        if name and ("/" in name or Path(name).suffix in FORMATS):
            name = Path(name).stem  # the report keeps a checkpoint's path as given; its stem names the model
        info.update(report=str(art.path.with_name(art.path.name + ".report.json")),
                    model_name=name, arch=src.get("arch"),
                    params=_zoo_params(src.get("arch"), src.get("config"), src.get("name")),
                    precision=report.get("quant"))
    if art.format == "pytorch" and info["params"] is None:
        from vst.models import count_params, load_model
        model = load_model(art.path)
        info.update(model_name=info["model_name"] or art.path.stem, arch=model.arch,
                    params=count_params(model), precision=info["precision"] or "fp32")
    elif art.format == "onnx" and info["params"] is None:
        import onnx
        m = _onnx_graph(art.path)
        # weights are the initializers with at least one axis; scalars are shape constants. Counted from the
        # shapes: reading the values would open external data files
        params = sum(math.prod(t.dims) for t in m.graph.initializer if len(t.dims) >= 1)
        dtypes = {t.data_type for t in m.graph.initializer if len(t.dims) >= 1}
        info["params"] = params or None
        info["precision"] = info["precision"] or (
            "int8" if onnx.TensorProto.INT8 in dtypes or onnx.TensorProto.UINT8 in dtypes
            else "fp16" if onnx.TensorProto.FLOAT16 in dtypes else "fp32")
    info["model_name"] = info["model_name"] or (art.path.stem if art.path else art.spec)
    return info


def damaged_artifact(path: Path, exc: BaseException) -> VstError:
    said = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
    return VstError(f"{path} is truncated or not a model of its type ({said}); convert it again with vst-convert")


def _onnx_graph(path: Path):
    """The ONNX graph without its weights' data, its external data locations vetted (they must stay in the
    model's folder: ONNX Runtime reads them when the cell runs)."""
    import onnx
    from vst.convert.sources import check_external_data
    try:
        m = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise damaged_artifact(path, exc) from None
    if not m.graph.node:
        raise VstError(f"{path} holds no ONNX graph; convert the model again with vst-convert")
    check_external_data(m, path)
    return m


@dataclass(frozen=True)
class InputSpec:
    layout: str                     # NCHW or NHWC
    size: tuple[int, int] | None    # (W, H) when the artifact fixes it, None when height and width are free
    dtype: str


def _from_shape(shape, what: str, dtype: str) -> InputSpec:
    dims = [d if isinstance(d, int) and d > 0 else None for d in shape]
    if len(dims) != 4:
        raise VstError(f"{what}: input has shape {list(shape)}; a stylizer takes one 4-D image batch")
    if dims[1] == 3:
        layout, h, w = "NCHW", dims[2], dims[3]
    elif dims[3] == 3:
        layout, h, w = "NHWC", dims[1], dims[2]
    else:
        raise VstError(f"{what}: input shape {list(shape)} has no 3-channel axis at 1 (NCHW) or 3 (NHWC)")
    return InputSpec(layout, (w, h) if w and h else None, dtype)


def input_spec(art: Artifact) -> InputSpec:
    """Layout, size and dtype of the first input, read from the artifact (not assumed)."""
    if art.format == "pytorch":
        return InputSpec("NCHW", None, "float32")
    if art.format == "tflite":
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        try:
            it = Interpreter(model_path=str(art.path),
                             experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        except (ValueError, RuntimeError) as exc:  # LiteRT's words for a file that is no flatbuffer model
            raise damaged_artifact(art.path, exc) from None
        if not it.get_input_details():
            raise VstError(f"{art.path} has no inputs; a stylizer takes one image batch")
        d = it.get_input_details()[0]
        return _from_shape([int(x) for x in d["shape_signature"]], str(art.path), d["dtype"].__name__)
    if art.format == "onnx":
        import onnx
        m = _onnx_graph(art.path)
        inits = {t.name for t in m.graph.initializer}
        inp = next((i for i in m.graph.input if i.name not in inits), None)
        if inp is None:
            raise VstError(f"{art.path} has no inputs; a stylizer takes one image batch")
        t = inp.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        dtype = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16",
                 onnx.TensorProto.UINT8: "uint8", onnx.TensorProto.INT8: "int8"}.get(t.elem_type, "float32")
        return _from_shape(shape, str(art.path), dtype)
    if art.format == "mlpackage":
        # the spec is protobuf: readable on any OS, though only Apple devices can run the model
        from coremltools.models.utils import load_spec
        desc = load_spec(str(art.path)).description.input[0]
        kind = desc.type.WhichOneof("Type")
        if kind == "imageType":
            return InputSpec("NHWC", (desc.type.imageType.width, desc.type.imageType.height), "uint8")
        shape = list(desc.type.multiArrayType.shape)
        return _from_shape(shape, str(art.path), "float32")
    raise VstError(f"{art.spec}: cannot read the input of a {art.format} artifact; give the .mlpackage instead")
