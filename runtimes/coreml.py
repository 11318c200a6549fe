"""Core ML: predicts only on macOS (coremltools has no Core ML runtime elsewhere)."""
from __future__ import annotations

import platform

import numpy as np


def can_predict() -> bool:
    return platform.system() == "Darwin"


def predict(model, batch_nchw: np.ndarray, io_layout: str) -> np.ndarray:
    """macOS only: run an MLModel on each image of an NCHW [0, 1] batch."""
    from PIL import Image
    outs = []
    for img in batch_nchw:
        if io_layout == "nhwc":
            pil = Image.fromarray((np.clip(img.transpose(1, 2, 0), 0, 1) * 255).round().astype(np.uint8))
            res = model.predict({"image": pil})["stylized"]
            if not hasattr(res, "convert"):       # a multi-array output (not an RGB image)
                outs.append(np.asarray(res, dtype=np.float32)[0])
                continue
            outs.append(np.asarray(res.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0)
        else:
            outs.append(np.asarray(model.predict({"image": img[None]})["stylized"])[0])
    return np.stack(outs)
