"""`vst-run`: the main job, zoo -> convert -> host bench -> HTML report, on an embedded default or a job file."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from vst.common.cli import command_line, run_cli
from vst.common.fsutil import check_creatable_dir, check_not_input, prune_on_failure
from vst.common.errors import VstError
from vst.pipeline.job import default_job, load_job, run_job

DESCRIPTION = __doc__.splitlines()[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vst-run", description=DESCRIPTION)
    parser.add_argument("--job", help="job JSON, or an embedded job's name: table2 (all of Table II's "
                        "configurations in fp32, fp16 and int8), table2-speed (Table II's speed study: fp32 and int8 "
                        "TFLite against ONNX Runtime and the GEMM peak, paired ratios); default: the embedded "
                        "default, see --print-default")
    parser.add_argument("--out", default="vst-out", help="output folder (default: vst-out)")
    parser.add_argument("--print-default", action="store_true", help="print the embedded default job and exit")
    parser.add_argument("--no-progress", action="store_true")
    _speed_options(parser)
    args = parser.parse_args(argv)
    if args.print_default:
        print(json.dumps(default_job(), indent=2))
        return 0
    if args.job == TABLE2_SPEED:
        return _table2_speed(args)
    given = [f for f in SPEED_OPTIONS if getattr(args, f.lstrip("-").replace("-", "_")) is not None]
    if given:
        raise VstError(f"{given[0]} goes with --job {TABLE2_SPEED}")
    check_not_input(args.out, [args.job], "--out")
    check_creatable_dir(Path(args.out))
    with prune_on_failure(args.out):
        report = run_job(load_job(args.job), Path(args.out), progress=not args.no_progress,
                         command=command_line(parser, job=args.job, out=args.out))
    print(f"report: {report.resolve()}")
    return 0


TABLE2_SPEED = "table2-speed"
SPEED_OPTIONS = ("--sizes", "--configs", "--seconds", "--threads", "--video")


def _ids(text: str) -> list[int]:
    try:
        return [int(i) for i in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of Table II ids, e.g. 1,4") from None


def _speed_options(parser: argparse.ArgumentParser) -> None:
    from vst.common.cli import positive_seconds, size_arg, threads
    g = parser.add_argument_group(f"--job {TABLE2_SPEED}")
    g.add_argument("--sizes", type=lambda t: [size_arg(s) for s in t.split(",")],
                   help="WxH list (default 480x320,320x240)")
    g.add_argument("--configs", type=_ids, help="comma list of Table II ids (default: all 15)")
    g.add_argument("--seconds", type=positive_seconds, help="interleaved timing per configuration and size "
                   "(default 10; at least 8 rounds whatever the budget)")
    g.add_argument("--threads", type=threads, help="inference and GEMM threads (default 2)")
    g.add_argument("--video", help="H.264 clip whose frames are timed (default: the generated 1080p one)")


def _table2_speed(args) -> int:
    """Table II's speed study into --out: artifacts kept in OUT/artifacts (a rerun resumes), the table printed,
    the figures in OUT/table2-speed.json."""
    from vst.pipeline import table2_speed as study
    check_not_input(args.out, [args.video], "--out")
    check_creatable_dir(Path(args.out))
    with prune_on_failure(args.out):
        study.run_study(Path(args.out), args.sizes or [(480, 320), (320, 240)], args.configs,
                        args.seconds or study.SECONDS, args.threads or study.THREADS, args.video)
    return 0


def entry() -> int:
    return run_cli(main, resumable=True)


if __name__ == "__main__":
    sys.exit(entry())
