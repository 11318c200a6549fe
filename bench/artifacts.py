"""What a benchmarked model is: file format, runtime, input shape read from the artifact itself, and the model
facts (name, parameters, precision) from vst-convert's `<artifact>.report.json` when one lies beside it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vst.common.fsutil import sha256_of
from vst.common.errors import VstError, first_line
from vst.runtimes.spec import TensorSpec, image_spec
from vst.runtimes.table import FORMATS, runtimes_on

RUNTIMES_BY_PLATFORM = {plat: runtimes_on(plat) for plat in ("host", "android", "ios")}


@dataclass
class Artifact:
    spec: str                      # what the user typed
    format: str
    runtime: str
    sha256: str
    path: Path | None = None       # None for a zoo name (random weights: speed does not depend on them)
    zoo_name: str | None = None
    info: dict[str, Any] = field(default_factory=dict)  # model_name, arch, params, precision, report
    bind: dict[str, Any] | None = None  # values for a multi-input ONNX model's extra inputs (--bind)

    @property
    def label(self) -> str:
        return self.zoo_name or (self.path.name if self.path else self.spec)

    def plan_entry(self, path_on_runner: str | None = None) -> dict:
        return {"path": path_on_runner or str(self.path or f"zoo:{self.zoo_name}"), "format": self.format,
                "sha256": self.sha256, "zoo_name": self.zoo_name, **({"bind": self.bind} if self.bind else {}),
                "model": {"name": self.info.get("model_name"), "arch": self.info.get("arch"),
                          "params": self.info.get("params"), "precision": self.info.get("precision"),
                          "named_config": self.info.get("named_config")}}


def resolve_artifact(spec: str, bind: dict[str, Any] | None = None) -> Artifact:
    """Any model name vst.models.resolver resolves: a zoo name such as kunster-t2-04 (random weights: speed does
    not depend on them), a shipped tag, or a file (.tflite, .onnx, .pte, .mlpackage, a checkpoint, TorchScript,
    .pt2); `bind` gives an ONNX model's extra inputs (a style vector, say) their values."""
    from vst.models.resolver import TORCH_FORMS, resolve_model
    handle = resolve_model(spec).require("vst-bench")
    if handle.form == "zoo":
        art = Artifact(spec, "pytorch", "pytorch", hashlib.sha256(f"zoo:{spec}".encode()).hexdigest(), zoo_name=spec)
    else:
        fmt = "pytorch" if handle.form in TORCH_FORMS else handle.form
        runtime = next(rt for f, rt in FORMATS.values() if f == fmt)
        art = Artifact(spec, fmt, runtime, sha256_of(handle.path), path=handle.path.resolve())
    art.info = model_info(art)
    if art.format == "onnx":
        art.bind = check_bind(art.path, bind or {})
    return art


def check_bind(path: Path, bind: dict[str, Any]) -> dict[str, Any] | None:
    """The --bind values an ONNX file's extra (non-image) inputs need, checked against its inputs: every extra
    input bound, no binding for an input it lacks. Returns the bindings of this file (None when it has none)."""
    from vst.runtimes.onnxfile import bind_value
    m = _onnx_graph(path)
    inits = {t.name for t in m.graph.initializer}
    extra = [i for i in m.graph.input if i.name not in inits][1:]
    missing = [i.name for i in extra if i.name not in bind]
    if missing:
        raise VstError(f"{path.name} takes extra input(s) {', '.join(missing)} beside its image; give their values "
                       f"with --bind, e.g. --bind {missing[0]}=3 (an index: one-hot) or a JSON list of numbers")
    for i in extra:  # each value checked now, before any cell runs
        bind_value(i.name, bind[i.name], [d.dim_value for d in i.type.tensor_type.shape.dim])
    return {i.name: bind[i.name] for i in extra} or None


def model_info(art: Artifact) -> dict[str, Any]:
    """model_name, arch, params, precision, named_config: from the conversion report's model record, else from
    the artifact itself."""
    from vst.common.records import precision, read_conversion_report, report_path
    from vst.runtimes.onnxfile import onnx_weights
    info: dict[str, Any] = {"model_name": None, "arch": None, "params": None, "precision": None, "report": None,
                            "named_config": None}
    if art.zoo_name:
        from vst.models import count_params, named_config_of
        from vst.models.resolver import resolve_model
        handle = resolve_model(art.zoo_name)
        info.update(model_name=art.zoo_name, arch=handle.arch, params=count_params(handle.module()),
                    precision="fp32", named_config=named_config_of(handle.arch, handle.config))
        return info
    report = read_conversion_report(art.path)
    if report:
        model = report.get("model") or {}
        info.update(report=str(report_path(art.path)), model_name=model.get("name"), arch=model.get("arch"),
                    params=model.get("params"), precision=precision(report), named_config=model.get("zoo_name"))
    if art.format == "pytorch" and info["params"] is None:
        from vst.models import count_params, named_config_of
        from vst.models.resolver import resolve_model
        model = resolve_model(str(art.path)).module()
        arch = getattr(model, "arch", None)     # TorchScript and .pt2 carry no vst architecture
        info.update(model_name=info["model_name"] or art.path.stem, arch=arch,
                    params=count_params(model), precision=info["precision"] or "fp32",
                    named_config=named_config_of(arch, getattr(model, "config", None)))
    elif art.format == "onnx" and info["params"] is None:
        params, precision = onnx_weights(_onnx_graph(art.path))
        info["params"] = params
        info["precision"] = info["precision"] or precision
    info["model_name"] = info["model_name"] or (art.path.stem if art.path else art.spec)
    return info


def damaged_artifact(path: Path, exc: BaseException) -> VstError:
    said = first_line(exc, 120)
    return VstError(f"{path} is truncated or not a model of its type ({said}); convert it again with vst-convert")


def _onnx_graph(path: Path):
    """The ONNX graph without its weights' data, its external data locations vetted (they must stay in the
    model's folder: ONNX Runtime reads them when the cell runs)."""
    import onnx
    from vst.runtimes.onnxfile import check_external_data
    try:
        m = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise damaged_artifact(path, exc) from None
    if not m.graph.node:
        raise VstError(f"{path} holds no ONNX graph; convert the model again with vst-convert")
    check_external_data(m, path)
    return m


def input_spec(art: Artifact) -> TensorSpec:
    """Layout, size and dtype of the first input, read from the artifact (not assumed)."""
    if art.format == "pytorch":
        return TensorSpec("x", "NCHW", None, "float32")
    if art.format == "tflite":
        from vst.runtimes.litert import input_spec as litert_input_spec
        return litert_input_spec(art.path)
    if art.format == "pte":
        from vst.runtimes.executorch import input_spec as pte_input_spec
        return pte_input_spec(art.path)
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
        return image_spec(inp.name, shape, dtype, str(art.path))
    if art.format == "mlpackage":
        # the spec is protobuf: readable on any OS, though only Apple devices can run the model
        from coremltools.models.utils import load_spec
        desc = load_spec(str(art.path)).description.input[0]
        kind = desc.type.WhichOneof("Type")
        if kind == "imageType":
            return TensorSpec(desc.name, "NHWC", (desc.type.imageType.width, desc.type.imageType.height), "uint8")
        shape = list(desc.type.multiArrayType.shape)
        return image_spec(desc.name, shape, "float32", str(art.path))
    raise VstError(f"{art.spec}: cannot read the input of a {art.format} artifact; give the .mlpackage instead")
