"""Every console command against a careless or hostile command line: an output that is one of its inputs (by
name, symlink or hard link), NaN, infinite and out-of-range numbers in every numeric flag, outputs where writing
is not permitted, Ctrl-C on vst-live, and exceptions that escape. Each answer is one line on stderr and a
non-zero exit before any work: no traceback, no input touched, nothing left behind."""
import hashlib
import importlib
import os
import signal

import numpy as np
import pytest

from test_hostile_inputs import one_line
from vst.common.cli import run_cli
from vst.common.errors import VstError

W, H = 48, 32

MAINS = {"vst-zoo": "vst.models.cli", "vst-convert": "vst.convert.cli", "vst-bench": "vst.bench.cli",
         "vst-train": "vst.training.cli", "vst-eval-temporal": "vst.metrics.cli", "vst-report": "vst.reports.cli",
         "vst-run": "vst.pipeline.cli", "vst-predict": "vst.predict.cli", "vst-edge": "vst.edge.cli",
         "vst-optimize": "vst.training.cli:optimize_main", "vst-stylize": "vst.stylize.cli",
         "vst-live": "vst.stylize.cli:live_main"}


def main_of(command):
    module, _, name = MAINS[command].partition(":")
    return getattr(importlib.import_module(module), name or "main")


def run(capsys, command, args, rc=2, *needles):
    """Run a console command in-process as its entry does; return the one stderr line."""
    return one_line(capsys, main_of(command), args, *needles, rc=rc)


def tree(root):
    """Every path under `root` with its content hash (folders as None): what a refused command must not change."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.join(dirpath, d)] = None
        for f in files:
            p = os.path.join(dirpath, f)
            out[p] = "link" if os.path.islink(p) else hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


@pytest.fixture
def work(tmp_path, ckpt, monkeypatch):
    """A user's folder: a clip, a checkpoint, an ONNX model, a conversion report, a style image, a job file."""
    import shutil
    from PIL import Image
    from generators import style_onnx
    from vst.video.codec import make_clip
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / "clip.mp4", size=(W, H), seconds=0.3, fps=10)
    shutil.copy(ckpt, tmp_path / "model.safetensors")
    style_onnx(tmp_path / "src.onnx", (W, H))
    (tmp_path / "x.tflite").write_bytes(b"TFL3 not really")
    (tmp_path / "x.report.json").write_text('{"artifact": {}}')
    Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(tmp_path / "style.png")
    (tmp_path / "job.json").write_text("{}")
    return tmp_path


# --- an output that is one of the inputs ------------------------------------------------------------------------

# (command, arguments with OUT where the output goes; the input it names is `victim`)
SAME_PATH = [
    ("vst-stylize", ["clip.mp4", "-m", "model.safetensors", "-o", "OUT"], "clip.mp4"),
    ("vst-stylize", ["clip.mp4", "--style", "style.png", "-o", "OUT"], "clip.mp4"),
    ("vst-live", ["-m", "model.safetensors", "--source", "clip.mp4", "-o", "OUT"], "clip.mp4"),
    ("vst-report", ["x.report.json", "-o", "OUT"], "x.report.json"),
    ("vst-convert", ["src.onnx", "--to", "onnx", "--size", f"{W}x{H}", "--bind", "style_weights=0", "-o", "OUT"],
     "src.onnx"),
    ("vst-convert", ["model.safetensors", "--size", f"{W}x{H}", "-o", "OUT"], "model.safetensors"),
    ("vst-edge", ["stylize", "http://127.0.0.1:9", "--input", "clip.mp4", "--out", "OUT"], "clip.mp4"),
    ("vst-edge", ["bench", "-m", "model.safetensors", "--out", "OUT"], "model.safetensors"),
    ("vst-train", ["--init", "model.safetensors", "--out", "OUT"], "model.safetensors"),
    ("vst-train", ["--teacher", "model.safetensors", "--out", "OUT"], "model.safetensors"),
    ("vst-train", ["--teacher", "src.onnx:1", "--out", "OUT"], "src.onnx"),
    ("vst-train", ["--study", "table2", "--teacher", "src.onnx", "--out", "OUT"], "src.onnx"),
    ("vst-bench", ["--compare", "src.onnx", "x.tflite", "--json", "OUT"], "x.tflite"),
    ("vst-bench", ["--profile", "x.tflite", "--json", "OUT"], "x.tflite"),
    ("vst-bench", ["--model", "x.tflite", "--out", "OUT"], "x.tflite"),
    ("vst-eval-temporal", ["model.safetensors", "--json", "OUT"], "model.safetensors"),
    ("vst-optimize", ["--content", "style.png", "--style-image", "style.png", "--out", "OUT"], "style.png"),
    ("vst-run", ["--job", "job.json", "--out", "OUT"], "job.json"),
]


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "relative"])
@pytest.mark.parametrize("command,args,victim", SAME_PATH, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(SAME_PATH)])
def test_an_output_that_is_an_input_is_refused_before_any_work(capsys, work, command, args, victim, how):
    if how == "same":
        out = victim
    elif how == "relative":
        (work / "sub").mkdir()
        out = f"sub/../{victim}"
    else:
        out = f"alias{os.path.splitext(victim)[1]}"
        (os.symlink if how == "symlink" else os.link)(victim, work / out)
    before = tree(work)
    run(capsys, command, [out if a == "OUT" else a for a in args], 2, "input", victim)
    assert tree(work) == before


