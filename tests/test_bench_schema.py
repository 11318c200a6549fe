"""Plan/result schemas, result consistency checks and statistics (no runtime needed)."""
import copy

import jsonschema
import numpy as np
import pytest

from vst.bench import stats
from vst.bench.plan import load_schema, make_plan, schema_errors
from vst.bench.result import check_result
from vst.common.errors import VstError

ART = {"path": "m.tflite", "format": "tflite", "sha256": "a" * 64, "zoo_name": None,
       "model": {"name": "kunster-t2-04", "arch": "kunster", "params": 33000, "precision": "fp32"}}
SRC = {"kind": "video", "path": "clip.mp4", "sha256": "b" * 64, "width": 1920, "height": 1080, "fps": 25.0,
       "frames": 525}


def plan(**kw):
    args = dict(device="pixel7", runtime="litert", artifact=ART, width=480, height=320, layout="NHWC",
                frame_source=SRC, repeats=2, delegate="gpu")
    args.update(kw)
    return make_plan(**args)


def result_for(p, frames=(4, 4)):
    rng = np.random.default_rng(0)
    reps = []
    for i, n in enumerate(frames):
        ms = lambda: [float(v) for v in rng.uniform(5, 6, n)]  # noqa: E731
        reps.append({"index": i, "e2e": {"frames": n, "wall_s": n * 0.006, "decode_ms": ms(), "resize_ms": ms(),
                                         "inference_ms": ms(), "e2e_ms": ms()},
                     "inference": {"frames": n, "wall_s": n * 0.005, "inference_ms": ms()}})
    env = {"device": "pixel7", "platform": "android", "hardware": "Pixel 7", "chip": "Tensor G2", "os": "Android 14",
           "runtime": "litert", "runtime_version": "1.0.1", "delegate_requested": "gpu", "delegate_used": "gpu",
           "threads": None, "thermal_start": {"source": "PowerManager", "state": "none", "celsius": None},
           "thermal_end": None, "battery_start": None, "battery_end": None}
    return {"schema": "vst-bench-result/1", "plan": p, "run_id": "r1", "started_at": "2026-01-01T00:00:00Z",
            "finished_at": "2026-01-01T00:01:00Z", "environment": env,
            "input": {"width": 480, "height": 320, "layout": "NHWC", "dtype": "float32"},
            "load_ms": 10.0, "first_inference_ms": 20.0, "repeats": reps}


def test_schemas_are_valid_json_schemas():
    for name in ("plan", "result"):
        jsonschema.Draft202012Validator.check_schema(load_schema(name))


def test_plan_is_valid_and_its_id_tracks_what_is_measured():
    p = plan()
    assert schema_errors("plan", p) == []
    assert plan()["cell_id"] == p["cell_id"]
    assert plan(width=320, height=240)["cell_id"] != p["cell_id"]
    assert plan(delegate="xnnpack")["cell_id"] != p["cell_id"]
    # where the files lie is not what is measured: a phone path gives the same cell
    moved = dict(ART, path="models/x.tflite")
    assert plan(artifact=moved)["cell_id"] == p["cell_id"]


@pytest.mark.parametrize("change", [
    lambda p: p.pop("repeats"),
    lambda p: p.update(delegate="tpu"),
    lambda p: p.update(runtime="tensorrt"),
    lambda p: p["input"].update(width=0),
    lambda p: p.update(extra=1),
])
def test_bad_plans_are_rejected(change):
    p = plan()
    change(p)
    assert schema_errors("plan", p)


def test_make_plan_rejects_bad_values_with_one_line():
    with pytest.raises(VstError, match="schema"):
        plan(repeats=0)


def test_result_validation_and_summary():
    r = check_result(result_for(plan()))
    s = r["summary"]
    assert s["fps_e2e"] == pytest.approx(1 / 0.006)
    assert s["fps_inference"] == pytest.approx(1 / 0.005)
    assert s["e2e_over_inference"] == pytest.approx(0.005 / 0.006)
    assert s["latency_ms"]["inference_ms"]["n"] == 8
    assert not s["spread_flag"]


def test_result_inconsistencies_are_caught():
    p = plan()
    bad = result_for(p)
    bad["repeats"][0]["e2e"]["inference_ms"].pop()
    with pytest.raises(VstError, match="samples"):
        check_result(bad)
    edited = result_for(copy.deepcopy(p))
    edited["plan"]["repeats"] = 3
    with pytest.raises(VstError, match="cell_id"):
        check_result(edited)
    wrong_size = result_for(p)
    wrong_size["input"]["width"] = 640
    with pytest.raises(VstError, match="measured 640x320"):
        check_result(wrong_size)
    with pytest.raises(VstError, match="repeats"):
        check_result(result_for(p, frames=(4,)))
    missing_env = result_for(p)
    del missing_env["environment"]["delegate_used"]
    with pytest.raises(VstError, match="delegate_used"):
        check_result(missing_env)


def test_statistics():
    s = stats.summarize(list(range(1, 11)))
    assert s["median"] == 5.5
    assert s["p90"] == pytest.approx(9.1)
    assert s["cv"] == pytest.approx(np.std(np.arange(1, 11), ddof=1) / 5.5)
    # one outlier moves the mean, not the 10%-trimmed mean
    spiky = [10.0] * 9 + [1000.0]
    assert stats.trimmed_mean(spiky) == 10.0
    assert stats.summarize(spiky)["mean"] == 109.0
    assert stats.fps(525, 21.0) == 25.0
    assert stats.repeat_spread([100, 104, 102]) == pytest.approx(4 / 102)
    assert stats.repeat_spread([10.0]) == 0.0


def test_spread_flag_over_five_percent():
    p = plan()
    r = result_for(p)
    r["repeats"][1]["e2e"]["wall_s"] *= 1.10
    s = check_result(r)["summary"]
    assert s["spread_flag"] and s["repeat_spread"] == pytest.approx(0.1 / 1.05, rel=1e-3)
    r = result_for(p)
    r["repeats"][1]["e2e"]["wall_s"] *= 1.03
    assert not check_result(r)["summary"]["spread_flag"]
