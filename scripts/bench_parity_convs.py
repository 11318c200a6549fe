#!/usr/bin/env python
"""One 9x9 convolution at 480x320, plain and as conv_output_parities writes it (stride-2 (k+1)x(k+1) conv computing
the four output parities + DEPTH_TO_SPACE), timed interleaved through LiteRT + XNNPACK on 2 threads.

    .venv/bin/python scripts/bench_parity_convs.py [--runs 7]

Public names only: vst.convert.single_conv_tflite builds each file, vst.runtimes.profile.invoker runs it (random
inputs), vst.bench.timed_rounds is vst-bench --compare's interleaved loop.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from vst.common.cli import positive_int, run_cli
from vst.common.quiet import configure_environment

configure_environment()
from vst.bench import BLOCK, timed_rounds  # noqa: E402
from vst.convert import single_conv_tflite  # noqa: E402
from vst.runtimes.profile import invoker  # noqa: E402

K, SIZE = 9, (480, 320)
PAIRS = ((3, 8), (8, 3), (3, 16), (16, 3), (3, 32), (32, 3))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=positive_int, default=7)
    a = p.parse_args(argv)
    fns = {f"{ci}->{co} {kind}": invoker(single_conv_tflite(ci, co, K, SIZE, rewrite=(
        "conv_output_parities" if kind == "parities" else None))[0], 2)
        for ci, co in PAIRS for kind in ("plain", "parities")}
    # vst-bench --compare's loop: turns of BLOCK calls in a rotating order (LiteRT's threads do not spin on)
    blocks = timed_rounds([lambda j, f=f: f() for f in fns.values()], [False] * len(fns), lambda r: r * BLOCK < a.runs)
    times = {k: [ms / 1e3 for b in t for ms in b][:a.runs] for k, t in zip(fns, blocks)}
    best = {k: float(np.min(v)) for k, v in times.items()}
    med = {k: float(np.median(v)) for k, v in times.items()}
    print("| 9x9 conv at 480x320 | plain ms | parities ms | speedup (best) | speedup (median) |\n|---|---|---|---|---|")
    for ci, co in PAIRS:
        b0, b1 = best[f"{ci}->{co} plain"], best[f"{ci}->{co} parities"]
        m0, m1 = med[f"{ci}->{co} plain"], med[f"{ci}->{co} parities"]
        print(f"| {ci} -> {co} | {b0 * 1e3:.1f} | {b1 * 1e3:.1f} | {b0 / b1:.2f}x | {m0 / m1:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # third-party chatter filtered; -v keeps it
