"""000 Fig. 8's question for someone choosing a size: what each Table II configuration keeps of one style.

`vst-train --study table2 --teacher multistyle26:K --out DIR` distils every configuration (kunster-t2-01..15)
from the same teacher with the same short stage-1 recipe, then measures each on material it never trained on:
PSNR of its output against the teacher's on the held-out photos, and temporal error (001 eq. 8) on the held-out
synthetic clips with exact flow. Per configuration the weights (DIR/kunster-t2-NN.safetensors), its output on
the grid photo (DIR/samples/) and its record (DIR/configs/kunster-t2-NN.json) are kept, so a killed study reruns
only the configurations without a record (and resumes a half-trained one from its run folder). DIR/study.json
(schema: study.schema.json beside this file) gathers the records; DIR/grid.png shows the outputs side by side.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from vst.common.errors import VstError
from vst.common.fsutil import atomic_path, atomic_write_text, check_creatable_dir, sha256_of
from vst.common.images import load_image, resize_cover, save_png
from vst.common.records import (STUDY_FILE, check_record, read_record, schema as record_schema, table2_name,
                                write_record)
from vst.metrics.evaluate import evaluate, stylize_frames, synthetic_eval_clips
from vst.metrics.temporal import psnr
from vst.models import load_model, table2
from vst.runtimes.spec import to_rgb
from vst.runtimes.stylizer import load_runner
from vst.training.loop import Recipe, train
from vst.video.clips import held_out_photos

STUDIES = ("table2",)
SCHEMA_VERSION = "vst-study/1"
# The photo of the grid: held out from training like the PSNR photos (it is one of them).
GRID_PHOTO = "coffee"


def table2_configs() -> list[str]:
    return [table2_name(row["id"]) for row in table2()]


def study_recipe(config: str, teacher: str, size: int, steps: int, crops: int, seed: int) -> Recipe:
    """The one recipe every configuration gets: stage-1 distillation as the shipped models were made
    (batch 4, lr 1e-3, docs/training.md), shorter and smaller so 15 of them fit a CPU."""
    return Recipe(stage=1, model=config, teacher=teacher, size=size, steps=steps, batch=4, lr=1e-3,
                  crops=crops, seed=seed)


def schema() -> dict:
    return record_schema("study")


def validate(doc: dict) -> None:
    check_record(doc, schema(), "study record")


def load_study(folder: str | Path) -> dict:
    """DIR/study.json, checked against its schema; a user error naming the field when it is not a study record."""
    path = Path(folder) / STUDY_FILE
    if not path.exists():
        raise VstError(f"{path} does not exist; run `vst-train --study table2 --teacher multistyle26:5 "
                       f"--out {folder}` first")
    return read_record(path, schema(), "a vst-train --study record", "run the study again into a new folder")


def _eval_photos(size: int) -> dict[str, np.ndarray]:
    return {name: resize_cover(img, size, size) for name, img in held_out_photos().items()}


def measure(model_spec: str, teacher_spec: str, eval_size: int, eval_frames: int) -> dict:
    """PSNR against the teacher on the held-out photos, temporal error on the held-out clips, and the
    stylized grid photo."""
    runner, teacher = load_runner(model_spec), load_runner(teacher_spec)
    photos = _eval_photos(eval_size)
    x = np.stack(list(photos.values()))
    out, ref = stylize_frames(runner, x), stylize_frames(teacher, x)
    per_photo = {name: psnr(out[i:i + 1], ref[i:i + 1]) for i, name in enumerate(photos)}
    clips = synthetic_eval_clips(eval_size, eval_frames)
    temporal = evaluate({"model": runner}, clips)
    grid_idx = list(photos).index(GRID_PHOTO)
    sample = to_rgb(out[grid_idx:grid_idx + 1].numpy())
    return {"psnr_vs_teacher": float(np.mean(list(per_photo.values()))), "psnr_per_photo": per_photo,
            "temporal_error": temporal["model"]["temporal_error"],
            "input_temporal_error": temporal["input"]["temporal_error"],
            "detail_energy": temporal["model"]["detail_energy"], "sample": sample}


def _cpu_seconds() -> float:
    """CPU time of this process (user + system): on a shared machine it is what the run would take alone with
    one thread, where wall time depends on the others' load."""
    import resource
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _config_record_path(out: Path, config: str) -> Path:
    return out / "configs" / f"{config}.json"


