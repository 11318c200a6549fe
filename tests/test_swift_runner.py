"""vst-runner, the Swift harness on Linux (ios_harness/VstBenchKit, product vst-runner): real models through vst's
native backend on LiteRT's C API. Its numerics against vst's Python runtime on real photos, its frame preparation
against vst's own (resize_cover + prepare, every dtype and layout), a plan measured end to end into a result that
validates, and one-line refusals of bad input.

Built with `swift build -c release` in the package, whose .build folder is kept, so reruns take seconds. In CI
(CI=true) a missing toolchain fails the run; elsewhere the tests skip with the reason (scripts/setup.sh installs it).
"""
import json
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from toolchains import IN_CI, missing

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "ios_harness" / "VstBenchKit"
SHIPPED = "kunster.a025-s05-stage2"
W, H = 64, 48


@pytest.fixture(scope="module")
def runner() -> Path:
    swift = shutil.which("swift")
    if not swift:
        missing("swift is not on PATH")
    proc = subprocess.run([swift, "build", "-c", "release", "--product", "vst-runner"], cwd=PACKAGE,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return PACKAGE / ".build" / "release" / "vst-runner"


@pytest.fixture(scope="module")
def env() -> dict:
    """What the Python driver gives the runner: LiteRT's library and ffmpeg of the Python install."""
    from vst.bench.drivers_native import runner_env
    return runner_env()


@pytest.fixture(scope="module")
def shipped(shipped_tflite) -> Path:
    return shipped_tflite


@pytest.fixture(scope="module")
def photos() -> dict:
    from skimage import data
    return {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea(),
            "chelsea crop": np.ascontiguousarray(data.chelsea()[100:130, 200:240])}   # 40x30: enlarged


def run(runner: Path, env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(runner), *map(str, args)], capture_output=True, text=True, env=env, timeout=300)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def infer(runner, env, model, tmp_path, dtype, shape, *, inputs=None, frames=None, accelerator="cpu"):
    """Outputs of `vst-runner infer` for raw inputs (stacked) or one RGB frame."""
    args = ["infer", "--model", model, "--accelerator", accelerator, "--output", tmp_path / "y.bin"]
    if inputs is not None:
        np.ascontiguousarray(inputs).tofile(tmp_path / "x.bin")
        args += ["--input", tmp_path / "x.bin"]
    else:
        np.ascontiguousarray(frames).tofile(tmp_path / "f.bin")
        args += ["--frames", tmp_path / "f.bin", "--frame-size", f"{frames.shape[1]}x{frames.shape[0]}"]
    proc = run(runner, env, *args)
    assert proc.returncode == 0 and not proc.stdout and not proc.stderr, proc.stderr
    return np.fromfile(tmp_path / "y.bin", dtype).reshape(-1, *shape)


def test_outputs_equal_the_python_runtime_on_real_photos(runner, env, shipped, photos, tmp_path):
    from vst.common.images import resize_cover
    from vst.runtimes import open_session
    from vst.runtimes.spec import prepare
    session = open_session(shipped, threads=2)
    xs = np.concatenate([prepare(session.input, resize_cover(img, W, H)) for img in photos.values()])
    want = np.concatenate([session.run(x[None]) for x in xs])
    got = infer(runner, env, shipped, tmp_path, np.float32, want.shape[1:], inputs=xs)
    # the same XNNPACK kernels: measured bit-identical (inf dB) here
    assert got.shape == want.shape and psnr(got, want) >= 60
    # and from the photos themselves, prepared by the runner (cover-scale, crop, [0, 1]) instead of by Python
    for x, img in zip(xs, photos.values()):
        y = infer(runner, env, shipped, tmp_path, np.float32, want.shape[1:], frames=img)
        assert psnr(y, session.run(x[None])) >= 60


