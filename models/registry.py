"""The stylizer zoo: architectures as config -> StylizerSpec functions, and named configurations as data."""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable

from vst.common.errors import VstError
from vst.common.records import table2_name
from vst.models.stylizer import Stylizer, StylizerSpec


@dataclass(frozen=True)
class Architecture:
    name: str
    build: Callable[..., StylizerSpec]
    defaults: dict[str, Any]
    source: str
    choices: dict[str, tuple] = field(default_factory=dict)


# 000's Table II layout as its parameter counts imply it (its text says 4*beta blocks, all 3x3, and disagrees):
# beta -> (residual blocks, first/last kernel).
KUNSTER_TABLE2_LAYOUT = {1.0: (5, 9), 0.75: (3, 3), 0.5: (2, 3)}


def _kunster(alpha: float, beta: float, variant: str) -> StylizerSpec:
    if not 0 < alpha <= 4:
        raise VstError(f"kunster alpha must be in (0, 4], got {alpha}")
    ch = [max(1, round(alpha * c)) for c in (32, 48, 64)]
    if variant == "table2":
        if float(beta) not in KUNSTER_TABLE2_LAYOUT:
            raise VstError(f"kunster variant 'table2' defines beta only for {sorted(KUNSTER_TABLE2_LAYOUT)}, "
                           f"got {beta}; use variant='paper-text' (round(4*beta) blocks, all 3x3)")
        n_res, outer = KUNSTER_TABLE2_LAYOUT[float(beta)]
    else:
        if beta <= 0:
            raise VstError(f"kunster beta must be > 0, got {beta}")
        n_res, outer = max(1, round(4 * beta)), 3
    return StylizerSpec(encoder=(ch[0], ch[1], ch[2]), decoder=(ch[1], ch[0]), n_res=n_res,
                        outer_kernel=outer, upsample="nearest", out_act="none")


def _reconet(variant: str) -> StylizerSpec:
    # "000": the network as 000 describes ReCoNet (vst's original); "paper": as ReCoNet itself has it (004 Fig. 47,
    # pytorch-reconet): [-1, 1] input and a ReLU after every residual skip addition. Same weights and parameters.
    paper = variant == "paper"
    return StylizerSpec(encoder=(48, 96, 192), decoder=(96, 48), n_res=4, outer_kernel=9, out_act="tanh",
                        in_range="pm1" if paper else "01", res_relu=paper)


def _huang(width: int, upsample: str) -> StylizerSpec:
    # 353-Res48 is 001's Table 1; Res128 scales every layer as Johnson's network (001 section 4.5.2).
    enc = {48: (16, 32, 48), 128: (32, 64, 128)}[width]
    return StylizerSpec(encoder=enc, decoder=(enc[1], enc[0]), n_res=5, outer_kernel=3, upsample=upsample,
                        out_act="tanh")


def _johnson(upsample: str) -> StylizerSpec:
    return StylizerSpec(encoder=(32, 64, 128), decoder=(64, 32), n_res=5, outer_kernel=9, upsample=upsample,
                        out_act="tanh")


ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in (
    Architecture("kunster", _kunster, {"alpha": 1.0, "beta": 1.0, "variant": "table2"},
                 "000 Table I/II (Dudzik & Kosowski, Kunster)", {"variant": ("table2", "paper-text")}),
    Architecture("reconet", _reconet, {"variant": "000"}, "000/004 description of ReCoNet (Gao et al.)",
                 {"variant": ("000", "paper")}),
    Architecture("huang", _huang, {"width": 48, "upsample": "deconv"}, "001 Table 1 (Huang et al.)",
                 {"width": (48, 128), "upsample": ("deconv", "nearest")}),
    Architecture("johnson", _johnson, {"upsample": "deconv"}, "003 Table II (Johnson et al.)",
                 {"upsample": ("deconv", "nearest")}),
)}


def _table2_rows() -> list[dict[str, str]]:
    text = resources.files("vst.models").joinpath("data/kunster_table2.csv").read_text()
    return list(csv.DictReader(text.splitlines()))


