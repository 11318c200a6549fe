"""The graph model's calibration features (vst/predict/data/table2_graph.json): the 15 Table II configurations
converted as vst-convert writes them (fp32 .tflite and .onnx, random weights, --checks proofs, 480x320 and
320x240), each counted from its graph by vst.predict.graph.

    .venv/bin/python -m vst.pipeline.table2_graph [--artifacts DIR] [--out FILE]

Missing artifacts are converted into DIR (kept: a rerun converts nothing; a table2 job's artifacts folder holds
the .tflite files already). One conversion took 10 to 70 s under load on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vst.predict.graph import GRAPH_FORMATS, TABLE2_DATA, graph_features


def table2_artifact_name(key: str, width: int, height: int, fmt: str = "tflite") -> str:
    """The name vst-run's table2 job gives an fp32 artifact (its artifacts folder can be read as it is)."""
    return f"{key}-{width}x{height}-fp32.{fmt}"


def build_table2(artifacts: Path, keys: list[str] | None = None, sizes: list[tuple[int, int]] | None = None,
                 formats: tuple[str, ...] = GRAPH_FORMATS) -> dict:
    """Convert any missing Table II configuration into `artifacts` and count each one's graph (`keys`, `sizes`,
    `formats`: a part of the table)."""
    from vst.common.records import table2_name
    from vst.convert import convert
    from vst.models import table2
    from vst.models.profile import PAPER_RESOLUTIONS
    artifacts.mkdir(parents=True, exist_ok=True)
    rows = []
    for key in keys or [table2_name(r["id"]) for r in table2()]:
        for fmt in formats:
            for w, h in sizes or PAPER_RESOLUTIONS:
                path = artifacts / table2_artifact_name(key, w, h, fmt)
                if not path.is_file():
                    convert(key, to=fmt, quant="fp32", size=(w, h), out=path, random_weights=True,
                            checks="proofs", gpu_check=False)
                rows.append(graph_features(path, name=key).record())
    return {"about": "graph features of the 15 Table II configurations as vst-convert writes them (fp32 .tflite "
                     "and .onnx, random weights, --checks proofs): python -m vst.pipeline.table2_graph",
            "rows": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m vst.pipeline.table2_graph", description=__doc__.split("\n\n")[0])
    p.add_argument("--artifacts", metavar="DIR", default="table2-graph-artifacts",
                   help="where the fp32 .tflite and .onnx files are kept (missing ones are converted)")
    p.add_argument("--out", metavar="FILE", default=str(TABLE2_DATA))
    args = p.parse_args(argv)
    Path(args.out).write_text(json.dumps(build_table2(Path(args.artifacts)), indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from vst.common.cli import run_cli
    sys.exit(run_cli(main))
