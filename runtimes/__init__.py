"""The only place vst loads and runs an artifact or a model on this machine: LiteRT (XNNPACK or builtin
kernels), ONNX Runtime, PyTorch, and Core ML where coremltools can predict. Convert's verification, bench's host
runner, metrics, training's teacher and the video commands all come through here."""
from vst.runtimes.delegation import Delegation
from vst.runtimes.session import open_session, runtime_of
from vst.runtimes.spec import TensorSpec, image_spec, prepare, to_float, to_rgb

__all__ = ["Delegation", "TensorSpec", "image_spec", "open_session", "prepare", "runtime_of", "to_float", "to_rgb"]
