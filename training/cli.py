"""`vst-train`: stage 1 (perceptual or distillation) and stage 2 (temporal fine-tuning) of 000's two-stage training."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from vst.common.cli import (MAX_LR, fraction, learning_rate, loss_weight, number, parse_assignments, positive_int,
                            run_cli, seed, side_or_size_arg, threads)
from vst.common.errors import VstError
from vst.common.fsutil import check_creatable_dir, check_not_input, prune_on_failure
from vst.training import optimize
from vst.training.loop import FORM_CHOICES, Recipe, train
from vst.training.presets import preset, preset_names, preset_values
from vst.training.study import STUDIES
from vst.video.flow import FLOW_BACKENDS

# --study's short schedule: 15 configurations in about 30 min on a quiet 2-core CPU (docs/training.md)
STUDY_DEFAULTS = {"size": 64, "steps": 500}


def _config(pairs: list[str]) -> dict:
    out = {}
    for key, value in parse_assignments(pairs, "--set", "alpha=0.25").items():
        try:
            out[key] = float(value) if any(c in value for c in ".e") or value.isdigit() else value
        except ValueError:
            out[key] = value
        if isinstance(out[key], float) and out[key].is_integer() and key not in ("alpha", "beta"):
            out[key] = int(out[key])
    return out


def build_parser() -> argparse.ArgumentParser:
    d = Recipe()
    p = argparse.ArgumentParser(prog="vst-train", description=__doc__)
    p.add_argument("--stage", type=int, choices=(1, 2), default=1)
    p.add_argument("--preset", choices=preset_names(),
                   help="set loss network, layers, Gram/TV forms, weights, lr, batch, size and pair gaps as that "
                        "paper did (training/presets.json; recorded in the checkpoint); flags given here win")
    p.add_argument("--model", help=f"zoo architecture or named config (stage 1; default {d.model}, or the "
                                   "preset's network)")
    p.add_argument("--set", dest="config", action="append", default=[], metavar="KEY=VALUE",
                   help="architecture option, e.g. --set alpha=0.25 --set beta=1.0")
    p.add_argument("--init", help="start from this vst checkpoint (required for stage 2: the stage-1 model)")
    p.add_argument("--teacher", help="distill this network: multistyle26:STYLE, model.onnx[:STYLE] or a vst checkpoint")
    p.add_argument("--vgg", help="VGG16/VGG19 state_dict (torchvision layout) for perceptual losses")
    p.add_argument("--loss-net", choices=FORM_CHOICES["loss_net"], help=f"loss network (default {d.loss_net})")
    p.add_argument("--content-layer", help=f"content layer (default {d.content_layer})")
    p.add_argument("--style-layers", help=f"comma-separated style layers (default {','.join(d.style_layers)})")
    for name in ("gram_norm", "style_reduce", "tv_form", "temporal_output_form", "feature_tap", "loss_range"):
        p.add_argument(f"--{name.replace('_', '-')}", choices=FORM_CHOICES[name],
                       help=f"default {getattr(d, name)}; see docs/training.md")
    p.add_argument("--pair-gaps", help="stage 2: comma-separated frame gaps of the training pairs (default 1; "
                                       "001 Table 3 uses 1,2)")
    p.add_argument("--style-image", help="style painting for perceptual losses")
    p.add_argument("--photos", help="stage 1: folder of training images (default: package photos)")
    p.add_argument("--videos", help="stage 2: folder of training videos (default: synthetic clips, exact flow)")
    p.add_argument("--size", type=positive_int, help=f"square training side (default {d.size}; with --study "
                                            f"{STUDY_DEFAULTS['size']})")
    p.add_argument("--steps", type=positive_int, help=f"default {d.steps}; with --study {STUDY_DEFAULTS['steps']}")
    p.add_argument("--batch", type=positive_int, help=f"default {d.batch}")
    p.add_argument("--lr", type=learning_rate, help=f"default {d.lr:g}; above 0, at most {MAX_LR:g}")
    p.add_argument("--seed", type=seed, default=d.seed)
    p.add_argument("--crops", type=positive_int, default=d.crops, help="stage 1: number of cached training crops")
    p.add_argument("--clips", type=positive_int, default=d.clips,
                   help="stage 2: number of clips (per video with --videos)")
    p.add_argument("--clip-frames", type=number(int, 2), default=d.clip_frames)
    for name in ("distill", "content", "style", "tv", "temporal_output", "temporal_feature", "noise"):
        p.add_argument(f"--w-{name.replace('_', '-')}", type=loss_weight, default=None,
                       help=f"weight of the {name.replace('_', ' ')} loss (default {getattr(d, 'w_' + name):g}"
                            + ("; stage 2 default 10" if name == "temporal_output" else "")
                            + ("; stage 2 default 1" if name == "temporal_feature" else "") + ")")
    p.add_argument("--noise-fraction", type=fraction, default=d.noise_fraction)
    p.add_argument("--noise-amplitude", type=loss_weight, default=d.noise_amplitude)
    p.add_argument("--out", help="checkpoint to write (loadable by vst.models.load_model); required but with "
                                 "--build-shipped")
    p.add_argument("--run-dir", help="where resumable state lives (default: under ~/.cache/vst/runs)")
    p.add_argument("--checkpoint-every", type=positive_int, default=100)
    p.add_argument("--federated", type=positive_int, metavar="N",
                   help="train N edge clients on disjoint shards and average them each round on Flower (002 Alg. 2); "
                        "--steps is then the local steps per client per round")
    p.add_argument("--rounds", type=positive_int, default=5,
                   help="--federated: averaging rounds (saved after each beside --out; a rerun continues, a larger "
                        "--rounds extends)")
    p.add_argument("--eval-crops", type=positive_int, default=16,
                   help="--federated: held-out crops the averaged model's loss is measured on after each round")
    p.add_argument("--build-shipped", nargs="*", metavar="NAME",
                   help="maintainers: train the recipes of the models vst ships (models/trained/; all, or the NAMEs; "
                        "resumable), measure them and rewrite their README (vst.training.ship)")
    p.add_argument("--measure-only", action="store_true",
                   help="with --build-shipped: do not train, measure the shipped files again")
    p.add_argument("--study", choices=STUDIES,
                   help="000 Fig. 8: distil every Table II configuration from --teacher with one short stage-1 "
                        "recipe and measure each (PSNR vs teacher, temporal error); --out is then a folder "
                        "(study.json, grid.png, weights); rerunning trains only configurations without a record")
    p.add_argument("--configs", help="--study: comma-separated Table II ids or names (default: all 15)")
    p.add_argument("--eval-size", type=number(int, 16), default=128,
                   help="--study: side of the held-out photos and clips")
    p.add_argument("--eval-frames", type=number(int, 2), default=6, help="--study: frames per held-out clip")
    p.add_argument("--threads", type=threads, default=1,
                   help="torch CPU threads (default 1: small models gain little from more, and shared cores thrash)")
    return p


# Stage-2 temporal weights when the user gives none (tuned on the shipped kunster models; see docs/training.md).
STAGE2_DEFAULTS = {"w_temporal_output": 10.0, "w_temporal_feature": 1.0}


def _gaps(text: str) -> list[int]:
    try:
        return [int(g) for g in text.split(",")]
    except ValueError:
        raise VstError(f"--pair-gaps {text!r} is not a comma-separated list of whole numbers (e.g. 1,2)") from None


def recipe_from_args(args) -> Recipe:
    """Flags given > the preset's values > Recipe defaults (and STAGE2_DEFAULTS without a preset)."""
    r = Recipe(stage=args.stage, config=_config(args.config), init=args.init,
               teacher=args.teacher, vgg=args.vgg, style_image=args.style_image,
               steps=Recipe().steps if args.steps is None else args.steps,
               seed=args.seed, photos=args.photos, videos=args.videos,
               crops=args.crops, clips=args.clips, clip_frames=args.clip_frames,
               noise_fraction=args.noise_fraction, noise_amplitude=args.noise_amplitude)
    if args.preset:
        r.preset = args.preset
        if not args.init:
            r.model = preset(args.preset).get("model", r.model)
        for key, value in preset_values(args.preset, args.stage).items():
            setattr(r, key, list(value) if isinstance(value, list) else value)
    given = {"model": args.model, "size": args.size, "batch": args.batch, "lr": args.lr, "loss_net": args.loss_net,
             "content_layer": args.content_layer,
             # given but empty is an error the recipe check names, not the default
             "style_layers": [n for n in args.style_layers.split(",") if n.strip()]
             if args.style_layers is not None else None,
             "pair_gaps": _gaps(args.pair_gaps) if args.pair_gaps is not None else None}
    for name in ("gram_norm", "style_reduce", "tv_form", "temporal_output_form", "feature_tap", "loss_range"):
        given[name] = getattr(args, name)
    for name in ("distill", "content", "style", "tv", "temporal_output", "temporal_feature", "noise"):
        value = getattr(args, f"w_{name}")
        if value is None and args.stage == 2 and not args.preset:
            value = STAGE2_DEFAULTS.get(f"w_{name}")
        given[f"w_{name}"] = value
    for key, value in given.items():
        if value is not None:
            setattr(r, key, value)
    return r