def test_the_python_api_check_compares_files_not_names(tmp_path):
    from vst.common.fsutil import check_not_input
    a = tmp_path / "a.mp4"
    a.write_bytes(b"x")
    check_not_input(tmp_path / "b.mp4", [a, None, "kunster-t2-04", "multistyle26:3"])     # distinct: fine
    check_not_input(tmp_path / "new" / "a.mp4", [a])
    with pytest.raises(VstError, match="also an input"):
        check_not_input(a, [tmp_path / "." / "a.mp4"])
    with pytest.raises(VstError, match="also an input"):
        check_not_input(a, [f"{a}:3"])          # a file with a style index


# --- NaN, infinities and out-of-range values in every numeric flag --------------------------------------------

# (command, the other arguments it needs, flag, a finite value out of the flag's range)
NUMERIC = [
    *[("vst-bench", ["--model", "x.tflite"], flag, bad) for flag, bad in (
        ("--threads", "0"), ("--warmup-frames", "-1"), ("--warmup-seconds", "-1"), ("--seconds", "0"),
        ("--repeats", "0"), ("--cooldown", "1e308"), ("--profile-runs", "0"), ("--top", "0"))],
    *[("vst-train", ["--teacher", "multistyle26:0", "--out", "m.safetensors"], flag, bad) for flag, bad in (
        ("--lr", "1e308"), ("--lr", "0"), ("--size", "0"), ("--steps", "0"), ("--batch", "0"), ("--seed", "-1"),
        ("--crops", "0"), ("--clips", "0"), ("--clip-frames", "1"), ("--w-style", "1e300"), ("--w-tv", "-1"),
        ("--noise-fraction", "2"), ("--noise-amplitude", "-1"), ("--checkpoint-every", "0"), ("--federated", "0"),
        ("--rounds", "0"), ("--eval-crops", "0"), ("--eval-size", "8"), ("--eval-frames", "1"),
        ("--threads", "100000"))],
    *[("vst-eval-temporal", ["model.safetensors"], flag, bad) for flag, bad in (
        ("--frames", "1"), ("--per-video", "0"), ("--threads", "0"))],
    *[("vst-stylize", ["clip.mp4", "-m", "model.safetensors", "-o", "o.mp4"], flag, bad) for flag, bad in (
        ("--segment", "0"), ("--edge-delay", "-1"))],
    *[("vst-live", ["-m", "model.safetensors", "--source", "clip.mp4", "-o", "o.mp4"], flag, bad) for flag, bad in (
        ("--fps", "0"), ("--fps", "1e9"), ("--seconds", "0"), ("--seconds", "1e308"))],
    *[("vst-edge", ["serve", "-m", "model.safetensors"], flag, bad) for flag, bad in (
        ("--port", "70000"), ("--port", "-1"), ("--max-bytes", "0"), ("--max-pixels", "0"), ("--max-queue", "0"),
        ("--max-batch", "0"), ("--window", "-1"), ("--timeout", "0"), ("--timeout", "1e308"), ("--threads", "0"))],
    *[("vst-edge", ["stylize", "http://127.0.0.1:9", "--input", "clip.mp4", "--out", "frames"], flag, bad)
      for flag, bad in (("--frames", "0"), ("--timeout", "-1"))],
    *[("vst-edge", ["bench", "-m", "model.safetensors"], flag, bad) for flag, bad in (
        ("--frames", "0"), ("--interval", "0"), ("--threads", "0"))],
    *[("vst-optimize", ["--content", "style.png", "--style-image", "style.png", "--out", "o.png"], flag, bad)
      for flag, bad in (("--iterations", "0"), ("--max-frames", "0"), ("--w-content", "-1"), ("--w-style", "1e300"),
                        ("--w-tv", "-1"), ("--w-temporal", "-1"), ("--adam-lr", "1e308"), ("--stop-tolerance", "2"),
                        ("--stop-patience", "0"), ("--threads", "0"))],
]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "BAD", "1e400", "ten"])
@pytest.mark.parametrize("command,args,flag,bad", NUMERIC, ids=[f"{c}{f}={b}" for c, _, f, b in NUMERIC])
def test_numeric_flags_take_finite_values_in_range(capsys, work, command, args, flag, bad, value):
    before = tree(work)
    value = bad if value == "BAD" else value
    err = run(capsys, command, [*args, f"{flag}={value}"], 2, flag)
    assert value in err or "finite" in err, err
    assert tree(work) == before


