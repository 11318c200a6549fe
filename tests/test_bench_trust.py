"""Measurements a practitioner can trust: intervals, MLPerf replicability verdicts, drift, interleaved --compare,
--bind for multi-input ONNX models, idempotent import."""
import json
import subprocess
import sys

import numpy as np
import pytest

from generators import style_onnx
from vst.bench.stats import bootstrap_ci, drift, replicability
from vst.common.errors import VstError


def test_bootstrap_interval_brackets_the_median_and_is_reproducible():
    rng = np.random.default_rng(1)
    x = 20 + rng.standard_normal(9)
    lo, hi = bootstrap_ci(x)
    assert lo <= np.median(x) <= hi and hi - lo < 3
    assert (lo, hi) == bootstrap_ci(x)  # seeded: a report rebuilt from the same samples says the same
    # a wider spread gives a wider interval; under 3 values there is none
    lo2, hi2 = bootstrap_ci(20 + 5 * rng.standard_normal(9))
    assert hi2 - lo2 > hi - lo
    assert all(np.isnan(bootstrap_ci([1.0, 2.0])))
    assert bootstrap_ci([4.0, 4.0, 4.0]) == (4.0, 4.0)


def test_replicability_follows_mlperf_rule():
    assert replicability(0.04, 5) == "replicates"
    assert replicability(0.04, 3) == "too few runs"
    assert replicability(0.06, 5) == "unsteady"
    assert drift({"workload": "w", "before_ms": 10.0, "after_ms": 15.0}) == pytest.approx(0.5)
    assert drift(None) is None


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from vst.video.codec import make_clip
    return make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", (64, 48), seconds=0.4, fps=25)


@pytest.fixture(scope="module")
def styled(tmp_path_factory):
    return style_onnx(tmp_path_factory.mktemp("style") / "style.onnx")


def test_sweep_results_carry_intervals_verdicts_and_drift(tmp_path, clip):
    from vst.bench.store import load_result
    from vst.bench.sweep import Protocol, run_host
    df = run_host(["kunster-t2-05"], [(32, 32)], tmp_path / "o", protocol=Protocol(1, 0.0, 3, None, 3, 0.0, 1),
                  video=clip, progress=False, log=lambda *_: None)
    row = df.iloc[0]
    assert row["replicability"] in ("too few runs", "unsteady")  # 3 repeats can never replicate by the rule
    assert row["fps_inference_ci_low"] <= row["fps_inference"] <= row["fps_inference_ci_high"]
    result = load_result(tmp_path / "o", row)
    ref = result["host_reference"]
    assert ref["before_ms"] > 0 and row["drift"] == pytest.approx(ref["after_ms"] / ref["before_ms"] - 1)


def test_import_twice_adds_one_row(tmp_path, clip):
    from vst.bench.store import import_results, load_results
    from vst.bench.sweep import Protocol, run_host
    run_host(["kunster-t2-05"], [(32, 32)], tmp_path / "a", protocol=Protocol(1, 0.0, 2, None, 1, 0.0, 1),
             video=clip, progress=False, log=lambda *_: None)
    (src,) = (tmp_path / "a" / "results").glob("*.json")
    said = []
    assert len(import_results([src], tmp_path / "b", log=said.append)) == 1
    assert import_results([src], tmp_path / "b", log=said.append) == []
    assert "already in" in said[0]
    assert len(load_results(tmp_path / "b", history=True)) == 1
    assert (tmp_path / "b" / "results.csv").read_text().count("\n") == 2  # header and one row


