"""LiteRT's GPU accelerator run for real (a software Vulkan GPU here): coverage, numerics, the allow-list checked
against it, and the commands that take --accelerator gpu. CI installs the driver (scripts/setup.sh) and must run
these; elsewhere they are skipped with the reason the accelerator gave."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from vst.runtimes import gpu

REPO = Path(__file__).resolve().parents[1]
SHIPPED = "kunster.a025-s05-stage2"
W, H = 64, 48


@pytest.fixture(scope="module", autouse=True)
def accelerator(gpu_check):
    usable, why, _ = gpu.availability()
    if not usable:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the GPU checks: {why}")
        pytest.skip(why)


def _tf_model(path: Path, body, shape=(1, 16, 16, 8)) -> Path:
    """A .tflite of conv -> `body`, made by TensorFlow's converter (as a user's TensorFlow model would be)."""
    import tensorflow as tf
    c = shape[-1]
    fn = tf.function(lambda x: body(tf.nn.conv2d(x, tf.ones([3, 3, c, c]) / (9 * c), 1, "SAME")),
                     input_signature=[tf.TensorSpec(shape, tf.float32)])
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn).convert())
    return path


@pytest.fixture(scope="module")
def shipped(accelerator, tmp_path_factory):
    from vst.convert import convert
    from vst.common.records import artifact_file
    from vst.models.names import artifact_stem
    # the name vst-convert, vst-run and the GPU survey give it
    out = tmp_path_factory.mktemp("gpu") / artifact_file(artifact_stem(SHIPPED), W, H, "fp32", ".tflite")
    return convert(SHIPPED, to="tflite", quant="fp32", size=(W, H), out=out), out


def test_conversion_runs_the_artifact_on_the_gpu_and_records_what_it_took(shipped):
    import jsonschema
    rep, out = shipped
    g = rep["gpu"]
    assert g["measured"] and g["software_gpu"] and g["adapter"]["backend"] == "Vulkan"
    assert g["fully_accelerated"] and g["verdict"] == "full" and g["cpu_ops"] == []
    # the GPU computes in float16: close to the source and to the CPU run, not bit-exact
    assert 45 < g["fidelity"]["psnr_db"] < 100 and g["fidelity"]["passed"]
    assert g["fidelity"]["threshold_psnr_db"] == 35.0
    assert 45 < g["vs_cpu"]["psnr_db"] < 100 and 0 < g["vs_cpu"]["max_abs_err"] < 0.05
    t = g["temporal"]
    assert t["measured"] and abs(t["ratio"] - 1.0) < 0.05 and t["passed"]
    d = rep["delegates"]["tflite_gpu"]
    assert d["measured"] and d["verdict"] == "full" and d["allow_list_verdict"] == "full"
    assert g["agrees_with_allow_list"]
    schema = json.loads((REPO / "convert/schemas/convert_report.schema.json").read_text())
    jsonschema.validate(json.loads(Path(f"{out}.report.json").read_text()), schema)


def test_console_and_html_report_show_the_measured_gpu(shipped, tmp_path):
    from vst.convert.cli import summary
    from vst.reports.context import conversion_card
    rep, out = shipped
    text = summary(rep)
    assert "tflite_gpu: full (measured)" in text and "nnapi: full (allow-list)" in text
    assert "GPU (llvmpipe" in text and "software: coverage and numerics only" in text
    card = conversion_card(Path(f"{out}.report.json"), rep)
    assert card["gpu"]["short"].startswith("full, ") and card["gpu"]["cls"] == "ok"
    assert "a software GPU" in card["gpu"]["text"]
    assert any(d["name"] == "tflite_gpu" and d["how"] == "measured here" for d in card["delegates"])
    assert "float16): PASS" in text and "(threshold 1.25x): PASS" in text


def test_a_gpu_output_under_its_threshold_is_said_to_fail_on_console_and_report(shipped):
    """A graph the GPU takes whole can still compute it unfaithfully in float16: "full" alone would read as a pass."""
    import copy
    from vst.convert.cli import gpu_line
    from vst.reports.context import gpu_cell
    rep = copy.deepcopy(shipped[0])
    fid = rep["gpu"]["fidelity"]
    fid["threshold_psnr_db"], fid["passed"] = fid["psnr_db"] + 1, False
    line = gpu_line(rep["gpu"])
    assert "whole graph" in line and "float16): FAIL" in line
    cell = gpu_cell(rep)
    assert cell["cls"] == "bad" and cell["short"].endswith("fails fidelity") and "not faithful" in cell["text"]


def test_an_op_the_gpu_refuses_is_found_by_cutting_the_graph(tmp_path):
    import tensorflow as tf
    from vst.common.errors import VstError
    from vst.convert import gpu_check
    path = _tf_model(tmp_path / "sym.tflite", lambda x: tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], "SYMMETRIC"),
                     shape=(1, 16, 16, 3))
    assert gpu_check.cpu_ops_of(path) == [{"op": "MIRROR_PAD", "nodes": [1]}]
    s = gpu.GpuSession(path, cpu_fallback=True)
    assert not s.fully_accelerated
    x = np.random.default_rng(0).random((1, 16, 16, 3), dtype=np.float32)
    assert s.run(x).shape == (1, 18, 18, 3)      # it still runs, the pad on the CPU
    s.close()
    with pytest.raises(VstError, match="some ops stay on the CPU") as err:
        gpu.GpuSession(path, cpu_fallback=False)
    assert "\n" not in str(err.value)


# ops that the allow-list (rules/tflite_gpu.json) lacked and LiteRT's GPU accelerator takes: its corrections
CORRECTED = {
    "MAX_POOL_2D": lambda tf, x: tf.nn.max_pool2d(x, 2, 2, "VALID"),
    "AVERAGE_POOL_2D": lambda tf, x: tf.nn.avg_pool2d(x, 2, 2, "VALID"),
    "SUM": lambda tf, x: tf.reduce_sum(x, [1, 2], keepdims=True) + x,
    "REDUCE_MAX": lambda tf, x: tf.reduce_max(x, [1, 2], keepdims=True) + x,
    "SOFTMAX": lambda tf, x: tf.nn.softmax(x),
    "FULLY_CONNECTED": lambda tf, x: tf.reshape(x, [1, -1]) @ tf.ones([16 * 16 * 8, 4]),
    "GELU": lambda tf, x: tf.nn.gelu(x),
    "ELU": lambda tf, x: tf.nn.elu(x),
    "LOG": lambda tf, x: tf.math.log(tf.abs(x) + 1),
    "SIN": lambda tf, x: tf.sin(x),
    "COS": lambda tf, x: tf.cos(x),
    "FLOOR": lambda tf, x: tf.floor(x),
    "GATHER": lambda tf, x: tf.gather(x, [2, 0, 1, 3, 4, 5, 6, 7], axis=3),
    "SPLIT": lambda tf, x: tf.concat(tf.split(x, 2, axis=3)[::-1], 3),
    "CAST": lambda tf, x: tf.cast(tf.cast(x, tf.int32), tf.float32),
    "SELECT": lambda tf, x: tf.where(x > 0, x, 2 * x),
}


def test_the_allow_list_agrees_with_the_gpu_on_every_op_it_was_corrected_for(tmp_path):
    import tensorflow as tf
    from vst.convert import delegates
    from vst.runtimes.litert import ops
    paths = [_tf_model(tmp_path / f"{name}.tflite", lambda x, f=f: f(tf, x)) for name, f in CORRECTED.items()]
    taken = gpu.taken(paths)
    for (name, _), path, ok in zip(CORRECTED.items(), paths, taken):
        listed = delegates.tflite_verdicts(ops(path.read_bytes()))["tflite_gpu"]
        assert name in {o["op"] for o in ops(path.read_bytes())}, name
        assert ok is True, f"the GPU refused {name}"
        assert listed["verdict"] == "full", (name, listed["fallbacks"])


def test_bench_and_stylize_take_accelerator_gpu(shipped, tmp_path, write_video):
    from vst.bench.cli import main as bench_main
    from vst.stylize.cli import main as stylize_main
    _, out = shipped
    assert bench_main(["--model", str(out), "--accelerator", "gpu", "--frames", "5", "--repeats", "1",
                       "--warmup-frames", "1", "--cooldown", "0", "--out", str(tmp_path / "b"),
                       "--no-progress"]) == 0
    import pandas as pd
    row = pd.read_csv(tmp_path / "b" / "results.csv").iloc[0]
    assert row["delegate_used"].startswith("gpu (fully accelerated") and "software" in row["delegate_used"]
    rng = np.random.default_rng(1)
    clip = write_video(tmp_path / "in.avi", [rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(4)])
    gpu_out, cpu_out = tmp_path / "gpu.mp4", tmp_path / "cpu.mp4"
    assert stylize_main([str(clip), "-m", str(out), "-o", str(gpu_out), "--accelerator", "gpu"]) == 0
    assert stylize_main([str(clip), "-m", str(out), "-o", str(cpu_out)]) == 0
    from vst.video.codec import probe
    assert probe(gpu_out).frames == 4 and probe(cpu_out).frames == 4


def test_accelerator_gpu_refuses_what_it_cannot_run_in_one_line(tmp_path):
    from vst.common.errors import VstError
    from vst.runtimes.stylizer import load_runner
    with pytest.raises(VstError, match="convert the model first") as err:
        load_runner(SHIPPED, accelerator="gpu")
    assert "\n" not in str(err.value)
    with pytest.raises(VstError, match="unknown accelerator"):
        load_runner(SHIPPED, accelerator="npu")


def test_gpu_coverage_survey_reads_a_finished_artifact_instead_of_converting_again(shipped, monkeypatch):
    from vst.pipeline import gpu_coverage
    import vst.convert
    _, out = shipped
    monkeypatch.setattr(vst.convert, "convert", lambda *a, **k: pytest.fail("converted again"))
    row = gpu_coverage.cell(SHIPPED, "fp32", "fp32", False, (W, H), out.parent)
    assert row["gpu_measured"] and row["verdict"] == "full" and row["cpu_ops"] == [] and row["agrees"]
    assert not row["random_weights"] and row["psnr_vs_source_db"] > 45 and abs(row["temporal_ratio"] - 1) < 0.05
    table = gpu_coverage.format_table({"rows": [row], "size": f"{W}x{H}", "adapter": "llvmpipe"})
    assert f"| {SHIPPED} | fp32 | native | full | - |" in table
    assert table.endswith("1 of 1 artifacts run whole on the GPU; the allow-list disagrees on 0; 0 not run")


def test_a_crash_of_the_accelerator_is_no_answer_and_the_next_model_is_still_checked(tmp_path):
    import tensorflow as tf
    crashes = _tf_model(tmp_path / "bmm.tflite", lambda x: tf.reshape(
        tf.matmul(tf.reshape(x, [1, 256, 8]), tf.reshape(x, [1, 256, 8]), transpose_a=True), [1, 8, 8, 1]))
    refused = _tf_model(tmp_path / "pack5d.tflite", lambda x: tf.reshape(tf.stack([x, x], 1), [1, 32, 16, 8]))
    taken = _tf_model(tmp_path / "pool.tflite", lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID"))
    # BATCH_MATMUL kills the worker (measured with LiteRT 2.3 on lavapipe): None, then a fresh worker goes on
    assert gpu.taken([crashes, refused, taken]) == [None, False, True]


def test_without_a_vulkan_adapter_the_gpu_is_refused_in_one_line_naming_the_fix(shipped, tmp_path):
    import subprocess
    import sys
    _, out = shipped
    env = {**os.environ, "VK_ICD_FILENAMES": str(tmp_path / "no-driver.json")}    # as on a machine without Mesa 25
    r = subprocess.run([sys.executable, "-m", "vst.bench.cli", "--model", str(out), "--accelerator", "gpu",
                        "--out", str(tmp_path / "b"), "--no-progress"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 2, r.stderr
    err = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and "is not usable here" in err[0] and "bookworm-backports mesa-vulkan-drivers" in err[0]
    assert not (tmp_path / "b").exists()


def test_instance_norm_statistics_stay_finite_in_the_gpus_float16(tmp_path):
    # A conv on 0-255 pixels (as fast-neural-style's TransformerNet takes them) before an instance norm: some
    # activations pass 255.9, whose square overflows float16 (65504), while their deviations from the channel's
    # mean stay under it. The GPU computes in float16 whatever the file's precision: instance_norm_moments must
    # take the variance from centred values (as E[x^2] - m^2 it scored 29 dB here), and stay exact on the CPU.
    import torch
    from vst.convert import passes, tflite, verify
    from vst.convert.ir import Graph, Node, run_graph, run_numpy
    rng = np.random.default_rng(4)
    w, h = 32, 24
    consts = {"px": np.float32(255.0), "w": rng.uniform(-0.25, 0.25, (8, 3, 3, 3)).astype(np.float32),
              "b": np.zeros(8, np.float32), "gamma": rng.uniform(0.6, 1.6, 8).astype(np.float32),
              "beta": rng.normal(0, 0.3, 8).astype(np.float32),
              "w2": rng.normal(0, 0.3, (3, 8, 1, 1)).astype(np.float32), "b2": np.zeros(3, np.float32)}
    conv = {"stride": (1, 1), "dilation": (1, 1), "group": 1}
    g = Graph("x", "y", (1, 3, h, w), [
        Node("mul", ["x", "px"], "p", {}, "pixels"), Node("conv", ["p", "w", "b"], "c", conv, "conv"),
        Node("instance_norm", ["c", "gamma", "beta"], "n", {"eps": 1e-5}, "norm"), Node("relu", ["n"], "r"),
        Node("conv", ["r", "w2", "b2"], "o", conv, "out"), Node("sigmoid", ["o"], "y")], consts)
    g.infer_shapes()
    images = verify.eval_images(w, h)
    ref, acts = run_numpy(g, images), {}
    run_graph(g, torch.from_numpy(images), record=acts, keep=True)
    c = acts["c"].numpy()      # the norm's input
    assert np.abs(c).max() ** 2 > 65504 > np.abs(c - c.mean((2, 3), keepdims=True)).max() ** 2
    for name in passes.for_target("tflite"):
        if passes.REGISTRY[name].skip_reason("tflite", "", "fp32") is None:
            g, res = passes.prove_and_apply(g, name, images)
            assert res.applied or name != "instance_norm_moments", res.detail
    path = tmp_path / "norm.tflite"
    path.write_bytes(tflite.to_tflite(g, "fp32"))
    x = verify.to_layout(images, "nhwc")
    cpu = verify.from_layout(tflite.run(path.read_bytes(), x), "nhwc")
    session = gpu.GpuSession(path)
    got = verify.from_layout(np.concatenate([session.run(x[i:i + 1]) for i in range(len(x))]), "nhwc")
    session.close()
    assert verify.compare(ref, cpu)["psnr_db"] >= passes.EXACT_PSNR_DB
    assert np.isfinite(got).all() and verify.compare(ref, got)["psnr_db"] >= verify.THRESHOLDS_DB["fp16"]
