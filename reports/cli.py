"""`vst-report RESULTS_OR_DIRS... -o report.html`: one self-contained HTML file a team can open offline."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from vst.common.cli import run_cli
from vst.common.errors import VstError
from vst.common.fsutil import check_creatable_dir, check_not_input


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vst-report", description=__doc__)
    parser.add_argument("inputs", nargs="*", help="*.report.json files, vst-bench --out folders, or folders holding them")
    parser.add_argument("-o", "--out", default="report.html", help="HTML file to write (default: report.html)")
    parser.add_argument("--title", default="vst report")
    parser.add_argument("--study", action="append", default=[], metavar="DIR",
                        help="a vst-train --study folder: its grid and per-configuration PSNR vs teacher and "
                             "temporal error, beside FPS (repeatable)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.inputs and not args.study:
        parser.error("give results (conversion reports, vst-bench --out folders) and/or --study DIR")
    out = Path(args.out)
    check_not_input(out, [*args.inputs, *args.study])
    # an HTML name also keeps the page off the records a folder input holds (*.report.json, results.csv)
    if out.suffix.lower() not in (".html", ".htm"):
        raise VstError(f"-o {out}: vst-report writes one HTML page; give a path ending in .html")
    if out.is_dir():
        raise VstError(f"-o {out} is a folder; give a file path ending in .html")
    check_creatable_dir(out.parent)
    from vst.reports import build_report
    path = build_report(args.inputs, args.out, args.title, args.study)
    print(f"report: {path.resolve()}")
    return 0


def entry() -> int:
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(entry())
