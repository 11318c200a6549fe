#!/usr/bin/env python
"""vst-convert's TFLite artifacts against ONNX Runtime, in one run on this machine, through public commands' code.

    .venv/bin/python scripts/bench_convert.py [--size 480x320] [--seconds 10] [--json out.json]
    .venv/bin/python scripts/bench_convert.py --table2 [...]   # now: vst-run --job table2-speed --out DIR [...]

The paper-text models (kunster a=1 and a=0.25, b=1, random weights) as vst-run --job table2-speed times a Table II
configuration (vst.pipeline.table2_speed.cell: convert() to fp32 and int8 TFLite and to NCHW ONNX, then
vst-bench --compare --gemm-peak's loop), and int8 PSNR against fp32 of a trained model and multistyle26. onnx2tf
and litert-torch files are compared the public way: convert the ONNX with onnx2tf (or a graph vst's import refuses
through vst-convert's fallback), then `vst-bench --compare ours.tflite theirs.tflite` (docs/convert.md).
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from vst.common.cli import run_cli


def int8_psnr_vs_fp32(model: str, size: tuple[int, int], tmp: Path) -> float:
    """PSNR of the int8 TFLite's outputs against the fp32 TFLite's on the shipped photos (trained weights)."""
    import numpy as np
    import torch
    from vst.common.images import resize_cover, sample_photos
    from vst.convert import convert
    from vst.metrics.quality import psnr
    from vst.runtimes.stylizer import ArtifactRunner
    x = torch.from_numpy(np.stack([resize_cover(p, *size) for p in sample_photos().values()])
                         .transpose(0, 3, 1, 2).astype(np.float32) / 255)
    outs = []
    for q in ("fp32", "int8"):
        convert(model, to="tflite", quant=q, size=size, out=tmp / f"t_{q}.tflite")
        outs.append(ArtifactRunner(tmp / f"t_{q}.tflite")(x).numpy())
    return round(psnr(*outs), 2)


def main(argv=None) -> int:
    import argparse
    from vst.common.cli import positive_seconds, size_arg
    from vst.common.errors import VstError
    from vst.pipeline.table2_speed import cell
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=size_arg, default=(480, 320))
    p.add_argument("--seconds", type=positive_seconds, default=10.0, help="interleaved timing per model")
    p.add_argument("--json", help="write all figures here")
    p.add_argument("--table2", action="store_true", help="moved: vst-run --job table2-speed")
    a, rest = p.parse_known_args(argv)
    if a.table2 or rest:
        raise VstError("the Table II study is vst-run --job table2-speed --out DIR [--sizes ...] [--configs ...]; "
                       "onnx2tf and litert-torch files are compared with vst-bench --compare (docs/convert.md)")
    rows = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for key, model in (("a1", "kunster:alpha=1,beta=1,variant=paper-text"),
                           ("a025", "kunster:alpha=0.25,beta=1,variant=paper-text")):
            rows[key] = cell(model, a.size, tmp, a.seconds, label=key)
            print(json.dumps(rows[key], indent=1), flush=True)
        from vst.models.shipped import trained_dir
        from vst.runtimes.stylizer import multistyle26_path
        trained = sorted(trained_dir().glob("*.safetensors"))[:1]
        rows["int8_trained"] = {Path(m).name: int8_psnr_vs_fp32(str(m), a.size, tmp)
                                for m in trained + [multistyle26_path()]}
    print("\n== summary (targets in brackets)")
    for key, name in (("a1", "kunster a=1"), ("a025", "kunster a=0.25")):
        r = rows[key]
        print(f"{name} fp32: TRANSPOSE {r['transposes']['fp32']} [0], XNNPACK partitions {r['partitions']['fp32']} "
              f"[1], latency {r['fp32_vs_ort']}x ONNX Runtime {r['fp32_vs_ort_ci']}; int8 {r['int8_speedup']}x fp32 "
              f"throughput {r['int8_speedup_ci']}, partitions {r['partitions']['int8']}")
    for name, db in rows["int8_trained"].items():
        print(f"trained {name}: int8 PSNR vs fp32 {db} dB [>= 30]")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # third-party chatter filtered; -v keeps it
