"""What a model takes and gives, read from the artifact itself, and the conversions between an RGB frame and it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vst.common.errors import VstError


@dataclass(frozen=True)
class TensorSpec:
    name: str
    layout: str                     # NCHW or NHWC
    size: tuple[int, int] | None    # (W, H) when the artifact fixes it, None when height and width are free
    dtype: str                      # float32, float16, uint8, int8
    quant: tuple[float, int] = (0.0, 0)   # (scale, zero point) of a quantized tensor, (0, 0) otherwise

    def with_quant(self, scale: float, zero: int) -> "TensorSpec":
        return TensorSpec(self.name, self.layout, self.size, self.dtype, (float(scale), int(zero)))


def image_spec(name: str, shape, dtype: str, what: str) -> TensorSpec:
    """Layout and size of a 4-D image tensor from its shape (dims <= 0 or None are free)."""
    dims = [d if isinstance(d, int) and d > 0 else None for d in shape]
    if len(dims) != 4:
        raise VstError(f"{what}: input has shape {list(shape)}; a stylizer takes one 4-D image batch")
    if dims[1] == 3:
        layout, h, w = "NCHW", dims[2], dims[3]
    elif dims[3] == 3:
        layout, h, w = "NHWC", dims[1], dims[2]
    else:
        raise VstError(f"{what}: input shape {list(shape)} has no 3-channel axis at 1 (NCHW) or 3 (NHWC)")
    return TensorSpec(name, layout, (w, h) if w and h else None, dtype)


def prepare(spec: TensorSpec, rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 HxWx3 (already at the model's size) -> the model's input: batch of 1, its layout and dtype,
    quantized from [0, 1] floats the way the converter calibrated it."""
    if spec.dtype in ("uint8", "int8") and spec.quant[0] > 0:
        scale, zero = spec.quant
        x = np.clip(np.round(rgb.astype(np.float32) / 255.0 / scale + zero),
                    *((0, 255) if spec.dtype == "uint8" else (-128, 127))).astype(spec.dtype)
    elif spec.dtype == "uint8":
        x = rgb
    else:
        x = (rgb.astype(np.float32) * (1.0 / 255.0)).astype(spec.dtype, copy=False)
    x = x[None]
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if spec.layout == "NCHW" else x)


def to_float(y: np.ndarray, quant: tuple[float, int] = (0.0, 0)) -> np.ndarray:
    """A model output as float32 (dequantized when it is an integer tensor with a scale)."""
    y = np.asarray(y)
    if y.dtype.kind in "iu" and quant[0] > 0:
        return (y.astype(np.float32) - quant[1]) * quant[0]
    return y.astype(np.float32, copy=False)


def to_rgb(y: np.ndarray, quant: tuple[float, int] = (0.0, 0)) -> np.ndarray:
    """One output image (batch of 1, either layout, [0, 1] floats or quantized) -> RGB uint8 HxWx3."""
    out = to_float(y, quant)[0]
    if out.ndim != 3 or 3 not in (out.shape[0], out.shape[-1]):
        raise VstError(f"the model's output has shape {list(np.shape(y))}, not an RGB image; give an "
                       "image-to-image model")
    if out.shape[0] == 3 and out.shape[-1] != 3:
        out = out.transpose(1, 2, 0)
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
