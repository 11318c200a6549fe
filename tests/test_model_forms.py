"""Every command on every model form it promises (vst.models.resolver.TAKES), through its CLI entry: the same
network as a checkpoint, TorchScript, a torch.export .pt2 and ONNX gives the same output through each command,
and a form a command cannot use is refused in one line with exit code 2."""
import io
import json
import re
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vst.common.cli import run_cli
from vst.common.images import sample_photos
from vst.common.synthclips import Motion, render_clip
from vst.models import create_model, save_model
from vst.models.resolver import TAKES

ZOO = "kunster-t2-15"                 # the smallest named configuration: TorchScript and .pt2 count as it
SHIPPED = "kunster.a025-s05-stage2"
W, H, N = 64, 48, 6


@pytest.fixture(scope="module")
def forms(tmp_path_factory):
    """One network (ZOO's layout, fixed random weights) in every file form, each file made once, and a clip."""
    d = tmp_path_factory.mktemp("forms")
    torch.manual_seed(3)
    model = create_model(ZOO).eval()
    x = torch.rand(1, 3, H, W)
    save_model(model, d / "net.safetensors")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")      # the tracer's note on the size check it leaves out
        torch.jit.trace(model, x).save(str(d / "net.ts.pt"))
        torch.export.save(torch.export.export(model, (x,)), str(d / "net.pt2"))
        torch.onnx.export(model, (x,), str(d / "net.onnx"), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"])
    (d / "net.tflite").write_bytes(b"")     # refused by its form before anything reads it
    clip = render_clip(sample_photos(("coffee",))["coffee"], (W, H), N, Motion(zoom=(1.0, 1.1), pan=(0.2, 0.05)))
    video = d / "clip.mp4"
    with av.open(str(video), "w") as out:
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for f in clip.frames:
            out.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(s.encode())
    return {"zoo": ZOO, "shipped": SHIPPED, "teacher": "multistyle26:3", "checkpoint": str(d / "net.safetensors"),
            "torchscript": str(d / "net.ts.pt"), "exported_program": str(d / "net.pt2"),
            "onnx": str(d / "net.onnx"), "tflite": str(d / "net.tflite"), "clip": str(video)}


def _stylize(forms, model, out):
    from vst.stylize.cli import main
    return main, [forms["clip"], "-m", model, "-o", str(out / "o.mp4")]


def _live(forms, model, out):
    from vst.stylize.cli import live_main
    return live_main, ["-m", model, "--source", forms["clip"], "-o", str(out / "o.mp4"), "--json"]


def _eval(forms, model, out):
    from vst.metrics.cli import main
    return main, [model, "--size", f"{W}x{H}", "--frames", "3", "--json", str(out / "r.json")]


def _predict(forms, model, out):
    from vst.predict.cli import main
    return main, [model, "--device", "iphone6s", "--size", "320x240"]


def _bench(forms, model, out):
    from vst.bench.cli import main
    return main, ["--model", model, "--resolutions", f"{W}x{H}", "--video", forms["clip"], "--out", str(out / "b"),
                  "--frames", "2", "--repeats", "1", "--cooldown", "0", "--warmup-frames", "1",
                  "--warmup-seconds", "0", "--no-progress"]


def _convert(forms, model, out):
    from vst.convert.cli import main
    return main, [model, "--to", "onnx", "--size", f"{W}x{H}", "-o", str(out / "a.onnx")]


def _train_init(forms, model, out):
    from vst.training.cli import main
    return main, ["--stage", "2", "--init", model, "--teacher", forms["teacher"], "--steps", "1", "--out",
                  str(out / "t.safetensors")]


COMMANDS = {"vst-stylize": _stylize, "vst-live": _live, "vst-eval-temporal": _eval, "vst-predict": _predict,
            "vst-bench": _bench, "vst-convert": _convert, "vst-train --init": _train_init}


def _result(command, out, stdout, model):
    """What the command made, as numbers: frames (video commands), temporal error, FPS."""
    if command in ("vst-stylize", "vst-live"):
        with av.open(str(out / "o.mp4")) as c:
            return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.float32)
    if command == "vst-eval-temporal":
        return np.array([json.loads((out / "r.json").read_text())["results"][model]["temporal_error"]])
    if command == "vst-predict":
        return np.array([float(v) for v in re.findall(r": ([\d.]+) FPS", stdout)])
    if command == "vst-bench":
        from vst.bench.store import load_results
        return load_results(out / "b")["fps_e2e"].to_numpy(dtype=float)
    return np.array([1.0])


