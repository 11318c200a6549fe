"""Figures and images embedded into the report as data URIs, so the HTML opens offline as one file."""
from __future__ import annotations

import base64
import io

import numpy as np

from vst.common.images import encode_png


def png_data_uri(rgb: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(encode_png(rgb)).decode("ascii")


def figure_data_uri(fig) -> str:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def gif_data_uri(frames: list[np.ndarray], fps: float = 8.0) -> str:
    """RGB frames as a looping animated GIF data URI."""
    from PIL import Image
    buf = io.BytesIO()
    imgs = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    imgs[0].save(buf, format="GIF", save_all=True, append_images=imgs[1:], duration=int(1000 / fps), loop=0)
    return "data:image/gif;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
