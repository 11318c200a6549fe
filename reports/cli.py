"""`vst-report RESULTS_OR_DIRS... -o report.html`: one self-contained HTML file a team can open offline."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from vst.common.cli import run_cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vst-report", description=__doc__)
    parser.add_argument("inputs", nargs="*", help="*.report.json files, vst-bench --out folders, or folders holding them")
    parser.add_argument("-o", "--out", default="report.html", help="HTML file to write (default: report.html)")
    parser.add_argument("--title", default="vst report")
    parser.add_argument("--study", action="append", default=[], metavar="DIR",
                        help="a vst-train --study folder: its grid and per-configuration PSNR vs teacher and "
                             "temporal error, beside FPS (repeatable)")
    args = parser.parse_args(argv)
    if not args.inputs and not args.study:
        parser.error("give results (conversion reports, vst-bench --out folders) and/or --study DIR")
    from vst.reports import build_report
    path = build_report(args.inputs, args.out, args.title, args.study)
    print(f"report: {path.resolve()}")
    return 0


def entry() -> int:
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(entry())
