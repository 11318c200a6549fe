"""Temporal error of 001 eq. 8 and image fidelity figures for stylized video.

E_temporal = sqrt( 1/((T-1) D) * sum_t sum_k c_k (y^{t+1}_k - warp(y^t)_k)^2 ), D = C*H*W, where warp moves the
stylized frame t onto frame t+1 along the backward flow of t+1 and c is the occlusion/motion-boundary mask.
(001 writes the warp from t+1 onto t; either direction measures the same flicker, we warp along the flow the
clips provide.)
"""
from __future__ import annotations

import numpy as np
import torch

from vst.metrics import quality
from vst.video.flow import warp


def _nchw(frames) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(frames)) if not isinstance(frames, torch.Tensor) else frames
    if t.dtype == torch.uint8:
        t = t.float() / 255.0
    if t.shape[-1] == 3 and t.shape[1] != 3:
        t = t.permute(0, 3, 1, 2)
    return t.float()


def temporal_error(outputs, flows_bwd, masks) -> float:
    """001 eq. 8 for one sequence. outputs: T frames (T x 3 x H x W float [0, 1], or T x H x W x 3 uint8);
    flows_bwd: (T-1) x H x W x 2 (pixel p of frame t+1 came from p + flow in frame t); masks: (T-1) x H x W."""
    y = _nchw(outputs)
    flow = torch.as_tensor(np.asarray(flows_bwd, dtype=np.float32)).permute(0, 3, 1, 2)
    c = torch.as_tensor(np.asarray(masks, dtype=np.float32))[:, None]
    if len(y) < 2 or len(flow) != len(y) - 1 or len(c) != len(y) - 1:
        raise ValueError(f"need T >= 2 frames with T-1 flows and masks, got {len(y)}, {len(flow)}, {len(c)}")
    sq = (y[1:] - warp(y[:-1], flow)).pow(2) * c
    return float(torch.sqrt(sq.sum() / sq.numel()))


def psnr(a, b) -> float:
    """PSNR in dB of two [0, 1] image batches in either layout (uint8 frames are scaled to [0, 1])."""
    return quality.psnr(_nchw(a).numpy(), _nchw(b).numpy())


def detail_energy(images) -> float:
    """Mean absolute neighbour difference: falls when a model smooths its output (000 fig. 5's weakened style)."""
    y = _nchw(images).clamp(0, 1)
    dx = (y[..., :, 1:] - y[..., :, :-1]).abs().mean()
    dy = (y[..., 1:, :] - y[..., :-1, :]).abs().mean()
    return float((dx + dy) / 2)
