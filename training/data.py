"""Training data: photo crops (stage 1) and consecutive-frame pairs with flow and masks (stage 2).

Everything that is expensive and fixed (crops, rendered clips, optical flow, teacher outputs) is built once and
cached as npz under the vst cache folder, keyed by what determines it, so reruns and resumed runs reuse it.
"""
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
from vst.common.images import VIDEO_SUFFIXES, folder_images, resize_cover, sample_photos
from vst.common.synthclips import Clip, Motion, render_clip
from vst.training.flow import FlowCache, file_digest, motion_boundary_mask

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


def training_photos(folder: str | None = None) -> dict[str, np.ndarray]:
    """The user's images (folder), or the package-shipped photos minus the held-out ones."""
    if folder:
        return {f"img{i:04d}": img for i, img in enumerate(folder_images(folder))}
    return {k: v for k, v in sample_photos().items() if k not in HELD_OUT_PHOTOS}


def held_out_photos() -> dict[str, np.ndarray]:
    return sample_photos(HELD_OUT_PHOTOS)


def photo_crops(photos: list[np.ndarray], size: int, count: int, seed: int) -> np.ndarray:
    """`count` size x size RGB crops at random scales (1x to 3x the crop side), positions and flips."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, size, size, 3), np.uint8)
    for i in range(count):
        photo = photos[i % len(photos)]
        side = int(size * rng.uniform(1.0, 3.0))
        h, w = photo.shape[:2]
        scale = side / min(h, w)
        img = cv2.resize(photo, (max(size, round(w * scale)), max(size, round(h * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        y = rng.integers(0, img.shape[0] - size + 1)
        x = rng.integers(0, img.shape[1] - size + 1)
        crop = img[y:y + size, x:x + size]
        out[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return out


def random_motion(rng: np.random.Generator) -> Motion:
    """Camera pans/zooms and a sliding disc of the magnitudes found between video frames (a few px/frame)."""
    z0 = rng.uniform(1.0, 1.2)
    return Motion(zoom=(z0, z0 * rng.uniform(0.9, 1.15)), pan=(rng.uniform(-0.25, 0.25), rng.uniform(-0.15, 0.15)),
                  layer_speed=(rng.uniform(-4, 4), rng.uniform(-3, 3)),
                  layer_radius=rng.uniform(0.1, 0.25) if rng.random() < 0.7 else 0.0)


def synthetic_clips(photos: list[np.ndarray], size: tuple[int, int], n_frames: int, count: int, seed: int) -> list[Clip]:
    rng = np.random.default_rng(seed)
    clips = []
    for i in range(count):
        bg = photos[i % len(photos)]
        fg = photos[(i + 1 + int(rng.integers(0, max(1, len(photos) - 1)))) % len(photos)]
        clips.append(render_clip(bg, size, n_frames, random_motion(rng), fg))
    return clips


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


def clips_to_pairs(clips) -> dict[str, np.ndarray]:
    """Consecutive pairs of every clip: prev/next uint8 HxWx3, flow (next -> prev) HxWx2, mask HxW."""
    prev, nxt, flow, mask = [], [], [], []
    for clip in clips:
        masks = clip_masks(clip) if isinstance(clip, Clip) else clip.valid
        for t in range(len(clip.frames) - 1):
            prev.append(clip.frames[t])
            nxt.append(clip.frames[t + 1])
            flow.append(clip.flow_bwd[t])
            mask.append(masks[t])
    return {"prev": np.stack(prev), "next": np.stack(nxt), "flow": np.stack(flow).astype(np.float32),
            "mask": np.stack(mask)}
