"""PSNR of a Magenta transform artifact that kept its style input (vst-convert --keep-input) against ONNX Runtime
on the wheel's original QDQ file, fed the same style bottleneck: per style photo, against ORT's default
execution (fused int8 kernels), its reference semantics (graph optimizations off) and the float form (QDQ pairs
dropped). Content: the three evaluation photos. Styles: the predict network (ORT, original file) on each photo.

    .venv/bin/python scripts/magenta_kept_psnr.py transform.tflite [--styles rocket,hubble_deep_field,chelsea]
    .venv/bin/python scripts/magenta_kept_psnr.py --conditioning 384 [--styles chelsea]

--conditioning SIZE: how far ONNX Runtime's own output of the original file (SIZE x SIZE, the first style)
moves when a few of its 8-bit input values move by one level: the agreement any other execution can be
expected to reach.

Writes `magenta_styles.npy` beside the artifact with --write-calib NAMES: the stacked bottlenecks of those
photos, for `--bind mobilenet_conv/Conv/BiasAdd=magenta_styles.npy` (first verifies, all calibrate int8).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx

from vst.common.images import resize_cover, sample_photos
from vst.convert import onnx_import, qdq, verify
from vst.convert.ir import input_name
from vst.runtimes.litert import LiteRTSession
from vst.runtimes.ort import OrtSession
from vst.runtimes.stylizer import MAGENTA_PREDICT, MAGENTA_TRANSFORM, wheel_model

BOTTLENECK = "mobilenet_conv/Conv/BiasAdd"


def bottlenecks(names: list[str]) -> np.ndarray:
    pred = OrtSession(wheel_model(MAGENTA_PREDICT, "Magenta's predict network"), threads=None)
    photos = sample_photos(tuple(names))
    return np.stack([pred.run(resize_cover(photos[n], 256, 256).astype(np.float32)[None] / 255) for n in names])


def conditioning(size: int, style: str, fractions=(1e-4, 1e-3, 1e-2)) -> None:
    b = bottlenecks([style])[0]
    static, _ = onnx_import.bind_and_fix(onnx.load(str(wheel_model(MAGENTA_TRANSFORM, ""))), size, size,
                                         keep={BOTTLENECK})
    photos = np.round(verify.eval_images(size, size) * 255) / 255     # 8-bit values, as decoded photos are
    rng = np.random.default_rng(0)
    for name, sess in (("ort_default", OrtSession(static, threads=None)),
                       ("ort_reference", OrtSession(static, threads=None, optimize=False))):
        base = sess.run_batch(photos.astype(np.float32), {BOTTLENECK: b})
        for f in fractions:
            moved = (rng.random(photos.shape) < f) * rng.choice([-1.0, 1.0], photos.shape) / 255
            out = sess.run_batch(np.clip(photos + moved, 0, 1).astype(np.float32), {BOTTLENECK: b})
            print(f"{size}x{size} {name} style {style}: {f:g} of the 8-bit input values moved one level "
                  f"({int(np.count_nonzero(moved))} of {moved.size}): {verify.compare(base, out)['psnr_db']:.1f} dB "
                  "against the unmoved input")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("artifact", nargs="?")
    ap.add_argument("--styles", default="rocket,hubble_deep_field,chelsea")
    ap.add_argument("--write-calib", metavar="NAMES", help="comma-separated photos; writes their bottlenecks")
    ap.add_argument("--conditioning", type=int, metavar="SIZE", help="ONNX Runtime against itself, inputs moved")
    a = ap.parse_args()
    if a.conditioning:
        conditioning(a.conditioning, a.styles.split(",")[0])
    if a.write_calib:
        np.save("magenta_styles.npy", bottlenecks(a.write_calib.split(",")))
        print("magenta_styles.npy")
    if not a.artifact:
        return
    art = LiteRTSession(a.artifact)
    w, h = art.input.size
    static, _ = onnx_import.bind_and_fix(onnx.load(str(wheel_model(MAGENTA_TRANSFORM, ""))), w, h, keep={BOTTLENECK})
    refs = {"ort_default": OrtSession(static, threads=None),
            "ort_reference": OrtSession(static, threads=None, optimize=False),
            "float_form": OrtSession(onnx_import.slim(qdq.to_float(static)[0]), threads=None)}
    imgs = verify.eval_images(w, h)
    styles = a.styles.split(",")
    for style, b in zip(styles, bottlenecks(styles)):
        got = np.concatenate([art.run(x[None].transpose(0, 2, 3, 1), {input_name(BOTTLENECK): b})
                              for x in imgs]).transpose(0, 3, 1, 2)
        row = [f"{k} {verify.compare(r.run_batch(imgs, {BOTTLENECK: b}), got)['psnr_db']:.1f} dB"
               for k, r in refs.items()]
        print(f"{Path(a.artifact).name} style {style}: " + ", ".join(row))


if __name__ == "__main__":
    main()