def copy_model(shape, dtype: str, quant=None) -> bytes:
    """A .tflite whose output is its input (one RESHAPE), written with LiteRT's schema: what the runner feeds a
    model becomes visible, for any dtype, quantization and layout."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    def tensor(name):
        t = schema.TensorT()
        t.name, t.shape, t.buffer = name, list(shape), 0
        t.type = getattr(schema.TensorType, dtype.upper())
        if quant:
            t.quantization = schema.QuantizationParametersT()
            t.quantization.scale, t.quantization.zeroPoint = [quant[0]], [quant[1]]
        return t
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.RESHAPE
    code.version = 1
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    op.builtinOptionsType = schema.BuiltinOptions.ReshapeOptions
    op.builtinOptions = schema.ReshapeOptionsT()
    op.builtinOptions.newShape = list(shape)
    g = schema.SubGraphT()
    g.tensors, g.operators, g.inputs, g.outputs, g.name = [tensor("x"), tensor("y")], [op], [0], [1], "main"
    m = schema.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, [code], [g], [schema.BufferT()]
    return bytes(fbu.convert_object_to_bytearray(m))


@pytest.mark.parametrize("layout,dtype,quant", [
    ("NHWC", "float32", None), ("NCHW", "float32", None), ("NHWC", "float16", None),
    ("NHWC", "uint8", (1 / 255, 0)), ("NCHW", "int8", (0.0039, -128)), ("NHWC", "uint8", None)])
def test_prepare_equals_resize_cover_then_prepare(runner, env, photos, tmp_path, layout, dtype, quant):
    from vst.common.images import resize_cover
    from vst.runtimes.spec import TensorSpec, prepare
    shape = (1, 3, H, W) if layout == "NCHW" else (1, H, W, 3)
    model = tmp_path / "copy.tflite"
    model.write_bytes(copy_model(shape, dtype, quant))
    # the scale as the model stores it (float32), as LiteRT reports it to Python
    spec = TensorSpec("x", layout, (W, H), dtype, (float(np.float32(quant[0])), quant[1]) if quant else (0.0, 0))
    frames = dict(photos, **{"2x": np.ascontiguousarray(photos["coffee"][:2 * H, :2 * W]),
                             "3x": np.ascontiguousarray(photos["coffee"][:3 * H, :3 * W])})
    def unit(a):  # the model's input as the [0, 1] values it stands for
        if quant:
            return (a.astype(np.float64) - quant[1]) * spec.quant[0]
        return a / 255.0 if dtype == "uint8" else a.astype(np.float64)
    for name, img in frames.items():
        want = prepare(spec, resize_cover(img, W, H))
        got = infer(runner, env, model, tmp_path, want.dtype, shape[1:], frames=img)
        # OpenCV's area and bilinear arithmetic reproduced: measured bit-identical (inf dB) on every case here
        assert got.shape == want.shape and psnr(unit(got), unit(want)) >= 60, name


def make_plan(model: Path, clip: Path, delegate="xnnpack", threads=1, repeats=2) -> dict:
    from vst.bench.artifacts import resolve_artifact
    from vst.bench.plan import make_plan as plan_for
    from vst.common.fsutil import sha256_of
    from vst.video.codec import probe
    info = probe(clip)
    source = {"kind": "video", "path": str(clip), "sha256": sha256_of(clip), "width": info.width,
              "height": info.height, "fps": info.fps, "frames": info.frames}
    return plan_for(device="swift-linux", runtime="litert", artifact=resolve_artifact(str(model)).plan_entry(),
                    width=W, height=H, layout="NHWC", frame_source=source, warmup_frames=2, warmup_seconds=0.0,
                    repeats=repeats, cooldown_s=0.0, threads=threads, delegate=delegate)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    from vst.video.codec import make_clip
    return make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", size=(160, 96), seconds=0.4, fps=25)  # 10 frames


def run_plan(runner, env, plan: dict, tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    (tmp_path / "plan.json").write_text(json.dumps(plan, indent=1))
    out = tmp_path / "out" / "result.json"
    return run(runner, env, "run", "--plan", tmp_path / "plan.json", "--result", out), out


def test_run_measures_a_plan_into_a_result_that_validates(runner, env, shipped, clip, tmp_path):
    from vst.bench.result import check_result
    plan = make_plan(shipped, clip)
    proc, out = run_plan(runner, env, plan, tmp_path)
    assert proc.returncode == 0 and not proc.stdout and not proc.stderr, proc.stderr
    doc = check_result(json.loads(out.read_text()), "vst-runner's result")   # schema, cell id, repeats
    e = doc["environment"]
    assert (e["platform"], e["runtime"], e["threads"], e["delegate_requested"]) == ("host", "litert", 1, "xnnpack")
    assert e["runtime_version"] == version("ai-edge-litert") and e["delegate_used"].startswith("xnnpack (cpu")
    assert e["harness"].startswith("vst-runner swift (Swift ")
    assert doc["input"] == {"width": W, "height": H, "layout": "NHWC", "dtype": "float32"}
    assert doc["load_ms"] > 0 and doc["first_inference_ms"] > 0
    for rep in doc["repeats"]:
        assert rep["e2e"]["frames"] == rep["inference"]["frames"] == 10
        assert all(len(rep["e2e"][k]) == 10 for k in ("decode_ms", "resize_ms", "inference_ms", "e2e_ms"))
    m = doc["memory"]
    assert m["peak_reset"] and m["source"].startswith("/proc/self/status")
    assert 0 < m["baseline_mb"] < m["after_load_mb"] <= m["peak_mb"]


def test_bad_input_exits_2_with_one_line(runner, env, shipped, clip, tmp_path):
    def refused(proc, *words):
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("vst-runner: error: "), proc.stderr
        assert all(w in lines[0] for w in words), lines[0]
    refused(run(runner, env, "infer", "--model", tmp_path / "none.tflite", "--input", clip, "--output",
                tmp_path / "y"), "none.tflite", "no such model")
    refused(run(runner, env, "infer", "--model", shipped, "--input", clip, "--output", tmp_path / "y"),
            "not a whole number of the model's inputs", f"{W}x{H} NHWC float32")
    refused(run(runner, env, "infer", "--model", clip, "--input", clip, "--output", tmp_path / "y"),
            "not a loadable TFLite model")
    refused(run(runner, env, "infer", "--model", shipped, "--frames", clip, "--frame-size", "64x", "--output",
                tmp_path / "y"), "--frame-size 64x")
    plan = make_plan(shipped, clip)
    plan["artifact"]["path"] = str(tmp_path / "gone.tflite")
    refused(run_plan(runner, env, plan, tmp_path)[0], "gone.tflite", "no such model")
    refused(run_plan(runner, env, make_plan(shipped, clip, delegate="nnapi"), tmp_path)[0],
            "delegate nnapi", "xnnpack, gpu")
    refused(run(runner, env, "run", "--plan", tmp_path / "missing.json", "--result", tmp_path / "r.json"),
            "missing.json", "no such plan")


def test_gpu_accelerator_runs_the_model(runner, env, shipped, clip, photos, tmp_path):
    from vst.bench.result import check_result
    from vst.common.images import resize_cover
    from vst.runtimes import gpu, open_session
    from vst.runtimes.spec import prepare
    usable, why, _ = gpu.availability()
    if not usable:
        if IN_CI:
            pytest.fail(f"CI must run the GPU checks: {why}")
        pytest.skip(why)
    session = open_session(shipped, threads=2)
    x = prepare(session.input, resize_cover(photos["astronaut"], W, H))
    y = infer(runner, env, shipped, tmp_path, np.float32, x.shape[1:], inputs=x, accelerator="gpu")
    assert 45 < psnr(y, session.run(x)) < 100    # the GPU computes in float16: close, not bit-exact
    proc, out = run_plan(runner, env, make_plan(shipped, clip, delegate="gpu", repeats=1), tmp_path)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    doc = check_result(json.loads(out.read_text()), "vst-runner's GPU result")
    assert doc["environment"]["delegate_used"] == "gpu (fully accelerated)"
