"""Do several runners measure the same thing alike? For a sweep over more than one of this machine's runners
(`vst-bench --device host,swift-linux,kotlin-jvm`): per artifact, size and delegate, each runner's FPS beside the
first runner's, with their 95% intervals, and whether the intervals overlap (inference only and end to end).
Measured turn by turn in one run, so the runners saw the same machine."""
from __future__ import annotations

import math

import pandas as pd


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool | None:
    if any(math.isnan(v) for v in (*a, *b)):
        return None       # fewer than 3 repeats: no interval
    return a[0] <= b[1] and b[0] <= a[1]


def agreement(df: pd.DataFrame, devices: list[str]) -> list[dict]:
    """One record per (cell, other device) against devices[0]."""
    out = []
    if len(devices) < 2 or df.empty:
        return out
    for key, group in df.groupby(["artifact", "resolution", "delegate"], sort=False):
        rows = {r["device"]: r for _, r in group.iterrows()}
        ref = rows.get(devices[0])
        if ref is None:
            continue
        for name in devices[1:]:
            r = rows.get(name)
            if r is None:
                continue
            rec = {"artifact": key[0], "resolution": key[1], "delegate": key[2], "device": name,
                   "reference": devices[0]}
            for kind in ("inference", "e2e"):
                a = (r[f"fps_{kind}_ci_low"], r[f"fps_{kind}_ci_high"])
                b = (ref[f"fps_{kind}_ci_low"], ref[f"fps_{kind}_ci_high"])
                rec[f"{kind}_ratio"] = r[f"fps_{kind}"] / ref[f"fps_{kind}"]
                rec[f"{kind}_agree"] = _overlap(a, b)
            out.append(rec)
    return out


def format_agreement(records: list[dict]) -> str:
    def word(v):
        return "n/a (<3 repeats)" if v is None else ("agree" if v else "DIFFER")
    return "\n".join(
        f"{r['device']} vs {r['reference']}, {r['artifact']} {r['resolution']} {r['delegate']}: inference "
        f"{r['inference_ratio']:.3f}x ({word(r['inference_agree'])}), end to end {r['e2e_ratio']:.3f}x "
        f"({word(r['e2e_agree'])}) [95% intervals overlap = agree]" for r in records)
