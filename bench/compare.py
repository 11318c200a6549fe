"""`vst-bench --compare A B [C...]`: artifacts of any host runtime timed interleaved on the same frames, each
one's speed as a ratio to the first with a bootstrap interval.

On a shared machine absolute speed moves by 2x within minutes, but two models timed in alternating short blocks
see the same load: the ratio of their times in one round is steady even when both times are not. So each round
runs a short block of every artifact (the order rotating from round to round, so that none always follows the
same neighbour), each round gives one paired ratio, and the figure is the median of those ratios with a
percentile-bootstrap interval over rounds. Inference only (frames decoded and prepared beforehand), so the ratio
is the models' and not the decoder's.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from vst.bench.artifacts import input_spec
from vst.bench.stats import bootstrap_ci, paired_ratio
from vst.common.errors import VstError

BLOCK = 5             # timed inferences per artifact per round: long enough to amortise the switch, short against drift
MIN_ROUNDS = 8        # the bootstrap needs some rounds whatever the budget
WARMUP_RUNS = 3
FRAMES = 8            # distinct frames cycled through (the same ones for every artifact)
# ONNX Runtime's intra-op threads (and torch's OpenMP ones) spin for 10-50 ms after a call returns; on 2 cores
# they took CPU from whatever ran next, by up to 25% (measured in scripts/bench_convert.py, which times the same way)
SPINNING_RUNTIMES = ("onnxruntime", "pytorch")
SETTLE_S = 0.05
TARGET = 0.05         # an interval within +-5% of its ratio counts as resolved
DEFAULT_SIZE = (480, 320)


def timed_rounds(runners: Sequence[Callable[[int], object]], spinning: Sequence[bool], more: Callable[[int], bool],
                 on_round: Callable[[int], object] = lambda r: None) -> list[list[list[float]]]:
    """The interleaved timing loop: rounds of one turn per runner, in an order rotating from round to round (no
    runner always runs right after the same one). A turn is one untimed call runner(0), which wakes the runner's
    own threads, then BLOCK timed calls runner(j), j counting the runner's timed calls; SETTLE_S first when the
    turn before was a runner whose threads spin on (`spinning`). Rounds go on while more(rounds done) holds;
    on_round(rounds done) after each. Returns, per runner, the ms of each of its turns' calls."""
    times: list[list[list[float]]] = [[] for _ in runners]
    r, last, n = 0, None, len(runners)
    while more(r):
        for k in range(n):
            i = (k + r) % n
            if last is not None and spinning[last]:
                time.sleep(SETTLE_S)
            runners[i](0)
            last = i
            block = []
            for j in range(BLOCK):
                t0 = time.perf_counter()
                runners[i](r * BLOCK + j)
                block.append((time.perf_counter() - t0) * 1e3)
            times[i].append(block)
        r += 1
        on_round(r)
    return times


def _size(arts, size: tuple[int, int] | None) -> tuple[int, int]:
    fixed = {a.label: input_spec(a).size for a in arts}
    sizes = {tuple(s) for s in fixed.values() if s}
    if len(sizes) > 1:
        raise VstError("--compare needs artifacts of one input size; got " +
                       ", ".join(f"{k} {s[0]}x{s[1]}" for k, s in fixed.items() if s) +
                       ": convert them at the same --size")
    if sizes:
        (only,) = sizes
        if size and tuple(size) != only:
            raise VstError(f"--size {size[0]}x{size[1]}: the artifacts have a fixed {only[0]}x{only[1]} input; "
                           "leave --size out or convert them at that size")
        return only
    return tuple(size) if size else DEFAULT_SIZE


