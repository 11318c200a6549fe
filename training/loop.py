"""The training loop for both stages of 000, resumable from atomic checkpoints.

Stage 1 (000 eq. 1): per-image loss, either perceptual (VGG16/19 content + Gram style + TV) or distillation from a
teacher network. Stage 2 (000 eq. 2): the stage-1 loss on two frames plus output and feature temporal losses
through the (cached) backward flow and occlusion mask. The loss forms (Gram normalisation, TV form, feature tap,
luminance term, pair gaps) default to vst's original choices; `--preset` sets them as a seed paper did
(presets.json).
"""
from __future__ import annotations

import json
import pickle
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vst.common.cli import check_pixels
from vst.common.errors import VstError, excerpt, first_line
from vst.common.fsutil import atomic_path
from vst.common.images import load_image, resize_cover, to_tensor_batch
from vst.models import create_model, load_model, read_metadata, save_model
from vst.models.stylizer import Stylizer, check_input_size
from vst.training import losses
from vst.runtimes.stylizer import Runner, load_runner
from vst.training.presets import preset
from vst.training.data import clips_to_pairs, photo_crops, synthetic_clips, training_photos
from vst.video.clips import cache_root, cached_arrays, video_clips
from vst.training.vgg import CONTENT_LAYER, STYLE_LAYERS, check_layers, load_vgg


@dataclass
class Recipe:
    """Everything that determines a trained model; stored in the checkpoint's metadata."""
    stage: int = 1
    model: str = "kunster"
    config: dict = field(default_factory=dict)
    init: str | None = None               # checkpoint to start from (stage 2: the stage-1 model)
    teacher: str | None = None            # distillation target: multistyle26:N, file.onnx[:N] or a vst checkpoint
    vgg: str | None = None                # perceptual losses: torchvision-layout VGG16 state_dict
    style_image: str | None = None
    size: int = 128                       # square training crops / frames
    steps: int = 1000
    batch: int = 4
    lr: float = 1e-3
    seed: int = 0
    photos: str | None = None             # stage-1 image folder (default: package photos minus held-out ones)
    videos: str | None = None             # stage-2 video folder (default: synthetic clips with exact flow)
    crops: int = 256
    clips: int = 48
    clip_frames: int = 3
    w_distill: float = 1.0
    w_content: float = 1e5                # perceptual weights as in pytorch/examples fast_neural_style
    w_style: float = 1e10
    w_tv: float = 0.0
    w_temporal_output: float = 0.0        # lambda_o of 000 eq. 2
    w_temporal_feature: float = 0.0       # lambda_f of 000 eq. 2
    w_noise: float = 0.0                  # 003 noise stability
    noise_fraction: float = 0.25
    noise_amplitude: float = 0.1
    # Loss forms (added with the presets). Their defaults are vst's original choices, with which the shipped
    # models were trained; to_json leaves them out while they hold the default, so recipes recorded before
    # they existed still compare equal (resume, skip-if-done, cache keys).
    preset: str | None = None             # presets.json name that set the values below
    loss_net: str = "vgg16"               # "vgg16" | "vgg19"
    content_layer: str = CONTENT_LAYER
    style_layers: list = field(default_factory=lambda: list(STYLE_LAYERS))
    gram_norm: str = "chw"                # "chw" (Johnson) | "hw" (001 eq. 4)
    style_reduce: str = "mean"            # "mean" (001 eq. 5, 1/C^2 ||.||_F^2) | "sum" (||.||_F^2)
    style_layer_mean: bool = False        # average the per-layer style losses (003) instead of summing
    tv_form: str = "sq_mean"              # "sq_mean" | "iso_sum" (001 eq. 6) | "abs_sum" (pytorch-reconet)
    temporal_output_form: str = "plain"   # "plain" (001 eq. 7) | "luminance" (ReCoNet)
    feature_tap: str = "encoder"          # "encoder" (before the residual blocks) | "residuals" (ReCoNet: after)
    loss_range: str = "01"                # images in TV and output temporal losses: "01" | "pm1" (ReCoNet's [-1, 1])
    pair_gaps: list = field(default_factory=lambda: [1])  # stage 2 frame pairs (t-g, t); 001 Table 3: [1, 2]

    def to_json(self) -> dict:
        data = asdict(self)
        for f in fields(self):
            if f.name in LOSS_FORM_FIELDS and data[f.name] == _field_default(f):
                del data[f.name]
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Recipe":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


