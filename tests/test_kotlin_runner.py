"""The Kotlin runner on the JVM (android_harness/jvm): the core's BenchRunner and NativeModel over vst's native
backend (JNI -> vst_litert.c -> LiteRT's C API). Its outputs on real photos equal vst's Python runtime on the same
.tflite, `run` on a real H.264 clip writes a result vst accepts, and bad input gets one line and exit 2.

The toolchains come from scripts/setup.sh (kotlin, gcc, a JDK, libandroid-json-java). In CI (CI=true) a missing
one fails the run; elsewhere it skips with the reason. build.sh keeps its outputs, so reruns build nothing.
"""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from toolchains import missing

REPO = Path(__file__).resolve().parents[1]
JVM = REPO / "android_harness" / "jvm"
W, H = 64, 48      # conftest's shipped_tflite


def runner_env() -> dict:
    """LiteRT's C API library, ffmpeg and the GPU's runtime folder, as vst-bench hands them to the runner."""
    from vst.bench.drivers_native import runner_env as env
    return env()


def runner(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(JVM / "run.sh"), *map(str, args)], capture_output=True, text=True,
                          env=runner_env(), cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def built():
    for tool in ("kotlinc", "java", "gcc"):
        if not shutil.which(tool):
            missing(f"{tool} is not on PATH")
    proc = subprocess.run(["bash", str(JVM / "build.sh")], capture_output=True, text=True, timeout=900)
    if proc.returncode == 3:  # build.sh: a toolchain or Debian package is missing
        missing(proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout == "" and proc.stderr == ""  # quiet, also when it compiled


@pytest.fixture(scope="module")
def tflite(built, shipped_tflite):
    """The shipped model as vst-convert makes it (fp32, NHWC, fixed WxH), and vst's Python session on it."""
    from vst.runtimes import open_session
    session = open_session(str(shipped_tflite), threads=1)
    assert session.input.size == (W, H)
    return shipped_tflite, session


def photos():
    import skimage.data
    return [getattr(skimage.data, name)() for name in ("astronaut", "coffee", "chelsea")]


def outputs(path: Path, session, count: int) -> np.ndarray:
    shape = session.run(np.zeros((1, H, W, 3), np.float32)).shape
    y = np.fromfile(path, dtype=np.float32)
    assert y.size == count * int(np.prod(shape))
    return y.reshape(count, *shape[1:])


def photo_inputs(session, folder: Path) -> tuple[list, Path]:
    from vst.common.images import resize_cover
    from vst.runtimes import prepare
    xs = [prepare(session.input, resize_cover(p, W, H)) for p in photos()]
    np.concatenate([x.ravel() for x in xs]).tofile(folder / "x.bin")
    return xs, folder / "x.bin"


def test_infer_on_prepared_tensors_equals_the_python_runtime(tflite, tmp_path):
    from vst.metrics.quality import psnr
    path, session = tflite
    xs, x_bin = photo_inputs(session, tmp_path)
    proc = runner("infer", "--model", path, "--threads", "1", "--input", x_bin, "--output", tmp_path / "y.bin")
    assert proc.returncode == 0 and proc.stderr == proc.stdout == "", proc.stderr
    got = outputs(tmp_path / "y.bin", session, 3)
    for x, y in zip(xs, got):
        want = session.run(x)[0]
        assert psnr(want, y) >= 60 and np.abs(want).max() > 0.1   # a real image, not zeros on both sides


def test_gpu_accelerator_runs_the_model_and_the_plan(tflite, tmp_path):
    """LiteRT's GPU accelerator (a software Vulkan GPU here): float16, so close to the CPU, not equal."""
    from vst.bench.plan import make_plan
    from vst.metrics.quality import psnr
    from vst.video.codec import make_clip
    path, session = tflite
    xs, x_bin = photo_inputs(session, tmp_path)
    proc = runner("infer", "--model", path, "--accelerator", "gpu", "--input", x_bin, "--output", tmp_path / "y.bin")
    if proc.returncode:
        from vst.runtimes import gpu
        usable, why, _ = gpu.availability()
        if not usable:
            missing(why)
    assert proc.returncode == 0 and proc.stderr == proc.stdout == "", proc.stderr
    for x, y in zip(xs, outputs(tmp_path / "y.bin", session, 3)):
        assert 45 < psnr(session.run(x)[0], y) < 100
    clip = make_clip(tmp_path / "clip.mp4", (96, 64), seconds=0.12, fps=25)   # 3 frames
    source = {"kind": "video", "path": str(clip), "width": 96, "height": 64, "frames": 3}
    plan = make_plan(device="kotlin-jvm", runtime="litert", layout="NHWC", width=W, height=H, frame_source=source,
                     artifact={"path": str(path), "format": "tflite", "sha256": "0" * 64}, warmup_frames=1,
                     warmup_seconds=0, repeats=1, cooldown_s=0, delegate="gpu")
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    proc = runner("run", "--plan", tmp_path / "plan.json", "--result", tmp_path / "result.json")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    env = json.loads((tmp_path / "result.json").read_text())["environment"]
    assert env["delegate_requested"] == "gpu" and env["delegate_used"].startswith("gpu (")


def test_frames_through_vst_prepare_equal_the_host_preparation(tflite, tmp_path):
    """Full-size RGB frames cover-scaled by the backend as the host resizes: shrinking (three photos, one file)
    and enlarging (a small crop)."""
    from vst.common.images import resize_cover
    from vst.metrics.quality import psnr
    from vst.runtimes import prepare
    path, session = tflite
    big = [p[:300, :451] for p in photos()]            # chelsea's size: three frames of one size, shrunk
    small = [photos()[0][100:130, 200:240]]             # 40x30, enlarged to 64x48
    for frames in (big, small):
        fh, fw = frames[0].shape[:2]
        np.stack(frames).tofile(tmp_path / "f.bin")
        proc = runner("infer", "--model", path, "--frames", tmp_path / "f.bin", "--frame-size", f"{fw}x{fh}",
                      "--output", tmp_path / "y.bin")
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        got = outputs(tmp_path / "y.bin", session, len(frames))
        for frame, y in zip(frames, got):
            want = session.run(prepare(session.input, resize_cover(frame, W, H)))[0]
            assert psnr(want, y) >= 60


def test_run_executes_a_plan_on_a_clip_and_writes_a_result_vst_accepts(tflite, tmp_path):
    from vst.bench.artifacts import resolve_artifact
    from vst.bench.devices import Device
    from vst.bench.result import read_result
    from vst.bench.sweep import Protocol, plan_cells
    from vst.video.codec import make_clip
    path, session = tflite
    clip = make_clip(tmp_path / "clip.mp4", (160, 96), seconds=0.4, fps=25)   # 10 frames
    protocol = Protocol(warmup_frames=2, warmup_seconds=0.0, repeats=2, cooldown_s=0.0, threads=1)
    ((plan, _),) = plan_cells(Device("kotlin-jvm", "host"), [resolve_artifact(str(path))], [(W, H)], clip,
                              protocol, ["xnnpack"])
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    proc = runner("run", "--plan", tmp_path / "plan.json", "--result", tmp_path / "result.json")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    result = read_result(tmp_path / "result.json")      # schema, sample counts, cell id
    env = result["environment"]
    assert env["platform"] == "host" and env["runtime"] == "litert" and env["harness"].startswith("vst-runner kotlin")
    assert env["runtime_version"] == session.version and env["delegate_used"].startswith("xnnpack")
    assert result["input"] == {"width": W, "height": H, "layout": "NHWC", "dtype": "float32"}
    assert result["load_ms"] > 0 and result["first_inference_ms"] > 0
    for rep in result["repeats"]:
        assert rep["e2e"]["frames"] == rep["inference"]["frames"] == 10
        assert all(v > 0 for v in rep["e2e"]["inference_ms"] + rep["inference"]["inference_ms"])
    mem = result["memory"]
    assert mem["peak_reset"] and mem["peak_mb"] > mem["baseline_mb"] > 0 and mem["after_load_mb"] > 0
    assert mem["peak_mb"] >= mem["after_load_mb"]


def test_bad_input_exits_2_with_one_line(tflite, tmp_path):
    from vst.bench.plan import make_plan
    path, _ = tflite
    (tmp_path / "x.bin").write_bytes(b"\0" * 100)
    (tmp_path / "not.tflite").write_text("{}")

    def plan_file(name, delegate="xnnpack", **source):
        art = {"path": str(path), "format": "tflite", "sha256": "0" * 64}
        plan = make_plan(device="kotlin-jvm", runtime="litert", artifact=art, width=W, height=H, layout="NHWC",
                         frame_source={"kind": "video", "path": str(tmp_path / "none.mp4"), **source},
                         delegate=delegate)
        (tmp_path / name).write_text(json.dumps(plan))
        return tmp_path / name

    sized = {"width": 160, "height": 96}
    (tmp_path / "half.json").write_text('{"schema": "vst-bench-plan/1"')
    cases = [
        (["infer", "--model", tmp_path / "none.tflite", "--input", tmp_path / "x.bin", "--output", tmp_path / "y"],
         "does not exist"),
        (["infer", "--model", tmp_path / "not.tflite", "--input", tmp_path / "x.bin", "--output", tmp_path / "y"],
         "not a loadable TFLite model"),
        (["infer", "--model", path, "--input", tmp_path / "x.bin", "--output", tmp_path / "y"],
         "not a whole number of input tensors"),
        (["infer", "--model", path, "--frames", tmp_path / "x.bin", "--frame-size", "10by10", "--output",
          tmp_path / "y"], "--frame-size 10by10"),
        (["infer", "--model", path, "--accelerator", "npu", "--input", tmp_path / "x.bin", "--output",
          tmp_path / "y"], "give cpu or gpu"),
        (["run", "--plan", tmp_path / "none.json", "--result", tmp_path / "r.json"], "does not exist"),
        (["run", "--plan", tmp_path / "half.json", "--result", tmp_path / "r.json"], "is not a vst-bench plan"),
        (["run", "--plan", plan_file("nnapi.json", "nnapi", **sized), "--result", tmp_path / "r.json"],
         "delegate nnapi: the JVM runner takes xnnpack"),
        (["run", "--plan", plan_file("unsized.json"), "--result", tmp_path / "r.json"], "frame_source has no width"),
        (["run", "--plan", plan_file("noclip.json", **sized), "--result", tmp_path / "r.json"], "none.mp4 does not"),
        (["run"], "--plan is required"),
        (["walk"], "unknown command walk"),
    ]
    for args, needle in cases:
        proc = runner(*args)
        lines = proc.stderr.splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], (args, proc.stderr)
        assert lines[0].startswith("vst-runner: ") and proc.stdout == ""
    assert not (tmp_path / "y").exists() and not (tmp_path / "r.json").exists()
