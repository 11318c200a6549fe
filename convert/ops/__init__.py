"""The IR's ops, each in one place: import from ONNX, reference execution, TensorFlow and MIL lowerings
(base.py says how). Grouped by kind; importing the package registers them all."""
from vst.convert.ops.base import IDENTITY, IMPORTERS, REGISTRY, Op, UnsupportedOp, imports, register
from vst.convert.ops import activation, conv, elementwise, layout, norm, pool, resize, shape  # noqa: F401  (each registers its ops)

__all__ = ["IDENTITY", "IMPORTERS", "REGISTRY", "Op", "UnsupportedOp", "imports", "register"]