def _run(forms, command, form, out):
    main, argv = COMMANDS[command](forms, forms[form], out)
    out.mkdir(parents=True, exist_ok=True)
    with redirect_stdout(io.StringIO()) as stdout:
        code = run_cli(main, argv)
    return code, stdout.getvalue()


# what each command runs the network's checkpoint against (bench times it: its figures are not compared)
# (vst-stylize on a shipped tag: tests/test_stylize.py)
PROMISED = [("vst-stylize", f) for f in ("checkpoint", "torchscript", "exported_program", "onnx")] + \
           [("vst-live", f) for f in ("torchscript", "exported_program")] + \
           [("vst-eval-temporal", f) for f in ("checkpoint", "torchscript", "exported_program", "onnx")] + \
           [("vst-predict", f) for f in ("zoo", "checkpoint", "torchscript", "exported_program", "shipped")] + \
           [("vst-bench", f) for f in ("zoo", "torchscript", "exported_program", "onnx", "shipped")] + \
           [("vst-convert", "torchscript")]
# the first form each command's others are compared with, and how close they must come
REFERENCE = {"vst-stylize": ("checkpoint", 1.0), "vst-eval-temporal": ("checkpoint", 1e-3),
             "vst-predict": ("zoo", 0.0)}


@pytest.fixture(scope="module")
def reference(forms, tmp_path_factory):
    """A command's result on the reference form, run once per module."""
    done = {}

    def get(command):
        if command not in done:
            form = REFERENCE[command][0]
            out = tmp_path_factory.mktemp("ref")
            code, stdout = _run(forms, command, form, out)
            assert code == 0
            done[command] = _result(command, out, stdout, forms[form])
        return done[command]
    return get


@pytest.mark.parametrize("command, form", PROMISED, ids=[f"{c}-{f}" for c, f in PROMISED])
def test_command_takes_the_form(forms, reference, tmp_path, command, form, capsys):
    assert form in TAKES[command][0]      # the resolver's table promises what this test runs
    code, stdout = _run(forms, command, form, tmp_path / "run")
    assert code == 0, capsys.readouterr().err
    got = _result(command, tmp_path / "run", stdout, forms[form])
    assert got.size and np.isfinite(got).all()
    if command in ("vst-predict", "vst-bench"):
        assert (got > 0).all()
    if command in ("vst-stylize", "vst-live"):
        # every frame (vst-live paces the clip and may drop some), and an image, not a flat field
        assert (len(got) == N if command == "vst-stylize" else 1 <= len(got) <= N) and got.std() > 1
    if command == "vst-convert":
        assert (tmp_path / "run" / "a.onnx").stat().st_size > 0
    ref_form, tol = REFERENCE.get(command, (None, None))
    if ref_form and form not in (ref_form, "shipped"):
        ref = reference(command)
        # the same weights through another form: the same frames (within a level of rounding), the same numbers
        if command == "vst-stylize":
            assert np.abs(got - ref).mean() <= tol
        else:
            np.testing.assert_allclose(got, ref, rtol=tol)


REFUSED = [("vst-stylize", "zoo", "random weights"), ("vst-eval-temporal", "zoo", "random weights"),
           ("vst-predict", "teacher", "multistyle26 teacher"), ("vst-predict", "onnx", "net.onnx is fixed at 64x48"),
           ("vst-bench", "teacher", "multistyle26 teacher"), ("vst-convert", "tflite", "TFLite artifact"),
           ("vst-train --init", "torchscript", "fine-tunes a vst architecture")]


@pytest.mark.parametrize("command, form, needle", REFUSED, ids=[f"{c}-{f}" for c, f, _ in REFUSED])
def test_a_form_the_command_cannot_use_is_one_line_exit_2(forms, tmp_path, capsys, command, form, needle):
    code, stdout = _run(forms, command, form, tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and needle in err, err
    assert not stdout


def test_predict_says_what_it_cannot_count(forms, tmp_path, capsys):
    """A TorchScript of no zoo layout is refused naming the fix (its graph); one of a zoo layout is counted
    as that configuration, and the console says so."""
    other = tmp_path / "other.ts.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(create_model("kunster", alpha=0.25, beta=0.25, variant="paper-text").eval(),
                        torch.rand(1, 3, H, W)).save(str(other))
    from vst.predict.cli import main
    assert run_cli(main, [str(other), "--device", "iphone6s"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "convert it with vst-convert and give the .tflite or .onnx" in err
    assert run_cli(main, [forms["torchscript"], "--device", "iphone6s", "--size", "320x240"]) == 0
    assert f"counted as {ZOO}" in capsys.readouterr().err
