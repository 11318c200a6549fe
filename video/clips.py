"""Clips with flow for measuring and training temporal stability: held-out photos, ground-truth masks of
rendered clips, runs of real videos with cached Farneback flow and Ruder masks, and the npz cache they share."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from vst.common.errors import VstError
from vst.common.fsutil import atomic_path
from vst.common.images import VIDEO_SUFFIXES, resize_cover, sample_photos
from vst.common.synthclips import Clip
from vst.video.flow import FlowCache, file_digest, motion_boundary_mask

# Package-shipped photos kept out of training so that fidelity and temporal figures are measured on unseen images.
HELD_OUT_PHOTOS = ("coffee", "grace_hopper")


def cache_root() -> Path:
    base = os.environ.get("VST_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                       os.path.expanduser("~/.cache"), "vst")
    return Path(base)


def cached_arrays(kind: str, key: dict, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays from cache_root()/kind/<hash of key>.npz, building and storing them on a miss."""
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    path = cache_root() / kind / f"{digest}.npz"
    if path.is_file():
        try:
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError):
            pass  # damaged: rebuild
    arrays = build()
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return arrays


def held_out_photos() -> dict[str, np.ndarray]:
    return sample_photos(HELD_OUT_PHOTOS)


def clip_masks(clip: Clip) -> np.ndarray:
    """Ground-truth visibility minus motion boundaries (where even exact flow is unreliable for resampling)."""
    return np.stack([v & ~motion_boundary_mask(f) for v, f in zip(clip.valid, clip.flow_bwd)])


@dataclass
class VideoClip:
    """Consecutive frames of a real video with estimated flows: same fields as synthclips.Clip."""
    frames: np.ndarray
    flow_bwd: np.ndarray
    flow_fwd: np.ndarray
    valid: np.ndarray


def read_frames(path: Path, start: int, count: int, size: tuple[int, int]) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VstError(f"{path} is not a readable video; give an MP4/MOV/MKV file")
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(resize_cover(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), *size))
    cap.release()
    return frames


def video_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise VstError(f"{folder} is not a folder; give a folder of videos")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not files:
        raise VstError(f"{folder} holds no videos ({', '.join(sorted(VIDEO_SUFFIXES))})")
    return files


def video_clip(path: Path, size: tuple[int, int], start: int, n_frames: int, cache: FlowCache) -> VideoClip | None:
    """`n_frames` consecutive frames from `start`, with cached Farneback flows and Ruder masks; None if too short."""
    frames = read_frames(path, start, n_frames, size)
    if len(frames) < 2:
        return None
    digest = file_digest(path)
    bwd, fwd, valid = zip(*(cache.get(digest, start + t, frames[t], frames[t + 1]) for t in range(len(frames) - 1)))
    return VideoClip(np.stack(frames), np.stack(bwd), np.stack(fwd), np.stack(valid))


def video_clips(folder: str | Path, size: tuple[int, int], n_frames: int, per_video: int,
                cache: FlowCache | None = None) -> list[VideoClip]:
    """`per_video` runs of `n_frames` consecutive frames, evenly spaced over each video in `folder`."""
    cache = cache or FlowCache(cache_root() / "flow")
    clips = []
    for path in video_files(folder):
        cap = cv2.VideoCapture(str(path))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        if total < 2:
            raise VstError(f"{path} has fewer than 2 frames; give real videos")
        starts = np.linspace(0, max(0, total - n_frames), num=per_video).astype(int)
        for s in sorted(set(starts.tolist())):
            clip = video_clip(path, size, s, n_frames, cache)
            if clip is not None:
                clips.append(clip)
    return clips
