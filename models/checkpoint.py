"""Self-describing, pickle-free checkpoints: safetensors with the architecture and config in its metadata.

torch files are accepted too, loaded with weights_only=True; a full unpickle happens only with allow_pickle=True.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from safetensors import safe_open

from vst.common.errors import VstError, first_line
from vst.common.fsutil import atomic_path
from vst.models.registry import create_model, resolve
from vst.models.stylizer import Stylizer

FORMAT = "vst-checkpoint/1"


def save_model(model: Stylizer, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write weights + architecture + config (+ optional JSON-able metadata such as a training recipe)."""
    if not isinstance(model, Stylizer):
        raise VstError(f"save_model takes a vst Stylizer, not {type(model).__name__}")
    path = Path(path)
    header = {"format": FORMAT, "arch": model.arch, "config": json.dumps(model.config, sort_keys=True),
              "extra": json.dumps(metadata or {}, sort_keys=True)}
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path, suffix=".safetensors.tmp") as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Architecture, config and extra metadata of a safetensors checkpoint, without loading weights."""
    path = _existing(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise VstError(f"{path} is truncated or not a safetensors file ({first_line(exc)}); "
                       "re-save it with vst.models.save_model") from None
    if meta.get("format") != FORMAT:
        raise VstError(f"{path} is a safetensors file but not a vst checkpoint (no '{FORMAT}' metadata); "
                       "save it with vst.models.save_model")
    try:
        out = {"arch": meta["arch"], "config": json.loads(meta["config"]), "extra": json.loads(meta.get("extra", "{}"))}
    except (KeyError, json.JSONDecodeError) as exc:
        raise VstError(f"{path} has damaged vst metadata ({exc}); re-save it with vst.models.save_model") from None
    return _checked_meta(path, out)


def _checked_meta(path: Path, meta: dict) -> dict:
    """Metadata comes from the file: its types are checked before anything is built from it."""
    if not isinstance(meta["arch"], str) or not isinstance(meta["config"], dict) or \
            not isinstance(meta.get("extra", {}), dict) or not all(isinstance(k, str) for k in meta["config"]):
        raise VstError(f"{path} has damaged vst metadata (arch must be a name, config and extra objects); "
                       "re-save it with vst.models.save_model")
    return meta


def load_model(path: str | Path, arch: str | None = None, allow_pickle: bool = False) -> Stylizer:
    """Load a checkpoint written by save_model (or a torch file of the same content). Never runs pickled code
    unless allow_pickle=True. `arch` makes a checkpoint of another architecture an error."""
    path = _existing(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        meta, state = _load_torch_file(path, allow_pickle)
    else:
        meta = read_metadata(path)
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise VstError(f"{path} is truncated or damaged ({first_line(exc)})") from None
    if arch is not None and meta["arch"] != resolve(arch)[0]:
        raise VstError(f"{path} holds a {meta['arch']!r} model, not {arch!r}; pass a {arch} checkpoint")
    model = create_model(meta["arch"], **meta["config"])
    expected = model.state_dict()
    for key, value in state.items():
        # load_state_dict would cast integer weights to float silently (1.7 stored as int64 is 1, 0.3 is 0)
        if key in expected and expected[key].is_floating_point() and isinstance(value, torch.Tensor) \
                and not value.is_floating_point():
            raise VstError(f"{path}: weight {key!r} is {str(value.dtype).removeprefix('torch.')}, not floating "
                           "point; the file is damaged or mislabelled: re-save the float model")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise VstError(f"{path}: weights do not fit {meta['arch']} {meta['config']} "
                       f"({first_line(exc)}); the file is damaged or mislabelled") from None
    model.checkpoint_extra = meta.get("extra", {})
    return model.eval()


def _load_torch_file(path: Path, allow_pickle: bool) -> tuple[dict, dict]:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as exc:
        raise VstError(f"{path} carries pickled code ({first_line(exc)[:120]}); refusing to run it. "
                       "Re-save it with vst.models.save_model; only if you trust the file, load it with allow_pickle=True "
                       "(vst-convert and vst-zoo: --trust-pickle)") from None
    except (RuntimeError, EOFError, OSError, ValueError, SafetensorError) as exc:
        # torch.load reads a file named .safetensors with safetensors, whatever its bytes are
        raise VstError(f"{path} is truncated or not a torch file ({first_line(exc)[:160]})") from None
    if isinstance(obj, Stylizer):
        return {"arch": obj.arch, "config": obj.config}, obj.state_dict()
    if not (isinstance(obj, dict) and {"arch", "config", "state_dict"} <= set(obj)):
        raise VstError(f"{path} is a torch file without vst 'arch', 'config' and 'state_dict' entries; "
                       "save the model with vst.models.save_model")
    if not isinstance(obj["state_dict"], dict):
        raise VstError(f"{path}: 'state_dict' is not a mapping of weights; save the model with vst.models.save_model")
    return _checked_meta(path, {"arch": obj["arch"], "config": obj["config"]}), obj["state_dict"]


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise VstError(f"checkpoint {path} does not exist; give the path of a file written by vst.models.save_model")
    return path
