"""Synthetic video clips over real photos, with exact optical flow and occlusion masks.

A virtual camera pans and zooms over a photograph while a disc cut from another photograph slides across the
screen. Every pixel's motion is known in closed form, so the clips serve as ground truth for temporal losses
(training), temporal-error metrics and as benchmark footage (pan and zoom over package-shipped photos).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Clip:
    frames: np.ndarray    # T x H x W x 3 uint8 RGB
    flow_bwd: np.ndarray  # (T-1) x H x W x 2 float32: pixel p of frame t+1 came from p + flow_bwd in frame t
    flow_fwd: np.ndarray  # (T-1) x H x W x 2 float32: pixel p of frame t goes to p + flow_fwd in frame t+1
    valid: np.ndarray     # (T-1) x H x W bool: pixel of frame t+1 is visible in frame t (not disoccluded/new)


@dataclass(frozen=True)
class Motion:
    zoom: tuple[float, float] = (1.0, 1.25)       # camera zoom at first and last frame
    pan: tuple[float, float] = (0.15, 0.05)       # camera travel over the clip, as a fraction of the photo
    layer_speed: tuple[float, float] = (3.0, 1.0)  # disc velocity in pixels per frame (screen space)
    layer_radius: float = 0.18                    # disc radius as a fraction of the frame height; 0 = no layer


def _camera(photo_hw, size, t, n, motion: Motion):
    """Zoom s and offset o such that frame pixel p shows photo point o + p / s."""
    ph, pw = photo_hw
    w, h = size
    f = t / max(1, n - 1)
    cover = max(w / pw, h / ph)  # the zoom at which the frame just covers the photo
    s = cover * (motion.zoom[0] + (motion.zoom[1] - motion.zoom[0]) * f)
    view_w, view_h = w / s, h / s
    cx = (pw - view_w) * (0.5 - motion.pan[0] / 2 + motion.pan[0] * f)
    cy = (ph - view_h) * (0.5 - motion.pan[1] / 2 + motion.pan[1] * f)
    return s, np.array([np.clip(cx, 0, pw - view_w), np.clip(cy, 0, ph - view_h)])


def _layer_mask(size, center, radius):
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return (xx - center[0]) ** 2 + (yy - center[1]) ** 2 <= radius ** 2


def render_clip(background: np.ndarray, size: tuple[int, int], n_frames: int, motion: Motion = Motion(),
                layer: np.ndarray | None = None) -> Clip:
    """Render `n_frames` of WxH video over `background` (RGB uint8), with ground-truth flows and masks."""
    w, h = size
    # pre-shrink the photo to the first frame's scale: warping a much larger image aliases, and the warped
    # frames would then disagree with the exact flow more than resampling alone explains
    shrink = max(w / background.shape[1], h / background.shape[0]) * motion.zoom[0]
    if shrink < 1:
        background = cv2.resize(background, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), axis=-1)
    radius = motion.layer_radius * h
    use_layer = layer is not None and radius > 0
    if use_layer:
        layer = cv2.resize(layer, (int(2 * radius) + 2, int(2 * radius) + 2), interpolation=cv2.INTER_AREA)
    vel = np.array(motion.layer_speed, dtype=np.float32)
    start = np.array([w * 0.3, h * 0.5], dtype=np.float32)

    frames, cams, masks = [], [], []
    for t in range(n_frames):
        s, o = _camera(background.shape[:2], size, t, n_frames, motion)
        m = np.array([[1 / s, 0, o[0]], [0, 1 / s, o[1]]], dtype=np.float64)
        frame = cv2.warpAffine(background, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT)
        mask = np.zeros((h, w), bool)
        if use_layer:
            c = start + vel * t
            shift = np.array([[1, 0, c[0] - layer.shape[1] / 2], [0, 1, c[1] - layer.shape[0] / 2]])
            moved = cv2.warpAffine(layer, shift, (w, h), flags=cv2.INTER_LINEAR)
            mask = _layer_mask(size, c, radius)
            frame[mask] = moved[mask]
        frames.append(frame)
        cams.append((s, o))
        masks.append(mask)

    flow_bwd, flow_fwd, valid = [], [], []
    for t in range(n_frames - 1):
        (s0, o0), (s1, o1) = cams[t], cams[t + 1]
        # background: photo point q = o + p/s is seen at (q - o') * s' in the other frame
        bwd = (o1 + grid / s1 - o0) * s0 - grid
        fwd = (o0 + grid / s0 - o1) * s1 - grid
        m0, m1 = masks[t], masks[t + 1]
        bwd[m1] = -vel
        fwd[m0] = vel
        src = grid + bwd
        inside = (src[..., 0] >= 0) & (src[..., 0] <= w - 1) & (src[..., 1] >= 0) & (src[..., 1] <= h - 1)
        # a background pixel of t+1 whose source lay under the disc in t was hidden then: disoccluded
        sx = np.clip(np.rint(src[..., 0]), 0, w - 1).astype(int)
        sy = np.clip(np.rint(src[..., 1]), 0, h - 1).astype(int)
        disoccluded = ~m1 & m0[sy, sx]
        flow_bwd.append(bwd.astype(np.float32))
        flow_fwd.append(fwd.astype(np.float32))
        valid.append(inside & ~disoccluded)
    return Clip(np.stack(frames), np.stack(flow_bwd), np.stack(flow_fwd), np.stack(valid))
