"""003's optimisation baselines, to compare the feed-forward models against on quality, temporal
error and speed.

* Gatys et al. (image): optimise the pixels of one image so that its VGG19 content matches the photo and its Gram
  matrices match the painting; initialised with the content image; L-BFGS or Adam (003: lr 0.02, betas 0.99/0.999,
  eps 0.1); stops after --iterations or when the loss moved less than 0.01 % over the last 50 iterations.
* Ruder et al. (video): frame by frame; from the second frame on, the initialisation is the previous stylized frame
  warped along the flow, and the loss adds w_T * mean(c * (x - warp(prev))^2) over the flow-trusted pixels c.

Inputs: --content IMAGE; --frames DIR (PNG/JPEG sequence, flow by OpenCV); or --sintel DIR --scene NAME (MPI
Sintel layout, ground-truth flow and masks: 001 Table 2's Ruder row). Settings: --preset gatys2016 (presets.json).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from vst.common.cli import check_pixels
from vst.common.errors import VstError
from vst.common.fsutil import atomic_write_text
from vst.common.images import IMAGE_SUFFIXES, load_image, resize_cover, save_png, to_tensor_batch
from vst.runtimes.spec import to_rgb
from vst.metrics.temporal import temporal_error
from vst.training import losses
from vst.training.presets import preset
from vst.training.vgg import load_vgg
from vst.video.flow import estimate_flow, occlusion_mask, warp


@dataclass
class OptimizeSettings:
    """The optimisation recipe; defaults are presets.json's gatys2016 (003)."""
    loss_net: str = "vgg19"
    content_layer: str = "relu4_2"
    style_layers: list = field(default_factory=lambda: ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    gram_norm: str = "chw"
    style_reduce: str = "mean"
    style_layer_mean: bool = True
    tv_form: str = "sq_mean"
    w_content: float = 1.0
    w_style: float = 1e6
    w_tv: float = 0.0
    w_temporal: float = 1e3
    optimizer: str = "lbfgs"
    iterations: int = 300
    adam_lr: float = 0.02
    adam_betas: list = field(default_factory=lambda: [0.99, 0.999])
    adam_eps: float = 0.1
    stop_tolerance: float = 1e-4      # relative loss change ...
    stop_patience: int = 50           # ... over this many iterations ends the optimisation early

    @classmethod
    def from_preset(cls, name: str) -> "OptimizeSettings":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in preset(name, optimize=True)["values"].items() if k in known})


class Optimizer:
    """One style image's targets, ready to stylize images and frames."""

    def __init__(self, settings: OptimizeSettings, vgg_path: str | None, style: np.ndarray):
        s = settings
        if s.optimizer not in ("lbfgs", "adam"):
            raise VstError(f"--optimizer must be lbfgs or adam, got {s.optimizer!r}")
        for name in ("iterations", "stop_patience"):
            if getattr(s, name) < 1:
                raise VstError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(s, name)}")
        for name in ("w_content", "w_style", "w_tv", "w_temporal", "adam_lr", "stop_tolerance"):
            value = getattr(s, name)
            if not np.isfinite(value) or value < 0:
                raise VstError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {value!r}")
        self.s = s
        self.layers = tuple(dict.fromkeys([*s.style_layers, s.content_layer]))
        self.vgg = load_vgg(vgg_path, s.loss_net, self.layers)
        with torch.no_grad():
            feats = self.vgg(to_tensor_batch([style]), tuple(s.style_layers))
        self.style_grams = {k: losses.gram(v, s.gram_norm) for k, v in feats.items()}

    def loss(self, x, content_feat, prior=None, prior_mask=None):
        s = self.s
        feats = self.vgg(x, self.layers)
        total = s.w_content * losses.content_loss(feats[s.content_layer], content_feat)
        total = total + s.w_style * losses.style_loss({k: feats[k] for k in s.style_layers}, self.style_grams,
                                                      s.gram_norm, s.style_reduce, s.style_layer_mean)
        if s.w_tv:
            total = total + s.w_tv * losses.tv_loss(x, s.tv_form)
        if prior is not None and s.w_temporal:
            total = total + s.w_temporal * losses.masked_temporal(x, prior, torch.zeros_like(x[:, :2]), prior_mask)
        return total

    def run(self, content: torch.Tensor, init: torch.Tensor | None = None, prior: torch.Tensor | None = None,
            prior_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """Stylize one 1x3xHxW [0, 1] image; prior (the warped previous output) adds Ruder's temporal term.
        Returns the image and {"iterations", "loss", "stopped_early", "seconds"}."""
        s = self.s
        t0 = time.perf_counter()
        with torch.no_grad():
            content_feat = self.vgg(content, (s.content_layer,))[s.content_layer]
        x = (content if init is None else init).clone().requires_grad_(True)
        if s.optimizer == "lbfgs":
            # one iteration per step(): the curvature history lives in the optimiser's state across calls
            opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=100)
        else:
            opt = torch.optim.Adam([x], lr=s.adam_lr, betas=tuple(s.adam_betas), eps=s.adam_eps)
        history: list[float] = []

        def closure():
            opt.zero_grad()
            loss = self.loss(x, content_feat, prior, prior_mask)
            loss.backward()
            return loss

        stopped = False
        for _ in range(s.iterations):
            loss = float(opt.step(closure).detach())
            if not np.isfinite(loss):
                raise VstError("the loss became infinite or NaN; lower --w-style or --adam-lr")
            history.append(loss)
            k = s.stop_patience
            if len(history) > k and abs(history[-k - 1] - loss) <= s.stop_tolerance * abs(history[-k - 1]):
                stopped = True
                break
        with torch.no_grad():
            final = float(self.loss(x, content_feat, prior, prior_mask))
        return x.detach().clamp(0, 1), {"iterations": len(history), "loss": final, "stopped_early": stopped,
                                        "seconds": time.perf_counter() - t0}

    def video(self, frames: np.ndarray, flows_bwd: np.ndarray, masks: np.ndarray, temporal: bool = True,
              warped_init: bool = True, log=lambda m: print(m, flush=True)) -> tuple[np.ndarray, list[dict]]:
        """Ruder et al.: frames T x H x W x 3 uint8, flows_bwd/masks (T-1) x ... as in vst.video.flow."""
        outs, infos = [], []
        prev = None
        for t, frame in enumerate(frames):
            content = to_tensor_batch([frame])
            prior = mask = None
            if prev is not None:
                flow = torch.from_numpy(flows_bwd[t - 1]).permute(2, 0, 1)[None].float()
                prior = warp(prev, flow)
                mask = torch.from_numpy(masks[t - 1].astype(np.float32))[None, None]
            y, info = self.run(content, prior if warped_init else None, prior if temporal else None, mask)
            outs.append(y)
            infos.append(info)
            prev = y
            log(f"frame {t + 1}/{len(frames)}: {info['iterations']} iterations, loss {info['loss']:.4g}, "
                f"{info['seconds']:.1f}s{' (early stop)' if info['stopped_early'] else ''}")
        rgb = (torch.cat(outs).permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)
        return rgb, infos


