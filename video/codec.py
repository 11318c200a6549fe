"""The benchmark clip (000's protocol: 1920x1080, 21 s, H.264, 25 fps) made from real photos, and its decoding.

The clip is a camera panning and zooming over package-shipped photographs (vst.common.synthclips' camera), a few
seconds per photo, encoded once with libx264 and cached; users may pass their own file instead.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from vst.common.errors import VstError
from vst.common.fsutil import atomic_path
from vst.common.images import sample_photos
from vst.common.synthclips import Motion, _camera

PAPER_CLIP = {"size": (1920, 1080), "seconds": 21.0, "fps": 25}
SECONDS_PER_PHOTO = 3.0


def cache_dir() -> Path:
    return Path(os.environ.get("VST_CACHE", Path.home() / ".cache" / "vst"))


@dataclass(frozen=True)
class ClipInfo:
    path: Path
    width: int
    height: int
    fps: float
    frames: int
    codec: str


def _pan_zoom_frames(size: tuple[int, int], n_frames: int, fps: float) -> Iterator[np.ndarray]:
    """RGB frames: each photo gets SECONDS_PER_PHOTO of pan and zoom, alternating direction."""
    photos = list(sample_photos().values())
    per_photo = max(1, round(SECONDS_PER_PHOTO * fps))
    w, h = size
    for t in range(n_frames):
        i, k = divmod(t, per_photo)
        photo = photos[i % len(photos)]
        flip = i % 2
        motion = Motion(zoom=(1.0, 1.3) if not flip else (1.3, 1.0), pan=(0.3 if not flip else -0.3, 0.1))
        s, o = _camera(photo.shape[:2], size, k, per_photo, motion)
        m = np.array([[1 / s, 0, o[0]], [0, 1 / s, o[1]]], dtype=np.float64)
        yield cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT)


def make_clip(path: str | Path, size: tuple[int, int] = PAPER_CLIP["size"], seconds: float = PAPER_CLIP["seconds"],
              fps: int = PAPER_CLIP["fps"], preset: str = "veryfast") -> Path:
    """Encode an H.264 (yuv420p, MP4) pan-and-zoom clip; written atomically so a killed run leaves nothing."""
    path = Path(path)
    n_frames = max(1, round(seconds * fps))
    w, h = size
    if w % 2 or h % 2:
        raise VstError(f"H.264 with 4:2:0 chroma needs even sides, got {w}x{h}")
    with atomic_path(path, suffix=".tmp.mp4") as tmp:
        with av.open(str(tmp), "w") as out:
            stream = out.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"preset": preset, "crf": "20"}
            for rgb in _pan_zoom_frames(size, n_frames, fps):
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    return path


def paper_clip(directory: Path | None = None) -> Path:
    """The 1920x1080 21 s 25 fps H.264 clip, made on first use and cached (about a minute on 2 cores)."""
    w, h = PAPER_CLIP["size"]
    path = (directory or cache_dir()) / f"bench_clip_{w}x{h}_{PAPER_CLIP['fps']}fps_{int(PAPER_CLIP['seconds'])}s.mp4"
    if not path.exists():
        make_clip(path)
    return path


def probe(path: str | Path) -> ClipInfo:
    path = Path(path)
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise VstError(f"{path} has no video stream; give an H.264 MP4/MOV file")
            s = c.streams.video[0]
            frames = s.frames or sum(1 for _ in c.demux(s) if _.size)
            return ClipInfo(path, s.codec_context.width, s.codec_context.height, float(s.average_rate or 25),
                            int(frames), s.codec_context.name)
    except (av.error.FFmpegError, OSError) as exc:
        raise VstError(f"{path} is not a readable video ({exc}); give an H.264 MP4/MOV file") from None


def decode_frames(path: str | Path, limit: int | None = None) -> Iterator[tuple[np.ndarray, float, float]]:
    """(RGB frame, decode start, decode end) per frame, perf_counter clock; decode includes YUV->RGB conversion.

    FFmpeg's frame threads decode ahead, as phones' hardware decoders do, so a frame's decode time is the wait for
    it, not the codec's whole work.
    """
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        frames = c.decode(stream)
        n = 0
        while limit is None or n < limit:
            t0 = time.perf_counter()
            try:
                frame = next(frames)
            except StopIteration:
                return
            rgb = frame.to_ndarray(format="rgb24")
            yield rgb, t0, time.perf_counter()
            n += 1
