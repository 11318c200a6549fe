"""The targets vst-convert writes, each a registered emitter behind one interface (vst.convert.targets.base). A new
target is one module here, a class decorated with `@register`, and its row in vst.runtimes.table.TARGETS."""
from vst.convert.targets.base import REGISTRY, Conversion, Emitted, Target, register, write_artifact
from vst.convert.targets import coreml, executorch, onnx, tflite  # noqa: F401  (each registers its target)


def get(name: str) -> Target:
    return REGISTRY[name]


__all__ = ["REGISTRY", "Conversion", "Emitted", "Target", "get", "register", "write_artifact"]
