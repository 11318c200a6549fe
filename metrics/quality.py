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


_WIN = 11


def ms_ssim(ref, got) -> float:
    """Mean MS-SSIM (pytorch-msssim: five scales, Gaussian window, data range 1) of two same-shaped image batches,
    NCHW floats in [0, 1] or NHWC uint8. The library needs the window to fit the fifth scale (a side over 16 x
    (window - 1)); frames of 160 pixels or less a side get the largest odd window that fits (at least 3)."""
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    def nchw(x):
        t = torch.as_tensor(np.asarray(x))
        if t.dtype == torch.uint8:
            t = t.float() / 255.0
        if t.ndim == 3:
            t = t[None]
        if t.shape[-1] == 3 and t.shape[1] != 3:
            t = t.permute(0, 3, 1, 2)
        return t.float().clamp(0, 1)
    a, b = nchw(ref), nchw(got)
    side = min(a.shape[-2:])
    win = min(_WIN, (side - 1) // 16 + 1)
    win -= 1 - win % 2
    if win < 3:
        raise ValueError(f"MS-SSIM needs frames over 32 pixels a side, got {side}")
    return float(_ms_ssim(a, b, data_range=1.0, size_average=True, win_size=win))