def table2() -> list[dict[str, float]]:
    """000's Table II (parameters in thousands, size in MB, published iPhone FPS), as shipped with vst."""
    return [{k: float(v) for k, v in row.items()} for row in _table2_rows()]


def _named_configs() -> dict[str, tuple[str, dict[str, Any]]]:
    named = {table2_name(r["id"]): ("kunster", {"alpha": float(r["alpha"]), "beta": float(r["beta"]),
                                                          "variant": "table2"}) for r in _table2_rows()}
    named["reconet"] = ("reconet", {"variant": "000"})
    named["reconet-paper"] = ("reconet", {"variant": "paper"})
    for width in (48, 128):
        named[f"huang-353-res{width}"] = ("huang", {"width": width, "upsample": "deconv"})
        named[f"huang-353-res{width}-nearest"] = ("huang", {"width": width, "upsample": "nearest"})
    named["johnson"] = ("johnson", {"upsample": "deconv"})
    named["johnson-nearest"] = ("johnson", {"upsample": "nearest"})
    return named


NAMED_CONFIGS = _named_configs()


def resolve(name: str, **config) -> tuple[str, dict[str, Any]]:
    """Name (architecture or named configuration) + overrides -> (architecture, full config)."""
    if name in NAMED_CONFIGS:
        arch, base = NAMED_CONFIGS[name]
    elif name in ARCHITECTURES:
        arch, base = name, {}
    else:
        known = ", ".join(sorted(ARCHITECTURES))
        raise VstError(f"unknown model {name!r}; use an architecture ({known}) or a name from `vst-zoo list`")
    spec = ARCHITECTURES[arch]
    unknown = set(config) - set(spec.defaults)
    if unknown:
        raise VstError(f"{arch} takes {sorted(spec.defaults) or 'no options'}, not {sorted(unknown)}")
    full = {**spec.defaults, **base, **config}
    for key, allowed in spec.choices.items():
        if full[key] not in allowed:
            raise VstError(f"{arch} {key} must be one of {list(allowed)}, got {full[key]!r}")
    for key in ("alpha", "beta"):
        if key in full:
            full[key] = _number(arch, key, full[key])
    return arch, full


# beta scales the residual blocks (round(4*beta)); the zoo goes to 1. Beyond this a checkpoint's metadata
# would make a network of unbounded size (1e6 -> four million blocks).
MAX_BETA = 4.0


def _number(arch: str, key: str, value: Any) -> float:
    """A config number as checkpoints and --set give it: a real number or its text, finite and bounded."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise VstError(f"{arch} {key} must be a number, got {value!r}; fix the checkpoint's config or --set")
    try:
        number = float(value)
    except ValueError:
        raise VstError(f"{arch} {key} must be a number, got {value!r}; fix the checkpoint's config or --set") from None
    if not math.isfinite(number) or (key == "beta" and not 0 < number <= MAX_BETA):
        raise VstError(f"{arch} {key} must be a finite number" + (f" in (0, {MAX_BETA:g}]" if key == "beta" else "")
                       + f", got {value!r}")
    return number


def create_model(name: str, **config) -> Stylizer:
    """`create_model("kunster", alpha=0.5, beta=1.0)` or `create_model("kunster-t2-03")`: random weights."""
    arch, full = resolve(name, **config)
    return Stylizer(ARCHITECTURES[arch].build(**full), arch=arch, config=full)


def named_config_of(arch: str | None, config: dict | None) -> str | None:
    """The named configuration (e.g. kunster-t2-04) whose full config equals `config`, if any: records carry it so
    that tables join on configuration, not on parameter counts."""
    if not arch:
        return None
    try:
        full = resolve(arch, **(config or {}))
    except (VstError, TypeError):
        return None
    return next((n for n in NAMED_CONFIGS if resolve(n) == full), None)


def list_models() -> list[str]:
    return list(NAMED_CONFIGS)