@pytest.mark.parametrize("command,args", [
    ("vst-edge", ["bench", "-m", "model.safetensors", "--delay", "0,nan"]),
    ("vst-edge", ["bench", "-m", "model.safetensors", "--delay", "inf"]),
    ("vst-edge", ["bench", "-m", "model.safetensors", "--delay", "-0.5"]),
    ("vst-edge", ["bench", "-m", "model.safetensors", "--delay", ","]),
    ("vst-stylize", ["clip.mp4", "-m", "model.safetensors", "-o", "o.mp4", "--size", "nanxnan"]),
    ("vst-predict", ["kunster-t2-04", "--device", "iphone11pro", "--size", "-48x32"]),
    ("vst-bench", ["--compare", "src.onnx", "--size", "1e9x1"]),
    ("vst-convert", ["model.safetensors", "--size", "infxinf"]),
    ("vst-optimize", ["--content", "style.png", "--style-image", "style.png", "--out", "o.png", "--size", "0"]),
    ("vst-optimize", ["--content", "style.png", "--style-image", "style.png", "--out", "o.png", "--size=-5"]),
    ("vst-eval-temporal", ["model.safetensors", "--size=-5"]),
    ("vst-eval-temporal", ["model.safetensors", "--size", "1e3"]),
    ("vst-live", ["-m", "model.safetensors", "--source", "99999999999999999999", "-o", "o.mp4"]),
    ("vst-train", ["--teacher", "multistyle26:0", "--out", "m.safetensors", "--style-layers", ""]),
    ("vst-train", ["--teacher", "multistyle26:0", "--out", "m.safetensors", "--stage", "2", "--init",
                   "model.safetensors", "--pair-gaps", ""]),
    ("vst-edge", ["stylize", "http://[::1:9", "--input", "clip.mp4", "--out", "frames"]),
    ("vst-edge", ["stylize", "http://127.0.0.1:70000", "--input", "clip.mp4", "--out", "frames"]),
    ("vst-stylize", ["clip.mp4", "-o", "o.mp4", "--edge", "http://127.0.0.1:port"]),
])
def test_number_lists_and_sizes(capsys, work, command, args):
    before = tree(work)
    run(capsys, command, args, 2)
    assert tree(work) == before


# --- exceptions that escape: vst's bug, exit 70, one line ---------------------------------------------------------

def test_an_unexpected_exception_is_one_line_naming_a_bug_exit_70(capsys):
    def broken(argv):
        {}["missing"]
    assert run_cli(broken, []) == 70
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "bug in vst" in err and "KeyError: 'missing'" in err and "-v" in err
    assert run_cli(broken, ["-v"]) == 70          # -v: the traceback too, for the bug report
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].endswith("KeyError: 'missing'")


# --- vst-live: no file replaced that the user did not name; Ctrl-C keeps the recording ----------------------------

class FakeStylizer:
    """An identity model that presses Ctrl-C when it is handed its `press_at`-th frame (the warm-up is the 1st)."""

    def __init__(self, size, press_at=None):
        self.size, self.calls, self.press_at = size, 0, press_at

    def __call__(self, rgb):
        self.calls += 1
        if self.calls == self.press_at:
            signal.raise_signal(signal.SIGINT)
        return rgb


