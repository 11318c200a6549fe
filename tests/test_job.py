"""The main job (vst-run): zoo -> convert -> host bench -> report, resumable, with clear errors for bad jobs."""
import json
import subprocess
import sys

import pytest

from vst.common.errors import VstError
from vst.pipeline.job import default_job, load_job, resolve_model, run_job


def test_default_job_uses_shipped_trained_models():
    job = default_job()
    for spec in job["models"]:
        path, random_weights = resolve_model(spec)
        assert path.endswith(".safetensors") and not random_weights
    assert job["resolutions"] == ["480x320", "320x240"]
    # fp32, plain int8 and the int8 that keeps video as stable as fp32 (docs/quantization.md)
    assert [(c["quant"], c.get("dynamic", False)) for c in job["conversions"]] == \
        [("fp32", False), ("int8", False), ("int8", True)]


def test_job_makes_dynamic_int8_artifacts(tmp_path):
    from vst.video.codec import make_clip
    clip = make_clip(tmp_path / "clip.mp4", (96, 64), seconds=0.2, fps=25)
    job = {**default_job(), "models": ["kunster.a025-s05-stage2"], "resolutions": ["32x32"],
           "conversions": [{"to": "tflite", "quant": "int8", "dynamic": True}],
           "bench": {"device": "host", "frames": 2, "repeats": 1, "warmup_frames": 1, "warmup_seconds": 0,
                     "cooldown": 0, "threads": 1, "video": str(clip)}}
    run_job(job, tmp_path / "out", progress=False)
    (art,) = (tmp_path / "out" / "artifacts").glob("*.tflite")
    assert art.name == "kunster-a025-s05-stage2-32x32-int8-dynamic.tflite"
    rep = json.loads(art.with_name(art.name + ".report.json").read_text())
    assert rep["quantization"]["dynamic"]["int8_weight_ops"] > 0
    assert " --dynamic" in (tmp_path / "out" / "commands.txt").read_text()


def test_tiny_job_runs_end_to_end_and_resumes(tmp_path):
    from vst.video.codec import make_clip
    clip = make_clip(tmp_path / "clip.mp4", (96, 64), seconds=0.2, fps=25)
    job = {**default_job(), "models": ["kunster.a025-s05-stage2", "kunster-t2-15"], "resolutions": ["32x32"],
           "conversions": [{"to": "tflite", "quant": "fp32"}], "convert": {"random_weights_checks": "proofs"},
           "bench": {"device": "host", "frames": 4, "repeats": 1, "warmup_frames": 1, "warmup_seconds": 0,
                     "cooldown": 0, "threads": 1, "video": str(clip)}}
    report = run_job(job, tmp_path / "out", progress=False)
    html = report.read_text()
    assert "kunster-a025-s05-stage2" in html and "(random weights)" in html  # the zoo model is marked
    arts = sorted((tmp_path / "out" / "artifacts").glob("*.tflite"))
    assert len(arts) == 2
    commands = (tmp_path / "out" / "commands.txt").read_text()
    assert commands.count("vst-convert ") == 2 and "--random-weights" in commands and "vst-bench " in commands
    before = {a: a.stat().st_mtime_ns for a in arts}
    results = sorted((tmp_path / "out" / "bench" / "results").glob("*.json"))
    stamps = {r: r.stat().st_mtime_ns for r in results}
    run_job(job, tmp_path / "out", progress=False)  # finished work is kept, not redone
    assert {a: a.stat().st_mtime_ns for a in arts} == before
    assert {r: r.stat().st_mtime_ns for r in results} == stamps
    # the zoo model (random weights) was checked by proofs only, the trained one fully (samples, temporal QA)
    reps = {a.name: json.loads(a.with_name(a.name + ".report.json").read_text()) for a in arts}
    zoo = next(r for n, r in reps.items() if n.startswith("kunster-t2-15"))
    trained = next(r for n, r in reps.items() if n.startswith("kunster-a025"))
    assert zoo["checks"] == "proofs" and not zoo["temporal"]["measured"] and "samples" not in zoo
    assert trained["checks"] == "full" and trained["temporal"]["measured"] and trained["samples"]["photos"]
    assert "--checks proofs" in commands
    # commands.txt is spelled by the commands' own parsers: every line parses back with its command's parser
    import shlex
    from vst.bench.cli import build_parser as bench_parser
    from vst.convert.cli import build_parser as convert_parser
    from vst.reports.cli import build_parser as report_parser
    parsers = {"vst-convert": convert_parser, "vst-bench": bench_parser, "vst-report": report_parser}
    lines = commands.splitlines()
    assert lines[0].startswith("vst-run ") and {line.split()[0] for line in lines[1:]} == set(parsers)
    for line in lines[1:]:
        prog, *argv = shlex.split(line)
        parsers[prog]().parse_args(argv)
    assert "--warmup-seconds 0" in commands      # the job's whole protocol, where the hand-spelled line left it out

    # killed mid-run: the second artifact written but not its report, one cell's result not yet written;
    # the rerun redoes exactly those
    killed = next(a for a in arts if a.name.startswith("kunster-t2-15"))
    kept = next(a for a in arts if a != killed)
    killed.with_name(killed.name + ".report.json").unlink()
    lost = results[0]
    lost.unlink()
    run_job(job, tmp_path / "out", progress=False)
    assert kept.stat().st_mtime_ns == before[kept] and killed.stat().st_mtime_ns != before[killed]
    assert lost.exists() and all(r.stat().st_mtime_ns == stamps[r] for r in results[1:])


def test_bad_jobs_are_one_line_errors(tmp_path):
    with pytest.raises(VstError, match="does not exist"):
        load_job(tmp_path / "nope.json")
    (tmp_path / "j.json").write_text("{")
    with pytest.raises(VstError, match="not JSON"):
        load_job(tmp_path / "j.json")
    (tmp_path / "j.json").write_text(json.dumps({"models": ["kunster-t2-15"]}))
    with pytest.raises(VstError, match="required property"):
        load_job(tmp_path / "j.json")
    (tmp_path / "j.json").write_text(json.dumps({**default_job(), "conversions": [
        {"to": "tflite", "quant": "fp32", "dynamic": True}]}))
    with pytest.raises(VstError, match="conversions/0/quant"):     # --dynamic is int8's
        load_job(tmp_path / "j.json")
    (tmp_path / "j.json").write_text(json.dumps({**default_job(), "bench": {**default_job()["bench"],
                                                                          "cooldown": float("nan")}}))
    with pytest.raises(VstError, match="holds NaN"):     # a schema's minimum lets NaN through
        load_job(tmp_path / "j.json")
    (tmp_path / "j.json").write_text(json.dumps({**default_job(), "conversions": [
        {"to": "tflite", "quant": "fp32", "dynamic": True}]}))
    with pytest.raises(VstError, match="no shipped trained model"):
        resolve_model("kunster.nope")
    proc = subprocess.run([sys.executable, "-m", "vst.pipeline.cli", "--job", str(tmp_path / "j.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
