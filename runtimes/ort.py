"""ONNX Runtime (CPU provider) on this machine."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vst.common.errors import VstError, first_line
from vst.runtimes.delegation import Delegation
from vst.runtimes.spec import TensorSpec, image_spec

ONNX_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8",
               "tensor(int8)": "int8"}


class OrtSession:
    runtime = "onnxruntime"

    def __init__(self, model, threads: int | None = 2, image_input: bool = True, optimize: bool = True):
        """model: a path, serialized bytes or an onnx.ModelProto. image_input=False skips the image-input
        check for models whose first input is not an image (the caller feeds every input by name).
        optimize=False disables ONNX Runtime's graph optimizations: a QDQ file then runs with ONNX's reference
        semantics (each QuantizeLinear/DequantizeLinear computed as written) instead of fused int8 kernels."""
        import onnxruntime as ort
        opts = ort.SessionOptions()
        if not optimize:
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        opts.intra_op_num_threads = threads or 0
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 4      # errors reach Python as exceptions; the native log would repeat them
        if hasattr(model, "SerializeToString"):
            model = model.SerializeToString()
        what = "the model" if isinstance(model, (bytes, bytearray)) else str(model)
        if not isinstance(model, (bytes, bytearray)):
            model = str(Path(model))
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors
        try:
            self.sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        # the file's fault, not vst's (an empty file is InvalidArgument)
        except (ort_errors.Fail, ort_errors.InvalidGraph, ort_errors.InvalidProtobuf, ort_errors.NoSuchFile,
                ort_errors.NotImplemented, ort_errors.InvalidArgument) as exc:
            first = first_line(exc, 160)
            raise VstError(f"{what} is truncated or not a loadable ONNX model ({first}); convert it again with "
                           "vst-convert") from None
        self.what = what
        self.inputs = self.sess.get_inputs()
        first = self.inputs[0]
        shape = [d if isinstance(d, int) else None for d in first.shape]
        self.input = image_spec(first.name, shape, ONNX_DTYPES.get(first.type, "float32"), what) if image_input \
            else TensorSpec(first.name, "NCHW", None, ONNX_DTYPES.get(first.type, "float32"))
        self.output_quant = (0.0, 0)
        self.version = ort.__version__
        self.delegation = Delegation("onnxruntime", "cpu", detail=self.sess.get_providers()[0])

    def extra_inputs(self) -> dict[str, tuple[int, ...]]:
        """Inputs besides the image, name -> shape (free dims as -1)."""
        return {i.name: tuple(d if isinstance(d, int) else -1 for d in i.shape) for i in self.inputs
                if i.name != self.input.name}

    def run(self, x: np.ndarray, feeds: dict | None = None) -> np.ndarray:
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors
        try:
            return self.sess.run(None, {self.input.name: x, **(feeds or {})})[0]
        except (ort_errors.Fail, ort_errors.RuntimeException) as exc:
            # a graph that loads but cannot run on this input (a Reshape to a fixed size, say): the model's fault
            raise VstError(f"{self.what} fails on a {'x'.join(map(str, x.shape))} input ({first_line(exc, 200)}); "
                           "give a size it takes, or convert it again with vst-convert") from None

    def run_batch(self, batch: np.ndarray, feeds: dict | None = None) -> np.ndarray:
        """Image by image (artifacts have batch 1), concatenated."""
        return np.concatenate([self.run(b[None], feeds) for b in batch])
