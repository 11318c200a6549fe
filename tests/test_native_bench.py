"""vst-bench drives the phone harnesses' runners on this machine as it drives phones: `--device swift-linux`,
`--device kotlin-jvm`, and a comma list with the Python host runner measured turn by turn with a verdict on
whether they agree. Needs swift, kotlinc and a JDK (scripts/setup.sh); in CI a missing one fails."""
import json
import shutil

import pytest
from toolchains import missing

from vst.bench.cli import main as bench_main
from vst.bench.result import check_result
from vst.common.errors import VstError



@pytest.fixture(scope="module")
def toolchains():
    lacking = [t for t in ("swift", "kotlinc", "javac", "gcc") if not shutil.which(t)]
    if lacking:
        missing(f"{', '.join(lacking)} not on PATH")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from vst.video.codec import make_clip
    return make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", (320, 240), seconds=0.48, fps=25)   # 12 frames


def test_three_runners_measured_turn_by_turn(toolchains, shipped_tflite, clip, tmp_path, capsys):
    out = tmp_path / "agree"
    assert bench_main(["--device", "host,swift-linux,kotlin-jvm", "--model", str(shipped_tflite), "--video",
                       str(clip), "--frames", "8", "--repeats", "3", "--cooldown", "0", "--warmup-frames", "2",
                       "--warmup-seconds", "0", "--threads", "1", "--out", str(out), "--no-progress"]) == 0
    said = capsys.readouterr().out
    docs = {}
    for p in (out / "results").glob("*.json"):
        doc = check_result(json.loads(p.read_text()), str(p))
        docs[doc["environment"]["device"]] = doc
    assert set(docs) == {"host", "swift-linux", "kotlin-jvm"}
    for name, doc in docs.items():
        env, mem = doc["environment"], doc["memory"]
        assert doc["plan"]["device"] == name and env["threads"] == 1 and len(doc["repeats"]) == 3
        assert all(r["e2e"]["frames"] == 8 and r["inference"]["frames"] == 8 for r in doc["repeats"])
        assert doc["load_ms"] > 0 and doc["first_inference_ms"] > 0
        assert mem["peak_reset"] and mem["peak_mb"] >= mem["after_load_mb"] > 0
        # the repeats of the three took turns: they interleave in time
        assert doc["interleaving"]["cells"] and len(doc["interleaving"]["repeat_started_at"]) == 3
    assert docs["swift-linux"]["environment"]["harness"].startswith("vst-runner swift")
    assert docs["kotlin-jvm"]["environment"]["harness"].startswith("vst-runner kotlin")
    # an interleaved round holds one repeat of each runner: every runner's second repeat starts after every
    # runner's first one has started
    firsts = max(d["interleaving"]["repeat_started_at"][0] for d in docs.values())
    assert all(d["interleaving"]["repeat_started_at"][1] > firsts for d in docs.values())
    verdicts = [ln for ln in said.splitlines() if " vs host, " in ln]
    assert len(verdicts) == 2 and all("inference" in v and "end to end" in v for v in verdicts)


def test_the_runners_take_tflite_only(clip, tmp_path):
    from vst.bench.sweep import run_sweep
    with pytest.raises(VstError, match="runs .tflite files"):
        run_sweep("swift-linux", ["kunster-t2-05"], [(64, 48)], tmp_path / "o", video=clip)
    with pytest.raises(VstError, match="not nnapi"):
        run_sweep("kotlin-jvm", ["kunster-t2-05"], [(64, 48)], tmp_path / "o", video=clip, delegates=["nnapi"])
    with pytest.raises(VstError, match="several devices"):
        run_sweep("host,pixel7", ["kunster-t2-05"], [(64, 48)], tmp_path / "o", video=clip)
    assert not (tmp_path / "o").exists()          # refused before anything is written
