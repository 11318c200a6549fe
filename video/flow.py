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

from vst.common.errors import VstError
from vst.common.fsutil import atomic_path


def sample_flow(flow: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Bilinearly sample `flow` (HxWx2) at positions `at` (HxWx2, pixels), borders clamped."""
    return cv2.remap(flow, at[..., 0].astype(np.float32), at[..., 1].astype(np.float32),
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def compose_backward(later: np.ndarray, later_mask: np.ndarray, earlier: np.ndarray,
                     earlier_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chain two backward flows: `later` maps frame b to a (pixel p of b came from p + later(p) in a), `earlier`
    maps a to s. Returns the flow b -> s and its mask: trusted where p is trusted in b and its source p + later(p)
    is trusted in a (nearest pixel) and lies inside the frame."""
    h, w = later.shape[:2]
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), axis=-1)
    src = grid + later
    flow = later + sample_flow(earlier, src)
    src_ok = cv2.remap(earlier_mask.astype(np.uint8), src[..., 0].astype(np.float32), src[..., 1].astype(np.float32),
                       interpolation=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
    return flow.astype(np.float32), later_mask & src_ok


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


FLOW_BACKENDS = ("farneback", "dis", "deepflow")


def has_deepflow() -> bool:
    """DeepFlow lives in OpenCV's contrib build (opencv-contrib-python: cv2.optflow)."""
    return hasattr(cv2, "optflow") and hasattr(cv2.optflow, "createOptFlow_DeepFlow")


def estimate_flow(a: np.ndarray, b: np.ndarray, backend: str = "farneback") -> np.ndarray:
    """Flow f with b(p) ~ a(p + f(p)) for RGB uint8 frames a, b, by OpenCV's Farneback, DIS (medium preset)
    or DeepFlow (contrib build only)."""
    if backend == "farneback":
        return farneback(a, b)
    ga = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
    gb = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
    if backend == "dis":
        algo = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    elif backend == "deepflow":
        if not has_deepflow():
            raise VstError("the deepflow backend needs OpenCV's contrib build (pip install opencv-contrib-python "
                           "instead of opencv-python); use --flow farneback or dis")
        algo = cv2.optflow.createOptFlow_DeepFlow()
    else:
        raise VstError(f"unknown flow backend {backend!r}; choose one of {', '.join(FLOW_BACKENDS)}")
    return algo.calc(gb, ga, None)


def endpoint_error(flow: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean Euclidean distance between two HxWx2 flows (over mask's True pixels when given)."""
    err = np.sqrt(((flow - truth) ** 2).sum(-1))
    return float(err[mask].mean() if mask is not None else err.mean())


FLO_MAGIC = 202021.25


def read_flo(path: str | Path) -> np.ndarray:
    """A Middlebury .flo file (MPI Sintel's flow format) as HxWx2 float32."""
    raw = Path(path).read_bytes()
    if len(raw) < 12 or np.frombuffer(raw[:4], "<f4")[0] != FLO_MAGIC:
        raise VstError(f"{path} is not a Middlebury .flo file (bad magic number)")
    w, h = (int(v) for v in np.frombuffer(raw[4:12], "<i4"))
    if w <= 0 or h <= 0 or len(raw) != 12 + 8 * w * h:
        raise VstError(f"{path}: a {w}x{h} .flo file must hold {12 + 8 * max(w, 0) * max(h, 0)} bytes, "
                       f"it holds {len(raw)}")
    return np.frombuffer(raw[12:], "<f4").reshape(h, w, 2).copy()


def write_flo(path: str | Path, flow: np.ndarray) -> None:
    h, w = flow.shape[:2]
    with atomic_path(Path(path), suffix=".flo") as tmp:
        Path(tmp).write_bytes(np.float32(FLO_MAGIC).tobytes() + np.array([w, h], "<i4").tobytes()
                              + flow.astype("<f4").tobytes())


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
