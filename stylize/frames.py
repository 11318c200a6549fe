"""One frame through a model: the callable the video commands are built around.

A key-frame stylizer is any callable RGB uint8 HxWx3 -> RGB uint8 HxWx3 of the same size. `LocalStylizer` runs a
model here through vst.runtimes; a remote one (an edge server, 002 section 3) plugs into the same place.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
from vst.common.cli import check_pixels
from vst.common.errors import InternalError, VstError
from vst.common.images import resize_cover, to_tensor_batch
from vst.runtimes.stylizer import load_runner


class FrameStylizer(Protocol):
    size: tuple[int, int]            # (W, H) of the frames it takes and gives

    def __call__(self, rgb: np.ndarray) -> np.ndarray: ...


class LocalStylizer:
    """A model on this machine (any name load_runner takes) at one frame size."""

    def __init__(self, model: str, size: tuple[int, int] | None = None,
                 source_size: tuple[int, int] | None = None):
        self.runner = load_runner(model)
        self.name = model
        fixed = getattr(self.runner, "size", None) or getattr(self.runner, "fixed", None)
        if fixed is not None and getattr(self.runner, "size", None) is None:
            fixed = (fixed[1], fixed[0])       # OnnxRunner.fixed is (H, W)
        if fixed is not None:
            if size is not None and tuple(size) != tuple(fixed):
                raise VstError(f"{model} takes {fixed[0]}x{fixed[1]} frames only; drop --size or convert the "
                               f"model at {size[0]}x{size[1]}")
            self.size = tuple(fixed)
        elif size is not None:
            self.size = tuple(size)
        elif source_size is not None:
            # a free-size model keeps the video's size, down to the multiple of 4 the two stride-2 layers need
            self.size = (source_size[0] // 4 * 4, source_size[1] // 4 * 4)
        else:
            raise InternalError("LocalStylizer needs a size, or the source's size for a free-size model")
        if min(self.size) < 16:
            raise VstError(f"frame size {self.size[0]}x{self.size[1]} is too small; give at least 16x16")
        check_pixels(*self.size)
        self._checked = False

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        y = self.runner(to_tensor_batch([rgb]))
        if not self._checked:
            if y.ndim != 4 or y.shape[1] != 3 or tuple(y.shape[-2:]) != rgb.shape[:2]:
                raise VstError(f"{self.name} gives an output of shape {list(y.shape)} for a "
                               f"{rgb.shape[1]}x{rgb.shape[0]} frame, not an RGB image of that size; give an "
                               "image-to-image stylizer")
            self._checked = True
        return (y[0].detach().float().clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def fit(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A video frame at the model's size keeping its aspect: scaled to cover WxH and centre-cropped (no bars, no
    stretching; the edges of a frame of another aspect are cut)."""
    if rgb.shape[1] == size[0] and rgb.shape[0] == size[1]:
        return rgb
    return resize_cover(rgb, *size)


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.concatenate([left, right], axis=1)

