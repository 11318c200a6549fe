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


# Widest strip a clip is stored at: four 480x320 panels side by side are 1920 px, wider than a 1400 px window
# and than the page's column; shrunk once here, the file is smaller too.
MAX_CLIP_WIDTH = 1280


def fit_width(rgb: np.ndarray, max_width: int = MAX_CLIP_WIDTH) -> np.ndarray:
    """Scaled down (area) to at most max_width, both sides even (H.264's 4:2:0 chroma needs it)."""
    import cv2
    h, w = rgb.shape[:2]
    k = min(1.0, max_width / w)
    nw, nh = max(2, int(w * k) // 2 * 2), max(2, int(h * k) // 2 * 2)
    return rgb if (nw, nh) == (w, h) else cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)


def video_data_uri(frames: list[np.ndarray], fps: float = 8.0, crf: int = 23) -> str:
    """RGB frames as an H.264 MP4 data URI (for <video autoplay loop muted>): a tenth of the same loop as GIF,
    in full colour, and browsers play it without a plug-in."""
    import tempfile
    from pathlib import Path
    from vst.video.codec import H264Writer
    frames = [fit_width(f) for f in frames]
    h, w = frames[0].shape[:2]
    with tempfile.TemporaryDirectory(prefix="vst-clip-") as tmp:
        path = Path(tmp) / "clip.mp4"
        with H264Writer(path, (w, h), fps, crf=crf, preset="slow") as out:
            for f in frames:
                out.write(f)
        data = path.read_bytes()
    return "data:video/mp4;base64," + base64.b64encode(data).decode("ascii")
