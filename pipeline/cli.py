"""`vst-run`: the main job, zoo -> convert -> host bench -> HTML report, on an embedded default or a job file."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from vst.common.cli import command_line, positive_int, run_cli
from vst.common.fsutil import check_creatable_dir, check_not_input, prune_on_failure
from vst.common.errors import VstError
from vst.pipeline.job import default_job, load_job, run_job

DESCRIPTION = __doc__.splitlines()[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vst-run", description=DESCRIPTION)
    parser.add_argument("--job", help="job JSON, or an embedded job's name: table2 (all of Table II's "
                        "configurations in fp32, fp16 and int8), table2-speed (Table II's speed study: fp32 and int8 "
                        "TFLite against ONNX Runtime and the GEMM peak, paired ratios), executorch-speed (vst's "
                        ".pte against ExecuTorch's default lowering and TFLite, paired ratios), gpu-coverage (the zoo at every "
                        "TFLite precision on LiteRT's GPU accelerator); default: the embedded "
                        "default, see --print-default")
    parser.add_argument("--out", default="vst-out", help="output folder (default: vst-out)")
    parser.add_argument("--print-default", action="store_true", help="print the embedded default job and exit")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--ray-address", metavar="ADDR",
                        help="run the conversions and benchmark cells as tasks of a Ray cluster: HOST:PORT of "
                        "`ray start --head`, or 'local' for an embedded one on this machine (default: $RAY_ADDRESS, "
                        "else no Ray); everything lands in --out here, see docs/cluster.md")
    parser.add_argument("--workers", type=positive_int, metavar="N",
                        help="with --ray-address local: conversions at a time (default: one per CPU)")
    _speed_options(parser)
    args = parser.parse_args(argv)
    if args.print_default:
        print(json.dumps(default_job(), indent=2))
        return 0
    if args.job in (*SPEED_JOBS, GPU_COVERAGE) and (args.ray_address or args.workers):
        raise VstError(f"--ray-address and --workers spread a job's conversions and sweep over Ray; --job {args.job} "
                       "times its artifacts side by side on this machine: drop them")
    if args.job in SPEED_JOBS:
        return _speed_study(args)
    if args.job == GPU_COVERAGE:
        return _gpu_coverage(args)
    if args.models:
        raise VstError("--models goes with --job gpu-coverage")
    given = [f for f in SPEED_OPTIONS if getattr(args, f.lstrip("-").replace("-", "_")) is not None]
    if given:
        raise VstError(f"{given[0]} goes with --job {' or --job '.join(SPEED_JOBS)}")
    check_not_input(args.out, [args.job], "--out")
    check_creatable_dir(Path(args.out))
    job = load_job(args.job)
    ray_address = _ray(args)
    with prune_on_failure(args.out):
        report = run_job(job, Path(args.out), progress=not args.no_progress,
                         command=command_line(parser, job=args.job, out=args.out), ray_address=ray_address)
    print(f"report: {report.resolve()}")
    return 0


def _ray(args) -> str | None:
    """The Ray cluster of the job (None: none, as without the option), joined and announced in one line."""
    from vst.common import cluster
    addr = cluster.address(args.ray_address)
    if args.workers and addr != cluster.LOCAL:
        raise VstError("--workers sets the CPUs of an embedded Ray (--ray-address local); a cluster's nodes give "
                       "theirs with `ray start --num-cpus N`")
    if addr:
        from vst.bench.cluster import connect
        got = connect(addr, args.workers)
        print(f"ray: {got['nodes']} node(s), {got['cpus']} CPU(s) at {addr}", file=sys.stderr)
    return addr


TABLE2_SPEED = "table2-speed"
EXECUTORCH_SPEED = "executorch-speed"
SPEED_JOBS = (TABLE2_SPEED, EXECUTORCH_SPEED)
SPEED_OPTIONS = ("--sizes", "--configs", "--seconds", "--threads", "--video")
GPU_COVERAGE = "gpu-coverage"


def _ids(text: str) -> list[int]:
    try:
        return [int(i) for i in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of Table II ids, e.g. 1,4") from None


def _speed_options(parser: argparse.ArgumentParser) -> None:
    from vst.common.cli import positive_seconds, size_arg, threads
    g = parser.add_argument_group(f"--job {' or '.join(SPEED_JOBS)}")
    g.add_argument("--sizes", type=lambda t: [size_arg(s) for s in t.split(",")],
                   help="WxH list (default 480x320,320x240)")
    g.add_argument("--configs", type=_ids, help="comma list of Table II ids (default: all 15)")
    g.add_argument("--seconds", type=positive_seconds, help="interleaved timing per configuration and size "
                   "(default 10; at least 8 rounds whatever the budget)")
    g.add_argument("--threads", type=threads, help="inference and GEMM threads (default 2)")
    g.add_argument("--video", help="H.264 clip whose frames are timed (default: the generated 1080p one)")
    g = parser.add_argument_group(f"--job {GPU_COVERAGE} (also takes --sizes and --configs)")
    g.add_argument("--models", nargs="+", metavar="MODEL", default=[],
                   help="model files or names to survey beside the zoo (a user's TorchScript, .pt2, ONNX, ...)")


def _speed_study(args) -> int:
    """A speed study of Table II into --out: artifacts kept in OUT/artifacts (a rerun resumes), the table printed,
    the figures in OUT/<job>.json."""
    from vst.pipeline import executorch_speed, table2_speed
    study = {TABLE2_SPEED: table2_speed, EXECUTORCH_SPEED: executorch_speed}[args.job]
    check_not_input(args.out, [args.video], "--out")
    check_creatable_dir(Path(args.out))
    with prune_on_failure(args.out):
        study.run_study(Path(args.out), args.sizes or [(480, 320), (320, 240)], args.configs,
                        args.seconds or study.SECONDS, args.threads or study.THREADS, args.video)
    return 0


def _gpu_coverage(args) -> int:
    """The GPU survey into --out: artifacts in OUT/artifacts (a rerun resumes), the table printed, the rows in
    OUT/gpu-coverage-WxH.json."""
    from vst.pipeline import gpu_coverage
    extra = [f for f in ("--seconds", "--threads", "--video") if getattr(args, f.lstrip("-")) is not None]
    if extra:
        raise VstError(f"{extra[0]} is for the speed jobs; --job {GPU_COVERAGE} takes --sizes, --configs, --models")
    check_not_input(args.out, args.models, "--out")
    check_creatable_dir(Path(args.out))
    with prune_on_failure(args.out):
        for size in args.sizes or [gpu_coverage.SIZE]:
            gpu_coverage.run_study(Path(args.out), size, args.configs, args.models)
    return 0


def entry() -> int:
    return run_cli(main, resumable=True)


if __name__ == "__main__":
    sys.exit(entry())
