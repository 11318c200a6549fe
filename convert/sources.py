"""Resolve MODEL (vst checkpoint, zoo name, TorchScript, ExportedProgram, ONNX) and export it to static ONNX.

Security: torch files load with weights_only=True; a pickle that carries code is refused unless trust_pickle.
ExportedProgram archives are scanned for pickled payloads and loaded with every unpickling path torch uses
closed (vst.common.torchload); TorchScript archives are read by torch.jit.load, whose unpickler only builds
TorchScript types.
"""
from __future__ import annotations

import io
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vst.common.errors import VstError, first_line
from vst.common.fsutil import sha256_of
from vst.runtimes.onnxfile import load_external_data, onnx_weights


@dataclass
class Source:
    kind: str                         # checkpoint | zoo | torchscript | exported_program | onnx
    name: str
    arch: str | None = None
    config: dict = field(default_factory=dict)
    random_weights: bool = False
    module: Any = None                # torch.nn.Module for torch kinds
    onnx_model: Any = None            # onnx.ModelProto for the onnx kind
    bound_inputs: dict = field(default_factory=dict)
    style: int | None = None          # `name:N`: style N of a multi-style ONNX model (its style_weights input)

    def model_record(self, width: int, height: int, onnx_static: Any) -> dict:
        """What later steps need to know of the model without rebuilding it: architecture, the named
        configuration it equals, parameters, convolution MACs at this size and the paper's sizes, and the
        source's identity."""
        from vst.models import Stylizer, count_macs, count_params, named_config_of
        from vst.models.profile import PAPER_RESOLUTIONS
        path = Path(self.name)
        macs: dict[str, int] = {}
        if isinstance(self.module, Stylizer):
            params = count_params(self.module)
            for w, h in dict.fromkeys([(width, height), *PAPER_RESOLUTIONS]):
                macs[f"{w}x{h}"] = count_macs(self.module, w, h)
        elif self.module is not None:
            params = sum(p.numel() for p in self.module.parameters()) or onnx_weights(onnx_static)[0]
        else:
            params = onnx_weights(onnx_static)[0]
        return {"name": path.stem if self.kind not in ("zoo", "module") else self.name, "arch": self.arch,
                "config": self.config, "zoo_name": named_config_of(self.arch, self.config), "params": params,
                "macs": macs, "trained": not self.random_weights,
                "source_sha256": sha256_of(path) if self.kind not in ("zoo", "module") and path.is_file() else None}

    def describe(self) -> dict:
        d = {"kind": self.kind, "name": self.name, "arch": self.arch, "config": self.config,
             "random_weights": self.random_weights}
        if self.bound_inputs:
            d["bound_inputs"] = self.bound_inputs
        return d


def resolve_source(model: Any, random_weights: bool = False, trust_pickle: bool = False) -> Source:
    import torch
    from vst.models import Stylizer, create_model, load_model, resolve
    if isinstance(model, Stylizer):
        return Source("module", type(model).__name__, model.arch, dict(model.config), random_weights,
                      module=model.eval())
    if isinstance(model, torch.nn.Module):
        return Source("module", type(model).__name__, module=model.eval(), random_weights=random_weights)
    from vst.models.names import parse_model_name
    ref = parse_model_name(str(model))
    if ref.kind == "teacher":
        from vst.runtimes.stylizer import multistyle26_path
        ref.path = multistyle26_path()
        if ref.style is None:
            raise VstError(f"name the teacher's style, e.g. {ref.name}:7, or give --bind style_weights=7")
    if ref.kind in ("zoo",):
        name, config = ref.name, ref.config
        arch, full = resolve(name, **config)
        if not random_weights:
            raise VstError(f"{model!r} is a zoo name with no trained weights; pass a checkpoint, or add "
                           "--random-weights to convert random weights (ops and speed only)")
        torch.manual_seed(0)
        return Source("zoo", str(model), arch, full, True, module=create_model(name, **config).eval())
    if ref.kind == "shipped":
        m = load_model(ref.path)
        return Source("checkpoint", str(ref.path), m.arch, dict(m.config), False, module=m)
    path = ref.path
    if ref.style is not None and ref.kind == "file" and path.suffix.lower() != ".onnx":
        raise VstError(f"{path.name} has no style input; drop ':{ref.style}'")
    if path.is_dir():
        raise VstError(f"{path} is a folder; give a model file (.safetensors, .pt, .pt2, .onnx) or a zoo name")
    head = path.read_bytes()[:16]
    if not head:
        raise VstError(f"{path} is empty")
    if head[:2] == b"PK":
        try:
            names = zipfile.ZipFile(path).namelist()
        except zipfile.BadZipFile:
            raise VstError(f"{path} is a truncated or damaged zip archive (torch file)") from None
        if any(n.endswith("models/model.json") for n in names):
            return _exported_program(path, trust_pickle)
        if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
            return _torchscript(path)
    if head[:2] == b"PK" or head[:1] == b"\x80" or path.suffix == ".safetensors" or head[8:9] == b"{":
        m = load_model(path, allow_pickle=trust_pickle)
        return Source("checkpoint", str(path), m.arch, dict(m.config), False, module=m)
    src = _onnx(path)
    src.style = ref.style
    return src


