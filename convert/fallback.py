"""Converters of other makes, for what the native emitters cannot take: vst runs them instead of refusing, and the
targets (convert/targets/) say which one wrote the file, why, and what that path costs (TRANSPOSE ops, XNNPACK
partitions, fidelity).

- TFLite from a PyTorch source: litert-torch (the optional extra), fp32 with NHWC I/O; where it is not
  installed, or for fp16, the exported ONNX goes to onnx2tf.
- TFLite from ONNX: onnx2tf. It converts op by op from NCHW ONNX and keeps the transposes its layout inference
  cannot remove, so its files are usually slower than native ones (docs/convert.md: 14 partitions and 1.7-1.9x
  the latency on kunster).
- Core ML from a PyTorch source: coremltools' own PyTorch frontend.

The native path stays the first choice; these only run after it refused. They write float files; int8 of their
fp32 file (static, calibrated on vst's calibration images, or dynamic-range) is ai-edge-quantizer's, which takes
any .tflite (quantize_file), so no precision is refused because a fallback made the file.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

from vst.common.errors import VstError, first_line

# Python frames onnx2tf may recurse through on deep graphs: well within the main thread's 8 MB C stack, where
# its own import asks for 2**31 - 1
ONNX2TF_RECURSION = 20_000
# onnx2tf looks for this file in its working directory for 3-channel inputs and downloads it when missing.
CALIBRATION_SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"


def onnx2tf_convert(model: onnx.ModelProto, workdir: Path) -> dict[str, bytes]:
    """onnx2tf's default conversion, offline: {"fp32": bytes, "fp16": bytes} (what it wrote)."""
    with _recursion_limit_kept():
        return _onnx2tf_convert(model, workdir)


@contextlib.contextmanager
def _recursion_limit_kept():
    """onnx2tf sets Python's recursion limit to 2**31 - 1 when imported, for deep graphs; left so, a later deep
    parse in the same process (a hostile 100k-deep JSON, say) overflows the C stack and kills the process instead
    of raising RecursionError. The limit is put back once the conversion is done."""
    limit = sys.getrecursionlimit()
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def _onnx2tf_convert(model: onnx.ModelProto, workdir: Path) -> dict[str, bytes]:
    import onnx2tf
    sys.setrecursionlimit(ONNX2TF_RECURSION)
    from vst.common.images import resize_cover, sample_photos
    photos = list(sample_photos().values())
    workdir.mkdir(parents=True, exist_ok=True)
    sample = np.stack([resize_cover(photos[i % len(photos)], 128, 128) for i in range(20)]).astype(np.float32) / 255
    np.save(workdir / CALIBRATION_SAMPLE, sample)
    onnx.save(model, str(workdir / "m.onnx"))
    cwd = os.getcwd()
    os.chdir(workdir)            # the calibration file is looked up relative to the working directory
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            onnx2tf.convert(input_onnx_file_path="m.onnx", output_folder_path="out", non_verbose=True)
    finally:
        os.chdir(cwd)
    out = {}
    for quant, suffix in (("fp32", "_float32.tflite"), ("fp16", "_float16.tflite")):
        found = next((workdir / "out").glob(f"*{suffix}"), None)
        if found is not None:
            out[quant] = found.read_bytes()
    return out


def onnx2tf_files(model: onnx.ModelProto, refusal: str) -> dict[str, bytes]:
    """onnx2tf_convert in a scratch folder; its failure is one line after the native import's `refusal`."""
    try:
        with tempfile.TemporaryDirectory(prefix="vst-onnx2tf-") as tmp:
            return onnx2tf_convert(model, Path(tmp))
    except (Exception, SystemExit) as exc:  # onnx2tf raises (or exits) in many ways; keep its first line
        raise VstError(f"{refusal}, and the onnx2tf fallback failed too ({first_line(exc, 160)})") from None


LITERT_TORCH_EXTRA = ("pip install -c constraints.txt -e .[litert-torch], in a venv of its own: it pulls jax and "
                      "transformers")


def litert_torch_available() -> bool:
    try:
        import litert_torch  # noqa: F401
    except Exception:     # not installed, or installed against other versions: either way not usable here
        return False
    return True


def litert_torch_unusable(quant: str, io_layout: str) -> str | None:
    """Why litert-torch cannot make this file (None: it can): its default path writes fp32 with NHWC I/O."""
    if (quant, io_layout) != ("fp32", "nhwc"):
        return f"makes fp32 files with NHWC I/O only (asked: {quant}, {io_layout})"
    if not litert_torch_available():
        return f"not installed here ({LITERT_TORCH_EXTRA})"
    return None


