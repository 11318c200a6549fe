"""vst-stylize's work: decode, fit to the model, stylize (every frame or key frames), encode, join, with audio.

Resumable: the output is built in segments of `segment` frames under a work folder beside it
(`.<name>.parts/`), each written atomically; a rerun with the same input, model and options keeps the finished
ones. The MP4 appears only when every segment is done (joined into a temporary file, then renamed), and the work
folder is then removed. In key-frame mode each segment starts with a key frame, so segments stand alone.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from vst.common.errors import VstError
from vst.common.fsutil import atomic_path, atomic_write_text, check_creatable_dir
from vst.stylize.frames import LocalStylizer, RemoteStylizer, fit, side_by_side
from vst.stylize.keyframes import KeySchedule, KeyframeInterpolator
from vst.video.codec import H264Writer, decode_rgb, join_segments, probe

SEGMENT_FRAMES = 250


def check_output(out: Path) -> None:
    """Before any work: an .mp4 path in a folder we can create or write."""
    if out.suffix.lower() != ".mp4":
        raise VstError(f"output {out} should end in .mp4")
    if out.is_dir():
        raise VstError(f"output {out} is a folder; give a file path")
    check_creatable_dir(out.parent)


def work_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.parts"


def stylize_video(src: str | Path, model: str, out: str | Path, size: tuple[int, int] | None = None,
                  keyframes: str | None = None, flow: str = "dis", sbs: bool = False,
                  segment: int = SEGMENT_FRAMES, progress: bool = True, stylizer=None, edge: str | None = None,
                  edge_delay: float = 0.0, style: str | None = None, predict: str | None = None) -> dict:
    """Write the stylized `src` to `out` and return what it took (frames, seconds, key-frame timings).

    `stylizer` replaces the local model for key frames (anything RGB -> RGB at `stylizer.size`); `edge` is the
    URL of a `vst-edge serve` server that stylizes them instead (with `model`, if given, timed here on a few
    frames for the speedup against stylizing every frame locally). `style` (an image) makes `model` an
    arbitrary-stylization transform network (default Magenta's) fed by `predict`'s style vector."""
    src, out = Path(src), Path(out)
    check_output(out)
    if not src.is_file():
        raise VstError(f"input {src} does not exist; give a video file")
    info = probe(src)
    if info.frames < 1:
        raise VstError(f"{src} holds no video frames; give a video with at least one frame")
    schedule = KeySchedule.parse(keyframes) if keyframes else None
    if style is not None and edge:
        raise VstError("--style runs the style networks here; it does not combine with --edge")
    local_s_per_frame = None
    if edge:
        if model:
            local_s_per_frame = _local_seconds_per_frame(model, size, (info.width, info.height))
        stylizer = RemoteStylizer(edge, size, (info.width, info.height), delay=edge_delay)
    stylizer = stylizer or LocalStylizer(model, size, (info.width, info.height), style=style, predict=predict)
    w, h = stylizer.size
    if w % 2 or h % 2:
        raise VstError(f"frame size {w}x{h} has an odd side; H.264 needs even sides: give --size with even sides")
    # one blank frame first: a model that is not image-to-image fails here, before any file or progress bar,
    # and lazy runtime set-up stays out of the timings
    stylizer(np.zeros((h, w, 3), np.uint8))
    parts = work_dir(out)
    state = {"input": str(src.resolve()), "input_bytes": src.stat().st_size, "input_mtime": src.stat().st_mtime,
             "model": getattr(stylizer, "identity", None) or str(model), "size": [w, h], "keyframes": keyframes,
             "flow": flow, "side_by_side": sbs, "segment": segment}
    manifest = parts / "manifest.json"
    if parts.is_dir():
        try:
            same = json.loads(manifest.read_text()) == state
        except (OSError, ValueError):
            same = False
        if not same:
            shutil.rmtree(parts)     # work of another input, model or option set: start over
    parts.mkdir(parents=True, exist_ok=True)
    atomic_write_text(manifest, json.dumps(state))

    n_seg = -(-info.frames // segment)
    seg_paths = [parts / f"seg{i:05d}.mp4" for i in range(n_seg)]
    todo = [i for i, p in enumerate(seg_paths) if not p.is_file()]
    interp = KeyframeInterpolator(stylizer, schedule, flow) if schedule else None
    from vst.common.progress import bar as progress_bar
    bar = progress_bar(total=info.frames, initial=(n_seg - len(todo)) * segment if todo else info.frames,
                       unit="frame", progress=progress, desc=out.name, leave=False)
    t_start = time.perf_counter()
    done = 0
    frames_iter = decode_rgb(src, start=todo[0] * segment) if todo else iter(())
    writer, tmp_ctx, seg = None, None, None
    try:
        for index, rgb, coded_key in frames_iter:
            k = index // segment
            if k != seg:
                if writer is not None:
                    writer.close()
                    tmp_ctx.__exit__(None, None, None)
                    writer = None
                seg = k
                if k not in todo:
                    continue
                tmp_ctx = atomic_path(seg_paths[k], suffix=".tmp.mp4")
                tmp = tmp_ctx.__enter__()
                writer = H264Writer(tmp, (2 * w if sbs else w, h), info.fps_fraction)
                if interp is not None:
                    interp.reset()
            if writer is None:
                continue
            x = fit(rgb, (w, h))
            y = interp(index, x, coded_key)[0] if interp else stylizer(x)
            writer.write(side_by_side(x, y) if sbs else y)
            done += 1
            bar.update(1)
        if writer is not None:
            writer.close()
            tmp_ctx.__exit__(None, None, None)
            writer = None
    except BaseException as exc:
        if writer is not None:
            writer.container.close()
            tmp_ctx.__exit__(type(exc), exc, exc.__traceback__)
        if not any(p.is_file() for p in seg_paths):
            shutil.rmtree(parts, ignore_errors=True)   # nothing finished: leave nothing behind
        raise
    finally:
        bar.close()
    missing = [p for p in seg_paths if not p.is_file()]
    if missing:
        raise VstError(f"{src} decoded to fewer frames than its header says ({info.frames}); the file is damaged")
    with atomic_path(out, suffix=".tmp.mp4") as tmp:
        join_segments(seg_paths, tmp, info.fps_fraction, audio_from=src)
    shutil.rmtree(parts, ignore_errors=True)
    elapsed = time.perf_counter() - t_start
    stats = {"output": str(out), "frames": info.frames, "fps": info.fps, "size": [w, h], "stylized_now": done,
             "seconds": round(elapsed, 3), "end_to_end_fps": round(done / elapsed, 2) if done else None}
    if interp is not None:
        stats["keyframes"] = {"schedule": keyframes, "flow": flow, **interp.timings.summary()}
    if isinstance(stylizer, RemoteStylizer):
        stats["edge"] = {"url": stylizer.edge.url, "delay_s": edge_delay, **stylizer.summary()}
        if local_s_per_frame and done:
            stats["edge"]["local_ms_per_frame"] = round(local_s_per_frame * 1e3, 2)
            stats["edge"]["speedup_vs_local"] = round(local_s_per_frame * done / elapsed, 3)
    return stats


def _local_seconds_per_frame(model: str, size, source_size, frames: int = 3) -> float:
    """What stylizing one frame here costs: the baseline the edge run is compared with."""
    local = LocalStylizer(model, size, source_size)
    w, h = local.size
    x = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    local(x)                                   # warm-up (runtime set-up)
    t0 = time.perf_counter()
    for _ in range(frames):
        local(x)
    return (time.perf_counter() - t0) / frames


def output_frames(path: str | Path) -> list[np.ndarray]:
    """Every frame of a (small) video, for checks."""
    return [f for _, f, _ in decode_rgb(path)]
