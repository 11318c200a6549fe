"""The host runner on tiny real artifacts (ONNX, TFLite, PyTorch zoo) over a short real H.264 clip."""
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from vst.bench import cli
from vst.bench.artifacts import input_spec, resolve_artifact
from vst.bench.drivers_android import AndroidDriver, parse_battery, parse_thermal
from vst.runtimes.delegation import litert_delegation
from vst.bench.result import read_result
from vst.bench.store import COLUMNS, load_result, load_results
from vst.bench import Protocol, run_host  # the package-level API the report uses
from vst.video.codec import make_clip, probe
from vst.common.errors import VstError
from generators import conversion_report

QUICK = Protocol(warmup_frames=2, warmup_seconds=0.0, repeats=2, cooldown_s=0.0, threads=1)


def export_onnx(path, name="kunster-t2-05", size=(64, 48), dynamic=True):
    import torch
    from vst.models import create_model
    model = create_model(name).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.rand(1, 3, size[1], size[0]), str(path), dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {2: "h", 3: "w"}} if dynamic else None)
    return path


def export_tflite(path, size=(64, 48)):
    """A 3x3 convolution as a stand-in network: NHWC and a fixed size, as converted stylizers are."""
    import tensorflow as tf
    w, h = size
    kernel = tf.constant(np.random.default_rng(0).normal(size=(3, 3, 3, 3)).astype("float32"))

    @tf.function(input_signature=[tf.TensorSpec([1, h, w, 3], tf.float32)])
    def net(x):
        return tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME"))

    conv = tf.lite.TFLiteConverter.from_concrete_functions([net.get_concrete_function()], net)
    path.write_bytes(conv.convert())
    return path


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    clip = make_clip(d / "clip.mp4", (160, 96), seconds=0.4, fps=25)
    onnx_path = export_onnx(d / "k05.onnx")
    # a vst-convert report beside the artifact records the model: bench reads it instead of rebuilding the model
    from vst.models import count_params, create_model
    config = {"alpha": 0.125, "beta": 1.0, "variant": "table2"}
    report = conversion_report("kunster-t2-05", config=config, width=64, height=48)
    report["model"]["params"] = count_params(create_model("kunster-t2-05"))
    (d / "k05.onnx.report.json").write_text(json.dumps(report))
    tfl = export_tflite(d / "conv.tflite")
    out = d / "out"
    df = run_host([str(onnx_path), str(tfl), "kunster-t2-05"], [(64, 48), (32, 32)], out, protocol=QUICK,
                  video=clip, delegates=["xnnpack", "none", "cpu"], progress=False, log=lambda *_: None)
    return {"dir": d, "clip": clip, "out": out, "df": df, "onnx": onnx_path, "tflite": tfl}


def test_clip_is_real_h264(swept):
    info = probe(swept["clip"])
    assert (info.codec, info.width, info.height, info.frames, info.fps) == ("h264", 160, 96, 10, 25.0)


def test_input_layout_and_size_come_from_the_artifact(swept):
    t = input_spec(resolve_artifact(str(swept["tflite"])))
    assert (t.layout, t.size, t.dtype) == ("NHWC", (64, 48), "float32")
    o = input_spec(resolve_artifact(str(swept["onnx"])))
    assert (o.layout, o.size) == ("NCHW", None)
    fixed = input_spec(resolve_artifact(str(export_onnx(swept["dir"] / "fixed.onnx", size=(40, 24), dynamic=False))))
    assert fixed.size == (40, 24)


def test_host_sweep_yields_valid_results(swept):
    df, out = swept["df"], swept["out"]
    from vst.bench.store import MEMORY_COLUMNS, TRUST_COLUMNS
    assert list(df.columns) == COLUMNS + TRUST_COLUMNS + ["harness", *MEMORY_COLUMNS]
    # every cell says what ran it and how much memory its process held: a peak at least the resident size
    # before load, and as much as after load
    assert df["harness"].str.startswith("vst.bench.host").all()
    assert (df["memory_peak_mb"] >= df["memory_after_load_mb"]).all()
    assert (df["memory_after_load_mb"] > 0).all() and (df["memory_baseline_mb"] > 0).all()
    # onnx and zoo at two sizes; the fixed-size tflite only at its own, once per LiteRT delegate
    assert len(df) == 2 + 2 + 2
    assert df["cell_id"].is_unique
    for _, row in df.iterrows():
        r = read_result(out / row["result_path"])  # schema + consistency, raises if invalid
        assert r["plan"]["repeats"] == 2 and len(r["repeats"]) == 2
        assert all(rep["e2e"]["frames"] == 10 for rep in r["repeats"])
        assert row["fps_e2e"] > 0 and row["fps_inference"] > 0 and row["inference_ms_p90"] >= row["inference_ms_median"]
    tfl = df[df["runtime"] == "litert"].set_index("delegate")
    assert tfl.loc["xnnpack", "delegate_used"] == "xnnpack (1 partition, 1/1 ops delegated)"
    assert tfl.loc["none", "delegate_used"].startswith("none")
    assert set(tfl["resolution"]) == {"64x48"} and set(tfl["layout"]) == {"NHWC"}
    onnx = df[df["runtime"] == "onnxruntime"]
    assert set(onnx["delegate_used"]) == {"CPUExecutionProvider"}
    assert set(onnx["model_name"]) == {"kunster-t2-05"} and set(onnx["precision"]) == {"fp32"}
    from vst.models import count_params, create_model
    assert set(onnx["params"]) == {count_params(create_model("kunster-t2-05"))}


def test_rerun_measures_nothing_new(swept):
    before = load_results(swept["out"])
    again = run_host([str(swept["onnx"])], [(64, 48), (32, 32)], swept["out"], protocol=QUICK, video=swept["clip"],
                     progress=False, log=lambda *_: None)
    pd.testing.assert_frame_equal(before, again)


