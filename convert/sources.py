"""MODEL (vst checkpoint, zoo name, TorchScript, ExportedProgram, ONNX) as a conversion source, exported to
static ONNX. What a name is and how its file loads (safely) is vst.models.resolver's one answer."""
from __future__ import annotations

import io
import warnings
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
    from vst.models import Stylizer
    from vst.models.resolver import resolve_model
    if isinstance(model, Stylizer):
        return Source("module", type(model).__name__, model.arch, dict(model.config), random_weights,
                      module=model.eval())
    if isinstance(model, torch.nn.Module):
        return Source("module", type(model).__name__, module=model.eval(), random_weights=random_weights)
    handle = resolve_model(str(model), trust_pickle=trust_pickle).require("vst-convert")
    if handle.form == "teacher" and handle.style is None:
        raise VstError(f"name the teacher's style, e.g. {handle.text}:7, or give --bind style_weights=7")
    if handle.form == "zoo":
        if not random_weights:
            raise VstError(f"{model!r} is a zoo name with no trained weights; pass a checkpoint, or add "
                           "--random-weights to convert random weights (ops and speed only)")
        return Source("zoo", str(model), handle.arch, handle.config, True, module=handle.module())
    if handle.form in ("shipped", "checkpoint"):
        m = handle.module()
        return Source("checkpoint", str(handle.path), m.arch, dict(m.config), False, module=m)
    if handle.form in ("torchscript", "exported_program"):
        return Source(handle.form, str(handle.path), module=handle.module())
    src = _onnx(handle.path)
    src.style = handle.style
    return src


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
