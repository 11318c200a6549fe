"""vst-train --study at tiny scale: records match the schema and the weights, a rerun redoes only what is missing,
the report shows the section with FPS beside it, and bad input is one line."""
import json

import pandas as pd
import pytest

from vst.common.errors import VstError
from vst.models import load_model
from vst.reports import build_report
from vst.reports.study import host_fps, study_section
from vst.training import cli
from vst.training.study import load_study, validate

ARGS = ["--study", "table2", "--teacher", "multistyle26:5", "--configs", "15,kunster-t2-10", "--size", "32",
        "--steps", "6", "--crops", "8", "--eval-size", "32", "--eval-frames", "3"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VST_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def study(tmp_path):
    out = tmp_path / "study"
    assert cli.main([*ARGS, "--out", str(out)]) == 0
    return out


def test_study_records_resume_and_report(study, tmp_path, capsys):
    doc = load_study(study)
    validate(doc)
    assert [r["config"] for r in doc["configs"]] == ["kunster-t2-10", "kunster-t2-15"]  # Table II order
    for r in doc["configs"]:
        model = load_model(study / r["weights"])
        assert r["params"] == sum(p.numel() for p in model.parameters())
        assert (r["alpha"], r["beta"]) == (model.config["alpha"], model.config["beta"])
        assert r["recipe"]["steps"] == 6 and r["recipe"]["size"] == 32 and r["recipe"]["teacher"] == "multistyle26:5"
        # a 6-step student is far from the teacher and far from still, but the figures are real measurements
        assert 3 < r["psnr_vs_teacher"] < 30 and r["temporal_error"] > r["input_temporal_error"] > 0
        assert r["train_s"] > 0 and (study / r["sample"]).is_file()
    assert {"params", "psnr_vs_teacher", "temporal_error"} <= set(doc["configs"][0])
    assert (study / "grid.png").stat().st_size > 1000
    assert doc["configs"][0]["params"] != doc["configs"][1]["params"]

    # a killed study: one record lost; the rerun trains only that configuration and keeps the other's weights
    kept = study / "kunster-t2-15.safetensors"
    kept_mtime = kept.stat().st_mtime_ns
    lost = json.loads((study / "configs" / "kunster-t2-10.json").read_text())
    (study / "configs" / "kunster-t2-10.json").unlink()
    (study / "study.json").unlink()
    capsys.readouterr()
    assert cli.main([*ARGS, "--out", str(study)]) == 0
    log = capsys.readouterr().out
    assert "kunster-t2-15: done before, kept" in log and "kunster-t2-10: training" in log
    assert kept.stat().st_mtime_ns == kept_mtime
    again = {r["config"]: r for r in load_study(study)["configs"]}
    # its weights were already written: retraining found them and measured the same model again
    assert again["kunster-t2-10"]["psnr_vs_teacher"] == pytest.approx(lost["psnr_vs_teacher"], abs=1e-6)

    # the report: grid, table and plot, with the measured host FPS of those configurations beside them
    bench = pd.DataFrame({"device": ["host", "host", "host"], "precision": ["fp32", "fp32", "int8"],
                          "resolution": ["480x320"] * 3, "named_config": ["kunster-t2-10", "kunster-t2-15", "kunster-t2-15"],
                          "fps_e2e": [40.0, 55.0, 90.0]})
    assert host_fps(bench) == {"kunster-t2-10": 40.0, "kunster-t2-15": 55.0}
    sec = study_section(study, bench, {"kunster-t2-15": {"host fp32 480x320": "55.0"}})
    assert [r["config"] for r in sec["rows"]] == ["kunster-t2-10", "kunster-t2-15"]
    assert sec["rows"][1]["measured"] == {"host fp32 480x320": "55.0"} and sec["measured_columns"] == ["host fp32 480x320"]
    assert sec["rows"][1]["pub_11_480"] == "51.92" and sec["grid_uri"] and sec["plot_uri"]
    html = build_report([], tmp_path / "r.html", studies=[study]).read_text()
    assert 'id="fig8-study"' in html and "kunster-t2-15" in html and html.count("data:image/png") >= 2


def test_study_bad_input_is_one_line(tmp_path):
    with pytest.raises(VstError, match="not in Table II"):
        cli.main([*ARGS[:4], "--configs", "16", "--out", str(tmp_path / "s")])
    with pytest.raises(VstError, match="--teacher"):
        cli.main(["--study", "table2", "--out", str(tmp_path / "s")])
    with pytest.raises(VstError, match="drop --preset"):
        cli.main([*ARGS, "--preset", "reconet", "--out", str(tmp_path / "s")])
    with pytest.raises(VstError, match="does not exist"):
        load_study(tmp_path / "nothing")
    assert not (tmp_path / "s").exists()


def test_job_key_study_is_checked_before_any_work(tmp_path):
    from vst.pipeline.job import load_job, run_job
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"models": ["kunster-t2-15"], "resolutions": ["64x64"],
                                "conversions": [{"to": "tflite", "quant": "fp32"}], "study": str(tmp_path / "none")}))
    job = load_job(path)
    assert job["study"] == str(tmp_path / "none")
    with pytest.raises(VstError, match="vst-train --study table2"):
        run_job(job, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