def _torchscript(path: Path) -> Source:
    import torch
    try:
        m = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError variants for damaged archives
        raise VstError(f"{path} is a damaged TorchScript archive ({first_line(exc, 160)})") from None
    return Source("torchscript", str(path), module=m.eval())


def _exported_program(path: Path, trust_pickle: bool) -> Source:
    from vst.common.torchload import load_exported_program
    ep = load_exported_program(path, trust_pickle=trust_pickle)
    return Source("exported_program", str(path), module=ep.module())


def _onnx(path: Path) -> Source:
    import onnx
    def not_a_model(exc: Exception) -> VstError:
        return VstError(f"{path} is not a vst checkpoint, TorchScript, ExportedProgram or ONNX file, or it is "
                        f"truncated ({first_line(exc, 160)[:120]})")

    try:
        m = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        raise not_a_model(exc) from None
    load_external_data(m, path)
    try:
        onnx.checker.check_model(m)
    except Exception as exc:  # checker ValidationError
        raise not_a_model(exc) from None
    if not m.graph.node:
        raise VstError(f"{path} is not an ONNX model (no graph nodes); give a model file")
    return Source("onnx", str(path), onnx_model=m)


def check_size(source: Source, width: int, height: int) -> None:
    from vst.models import check_input_size
    if source.arch is not None:
        check_input_size(width, height, source.arch)
    elif width < 1 or height < 1:
        raise VstError(f"size {width}x{height} is not a positive image size")


def export_onnx(source: Source, width: int, height: int) -> Any:
    """torch -> ONNX with a static 1x3xHxW input (one artifact per size: TFLite keeps upsample sizes)."""
    import onnx
    import torch
    if source.onnx_model is not None:
        return source.onnx_model
    x = torch.rand(1, 3, height, width)
    mod = source.module
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            if isinstance(mod, torch.jit.ScriptModule):
                buf = io.BytesIO()
                torch.onnx.export(mod, (x,), buf, dynamo=False, opset_version=17, input_names=["x"],
                                  output_names=["y"])
                return onnx.load_from_string(buf.getvalue())
            prog = torch.onnx.export(mod, (x,), dynamo=True, external_data=False, opset_version=18,
                                     verbose=False, optimize=True)
            return prog.model_proto
        except VstError:
            raise
        except Exception as exc:  # exporter failures come in many types; name the first line
            raise VstError(f"torch -> ONNX export failed at {width}x{height} ({first_line(exc, 160)})") from None


def reference_fn(source: Source, onnx_static: Any, optimize: bool = True,
                 feeds: dict | None = None) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """The model fidelity is measured against: PyTorch for torch sources, ONNX Runtime for ONNX files
    (optimize=False: ONNX's reference semantics, each QDQ pair computed as written); `feeds`: kept inputs."""
    if source.module is not None:
        from vst.runtimes.pytorch import TorchSession
        return TorchSession(source.module).run_batch, "pytorch"
    from vst.runtimes.ort import OrtSession
    sess = OrtSession(onnx_static, threads=None, optimize=optimize)
    return (lambda batch: sess.run_batch(batch, feeds),
            "onnxruntime (source ONNX)" if optimize else "onnxruntime (source ONNX, graph optimizations off)")
