"""Results: schema check plus the consistency a schema cannot express, and the summary vst derives from them.

Runs on results from every runner: the host runner's before they are stored, the harnesses' when collected
from a phone or imported from a file measured elsewhere.
"""
from __future__ import annotations

from pathlib import Path

from vst.bench.plan import RESULT_SCHEMA, cell_id, validate
from vst.bench.stats import summarize_result, trust_figures
from vst.common.errors import VstError
from vst.common.records import read_json


def check_result(result: dict, what: str = "result", partial: bool = False) -> dict:
    """Validate `result` (schema, sample counts, cell id); return it with vst's summary attached. partial=True
    accepts fewer repeats than planned (a cell in progress, kept between rounds of an interleaved sweep)."""
    validate("result", result, what)
    plan = result["plan"]
    if cell_id(plan) != plan["cell_id"]:
        raise VstError(f"{what}: plan cell_id {plan['cell_id']} does not match its content ({cell_id(plan)}); "
                       "the plan was edited after it was made; rerun the cell")
    if result["environment"]["runtime"] != plan["runtime"]:
        raise VstError(f"{what}: ran on {result['environment']['runtime']} but the plan asked for {plan['runtime']}")
    if len(result["repeats"]) != plan["repeats"] and not (partial and len(result["repeats"]) < plan["repeats"]):
        raise VstError(f"{what}: {len(result['repeats'])} repeats recorded, the plan asked for {plan['repeats']}")
    for rep in result["repeats"]:
        e2e, inf = rep["e2e"], rep["inference"]
        for key in ("decode_ms", "resize_ms", "inference_ms", "e2e_ms"):
            if len(e2e[key]) != e2e["frames"]:
                raise VstError(f"{what}: repeat {rep['index']} has {len(e2e[key])} {key} samples for "
                               f"{e2e['frames']} frames")
        if len(inf["inference_ms"]) != inf["frames"]:
            raise VstError(f"{what}: repeat {rep['index']} has {len(inf['inference_ms'])} inference samples "
                           f"for {inf['frames']} frames")
    if (result["input"]["width"], result["input"]["height"]) != (plan["input"]["width"], plan["input"]["height"]):
        raise VstError(f"{what}: measured {result['input']['width']}x{result['input']['height']} but the plan "
                       f"asked for {plan['input']['width']}x{plan['input']['height']}")
    out = dict(result)
    out["summary"] = summarize_result(result)
    # apart from the summary, which the harness cores reproduce to the digit
    out["trust"] = trust_figures(result, out["summary"])
    out["schema"] = RESULT_SCHEMA
    return out


# Recomputed from the samples on every read (check_result); vst writes NaN there for an interval it could not
# draw. A measurement itself is never NaN.
DERIVED = ("summary", "trust")


def read_result(path: str | Path) -> dict:
    doc = read_json(path, "a vst-bench result", "give a result file written by vst-bench or a harness",
                    allow_nan=DERIVED)
    return check_result(doc, str(path))
