"""One frame through a model: the callable the video commands are built around.

A key-frame stylizer is any callable RGB uint8 HxWx3 -> RGB uint8 HxWx3 of the same size, with `.size`, the (W, H)
of the frames it takes and gives. `LocalStylizer` runs a model here through vst.runtimes; a remote one (an edge
server, 002 section 3) plugs into the same place.
"""
from __future__ import annotations

import numpy as np

from vst.common.cli import check_pixels
from vst.common.errors import InternalError, VstError
from vst.common.images import resize_cover, to_tensor_batch
from vst.runtimes.spec import to_rgb
from vst.runtimes.stylizer import load_runner


class LocalStylizer:
    """A model on this machine (any name load_runner takes) at one frame size."""

    def __init__(self, model: str | None, size: tuple[int, int] | None = None,
                 source_size: tuple[int, int] | None = None, style: str | None = None, predict: str | None = None,
                 accelerator: str = "cpu"):
        self.runner = load_runner(model, style, predict, accelerator)
        # what the resume manifest keys the model by: a digest of its file(s) (and style image), never a path
        self.identity = self.runner.identity or None
        self.name = model or self.runner.name
        fixed = self.runner.size
        if fixed is not None:
            if size is not None and tuple(size) != tuple(fixed):
                raise VstError(f"{model} takes {fixed[0]}x{fixed[1]} frames only; drop --size or convert the "
                               f"model at {size[0]}x{size[1]}")
            self.size = tuple(fixed)
        else:
            self.size = free_size(size, source_size)
        self._checked = False

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        y = self.runner(to_tensor_batch([rgb]))
        if not self._checked:
            if y.ndim != 4 or y.shape[1] != 3 or tuple(y.shape[-2:]) != rgb.shape[:2]:
                raise VstError(f"{self.name} gives an output of shape {list(y.shape)} for a "
                               f"{rgb.shape[1]}x{rgb.shape[0]} frame, not an RGB image of that size; give an "
                               "image-to-image stylizer")
            self._checked = True
        y = y.detach().float().numpy()
        if not np.isfinite(y).all():
            raise NonFiniteOutput(self.name)     # clipping would turn it into black or white frames
        return to_rgb(y)


class NonFiniteOutput(VstError):
    """A model gave NaN or infinite values; `where` names the frame (the caller knows its index)."""

    def __init__(self, model: str, where: str = "a frame"):
        self.model = model
        super().__init__(f"{model} gives NaN or infinite values for {where}; no video is written: the model's "
                         "weights are broken (retrain, or re-export it from a good checkpoint)")


def free_size(size: tuple[int, int] | None, source_size: tuple[int, int] | None) -> tuple[int, int]:
    """The frame size for a model that takes any size: the one asked for, else the video's own, down to the
    multiple of 4 the two stride-2 layers need."""
    if size is not None:
        out = (int(size[0]), int(size[1]))
    elif source_size is not None:
        out = (source_size[0] // 4 * 4, source_size[1] // 4 * 4)
    else:
        raise InternalError("a free-size stylizer needs a size, or the source's size")
    if min(out) < 16:
        raise VstError(f"frame size {out[0]}x{out[1]} is too small; give at least 16x16")
    check_pixels(*out)
    return out


class RemoteStylizer:
    """Frames stylized by an edge server (`vst-edge serve`, 002 section 3), at a size chosen as for a free-size
    local model; `exchanges` keeps every round trip for the run's figures."""

    def __init__(self, url: str, size: tuple[int, int] | None = None, source_size: tuple[int, int] | None = None,
                 delay: float = 0.0):
        from vst.runtimes.remote import edge_keyframe_stylizer
        self.edge = edge_keyframe_stylizer(url, delay=delay)
        self.name = self.identity = f"edge:{self.edge.url}"
        self.size = free_size(size, source_size)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.edge(rgb)

    def summary(self, skip: int = 1) -> dict:
        """Round trip and payload per frame (the first exchange, the blank check frame, left out)."""
        ex = self.edge.history[skip:]
        if not ex:
            return {"frames_sent": 0}
        rtt = np.array([e.seconds for e in ex])
        return {"frames_sent": len(ex), "round_trip_ms_median": round(float(np.median(rtt)) * 1e3, 2),
                "round_trip_ms_p90": round(float(np.percentile(rtt, 90)) * 1e3, 2),
                "bytes_up_mean": int(np.mean([e.bytes_up for e in ex])),
                "bytes_down_mean": int(np.mean([e.bytes_down for e in ex]))}


def fit(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A video frame at the model's size keeping its aspect: scaled to cover WxH and centre-cropped (no bars, no
    stretching; the edges of a frame of another aspect are cut)."""
    if rgb.shape[1] == size[0] and rgb.shape[0] == size[1]:
        return rgb
    return resize_cover(rgb, *size)


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.concatenate([left, right], axis=1)