def run_study(study: str, teacher: str, out: str | Path, *, configs: list[str] | None = None, size: int = 64,
              steps: int = 500, crops: int = 256, seed: int = 0, eval_size: int = 128, eval_frames: int = 6,
              threads: int = 1, log: Callable[[str], None] = print) -> Path:
    """Train and measure every configuration missing a record in `out`, then write study.json and grid.png."""
    if study not in STUDIES:
        raise VstError(f"--study {study!r} is unknown; the one study is: {', '.join(STUDIES)}")
    if not teacher:
        raise VstError("--study distils every configuration from one teacher: pass --teacher multistyle26:K")
    out = Path(out)
    if out.suffix == ".safetensors" or out.is_file():
        raise VstError(f"--out {out}: with --study, --out is a folder for the study's weights and records")
    check_creatable_dir(out)
    all_configs = table2_configs()
    configs = configs or all_configs
    unknown = [c for c in configs if c not in all_configs]
    if unknown:
        raise VstError(f"--configs: {', '.join(unknown)} not in Table II; use kunster-t2-01 .. kunster-t2-15 "
                       "or their ids 1..15")
    if eval_frames < 2:
        raise VstError(f"--eval-frames must be at least 2 (temporal error compares consecutive frames), got {eval_frames}")
    settings = {"study": study, "teacher": teacher, "size": size, "steps": steps, "crops": crops, "seed": seed,
                "eval_size": eval_size, "eval_frames": eval_frames}
    (out / "configs").mkdir(parents=True, exist_ok=True)
    (out / "samples").mkdir(exist_ok=True)
    started = time.time()
    # the teacher's own figures on the same material: the ceiling a student's fidelity is read against
    teacher_rec = _teacher_record(out, teacher, settings, log)
    for i, config in enumerate(configs, 1):
        rec_path = _config_record_path(out, config)
        recipe = study_recipe(config, teacher, size, steps, crops, seed)
        if rec_path.is_file():
            try:
                rec = json.loads(rec_path.read_text())
                if rec.get("recipe") == recipe.to_json() and rec.get("settings") == settings:
                    changed = _changed_files(out, rec)
                    if not changed:
                        log(f"[{i}/{len(configs)}] {config}: done before, kept")
                        continue
                    log(f"[{i}/{len(configs)}] {config}: {changed} changed since its record was written; redoing it")
            except (OSError, ValueError, RecursionError, AttributeError):
                pass  # a damaged record is redone
        log(f"[{i}/{len(configs)}] {config}: training {steps} steps at {size}px")
        weights = out / f"{config}.safetensors"
        t0, cpu0 = time.time(), _cpu_seconds()
        resumed = []

        def train_log(line: str) -> None:
            resumed.extend(["yes"] if line.startswith("resuming") else [])
            log(f"    {line}")

        train(recipe, weights, run_dir=out / "runs" / config, threads=threads,
              checkpoint_every=max(1, min(100, steps // 4)), log=train_log, extra_metadata={"study": study})
        train_s, train_cpu_s = time.time() - t0, _cpu_seconds() - cpu0
        t1 = time.time()
        figures = measure(str(weights), teacher, eval_size, eval_frames)
        save_png(out / "samples" / f"{config}.png", figures.pop("sample"))
        model = load_model(weights)
        rec = {"config": config, "alpha": model.config["alpha"], "beta": model.config["beta"],
               "params": int(sum(p.numel() for p in model.parameters())), "weights": weights.name,
               "sample": f"samples/{config}.png", "train_s": round(train_s, 2),
               "train_cpu_s": round(train_cpu_s, 2), "resumed": bool(resumed), "threads": threads,
               "eval_s": round(time.time() - t1, 2), "recipe": recipe.to_json(), "settings": settings,
               "loadavg_1m": round(os.getloadavg()[0], 2), **figures}
        rec["sha256"] = _hashes(out, [rec["weights"], rec["sample"]])
        atomic_write_text(rec_path, json.dumps(rec, indent=1))
        log(f"    {rec['params']} params: PSNR vs teacher {rec['psnr_vs_teacher']:.2f} dB, temporal error "
            f"{rec['temporal_error']:.4f}, trained in {train_s:.0f} s")
    doc = assemble(out, settings, teacher_rec, time.time() - started)
    log(f"wrote {out / 'study.json'} and {out / 'grid.png'} ({len(doc['configs'])} configurations)")
    return out / STUDY_FILE


def _hashes(out: Path, names: list[str]) -> dict[str, str]:
    """Content hashes of a record's files (relative to `out`), taken when the record is written."""
    return {name: sha256_of(out / name) for name in names}


def _changed_files(out: Path, rec: dict, unhashed_ok: bool = False) -> str | None:
    """The first file of a finished record that is missing or not the one its record was written with, else
    None: only whole results count as done. A record from before hashes were kept counts as changed, unless
    `unhashed_ok` (study.json keeps such records of configurations this run did not redo)."""
    hashes = rec.get("sha256")
    if not isinstance(hashes, dict) or not hashes:
        return None if unhashed_ok else "its files (no hashes in the record)"
    for name, digest in hashes.items():
        path = out / str(name)
        if out.resolve() not in path.resolve().parents:
            return f"{name} (outside the study folder)"  # a record names files in the study only
        if not path.is_file() or sha256_of(path) != digest:
            return str(path)
    return None


def _teacher_record(out: Path, teacher: str, settings: dict, log) -> dict:
    path = out / "teacher.json"
    if path.is_file():
        try:
            rec = json.loads(path.read_text())
            if rec.get("settings") == settings and not _changed_files(out, rec):
                return rec
        except (OSError, ValueError, RecursionError, AttributeError):
            pass
    log(f"measuring the teacher {teacher} on the held-out material")
    clips = synthetic_eval_clips(settings["eval_size"], settings["eval_frames"])
    runner = load_runner(teacher)
    res = evaluate({"teacher": runner}, clips)
    photo = _eval_photos(settings["eval_size"])[GRID_PHOTO]
    out_img = stylize_frames(runner, photo[None])[0]
    save_png(out / "samples" / "teacher.png", to_rgb(out_img[None].numpy()))
    save_png(out / "samples" / "input.png", photo)
    rec = {"name": teacher, "temporal_error": res["teacher"]["temporal_error"],
           "detail_energy": res["teacher"]["detail_energy"], "input_temporal_error": res["input"]["temporal_error"],
           "sample": "samples/teacher.png", "input_sample": "samples/input.png", "settings": settings}
    rec["sha256"] = _hashes(out, [rec["sample"], rec["input_sample"]])
    atomic_write_text(path, json.dumps(rec, indent=1))
    return rec


def assemble(out: Path, settings: dict, teacher_rec: dict, elapsed_s: float) -> dict:
    """study.json from every finished configuration record of these settings (in Table II order), and grid.png."""
    order = {c: i for i, c in enumerate(table2_configs())}
    recs = []
    for p in sorted((out / "configs").glob("*.json"), key=lambda p: order.get(p.stem, 99)):
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if (isinstance(rec, dict) and rec.get("settings") == settings
                and not _changed_files(out, rec, unhashed_ok=True)):
            recs.append({k: v for k, v in rec.items() if k not in ("settings", "sha256")})
    doc = {"schema": SCHEMA_VERSION, "study": settings["study"], "teacher": {k: v for k, v in teacher_rec.items()
                                                                           if k not in ("settings", "sha256")},
           "recipe": {k: v for k, v in settings.items() if k not in ("study", "teacher")},
           "held_out": {"psnr_photos": sorted(held_out_photos()), "grid_photo": GRID_PHOTO,
                        "temporal_clips": f"synthetic_eval_clips({settings['eval_size']}, {settings['eval_frames']}): "
                                          "pan and zoom over the held-out photos, exact flow"},
           "configs": recs, "last_run_s": round(elapsed_s, 1), "grid": "grid.png"}
    validate(doc)
    write_grid(out, doc)
    write_record(out / STUDY_FILE, doc, "study")
    return doc


def write_grid(out: Path, doc: dict) -> Path:
    """The input photo and the teacher's output, then every configuration's, labelled with its size and fidelity."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tiles = [("input (held out)", doc["teacher"]["input_sample"]), (f"teacher {doc['teacher']['name']}",
                                                                     doc["teacher"]["sample"])]
    tiles += [(f"{r['config'][-5:]}  a={r['alpha']:g} b={r['beta']:g}\n{r['params'] / 1000:.1f}k params, "
               f"{r['psnr_vs_teacher']:.1f} dB", r["sample"]) for r in doc["configs"]]
    cols = 6 if len(tiles) > 8 else max(1, len(tiles))
    rows = -(-len(tiles) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (label, rel) in zip(axes.flat, tiles):
        ax.imshow(load_image(out / rel))
        ax.set_title(label, fontsize=7)
    fig.tight_layout()
    path = out / "grid.png"
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