def _config_names(text: str | None) -> list[str] | None:
    if not text:
        return None
    names = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        names.append(f"kunster-t2-{int(item):02d}" if item.isdigit() else item)
    return names


def _study(args) -> int:
    from vst.training.study import run_study
    flags = [f"--{f.replace('_', '-')}" for f in ("preset", "model", "init", "vgg", "style_image", "federated")
             if getattr(args, f) is not None] + (["--set"] if args.config else []) + (["--stage"] if args.stage != 1 else [])
    if flags:
        raise VstError("--study uses one stage-1 distillation recipe for every configuration; drop "
                       + ", ".join(flags))
    d = STUDY_DEFAULTS
    with prune_on_failure(args.out):
        run_study(args.study, args.teacher, args.out, configs=_config_names(args.configs),
                  size=args.size or d["size"], steps=d["steps"] if args.steps is None else args.steps,
                  crops=args.crops, seed=args.seed,
                  eval_size=args.eval_size, eval_frames=args.eval_frames, threads=args.threads)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.build_shipped is not None:
        from vst.training.ship import build_shipped
        build_shipped(args.build_shipped, args.measure_only, args.threads)
        return 0
    if args.measure_only:
        parser.error("--measure-only goes with --build-shipped")
    if not args.out:
        parser.error("the following arguments are required: --out")
    check_not_input(args.out, [args.init, args.teacher, args.vgg, args.style_image], "--out")
    check_creatable_dir(Path(args.out).parent)
    if args.run_dir:
        check_creatable_dir(Path(args.run_dir))
    if args.study:
        return _study(args)
    recipe = recipe_from_args(args)
    if args.federated is not None:
        from vst.training.federated import train_federated
        train_federated(recipe, args.federated, args.rounds, args.out, eval_crops=args.eval_crops,
                        threads=args.threads)
        return 0
    train(recipe, Path(args.out), args.run_dir, threads=args.threads, checkpoint_every=args.checkpoint_every)
    return 0


