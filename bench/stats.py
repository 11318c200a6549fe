"""Summary statistics of raw latency samples and per-repeat throughput (the numbers every table shows).

Median and p90 as LiteRT's benchmark_model and MLPerf Mobile report them; a 10%-trimmed mean so that one GC pause
or thermal hiccup does not move the average; coefficient of variation to judge how steady a run was.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

TRIM = 0.10          # fraction cut from each tail for the trimmed mean
SPREAD_LIMIT = 0.05  # repeats whose FPS differ by more than 5% of their median are flagged


def summarize(samples_ms: Sequence[float]) -> dict[str, float]:
    """n, mean, median, p90, p99, min, max, trimmed mean, std and CV (std / mean) of samples in ms."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        raise ValueError("no samples to summarize")
    mean = float(a.mean())
    std = float(a.std(ddof=1)) if a.size > 1 else 0.0
    return {"n": int(a.size), "mean": mean, "median": float(np.median(a)),
            "p90": float(np.percentile(a, 90)), "p99": float(np.percentile(a, 99)),
            "min": float(a.min()), "max": float(a.max()), "trimmed_mean": trimmed_mean(a),
            "std": std, "cv": std / mean if mean > 0 else 0.0}


def trimmed_mean(samples: Sequence[float], trim: float = TRIM) -> float:
    a = np.sort(np.asarray(samples, dtype=np.float64))
    k = int(a.size * trim)
    return float(a[k:a.size - k].mean()) if a.size > 2 * k else float(a.mean())


def fps(frames: int, wall_s: float) -> float:
    """Throughput as 000 reports it: frames processed over the wall time taken."""
    return frames / wall_s


def repeat_spread(values: Sequence[float]) -> float:
    """(max - min) / median of per-repeat figures; 0 for a single repeat."""
    a = np.asarray(values, dtype=np.float64)
    med = float(np.median(a))
    return float((a.max() - a.min()) / med) if a.size > 1 and med > 0 else 0.0


def summarize_result(result: dict) -> dict:
    """Statistics of a result's raw samples, pooled over repeats; FPS per repeat, then their median."""
    reps = result["repeats"]
    pooled = {key: [x for r in reps for x in r["e2e"][key]] for key in ("decode_ms", "resize_ms", "e2e_ms")}
    pooled["inference_ms"] = [x for r in reps for x in r["inference"]["inference_ms"]]
    pooled["pipeline_inference_ms"] = [x for r in reps for x in r["e2e"]["inference_ms"]]
    fps_e2e = [fps(r["e2e"]["frames"], r["e2e"]["wall_s"]) for r in reps]
    fps_inf = [fps(r["inference"]["frames"], r["inference"]["wall_s"]) for r in reps]
    spread = max(repeat_spread(fps_e2e), repeat_spread(fps_inf))
    med_e2e, med_inf = float(np.median(fps_e2e)), float(np.median(fps_inf))
    return {
        "latency_ms": {k: summarize(v) for k, v in pooled.items() if v},
        "fps_e2e": med_e2e, "fps_inference": med_inf,
        "fps_e2e_repeats": fps_e2e, "fps_inference_repeats": fps_inf,
        # 1.0 means decode and resize are fully hidden behind inference
        "e2e_over_inference": med_e2e / med_inf if med_inf > 0 else 0.0,
        "repeat_spread": spread, "spread_flag": spread > SPREAD_LIMIT,
    }


def trust_figures(result: dict, summary: dict) -> dict:
    """What a reader needs to trust a cell's medians: their 95% bootstrap intervals over repeats, the MLPerf
    replicability verdict and the machine's drift while the cell ran. Python-side only (the harness cores
    reproduce summarize_result, and these need no phone-side counterpart)."""
    return {"fps_e2e_ci": list(bootstrap_ci(summary["fps_e2e_repeats"])),
            "fps_inference_ci": list(bootstrap_ci(summary["fps_inference_repeats"])),
            "replicability": replicability(summary["repeat_spread"], len(result["repeats"])),
            "drift": drift(result.get("host_reference"))}


DRIFT_LIMIT = 0.10  # the reference workload slowed or sped up by more than this between a cell's start and end


def drift(reference: dict | None) -> float | None:
    """Relative change of the reference workload's time from before a cell to after it (None when the runner
    timed none): the machine's own speed moved by this much while the cell ran."""
    if not reference or not reference.get("before_ms") or not reference.get("after_ms"):
        return None
    return float(reference["after_ms"] / reference["before_ms"] - 1.0)


CONFIDENCE = 0.95
REPLICATE_RUNS = 5    # MLPerf's rule: results replicate within 5% over 5 runs
REPLICATE_LIMIT = 0.05


def bootstrap_ci(values: Sequence[float], statistic=np.median, confidence: float = CONFIDENCE,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of `statistic` over `values` (repeats, or paired per-round ratios).
    Fewer than 3 values give no interval: (nan, nan). Seeded so that a report rebuilt from the same samples
    prints the same interval."""
    from scipy.stats import bootstrap
    a = np.asarray(values, dtype=np.float64)
    if a.size < 3:
        return float("nan"), float("nan")
    if np.all(a == a[0]):
        return float(a[0]), float(a[0])
    res = bootstrap((a,), statistic, confidence_level=confidence, n_resamples=2000, method="percentile",
                    random_state=np.random.default_rng(seed), vectorized=False)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> tuple[float, float, float]:
    """Median of the per-round ratios numerator[r] / denominator[r] (times taken in the same round, so drift
    between rounds cancels) and its percentile-bootstrap interval: (ratio, low, high)."""
    n = min(len(numerator), len(denominator))
    ratios = np.asarray(numerator[:n], dtype=np.float64) / np.asarray(denominator[:n], dtype=np.float64)
    lo, hi = bootstrap_ci(ratios)
    return float(np.median(ratios)), lo, hi


def replicability(spread: float, runs: int) -> str:
    """MLPerf's rule as a verdict on a cell's repeats: 'replicates' (>= 5 runs within 5% of their median),
    'unsteady' (runs differ by more than 5%) or 'too few runs' (within 5%, but fewer than 5 runs to say so)."""
    if spread > REPLICATE_LIMIT:
        return "unsteady"
    return "replicates" if runs >= REPLICATE_RUNS else "too few runs"
