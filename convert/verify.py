"""Fidelity: run the artifact on real photos, compare with the reference, and say where the error starts."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from vst.common.errors import InternalError, VstError
from vst.common.images import folder_images, resize_cover, sample_photos
from vst.metrics.quality import psnr
from vst.video.clips import HELD_OUT_PHOTOS

# PSNR (dB, outputs clipped to the displayable [0, 1]) an artifact must reach against the reference model.
# fp32 only reorders float sums; fp16 keeps ~3 decimal digits; int8 is judged as "looks the same" quality.
THRESHOLDS_DB = {"fp32": 50.0, "fp16": 35.0, "int8": 25.0}
EVAL_PHOTOS = ("astronaut", "coffee", "chelsea")
CALIB_LIMIT = 32
# LiteRT threads the conversion's own runs use (verification, XNNPACK partitions, temporal QA, --profile).
THREADS = 2


def compare(ref: np.ndarray, got: np.ndarray) -> dict:
    """PSNR on outputs clipped to [0, 1] for RGB images; other outputs (a style bottleneck, an intermediate
    activation) are not images and are compared scale-free (peak_psnr)."""
    if ref.shape != got.shape:
        raise InternalError(f"output shapes differ ({ref.shape} vs {got.shape})")
    db = psnr(ref, got) if ref.ndim == 4 and ref.shape[1] == 3 else peak_psnr(ref, got)
    return {"psnr_db": db, "max_abs_err": float(np.max(np.abs(ref.astype(np.float64) - got)))}


def peak_psnr(ref: np.ndarray, got: np.ndarray) -> float:
    """PSNR with the reference's own peak |value| as the signal, for tensors that are not images."""
    peak = float(np.max(np.abs(ref))) or 1.0
    mse = float(np.mean((ref.astype(np.float64) - got) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(peak * peak / mse)


def _batch(images: list[np.ndarray], width: int, height: int) -> np.ndarray:
    arr = np.stack([resize_cover(im, width, height) for im in images]).astype(np.float32) / 255.0
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))


def eval_images(width: int, height: int, names: tuple[str, ...] = EVAL_PHOTOS) -> np.ndarray:
    """Real photos (shipped by scikit-image), cover-resized: float32 NCHW in [0, 1]."""
    photos = sample_photos(names)
    return _batch([photos[n] for n in names], width, height)


def calibration_images(calib: str | Path | None, width: int, height: int) -> tuple[np.ndarray, str]:
    """Images or video frames from `calib`, or by default the real photos installed packages ship, less those
    that fidelity (EVAL_PHOTOS) and the temporal checks (HELD_OUT_PHOTOS) are measured on: ranges calibrated on
    the test photos would flatter int8's figures."""
    if calib is None:
        photos = {k: v for k, v in sample_photos().items() if k not in (*EVAL_PHOTOS, *HELD_OUT_PHOTOS)}
        return _batch(list(photos.values()), width, height), (f"{len(photos)} photos shipped by scikit-image "
                                                              f"({', '.join(photos)}), none of them evaluated on")
    path = Path(calib)
    if not path.exists():
        raise VstError(f"calibration folder {path} does not exist; give a folder of images or videos")
    images = folder_images(path, limit=CALIB_LIMIT)
    if not images:
        raise VstError(f"calibration folder {path} yielded no frames; give readable images or videos")
    return _batch(images, width, height), f"{len(images)} image(s)/frame(s) from {path}"


def to_layout(batch_nchw: np.ndarray, layout: str) -> np.ndarray:
    return np.ascontiguousarray(batch_nchw.transpose(0, 2, 3, 1)) if layout == "nhwc" else batch_nchw


def from_layout(batch: np.ndarray, layout: str) -> np.ndarray:
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)) if layout == "nhwc" else batch


def fidelity(ref_nchw: np.ndarray, got_nchw: np.ndarray, quant: str, reference: str) -> dict:
    cmp = compare(ref_nchw, got_nchw)
    thr = THRESHOLDS_DB[quant]
    return {"psnr_db": _finite(cmp["psnr_db"]), "max_abs_err": cmp["max_abs_err"], "threshold_psnr_db": thr,
            "passed": cmp["psnr_db"] >= thr, "images": len(ref_nchw), "reference": reference,
            "measured": True}


def not_measured(images: int, quant: str, reference: str, note: str) -> dict:
    """The fidelity record of an artifact this machine cannot run: nothing measured, `note` says why and what was
    checked instead."""
    return {"psnr_db": None, "max_abs_err": None, "threshold_psnr_db": THRESHOLDS_DB[quant], "passed": None,
            "images": images, "reference": reference, "measured": False, "note": note}


def ir_agreement(ref_nchw: np.ndarray, graph, images: np.ndarray) -> str:
    """How the IR an artifact was built from matches the reference ("bit for bit" or "at PSNR x dB"): what is
    checked numerically where the artifact itself cannot run here (Core ML on Linux)."""
    from vst.convert.ir import run_numpy
    db = _finite(compare(ref_nchw, run_numpy(graph, images))["psnr_db"])
    return "bit for bit" if db is None else f"at PSNR {db} dB"


def _finite(v: float) -> float | None:
    # JSON has no infinity: a bit-identical result is reported as null with passed=true.
    return None if v == float("inf") else round(v, 3)


def first_divergence(graph, model: bytes, image_nchw: np.ndarray, io_layout: str, threshold_db: float,
                     feeds: dict | None = None) -> list[dict]:
    """Per-layer comparison: each IR tensor the TFLite file still has (matched by op name), in graph order,
    with its PSNR against the reference executor; the first one under the threshold is where error starts."""
    import torch
    from vst.convert import tflite
    from vst.convert.ir import run_graph
    ref: dict = {}
    with torch.no_grad():
        run_graph(graph, torch.from_numpy(image_nchw[None]), record=ref, keep=True)
    got = tflite.intermediates(model, to_layout(image_nchw[None], io_layout)[0], feeds)
    rows = []
    for node in graph.nodes:
        key = tflite.tensor_name(node.name or node.output)
        match = next((v for k, v in got.items() if key in k.split(";")[0].split(":")[0]), None)
        if match is None:
            continue
        r = ref[node.output].numpy()
        m = match if match.shape == r.shape else (match.transpose(0, 3, 1, 2) if match.ndim == 4 else None)
        if m is None or m.shape != r.shape:
            continue
        db = peak_psnr(r, m)    # intermediate activations are not images
        rows.append({"node": node.name or node.output, "op": node.op, "psnr_db": _finite(db),
                     "max_abs_err": float(np.max(np.abs(r - m))), "below_threshold": db < threshold_db})
    return rows
