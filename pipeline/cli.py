"""`vst-run`: the main job, zoo -> convert -> host bench -> HTML report, on an embedded default or a job file."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from vst.common.cli import run_cli
from vst.common.fsutil import check_creatable_dir, check_not_input, prune_on_failure
from vst.pipeline.job import default_job, load_job, run_job

DESCRIPTION = __doc__.splitlines()[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vst-run", description=DESCRIPTION)
    parser.add_argument("--job", help="job JSON, or an embedded job's name: table2 (all of Table II's "
                        "configurations in fp32, fp16 and int8); default: the embedded default, see --print-default")
    parser.add_argument("--out", default="vst-out", help="output folder (default: vst-out)")
    parser.add_argument("--print-default", action="store_true", help="print the embedded default job and exit")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.print_default:
        print(json.dumps(default_job(), indent=2))
        return 0
    check_not_input(args.out, [args.job], "--out")
    check_creatable_dir(Path(args.out))
    with prune_on_failure(args.out):
        report = run_job(load_job(args.job), Path(args.out), progress=not args.no_progress)
    print(f"report: {report.resolve()}")
    return 0


def entry() -> int:
    return run_cli(main, resumable=True)


if __name__ == "__main__":
    sys.exit(entry())
