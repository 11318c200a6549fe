"""The Table II speed study (vst-run --job table2-speed): convert() and vst-bench --compare's loop with the GEMM
peak, one row per configuration and size. Tiny sizes: structure and statistics, never timed verdicts."""
import json

import pytest

from vst.common.errors import VstError
from vst.pipeline import table2_speed


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from vst.video.codec import make_clip
    return make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", (64, 48), seconds=0.4, fps=25)


def test_study_row_has_paired_ratios_inside_their_intervals_and_the_gemm_peak(tmp_path, clip, capsys):
    from vst.pipeline.cli import main
    assert main(["--job", "table2-speed", "--out", str(tmp_path), "--configs", "15", "--sizes", "32x32",
                 "--seconds", "0.1", "--threads", "1", "--video", str(clip), "--no-progress"]) == 0
    res = json.loads((tmp_path / table2_speed.RESULTS_FILE).read_text())
    (row,) = res["rows"]
    assert row["model"] == "kunster-t2-15" and row["size"] == "32x32" and row["macs"] > 0
    assert set(row["ms_median"]) == set(row["ms_best"]) == {"fp32", "ort", "int8"}
    assert row["rounds"] >= 8
    for k in ("fp32_vs_ort", "int8_speedup"):
        lo, hi = row[k + "_ci"]
        assert row[k] > 0 and lo <= row[k] <= hi
    assert row["gemm_peak_gflops"] > 0 and row["fp32_effective_gflops"] > 0
    assert set(row["partitions"]) == {"fp32", "int8"}
    out = capsys.readouterr().out
    assert "| kunster-t2-15 | 32x32 |" in out and "int8 >= 1.5x fp32: " in out and "/1 cells" in out
    # the artifacts are kept: a rerun times again without converting
    arts = sorted(p.name for p in (tmp_path / "artifacts").iterdir() if not p.name.endswith(".json"))
    assert arts == ["kunster-t2-15_32x32_fp32.tflite", "kunster-t2-15_32x32_int8.tflite",
                    "kunster-t2-15_32x32_ort.onnx"]
    from vst.pipeline import job
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "artifacts").iterdir()}
    table2_speed.run([(32, 32)], tmp_path / "artifacts", configs=[15], seconds=0.1, threads=1, video=clip)
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "artifacts").iterdir()}
    assert job.artifact_intact(tmp_path / "artifacts" / arts[0])


def test_table_counts_cells_against_the_targets():
    row = {"model": "kunster-t2-01", "size": "32x32", "macs": 2e9, "ms_median": {"fp32": 1, "ort": 2, "int8": 0.5},
           "fp32_vs_ort": 0.5, "fp32_vs_ort_ci": [0.4, 0.6], "int8_speedup": 2.0, "int8_speedup_ci": [1.8, 2.2],
           "fp32_effective_gflops": 60.0, "gemm_peak_gflops": 100.0, "partitions": {"fp32": 1, "int8": 1}}
    slow = {**row, "model": "kunster-t2-02", "fp32_vs_ort": 1.1, "int8_speedup": 1.2}
    text = table2_speed.format_table({"rows": [row, slow], "load": "quiet", "threads": 2})
    assert "0.60x the GEMM peak" in text
    assert "fp32 <= 0.8x ORT: 1/2 cells; int8 >= 1.5x fp32: 1/2 cells" in text


def test_bad_configuration_or_budget_is_one_line(tmp_path):
    with pytest.raises(VstError, match="configurations 1-15"):
        table2_speed.run([(32, 32)], tmp_path, configs=[16])
    with pytest.raises(VstError, match="--seconds"):
        table2_speed.run([(32, 32)], tmp_path, configs=[1], seconds=0)
    assert not any(tmp_path.iterdir())


def test_speed_options_go_with_the_speed_job_only(tmp_path):
    from vst.pipeline.cli import main
    with pytest.raises(VstError, match="--seconds goes with --job table2-speed"):
        main(["--out", str(tmp_path / "o"), "--seconds", "3"])
    assert not (tmp_path / "o").exists()