def test_plots_return_figures(swept):
    from vst.bench.plots import fps_vs_params, latency_distribution
    df = load_results(swept["out"])
    fig = fps_vs_params(df)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["input 64x48", "input 32x32", "input 480x320", "input 320x240"]
    # Table II's published points are drawn on the paper's resolutions
    assert any("published" in t.get_text() for t in fig.axes[2].get_legend().get_texts())
    assert fig.axes[0].get_xscale() == "log"
    fig2 = latency_distribution(df, swept["out"])
    assert len(fig2.axes) == 2


def test_cli_import_and_plots(swept, tmp_path, capsys):
    src = sorted((swept["out"] / "results").glob("*.json"))[:2]
    assert cli.main(["--import", *map(str, src), "--out", str(tmp_path), "--plots"]) == 0
    df = load_results(tmp_path)
    assert len(df) == 2 and set(df["source"]) == {"imported"}
    assert (tmp_path / "fps_vs_params.png").stat().st_size > 0
    bad = json.loads(src[0].read_text())
    bad["repeats"][0]["inference"]["inference_ms"] = [-1.0]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert cli.run_cli(cli.main, ["--import", str(tmp_path / "bad.json"), "--out", str(tmp_path)]) == 2
    assert "does not match" in capsys.readouterr().err


def test_host_rejects_core_ml_and_unknown_artifacts(swept, tmp_path):
    pkg = tmp_path / "m.mlpackage"
    pkg.mkdir()
    with pytest.raises(VstError, match="runs"):
        run_host([str(pkg)], [(64, 48)], tmp_path / "o", protocol=QUICK, video=swept["clip"], progress=False)
    with pytest.raises(VstError, match="neither a file nor a zoo"):
        resolve_artifact("no-such-model")
    with pytest.raises(VstError, match="delegates"):
        run_host([str(swept["onnx"])], [(64, 48)], tmp_path / "o", protocol=QUICK, video=swept["clip"],
                 delegates=["nnapi"], progress=False)


DUMPSYS_BATTERY = """Current Battery Service state:
  AC powered: false
  USB powered: true
  Wireless powered: false
  Max charging current: 500000
  status: 2
  health: 2
  present: true
  level: 87
  scale: 100
  voltage: 4301
  temperature: 312
  technology: Li-ion
"""
DUMPSYS_THERMAL = """IsStatusOverride: false
ThermalEventListeners:
\tcallbacks: 1
Thermal Status: 1
Cached temperatures:
\tTemperature{mValue=36.5, mType=3, mName=skin, mStatus=0}
\tTemperature{mValue=41.25, mType=0, mName=cpu0, mStatus=1}
HAL Ready: true
"""


def test_android_result_is_merged_with_dumpsys_and_imported(swept, tmp_path):
    """A result in the harness's format (re-tagged from a real host run) with dumpsys readings filled in."""
    host = json.loads(next((swept["out"] / "results").glob("*.json")).read_text())
    harness = {k: v for k, v in host.items() if k != "summary"}
    harness["environment"] = dict(host["environment"], platform="android", thermal_start=None, thermal_end=None,
                                  battery_start=None, battery_end=None)
    merged = AndroidDriver.merge(harness, host["plan"], parse_thermal(DUMPSYS_THERMAL), parse_battery(DUMPSYS_BATTERY),
                                 parse_thermal(DUMPSYS_THERMAL), parse_battery(DUMPSYS_BATTERY))
    path = tmp_path / "from_phone.json"
    path.write_text(json.dumps(merged))
    from vst.bench.store import import_results
    row = import_results([path], tmp_path / "store")[0]
    assert row["platform"] == "android"
    assert row["thermal_start"] == "light 41C" and row["battery_end"] == "87%"
    assert load_result(tmp_path / "store", row)["environment"]["battery_start"]["celsius"] == 31.2


def test_delegation_summary_counts_nodes_a_partition_replaced():
    """LiteRT keeps replaced nodes in its node list; those between a DELEGATE node's inputs and outputs count."""
    ops = [{"index": 0, "op_name": "CONV_2D", "inputs": [0, 10, -1], "outputs": [1]},
           {"index": 1, "op_name": "RELU", "inputs": [1], "outputs": [2]},
           {"index": 2, "op_name": "MIRROR_PAD", "inputs": [2, 11], "outputs": [3]},
           {"index": 3, "op_name": "DELEGATE", "inputs": [0, 10], "outputs": [2]}]
    assert litert_delegation(ops, "xnnpack").summary() == "xnnpack (1 partition, 2/3 ops delegated, 1 on builtin kernels)"
    assert litert_delegation(ops[:3], "xnnpack").summary() == "none (builtin kernels)"


def test_frames_are_scaled_in_one_pass_alike_to_converting_then_resizing(swept):
    # the end-to-end producer scales the decoder's YUV frame to RGB at the input size (video.codec.scale_cover);
    # it matches the whole frame converted to RGB and resized by OpenCV, shrinking, cropping and growing
    from vst.common.images import resize_cover
    from vst.metrics.quality import psnr
    from vst.video.codec import decode_video_frames, scale_cover
    for frame, _, _ in decode_video_frames(swept["clip"], limit=3):
        rgb = frame.to_ndarray(format="rgb24")
        for w, h in ((64, 48), (32, 32), (48, 64), (320, 192)):
            got = scale_cover(frame, w, h)
            assert got.shape == (h, w, 3) and got.dtype == np.uint8 and got.flags["C_CONTIGUOUS"]
            assert psnr(resize_cover(rgb, w, h), got, peak=255) >= 30, (w, h)
