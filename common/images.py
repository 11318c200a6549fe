"""Real photographs that installed packages ship (scikit-image, matplotlib), and image-folder loading.

Used wherever vst needs real pixels without a download: calibration, verification, training, sample frames.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from vst.common.errors import VstError

# Colour photographs in scikit-image's wheel (no fetch), then matplotlib's sample photo.
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "motorcycle_right",
                  "hubble_deep_field", "retina", "immunohistochemistry")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}


@lru_cache(maxsize=None)
def _skimage_photo(name: str) -> np.ndarray:
    from skimage import io
    import skimage.data
    path = Path(skimage.data.__file__).parent
    match = next((p for p in path.iterdir() if p.stem == name or (name == "immunohistochemistry" and p.stem == "ihc")),
                 None)
    if match is None:
        raise VstError(f"scikit-image ships no photo named {name!r}; reinstall scikit-image")
    img = io.imread(match)
    return np.ascontiguousarray(img[..., :3])


def sample_photos(names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """name -> RGB uint8 HxWx3 photo, from files installed packages ship (no network)."""
    photos = {n: _skimage_photo(n) for n in (names or SKIMAGE_PHOTOS) if n != "grace_hopper"}
    if names is None or "grace_hopper" in names:
        import matplotlib.cbook as cbook
        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        photos["grace_hopper"] = load_image(path)
    return photos


# Decompression bombs: a PNG of a few hundred KB can declare 30000x30000 pixels (2.7 GB decoded). Pillow's own
# refusal threshold (twice Image.MAX_IMAGE_PIXELS, 179 megapixels: 0.5 GB as RGB) takes any camera photo.
MAX_IMAGE_PIXELS = 2 * 89_478_485


def image_size(path: str | Path) -> tuple[int, int]:
    """(W, H) an image file declares, read from its header by Pillow without decoding it; one-line errors for
    files that are not images and for sizes over MAX_IMAGE_PIXELS."""
    import re
    import warnings

    from PIL import Image, UnidentifiedImageError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
    except Image.DecompressionBombError as exc:    # Pillow's own check, past twice its limit: it names pixels
        pixels = re.search(r"(\d+) pixels", str(exc))
        raise VstError(_too_big(path, f"{int(pixels.group(1)) / 1e6:.0f} megapixels" if pixels else
                                "too many pixels")) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise VstError(f"{path} is not a readable image; give a PNG or JPEG file") from None
    if w * h > MAX_IMAGE_PIXELS:
        raise VstError(_too_big(path, f"{w}x{h} pixels ({w * h / 1e6:.0f} megapixels)"))
    return w, h


def check_frame_pixels(path, width: int, height: int) -> None:
    """A video's frames, refused from the container's header above the same limit as images."""
    if width * height > MAX_IMAGE_PIXELS:
        raise VstError(_too_big(path, f"{width}x{height} frames"))


def _too_big(path, what: str) -> str:
    return (f"{path} declares {what}, over vst's limit of {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels for images (a "
            "decompression bomb, or a huge scan); scale it down first")


def load_image(path: str | Path) -> np.ndarray:
    """RGB uint8 HxWx3 from an image file; one-line error if it is not an image or declares too many pixels
    (checked from the header before decoding)."""
    image_size(path)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise VstError(f"{path} is not a readable image; give a PNG or JPEG file")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def cover(w: int, h: int, width: int, height: int) -> tuple[int, int, int, int, bool]:
    """How a w x h image covers width x height: scaled size (nw, nh), centre-crop origin (x0, y0), and whether
    it shrinks (area averaging) rather than grows (bilinear)."""
    scale = max(width / w, height / h)
    nw, nh = max(width, round(w * scale)), max(height, round(h * scale))
    return nw, nh, (nw - width) // 2, (nh - height) // 2, scale < 1


def resize_cover(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover WxH, then centre-crop: keeps aspect ratio, no borders."""
    nw, nh, x0, y0, shrink = cover(img.shape[1], img.shape[0], width, height)
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.ascontiguousarray(resized[y0:y0 + height, x0:x0 + width])


def to_tensor_batch(images: list[np.ndarray]):
    """RGB uint8 HxWx3 images -> float32 NCHW torch tensor in [0, 1]."""
    import torch
    arr = np.stack(images).astype(np.float32) / 255.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def folder_images(folder: str | Path, limit: int | None = None, frames_per_video: int = 8) -> list[np.ndarray]:
    """RGB images from a folder of images and/or videos (evenly spaced frames); one-line errors if unusable."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VstError(f"{folder} is not a folder; give a folder of images or videos")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
    if not files:
        raise VstError(f"{folder} holds no images or videos ({', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))})")
    out: list[np.ndarray] = []
    for f in files:
        if f.suffix.lower() in IMAGE_SUFFIXES:
            out.append(load_image(f))
        else:
            out.extend(video_frames(f, frames_per_video))
        if limit and len(out) >= limit:
            return out[:limit]
    return out


def video_frames(path: str | Path, count: int) -> list[np.ndarray]:
    """`count` evenly spaced RGB frames of a video file."""
    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    if not cap.isOpened() or total <= 0:
        raise VstError(f"{path} is not a readable video; give an MP4/MOV/MKV file")
    try:
        check_frame_pixels(path, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    except VstError:
        cap.release()
        raise
    frames = []
    for idx in np.linspace(0, total - 1, num=min(count, total)).astype(int):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(idx))
        ok, frame = cap.read()
        if ok:
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def encode_png(rgb: np.ndarray) -> bytes:
    """An RGB uint8 HxWx3 image as PNG bytes."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise VstError(f"could not encode a {rgb.shape} image as PNG")
    return buf.tobytes()


def save_png(path: str | Path, rgb: np.ndarray) -> None:
    """Write an RGB uint8 HxWx3 image as PNG, atomically."""
    from vst.common.fsutil import atomic_write_bytes
    atomic_write_bytes(path, encode_png(rgb))
