"""Per-paper training presets (data in presets.json): which loss network, layers, Gram and TV forms, weights,
learning rate, batch and frame-pair gaps each seed paper used, and where a value had to come from elsewhere."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from vst.common.errors import VstError


@lru_cache(maxsize=1)
def _table() -> dict:
    text = resources.files("vst.training").joinpath("presets.json").read_text()
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


def preset_names(optimize: bool = False) -> list[str]:
    """Training presets (vst-train), or optimisation presets (vst-optimize) with optimize=True."""
    return sorted(k for k, v in _table().items() if bool(v.get("optimize")) == optimize)


def preset(name: str, optimize: bool = False) -> dict:
    names = preset_names(optimize)
    if name not in names:
        raise VstError(f"unknown preset {name!r}; choose one of {', '.join(names)}")
    return _table()[name]


def preset_values(name: str, stage: int = 1) -> dict:
    """Recipe field -> value for `name` at `stage` (stage-2 temporal weights included for stage 2)."""
    p = preset(name)
    values = dict(p["values"])
    if stage == 2:
        values.update(p.get("stage2", {}))
    return values
