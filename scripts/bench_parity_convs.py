#!/usr/bin/env python
"""One 9x9 convolution at 480x320, plain and as conv_output_parities writes it (stride-2 (k+1)x(k+1) conv computing
the four output parities + DEPTH_TO_SPACE), timed interleaved through LiteRT + XNNPACK on 2 threads.

    .venv/bin/python scripts/bench_parity_convs.py [--runs 7]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from vst.common.cli import run_cli  # noqa: E402
from vst.common.quiet import configure_environment

configure_environment()
from vst.bench.compare import BLOCK, timed_rounds  # noqa: E402
from vst.runtimes.profile import _timer  # noqa: E402

H, W, K = 320, 480, 9
PAIRS = ((3, 8), (8, 3), (3, 16), (16, 3), (3, 32), (32, 3))


def conv_file(cin: int, cout: int, parity: bool) -> bytes:
    import tensorflow as tf
    from vst.convert.ir import Graph, Node
    from vst.convert.passes import conv_output_parities
    from vst.convert.tflite import build_tf_function
    rng = np.random.default_rng(0)
    consts = {"w": rng.standard_normal((cout, cin, K, K)).astype(np.float32), "b": np.zeros(cout, np.float32)}
    g = Graph("x", "y", (1, cin, H + K - 1, W + K - 1),
              [Node("conv", ["x", "w", "b"], "y", {"stride": (1, 1), "dilation": (1, 1), "group": 1}, "conv")], consts)
    g.infer_shapes()
    if parity:
        g, _ = conv_output_parities(g)
        g.infer_shapes()
    fn = build_tf_function(g, "nhwc", "nhwc")
    return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn).convert()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=7)
    a = p.parse_args(argv)
    fns = {f"{ci}->{co} {kind}": _timer(conv_file(ci, co, kind == "parities"), 2)
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
