"""Key frames and optical-flow interpolation after 002 (MVStylizer, Alg. 1 and eq. 1).

Only key frames go through the model; an intermediate frame i_s between key frames k_p and k_{p+1} is the
stylized key frame warped by the flow f from i_s to k_p: i_s(x) ~ k_p(x + f(x)), so î_s = bilinear(k̂_p, x + f(x)).
Key frames are every K-th frame, the codec's coded key frames (I/IDR, read through PyAV), or frames whose content
moved away from the last key frame (mean absolute grey difference over a threshold, 002's content-based option).

Flow: OpenCV DIS (medium preset) by default. docs/stylize.md has the measurement behind the choice (DIS against
Farneback on clips with exact flow: end-point error and time per frame, scripts/bench_video.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from vst.common.errors import VstError

FLOWS = ("dis", "farneback")


@dataclass(frozen=True)
class KeySchedule:
    mode: str              # "every", "iframes" or "change"
    value: float = 0.0     # K for every:K, the threshold (grey levels, 0-255) for change:T

    @staticmethod
    def parse(text: str) -> "KeySchedule":
        kind, _, arg = text.partition(":")
        try:
            if kind == "every":
                k = int(arg)
                if k < 1:
                    raise ValueError
                return KeySchedule("every", k)
            if kind == "iframes" and not arg:
                return KeySchedule("iframes")
            if kind == "change":
                t = float(arg)
                if not 0 < t < 255:
                    raise ValueError
                return KeySchedule("change", t)
        except ValueError:
            pass
        raise VstError(f"--keyframes {text!r}: give every:K (K >= 1), iframes, or change:T (mean grey-level "
                       "change 0 < T < 255, e.g. change:12)")

    def is_key(self, index: int, coded_key: bool, grey: np.ndarray, last_key_grey: np.ndarray | None,
               since_key: int) -> bool:
        if last_key_grey is None:
            return True
        if self.mode == "every":
            return since_key >= self.value
        if self.mode == "iframes":
            return coded_key
        return float(cv2.absdiff(grey, last_key_grey).mean()) > self.value


def grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


class Flow:
    """Dense flow f from frame a to key frame b, with a(x) ~ b(x + f(x)), on grey uint8 frames."""

    def __init__(self, method: str = "dis"):
        if method not in FLOWS:
            raise VstError(f"--flow {method!r}: use one of {', '.join(FLOWS)}")
        self.method = method
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) if method == "dis" else None

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self._dis is not None:
            return self._dis.calc(a, b, None)
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)


def warp_frame(stylized_key: np.ndarray, flow: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
    """002 eq. 1: bilinear sample of the stylized key frame at x + f(x), borders replicated."""
    h, w = flow.shape[:2]
    if grid is None:
        grid = pixel_grid(w, h)
    m = grid + flow
    return cv2.remap(stylized_key, m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def pixel_grid(w: int, h: int) -> np.ndarray:
    return np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), axis=-1)


@dataclass
class Timings:
    """Seconds spent, as 002 Table 2 splits them: the model on key frames, and per intermediate frame the flow
    and the warp (002 counts the warp alone: its flow is pre-computed)."""
    stylize: list[float] = field(default_factory=list)
    flow: list[float] = field(default_factory=list)
    warp: list[float] = field(default_factory=list)

    def summary(self) -> dict:
        mean = lambda v: float(np.mean(v)) if v else None  # noqa: E731
        t_d, t_f, t_w = mean(self.stylize), mean(self.flow), mean(self.warp)
        n_key, n_mid = len(self.stylize), len(self.warp)
        out = {"key_frames": n_key, "interpolated_frames": n_mid, "stylize_s_per_frame": t_d,
               "interpolate_s_per_frame": (t_f + t_w) if n_mid else None,
               "warp_only_s_per_frame": t_w, "flow_s_per_frame": t_f}
        if n_key and n_mid:
            n = n_key + n_mid
            # 002 eq. 6: n t_d / (j t_d + m t_i) ~ n / j when t_i << t_d
            out["speedup_eq6_prediction"] = n / n_key
            out["speedup_measured"] = n * t_d / (n_key * t_d + n_mid * (t_f + t_w))
            out["speedup_measured_warp_only"] = n * t_d / (n_key * t_d + n_mid * t_w)
        return out


class KeyframeInterpolator:
    """Alg. 1 as a stream: feed frames in order; key frames go through `stylize` (local model, or any callable
    RGB -> RGB such as an edge-server client), the others are warped from the last stylized key frame."""

    def __init__(self, stylize, schedule: KeySchedule, flow: str = "dis"):
        self.stylize = stylize
        self.schedule = schedule
        self.flow = Flow(flow)
        self.timings = Timings()
        self.key_grey: np.ndarray | None = None
        self.key_out: np.ndarray | None = None
        self.since_key = 0
        self._grid = None

    def reset(self) -> None:
        """Forget the key frame: the next frame is a key frame (segments start with one, so each stands alone)."""
        self.key_grey = self.key_out = None

    def __call__(self, index: int, rgb: np.ndarray, coded_key: bool = False) -> tuple[np.ndarray, bool]:
        g = grey(rgb)
        if self.schedule.is_key(index, coded_key, g, self.key_grey, self.since_key):
            t0 = time.perf_counter()
            self.key_out = self.stylize(rgb)
            self.timings.stylize.append(time.perf_counter() - t0)
            self.key_grey, self.since_key = g, 1
            return self.key_out, True
        t0 = time.perf_counter()
        f = self.flow(g, self.key_grey)
        t1 = time.perf_counter()
        if self._grid is None or self._grid.shape[:2] != f.shape[:2]:
            self._grid = pixel_grid(f.shape[1], f.shape[0])
        out = warp_frame(self.key_out, f, self._grid)
        t2 = time.perf_counter()
        self.timings.flow.append(t1 - t0)
        self.timings.warp.append(t2 - t1)
        self.since_key += 1
        return out, False
