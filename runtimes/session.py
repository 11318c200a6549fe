"""open_session: the one way vst loads an artifact or a model to run it on this machine."""
from __future__ import annotations

from pathlib import Path

from vst.common.errors import VstError
from vst.runtimes.table import FORMATS


def runtime_of(path) -> str:
    """The runtime of an artifact path, or of a vst.models.resolver.ModelHandle (what its form needs)."""
    from vst.models.resolver import ModelHandle, TORCH_FORMS
    if isinstance(path, ModelHandle):
        if path.form in TORCH_FORMS:
            return "pytorch"
        if path.form == "teacher":
            return "onnxruntime"
        return next(rt for fmt, rt in FORMATS.values() if fmt == path.form)
    suffix = Path(path).suffix.lower()
    if suffix == ".pt2":
        return "pytorch"     # an ExportedProgram runs eagerly here (it is a conversion source, not a target)
    if suffix not in FORMATS:
        raise VstError(f"{path}: unknown artifact type {suffix or '(none)'}; give one of {', '.join(sorted(FORMATS))}")
    return FORMATS[suffix][1]


def open_session(model, runtime: str | None = None, threads: int | None = 2, delegate: str | None = None,
                 size: tuple[int, int] | None = None, trust_pickle: bool = False):
    """A session for `model` (a vst.models.resolver.ModelHandle, artifact path, bytes/ModelProto with `runtime`,
    torch module or zoo name). Sessions share: .input (TensorSpec), .output_quant, .run(x), .version, .delegation,
    .runtime."""
    from vst.models.resolver import ModelHandle
    if hasattr(model, "parameters") and hasattr(model, "forward"):   # a torch module (torch is not imported
        runtime = "pytorch"                                        # for LiteRT or ONNX artifacts)
    if isinstance(model, ModelHandle):
        runtime = runtime or runtime_of(model)
        if runtime != "pytorch":
            model = model.path
    runtime = runtime or (runtime_of(model) if isinstance(model, (str, Path)) and Path(model).suffix else "pytorch")
    if runtime == "litert" and delegate == "gpu":
        from vst.runtimes.gpu import GpuSession
        return GpuSession(model, size=size)
    if runtime == "litert":
        from vst.runtimes.litert import LiteRTSession
        return LiteRTSession(model, threads=threads, delegate=delegate or "xnnpack", size=size)
    if runtime == "onnxruntime":
        from vst.runtimes.ort import OrtSession
        return OrtSession(model, threads=threads)
    if runtime == "executorch":
        from vst.runtimes.executorch import ExecuTorchSession
        return ExecuTorchSession(model, threads=threads)
    if runtime == "pytorch":
        from vst.runtimes.pytorch import TorchSession
        return TorchSession(model, threads=threads, trust_pickle=trust_pickle)
    raise VstError(f"the host cannot run {runtime} artifacts ({Path(str(model)).name}); Core ML predicts only "
                   "on macOS and iPhones: use vst-bench --device with an iPhone name")
