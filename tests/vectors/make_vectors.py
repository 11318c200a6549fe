"""Write the shared harness test vectors from vst's own plan maker and statistics (bench/plan.py, bench/stats.py).

Python, the Swift package (ios_harness/VstBenchKit) and the Kotlin core (android_harness/core) all read these
files and must agree with them; tests/test_harness_vectors.py fails when stats.py drifts from what is committed.
Rerun after changing the statistics or the schemas:  .venv/bin/python tests/vectors/make_vectors.py
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vst.bench.plan import make_plan
from vst.bench.stats import summarize, summarize_result

HERE = Path(__file__).resolve().parent
CLIP = {"kind": "video", "path": "clips/clip.mp4", "sha256": "b" * 64, "width": 1920, "height": 1080,
        "fps": 25.0, "frames": 12}


def _ms(rng, n: int, lo: float, hi: float) -> list[float]:
    # 6 decimals keep the files readable; every runner reads the same decimal strings
    return [round(float(v), 6) for v in rng.uniform(lo, hi, n)]


def plans() -> dict[str, dict]:
    art = {"format": "mlpackage", "sha256": "a" * 64, "zoo_name": None, "path": "models/k.mlpackage",
           "model": {"name": "kunster-t2-04", "arch": "kunster", "params": 33000, "precision": "fp16"}}
    ios = make_plan(device="iphone11pro", runtime="coreml", artifact=art, width=480, height=320, layout="NHWC",
                    frame_source=CLIP, warmup_frames=2, warmup_seconds=0.0, repeats=2, cooldown_s=0.0,
                    delegate="cpuAndNeuralEngine")
    art = dict(art, format="tflite", path="models/k.tflite", zoo_name="kunster-t2-04",
               model=dict(art["model"], precision="int8"))
    android = make_plan(device="pixel7", runtime="litert", artifact=art, width=320, height=240, layout="NHWC",
                        frame_source=CLIP, warmup_frames=2, warmup_seconds=0.0, measure_frames=10, repeats=3,
                        cooldown_s=0.0, threads=4, delegate="gpu")
    return {"plan-coreml.json": ios, "plan-litert.json": android}


def repeats(rng, frames: list[int], wall_scale: list[float]) -> list[dict]:
    out = []
    for i, (n, k) in enumerate(zip(frames, wall_scale)):
        inf = _ms(rng, n, 4.0, 6.0)
        out.append({"index": i,
                    "e2e": {"frames": n, "wall_s": round(n * 0.0061 * k, 6), "decode_ms": _ms(rng, n, 1.0, 2.0),
                            "resize_ms": _ms(rng, n, 0.5, 1.0), "inference_ms": inf,
                            "e2e_ms": [round(x + 2.5, 6) for x in inf]},
                    "inference": {"frames": n, "wall_s": round(n * 0.0050 * k, 6),
                                  "inference_ms": _ms(rng, n, 4.0, 6.0)}})
    return out


def stats_cases(rng) -> dict:
    samples = {
        "one": [7.25],
        "two": [3.0, 5.0],
        "ten_linear": [float(v) for v in range(1, 11)],
        "outlier": [10.0] * 9 + [1000.0],
        "thirty_unsorted": _ms(rng, 30, 1.0, 50.0),  # 30 * 0.1 is 3.0000000000000004: k must still be 3
        "constant": [2.5] * 7,
        "zeros": [0.0, 0.0, 0.0],
        "hundred_and_one": _ms(rng, 101, 3.0, 9.0),
    }
    results = {
        "steady": repeats(rng, [5, 5, 5], [1.0, 1.01, 0.995]),
        "spread_flagged": repeats(rng, [4, 6], [1.0, 1.2]),
        "single_repeat": repeats(rng, [3], [1.0]),
    }
    return {
        "tolerance_rel": 1e-9,
        "summarize": [{"name": k, "samples_ms": v, "expected": summarize(v)} for k, v in samples.items()],
        "summarize_result": [{"name": k, "repeats": v, "expected": summarize_result({"repeats": v})}
                             for k, v in results.items()],
    }


def result(plan: dict, env: dict, layout: str, dtype: str, reps: list[dict]) -> dict:
    doc = {"schema": "vst-bench-result/1", "plan": plan, "run_id": "device",
           "started_at": "2026-01-02T03:04:05.678Z", "finished_at": "2026-01-02T03:05:06.789Z", "environment": env,
           "input": {"width": plan["input"]["width"], "height": plan["input"]["height"], "layout": layout,
                     "dtype": dtype},
           "load_ms": 812.5, "first_inference_ms": 31.25, "repeats": reps}
    doc["summary"] = summarize_result(doc)
    return doc


def results(rng, p: dict[str, dict]) -> dict[str, dict]:
    ios_env = {"device": "iphone11pro", "platform": "ios", "hardware": "iPhone12,3", "chip": None,
               "os": "iOS 17.5 (Build 21F79)", "runtime": "coreml", "runtime_version": "Core ML (iOS 17.5)",
               "delegate_requested": "cpuAndNeuralEngine",
               # what VstBenchKit's ComputePlacement.describe writes for {ane: 41, cpu: 2}
               "delegate_used": "cpuAndNeuralEngine (ops preferred on: 41 ane, 2 cpu)", "threads": None,
               "thermal_start": {"source": "ProcessInfo.thermalState", "state": "nominal", "celsius": None},
               "thermal_end": {"source": "ProcessInfo.thermalState", "state": "fair", "celsius": None},
               "battery_start": {"source": "UIDevice", "level_pct": 87.0, "celsius": None, "charging": False},
               "battery_end": None, "harness": "ios_harness VstBench 1"}
    android_env = {"device": "pixel7", "platform": "android", "hardware": "Google Pixel 7", "chip": "Tensor G2",
                   "os": "Android 14 (API 34)", "runtime": "litert", "runtime_version": "LiteRT 1.0.1",
                   "delegate_requested": "gpu",
                   # what the Kotlin core's Delegate.GPU.used says
                   "delegate_used": "gpu (GpuDelegate applied; unsupported ops run on the CPU)", "threads": 4,
                   "thermal_start": {"source": "PowerManager.currentThermalStatus", "state": "none", "celsius": None},
                   "thermal_end": {"source": "PowerManager.currentThermalStatus", "state": "light", "celsius": None},
                   "battery_start": {"source": "BatteryManager", "level_pct": 64.0, "celsius": 31.5,
                                     "charging": True},
                   "battery_end": None, "harness": "android_harness VstBench 1"}
    return {
        "result-coreml.json": result(p["plan-coreml.json"], ios_env, "NHWC", "float16",
                                     repeats(rng, [12, 12], [1.0, 1.02])),
        "result-litert.json": result(p["plan-litert.json"], android_env, "NHWC", "int8",
                                     repeats(rng, [10, 10, 10], [1.0, 0.99, 1.08])),
    }


def main() -> None:
    rng = np.random.default_rng(15)
    p = plans()
    docs = dict(p)
    docs["stats.json"] = stats_cases(rng)
    docs.update(results(rng, p))
    for name, doc in docs.items():
        (HERE / name).write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