LOSS_FORM_FIELDS = ("preset", "loss_net", "content_layer", "style_layers", "gram_norm", "style_reduce",
                    "style_layer_mean", "tv_form", "temporal_output_form", "feature_tap", "loss_range", "pair_gaps")
FORM_CHOICES = {"loss_net": ("vgg16", "vgg19"), "gram_norm": losses.GRAM_NORMS,
                "style_reduce": losses.STYLE_REDUCTIONS, "tv_form": losses.TV_FORMS,
                "temporal_output_form": losses.TEMPORAL_OUTPUT_FORMS, "feature_tap": ("encoder", "residuals"),
                "loss_range": ("01", "pm1")}


def _field_default(f):
    return f.default_factory() if callable(f.default_factory) else f.default


def forward_with_features(model: Stylizer, x: torch.Tensor, tap: str = "encoder") -> tuple[torch.Tensor, torch.Tensor]:
    """Stylizer.forward that also returns the feature map F_t of the feature temporal loss: the encoder output
    before the residual blocks (tap="encoder", vst's original choice) or after them (tap="residuals": ReCoNet,
    whose encoder contains the residual blocks; 004 Fig. 47)."""
    feat = model.encoder(model.prepare(x))
    res = model.residuals(feat)
    y = model.head(model.decoder(res))
    if model.spec.out_act == "tanh":
        y = (torch.tanh(y) + 1) * 0.5
    return y, (res if tap == "residuals" else feat)


def _to_range(img: torch.Tensor, loss_range: str) -> torch.Tensor:
    return img * 2 - 1 if loss_range == "pm1" else img


class Objective:
    """Per-frame (spatial) loss: distillation or perceptual. Returns (loss, parts)."""

    def __init__(self, recipe: Recipe, teacher: Runner | None):
        self.recipe = recipe
        self.teacher = teacher
        self.vgg = None
        if teacher is None:
            self.layers = tuple(dict.fromkeys([*recipe.style_layers, recipe.content_layer]))
            self.vgg = load_vgg(recipe.vgg, recipe.loss_net, self.layers)
            if not recipe.style_image:
                raise VstError("perceptual training needs --style-image (the painting to learn)")
            style = resize_cover(load_image(recipe.style_image), recipe.size, recipe.size)
            with torch.no_grad():
                feats = self.vgg(to_tensor_batch([style]), tuple(recipe.style_layers))
            self.style_grams = {k: losses.gram(v, recipe.gram_norm) for k, v in feats.items()}

    def __call__(self, out: torch.Tensor, x: torch.Tensor, target: torch.Tensor | None):
        r = self.recipe
        parts: dict[str, torch.Tensor] = {}
        if self.vgg is None:
            parts["distill"] = r.w_distill * losses.distill_loss(out, target)
        else:
            feats = self.vgg(out, self.layers)
            with torch.no_grad():
                content = self.vgg(x, (r.content_layer,))[r.content_layer]
            parts["content"] = r.w_content * losses.content_loss(feats[r.content_layer], content)
            parts["style"] = r.w_style * losses.style_loss({k: feats[k] for k in r.style_layers}, self.style_grams,
                                                           r.gram_norm, r.style_reduce, r.style_layer_mean)
        if r.w_tv:
            parts["tv"] = r.w_tv * losses.tv_loss(_to_range(out, r.loss_range), r.tv_form)
        return sum(parts.values()), parts


def _teacher_outputs(teacher: Runner, images: np.ndarray, chunk: int = 16) -> np.ndarray:
    outs = []
    for i in range(0, len(images), chunk):
        with torch.no_grad():
            outs.append(teacher(to_tensor_batch(list(images[i:i + chunk]))).numpy().astype(np.float16))
    return np.concatenate(outs)


