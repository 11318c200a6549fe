"""Builds and tests the phone harnesses' platform-independent cores: `swift test` in ios_harness/VstBenchKit and
android_harness/core/test.sh (kotlinc + JUnit 4), then imports the results those suites wrote into vst.

The toolchains come from scripts/setup.sh. In CI (CI=true) a missing one fails the run; elsewhere it skips with
the reason. Swift keeps its build folder (.build) and the Kotlin build its classes, so reruns take seconds.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from toolchains import missing

from harness_vectors import RESULTS, VECTORS, differences, load

REPO = Path(__file__).resolve().parents[1]
SWIFT_PACKAGE = REPO / "ios_harness" / "VstBenchKit"
KOTLIN_CORE = REPO / "android_harness" / "core"


def swift() -> str:
    found = shutil.which("swift")
    if not found:
        missing("swift is not on PATH")
    return found


def run_suite(cmd: list[str], cwd: Path, out: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, VST_HARNESS_OUT=str(out), VST_VECTORS=str(VECTORS))
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def swift_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("swift-out")
    return run_suite([swift(), "test"], SWIFT_PACKAGE, out), out


@pytest.fixture(scope="module")
def kotlin_run(tmp_path_factory):
    for tool in ("kotlinc", "java"):
        if not shutil.which(tool):
            missing(f"{tool} is not on PATH")
    out = tmp_path_factory.mktemp("kotlin-out")
    proc = run_suite(["bash", str(KOTLIN_CORE / "test.sh")], KOTLIN_CORE, out)
    if proc.returncode == 3:  # test.sh: a Debian package is missing
        missing(proc.stderr.strip().splitlines()[-1])
    return proc, out


def test_swift_package_builds_and_passes(swift_run):
    proc, _ = swift_run
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    runs = re.findall(r"Executed (\d+) tests?, with (\d+) failures?", log)
    assert runs, log[-2000:]
    total, failures = map(int, runs[-1])
    assert failures == 0 and total >= 15, log[-2000:]


def test_kotlin_core_builds_and_passes(kotlin_run):
    proc, _ = kotlin_run
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    ok = re.search(r"^OK \((\d+) tests?\)", proc.stdout, re.M)
    assert ok and int(ok.group(1)) >= 12, log[-2000:]


def test_results_the_harnesses_wrote_import_into_vst(swift_run, kotlin_run, tmp_path):
    written = [swift_run[1] / RESULTS[0], kotlin_run[1] / RESULTS[1]]
    for path, name in zip(written, RESULTS):
        assert path.is_file(), f"the {name} suite wrote no result"
        assert differences(json.loads(path.read_text()), load(name)) == [], name
    proc = subprocess.run([sys.executable, "-m", "vst.bench.cli", "--import", *map(str, written),
                           "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rows = (tmp_path / "results.csv").read_text()
    assert "iphone11pro" in rows and "pixel7" in rows
