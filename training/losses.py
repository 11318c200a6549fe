"""Losses of 000 eq. 1/2 (Johnson's perceptual losses + ReCoNet's temporal losses), distillation and noise stability.

Conventions: images are NCHW float in [0, 1]; a flow is N x 2 x H x W in pixels (x then y) and is *backward*:
pixel p of frame t came from p + flow(p) in frame t-1. A mask is N x 1 x H x W, 1 where the flow is trusted.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from vst.video.flow import warp


def gram(features: torch.Tensor) -> torch.Tensor:
    """N x C x C Gram matrices normalised by C*H*W (Johnson et al., whom 000's stage 1 follows)."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def content_loss(out_feat: torch.Tensor, in_feat: torch.Tensor) -> torch.Tensor:
    """Mean squared feature difference (001 eq. 3)."""
    return F.mse_loss(out_feat, in_feat)


def style_loss(out_feats: dict[str, torch.Tensor], style_grams: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the mean squared Gram difference (001 eq. 5); style Grams are 1 x C x C."""
    total = out_feats[next(iter(out_feats))].new_zeros(())
    for name, target in style_grams.items():
        g = gram(out_feats[name])
        total = total + F.mse_loss(g, target.expand_as(g))
    return total


def tv_loss(img: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared horizontal plus mean squared vertical neighbour difference."""
    dx = img[..., :, 1:] - img[..., :, :-1]
    dy = img[..., 1:, :] - img[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def distill_loss(out: torch.Tensor, teacher_out: torch.Tensor) -> torch.Tensor:
    """Mean squared difference to the teacher's output."""
    return F.mse_loss(out, teacher_out)


def masked_temporal(cur: torch.Tensor, prev: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """001 eq. 7: (1/D) sum_k c_k (cur_k - warp(prev)_k)^2, D = C*H*W (averaged over the batch)."""
    diff = (cur - warp(prev, flow)).pow(2) * mask
    return diff.mean()


def downsample_flow(flow: torch.Tensor, mask: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow and mask at feature resolution: flow averaged and scaled, a cell trusted only if all its pixels are."""
    h, w = flow.shape[-2:]
    fh, fw = size
    small = F.adaptive_avg_pool2d(flow, size)
    small = torch.stack((small[:, 0] * fw / w, small[:, 1] * fh / h), dim=1)
    small_mask = (F.adaptive_avg_pool2d(mask, size) > 0.999).to(mask.dtype)
    return small, small_mask


def feature_temporal(cur_feat: torch.Tensor, prev_feat: torch.Tensor, flow: torch.Tensor,
                     mask: torch.Tensor) -> torch.Tensor:
    """ReCoNet's feature temporal loss: encoder features of t against warped features of t-1."""
    small_flow, small_mask = downsample_flow(flow, mask, tuple(cur_feat.shape[-2:]))
    return masked_temporal(cur_feat, prev_feat, small_flow, small_mask)


def add_pixel_noise(x: torch.Tensor, fraction: float, amplitude: float,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Rainy & de Berker (003): uniform noise in [-amplitude, amplitude] on a random `fraction` of pixels."""
    n, c, h, w = x.shape
    pick = (torch.rand((n, 1, h, w), generator=generator) < fraction).to(x.dtype)
    noise = (torch.rand(x.shape, generator=generator) * 2 - 1) * amplitude
    return (x + pick * noise).clamp(0, 1)


def noise_stability_loss(out: torch.Tensor, out_noisy: torch.Tensor) -> torch.Tensor:
    """003: mean squared difference between the stylized image and the stylized noisy copy."""
    return F.mse_loss(out, out_noisy)
