"""vst-predict from an artifact's own graph: counts of .tflite and .onnx against the module count, the shipped
Table II graph features recomputed, a user's U-Net predicted with its extrapolation lines, the int8 precision
caveat (and int8 phone rows that lift it), the report's cell, bad input in one line."""
import json
import shutil
import warnings
from collections import Counter

import pandas as pd
import pytest
import torch
from torch import nn

from generators import make
from test_predict import bench_frame
from vst.common.cli import run_cli
from vst.common.errors import VstError
from vst.models import create_model
from vst.models.profile import count_macs
from vst.predict import device as dev
from vst.predict.cli import main
from vst.pipeline.table2_graph import build_table2
from vst.predict.graph import CHANNEL_GROUP, graph_features, load_table2, tflite_ops

W, H = 64, 48


@pytest.fixture(scope="module")
def unet(tmp_path_factory):
    """A user's own U-Net (not a vst architecture) as TorchScript, converted to fp32 and dynamic-int8 .tflite."""
    from vst.convert import convert
    d = tmp_path_factory.mktemp("unet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # the tracer's notes
        torch.jit.trace(make("unet").eval(), torch.rand(1, 3, H, W)).save(str(d / "unet.ts.pt"))
    paths = {"fp32": d / "unet-fp32.tflite", "int8": d / "unet-int8.tflite"}
    convert(str(d / "unet.ts.pt"), to="tflite", size=(W, H), out=paths["fp32"], checks="proofs", gpu_check=False)
    convert(str(d / "unet.ts.pt"), to="tflite", quant="int8", dynamic=True, size=(W, H), out=paths["int8"],
            checks="proofs", gpu_check=False)
    return paths


def _module_convs(model, w, h):
    """(module path, MACs, MACs in channel groups of 8) of every Conv2d call, from its weight and output shapes."""
    up = lambda n: -(-n // CHANNEL_GROUP) * CHANNEL_GROUP  # noqa: E731
    out = []

    def hook(mod, inputs, output, name):
        px, (cout, cin_g, kh, kw) = output.shape[-2] * output.shape[-1], mod.weight.shape
        out.append((name, px * cout * cin_g * kh * kw, px * up(cout) * up(cin_g) * kh * kw))
    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: hook(mod, i, o, n))
             for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, h, w))
    for hk in hooks:
        hk.remove()
    return out


def test_tflite_conv_macs_match_the_module_count_where_the_converter_keeps_the_conv(shipped_tflite):
    from vst.models.resolver import resolve_model
    module = resolve_model("kunster.a025-s05-stage2").module()
    per_op = tflite_ops(shipped_tflite.read_bytes())[0]
    graph = Counter((o.macs, o.macs_grouped) for o in per_op if o.op == "CONV_2D")
    kept = [(n, m, g) for n, m, g in _module_convs(module, W, H)
            if n.startswith(("residuals", "encoder.1", "encoder.2"))]
    assert len(kept) >= 4
    # the downsampling and residual convolutions reach the graph as they are: the same MACs, both counts
    missing = Counter((m, g) for _, m, g in kept) - graph
    assert not missing, f"module convolutions with no graph op of the same MACs: {missing}"
    f = graph_features(shipped_tflite)
    assert (f.width, f.height, f.precision, f.format) == (W, H, "fp32", "tflite")
    assert f.macs_grouped == sum(o.macs_grouped for o in per_op) and f.ops == len(per_op) == sum(f.op_mix.values())
    # bytes at fp32: every op reads and writes at least its output
    assert f.bytes_moved > 4 * sum(1 for _ in per_op)


def test_onnx_conv_macs_equal_the_module_count_and_a_free_size_takes_size(tmp_path):
    model = create_model("kunster-t2-15").eval()
    fixed, free = tmp_path / "fixed.onnx", tmp_path / "free.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.rand(1, 3, H, W),), str(fixed), dynamo=False, opset_version=17)
        torch.onnx.export(model, (torch.rand(1, 3, H, W),), str(free), dynamo=False, opset_version=17,
                          input_names=["x"], dynamic_axes={"x": {2: "h", 3: "w"}})
    f = graph_features(fixed)
    assert (f.macs, f.macs_grouped) == (count_macs(model, W, H), count_macs(model, W, H, CHANNEL_GROUP))
    assert f.precision == "fp32" and f.op_mix["Conv"] == sum(isinstance(m, nn.Conv2d) for m in model.modules())
    at = graph_features(free, (320, 240))
    assert (at.width, at.height, at.macs) == (320, 240, count_macs(model, 320, 240))
    # without --size, a free-size ONNX is predicted at the paper's two sizes
    assert [(p.width, p.height, p.model) for p in dev.predict(str(free), "iphone6s")] == \
        [(480, 320, "onnx"), (320, 240, "onnx")]


def test_shipped_table2_graph_features_are_what_the_generator_computes(tmp_path):
    """One configuration (the smallest, at 320x240) converted again as `python -m vst.pipeline.table2_graph`
    does: the same numbers as the shipped data file."""
    rows = build_table2(tmp_path, keys=["kunster-t2-15"], sizes=[(320, 240)], formats=("tflite",))["rows"]
    shipped = {(g.format, g.name, g.width, g.height): g.record() for g in load_table2()}
    assert len(shipped) == 60 and rows == [shipped[("tflite", "kunster-t2-15", 320, 240)]]


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_graph_models_are_calibrated_on_their_format_and_loo_is_close_to_the_module_model(fmt):
    rows = {(g.format, g.name, g.width, g.height): g for g in load_table2()}
    for phone in dev.PHONES:
        graph, module = (dev.mape(dev.leave_one_out(phone, kind=k)) for k in (fmt, dev.MODULE))
        # the graph counts what vst-convert wrote (the .tflite: its rewrites), not 000's network: not much worse
        assert graph <= module + 2.0, (phone, graph, module)
        model = dev.calibrate(phone, kind=fmt)
        assert model.kind == fmt and model.n_points == 30 and not model.int8_calibrated
        assert model.extrapolation(rows[(fmt, "kunster-t2-04", 480, 320)]) == []
        with pytest.raises(VstError, match="cannot predict"):
            model.latency_ms(rows[("onnx" if fmt == "tflite" else "tflite", "kunster-t2-04", 480, 320)])


