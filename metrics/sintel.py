"""001 Table 2's protocol on MPI Sintel: temporal error (eq. 8) per scene with the ground-truth flow and masks.

Layout read (the Sintel training set): DIR/final/<scene>/frame_XXXX.png, DIR/flow/<scene>/frame_XXXX.flo
(Middlebury format, forward flow of frame t to t+1), DIR/occlusions/<scene>/frame_XXXX.png and
DIR/invalid/<scene>/frame_XXXX.png (white = occluded in t+1 / invalid). Eq. 8 warps the stylized frame t+1 back
onto frame t along that forward flow; masked pixels are the occluded and invalid ones.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from vst.common.errors import VstError
from vst.common.images import load_image
from vst.metrics.evaluate import EvalClip, evaluate
from vst.runtimes.stylizer import Runner
from vst.video.flow import endpoint_error, estimate_flow, occlusion_mask, read_flo

# 001 Table 2's five test scenes, in its column order
TABLE2_SCENES = ("Alley_2", "Ambush_5", "Bandage_2", "Market_6", "Temple_2")


@dataclass
class SintelScene:
    name: str
    frames: np.ndarray   # T x H x W x 3 uint8
    flow_fwd: np.ndarray  # (T-1) x H x W x 2: pixel p of frame t is at p + flow in frame t+1
    valid: np.ndarray    # (T-1) x H x W bool: not occluded in t+1 and not invalid


def write_synthetic_sintel(root: str | Path, size: tuple[int, int] = (256, 192), n_frames: int = 8) -> dict:
    """A Sintel-layout folder of synthetic clips over the held-out photos with exact flow (scenes named Alley_2 and
    Market_6 so the Table 2 layout shows): final/ frames, flow/ forward .flo, occlusions/ (pixels of frame t not
    visible in t+1, by the forward-backward test on the exact flows, plus motion boundaries), invalid/ (empty).
    Returns scene -> synthclips.Clip. For testing the protocol and the flow backends where Sintel is not at hand."""
    from vst.common.images import save_png
    from vst.common.synthclips import Motion, render_clip
    from vst.video.clips import held_out_photos
    from vst.video.flow import consistency_mask, motion_boundary_mask, write_flo
    motions = {"Alley_2": Motion(zoom=(1.0, 1.0), pan=(0.25, 0.1), layer_speed=(2.0, 1.0)),
               "Market_6": Motion(zoom=(1.0, 1.15), pan=(0.0, 0.0), layer_speed=(-1.5, 1.0), layer_radius=0.2)}
    photos = list(held_out_photos().values())
    root = Path(root)
    clips = {}
    for i, (name, motion) in enumerate(motions.items()):
        clip = render_clip(photos[i % len(photos)], size, n_frames, motion, photos[(i + 1) % len(photos)])
        clips[name] = clip
        for sub in ("final", "flow", "occlusions", "invalid"):
            (root / sub / name).mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(clip.frames):
            save_png(root / "final" / name / f"frame_{t + 1:04d}.png", frame)
        for t in range(n_frames - 1):
            fwd, bwd = clip.flow_fwd[t], clip.flow_bwd[t]
            write_flo(root / "flow" / name / f"frame_{t + 1:04d}.flo", fwd)
            occluded = ~consistency_mask(fwd, bwd) | motion_boundary_mask(fwd)
            save_png(root / "occlusions" / name / f"frame_{t + 1:04d}.png",
                     np.repeat((occluded * 255).astype(np.uint8)[..., None], 3, -1))
    return clips


def published_table2() -> dict[str, dict[str, float]]:
    text = resources.files("vst.metrics").joinpath("huang_table2.csv").read_text()
    return {row.pop("method"): {k: float(v) for k, v in row.items()} for row in csv.DictReader(text.splitlines())}


def _mask(path: Path, hw: tuple[int, int]) -> np.ndarray:
    """A Sintel mask PNG as bool (True = marked); absent -> nothing marked."""
    if not path.is_file():
        return np.zeros(hw, bool)
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None or img.shape != hw:
        raise VstError(f"{path} is not a {hw[1]}x{hw[0]} mask image")
    return img > 127


def _resize(scene: SintelScene, size: tuple[int, int]) -> SintelScene:
    w, h = size
    oh, ow = scene.frames.shape[1:3]
    if (w, h) == (ow, oh):
        return scene
    frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in scene.frames])
    flows = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32([w / ow, h / oh])
                      for f in scene.flow_fwd])
    # a cell stays trusted only if every source pixel under it was
    valid = np.stack([cv2.resize(v.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0.999
                      for v in scene.valid])
    return SintelScene(scene.name, frames, flows.astype(np.float32), valid)


def sintel_scenes(root: str | Path, scenes=None, n_frames: int | None = None, pass_name: str = "final",
                  size: tuple[int, int] | None = None) -> list[SintelScene]:
    """The scenes of a Sintel-layout folder (default: 001 Table 2's five where present, else all), their first
    n_frames frames, resized to size=(W, H) if given (flows scaled, masks kept strict)."""
    root = Path(root)
    base = root / pass_name
    if not base.is_dir():
        raise VstError(f"{root} has no {pass_name}/ folder: expected the MPI Sintel layout "
                       f"({pass_name}/<scene>/frame_XXXX.png, flow/<scene>/*.flo, occlusions/, invalid/)")
    present = sorted(p.name for p in base.iterdir() if p.is_dir())
    if scenes:
        missing = [s for s in scenes if s not in present]
        if missing:
            raise VstError(f"{root}: no scene {', '.join(missing)} (present: {', '.join(present) or 'none'})")
    else:
        scenes = [s for s in TABLE2_SCENES if s in present] or present
    if not scenes:
        raise VstError(f"{base} holds no scene folders")
    out = []
    for name in scenes:
        paths = sorted((base / name).glob("frame_*.png"))
        if n_frames:
            paths = paths[:n_frames]
        if len(paths) < 2:
            raise VstError(f"{base / name} holds {len(paths)} frame_XXXX.png files; need 2 at least")
        frames = [load_image(p) for p in paths]
        hw = frames[0].shape[:2]
        if any(f.shape[:2] != hw for f in frames):
            raise VstError(f"{base / name}: frames differ in size")
        flows, valid = [], []
        for p in paths[:-1]:
            flo = root / "flow" / name / (p.stem + ".flo")
            if not flo.is_file():
                raise VstError(f"{flo} is missing: eq. 8 needs the ground-truth flow of every frame but the last")
            f = read_flo(flo)
            if f.shape[:2] != hw:
                raise VstError(f"{flo} is {f.shape[1]}x{f.shape[0]}, the frames are {hw[1]}x{hw[0]}")
            flows.append(f)
            valid.append(~_mask(root / "occlusions" / name / p.name, hw) & ~_mask(root / "invalid" / name / p.name, hw))
        scene = SintelScene(name, np.stack(frames), np.stack(flows), np.stack(valid))
        out.append(_resize(scene, size) if size else scene)
    return out


def scene_clip(scene: SintelScene, flow: str = "gt") -> tuple[EvalClip, float | None]:
    """The scene as an EvalClip for vst.metrics.evaluate, and the end-point error of an estimated flow.

    temporal_error compares frame k+1 with frame k warped along the backward flow of k+1; eq. 8 compares frame t
    with frame t+1 warped along the forward flow of t, so the clip runs backwards in time. With an estimated
    flow (farneback, dis, deepflow) the mask is Ruder's consistency + motion-boundary test on that flow, and the
    EPE is measured against the ground truth over the ground truth's valid pixels."""
    frames = scene.frames
    if flow == "gt":
        fwd, valid, epe = scene.flow_fwd, scene.valid, None
    else:
        fwd, valid, errs = [], [], []
        for t in range(len(frames) - 1):
            f = estimate_flow(frames[t + 1], frames[t], flow)   # frame t's pixel p is at p + f in t+1
            b = estimate_flow(frames[t], frames[t + 1], flow)
            fwd.append(f)
            valid.append(occlusion_mask(f, b))
            errs.append(endpoint_error(f, scene.flow_fwd[t], scene.valid[t]))
        fwd, valid, epe = np.stack(fwd), np.stack(valid), float(np.mean(errs))
    return EvalClip(scene.name, frames[::-1].copy(), fwd[::-1].copy(), valid[::-1].copy()), epe


def sintel_table(runners: dict[str, Runner], scenes: list[SintelScene], flow: str = "gt") -> dict:
    """{"scenes": [...], "rows": {model: {scene: E_temporal}}, "epe": {scene: EPE} (estimated flow only)}."""
    rows: dict[str, dict[str, float]] = {}
    epe: dict[str, float] = {}
    for scene in scenes:
        clip, e = scene_clip(scene, flow)
        if e is not None:
            epe[scene.name] = e
        for model, res in evaluate(runners, [clip]).items():
            rows.setdefault(model, {})[scene.name] = res["temporal_error"]
    return {"scenes": [s.name for s in scenes], "rows": rows, "epe": epe, "flow": flow}


def format_table(table: dict, label=lambda name: name) -> list[str]:
    """001 Table 2's layout: one row per method, one column per scene, plus the mean over the scenes."""
    scenes = table["scenes"]
    width = max(9, *(len(s) for s in scenes))
    lines = [f"{'method':<40}" + "".join(f" {s:>{width}}" for s in scenes) + f" {'mean':>{width}}"]

    def row(name, values):
        cells = [values.get(s) for s in scenes]
        got = [v for v in cells if v is not None]
        mean = f"{np.mean(got):{width}.4f}" if len(got) == len(scenes) else f"{'-':>{width}}"
        lines.append(f"{name[-40:]:<40}" + "".join(f" {v:{width}.4f}" if v is not None else f" {'-':>{width}}"
                                                   for v in cells) + f" {mean}")

    for name, values in table["rows"].items():
        row(label(name), values)
    if table.get("epe"):
        row(f"flow EPE px ({table['flow']} vs ground truth)", table["epe"])
    published = published_table2()
    if any(s in TABLE2_SCENES for s in scenes):
        lines.append("published (001 Table 2, style Candy, 1024x436, not comparable unless run the same way):")
        for name, values in published.items():
            row(name, values)
    return lines
