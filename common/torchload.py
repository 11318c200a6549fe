"""Reading torch archives without running code pickled inside them.

torch 2.13's `torch.export.load` unpickles with `weights_only=False` in several places: weights and constants
marked `use_pickle` in the archive's payload configs, custom/opaque objects, sample inputs after a failed
weights-only attempt, and the legacy format it falls back to on any RuntimeError. An archive is therefore checked
twice before vst uses it: a scan of its payload configs names what would be unpickled (one clear refusal), and the
load itself runs under `no_code_unpickling()`, which makes every unpickling entry point torch uses either
weights-only or an error for the duration (defence in depth: a path the scan does not know is closed too).
"""
from __future__ import annotations

import json
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from vst.common.errors import VstError, first_line

TRUST_HINT = "only if you trust the file, pass --trust-pickle (it runs the file's code)"


class PickledCodeRefused(Exception):
    """Raised inside a guarded load when torch asks for a full unpickle."""


@contextmanager
def no_code_unpickling() -> Iterator[dict]:
    """Within the block, torch.load is weights-only and plain pickle / TorchScript object unpickling raise.
    Yields a dict whose 'refused' entry names the first refused call (torch may swallow the exception)."""
    import pickle

    import torch
    state: dict = {"refused": None}
    saved = {(torch, "load"): torch.load, (pickle, "loads"): pickle.loads, (pickle, "load"): pickle.load,
             (torch._C, "_pickle_load_obj"): torch._C._pickle_load_obj}
    orig_load = torch.load

    def refuse(what: str):
        state["refused"] = state["refused"] or what
        raise PickledCodeRefused(what)

    def weights_only_load(f, map_location=None, pickle_module=None, *, weights_only=None, **kwargs):
        if weights_only is False or pickle_module is not None:
            refuse("torch.load(weights_only=False)")
        return orig_load(f, map_location=map_location, weights_only=True, **kwargs)

    torch.load = weights_only_load
    pickle.loads = lambda *a, **k: refuse("pickle.loads")
    pickle.load = lambda *a, **k: refuse("pickle.load")
    torch._C._pickle_load_obj = lambda *a, **k: refuse("torch._C._pickle_load_obj")
    try:
        yield state
    finally:
        for (owner, name), value in saved.items():
            setattr(owner, name, value)


def pickled_entries(path: Path) -> list[str]:
    """Entries of an ExportedProgram archive that torch would fully unpickle (empty for a plain export)."""
    found = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.endswith(".pt") and ("/data/weights/" in name or "/data/constants/" in name):
                found.append(name)   # legacy weights/constants files are whole pickles
            if not name.endswith("_config.json") or "/data/" not in name:
                continue
            try:
                config = json.loads(z.read(name)).get("config", {})
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
                raise VstError(f"{path}: payload config {name} is not valid JSON; the archive is damaged") from None
            if not isinstance(config, dict):
                raise VstError(f"{path}: payload config {name} is damaged (no 'config' mapping)")
            for fqn, meta in config.items():
                if not isinstance(meta, dict):
                    raise VstError(f"{path}: payload config {name} is damaged (entry {fqn!r})")
                target = str(meta.get("path_name", ""))
                if meta.get("use_pickle") or target.startswith(("custom_obj", "opaque_obj")):
                    found.append(f"{fqn} ({name.rsplit('/', 1)[-1]})")
        if not any(n.endswith("models/model.json") for n in z.namelist()):
            found.append("legacy serialized_* payloads (old archive format)")
    return found


def load_exported_program(path: Path, trust_pickle: bool = False):
    """torch.export.load, refusing archives that would unpickle code unless trust_pickle."""
    import logging
    if trust_pickle:
        return _export_load(path)
    try:
        entries = pickled_entries(path)
    except zipfile.BadZipFile:
        raise VstError(f"{path} is a truncated or damaged zip archive (ExportedProgram)") from None
    if entries:
        shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
        raise VstError(f"{path} stores pickled objects that would run code when loaded ({shown}); refusing to "
                       f"load it; {TRUST_HINT}")
    log = logging.getLogger("torch.export")
    level = log.level
    log.setLevel(logging.CRITICAL)   # torch logs a traceback before its legacy fallback
    try:
        with no_code_unpickling() as guard:
            try:
                ep = _export_load(path)
            except PickledCodeRefused:
                ep = None
        if guard["refused"]:
            raise VstError(f"{path} asks for a full unpickle ({guard['refused']}) while loading; refusing to run "
                           f"its code; {TRUST_HINT}")
    finally:
        log.setLevel(level)
    return ep


def _export_load(path: Path):
    import torch
    try:
        return torch.export.load(str(path))
    except PickledCodeRefused:
        raise
    except Exception as exc:  # torch raises many types for damaged archives
        raise VstError(f"{path} is a damaged ExportedProgram archive ({first_line(exc, 160)})"
                       "; re-export it with torch.export.save") from None