def test_bind_drives_a_multi_input_onnx(tmp_path, clip, styled):
    from vst.bench.cli import main
    out = tmp_path / "o"
    with pytest.raises(VstError, match=r"extra input\(s\) style_weights.*--bind style_weights="):
        main(["--model", str(styled), "--resolutions", "32x32", "--video", str(clip), "--out", str(out),
              "--no-progress"])
    with pytest.raises(VstError, match="none of the models takes"):
        main(["--model", str(styled), "--bind", "style_weights=1", "--bind", "stlye=2", "--video", str(clip),
              "--out", str(out), "--no-progress"])
    with pytest.raises(VstError, match="0..3"):
        main(["--model", str(styled), "--bind", "style_weights=7", "--video", str(clip), "--out", str(out)])
    assert not out.exists()  # refused before anything was written
    args = ["--model", str(styled), "--resolutions", "32x32", "--video", str(clip), "--out", str(out),
            "--frames", "2", "--repeats", "1", "--cooldown", "0", "--warmup-frames", "1", "--warmup-seconds", "0",
            "--no-progress"]
    assert main(args + ["--bind", "style_weights=1"]) == 0
    assert main(args + ["--bind", "style_weights=2"]) == 0
    cells = [json.loads(p.read_text()) for p in (out / "results").glob("*.json")]
    # the bound value is part of what a cell measures: two styles, two cells
    assert sorted(c["plan"]["artifact"]["bind"]["style_weights"] for c in cells) == [1, 2]


def test_fixed_size_artifact_says_resolutions_do_not_apply(tmp_path, clip):
    from vst.bench.sweep import Protocol, run_host
    art = style_onnx(tmp_path / "k.onnx", size=(32, 24))
    said = []
    df = run_host([str(art)], [(48, 32)], tmp_path / "o", protocol=Protocol(1, 0.0, 2, None, 1, 0.0, 1),
                  video=clip, progress=False, log=said.append, bind={"style_weights": 0})
    assert list(df["resolution"]) == ["32x24"]
    assert any("fixed 32x24 input" in s and "48x32" in s for s in said)
    # its own size among those asked for (a job converting one artifact per size): nothing to say
    said.clear()
    run_host([str(art)], [(32, 24), (48, 32)], tmp_path / "o", protocol=Protocol(1, 0.0, 2, None, 1, 0.0, 1),
             video=clip, progress=False, log=said.append, bind={"style_weights": 0})
    assert not any("fixed 32x24 input" in s for s in said), said


def test_compare_interleaves_and_reports_paired_ratios(tmp_path, clip, styled):
    from vst.bench.compare import MIN_ROUNDS, compare, format_comparison
    res = compare(["kunster-t2-05", str(styled), "kunster-t2-05"], size=(32, 32), seconds=0.2, video=clip,
                  threads=1, bind={"style_weights": 0}, progress=False)
    assert res["size"] == "32x32" and res["rounds"] >= MIN_ROUNDS
    base, onnx_entry, same = res["entries"]
    assert "speed_ratio" not in base and onnx_entry["runtime"] == "onnxruntime"
    for e in (onnx_entry, same):
        lo, hi = e["speed_ratio_ci"]
        assert lo <= e["speed_ratio"] <= hi
        assert e["resolved"] == (e["ratio_halfwidth"] <= 0.05)
    text = format_comparison(res)
    assert "baseline" in text and text.count("vs kunster-t2-05") == 2
    # the report takes the --json file: one row per ratio, the interval as printed
    from vst.reports.collect import collect
    from vst.reports.context import comparison_rows
    (tmp_path / "q.compare.json").write_text(json.dumps(res))
    rows = comparison_rows(collect([tmp_path]))
    assert len(rows) == 2 and rows[0]["ratio"].startswith(f"{onnx_entry['speed_ratio']:.3f}x [")
    (tmp_path / "q.compare.json").write_text('{"entries": []}')
    with pytest.raises(VstError, match="not a vst-bench --compare JSON"):
        collect([tmp_path])


