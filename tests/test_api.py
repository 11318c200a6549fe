"""vst.api: the commands' jobs from Python, with the commands' defaults, typed results and a quiet terminal."""
import json

import pytest

import vst.api as vst
from vst.common.errors import VstError


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from vst.video.codec import make_clip
    # 105 frames: longer than vst-bench's default 100 per repeat, so the default applies as on the command line
    return make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", (64, 48), seconds=4.2, fps=25)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A user's own small network (TorchScript) through vst.api.convert: a few ops, so its checks are quick."""
    import torch
    d = tmp_path_factory.mktemp("api")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 3, 3, padding=1), torch.nn.Sigmoid()).eval()
    torch.jit.save(torch.jit.script(net), str(d / "tiny.ts.pt"))
    return vst.convert(d / "tiny.ts.pt", size=(64, 48), out=d / "tiny-fp32.tflite", checks="proofs",
                       gpu_check=False)


def test_defaults_are_the_commands(capfd):
    assert vst.defaults("vst-bench")["repeats"] == 5 and vst.defaults("vst-convert")["size"] == (480, 320)
    assert vst.defaults("vst-convert")["to"] == "tflite" and vst.defaults("vst-convert")["quant"] == "fp32"


def test_convert_returns_the_verdicts_and_keeps_quiet(converted, capfd):
    fp32 = converted
    assert fp32.path.is_file() and fp32.target == "tflite" and fp32.precision == "fp32" and fp32.size == (64, 48)
    assert fp32.psnr_db > 60 and fp32.fidelity_passed is True and fp32.ok
    assert fp32.kb == pytest.approx(fp32.path.stat().st_size / 1024, abs=0.1)
    assert fp32.report["artifact"]["sha256"]
    out, err = capfd.readouterr()
    # the converters' own lines (TensorFlow, absl, torchvision warnings) stay off the terminal
    assert "torchvision" not in out + err and "WARNING" not in err and "tensorflow" not in err.lower()


def test_bench_measures_with_the_commands_protocol(shipped_tflite, clip, tmp_path, capfd):
    cells = vst.bench([shipped_tflite], sizes=[(64, 48)], video=clip, out=tmp_path / "b", cooldown_s=0.0,
                      warmup_seconds=0.0)
    assert len(cells) == 1
    c = cells[0]
    assert c.device == "host" and c.resolution == "64x48" and c.fps_inference > 0 and c.load_ms > 0
    assert c.fps_inference_ci[0] <= c.fps_inference <= c.fps_inference_ci[1]
    assert c.memory_peak_mb and c.memory_peak_mb > 0
    plan = json.loads(c.result_path.read_text())["plan"]
    # vst-bench's defaults, not the library Protocol's: 100 frames a repeat, 5 repeats
    assert plan["measure"]["frames"] == 100 and plan["repeats"] == 5 == len(json.loads(c.result_path.read_text())["repeats"])
    out, err = capfd.readouterr()
    assert out == "" and err == ""          # no progress bars, no per-cell lines unless asked


def test_compare_and_profile_are_typed(converted, shipped_tflite, capfd):
    fp32 = converted
    res = vst.compare([shipped_tflite, fp32.path], size=(64, 48), seconds=1.0)
    assert [e.artifact for e in res.entries] == [shipped_tflite.name, fp32.path.name]
    assert res.entries[0].speed_ratio is None and res.entries[1].speed_ratio > 0
    lo, hi = res.entries[1].speed_ratio_ci
    assert lo <= res.entries[1].speed_ratio <= hi and res.rounds >= 8
    prof = vst.profile(fp32.path, runs=2)
    assert prof.ops and prof.whole_ms > 0 and [o.ms for o in prof.ops] == sorted((o.ms for o in prof.ops), reverse=True)
    assert capfd.readouterr().out == ""


def test_stylize_and_predict(shipped_tflite, clip, tmp_path):
    done = vst.stylize(clip, shipped_tflite, tmp_path / "s.mp4")
    assert done.output.is_file() and done.frames == 105 and done.size == (64, 48)
    [p] = vst.predict("kunster-t2-04", "iphone11pro", sizes=[(480, 320)])
    assert p.fps > 0 and p.width == 480 and p.n_points > 0


def test_bad_input_is_the_commands_one_line(tmp_path):
    with pytest.raises(VstError, match="does not exist"):
        vst.convert(tmp_path / "missing.pt", size=(64, 48))
    with pytest.raises(VstError, match=r"\.tflite or \.pte"):
        vst.profile(tmp_path / "x.onnx")


def test_compare_says_when_a_faster_file_failed_its_checks(shipped_tflite, tmp_path):
    """A speed-up is printed beside the verdict of the file's own conversion: one that failed its temporal check
    is no candidate, whatever its ratio."""
    import shutil
    from vst.bench.compare import format_comparison
    from vst.common.records import report_path
    flick = tmp_path / "flickers.tflite"
    shutil.copy(shipped_tflite, flick)
    rep = json.loads(report_path(shipped_tflite).read_text())
    rep["temporal"] = {"measured": True, "passed": False, "ratio": 1.71, "error_artifact": 0.012,
                       "error_source": 0.007, "threshold_ratio": 1.25, "clips": 2, "frames": 8}
    report_path(flick).write_text(json.dumps(rep))
    res = vst.compare([shipped_tflite, flick], seconds=0.5)
    text = format_comparison(res.record)
    assert "note: flickers.tflite failed its conversion's temporal (1.71x its source's temporal error > 1.25x)" in text
    assert "note: " + shipped_tflite.name not in text