def build_dataset(recipe: Recipe, teacher: Runner | None) -> dict[str, np.ndarray]:
    """Stage 1: {"x", ["target"]}; stage 2: {"prev", "next", "flow", "mask", ["t_prev", "t_next"]}. Cached."""
    tid = teacher.identity if teacher else None
    size = recipe.size
    if recipe.stage == 1:
        key = {"kind": "crops", "photos": recipe.photos, "size": size, "count": recipe.crops, "seed": recipe.seed}
        data = cached_arrays("crops", key, lambda: {"x": photo_crops(list(training_photos(recipe.photos).values()),
                                                                      size, recipe.crops, recipe.seed)})
        if teacher:
            data.update(cached_arrays("teacher", {**key, "teacher": tid},
                                      lambda: {"target": _teacher_outputs(teacher, data["x"])}))
        return data
    key = {"kind": "pairs", "videos": recipe.videos, "photos": recipe.photos, "size": size, "count": recipe.clips,
           "frames": recipe.clip_frames, "seed": recipe.seed, "masks": "ruder-v1"}
    if list(recipe.pair_gaps) != [1]:
        key["gaps"] = list(recipe.pair_gaps)  # only then: the cache of consecutive pairs keeps its key

    def make_pairs():
        if recipe.videos:
            clips = video_clips(recipe.videos, (size, size), recipe.clip_frames, recipe.clips)
        else:
            photos = list(training_photos(recipe.photos).values())
            clips = synthetic_clips(photos, (size, size), recipe.clip_frames, recipe.clips, recipe.seed)
        return clips_to_pairs(clips, recipe.pair_gaps)

    data = cached_arrays("pairs", key, make_pairs)
    if teacher:
        data.update(cached_arrays("teacher", {**key, "teacher": tid},
                                  lambda: {"t_prev": _teacher_outputs(teacher, data["prev"]),
                                           "t_next": _teacher_outputs(teacher, data["next"])}))
    return data


def _images(arr: np.ndarray) -> torch.Tensor:
    return to_tensor_batch(list(arr))


