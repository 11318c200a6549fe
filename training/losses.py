"""Losses of 000 eq. 1/2 (Johnson's perceptual losses + ReCoNet's temporal losses), distillation and noise stability.

Conventions: images are NCHW float in [0, 1]; a flow is N x 2 x H x W in pixels (x then y) and is *backward*:
pixel p of frame t came from p + flow(p) in frame t-1. A mask is N x 1 x H x W, 1 where the flow is trusted.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from vst.video.flow import warp


GRAM_NORMS = ("chw", "hw")
STYLE_REDUCTIONS = ("mean", "sum")
TV_FORMS = ("sq_mean", "iso_sum", "abs_sum")
TEMPORAL_OUTPUT_FORMS = ("plain", "luminance")
# Rec. 709 luma weights, as ReCoNet's luminance warping constraint uses them
LUMA = (0.2126, 0.7152, 0.0722)


def gram(features: torch.Tensor, norm: str = "chw") -> torch.Tensor:
    """N x C x C Gram matrices normalised by C*H*W (Johnson et al., whom 000's stage 1 follows) or by H*W
    (001 eq. 4)."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / ((c * h * w) if norm == "chw" else (h * w))


def content_loss(out_feat: torch.Tensor, in_feat: torch.Tensor) -> torch.Tensor:
    """Mean squared feature difference (001 eq. 3)."""
    return F.mse_loss(out_feat, in_feat)


def style_loss(out_feats: dict[str, torch.Tensor], style_grams: dict[str, torch.Tensor], gram_norm: str = "chw",
               reduce: str = "mean", layer_mean: bool = False) -> torch.Tensor:
    """Style Grams are 1 x C x C. Per layer: the mean squared Gram difference, 1/C^2 ||G - G_s||_F^2 (001 eq. 5;
    reduce="mean") or the squared Frobenius norm itself (Johnson's paper, pytorch-reconet; reduce="sum"),
    averaged over the batch. Summed over layers, or averaged over them (003: layer_mean)."""
    total = out_feats[next(iter(out_feats))].new_zeros(())
    for name, target in style_grams.items():
        g = gram(out_feats[name], gram_norm)
        sq = (g - target.expand_as(g)).pow(2)
        total = total + (sq.mean() if reduce == "mean" else sq.sum() / len(g))
    return total / len(style_grams) if layer_mean else total


def tv_loss(img: torch.Tensor, form: str = "sq_mean") -> torch.Tensor:
    """Total variation, averaged over the batch, in one of three forms:
    sq_mean: mean squared horizontal plus mean squared vertical neighbour difference (vst's default);
    iso_sum: 001 eq. 6, sum over pixels of sqrt(|x_{i,j+1} - x_{i,j}|^2 + |x_{i+1,j} - x_{i,j}|^2), the norms
             over the colour channels;
    abs_sum: sum of absolute neighbour differences (pytorch-reconet, which 000 followed)."""
    dx = img[..., :, 1:] - img[..., :, :-1]
    dy = img[..., 1:, :] - img[..., :-1, :]
    if form == "sq_mean":
        return dx.pow(2).mean() + dy.pow(2).mean()
    n = len(img)
    if form == "abs_sum":
        return (dx.abs().sum() + dy.abs().sum()) / n
    # eq. 6 pairs both differences at the same pixel: use the (H-1) x (W-1) pixels that have both;
    # the small epsilon keeps the gradient of sqrt finite on flat regions
    sq = dx[..., :-1, :].pow(2).sum(1) + dy[..., :, :-1].pow(2).sum(1)
    return torch.sqrt(sq + 1e-8).sum() / n


def distill_loss(out: torch.Tensor, teacher_out: torch.Tensor) -> torch.Tensor:
    """Mean squared difference to the teacher's output."""
    return F.mse_loss(out, teacher_out)


def masked_temporal(cur: torch.Tensor, prev: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """001 eq. 7: (1/D) sum_k c_k (cur_k - warp(prev)_k)^2, D = C*H*W (averaged over the batch)."""
    diff = (cur - warp(prev, flow)).pow(2) * mask
    return diff.mean()


def luminance(img: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W relative luminance Y = 0.2126 R + 0.7152 G + 0.0722 B of N x 3 x H x W RGB."""
    w = img.new_tensor(LUMA).view(1, 3, 1, 1)
    return (img * w).sum(1, keepdim=True)


def luminance_temporal(cur: torch.Tensor, prev: torch.Tensor, cur_in: torch.Tensor, prev_in: torch.Tensor,
                       flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ReCoNet's output temporal loss with the luminance warping constraint:
    (1/(H W)) sum_k c_k ||(O_t - W(O_{t-1}))_k - (Y(I_t) - Y(W(I_{t-1})))_k||^2, the norm over the colour channels,
    averaged over the batch. A change of the input's luminance along the flow (a light turning on) is allowed
    to appear in the output; 001 eq. 7 (masked_temporal) would penalise it."""
    lum = luminance(cur_in - warp(prev_in, flow))
    diff = ((cur - warp(prev, flow)) - lum).pow(2) * mask
    return diff.sum(1).mean()


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
