"""Shared between the harness tests: where the vectors lie and how two JSON documents are compared."""
from __future__ import annotations

import json
import math
from pathlib import Path

VECTORS = Path(__file__).resolve().parent / "vectors"
RESULTS = ("result-coreml.json", "result-litert.json")


def load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text())


def differences(got, want, rel: float = 1e-9, path: str = "$") -> list[str]:
    """Where `got` differs from `want`: keys, strings, nulls and booleans exactly, numbers to `rel` relative."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{path}: keys {sorted(set(got) ^ set(want))} differ"] if set(got) != set(want) else []
        return out + [d for k in want.keys() & got.keys() for d in differences(got[k], want[k], rel, f"{path}.{k}")]
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return [f"{path}: {len(got)} items, expected {len(want)}"]
        return [d for i, (g, w) in enumerate(zip(got, want)) for d in differences(g, w, rel, f"{path}[{i}]")]
    numbers = (int, float)
    if (isinstance(want, numbers) and isinstance(got, numbers) and not isinstance(want, bool)
            and not isinstance(got, bool)):
        return [] if math.isclose(got, want, rel_tol=rel, abs_tol=0.0) else [f"{path}: {got!r} != {want!r}"]
    return [] if got == want and type(got) is type(want) else [f"{path}: {got!r} != {want!r}"]
