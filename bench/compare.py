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
# they took CPU from whatever ran next, by up to 25% (kunster-t2-05 at 320x240 on LiteRT: 7.3-7.5 ms right
# after ONNX Runtime, 5.3-5.8 ms with the pause)
SPINNING_RUNTIMES = ("onnxruntime", "pytorch")
SETTLE_S = 0.05
TARGET = 0.05         # an interval within +-5% of its ratio counts as resolved
DEFAULT_SIZE = (480, 320)
GEMM_N = 1024         # --gemm-peak: an NxN fp32 torch matmul, the most this CPU's cores give a dense kernel


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


def gemm_runner(threads: int | None) -> Callable[[int], object]:
    """The GEMM peak as one more runner of the loop: a GEMM_N x GEMM_N fp32 torch matmul on `threads` (torch's
    own choice when None), so an artifact's effective GFLOP/s can be read against what the cores give a dense
    kernel in the same rounds."""
    import torch
    if threads:
        torch.set_num_threads(threads)
    a, b = torch.rand(GEMM_N, GEMM_N), torch.rand(GEMM_N, GEMM_N)
    return lambda j: torch.matmul(a, b)


def gflops(macs: int | float, ms: float) -> float:
    """Multiply-accumulates done in `ms` milliseconds, as GFLOP/s (two FLOPs per MAC)."""
    return 2.0 * macs / (ms / 1e3) / 1e9


def _macs(art, w: int, h: int) -> int | None:
    """The model's MACs at WxH from its conversion report (the zoo's count for a zoo name); None if unknown."""
    if art.zoo_name:
        from vst.models import count_macs, create_model
        return int(count_macs(create_model(art.zoo_name), w, h))
    from vst.common.records import read_conversion_report
    report = read_conversion_report(art.path) if art.path else None
    macs = ((report or {}).get("model") or {}).get("macs") or {}
    return macs.get(f"{w}x{h}")


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
            progress: bool = True, gemm_peak: bool = False) -> dict:
    """Time `specs` interleaved for about `seconds`; returns {size, rounds, block, entries: [...]}, each entry with
    its median and best latency, interval, MACs and effective GFLOP/s where its report gives MACs, and (from the
    second on) its speed ratio to the first with interval. `gemm_peak`: the GEMM peak (gemm_runner) runs as one
    more runner in the same rounds; the result's "gemm_peak" holds its GFLOP/s and each entry with MACs its
    fraction of it."""
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
    runners = [lambda j, m=m, xs=xs: m.infer(xs[j % len(xs)]) for m, xs in zip(models, inputs)]
    spinning = [m.runtime in SPINNING_RUNTIMES for m in models]
    if gemm_peak:
        runners.append(gemm_runner(threads))
        spinning.append(True)          # torch's OpenMP threads spin on after a call
        for _ in range(WARMUP_RUNS):
            runners[-1](0)
    times = timed_rounds(runners, spinning, lambda r: r < MIN_ROUNDS or time.perf_counter() - start < seconds, tick)
    bar.close()
    r = len(times[0])
    ref_after = reference_ms()
    entries = []
    peak = None
    if gemm_peak:
        pooled = [x for b in times[-1] for x in b]
        best, med = float(np.min(pooled)), float(np.median(pooled))
        macs = GEMM_N ** 3
        peak = {"n": GEMM_N, "ms_median": med, "ms_best": best, "gflops": gflops(macs, best),
                "gflops_median": gflops(macs, med)}
    base = np.array([np.median(b) for b in times[0]])
    for a, m, t in zip(arts, models, times):
        per_round = np.array([np.median(b) for b in t])
        pooled = [x for b in t for x in b]
        e = {"artifact": a.label, "runtime": m.runtime, "precision": a.info.get("precision"),
             "checks_failed": _failed_checks(a),
             "delegate_used": m.delegate_used, "latency_ms_median": float(np.median(pooled)),
             "latency_ms_best": float(np.min(pooled)), "latency_ms_ci": list(bootstrap_ci(per_round)),
             "macs": _macs(a, w, h), "round_ms": per_round.tolist()}   # for ratios between any two entries
        if e["macs"]:
            # best-of-N: the call least disturbed by other processes, as the GEMM peak is taken
            e["effective_gflops"] = gflops(e["macs"], e["latency_ms_best"])
            if peak:
                e["of_gemm_peak"] = e["effective_gflops"] / peak["gflops"]
        if entries:
            # speed ratio: > 1 means faster than the first artifact; paired round by round
            ratio, lo, hi = paired_ratio(base, per_round)
            half = max(ratio - lo, hi - ratio) / ratio
            e.update(speed_ratio=ratio, speed_ratio_ci=[lo, hi], resolved=bool(half <= TARGET),
                     ratio_halfwidth=float(half))
        entries.append(e)
    return {"size": f"{w}x{h}", "rounds": r, "block": BLOCK, "seconds": time.perf_counter() - start,
            "threads": threads, "entries": entries, **({"gemm_peak": peak} if peak else {}),
            "drift": float(ref_after / ref_before - 1.0),
            "frames": {"video": str(clip), "count": len(rgb)}}


def _failed_checks(art) -> list[str]:
    """What the artifact's conversion report says it failed (fidelity, temporal): a speed-up of a file that
    does not pass is no reason to ship it, and the comparison says so beside the ratio."""
    from vst.common.records import read_conversion_report
    rep = read_conversion_report(art.path) if art.path is not None and art.format != "pytorch" else None
    out = []
    fid, tmp = (rep or {}).get("fidelity") or {}, (rep or {}).get("temporal") or {}
    if fid.get("passed") is False:
        out.append(f"fidelity (PSNR {fid.get('psnr_db')} dB < {fid.get('threshold_psnr_db')} dB)")
    if tmp.get("passed") is False:
        out.append(f"temporal ({tmp.get('ratio')}x its source's temporal error > {tmp.get('threshold_ratio')}x)")
    return out


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
    for e in res["entries"]:
        if e.get("checks_failed"):
            lines.append(f"note: {e['artifact']} failed its conversion's {' and '.join(e['checks_failed'])} "
                         "check: its speed is no reason to ship it")
    peak = res.get("gemm_peak")
    if peak:
        lines.append(f"GEMM peak ({peak['n']}x{peak['n']} torch matmul in the same rounds): {peak['gflops']:.1f} "
                     f"GFLOP/s best, {peak['gflops_median']:.1f} median")
        for e in res["entries"]:
            if e.get("of_gemm_peak") is not None:
                lines.append(f"{e['artifact']}: {e['effective_gflops']:.1f} GFLOP/s effective (best) = "
                             f"{e['of_gemm_peak']:.2f}x the GEMM peak")
    if abs(res["drift"]) > 0.10:
        lines.append(f"note: this machine's own speed moved by {100 * res['drift']:+.0f}% during the comparison "
                     "(reference workload); the paired ratios absorb most of it, absolute ms do not")
    return "\n".join(lines)
