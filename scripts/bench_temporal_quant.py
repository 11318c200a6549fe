"""Temporal error of TFLite fp32 / fp16 / int8 / int8 --temporal / int8 --dynamic artifacts of the shipped stage-2 models.

Prints: model, size, precision, temporal error (001 eq. 8, held-out synthetic clips with exact flow: photos and
motions the --temporal pass never tuned on), ratio to fp32, PSNR against the fp32 artifact, speed ratio
to fp32 (>1 = faster) with its 95% interval: the artifacts of one model and size timed by `vst-bench --compare`'s
method (short blocks in rotating turns, ratios paired round by round; LiteRT XNNPACK, 2 threads). Conversions
are kept in --out and reused, so an interrupted run resumes.

    python scripts/bench_temporal_quant.py --sizes 320x240 480x320 --out bench_tq
    python scripts/bench_temporal_quant.py --precisions int8 int8-dynamic --sizes 320x240   # a subset
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from vst.common.cli import parse_size, run_cli
from vst.common.errors import VstError
from vst.common.fsutil import atomic_write_text
from vst.common.records import report_path

PRECISIONS = {"fp32": ("fp32", {}), "fp16": ("fp16", {}), "int8": ("int8", {}),
              "int8-temporal": ("int8", {"temporal": True}), "int8-dynamic": ("int8", {"dynamic": True})}


def shipped_stage2() -> list[str]:
    from vst.models.shipped import trained_dir
    return sorted(p.stem.replace("kunster-", "kunster.", 1) for p in trained_dir().glob("kunster-*-stage2.safetensors"))


def artifact(model: str, size: tuple[int, int], prec: str, out: Path) -> Path:
    from vst.convert.api import convert
    quant, mode = PRECISIONS[prec]
    path = out / f"{model.replace('.', '-')}_{size[0]}x{size[1]}_{prec}.tflite"
    if not (path.is_file() and report_path(path).is_file()):
        t0 = time.perf_counter()
        convert(model, to="tflite", quant=quant, size=size, out=path, **mode)
        print(f"  converted {path.name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return path


def bench(model: str, size: tuple[int, int], out: Path, frames: int, seconds: float,
          precisions: list[str] = list(PRECISIONS)) -> list[dict]:
    from vst.metrics.evaluate import evaluate, synthetic_eval_clips
    from vst.bench.compare import compare
    from vst.runtimes.stylizer import load_runner
    paths = {prec: artifact(model, size, prec, out) for prec in ["fp32"] + [p for p in precisions if p != "fp32"]}
    clips = synthetic_eval_clips(size, frames)
    runners = {prec: load_runner(str(p)) for prec, p in paths.items()}
    res = evaluate(runners, clips, reference=runners["fp32"])
    # vst-bench --compare's paired, interleaved timing: every ratio comes from rounds in which all artifacts ran
    entries = compare([str(p) for p in paths.values()], size=size, seconds=seconds, threads=2,
                      progress=False)["entries"]
    timing = dict(zip(paths, entries))
    rows = []
    for prec in paths:
        rep = json.loads(report_path(paths[prec]).read_text())
        tq = rep.get("quantization", {}).get("temporal")
        dq = rep.get("quantization", {}).get("dynamic")
        rows.append({"model": model, "size": f"{size[0]}x{size[1]}", "precision": prec,
                     "temporal_error": res[prec]["temporal_error"],
                     "ratio_to_fp32": res[prec]["temporal_error"] / res["fp32"]["temporal_error"],
                     "psnr_vs_fp32": res[prec]["psnr_vs_reference"],
                     "median_ms": timing[prec]["latency_ms_median"],
                     "speedup_vs_fp32": timing[prec].get("speed_ratio", 1.0),
                     "speedup_ci": timing[prec].get("speed_ratio_ci"),
                     "float_ops": f"{tq['float_op_count']}/{tq['op_count']}" if tq else
                     f"{dq['conv_ops'] - dq['int8_weight_ops']}/{dq['conv_ops']} conv" if dq else None,
                     "tuning_ratio": None if tq is None else
                     f"{tq['tuning']['ratio_before']}->{tq['tuning']['ratio_after']}"})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", help="default: every shipped stage-2 model")
    p.add_argument("--sizes", nargs="+", default=["320x240", "480x320"])
    p.add_argument("--out", default="bench_temporal_quant", help="folder for artifacts and results.json")
    p.add_argument("--precisions", nargs="+", choices=list(PRECISIONS), default=list(PRECISIONS),
                   help="which artifacts (fp32, the reference, always)")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--seconds", type=float, default=30.0,
                   help="interleaved timing per model and size (vst-bench --compare's method)")
    args = p.parse_args(argv)
    if args.frames < 2 or args.seconds <= 0:
        raise VstError("--frames must be at least 2 and --seconds positive")
    sizes = [parse_size(s) for s in args.sizes]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for model in args.models or shipped_stage2():
        for size in sizes:
            rows += bench(model, size, out, args.frames, args.seconds, args.precisions)
    hdr = f"{'model':<26} {'size':>8} {'precision':<14} {'E_temp':>8} {'x fp32':>7} {'PSNR/fp32':>9} " \
          f"{'speed x':>8} {'interval':>13} {'float ops':>9} {'tuning':>12}"
    print(hdr)
    for r in rows:
        psnr = "inf" if r["psnr_vs_fp32"] == float("inf") else f"{r['psnr_vs_fp32']:.2f}"
        ci = "-" if r["speedup_ci"] is None else f"[{r['speedup_ci'][0]:.2f}, {r['speedup_ci'][1]:.2f}]"
        print(f"{r['model']:<26} {r['size']:>8} {r['precision']:<14} {r['temporal_error']:8.4f} "
              f"{r['ratio_to_fp32']:7.3f} {psnr:>9} {r['speedup_vs_fp32']:8.2f} {ci:>13} {r['float_ops'] or '-':>9} "
              f"{r['tuning_ratio'] or '-':>12}")
    atomic_write_text(out / "results.json", json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