def test_live_without_o_never_replaces_an_existing_recording(capsys, work, monkeypatch):
    from vst.stylize import live
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(live, "LocalStylizer", lambda model, size, source_size, **kw: FakeStylizer(source_size))
    (work / "vst-live.mp4").write_bytes(b"yesterday's recording")
    err = run(capsys, "vst-live", ["-m", "model.safetensors", "--source", "clip.mp4", "--fps", "30"], 0,
              "vst-live-2.mp4")
    assert (work / "vst-live.mp4").read_bytes() == b"yesterday's recording", err
    assert (work / "vst-live-2.mp4").stat().st_size > 0


def test_ctrl_c_on_live_keeps_what_was_recorded(capsys, work, monkeypatch):
    from vst.stylize import live
    from vst.video.codec import make_clip, probe
    make_clip(work / "long.mp4", size=(W, H), seconds=3, fps=10)
    monkeypatch.setattr(live, "LocalStylizer", lambda model, size, source_size, **kw: FakeStylizer(source_size, 4))
    before = signal.getsignal(signal.SIGINT)       # SIG_IGN where the test process runs in the background
    err = run(capsys, "vst-live", ["-m", "model.safetensors", "--source", "long.mp4", "-o", "rec.mp4"], 130,
              "interrupted", "rec.mp4")
    frames = probe(work / "rec.mp4").frames
    assert 3 <= frames < 30, err                   # the frames up to Ctrl-C, finalized into a playable file
    assert sorted(p.name for p in work.iterdir() if p.name.startswith((".rec", "rec"))) == ["rec.mp4"]
    assert signal.getsignal(signal.SIGINT) is before     # the handler is put back


# --- outputs where writing is not permitted ---------------------------------------------------------------------

# OUT/...: under a folder no file can be made in (/proc refuses even root, whom permission bits do not stop), or
# under a file
UNWRITABLE = [
    ("vst-stylize", ["clip.mp4", "-m", "model.safetensors", "-o", "OUT/o.mp4"]),
    ("vst-live", ["-m", "model.safetensors", "--source", "clip.mp4", "-o", "OUT/o.mp4"]),
    ("vst-report", ["x.report.json", "-o", "OUT/r.html"]),
    ("vst-convert", ["model.safetensors", "--size", f"{W}x{H}", "-o", "OUT/a.tflite"]),
    ("vst-edge", ["stylize", "http://127.0.0.1:9", "--input", "clip.mp4", "--out", "OUT/frames"]),
    ("vst-edge", ["bench", "-m", "model.safetensors", "--out", "OUT/t.json"]),
    ("vst-train", ["--teacher", "multistyle26:0", "--out", "OUT/m.safetensors"]),
    ("vst-train", ["--study", "table2", "--teacher", "multistyle26:0", "--out", "OUT/study"]),
    ("vst-train", ["--teacher", "multistyle26:0", "--out", "m.safetensors", "--run-dir", "OUT/run"]),
    ("vst-bench", ["--model", "x.tflite", "--out", "OUT/b"]),
    ("vst-bench", ["--compare", "src.onnx", "--json", "OUT/c.json"]),
    ("vst-bench", ["--profile", "x.tflite", "--json", "OUT/p.json"]),
    ("vst-eval-temporal", ["model.safetensors", "--json", "OUT/e.json"]),
    ("vst-optimize", ["--content", "style.png", "--style-image", "style.png", "--out", "OUT/o.png"]),
    ("vst-run", ["--out", "OUT/r"]),
]


@pytest.mark.parametrize("where", ["/proc/vst-nowhere", "clip.mp4"])
@pytest.mark.parametrize("command,args", UNWRITABLE, ids=[f"{c}-{i}" for i, (c, _) in enumerate(UNWRITABLE)])
def test_an_output_where_writing_is_not_permitted_is_one_line_before_any_work(capsys, work, command, args, where):
    before = tree(work)
    err = run(capsys, command, [a.replace("OUT", where) for a in args], 2)
    assert where in err and ("writable" in err or "is a file" in err), err
    assert tree(work) == before


# --- inputs that gave tracebacks --------------------------------------------------------------------------------

def test_a_job_file_nested_past_the_parsers_stack_is_one_line(capsys, work):
    (work / "deep.json").write_text("[" * 100000 + "]" * 100000)
    before = tree(work)
    run(capsys, "vst-run", ["--job", "deep.json", "--out", "r"], 2, "deep.json", "nests deeper")
    assert tree(work) == before


# --- failures after the work started leave no empty folders, lone locks or temporary files ------------------------