def litert_torch_convert(module, w: int, h: int) -> tuple[bytes, str]:
    """`module` through litert-torch's default fp32 conversion, with NHWC input and output (to_channel_last_io)
    where the installed version has it. Returns the flatbuffer and the I/O layout it got."""
    import torch
    import litert_torch
    litert_torch.config.show_progress = False
    try:
        module.eval()
    except NotImplementedError:   # an ExportedProgram's module: exported for inference already, eval() refused
        pass
    layout = "nchw"
    if hasattr(litert_torch, "to_channel_last_io"):
        module = litert_torch.to_channel_last_io(module, args=[0], outputs=[0])
        module.training = False   # the wrapper only; eval() would recurse into a module that refuses it
        layout = "nhwc"
    shape = (1, h, w, 3) if layout == "nhwc" else (1, 3, h, w)
    with torch.no_grad():
        edge = litert_torch.convert(module, (torch.zeros(shape),))
    with tempfile.TemporaryDirectory(prefix="vst-litert-torch-") as d:
        path = Path(d) / "m.tflite"
        edge.export(str(path))
        return path.read_bytes(), layout


# ai-edge-quantizer's recipes for a fallback's fp32 file: static int8 (weights and activations, calibrated) with the
# file's float input and output kept, as the native int8 files have them; dynamic-range int8 weights
AEQ_STATIC = "static_wi8_ai8 (int8 per-channel weights and int8 activations, min/max calibrated; float I/O)"
AEQ_DYNAMIC = "dynamic_wi8_afp32 (int8 per-channel weights, activations quantized per frame at run time)"


def quantizer_version() -> str:
    from importlib import metadata
    try:
        return metadata.version("ai-edge-quantizer")
    except metadata.PackageNotFoundError:
        return "not installed"


def _with_signature(model: bytes) -> tuple[bytes, str, str]:
    """The file with a serving signature (onnx2tf writes none; the quantizer's calibration runs signatures), its
    key and its image input's name."""
    from tensorflow.lite.python import schema_py_generated as fb
    from tensorflow.lite.tools import flatbuffer_utils as fu
    m = fu.convert_bytearray_to_object(bytearray(model))
    if not m.signatureDefs:
        sub = m.subgraphs[0]

        def tensor_map(name, index):
            t = fb.TensorMapT()
            t.name, t.tensorIndex = name, int(index)
            return t
        sig = fb.SignatureDefT()
        sig.signatureKey, sig.subgraphIndex = "serving_default", 0
        sig.inputs = [tensor_map(f"input_{k}", i) for k, i in enumerate(sub.inputs)]
        sig.outputs = [tensor_map(f"output_{k}", i) for k, i in enumerate(sub.outputs)]
        m.signatureDefs = [sig]
        model = bytes(fu.convert_object_to_bytearray(m))
    sig = m.signatureDefs[0]
    key = sig.signatureKey.decode() if isinstance(sig.signatureKey, bytes) else sig.signatureKey
    name = sig.inputs[0].name
    return model, key, name.decode() if isinstance(name, bytes) else name


def quantize_file(model: bytes, calibration: list[np.ndarray] | None, dynamic: bool) -> bytes:
    """A fallback's fp32 .tflite quantized by ai-edge-quantizer, which takes any .tflite: dynamic-range int8
    (`dynamic`), or static int8 calibrated on `calibration` (batch-1 images in the file's input layout)."""
    import logging
    from ai_edge_quantizer import algorithm_manager, qtyping, quantizer, recipe, recipe_manager
    logging.getLogger("absl").setLevel(logging.ERROR)
    model, key, image = _with_signature(model)
    if dynamic:
        rp = recipe.dynamic_wi8_afp32()
    else:
        rm = recipe_manager.RecipeManager()
        rm.add_static_config(".*", qtyping.TFLOperationName.ALL_SUPPORTED, activation_num_bits=8, weight_num_bits=8)
        for end in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
            rm.add_quantization_config(".*", end, algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)
        rp = rm.get_quantization_recipe()
    q = quantizer.Quantizer(bytearray(model), rp)
    calibrated = None
    if q.need_calibration:
        calibrated = q.calibrate({key: [{image: np.asarray(x, np.float32)} for x in calibration]}, num_threads=2)
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(q.quantize(calibrated, enable_progress_report=False).quantized_model)