def compare(specs: Sequence[str], size: tuple[int, int] | None = None, seconds: float = 30.0,
            video: str | Path | None = None, threads: int | None = None, bind: dict | None = None,
            progress: bool = True) -> dict:
    """Time `specs` interleaved for about `seconds`; returns {size, rounds, block, entries: [...]}, each entry with
    its median latency and interval and (from the second on) its speed ratio to the first with interval."""
    from vst.common.progress import bar as progress_bar
    from vst.bench.host import HostModel, reference_ms
    from vst.bench.sweep import resolve_artifacts
    from vst.common.images import resize_cover
    from vst.runtimes.table import DELEGATES
    from vst.video.codec import decode_frames, paper_clip

    if len(specs) < 2:
        raise VstError("--compare needs two artifacts at least: the first is the baseline the others are "
                       "compared to")
    if seconds <= 0:
        raise VstError("--seconds must be positive for --compare")
    arts = resolve_artifacts(specs, bind)
    for a in arts:
        if ("host", a.runtime) not in DELEGATES:
            raise VstError(f"{a.label} is a {a.format} artifact; --compare runs on this machine, which runs "
                           "LiteRT, ONNX Runtime and PyTorch artifacts only")
    w, h = _size(arts, size)
    clip = Path(video) if video else paper_clip()
    if not clip.exists():
        raise VstError(f"video {clip} does not exist; give an H.264 file or leave --video out")
    rgb = [resize_cover(f, w, h) for f, _, _ in decode_frames(str(clip), FRAMES)]
    models = [HostModel(a, w, h, threads, DELEGATES[("host", a.runtime)][0]) for a in arts]
    inputs = [[m.prepare(f) for f in rgb] for m in models]
    for m, xs in zip(models, inputs):
        for i in range(WARMUP_RUNS):
            m.infer(xs[i % len(xs)])
    ref_before = reference_ms()
    start = time.perf_counter()
    bar = progress_bar(desc=f"comparing at {w}x{h}", unit="round", progress=progress, leave=False,
                       total=None)

    def tick(r):
        bar.update(1)
        bar.set_postfix_str(f"{time.perf_counter() - start:.0f}/{seconds:.0f} s")
    times = timed_rounds([lambda j, m=m, xs=xs: m.infer(xs[j % len(xs)]) for m, xs in zip(models, inputs)],
                         [m.runtime in SPINNING_RUNTIMES for m in models],
                         lambda r: r < MIN_ROUNDS or time.perf_counter() - start < seconds, tick)
    bar.close()
    r = len(times[0])
    ref_after = reference_ms()
    entries = []
    base = np.array([np.median(b) for b in times[0]])
    for a, m, t in zip(arts, models, times):
        per_round = np.array([np.median(b) for b in t])
        pooled = [x for b in t for x in b]
        e = {"artifact": a.label, "runtime": m.runtime, "precision": a.info.get("precision"),
             "delegate_used": m.delegate_used, "latency_ms_median": float(np.median(pooled)),
             "latency_ms_ci": list(bootstrap_ci(per_round))}
        if entries:
            # speed ratio: > 1 means faster than the first artifact; paired round by round
            ratio, lo, hi = paired_ratio(base, per_round)
            half = max(ratio - lo, hi - ratio) / ratio
            e.update(speed_ratio=ratio, speed_ratio_ci=[lo, hi], resolved=bool(half <= TARGET),
                     ratio_halfwidth=float(half))
        entries.append(e)
    return {"size": f"{w}x{h}", "rounds": r, "block": BLOCK, "seconds": time.perf_counter() - start,
            "threads": threads, "entries": entries,
            "drift": float(ref_after / ref_before - 1.0),
            "frames": {"video": str(clip), "count": len(rgb)}}


def format_comparison(res: dict) -> str:
    """The table vst-bench --compare prints, with a verdict line per ratio."""
    first = res["entries"][0]["artifact"]
    lines = [f"interleaved inference at {res['size']}: {res['rounds']} rounds of {res['block']} inferences each "
             f"per artifact in {res['seconds']:.0f} s; ratios are paired per round, intervals 95% bootstrap",
             f"{'artifact':34} {'runtime':12} {'precision':13} {'ms median':>10} {'95% CI':>17}  speed vs first"]
    for e in res["entries"]:
        lo, hi = e["latency_ms_ci"]
        row = f"{e['artifact'][:34]:34} {e['runtime']:12} {str(e['precision'] or '-'):13} " \
              f"{e['latency_ms_median']:10.2f} {f'[{lo:.2f}, {hi:.2f}]':>17}  "
        if "speed_ratio" in e:
            l2, h2 = e["speed_ratio_ci"]
            row += f"{e['speed_ratio']:.3f}x [{l2:.3f}, {h2:.3f}]"
        else:
            row += "1 (baseline)"
        lines.append(row)
    for e in res["entries"][1:]:
        if e["resolved"]:
            lines.append(f"{e['artifact']} vs {first}: {e['speed_ratio']:.3f}x, resolved to "
                         f"+-{100 * e['ratio_halfwidth']:.1f}%")
        else:
            lines.append(f"{e['artifact']} vs {first}: cannot resolve the ratio to +-{100 * TARGET:.0f}% on this "
                         f"machine now (+-{100 * e['ratio_halfwidth']:.1f}%): it is busy; run with a longer "
                         "--seconds or when it is quieter")
    if abs(res["drift"]) > 0.10:
        lines.append(f"note: this machine's own speed moved by {100 * res['drift']:+.0f}% during the comparison "
                     "(reference workload); the paired ratios absorb most of it, absolute ms do not")
    return "\n".join(lines)
