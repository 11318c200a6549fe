"""vst-stylize's work: decode, fit to the model, stylize (every frame or key frames), encode, join, with audio.

Resumable: the output is built in segments of `segment` frames under a work folder beside it
(`.<name>.parts/`), each written atomically; a rerun with the same input, model and options keeps the finished
ones (input and model compared by content, so a file replaced at the same path starts over). The MP4 appears only
when every segment is done (joined into a temporary file, then renamed), and the work folder is then removed. In
key-frame mode each segment starts with a key frame, so segments stand alone. Frames keep the input's timestamps
and are turned upright as its display matrix says.
"""
from __future__ import annotations

import glob
import json
import shutil
import time
from itertools import groupby
from pathlib import Path

import numpy as np

from vst.common.errors import VstError
from vst.common.fsutil import atomic_path, atomic_write_text, check_creatable_dir, new_folders, prune_empty, sha256_of
from vst.stylize.frames import LocalStylizer, NonFiniteOutput, RemoteStylizer, fit, side_by_side
from vst.stylize.keyframes import KeySchedule, KeyframeInterpolator
from vst.video.codec import DecodedFrame, H264Writer, decode_rgb, decode_timed, join_segments, probe

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
                  edge_delay: float = 0.0, style: str | None = None, predict: str | None = None,
                  accelerator: str = "cpu") -> dict:
    """Write the stylized `src` to `out` and return what it took (frames, seconds, key-frame timings).

    `stylizer` replaces the local model for key frames (anything RGB -> RGB at `stylizer.size`); `edge` is the
    URL of a `vst-edge serve` server that stylizes them instead (with `model`, if given, timed here on a few
    frames for the speedup against stylizing every frame locally). `style` (an image) makes `model` an
    arbitrary-stylization transform network (default Magenta's) fed by `predict`'s style vector. `accelerator`
    "gpu" runs a .tflite `model` on LiteRT's GPU accelerator (a software GPU on a host without one)."""
    src, out = Path(src), Path(out)
    check_output(out)
    if not src.is_file():
        what = "is a folder" if src.is_dir() else "is not a regular file" if src.exists() else "does not exist"
        raise VstError(f"input {src} {what}; give a video file")
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
    stylizer = stylizer or LocalStylizer(model, size, (info.width, info.height), style=style, predict=predict,
                                         accelerator=accelerator)
    w, h = stylizer.size
    if w % 2 or h % 2:
        raise VstError(f"frame size {w}x{h} has an odd side; H.264 needs even sides: give --size with even sides")
    # one blank frame first: a model that is not image-to-image fails here, before any file or progress bar,
    # and lazy runtime set-up stays out of the timings
    try:
        stylizer(np.zeros((h, w, 3), np.uint8))
    except NonFiniteOutput:
        pass     # a model may divide by a blank frame's zero spread; real frames are checked one by one
    parts = work_dir(out)
    # the resume key: what the output is made of, by content (a file replaced at the same path is another
    # input), and every option that changes a frame or where segments start
    state = {"format": 2, "input_sha256": sha256_of(src),
             "model": getattr(stylizer, "identity", None) or str(model), "size": [w, h], "keyframes": keyframes,
             "flow": flow, "side_by_side": sbs, "segment": segment}
    made = new_folders(out.parent)     # the folders a failed run must remove
    _sweep_temporaries(out)
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
    seg_path = lambda k: parts / f"seg{k:05d}.mp4"  # noqa: E731
    todo = [k for k in range(n_seg) if not seg_path(k).is_file()]
    interp = KeyframeInterpolator(stylizer, schedule, flow) if schedule else None
    from vst.common.progress import bar as progress_bar
    bar = progress_bar(total=info.frames, initial=(n_seg - len(todo)) * segment if todo else info.frames,
                       unit="frame", progress=progress, desc=out.name, leave=False)
    t_start = time.perf_counter()
    done, end = 0, n_seg * segment
    try:
        if todo:
            end = todo[0] * segment  # where the clip ends if no frame from there on decodes
            for k, group in groupby(decode_timed(src, start=todo[0] * segment), key=lambda f: f.index // segment):
                if seg_path(k).is_file():
                    end = max(end, (k + 1) * segment)
                    continue
                with atomic_path(seg_path(k), suffix=".tmp.mp4") as tmp, \
                        H264Writer(tmp, (2 * w if sbs else w, h), info.fps_fraction, time_base=info.time_base) as wr:
                    if interp is not None:
                        interp.reset()
                    for f in group:
                        x = fit(f.rgb, (w, h))
                        try:
                            y = interp(f.index, x, f.key)[0] if interp else stylizer(x)
                        except NonFiniteOutput as exc:
                            raise NonFiniteOutput(exc.model, f"frame {f.index} (counting from 0), the first bad "
                                                  "one") from None
                        wr.write(side_by_side(x, y) if sbs else y, _pts(f, info))
                        done += 1
                        end = f.index + 1
                        bar.update(1)
    except BaseException as exc:
        # nothing finished, or nothing worth resuming (a rerun with this model gives NaN again, and with
        # another model starts over): leave nothing behind
        if isinstance(exc, NonFiniteOutput) or not any(parts.glob("seg*.mp4")):
            shutil.rmtree(parts, ignore_errors=True)
            prune_empty(made)
        raise
    finally:
        bar.close()
    segments = [seg_path(k) for k in range(-(-end // segment))]
    if not segments:
        shutil.rmtree(parts, ignore_errors=True)
        prune_empty(made)
        raise VstError(f"no frame of {src} decodes although its header declares {info.frames}; the file is "
                       "damaged: give another copy")
    if not all(p.is_file() for p in segments):
        raise VstError(f"segments in {parts} went missing during the run; run the same command again")
    with atomic_path(out, suffix=".tmp.mp4") as tmp:
        join_segments(segments, tmp, audio_from=src)
    shutil.rmtree(parts, ignore_errors=True)
    frames = probe(out).frames
    elapsed = time.perf_counter() - t_start
    # size: the model's frames; output_size: the file's (input | output side by side is twice as wide)
    stats = {"output": str(out), "frames": frames, "fps": info.fps, "size": [w, h],
             "output_size": [2 * w if sbs else w, h], "stylized_now": done,
             "seconds": round(elapsed, 3), "end_to_end_fps": round(done / elapsed, 2) if done else None}
    if frames < info.frames:
        stats["declared_frames"] = info.frames
        stats["warning"] = (f"{src} declares {info.frames} frames but only {frames} decode: the clip is short or "
                            "damaged, and the output has those")
    if interp is not None:
        stats["keyframes"] = {"schedule": keyframes, "flow": flow, **interp.timings.summary()}
    if isinstance(stylizer, RemoteStylizer):
        stats["edge"] = {"url": stylizer.edge.url, "delay_s": edge_delay, **stylizer.summary()}
        if local_s_per_frame and done:
            stats["edge"]["local_ms_per_frame"] = round(local_s_per_frame * 1e3, 2)
            stats["edge"]["speedup_vs_local"] = round(local_s_per_frame * done / elapsed, 3)
    return stats


def _pts(frame: DecodedFrame, info) -> int | None:
    """The frame's own timestamp (a variable-rate clip keeps its timing); one from its index at the average rate
    when the file gives none."""
    if frame.pts is not None or info.time_base is None:
        return frame.pts
    return round(frame.index / (info.fps_fraction * info.time_base))


def _sweep_temporaries(out: Path) -> None:
    """Remove the temporary files of an earlier run of this output killed before it could (SIGKILL, power loss):
    the joined MP4's beside the output and unfinished segments' in the work folder; both are only ever ours."""
    parts = work_dir(out)
    stale = [*out.parent.glob(f".{glob.escape(out.name[:100])}.*.tmp.mp4"), *parts.glob(".seg*.mp4.*.tmp.mp4")]
    for p in stale:
        p.unlink(missing_ok=True)


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
