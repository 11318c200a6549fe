"""The benchmark clip (000's protocol: 1920x1080, 21 s, H.264, 25 fps) made from real photos, and its decoding.

The clip is a camera panning and zooming over package-shipped photographs (vst.common.synthclips' camera), a few
seconds per photo, encoded once with libx264 and cached; users may pass their own file instead.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from vst.common.errors import VstError
from vst.common.fsutil import atomic_path
from vst.common.images import check_frame_pixels, cover, sample_photos
from vst.common.synthclips import Motion, _camera

PAPER_CLIP = {"size": (1920, 1080), "seconds": 21.0, "fps": 25}
SECONDS_PER_PHOTO = 3.0


def cache_dir() -> Path:
    return Path(os.environ.get("VST_CACHE", Path.home() / ".cache" / "vst"))


@dataclass(frozen=True)
class ClipInfo:
    path: Path
    width: int                      # as shown: a clip turned 90 degrees by its display matrix has its sides swapped
    height: int
    fps: float
    frames: int                     # as its header declares (decoding may find fewer in a damaged file)
    codec: str
    rate: Fraction | None = None    # exact average frame rate (30000/1001), for writing at the same rate
    rotation: int = 0               # counter-clockwise degrees (0, 90, 180, 270) the frames are turned to be shown
    time_base: Fraction | None = None   # of the stream's timestamps

    @property
    def fps_fraction(self) -> Fraction:
        return self.rate or Fraction(self.fps).limit_denominator(1001)


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
            w, h = s.codec_context.width, s.codec_context.height
            check_frame_pixels(path, w, h)
            frames = s.frames or sum(1 for _ in c.demux(s) if _.size)
            rate, tb = s.average_rate, s.time_base
        rotation = _rotation(path)
        if rotation % 180:
            w, h = h, w
        return ClipInfo(path, w, h, float(rate or 25), int(frames), s.codec_context.name,
                        Fraction(rate) if rate else None, rotation, Fraction(tb) if tb else None)
    except (av.error.FFmpegError, OSError) as exc:
        raise VstError(f"{path} is not a readable video ({exc}); give an H.264 MP4/MOV file") from None


def _rotation(path: Path) -> int:
    """The display rotation of the first frame (FFmpeg gives it per frame, from the container's display matrix
    or the codec's), rounded to a quarter turn; players turn the picture by it, so vst does too."""
    with av.open(str(path)) as c:
        try:
            frame = next(c.decode(c.streams.video[0]), None)
        except av.error.FFmpegError:
            return 0
        return round((frame.rotation if frame is not None else 0) / 90) % 4 * 90


def upright(frame: av.VideoFrame, rgb: np.ndarray) -> np.ndarray:
    """`rgb` (the decoded picture of `frame`) turned as its display matrix says, as a player shows it."""
    quarter = round(frame.rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, quarter)) if quarter else rgb


