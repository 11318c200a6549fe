"""Training data: photo crops (stage 1) and consecutive-frame pairs with flow and masks (stage 2).

Everything that is expensive and fixed (crops, rendered clips, optical flow, teacher outputs) is built once and
cached as npz under the vst cache folder, keyed by what determines it, so reruns and resumed runs reuse it.
"""
from __future__ import annotations

import cv2
import numpy as np

from vst.common.images import folder_images, sample_photos
from vst.common.synthclips import Clip, Motion, render_clip
from vst.video.clips import HELD_OUT_PHOTOS, clip_masks
from vst.video.flow import compose_backward



def training_photos(folder: str | None = None) -> dict[str, np.ndarray]:
    """The user's images (folder), or the package-shipped photos minus the held-out ones."""
    if folder:
        return {f"img{i:04d}": img for i, img in enumerate(folder_images(folder))}
    return {k: v for k, v in sample_photos().items() if k not in HELD_OUT_PHOTOS}


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


def clips_to_pairs(clips, gaps=(1,)) -> dict[str, np.ndarray]:
    """Frame pairs (t-g, t) of every clip for each gap g (1 = consecutive; 001 Table 3 adds g = 2): prev/next
    uint8 HxWx3, flow (next -> prev) HxWx2, mask HxW. Longer gaps chain the consecutive backward flows."""
    prev, nxt, flow, mask = [], [], [], []
    for clip in clips:
        masks = clip_masks(clip) if isinstance(clip, Clip) else clip.valid
        for g in gaps:
            for t in range(g, len(clip.frames)):
                f, m = clip.flow_bwd[t - 1], masks[t - 1]
                for k in range(2, g + 1):  # extend t -> t-1 back to t-k
                    f, m = compose_backward(f, m, clip.flow_bwd[t - k], masks[t - k])
                prev.append(clip.frames[t - g])
                nxt.append(clip.frames[t])
                flow.append(f)
                mask.append(m)
    return {"prev": np.stack(prev), "next": np.stack(nxt), "flow": np.stack(flow).astype(np.float32),
            "mask": np.stack(mask)}
