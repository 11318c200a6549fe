"""The trained models vst ships in models/trained/ (package data of vst.models), and their recorded figures."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from vst.models.checkpoint import read_metadata


def trained_dir() -> Path:
    return Path(str(resources.files("vst.models").joinpath("trained")))


def shipped_models() -> list[Path]:
    """Paths of the shipped checkpoints (load with vst.models.load_model, convert with vst-convert PATH)."""
    folder = trained_dir()
    return sorted(folder.glob("*.safetensors")) if folder.is_dir() else []


def shipped_model_info() -> list[dict]:
    """One dict per shipped model: name, path, arch, config, stage, teacher, style, recipe, figures."""
    rows = []
    for path in shipped_models():
        meta = read_metadata(path)
        extra = meta["extra"]
        rows.append({"name": path.stem, "path": path, "arch": meta["arch"], "config": meta["config"],
                     "stage": extra.get("stage"), "teacher": extra.get("teacher"), "style": extra.get("style"),
                     "recipe": extra.get("recipe"), "figures": extra.get("figures", {})})
    return rows
