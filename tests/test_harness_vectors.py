"""The shared harness vectors (tests/vectors): Python's plan maker, statistics and result import agree with them.

The Swift package and the Kotlin core are held to the same files by their own suites (tests/test_harnesses.py
runs those); so all three languages agree with each other through these files.
"""
import json
import subprocess
import sys

import pytest

from harness_vectors import RESULTS, VECTORS, differences, load
from vst.bench import stats
from vst.bench.plan import cell_id, schema_errors
from vst.bench.result import check_result


@pytest.mark.parametrize("name", ["plan-coreml.json", "plan-litert.json"])
def test_plans_are_valid_and_their_ids_match(name):
    plan = load(name)
    assert schema_errors("plan", plan) == []
    assert cell_id(plan) == plan["cell_id"]


def test_plan_id_survives_json_writers_that_drop_point_zero():
    # Swift's JSONEncoder and Android's org.json write 2.0 as 2; the harness echoes the plan that way
    plan = load("plan-coreml.json")
    echoed = json.loads(json.dumps(plan).replace('"seconds": 0.0', '"seconds": 0').replace('"cooldown_s": 0.0',
                                                                                           '"cooldown_s": 0'))
    assert echoed["cooldown_s"] == 0 and isinstance(echoed["cooldown_s"], int)
    assert cell_id(echoed) == plan["cell_id"]


def test_statistics_match_the_vectors():
    doc = load("stats.json")
    rel = doc["tolerance_rel"]
    assert rel == 1e-9 and len(doc["summarize"]) > 5 and len(doc["summarize_result"]) >= 3
    for case in doc["summarize"]:
        assert differences(stats.summarize(case["samples_ms"]), case["expected"], rel) == [], case["name"]
    for case in doc["summarize_result"]:
        got = stats.summarize_result({"repeats": case["repeats"]})
        assert differences(got, case["expected"], rel) == [], case["name"]
    flags = {c["name"]: c["expected"]["spread_flag"] for c in doc["summarize_result"]}
    assert flags == {"steady": False, "spread_flagged": True, "single_repeat": False}


def test_the_comparison_can_fail():
    assert differences({"a": 1.0, "b": [None]}, {"a": 1.0 + 1e-6, "b": [None]})
    assert differences({"a": None}, {"a": 0})
    assert differences({"a": False}, {"a": 0})
    assert differences({"a": 1}, {"a": 1, "b": 2})
    assert differences({"a": 1.0 + 1e-12}, {"a": 1.0}) == []


@pytest.mark.parametrize("name", RESULTS)
def test_result_vectors_are_valid_and_their_summary_is_vsts(name):
    doc = load(name)
    assert schema_errors("result", doc) == []
    assert differences(check_result(doc)["summary"], doc["summary"]) == []


def test_result_vectors_import_and_show_in_the_report(tmp_path):
    out = tmp_path / "bench"
    files = [str(VECTORS / n) for n in RESULTS]
    proc = subprocess.run([sys.executable, "-m", "vst.bench.cli", "--import", *files, "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "imported 2 result(s)" in proc.stdout
    html = tmp_path / "report.html"
    proc = subprocess.run([sys.executable, "-m", "vst.reports.cli", str(out), "-o", str(html)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = html.read_text()
    for name in RESULTS:
        assert load(name)["environment"]["delegate_used"] in text
    assert "iphone11pro" in text and "pixel7" in text
