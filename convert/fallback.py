"""When the native emitters cannot take a graph: convert it with a converter made for it instead of refusing, and
say which one wrote the file, why, and what that path costs (TRANSPOSE ops, XNNPACK partitions, fidelity).

- TFLite from a PyTorch source: litert-torch (the optional extra), fp32 with NHWC I/O; where it is not
  installed, or for fp16, the exported ONNX goes to onnx2tf.
- TFLite from ONNX: onnx2tf. It converts op by op from NCHW ONNX and keeps the transposes its layout inference
  cannot remove, so its files are usually slower than native ones (docs/convert.md: 14 partitions and 1.7-1.9x
  the latency on kunster).
- Core ML from a PyTorch source: coremltools' own PyTorch frontend.

The native path stays the first choice; these only run after it refused.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx

from vst.common.errors import VstError, first_line
from vst.common.fsutil import atomic_path, size_of

# onnx2tf looks for this file in its working directory for 3-channel inputs and downloads it when missing.
CALIBRATION_SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"


def onnx2tf_convert(model: onnx.ModelProto, workdir: Path) -> dict[str, bytes]:
    """onnx2tf's default conversion, offline: {"fp32": bytes, "fp16": bytes} (what it wrote)."""
    import onnx2tf
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


def emit_litert_torch(module, quant: str, io_layout: str, size: tuple[int, int], images: np.ndarray,
                      ref_out: np.ndarray, ref_kind: str, passes: list, out: Path, refusal: str) -> dict:
    """The tflite part of the report for a file made by litert-torch from the PyTorch module (fp32, NHWC I/O)."""
    try:
        data, layout = litert_torch_convert(module, *size)
    except Exception as exc:  # torch.export and the lowering raise assorted types; keep the first line
        raise VstError(f"{refusal}, and the litert-torch fallback failed too ({first_line(exc, 160)})") from None
    if layout != io_layout:
        raise VstError(f"{refusal}; the installed litert-torch has no to_channel_last_io, so its file would take "
                       f"{layout.upper()} input: upgrade litert-torch or pass --io-layout {layout}")
    return _fallback_tflite(data, "litert-torch", "litert-torch's own lowering (to_channel_last_io: NHWC I/O)",
                            "float32 kept", io_layout, images, ref_out, ref_kind, passes, out, refusal, quant)


def emit_onnx2tf(model: onnx.ModelProto, quant: str, io_layout: str, images: np.ndarray, ref_out: np.ndarray,
                 ref_kind: str, passes: list, out: Path, refusal: str, others: dict | None = None) -> dict:
    """The tflite part of the report for a file made by onnx2tf (the native emitter refused with `refusal`);
    `others`: converters passed over, and why."""
    if quant == "int8" or io_layout != "nhwc":
        raise VstError(f"{refusal}; the onnx2tf fallback makes only fp32/fp16 files with NHWC I/O "
                       f"(asked: {quant}, {io_layout})")
    try:
        with tempfile.TemporaryDirectory(prefix="vst-onnx2tf-") as tmp:
            files = onnx2tf_convert(model, Path(tmp))
    except (Exception, SystemExit) as exc:  # onnx2tf raises (or exits) in many ways; keep its first line
        raise VstError(f"{refusal}, and the onnx2tf fallback failed too ({first_line(exc, 160)})") from None
    if quant not in files:
        raise VstError(f"{refusal}, and the onnx2tf fallback wrote no {quant} file")
    result = _fallback_tflite(files[quant], "onnx2tf", "onnx2tf's own layout conversion",
                              "float32 kept" if quant == "fp32" else "onnx2tf float16 weights", io_layout, images,
                              ref_out, ref_kind, passes, out, refusal, quant)
    if others:
        result["conversion_path"]["others"] = others
    return result


