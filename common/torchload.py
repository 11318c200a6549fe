"""Reading torch archives without running code pickled inside them.

torch 2.13's `torch.export.load` unpickles with `weights_only=False` in several places: weights and constants
marked `use_pickle` in the archive's payload configs, custom/opaque objects, sample inputs after a failed
weights-only attempt, and the legacy format it falls back to on any RuntimeError. An archive is therefore checked
twice before vst uses it: a scan of its payload configs names what would be unpickled (one clear refusal), and the
load itself runs under `no_code_unpickling()`, which makes every unpickling entry point torch uses either
weights-only or an error for the duration (defence in depth: a path the scan does not know is closed too).

Pickles are not the only way in: torch also evaluates the archive's symbolic-shape expressions with sympy and
resolves node targets by name from `torch`. Every string of those kinds is checked against an allow-list
(vst.common.symexpr) before torch reads the archive, and again as torch reads it (`no_code_evaluation()`).
"""
from __future__ import annotations

import json
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from vst.common import symexpr
from vst.common.errors import VstError, first_line

TRUST_HINT = ("only if you trust the file, convert it with vst-convert --trust-pickle (it runs the file's code) "
              "and use the artifact")


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


@contextmanager
def no_code_evaluation() -> Iterator[dict]:
    """Within the block, sympy.sympify refuses strings that are not shape arithmetic and torch's ExportedProgram
    deserializer refuses node targets outside the allow-list (vst.common.symexpr). Yields a dict whose 'refused'
    entry names the first refusal (torch may wrap or swallow the exception)."""
    import sympy
    from torch._export.serde import serialize

    state: dict = {"refused": None}
    orig_sympify = sympy.sympify
    cls = serialize.GraphModuleDeserializer
    orig_operator = cls.deserialize_operator

    def refuse(what: str):
        state["refused"] = state["refused"] or what
        raise PickledCodeRefused(what)

    def checked_sympify(a, *args, **kwargs):
        if isinstance(a, str) and (problem := symexpr.expression_problem(a)):
            refuse(f"a shape expression with {problem}")
        return orig_sympify(a, *args, **kwargs)

    def checked_operator(self, serialized_target):
        if problem := symexpr.target_problem(serialized_target):
            refuse(f"a node that {problem}")
        return orig_operator(self, serialized_target)

    sympy.sympify = checked_sympify
    cls.deserialize_operator = checked_operator
    try:
        yield state
    finally:
        sympy.sympify = orig_sympify
        cls.deserialize_operator = orig_operator


MAX_JSON_BYTES = 256 << 20     # a program's JSON grows with its nodes: 1 MB for a zoo network


def evaluated_strings(path: Path) -> list[str]:
    """Strings of an ExportedProgram archive's JSON that torch would evaluate and that are not on the allow-lists
    (empty for a plain export): shape expressions given to sympy, node targets looked up from torch."""
    found = []
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if not info.filename.endswith(".json"):
                continue
            if info.file_size > MAX_JSON_BYTES:
                raise VstError(f"{path}: {info.filename} declares {info.file_size} bytes; the archive is damaged "
                               "or hostile: re-export it with torch.export.save")
            try:
                doc = json.loads(z.read(info))
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                raise VstError(f"{path}: {info.filename} is not valid JSON; the archive is damaged") from None
            found += [f"{what} in {info.filename.rsplit('/', 1)[-1]}" for what in _unsafe_strings(doc)]
    return found


def _unsafe_strings(doc) -> Iterator[str]:
    stack = [doc]         # iterative: a hostile file nests as deep as json.loads allows
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if key == "expr_str" and (problem := symexpr.expression_problem(value)):
                yield f"a shape expression with {problem}"
            elif key in ("target", "as_operator") and isinstance(value, str) and \
                    (key == "as_operator" or "inputs" in item) and (problem := symexpr.target_problem(value)):
                yield f"a node that {problem}"
            else:
                stack.append(value)


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
    """torch.export.load, refusing archives that would unpickle or evaluate code unless trust_pickle."""
    import logging
    if trust_pickle:
        return _export_load(path)
    try:
        entries = pickled_entries(path)
        evaluated = evaluated_strings(path)
    except zipfile.BadZipFile:
        raise VstError(f"{path} is a truncated or damaged zip archive (ExportedProgram)") from None
    if evaluated:
        raise VstError(f"{path} holds strings torch would run as code ({_listed(evaluated, 2)}); refusing to load "
                       f"it; {TRUST_HINT}")
    if entries:
        raise VstError(f"{path} stores pickled objects that would run code when loaded ({_listed(entries, 3)}); "
                       f"refusing to load it; {TRUST_HINT}")
    log = logging.getLogger("torch.export")
    level = log.level
    log.setLevel(logging.CRITICAL)   # torch logs a traceback before its legacy fallback
    try:
        with no_code_unpickling() as guard, no_code_evaluation() as evaluation:
            failure = None
            try:
                ep = _export_load(path)
            except (PickledCodeRefused, VstError) as exc:   # torch may wrap a refusal: the guards say first
                ep, failure = None, exc
        if guard["refused"]:
            raise VstError(f"{path} asks for a full unpickle ({guard['refused']}) while loading; refusing to run "
                           f"its code; {TRUST_HINT}")
        if evaluation["refused"]:
            raise VstError(f"{path} holds {evaluation['refused']} while loading; refusing to run it as code; "
                           f"{TRUST_HINT}")
        if isinstance(failure, VstError):
            raise failure
    finally:
        log.setLevel(level)
    return ep


def _listed(items: list[str], shown: int) -> str:
    """The first `shown` items, and how many more."""
    return ", ".join(items[:shown]) + (f" and {len(items) - shown} more" if len(items) > shown else "")


def _export_load(path: Path):
    import torch
    try:
        return torch.export.load(str(path))
    except PickledCodeRefused:
        raise
    except Exception as exc:  # torch raises many types for damaged archives
        raise VstError(f"{path} is a damaged ExportedProgram archive ({first_line(exc, 160)})"
                       "; re-export it with torch.export.save") from None
