"""Exact rewrites of a PyTorch module, for targets that lower from the module itself (ExecuTorch): vst's IR rewrites
(vst.convert.passes) act on the graph imported from ONNX, which ExecuTorch never sees, so the same ideas are written
here as module swaps made before torch.export. Each is proven on the verification photos as the IR rewrites are
(>= passes.EXACT_PSNR_DB, passes.base.judge, against the unrewritten module) and kept only then.

Why (measured on kunster.a025-s05-stage2 at 320x240): ExecuTorch's default XNNPACK lowering leaves instance norm
(`_native_batch_norm_legit_no_stats` and the `repeat` of its affine weights), reflection padding (abs/sub/index/
arange) and nearest upsampling to portable kernels, splitting the network into 31 delegated subgraphs with 285 nodes
outside. Written as moments (mean, squared deviations, rsqrt), slices + concat and a depthwise transposed
convolution with a ones kernel, every node is one XNNPACK takes.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from vst.convert.passes import PassResult
from vst.convert.passes.base import judge
from vst.convert.verify import compare


class ReflectPadSlices(nn.Module):
    """ReflectionPad2d as one-row/column slices and a concat per axis (reflection is separable): row k of the
    top pad is row p - k of the input, mirrored around row 0, and likewise at each edge."""

    def __init__(self, left: int, right: int, top: int, bottom: int):
        super().__init__()
        self.pads = (left, right, top, bottom)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right, top, bottom = self.pads
        for axis, before, after in ((2, top, bottom), (3, left, right)):
            n = x.shape[axis]
            pieces = [x.narrow(axis, k, 1) for k in range(before, 0, -1)]
            pieces.append(x)
            pieces += [x.narrow(axis, k, 1) for k in range(n - 2, n - 2 - after, -1)]
            x = torch.cat(pieces, axis) if len(pieces) > 1 else x
        return x


class InstanceNormMoments(nn.Module):
    """Affine instance norm as moments: m = mean(x), d = x - m, v = mean(d * d), y = d * (gamma * rsqrt(v + eps))
    + beta, with means over H and W kept 4-D (XNNPACK's global average pooling)."""

    def __init__(self, norm: nn.InstanceNorm2d):
        super().__init__()
        c = norm.num_features
        self.eps = float(norm.eps)
        weight = norm.weight.detach() if norm.affine else torch.ones(c)
        bias = norm.bias.detach() if norm.affine else torch.zeros(c)
        self.register_buffer("weight", weight.reshape(1, c, 1, 1).clone())
        self.register_buffer("bias", bias.reshape(1, c, 1, 1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x - x.mean((2, 3), keepdim=True)
        v = (d * d).mean((2, 3), keepdim=True)
        return d * (self.weight * torch.rsqrt(v + self.eps)) + self.bias


class NearestUp2Deconv(nn.Module):
    """x2 nearest upsampling as a depthwise transposed convolution (kernel 2, stride 2) with a ones kernel: each
    input pixel is written to its 2x2 block times one, which is what nearest upsampling copies."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.register_buffer("kernel", torch.ones(channels, 1, 2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv_transpose2d(x, self.kernel, stride=2, groups=self.channels)


def _swap(module: nn.Module, match: Callable[[nn.Module], bool], make: Callable[[str, nn.Module], nn.Module]) -> int:
    """Replace every submodule `match` accepts with `make(qualified name, it)`; returns how many."""
    hits = [(name, m) for name, m in module.named_modules() if name and match(m)]
    for name, m in hits:
        parent_name, _, attr = name.rpartition(".")
        setattr(module.get_submodule(parent_name) if parent_name else module, attr, make(name, m))
    return len(hits)


def reflect_pad_as_slices(module: nn.Module, example: torch.Tensor) -> int:
    def make(_, m):
        left, right, top, bottom = m.padding
        return ReflectPadSlices(left, right, top, bottom)
    return _swap(module, lambda m: isinstance(m, nn.ReflectionPad2d), make)


def instance_norm_moments(module: nn.Module, example: torch.Tensor) -> int:
    # running statistics would make it a batch norm in eval mode: those are left as they are
    return _swap(module, lambda m: isinstance(m, nn.InstanceNorm2d) and not m.track_running_stats,
                 lambda _, m: InstanceNormMoments(m))


def _is_nearest2(m: nn.Module) -> bool:
    scale = m.scale_factor if isinstance(m, nn.Upsample) else None
    scales = scale if isinstance(scale, tuple) else (scale, scale)
    return (isinstance(m, nn.Upsample) and m.mode == "nearest" and m.size is None
            and all(s is not None and float(s) == 2.0 for s in scales))


def nearest_as_transposed_conv(module: nn.Module, example: torch.Tensor) -> int:
    # the kernel's channel count is the input's: read off one run of the module with a hook on each site
    sites = [m for _, m in module.named_modules() if _is_nearest2(m)]
    if not sites:
        return 0
    channels: dict[int, int] = {}
    def note(m, args):      # a pre-hook returning a value would replace the module's input
        channels[id(m)] = int(args[0].shape[1])
    hooks = [m.register_forward_pre_hook(note) for m in sites]
    try:
        with torch.no_grad():
            module(example)
    finally:
        for h in hooks:
            h.remove()
    return _swap(module, lambda m: _is_nearest2(m) and id(m) in channels,
                 lambda _, m: NearestUp2Deconv(channels[id(m)]))


# name -> rewrite, in the order they run
ORDER: dict[str, Callable[[nn.Module, torch.Tensor], int]] = {
    "reflect_pad_as_slices": reflect_pad_as_slices,
    "nearest_as_transposed_conv": nearest_as_transposed_conv,
    "instance_norm_moments": instance_norm_moments,
}


@dataclass
class Rewritten:
    module: nn.Module
    results: list[PassResult]
    applied: tuple[str, ...]

    def record(self) -> list[dict]:
        return [r.as_dict() for r in self.results]


def _run(module: nn.Module, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([module(torch.from_numpy(images[i:i + 1])).numpy() for i in range(len(images))])


def rewrite(module: nn.Module, images: np.ndarray) -> Rewritten:
    """A rewritten copy of `module` (the source is left as it is): each rewrite in ORDER applied to the module the
    ones before it left, proven on `images` (NCHW float, the verification photos at the asked size) against that
    module, and kept only at >= EXACT_PSNR_DB."""
    current = copy.deepcopy(module).eval()
    example = torch.from_numpy(images[:1])
    ref = _run(current, images)
    results, applied = [], ()
    for name, edit in ORDER.items():
        candidate = copy.deepcopy(current)
        count = edit(candidate, example)
        if count == 0:
            results.append(PassResult(name, False, "nothing to rewrite in this model"))
            continue
        got = _run(candidate, images)
        res = judge(name, count, compare(ref, got), len(images))
        results.append(res)
        if res.applied:
            current, ref, applied = candidate, got, applied + (name,)
    return Rewritten(current, results, applied)
