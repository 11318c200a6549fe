"""How closely an artifact that kept a second input (vst-convert --keep-input) agrees with ONNX Runtime on its
QDQ source fed the same value: PSNR against ORT's default execution (fused int8 kernels), its reference semantics
(graph optimizations off) and the float form (QDQ pairs dropped); and how far ORT moves against itself when a few
8-bit input values move by one level (the agreement any other execution can be expected to reach). Magenta's
transform with its style bottleneck is the case docs/convert.md measures (scripts/magenta_kept_psnr.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

MAGENTA_BOTTLENECK = "mobilenet_conv/Conv/BiasAdd"


def magenta_bottlenecks(photos: Sequence[str]) -> np.ndarray:
    """The style bottlenecks of shipped photos by name (Magenta's predict network, ONNX Runtime, original file),
    stacked: values for --bind MAGENTA_BOTTLENECK=FILE.npy."""
    from vst.common.images import resize_cover, sample_photos
    from vst.runtimes.ort import OrtSession
    from vst.runtimes.stylizer import MAGENTA_PREDICT, wheel_model
    pred = OrtSession(wheel_model(MAGENTA_PREDICT, "Magenta's predict network"), threads=None)
    imgs = sample_photos(tuple(photos))
    return np.stack([pred.run(resize_cover(imgs[n], 256, 256).astype(np.float32)[None] / 255) for n in photos])


def _magenta_source() -> Path:
    from vst.runtimes.stylizer import MAGENTA_TRANSFORM, wheel_model
    return wheel_model(MAGENTA_TRANSFORM, "")


def _static(source, w: int, h: int, keep: str):
    import onnx
    from vst.convert import onnx_import
    static, _ = onnx_import.bind_and_fix(onnx.load(str(source)), w, h, keep={keep})
    return static


def kept_input_psnr(artifact: str | Path, values: dict[str, np.ndarray], source: str | Path | None = None,
                    keep: str = MAGENTA_BOTTLENECK) -> dict[str, dict[str, float]]:
    """PSNR (dB) of the TFLite `artifact`'s outputs on the verification photos against ONNX Runtime on `source`
    (default: Magenta's transform from the wheel) with input `keep` fed each of `values` (label -> value):
    {label: {"ort_default": dB, "ort_reference": dB, "float_form": dB}}."""
    from vst.convert import onnx_import, qdq, verify
    from vst.convert.ir import input_name
    from vst.runtimes.litert import LiteRTSession
    from vst.runtimes.ort import OrtSession
    art = LiteRTSession(artifact)
    w, h = art.input.size
    static = _static(source or _magenta_source(), w, h, keep)
    refs = {"ort_default": OrtSession(static, threads=None),
            "ort_reference": OrtSession(static, threads=None, optimize=False),
            "float_form": OrtSession(onnx_import.slim(qdq.to_float(static)[0]), threads=None)}
    imgs = verify.eval_images(w, h)
    out = {}
    for label, b in values.items():
        got = np.concatenate([art.run(x[None].transpose(0, 2, 3, 1), {input_name(keep): b})
                              for x in imgs]).transpose(0, 3, 1, 2)
        out[label] = {k: float(verify.compare(r.run_batch(imgs, {keep: b}), got)["psnr_db"]) for k, r in refs.items()}
    return out


def ort_conditioning(size: int, value: np.ndarray, source: str | Path | None = None, keep: str = MAGENTA_BOTTLENECK,
                     fractions: Sequence[float] = (1e-4, 1e-3, 1e-2), seed: int = 0) -> list[dict]:
    """ONNX Runtime against itself on `source` at size x size with `keep` fed `value`: for each fraction of the
    8-bit input values moved one level, the PSNR against the unmoved input, per execution (ort_default,
    ort_reference). Rows {execution, fraction, moved, of, psnr_db}."""
    from vst.convert import verify
    from vst.runtimes.ort import OrtSession
    static = _static(source or _magenta_source(), size, size, keep)
    photos = np.round(verify.eval_images(size, size) * 255) / 255     # 8-bit values, as decoded photos are
    rng = np.random.default_rng(seed)
    rows = []
    for name, sess in (("ort_default", OrtSession(static, threads=None)),
                       ("ort_reference", OrtSession(static, threads=None, optimize=False))):
        base = sess.run_batch(photos.astype(np.float32), {keep: value})
        for f in fractions:
            moved = (rng.random(photos.shape) < f) * rng.choice([-1.0, 1.0], photos.shape) / 255
            out = sess.run_batch(np.clip(photos + moved, 0, 1).astype(np.float32), {keep: value})
            rows.append({"execution": name, "fraction": f, "moved": int(np.count_nonzero(moved)), "of": moved.size,
                         "psnr_db": float(verify.compare(base, out)["psnr_db"])})
    return rows
