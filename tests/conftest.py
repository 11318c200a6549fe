import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The reference data sits beside a checkout (../shared/reference); the package ships a copy of Table II.
SHARED_TABLE2 = REPO.parent / "shared" / "reference" / "kunster_table2.csv"

# Keep TensorFlow and friends quiet and deterministic on small CI machines.
from vst.common.quiet import configure_environment  # noqa: E402

configure_environment()
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

from vst.convert.gpu_check import measure as REAL_GPU_MEASURE  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _gpu_check_left_out():
    """The GPU accelerator run costs a second or more per TFLite conversion on a software GPU: only the tests of
    it pay it (they take the `gpu_check` fixture); elsewhere the report says it was left out."""
    from vst.convert import gpu_check
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gpu_check, "measure", lambda *a, **k: gpu_check.not_measured(
            "left out by the test suite (tests/test_gpu.py runs it)"))
        yield


@pytest.fixture(scope="module")
def gpu_check():
    """The real GPU accelerator run for the tests of one module."""
    from vst.convert import gpu_check as module
    patched = module.measure
    module.measure = REAL_GPU_MEASURE
    yield module
    module.measure = patched


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_table2() -> Path:
    return SHARED_TABLE2


@pytest.fixture
def write_video():
    """Write RGB frames as an MJPG AVI (a user's video, as OpenCV reads it) and return its path."""
    import cv2

    def write(path: Path, frames, fps: int = 10) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        h, w = frames[0].shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
        return path
    return write


@pytest.fixture(scope="session")
def ckpt(tmp_path_factory):
    """A small vst checkpoint (kunster alpha=0.25, beta=0.25, paper-text) with fixed random weights."""
    import torch
    from vst.models import create_model, save_model
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("ckpt") / "small.safetensors"
    save_model(create_model("kunster", alpha=0.25, beta=0.25, variant="paper-text"), path)
    return path


@pytest.fixture(scope="session")
def shipped_tflite(tmp_path_factory) -> Path:
    """The shipped kunster.a025-s05-stage2 as vst-convert makes it, fp32 .tflite, NHWC, fixed 64x48: one conversion
    for the suites of the harness runners (the speed-study checks: fidelity kept, QA extras and GPU run left out)."""
    from vst.convert import convert
    path = tmp_path_factory.mktemp("shipped-tflite") / "kunster-a025-s05-stage2-64x48-fp32.tflite"
    convert("kunster.a025-s05-stage2", to="tflite", quant="fp32", size=(64, 48), out=path, checks="proofs",
            gpu_check=False)
    return path