def test_a_users_unet_gets_a_prediction_with_its_extrapolation_lines(unet, tmp_path, capsys):
    # without its report: the graph alone
    alone = tmp_path / "mine.tflite"
    shutil.copy(unet["fp32"], alone)
    assert main([str(alone), "--device", "iphone6s"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("calibration: .tflite graph model calibrated for iPhone 6s on 30 points: 000's Table II")
    assert "leave-one-out MAPE" in out[0] and "fp32 .tflite" in out[0]
    assert out[1].startswith(f"mine.tflite {W}x{H} on iPhone 6s: ") and " FPS " in out[1]
    extra = [line for line in out[2:] if line.startswith("  extrapolation: ")]
    assert any("op types" in e and "TRANSPOSE_CONV" in e and "LOGISTIC" in e for e in extra)
    assert any("MACs (channels in groups of 8)" in e and "below the calibrated range" in e for e in extra)
    assert not any("precision" in e for e in extra)
    [p] = dev.predict(str(unet["fp32"]), "iphone6s")   # with its report beside it: the same graph
    assert p.model == "tflite" and p.precision == "fp32" and p.precision_calibrated and p.published_fps is None
    assert p.fps == pytest.approx(float(out[1].split(": ")[1].split(" FPS")[0]), abs=0.05)


def test_an_int8_artifact_states_that_precision_is_not_calibrated(unet, capsys):
    [p] = dev.predict(str(unet["int8"]), "iphone11pro")
    # dynamic-range int8 quantizes the convolutions; LiteRT leaves the transposed ones float
    assert p.precision == "mixed (fp32, int8-dynamic)" and not p.precision_calibrated
    assert any(n.startswith(f"precision {p.precision} is not in the calibrated model") for n in p.extrapolation)
    # counted as it is: the fp32 file's MACs, most of them now at int8, at the float cost per MAC
    f32, i8 = graph_features(unet["fp32"]), graph_features(unet["int8"])
    assert i8.macs_grouped == f32.macs_grouped and 0 < i8.macs_grouped_int8 < i8.macs_grouped
    assert main([str(unet["int8"]), "--device", "iphone11pro"]) == 0
    assert f"extrapolation: precision {p.precision} is not in the calibrated model" in capsys.readouterr().out
    # the report's phone-prediction cell says it too
    from vst.reports.context import _predicted_fps
    cell = _predicted_fps(unet["int8"].with_name(unet["int8"].name + ".report.json"), W, H, {})
    assert len(cell["fps"]) == 2 and "graph" in cell["basis"] and "Core ML float" in cell["basis"]
    assert any(c.startswith("precision mixed (fp32, int8-dynamic) not calibrated") for c in cell["caveats"])
    fp32_cell = _predicted_fps(unet["fp32"].with_name(unet["fp32"].name + ".report.json"), W, H, {})
    assert not any(c.startswith("precision") for c in fp32_cell["caveats"])


def test_int8_phone_rows_put_precision_in_the_model(unet, tmp_path):
    """Imported rows measured on the phone at int8 (two artifacts) give int8 MACs their own coefficient."""
    entries = []
    for i, fps in ((1, 200.0), (2, 180.0)):
        art = tmp_path / f"int8-{i}.tflite"
        shutil.copy(unet["int8"], art)
        entries.append({"device": "iphone11pro", "model_name": art.stem, "artifact": str(art), "precision": "int8",
                        "resolution": f"{W}x{H}", "width": W, "height": H, "fps_e2e": fps})
    entries.append({"device": "iphone11pro", "model_name": "gone", "artifact": str(tmp_path / "gone.tflite"),
                    "precision": "int8", "resolution": f"{W}x{H}", "width": W, "height": H, "fps_e2e": 90.0})
    rows = bench_frame(entries)
    points, skipped = dev.measured_points(rows, "iphone11pro", "tflite")
    assert [p.key for p in points] == ["int8-1", "int8-2"] and skipped == [f"{tmp_path / 'gone.tflite'} {W}x{H}"]
    [p] = dev.predict(str(unet["int8"]), "iphone11pro", results=rows)
    assert p.precision_calibrated and p.n_points == 32
    assert not any(n.startswith("precision") for n in p.extrapolation)
    assert "int8 MACs calibrated on 2 int8 point(s)" in p.calibration


@pytest.mark.parametrize("make_input, argv, message", [
    (lambda d: (d / "junk.tflite").write_bytes(b"not a flatbuffer"), ["junk.tflite"], "not a readable .tflite"),
    (lambda d: (d / "junk.onnx").write_bytes(b"\x08\x07garbage"), ["junk.onnx"], "junk.onnx"),
    (lambda d: None, ["fixed.tflite", "--size", "320x240"], "fixed at 64x48"),
    (lambda d: None, ["kunster-t2-04", "--graph", "onnx"], "--graph selects the model --loo checks"),
])
def test_bad_graph_input_is_one_line(unet, tmp_path, monkeypatch, capsys, make_input, argv, message):
    shutil.copy(unet["fp32"], tmp_path / "fixed.tflite")
    make_input(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run_cli(main, [*argv, "--device", "iphone6s"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
