"""Kill a real vst-bench sweep mid-way (SIGKILL to the subprocess), then resume: nothing lost, nothing redone."""
import os
import signal
import subprocess
import sys
import time
import warnings

import pandas as pd

from vst.bench.store import INDEX, finished_cells, load_results, reconcile
from vst.video.codec import make_clip


def test_kill_mid_sweep_then_resume(tmp_path):
    import torch
    from vst.models import create_model
    onnx_path = tmp_path / "k.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(create_model("kunster-t2-05").eval(), torch.rand(1, 3, 32, 32), str(onnx_path),
                          dynamo=False, input_names=["x"], dynamic_axes={"x": {2: "h", 3: "w"}})
    clip = make_clip(tmp_path / "clip.mp4", (96, 64), seconds=0.2, fps=25)
    out = tmp_path / "out"
    # the 1.5 s cooldown before each cell leaves a wide window to kill in after the first cell is stored
    cmd = [sys.executable, "-m", "vst.bench.cli", "--device", "host", "--model", str(onnx_path), "kunster-t2-05",
           "--resolutions", "32x32,48x32", "--video", str(clip), "--out", str(out), "--repeats", "1",
           "--cooldown", "1.5", "--warmup-frames", "1", "--warmup-seconds", "0", "--threads", "1", "--no-progress"]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while not finished_cells(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = finished_cells(out)
    assert 1 <= len(done) < 4, proc.stdout.read().decode()[-2000:]
    kept = {c: (out / "results" / f"{c}.json").read_bytes() for c in done}

    resumed = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming: {len(done)} of 4 cells already measured" in resumed.stdout
    df = load_results(out, history=True)
    assert len(df) == 4 and df["cell_id"].is_unique
    assert set(df["resolution"]) == {"32x32", "48x32"}
    # finished cells were neither redone nor rewritten
    for c, blob in kept.items():
        assert (out / "results" / f"{c}.json").read_bytes() == blob
    assert df["run_id"].nunique() == 2


def test_reconcile_restores_a_row_lost_between_json_and_index(tmp_path):
    """A kill after a cell's JSON is written but before its row is appended leaves the JSON; the row comes back."""
    from vst.bench.sweep import Protocol, run_host
    clip = make_clip(tmp_path / "clip.mp4", (64, 32), seconds=0.12, fps=25)
    out = tmp_path / "out"
    run_host(["kunster-t2-05"], [(32, 32), (16, 16)], out, protocol=Protocol(1, 0.0, None, None, 1, 0.0, 1),
             video=clip, progress=False, log=lambda *_: None)
    index = out / INDEX
    lines = index.read_text().splitlines(keepends=True)
    index.write_text("".join(lines[:-1]))
    assert len(pd.read_csv(index)) == 1
    assert len(load_results(out)) == 2  # reading does not depend on the index being complete
    assert reconcile(out) == 1
    assert len(pd.read_csv(index)) == 2
