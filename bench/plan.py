"""Benchmark plans: one cell (artifact x device x input size x delegate x threads) as a schema-checked dict.

The same JSON goes to every runner: the host runner here, the iOS harness and the Android harness.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

from vst.common.errors import VstError
from vst.common.records import error_line, schema as record_schema

PLAN_SCHEMA = "vst-bench-plan/1"
RESULT_SCHEMA = "vst-bench-result/1"


def load_schema(name: str) -> dict:
    """`plan` or `result` -> the JSON Schema shipped in vst/bench/schemas."""
    return record_schema(f"bench-{name}")


@lru_cache(maxsize=None)
def _validator(name: str) -> jsonschema.Draft202012Validator:
    # the result schema embeds the plan schema by relative $ref; resolve it from the package, not the network
    registry = Registry()
    for other in ("plan", "result"):
        schema = load_schema(other)
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
        registry = registry.with_resource(f"{other}.schema.json", Resource.from_contents(schema))
    return jsonschema.Draft202012Validator(load_schema(name), registry=registry,
                                           format_checker=jsonschema.FormatChecker())


def schema_errors(name: str, doc: Any) -> list[str]:
    """Every violation of schema `name` in `doc`, as 'path: message' lines (empty when valid)."""
    errors = sorted(_validator(name).iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    return [error_line(e) for e in errors]


def validate(name: str, doc: Any, what: str = "") -> None:
    errs = schema_errors(name, doc)
    if errs:
        shown = "; ".join(errs[:3]) + (f"; and {len(errs) - 3} more" if len(errs) > 3 else "")
        raise VstError(f"{what or name} does not match the vst-bench {name} schema: {shown}")


def cell_id(plan: dict) -> str:
    """Stable id of what a cell measures (not of where files lie): resumes recognise finished cells by it."""
    # seconds as floats: Swift's and Android's JSON writers print 2.0 as 2, and the id must survive the round trip
    def seconds(v):
        return None if v is None else float(v)
    key = {"device": plan["device"], "runtime": plan["runtime"], "artifact": plan["artifact"]["sha256"],
           "zoo": plan["artifact"].get("zoo_name"), "input": [plan["input"]["width"], plan["input"]["height"]],
           "frames": plan["frame_source"].get("sha256") or Path(plan["frame_source"]["path"]).name,
           "warmup": {"frames": plan["warmup"]["frames"], "seconds": seconds(plan["warmup"]["seconds"])},
           "measure": {"frames": plan["measure"]["frames"], "seconds": seconds(plan["measure"]["seconds"])},
           "repeats": plan["repeats"], "cooldown_s": seconds(plan["cooldown_s"]), "threads": plan["threads"],
           "delegate": plan["delegate"]}
    if plan["artifact"].get("bind"):  # only when present: ids of cells measured before --bind existed stay put
        key["bind"] = plan["artifact"]["bind"]
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def make_plan(*, device: str, runtime: str, artifact: dict, width: int, height: int, layout: str | None,
              frame_source: dict, warmup_frames: int = 10, warmup_seconds: float = 1.0,
              measure_frames: int | None = None, measure_seconds: float | None = None, repeats: int = 3,
              cooldown_s: float = 2.0, threads: int | None = None, delegate: str) -> dict:
    plan = {"schema": PLAN_SCHEMA, "cell_id": "0" * 16, "device": device, "runtime": runtime,
            "artifact": artifact, "input": {"width": int(width), "height": int(height)},
            "frame_source": frame_source, "warmup": {"frames": int(warmup_frames), "seconds": float(warmup_seconds)},
            "measure": {"frames": measure_frames, "seconds": measure_seconds}, "repeats": int(repeats),
            "cooldown_s": float(cooldown_s), "threads": threads, "delegate": delegate}
    if layout:
        plan["input"]["layout"] = layout
    plan["cell_id"] = cell_id(plan)
    validate("plan", plan, "the plan")
    return plan


def frames_per_repeat(plan: dict) -> int | None:
    """Frames one repeat of the plan measures (end to end, and as many again inference only), as far as it can
    be known before running: None when a seconds budget stops the repeat and no frame limit bounds it."""
    measure = plan["measure"]
    if measure.get("seconds") and not measure["frames"]:
        return None
    return measure["frames"] or plan["frame_source"].get("frames") or None


# vst-bench's measured frames per repeat unless told: enough for a stable median, a few seconds a repeat
DEFAULT_FRAMES = 100


def default_frames(video: str | Path | None) -> int | None:
    """Frames per repeat when none are asked for: DEFAULT_FRAMES, or the whole clip (None) for a user's clip
    shorter than that, so that the default never fails on a short clip."""
    if video and Path(video).is_file():
        from vst.video.codec import probe
        if probe(video).frames < DEFAULT_FRAMES:
            return None
    return DEFAULT_FRAMES
