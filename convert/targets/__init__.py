"""The targets vst-convert writes, each a registered emitter behind one interface (vst.convert.targets.base). A new
target is one module here, a class decorated with `@register`, and its row in vst.runtimes.table.TARGETS."""
from vst.convert.targets.base import REGISTRY, Conversion, Emitted, Target, register, write_artifact
# each registers its target
from vst.convert.targets import coreai, coreml, executorch, executorch_coreml, onnx, tflite  # noqa: F401


def get(name: str) -> Target:
    return REGISTRY[name]


__all__ = ["REGISTRY", "Conversion", "Emitted", "Target", "get", "register", "write_artifact"]
