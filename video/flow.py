"""Optical flow for training and evaluation: Ruder et al.'s occlusion masks, OpenCV flow, an on-disk flow cache.

Flows are HxWx2 float32 numpy arrays in pixels. `flow_bwd` of a pair (t, t+1) maps frame t+1 to frame t
(pixel p of t+1 came from p + flow_bwd(p)); `flow_fwd` maps t to t+1. Masks are HxW bool, True = trusted.
Flows are computed once per pair and cached (004 section 5.2: recomputing them every epoch is slow and makes
the loss see a different flow each time).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vst.common.fsutil import atomic_path


def sample_flow(flow: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Bilinearly sample `flow` (HxWx2) at positions `at` (HxWx2, pixels), borders clamped."""
    return cv2.remap(flow, at[..., 0].astype(np.float32), at[..., 1].astype(np.float32),
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def consistency_mask(flow_bwd: np.ndarray, flow_fwd: np.ndarray) -> np.ndarray:
    """Ruder et al.'s disocclusion test for the pixels of frame t+1 (True = consistent).

    w~(p) = flow_fwd(p + flow_bwd(p)); occluded where |w~ + flow_bwd|^2 > 0.01 (|w~|^2 + |flow_bwd|^2) + 0.5.
    Pixels whose source lies outside frame t are untraceable as well.
    """
    h, w = flow_bwd.shape[:2]
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), axis=-1)
    src = grid + flow_bwd
    fwd_at = sample_flow(flow_fwd, src)
    err = ((fwd_at + flow_bwd) ** 2).sum(-1)
    bound = 0.01 * ((fwd_at ** 2).sum(-1) + (flow_bwd ** 2).sum(-1)) + 0.5
    inside = (src[..., 0] >= 0) & (src[..., 0] <= w - 1) & (src[..., 1] >= 0) & (src[..., 1] <= h - 1)
    return (err <= bound) & inside


def motion_boundary_mask(flow: np.ndarray) -> np.ndarray:
    """Ruder et al.: True where |grad u|^2 + |grad v|^2 > 0.01 |w|^2 + 0.002 (forward differences)."""
    gx = np.zeros_like(flow)
    gy = np.zeros_like(flow)
    gx[:, :-1] = flow[:, 1:] - flow[:, :-1]
    gy[:-1] = flow[1:] - flow[:-1]
    grad2 = (gx ** 2).sum(-1) + (gy ** 2).sum(-1)
    return grad2 > 0.01 * (flow ** 2).sum(-1) + 0.002


def occlusion_mask(flow_bwd: np.ndarray, flow_fwd: np.ndarray) -> np.ndarray:
    """Trusted pixels of frame t+1: forward-backward consistent and not on a motion boundary."""
    return consistency_mask(flow_bwd, flow_fwd) & ~motion_boundary_mask(flow_bwd)


@dataclass(frozen=True)
class FarnebackParams:
    pyr_scale: float = 0.5
    levels: int = 4
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2


def farneback(a: np.ndarray, b: np.ndarray, params: FarnebackParams = FarnebackParams()) -> np.ndarray:
    """Flow f with b(p) ~ a(p + f(p)) for RGB uint8 frames a, b."""
    ga = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
    gb = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
    # OpenCV's flow(prev=gb, next=ga) satisfies gb(p) ~ ga(p + flow(p))
    return cv2.calcOpticalFlowFarneback(gb, ga, None, params.pyr_scale, params.levels, params.winsize,
                                        params.iterations, params.poly_n, params.poly_sigma, 0)


def pair_flows(f0: np.ndarray, f1: np.ndarray, params: FarnebackParams = FarnebackParams()):
    """(flow_bwd, flow_fwd, mask) for consecutive RGB frames f0 -> f1, by OpenCV Farneback."""
    bwd = farneback(f0, f1, params)   # f1(p) ~ f0(p + bwd(p))
    fwd = farneback(f1, f0, params)   # f0(p) ~ f1(p + fwd(p))
    return bwd, fwd, occlusion_mask(bwd, fwd)


def file_digest(path: str | Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class FlowCache:
    """npz files keyed by (video content hash, frame index, frame size, flow parameters)."""

    def __init__(self, folder: str | Path, params: FarnebackParams = FarnebackParams()):
        self.folder = Path(folder)
        self.params = params
        self.hits = self.misses = 0

    def key(self, video_digest: str, index: int, size: tuple[int, int]) -> str:
        blob = json.dumps({"video": video_digest, "index": index, "size": list(size), "flow": "farneback",
                           "params": asdict(self.params), "mask": "ruder-v1"}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()

    def get(self, video_digest: str, index: int, f0: np.ndarray, f1: np.ndarray):
        path = self.folder / f"{self.key(video_digest, index, f0.shape[1::-1])}.npz"
        if path.is_file():
            try:
                with np.load(path) as z:
                    self.hits += 1
                    return z["bwd"], z["fwd"], z["mask"]
            except (OSError, ValueError, KeyError):
                pass  # a damaged entry is recomputed below
        self.misses += 1
        bwd, fwd, mask = pair_flows(f0, f1, self.params)
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, bwd=bwd, fwd=fwd, mask=mask)
        return bwd, fwd, mask


def warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: result(p) = img(p + flow(p)), bilinear, borders clamped."""
    n, _, h, w = img.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=img.dtype, device=img.device),
                            torch.arange(w, dtype=img.dtype, device=img.device), indexing="ij")
    x = xs + flow[:, 0]
    y = ys + flow[:, 1]
    grid = torch.stack((2 * x / max(w - 1, 1) - 1, 2 * y / max(h - 1, 1) - 1), dim=-1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)
