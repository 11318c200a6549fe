"""Image fidelity: the one PSNR every part of vst reports (conversion checks, sample frames, training figures)."""
from __future__ import annotations

import math

import numpy as np


def psnr(ref, got, peak: float = 1.0) -> float:
    """PSNR in dB of two same-shaped images or batches with values in [0, peak], both clipped to [0, peak] first
    (as they would be displayed); inf when identical."""
    a = np.clip(np.asarray(ref, dtype=np.float64), 0, peak)
    b = np.clip(np.asarray(got, dtype=np.float64), 0, peak)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(peak * peak / mse)