def decode_video_frames(path: str | Path, limit: int | None = None) -> Iterator[tuple[av.VideoFrame, float, float]]:
    """(decoded frame, decode start, decode end) per frame, perf_counter clock: the codec's own (YUV) frame.

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
            yield frame, t0, time.perf_counter()
            n += 1


def decode_frames(path: str | Path, limit: int | None = None) -> Iterator[tuple[np.ndarray, float, float]]:
    """(RGB frame, upright, decode start, decode end) per frame; decode includes the YUV->RGB conversion."""
    for frame, t0, _ in decode_video_frames(path, limit):
        yield upright(frame, frame.to_ndarray(format="rgb24")), t0, time.perf_counter()


def scale_cover(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """RGB uint8 HxWx3: the decoded frame scaled to cover WxH and centre-cropped (as images.resize_cover) in one
    swscale pass that converts YUV to RGB at the small size, the way a phone's scaler feeds its network. Alike
    to converting the whole 1080p frame and then resizing it (45-46 dB on the benchmark clip) at 4.8 instead of 7.3
    ms a frame here."""
    nw, nh, x0, y0, shrink = cover(frame.width, frame.height, width, height)
    rgb = frame.reformat(width=nw, height=nh, format="rgb24",
                         interpolation="AREA" if shrink else "BILINEAR").to_ndarray()
    return np.ascontiguousarray(rgb[y0:y0 + height, x0:x0 + width])


@dataclass(frozen=True)
class DecodedFrame:
    index: int
    rgb: np.ndarray          # RGB uint8 HxWx3, upright
    key: bool                # a coded key frame (I/IDR)
    pts: int | None          # presentation time in the stream's time base (None when the file gives none)


def decode_timed(path: str | Path, start: int = 0) -> Iterator[DecodedFrame]:
    """Every frame from `start`, upright, with its timestamp; earlier frames are decoded and dropped (a resumed
    run skips finished work, not the decoder's). Decoding stops at the first frame FFmpeg cannot decode: what
    follows in a damaged file is lost, and the caller compares the count with the header's."""
    try:
        c = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise VstError(f"{path} is not a readable video ({exc}); give an H.264 MP4/MOV file") from None
    with c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        frames = c.decode(stream)
        i = 0
        while True:
            try:
                frame = next(frames)
            except (StopIteration, av.error.FFmpegError):
                return
            if i >= start:
                yield DecodedFrame(i, upright(frame, frame.to_ndarray(format="rgb24")), bool(frame.key_frame),
                                   frame.pts)
            i += 1


def decode_rgb(path: str | Path, start: int = 0) -> Iterator[tuple[int, np.ndarray, bool]]:
    """(frame index, RGB frame, is a coded key frame (I/IDR)) for every frame from `start` (decode_timed)."""
    for f in decode_timed(path, start):
        yield f.index, f.rgb, f.key


class H264Writer:
    """H.264 (yuv420p, MP4) frame by frame at a constant rate, pts = frame index (or given, in `time_base`, default
    one frame period: a variable-rate input keeps its own timestamps).

    B-frames are off so that decode order equals presentation order: segments written separately can then be
    joined by copying packets (resumable stylization), with timestamps that only move forward.
    """

    def __init__(self, path: str | Path, size: tuple[int, int], rate, crf: int = 20, preset: str = "veryfast",
                 time_base: Fraction | None = None):
        w, h = size
        if w % 2 or h % 2:
            raise VstError(f"H.264 with 4:2:0 chroma needs even sides, got {w}x{h}")
        self.rate = Fraction(rate).limit_denominator(1001 * 1000)
        self.time_base = time_base or 1 / self.rate
        self.container = av.open(str(path), "w", format="mp4")
        try:
            self.stream = self.container.add_stream("libx264", rate=self.rate)
            self.stream.width, self.stream.height, self.stream.pix_fmt = w, h, "yuv420p"
            self.stream.time_base = self.time_base
            self.stream.codec_context.time_base = self.time_base
            self.stream.options = {"preset": preset, "crf": str(crf), "bf": "0"}
        except BaseException:
            self.container.close()
            raise
        self.count = 0
        self.last_pts: int | None = None

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        pts = self.count if pts is None else pts
        if self.last_pts is not None and pts <= self.last_pts:
            pts = self.last_pts + 1      # a repeated or backward timestamp (damaged files): the muxer needs order
        frame.pts, self.last_pts = pts, pts
        frame.time_base = self.time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.count += 1

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        else:
            self.container.close()


def join_segments(segments: list[Path], out: Path, audio_from: Path | None = None) -> None:
    """Copy the H.264 packets of `segments` (written by H264Writer with the clip's own timestamps, so one
    continues where the one before ends) into `out` one after another, and the first audio stream of
    `audio_from` beside them (no re-encoding)."""
    with av.open(str(out), "w", format="mp4") as dst:
        first = av.open(str(segments[0]))
        vsrc = first.streams.video[0]
        vout = dst.add_stream_from_template(vsrc)
        first.close()
        src_audio = av.open(str(audio_from)) if audio_from else None
        aout = None
        if src_audio is not None and src_audio.streams.audio:
            aout = dst.add_stream_from_template(src_audio.streams.audio[0])

        def video_packets():
            last = None
            for seg in segments:
                with av.open(str(seg)) as c:
                    s = c.streams.video[0]
                    for p in c.demux(s):
                        if p.dts is None:
                            continue   # the demuxer's flush packet
                        if last is not None and p.dts <= last:
                            p.pts = p.dts = last + 1   # a damaged input's repeated timestamp across segments
                        last = p.dts
                        yield p, float(p.pts * s.time_base)

        def audio_packets():
            if aout is None:
                return
            s = src_audio.streams.audio[0]
            for p in src_audio.demux(s):
                if p.dts is None:
                    continue
                yield p, float(p.pts * s.time_base) if p.pts is not None else 0.0

        # merge by time so that the muxer's interleaving queue stays short on long videos
        streams = [(video_packets(), vout), (audio_packets(), aout)]
        heads = [next(g, None) for g, _ in streams]
        while any(h is not None for h in heads):
            i = min((k for k, h in enumerate(heads) if h is not None), key=lambda k: heads[k][1])
            packet, _ = heads[i]
            packet.stream = streams[i][1]
            dst.mux(packet)
            heads[i] = next(streams[i][0], None)
        if src_audio is not None:
            src_audio.close()