def _fallback_tflite(data: bytes, producer: str, layout_detail: str, quant_detail: str, io_layout: str,
                     images: np.ndarray, ref_out: np.ndarray, ref_kind: str, passes: list, out: Path, refusal: str,
                     quant: str) -> dict:
    """Check, write and describe a TFLite file a fallback converter made: its ops, XNNPACK partitions, fidelity
    against the reference, and the cost of the path."""
    from vst.convert import delegates, tflite, verify
    from vst.convert.api import THREADS
    from vst.convert.passes import PassResult
    ops = tflite.ops(data)
    hist = tflite.histogram(ops)
    xnn = tflite.xnnpack_partitions(data, THREADS)
    got = tflite.run(data, verify.to_layout(images, io_layout), THREADS)
    got = verify.from_layout(got, io_layout) if got.shape[1:] != ref_out.shape[1:] else got
    fid = verify.fidelity(ref_out, got, quant, ref_kind)
    passes.append(PassResult("layout", False, f"{layout_detail}; TRANSPOSE {hist.get('TRANSPOSE', 0)}"))
    passes.append(PassResult("quantize", quant != "fp32", quant_detail))
    passes.append(PassResult("verify", True, f"LiteRT vs {ref_kind} on {len(images)} photos: PSNR "
                                            f"{fid['psnr_db']} dB (threshold {fid['threshold_psnr_db']})"))
    with atomic_path(out) as tmp_out:
        tmp_out.write_bytes(data)
    cost = {"transposes": hist.get("TRANSPOSE", 0), "xnnpack_partitions": xnn["partitions"],
            "not_delegated": sorted({o["op"] for o in xnn["not_delegated"]}), "psnr_db": fid["psnr_db"]}
    return {"op_histogram": hist, "transposes": {"before": None, "after": hist.get("TRANSPOSE", 0)},
            "xnnpack": {"delegated_nodes": xnn["delegated_nodes"], "partitions": xnn["partitions"],
                        "total_nodes": xnn["total_nodes"], "threads": THREADS},
            "delegates": {"xnnpack": delegates.xnnpack_verdict(xnn), **delegates.tflite_verdicts(ops)},
            "fidelity": fid, "artifact": {"path": str(out), "bytes": len(data)},
            "conversion_path": {"produced_by": producer, "why": refusal, "cost": cost}}


def emit_coremltools(module, quant: str, io_layout: str, size: tuple[int, int], images: np.ndarray,
                     ref_out: np.ndarray, ref_kind: str, passes: list, out: Path, refusal: str) -> dict:
    """The coreml part of the report for a PyTorch source the IR refused (`refusal`): coremltools' own PyTorch
    frontend builds the program. Linux cannot run it, and no IR stands behind it to check instead, so its
    numbers are measured on macOS only."""
    from vst.convert import coreml, delegates
    from vst.convert.passes import PassResult
    w, h = size
    try:
        model = coreml.from_torch(module, quant, io_layout, w, h)
    except VstError as exc:
        raise VstError(f"{refusal}, and the coremltools fallback failed too ({exc})") from None
    except Exception as exc:  # tracing raises assorted types; keep its first line
        raise VstError(f"{refusal}, and the coremltools fallback could not trace the module "
                       f"({first_line(exc, 160)})") from None
    ops = coreml.mil_ops(model)
    struct = coreml.structure(model, (1, 3, h, w), io_layout, {}, False)
    passes.append(PassResult("layout", False, f"coremltools' PyTorch frontend: NCHW program, "
                                              f"{'image' if io_layout == 'nhwc' else 'NCHW tensor'} input, "
                                              f"multi-array output; transpose {struct['transposes']}"))
    passes.append(PassResult("quantize", quant != "fp32", coreml.QUANT_DETAIL[quant]))
    got, fid = coreml.fidelity(model, images, io_layout, ref_out, quant, ref_kind, lambda: (
        "Core ML predicts only on macOS, and this program was built by coremltools from the traced module, not "
        "from vst's IR: nothing numeric was checked here"))
    passes.append(PassResult("verify", True, coreml.verify_detail(struct, fid["measured"])))
    coreml.save(model, out)
    cost = {"transposes": struct["transposes"], "psnr_db": fid["psnr_db"]}
    return {"op_histogram": coreml.histogram(ops), "transposes": {"before": None, "after": struct["transposes"]},
            "delegates": delegates.coreml_verdicts(ops, "float32" if quant == "fp32" else "float16"),
            "structure": struct, "fidelity": fid,
            "artifact": {"path": str(out), "bytes": size_of(out)},
            "conversion_path": {"produced_by": "coremltools", "why": refusal, "cost": cost}, "outputs": got}