def _floats(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(arr.astype(np.float32))


def default_run_dir(out: Path, recipe: Recipe) -> Path:
    digest = _recipe_digest(recipe)
    return cache_root() / "runs" / f"{out.stem}-{digest}"


def _recipe_digest(recipe: Recipe) -> str:
    import hashlib
    return hashlib.sha1(json.dumps(recipe.to_json(), sort_keys=True).encode()).hexdigest()[:12]


def _initial_model(recipe: Recipe) -> Stylizer:
    if recipe.init:
        from vst.models.resolver import resolve_model
        model = resolve_model(recipe.init).require("vst-train --init").module()
        recipe.model, recipe.config = model.arch, dict(model.config)
        return model
    return create_model(recipe.model, **recipe.config)


def _check_settings(recipe: Recipe, out: Path, threads: int, checkpoint_every: int) -> None:
    if recipe.stage not in (1, 2):
        raise VstError(f"stage must be 1 or 2, got {recipe.stage}")
    if out.suffix != ".safetensors":
        raise VstError(f"--out {out}: vst-train writes a vst checkpoint; give a path ending in .safetensors "
                       "(convert it afterwards with vst-convert)")
    if out.is_dir():
        raise VstError(f"--out {out} is a folder; give a file path ending in .safetensors")
    for flag, value, least in (("--steps", recipe.steps, 1), ("--batch", recipe.batch, 1), ("--crops", recipe.crops, 1),
                               ("--clips", recipe.clips, 1), ("--clip-frames", recipe.clip_frames, 2),
                               ("--checkpoint-every", checkpoint_every, 1), ("--threads", threads, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise VstError(f"{flag} must be a whole number of at least {least}, got {value!r}")
    check_pixels(recipe.size, recipe.size)
    if not (isinstance(recipe.lr, (int, float)) and np.isfinite(recipe.lr) and recipe.lr > 0):
        raise VstError(f"--lr must be a positive number, got {recipe.lr!r}")
    for name, allowed in FORM_CHOICES.items():
        if getattr(recipe, name) not in allowed:
            raise VstError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, got {getattr(recipe, name)!r}")
    check_layers(recipe.loss_net, [*recipe.style_layers, recipe.content_layer])
    if not recipe.style_layers:
        raise VstError("--style-layers names no layer")
    gaps = recipe.pair_gaps
    if (not gaps or any(isinstance(g, bool) or not isinstance(g, int) or g < 1 for g in gaps)
            or (recipe.stage == 2 and max(gaps) >= recipe.clip_frames)):
        raise VstError(f"--pair-gaps must be whole numbers >= 1 and below --clip-frames ({recipe.clip_frames}), "
                       f"got {gaps!r}")
    for name in ("w_distill", "w_content", "w_style", "w_tv", "w_temporal_output", "w_temporal_feature", "w_noise",
                 "noise_amplitude"):
        value = getattr(recipe, name)
        if not np.isfinite(value) or value < 0:
            raise VstError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {value!r}")
    if not 0 <= recipe.noise_fraction <= 1:
        raise VstError(f"--noise-fraction must be in [0, 1], got {recipe.noise_fraction!r}")


def tensors_problem(saved, reference: dict[str, torch.Tensor]) -> str | None:
    """Why `saved` (from a resume state) cannot stand in for the tensors of `reference` (a model's state_dict),
    or None: the same names, shapes and dtypes, finite values. Checked before anything is loaded, so a state
    that torch reads without complaint but that was written by something else restarts the run instead of
    failing in load_state_dict (or in a Flower worker) on every rerun."""
    if not isinstance(saved, dict) or set(saved) != set(reference):
        return "its weights are not this model's"
    for name, ref in reference.items():
        value = saved[name]
        if not isinstance(value, torch.Tensor) or value.shape != ref.shape or value.dtype != ref.dtype:
            return f"weight {name!r} is not this model's"
    bad = nonfinite(saved)
    return f"weight {bad[0]!r} is not finite" if bad else None


def nonfinite(tensors: dict) -> list[str]:
    """Names of the floating-point tensors in `tensors` holding NaN or infinity."""
    return [k for k, v in tensors.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
            and not bool(torch.isfinite(v).all())]


def diverged(recipe: Recipe, where: str, what: str) -> VstError:
    """The one-line stop when training produces non-finite numbers: nothing non-finite is ever written."""
    return VstError(f"training diverged {where}: {what} is not finite; nothing was written from it; lower --lr "
                    f"(now {recipe.lr:g}) or the loss weights")


def _is_count(value, least: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _apply_state(state: dict, recipe: Recipe, model, opt, gen) -> tuple[int, list] | str:
    """Load a resume state into model, optimizer and generator: (step, history), or why it cannot be (then the
    three may be partly loaded and must be made afresh)."""
    step, history, rng = state["step"], state["history"], state["rng"]
    if not _is_count(step) or step > recipe.steps:
        return f"step {excerpt(repr(step), 40)} is not a step of this run"
    if not (isinstance(history, list) and all(isinstance(h, (list, tuple)) and len(h) == 2 and _is_count(h[0])
                                              and isinstance(h[1], (int, float)) for h in history)):
        return "its loss history is malformed"
    ref_rng = gen.get_state()
    if not isinstance(rng, torch.Tensor) or rng.dtype != ref_rng.dtype or rng.shape != ref_rng.shape:
        return "its random generator state is malformed"
    problem = tensors_problem(state["model"], model.state_dict())
    if problem:
        return problem
    try:
        opt.load_state_dict(state["opt"])
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError, AttributeError) as exc:
        return f"its optimizer state is malformed ({first_line(exc, 80)})"
    for group in opt.param_groups:
        for p in group["params"]:
            for name, value in opt.state.get(p, {}).items():
                if name != "step" and (not isinstance(value, torch.Tensor) or value.shape != p.shape):
                    return "its optimizer state is not this model's"
    model.load_state_dict(state["model"])
    gen.set_state(rng)
    return step, [list(h) for h in history]


def _load_state(state_path: Path, log) -> dict | None:
    """The run's resumable state, or None to start over when there is none or it is damaged (a disk that
    filled or a kill outside the atomic write): a broken state must not stop every rerun."""
    if not state_path.is_file():
        return None
    try:
        state = torch.load(str(state_path), map_location="cpu", weights_only=True)
        if isinstance(state, dict) and {"recipe", "model", "opt", "rng", "step", "history"} <= set(state):
            return state
        why = "missing entries"
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
        why = first_line(exc, 120)
    log(f"warning: {state_path} is damaged ({why}); training from step 0")
    return None


def _finished(out: Path, recipe: Recipe, log) -> bool:
    """Whether `out` already holds this recipe's result: the recipe in its metadata, and whole (it loads, its
    weights are finite). A file cut short after its header must be trained again, not taken as done."""
    try:
        if read_metadata(out)["extra"].get("recipe") != recipe.to_json():
            return False
        bad = nonfinite(load_model(out).state_dict())
        why = f"weight {bad[0]!r} is not finite" if bad else None
    except VstError as exc:
        why = first_line(exc, 120)
    if why:
        log(f"{out} is not a whole result of this recipe ({why}); training again")
        return False
    return True


def _print(text: str) -> None:
    print(text, flush=True)  # progress must show through nohup/pipes during minutes-long runs


def train(recipe: Recipe, out: str | Path, run_dir: str | Path | None = None, threads: int = 1,
          checkpoint_every: int = 100, log: Callable[[str], None] = _print,
          extra_metadata: dict | None = None) -> Path:
    """Train per `recipe`, resuming from run_dir's checkpoint; write the final model to `out` (atomically)."""
    out = Path(out)
    _check_settings(recipe, out, threads, checkpoint_every)
    torch.set_num_threads(threads)
    if recipe.stage == 2 and not recipe.init and not (recipe.preset and preset(recipe.preset).get("single_stage")):
        raise VstError("stage 2 fine-tunes a stage-1 model: pass --init STAGE1_CHECKPOINT")
    if not (recipe.teacher or recipe.vgg):
        raise VstError("give a training target: --teacher multistyle26:N (distillation, no VGG needed) "
                       "or --vgg VGG16_OR_19.pth --style-image PAINTING (perceptual losses)")
    check_input_size(recipe.size, recipe.size, recipe.model)
    def fresh():
        with torch.random.fork_rng():
            torch.manual_seed(recipe.seed)  # --seed fixes the initial weights too, not only the batches
            model = _initial_model(recipe)
        return model, torch.optim.Adam(model.parameters(), lr=recipe.lr), torch.Generator().manual_seed(recipe.seed)

    model, opt, gen = fresh()
    if out.is_file() and _finished(out, recipe, log):
        log(f"{out} already holds this recipe's result; nothing to do")
        return out
    teacher = load_runner(recipe.teacher) if recipe.teacher else None
    objective = Objective(recipe, teacher)
    t0 = time.time()
    data = build_dataset(recipe, teacher)
    n_items = len(data["x"] if recipe.stage == 1 else data["prev"])
    log(f"data: {n_items} {'crops' if recipe.stage == 1 else 'frame pairs'} of {recipe.size}px "
        f"({time.time() - t0:.1f}s, cached under {cache_root()})")

    run_dir = Path(run_dir) if run_dir else default_run_dir(out, recipe)
    state_path = run_dir / "state.pt"
    step, history = 0, []
    state = _load_state(state_path, log)
    if state is not None:
        try:
            saved_recipe = json.loads(state["recipe"])
        except (TypeError, ValueError, RecursionError):
            saved_recipe = None
        if saved_recipe is None:
            applied = "its recipe is malformed"
        elif saved_recipe != recipe.to_json():
            raise VstError(f"{run_dir} holds a run of another recipe; pass a new --run-dir or delete that folder")
        else:
            applied = _apply_state(state, recipe, model, opt, gen)
        if isinstance(applied, str):
            log(f"warning: {state_path} is damaged ({applied}); training from step 0")
            model, opt, gen = fresh()
        else:
            step, history = applied
            log(f"resuming at step {step} from {state_path}")

    def save_state():
        bad = nonfinite(model.state_dict())
        if bad:
            raise diverged(recipe, f"by step {step}", f"weight {bad[0]!r}")
        with atomic_path(state_path, suffix=".pt.tmp") as tmp:
            torch.save({"recipe": json.dumps(recipe.to_json()), "model": model.state_dict(),
                        "opt": opt.state_dict(), "rng": gen.get_state(), "step": step, "history": history},
                       str(tmp))

    model.train()
    every = max(1, min(50, recipe.steps // 10))  # loss history / progress interval
    t0, window = time.time(), []
    while step < recipe.steps:
        loss, parts = train_step(recipe, model, objective, data, opt, gen, n_items)
        step += 1
        if not np.isfinite(loss.item()):
            raise diverged(recipe, f"at step {step}", f"the loss ({loss.item()})")
        window.append(loss.item())
        if step % every == 0 or step == recipe.steps:
            history.append([step, float(np.mean(window))])
            window = []
            text = " ".join(f"{k}={v.item():.5f}" for k, v in parts.items())
            log(f"step {step}/{recipe.steps} loss={history[-1][1]:.5f} {text} ({time.time() - t0:.0f}s)")
        if step % checkpoint_every == 0 and step < recipe.steps:
            save_state()
    model.eval()
    bad = nonfinite(model.state_dict())
    if bad:
        raise diverged(recipe, f"by step {step}", f"weight {bad[0]!r}")
    meta = {"recipe": recipe.to_json(), "stage": recipe.stage, "teacher": recipe.teacher,
            "loss_history": history, **(extra_metadata or {})}
    save_model(model, out, metadata=meta)
    if state_path.is_file():
        state_path.unlink()  # the finished model is the result now; a rerun sees it and skips
    log(f"wrote {out}")
    return out


def train_step(recipe: Recipe, model: Stylizer, objective: Objective, data: dict, opt: torch.optim.Optimizer,
               gen: torch.Generator, n_items: int, pool: np.ndarray | None = None):
    """One optimizer step on a random batch of `recipe.batch` items, drawn from the indices in `pool` (a client's
    shard in federated training) or from all `n_items`. Returns (loss, parts) of the batch before the step."""
    idx = torch.randint(0, n_items if pool is None else len(pool), (recipe.batch,), generator=gen).numpy()
    if pool is not None:
        idx = pool[idx]
    loss, parts = _step_loss(recipe, model, objective, data, idx, gen)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss, parts


def _step_loss(recipe: Recipe, model: Stylizer, objective: Objective, data: dict, idx: np.ndarray,
               gen: torch.Generator):
    if recipe.stage == 1:
        x = _images(data["x"][idx])
        target = _floats(data["target"][idx]) if "target" in data else None
        out = model(x)
        loss, parts = objective(out, x, target)
        outs, inputs = [out], [x]
    else:
        x0, x1 = _images(data["prev"][idx]), _images(data["next"][idx])
        flow = torch.from_numpy(data["flow"][idx]).permute(0, 3, 1, 2).float()
        mask = torch.from_numpy(data["mask"][idx].astype(np.float32))[:, None]
        t0 = _floats(data["t_prev"][idx]) if "t_prev" in data else None
        t1 = _floats(data["t_next"][idx]) if "t_next" in data else None
        out0, f0 = forward_with_features(model, x0, recipe.feature_tap)
        out1, f1 = forward_with_features(model, x1, recipe.feature_tap)
        l0, p0 = objective(out0, x0, t0)
        l1, p1 = objective(out1, x1, t1)
        parts = {k: p0[k] + p1[k] for k in p0}
        if recipe.w_temporal_output:
            o0, o1 = _to_range(out0, recipe.loss_range), _to_range(out1, recipe.loss_range)
            if recipe.temporal_output_form == "luminance":
                term = losses.luminance_temporal(o1, o0, _to_range(x1, recipe.loss_range),
                                                 _to_range(x0, recipe.loss_range), flow, mask)
            else:
                term = losses.masked_temporal(o1, o0, flow, mask)
            parts["temp_out"] = recipe.w_temporal_output * term
        if recipe.w_temporal_feature:
            parts["temp_feat"] = recipe.w_temporal_feature * losses.feature_temporal(f1, f0, flow, mask)
        loss = sum(parts.values())
        outs, inputs = [out0, out1], [x0, x1]
    if recipe.w_noise:
        noisy = losses.add_pixel_noise(inputs[-1], recipe.noise_fraction, recipe.noise_amplitude, gen)
        parts["noise"] = recipe.w_noise * losses.noise_stability_loss(outs[-1], model(noisy))
        loss = loss + parts["noise"]
    return loss, parts