def runtime_failing_onnx(path):
    """An ONNX stylizer that loads but fails on its first frame (a Reshape to a size no frame has)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([1, 3, 7, 7], np.int64), "shape")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


LATE_FAILURES = [
    ("vst-live", ["-m", "model.safetensors", "--source", "clip.mp4", "--size", "46x30", "-o", "sub/deeper/o.mp4"]),
    ("vst-stylize", ["clip.mp4", "-m", "broken.onnx", "-o", "sub/deeper/o.mp4"]),
    ("vst-train", ["--study", "table2", "--teacher", "style.png", "--out", "sub/study", "--configs", "1"]),
    ("vst-run", ["--job", "badjob.json", "--out", "sub/run", "--no-progress"]),
    ("vst-bench", ["--model", "broken.onnx", "--out", "sub/bench", "--video", "clip.mp4", "--frames", "2",
                   "--repeats", "1", "--warmup-frames", "0", "--warmup-seconds", "0", "--cooldown", "0",
                   "--resolutions", f"{W}x{H}", "--no-progress"]),
    ("vst-eval-temporal", ["broken.onnx", "--size", "32", "--frames", "2", "--json", "sub/deeper/e.json"]),
]


@pytest.mark.parametrize("command,args", LATE_FAILURES, ids=[c for c, _ in LATE_FAILURES])
def test_a_failure_after_the_work_started_leaves_nothing_behind(capsys, work, command, args):
    import json
    runtime_failing_onnx(work / "broken.onnx")
    (work / "badjob.json").write_text(json.dumps({"models": ["style.png"], "resolutions": [f"{W}x{H}"],
                                                  "conversions": [{"to": "tflite", "quant": "fp32"}]}))
    before = tree(work)
    run(capsys, command, args, 2)
    assert tree(work) == before, sorted(set(tree(work)) - set(before))


def test_ctrl_c_is_how_a_camera_run_ends_exit_0_with_the_recording(capsys, work, monkeypatch):
    from vst.stylize import live
    from vst.video.codec import probe

    class Camera(live.Source):
        """Camera 0 as OpenCV would deliver it: frames until the run stops, at 30 fps."""
        def __init__(self, spec, fps):
            self.spec, self.camera, self.fps, self.size = spec, 0, 30.0, (W, H)

        def frames(self):
            import time
            i = 0
            while True:
                yield i, np.full((H, W, 3), i % 255, np.uint8), time.perf_counter()
                time.sleep(1 / self.fps)
                i += 1

        def close(self):
            pass
    monkeypatch.setattr(live, "Source", Camera)
    monkeypatch.setattr(live, "LocalStylizer", lambda model, size, source_size, **kw: FakeStylizer(source_size, 5))
    assert run_cli(main_of("vst-live"), ["-m", "model.safetensors", "--source", "0", "-o", "cam.mp4"]) == 0
    out, err = capsys.readouterr()
    assert "cam.mp4: delivered" in out and not err.strip(), err
    assert probe(work / "cam.mp4").frames >= 4


def test_the_battery_covers_every_console_command():
    import tomllib
    from pathlib import Path
    scripts = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(MAINS) == set(scripts)
    for name, target in scripts.items():     # the battery runs the module each console script enters
        assert MAINS[name].partition(":")[0] == target.partition(":")[0], name


def test_train_needs_out_except_to_build_the_shipped_models(capsys, work):
    run(capsys, "vst-train", ["--steps", "1"], 2, "required", "--out")
    run(capsys, "vst-train", ["--measure-only", "--out", "m.safetensors"], 2, "--build-shipped")


def test_the_convert_api_refuses_an_output_onto_its_inputs(tmp_path):
    """vst.convert.convert(), as vst-run and Python callers use it: the model, the report beside the output, and
    an ONNX file's external weights are inputs."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from vst.convert import convert
    w = numpy_helper.from_array(np.ones((3, 3, 1, 1), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])], [w])
    src = tmp_path / "src.onnx"
    onnx.save(helper.make_model(graph), str(src), save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.onnx", size_threshold=0)
    weights = (tmp_path / "weights.onnx").read_bytes()
    for out in (src, tmp_path / "weights.onnx"):
        with pytest.raises(VstError, match="also an input"):
            convert(str(src), to="onnx", size=(8, 8), out=out)
    assert (tmp_path / "weights.onnx").read_bytes() == weights
    report_named = tmp_path / "m.tflite.report.json"
    report_named.write_text("{}")
    with pytest.raises(VstError, match="the report"):
        convert(str(report_named), size=(8, 8), out=tmp_path / "m.tflite")
