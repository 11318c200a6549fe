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
The measurements are vst.convert.agreement's (magenta_bottlenecks, kept_input_psnr, ort_conditioning).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vst.common.cli import run_cli
from vst.convert.agreement import kept_input_psnr, magenta_bottlenecks, ort_conditioning


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("artifact", nargs="?")
    ap.add_argument("--styles", default="rocket,hubble_deep_field,chelsea")
    ap.add_argument("--write-calib", metavar="NAMES", help="comma-separated photos; writes their bottlenecks")
    ap.add_argument("--conditioning", type=int, metavar="SIZE", help="ONNX Runtime against itself, inputs moved")
    a = ap.parse_args(argv)
    styles = a.styles.split(",")
    if a.conditioning:
        for r in ort_conditioning(a.conditioning, magenta_bottlenecks(styles[:1])[0]):
            print(f"{a.conditioning}x{a.conditioning} {r['execution']} style {styles[0]}: {r['fraction']:g} of the "
                  f"8-bit input values moved one level ({r['moved']} of {r['of']}): {r['psnr_db']:.1f} dB "
                  "against the unmoved input")
    if a.write_calib:
        np.save("magenta_styles.npy", magenta_bottlenecks(a.write_calib.split(",")))
        print("magenta_styles.npy")
    if not a.artifact:
        return 0
    res = kept_input_psnr(a.artifact, dict(zip(styles, magenta_bottlenecks(styles))))
    for style, row in res.items():
        print(f"{Path(a.artifact).name} style {style}: " + ", ".join(f"{k} {db:.1f} dB" for k, db in row.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