def entry() -> int:
    return run_cli(main, resumable=True)


if __name__ == "__main__":
    raise SystemExit(entry())


def optimize_parser() -> argparse.ArgumentParser:
    d = optimize.OptimizeSettings()
    p = argparse.ArgumentParser(prog="vst-optimize", description=optimize.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--content", help="one photo to stylize (Gatys)")
    src.add_argument("--frames", dest="frames_dir", help="folder of video frames (Ruder; flow by --flow)")
    src.add_argument("--sintel", help="MPI Sintel-layout folder (with --scene): ground-truth flow and masks")
    p.add_argument("--scene", help="with --sintel: the scene (e.g. Alley_2)")
    p.add_argument("--style-image", required=True, help="the painting")
    p.add_argument("--vgg", help="VGG19 (or --loss-net vgg16) state_dict in torchvision layout")
    p.add_argument("--out", required=True, help="--content: output PNG; video: output folder (frames + summary.json)")
    p.add_argument("--preset", default="gatys2016", help="settings from presets.json (default gatys2016, 003)")
    p.add_argument("--size", type=side_or_size_arg, help="work size WxH or a square side (default: the content's size)")
    p.add_argument("--max-frames", type=positive_int, help="video: use the first N frames")
    p.add_argument("--flow", default="farneback", choices=FLOW_BACKENDS, help="--frames: flow backend")
    p.add_argument("--no-temporal", action="store_true", help="video: drop Ruder's temporal loss")
    p.add_argument("--content-init", action="store_true",
                   help="video: initialise every frame with its content frame instead of the warped previous output")
    p.add_argument("--loss-net", choices=("vgg16", "vgg19"))
    p.add_argument("--optimizer", choices=("lbfgs", "adam"))
    p.add_argument("--iterations", type=positive_int)
    for name, kind in (("w_content", loss_weight), ("w_style", loss_weight), ("w_tv", loss_weight),
                       ("w_temporal", loss_weight), ("adam_lr", learning_rate), ("stop_tolerance", fraction)):
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, help=f"default {getattr(d, name):g}")
    p.add_argument("--stop-patience", type=positive_int)
    p.add_argument("--threads", type=threads, default=1)
    return p


def optimize_main(argv: Sequence[str] | None = None) -> int:
    """vst-optimize: 003's optimisation baselines (vst.training.optimize)."""
    args = optimize_parser().parse_args(argv)
    settings = optimize.OptimizeSettings.from_preset(args.preset)
    for name in ("loss_net", "optimizer", "iterations", "w_content", "w_style", "w_tv", "w_temporal", "adam_lr",
                 "stop_tolerance", "stop_patience"):
        if getattr(args, name) is not None:
            setattr(settings, name, getattr(args, name))
    check_not_input(args.out, [args.content, args.frames_dir, args.sintel, args.style_image, args.vgg], "--out")
    check_creatable_dir(Path(args.out).parent)
    if args.sintel and not args.scene:
        raise VstError("--sintel needs --scene NAME (one scene at a time)")
    return optimize.run(args, settings)


def optimize_entry() -> int:
    return run_cli(optimize_main)
