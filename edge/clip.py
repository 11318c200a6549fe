"""Send a clip's frames to an edge server one by one, writing each stylized frame as soon as it is back.

Each frame is written atomically, so a server that dies mid-run leaves only whole frames; the error says how many
are kept and a rerun sends only the missing ones. Which run the kept frames belong to is recorded beside them
(RUN_RECORD: the input's content hash, the server's model, size and format), and a folder holding frames of
another run is refused rather than mixed into this one.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from vst.common.errors import VstError
from vst.common.fsutil import atomic_path, atomic_write_text, check_creatable_dir, sha256_of
from vst.common.images import resize_cover
from vst.runtimes.remote import EdgeUnavailable, edge_keyframe_stylizer


RUN_RECORD = ".vst-edge-stylize.json"


def frame_path(out: Path, index: int) -> Path:
    return out / f"frame_{index:05d}.png"


def _run_key(video: Path, server: dict, size, fmt: str) -> dict:
    """What the frames depend on: the input by content (not path), the model by the server's identity of it
    where the server gives one (else its name), the frame size and the wire format (JPEG is lossy)."""
    return {"input_sha256": sha256_of(video), "model": server.get("identity") or server.get("model"),
            "size": list(size) if size else None, "format": fmt}


def _check_kept(out: Path, key: dict) -> None:
    """Refuse an --out whose frame files are not this run's."""
    if not any(out.glob("frame_*.png")):
        return
    try:
        saved = json.loads((out / RUN_RECORD).read_text())
    except (OSError, ValueError, RecursionError):
        saved = None
    if saved == key:
        return
    if not isinstance(saved, dict):
        why = "frames with no record of their input"
    elif saved.get("input_sha256") != key["input_sha256"]:
        why = "frames of another input clip"
    elif saved.get("model") != key["model"]:
        why = "frames of another model"
    else:
        why = "frames of another --size or --format"
    raise VstError(f"--out {out} holds {why}; give another --out, or delete its frame_*.png files to start over")


def stylize_clip(url: str, video: str | Path, out: str | Path, frames: int | None = None,
                 size: tuple[int, int] | None = None, fmt: str = "png", timeout: float = 30.0,
                 log: Callable[[str], None] = lambda s: print(s, flush=True),
                 on_frame: Callable[[int], None] | None = None) -> list[Path]:
    """Stylize the first `frames` frames of `video` on the server at `url` into out/frame_NNNNN.png."""
    import cv2
    from vst.video.codec import decode_frames, probe

    out = Path(out)
    if frames is not None and frames < 1:
        raise VstError(f"--frames must be at least 1, got {frames}")
    info = probe(video)
    total = min(info.frames, frames) if frames and info.frames else (frames or info.frames)
    check_creatable_dir(out)
    remote = edge_keyframe_stylizer(url, fmt=fmt, timeout=timeout, check=False)
    key = _run_key(Path(video), remote.health(), size, fmt)
    _check_kept(out, key)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RUN_RECORD, json.dumps(key))
    written, sent = [], 0
    for i, (rgb, _, _) in enumerate(decode_frames(video, limit=frames)):
        path = frame_path(out, i)
        if path.is_file():  # finished by an earlier run
            written.append(path)
            continue
        if size:
            rgb = resize_cover(rgb, *size)
        try:
            styled = remote(rgb)
        except EdgeUnavailable as exc:
            raise EdgeUnavailable(f"{exc}; after {len(written)} of {total or '?'} frames: the finished ones are "
                                  f"kept in {out}, run the same command again to send the rest") from None
        with atomic_path(path, suffix=".png") as tmp:
            if not cv2.imwrite(str(tmp), cv2.cvtColor(styled, cv2.COLOR_RGB2BGR)):
                raise VstError(f"could not write {path}")
        written.append(path)
        sent += 1
        if on_frame:
            on_frame(i)
    if remote.history:
        rt = np.array([e.seconds for e in remote.history])
        up = np.mean([e.bytes_up for e in remote.history])
        log(f"{sent} frames stylized on {url}: round trip median {np.median(rt) * 1e3:.1f} ms, "
            f"{up / 1024:.0f} KiB up per frame; {len(written)} frames in {out}")
    else:
        log(f"all {len(written)} frames were already in {out}")
    return written