def test_compare_refuses_what_it_cannot_pair(tmp_path, clip):
    from vst.bench.compare import compare
    a, b = style_onnx(tmp_path / "a.onnx", size=(32, 24)), style_onnx(tmp_path / "b.onnx", size=(32, 32))
    bind = {"style_weights": 0}
    with pytest.raises(VstError, match="one input size"):
        compare([str(a), str(b)], video=clip, progress=False, bind=bind)
    with pytest.raises(VstError, match="fixed 32x24"):
        compare([str(a), "kunster-t2-05"], size=(64, 48), video=clip, progress=False, bind=bind)
    with pytest.raises(VstError, match="two artifacts"):
        compare([str(a)], video=clip, progress=False, bind=bind)
    # the CLI says it in one line, exit 2, no traceback
    proc = subprocess.run([sys.executable, "-m", "vst.bench.cli", "--compare", str(a), str(b), "--video", str(clip),
                           "--bind", "style_weights=0"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_timed_rounds_settle_only_after_spinning_runtimes_and_pair_ratios(monkeypatch):
    """vst-bench --compare's loop (timed_rounds, which the Table II speed study times through too): every runner
    timed in turns in a rotating order, the settle pause only after ONNX Runtime and torch turns, and ratios taken
    round by round: with the machine slowing down as the run goes on, two runners that always take 2:1 keep a
    paired ratio of 2."""
    import itertools
    import numpy as np
    from vst.bench import compare, stats
    clock, log = [0.0], []

    def runner(name, cost):
        def f(j):
            log.append(name)
            clock[0] += cost * (1 + len(log) / 1000)     # drift: everything slows as the run goes on
        return f
    monkeypatch.setattr(compare.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(compare.time, "sleep", lambda s: log.append("sleep"))
    names = ["ort", "fp32", "int8"]
    blocks = compare.timed_rounds([runner("ort", 4.0), runner("fp32", 2.0), runner("int8", 1.0)],
                                  [True, False, False], lambda r: r < 4)
    assert [len(b) for b in blocks] == [4, 4, 4]              # one turn each per round
    calls = log
    assert all(calls[i - 1] == "ort" for i, e in enumerate(calls) if e == "sleep")   # only after ONNX Runtime
    assert calls.count("sleep") == 4                          # one ORT turn a round, each followed by a turn
    order = [k for k, _ in itertools.groupby(e for e in calls if e != "sleep")]
    assert order == ["ort", "fp32", "int8", "fp32", "int8", "ort", "int8", "ort", "fp32", "ort", "fp32", "int8"]
    turns = {k: [float(np.median(b)) for b in t] for k, t in zip(names, blocks)}
    ratio, lo, hi = stats.paired_ratio(turns["fp32"], turns["int8"])
    assert ratio == pytest.approx(2.0, rel=0.02) and lo <= ratio <= hi


def test_compare_gemm_peak_runs_in_the_same_rounds_and_reads_effective_throughput_against_it(tmp_path, clip):
    """vst-bench --compare --gemm-peak: the GEMM peak is one more runner of the loop, reported in the JSON; each
    artifact whose MACs are known gets its effective GFLOP/s and its fraction of the peak."""
    from vst.bench.compare import GEMM_N, compare, format_comparison
    res = compare(["kunster-t2-05", "kunster-t2-05"], size=(32, 32), seconds=0.1, video=clip, threads=1,
                  progress=False, gemm_peak=True)
    peak = res["gemm_peak"]
    assert peak["n"] == GEMM_N and 0 < peak["ms_best"] <= peak["ms_median"] and peak["gflops"] > 0
    for e in res["entries"]:
        assert e["macs"] > 0 and e["latency_ms_best"] <= e["latency_ms_median"]
        assert e["effective_gflops"] > 0 and e["of_gemm_peak"] == pytest.approx(e["effective_gflops"] / peak["gflops"])
    assert "GEMM peak" in format_comparison(res)
    assert "gemm_peak" not in compare(["kunster-t2-05", "kunster-t2-05"], size=(32, 32), seconds=0.1, video=clip,
                                      threads=1, progress=False)
    out = tmp_path / "g.compare.json"
    proc = subprocess.run([sys.executable, "-m", "vst.bench.cli", "--compare", "kunster-t2-05", "kunster-t2-05",
                           "--size", "32x32", "--seconds", "0.1", "--video", str(clip), "--threads", "1",
                           "--gemm-peak", "--no-progress", "--json", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["gemm_peak"]["gflops"] > 0
    proc = subprocess.run([sys.executable, "-m", "vst.bench.cli", "--gemm-peak"], capture_output=True, text=True)
    assert proc.returncode == 2 and "goes with --compare" in proc.stderr
