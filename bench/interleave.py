"""Round-robin sweeps on the host: repeat r of every cell before repeat r+1 of any.

On a shared machine the speed of everything moves by up to 2x within minutes; cells measured one after another
then differ by when they ran as much as by what they are. Taking turns spreads the slow and fast minutes over
all cells alike, so their repeats (and intervals) cover the same stretch of time.

Resume: a cell's repeats so far are kept in OUT/partial/<cell>.json after every repeat (a result document with
fewer repeats than planned, written atomically); an interrupted sweep run again measures only the repeats still
missing, and a cell's result goes to the store as soon as its last repeat is done.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from vst.common.progress import bar

from vst.bench.artifacts import Artifact
from vst.bench.plan import frames_per_repeat
from vst.bench.result import check_result
from vst.bench.store import result_path, save_result
from vst.common.errors import VstError
from vst.common.hostinfo import reset_peak
from vst.common.fsutil import atomic_write_text, ensure_writable_dir

PARTIAL = "partial"
MODE = "round-robin"


def partial_path(out_dir: Path, cell: str) -> Path:
    # result_path checks the id is a plain cell id: the partial file stays inside the store
    return Path(out_dir) / PARTIAL / result_path(out_dir, cell).name


def cell_label(plan: dict, art: Artifact) -> str:
    return f"{art.label} {plan['input']['width']}x{plan['input']['height']} {plan['delegate']}"


def load_partial(out_dir: Path, plan: dict, log) -> dict | None:
    """The repeats an earlier run measured for this cell, or None (none, or a damaged file: start it over)."""
    path = partial_path(out_dir, plan["cell_id"])
    if not path.exists():
        return None
    try:
        doc = check_result(json.loads(path.read_text()), str(path), partial=True)
    except (VstError, ValueError, KeyError, TypeError) as exc:  # ValueError covers JSON and UTF-8 errors
        log(f"measuring cell {plan['cell_id']} from its first repeat: its kept repeats are damaged ({exc})")
        return None
    if doc["plan"]["cell_id"] != plan["cell_id"] or not doc.get("interleaving"):
        log(f"measuring cell {plan['cell_id']} from its first repeat: {path} holds another cell")
        return None
    return doc


@dataclass
class _Cell:
    plan: dict
    art: Artifact
    prior: dict | None
    repeats: list = field(default_factory=list)
    started_at: list = field(default_factory=list)
    reference: list = field(default_factory=list)
    before_ms: float | None = None
    runner: object = None

    def __post_init__(self):
        if self.prior:
            il = self.prior["interleaving"]
            self.repeats = list(self.prior["repeats"])
            self.started_at = list(il["repeat_started_at"])
            self.reference = list(il["reference_ms"])
            self.before_ms = self.prior["host_reference"]["before_ms"]

    @property
    def missing(self) -> int:
        return self.plan["repeats"] - len(self.repeats)


def measure_interleaved(todo: list[tuple[dict, Artifact]], out_dir: Path, run_id: str, progress: bool, log,
                        say: Callable[[dict], None], drivers: dict | None = None) -> None:
    """Measure `todo` (plans not yet in the store) taking turns repeat by repeat; say(row) after each cell.
    `drivers` maps device names to built native runners (drivers_native): their cells take their turns through
    them, one launch per repeat, beside the Python host runner's."""
    from vst.bench.host import PREPARED_BYTES, HostCell, _now, reference_ms

    cells = [_Cell(p, a, load_partial(out_dir, p, log)) for p, a in todo]
    kept = sum(len(c.repeats) for c in cells)
    if kept:
        log(f"resuming: {kept} repeat(s) of {sum(1 for c in cells if c.repeats)} unfinished cell(s) kept from "
            "an interrupted run")
    rotation = [{"cell_id": c.plan["cell_id"], "label": cell_label(c.plan, c.art)} for c in cells]

    # end to end, then inference only, per repeat; unknown under a seconds budget, where the repeats bar's
    # rate gives the time left instead
    per_repeat = [frames_per_repeat(c.plan) for c in cells]
    total_frames = sum(2 * n * c.missing for n, c in zip(per_repeat, cells)) if all(per_repeat) else 0
    names = ",".join(dict.fromkeys(c.plan["device"] for c in cells))
    reps = bar(total=sum(c.missing for c in cells), desc=f"vst-bench {names} (interleaved)", unit="repeat",
               progress=progress, position=0)
    # frames of the whole sweep: tqdm's rate gives the time left of all of it, not of one cell
    frames = bar(total=total_frames or None, unit="frame", leave=False, desc="  frames", progress=progress,
                 position=1)
    ensure_writable_dir(out_dir / PARTIAL)
    try:
        # every model open at once; they share the memory budget for prepared inference-only inputs, and one
        # high-water mark, reset before the first loads
        peak_reset = reset_peak()
        in_process = sum(1 for c in cells if c.plan["device"] not in (drivers or {}))
        for c in cells:
            reps.set_postfix_str(f"loading {cell_label(c.plan, c.art)}")
            if c.plan["device"] in (drivers or {}):
                from vst.bench.drivers_native import NativeCell
                c.runner = NativeCell(c.plan, c.art, drivers[c.plan["device"]], tick=lambda: frames.update(1))
                continue
            c.runner = HostCell(c.plan, c.art, tick=lambda: frames.update(1),
                                budget=PREPARED_BYTES // len(cells), shared_with=in_process - 1,
                                peak_reset=peak_reset)
        r = 0
        while active := [c for c in cells if c.missing > 0]:
            ref = reference_ms()
            k = r % len(active)
            for c in active[k:] + active[:k]:  # rotate: no cell always runs right after the same one
                reps.set_postfix_str(cell_label(c.plan, c.art))
                c.before_ms = ref if c.before_ms is None else c.before_ms
                c.started_at.append(_now())
                c.reference.append(ref)
                c.repeats.append(c.runner.repeat(len(c.repeats)))
                reps.update(1)
                _finish(c, out_dir, run_id, rotation, say, reference_ms() if c.missing == 0 else ref)
                if c.missing == 0:
                    c.runner = None  # free the model and its prepared inputs
            r += 1
        with contextlib.suppress(OSError):  # empty now: nothing left to resume
            (out_dir / PARTIAL).rmdir()
    finally:
        frames.close()
        reps.close()


def _finish(c: _Cell, out_dir: Path, run_id: str, rotation: list[dict], say, after_ms: float) -> None:
    """Store a finished cell (and drop its partial file), or keep its repeats so far for a resume."""
    prior = c.prior or {}
    known = {x["cell_id"] for x in rotation}
    earlier = [x for x in (prior.get("interleaving") or {}).get("cells", []) if x["cell_id"] not in known]
    doc = c.runner.result(run_id, c.repeats, (c.before_ms, after_ms), started=prior.get("started_at"),
                          load_ms=prior.get("load_ms"), first_ms=prior.get("first_inference_ms"),
                          thermal0=(prior.get("environment") or {}).get("thermal_start"),
                          battery0=(prior.get("environment") or {}).get("battery_start"),
                          memory=prior.get("memory"))
    doc["interleaving"] = {"mode": MODE, "cells": earlier + rotation,
                           "sessions": (prior.get("interleaving") or {}).get("sessions", 0) + 1,
                           "repeat_started_at": c.started_at, "reference_ms": c.reference}
    path = partial_path(out_dir, c.plan["cell_id"])
    if c.missing:
        atomic_write_text(path, json.dumps(doc))
        return
    say(save_result(out_dir, doc))
    path.unlink(missing_ok=True)  # after the result is stored: a kill in between leaves a stale file, no loss