def _frames_dir(folder: Path, limit: int | None) -> list[np.ndarray]:
    if not folder.is_dir():
        raise VstError(f"--frames {folder} is not a folder of frame images")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if limit:
        paths = paths[:limit]
    if len(paths) < 2:
        raise VstError(f"{folder} holds {len(paths)} frame images; a video needs 2 at least")
    return [load_image(p) for p in paths]


def estimated_flows(frames: np.ndarray, backend: str) -> tuple[np.ndarray, np.ndarray]:
    """Backward flows and Ruder masks between consecutive frames by an OpenCV backend."""
    flows, masks = [], []
    for t in range(len(frames) - 1):
        bwd = estimate_flow(frames[t], frames[t + 1], backend)
        fwd = estimate_flow(frames[t + 1], frames[t], backend)
        flows.append(bwd)
        masks.append(occlusion_mask(bwd, fwd))
    return np.stack(flows), np.stack(masks)


def _size(size: tuple[int, int] | None, frame: np.ndarray) -> tuple[int, int]:
    """--size if given, else the content's own size."""
    return size or (frame.shape[1], frame.shape[0])


def run(a, settings: OptimizeSettings) -> int:
    """vst-optimize's work once its arguments are checked (training/cli.py): `a` holds the command's options.
    One photo (a.content) to a PNG, or a video (a.frames_dir, or a.sintel with a.scene) to a folder of frames
    with summary.json."""
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    style = load_image(a.style_image)
    if a.content:
        if out.suffix.lower() != ".png" or out.is_dir():
            raise VstError(f"--out {out}: give a .png file path for a single image")
        photo = load_image(a.content)
        w, h = _size(a.size, photo)
        check_pixels(w, h)
        opt = Optimizer(settings, a.vgg, resize_cover(style, w, h))
        y, info = opt.run(to_tensor_batch([resize_cover(photo, w, h)]))
        save_png(out, to_rgb(y.numpy()))
        print(f"wrote {out} ({w}x{h}): {info['iterations']} iterations, loss {info['loss']:.4g}, "
              f"{info['seconds']:.1f}s{' (early stop)' if info['stopped_early'] else ''}")
        return 0
    if out.exists() and not out.is_dir():
        raise VstError(f"--out {out} is a file; give a folder for the stylized frames")
    if a.sintel:
        from vst.metrics.sintel import scene_clip, sintel_scenes
        first = sintel_scenes(a.sintel, [a.scene], a.max_frames)[0]
        size = _size(a.size, first.frames[0])
        scene = sintel_scenes(a.sintel, [a.scene], a.max_frames, size=size)[0]
        clip, _ = scene_clip(scene)  # runs backwards in time: eq. 8's forward flow as a backward flow
        frames, flows, masks = clip.frames, clip.flow_bwd, clip.mask
        reverse, source = True, f"Sintel {a.scene}, ground-truth flow"
    else:
        raw = _frames_dir(Path(a.frames_dir), a.max_frames)
        size = _size(a.size, raw[0])
        frames = np.stack([resize_cover(f, *size) for f in raw])
        flows, masks = estimated_flows(frames, a.flow)
        reverse, source = False, f"{a.frames_dir}, {a.flow} flow"
    check_pixels(*size)
    opt = Optimizer(settings, a.vgg, resize_cover(style, *size))
    t0 = time.perf_counter()
    # a Sintel scene is stylized in the order eq. 8 compares it (last frame first); files keep frame order
    styled, infos = opt.video(frames, flows, masks, temporal=not a.no_temporal, warped_init=not a.content_init)
    seconds = time.perf_counter() - t0
    err = temporal_error(styled, flows, masks)
    out.mkdir(parents=True, exist_ok=True)
    n = len(styled)
    for i, img in enumerate(styled[::-1] if reverse else styled):
        save_png(out / f"frame_{i + 1:04d}.png", img)
    summary = {"source": source, "size": list(size), "frames": n, "settings": asdict(settings), "preset": a.preset,
               "temporal": not a.no_temporal, "warped_init": not a.content_init,
               "temporal_error": err, "seconds": seconds, "seconds_per_frame": seconds / n, "per_frame": infos}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    print(f"wrote {n} frames to {out}: E_temporal {err:.4f} (001 eq. 8 with the flow used), "
          f"{seconds / n:.2f} s/frame")
    return 0
