"""vst-report end to end on real artifacts and measurements, rendered by a real headless Chromium."""
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from vst.common.errors import VstError

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EVIL = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    from vst.bench.sweep import Protocol, run_host
    from vst.video.codec import make_clip
    from vst.convert import convert
    d = tmp_path_factory.mktemp("report")
    arts = d / "artifacts"
    for quant in ("fp32", "int8"):
        convert("kunster-t2-15", to="tflite", quant=quant, size=(64, 48), out=arts / f"k15-{quant}.tflite",
                random_weights=True)
        # a model whose name carries markup and script: the page must show it as text
        rp = arts / f"k15-{quant}.tflite.report.json"
        rep = json.loads(rp.read_text())
        rep["source"]["name"] = EVIL
        rp.write_text(json.dumps(rep))
    clip = make_clip(d / "clip.mp4", (128, 96), seconds=0.4, fps=25)
    protocol = Protocol(warmup_frames=2, warmup_seconds=0, measure_frames=8, repeats=2, cooldown_s=0, threads=1)
    run_host([str(arts / "k15-fp32.tflite"), str(arts / "k15-int8.tflite")], [(64, 48)], d / "bench",
             protocol=protocol, video=clip, progress=False, log=lambda *_: None)
    (d / "commands.txt").write_text(f"vst-convert kunster-t2-15 ... {EVIL}\n")
    out = d / "report.html"
    proc = subprocess.run([sys.executable, "-m", "vst.reports.cli", str(d), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return d, out


def test_report_is_self_contained_and_escaped(made):
    _, out = made
    html = out.read_text()
    for section in ("summary", "zoo", "conversions", "benchmarks", "samples", "environment"):
        assert f'id="{section}"' in html
    # the answer comes first
    assert html.index('id="summary"') < html.index('id="zoo"') < html.index('id="benchmarks"')
    # every image is embedded; nothing is fetched when the file is opened offline
    assert "src=\"http" not in html and "href=\"http" not in html
    assert html.count("data:image/png;base64,") >= 2
    assert EVIL not in html and "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;" in html
    assert "<script" not in html


def test_report_has_the_measured_numbers(made):
    d, out = made
    from vst.bench.store import load_results
    html = out.read_text()
    df = load_results(d / "bench")
    assert len(df) == 2
    for _, row in df.iterrows():
        # 2 repeats: too few for an interval, and the page says so rather than printing one
        assert f"{row['fps_e2e']:.1f} (under 3 repeats: no CI)" in html
        assert row["replicability"] in ("too few runs", "unsteady") and row["replicability"] in html
    reps = [json.loads(p.read_text()) for p in sorted((d / "artifacts").glob("*.report.json"))]
    assert all(r["transposes"]["after"] == 0 for r in reps)
    assert "20 &rarr; <span class=\"ok\">0</span>" in html or "&rarr; <span class=\"ok\">0</span>" in html
    # random weights: no sample frames (noise), one <details> per conversion, and the summary picks among
    assert "dB vs fp32" not in html and "sample frames are shown for trained weights only" in html
    assert html.count("<details>") == len(reps)
    assert html.count("made by native") == len(reps)          # which converter wrote each file
    # artifacts whose fidelity passed, or for random weights would pass if trained (or says none did)
    passed = [r for r in reps if (r["fidelity"]["passed"] if r["fidelity"].get("passed") is not None
                                  else r["fidelity"].get("gate_passed_if_trained"))]
    summary = html[html.index('id="summary"'):html.index('id="zoo"')]
    if passed:
        fastest = df[df["artifact"].isin([r["artifact"]["path"].split("/")[-1] for r in passed])]
        best = fastest.sort_values("fps_e2e").iloc[-1]
        assert best["artifact"] in summary and "random weights" in summary
        # what a shipping decision needs beside speed: start-up and memory, as the pick's runner measured them
        assert f"load {best['load_ms']:.0f} ms, first frame {best['first_inference_ms']:.0f} ms" in summary
        assert f"peak {best['memory_peak_mb']:.0f} MiB" in summary
        failed = [r for r in reps if r not in passed]
        if failed:     # left out, grouped by precision and reason
            assert f"{failed[0]['quant']} (fidelity)" in summary
    else:
        assert "no measured artifact meets the thresholds" in html
    # row 15 of Table II carries the measured host FPS of the same-sized model
    assert "host litert fp32 64x48 (FPS end to end)" in html and "host litert int8 64x48 (FPS end to end)" in html


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is installed by scripts/setup.sh")
def test_report_renders_in_headless_chromium(made, tmp_path):
    _, out = made
    shot = tmp_path / "shot.png"
    base = [CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run(base + [f"--screenshot={shot}", "--window-size=1280,2400", out.as_uri()],
                   capture_output=True, timeout=120, check=True)
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (2400, 1280)
    assert img.std() > 20 and len(np.unique(img.reshape(-1, 3), axis=0)) > 200  # not blank: text, tables, frames
    dom = subprocess.run(base + ["--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    # no script ran: the title is ours and the markup is in the DOM as text only
    assert "<title>vst report</title>" in dom and "pwned</title>" not in dom
    assert "&lt;script&gt;document.title" in dom and "<img src=\"x\"" not in dom
    for heading in ("Which model to ship at which size", "The zoo against Kunster's Table II", "Conversions", "Benchmarks", "Sample frames",
                    "Environment and commands"):
        assert heading in dom


def test_bad_inputs_are_one_line_errors(tmp_path):
    from vst.reports.collect import collect
    with pytest.raises(VstError, match="does not exist"):
        collect([tmp_path / "missing"])
    with pytest.raises(VstError, match="found no conversion reports"):
        collect([tmp_path])
    bad = tmp_path / "x.report.json"
    bad.write_text("{not json")
    with pytest.raises(VstError, match="not valid JSON"):
        collect([bad])
    bad.write_text('{"target": "tflite"}')
    with pytest.raises(VstError, match="not a vst-convert report: the top level: 'schema_version' is a required property"):
        collect([bad])
    proc = subprocess.run([sys.executable, "-m", "vst.reports.cli", str(bad), "-o", str(tmp_path / "r.html")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and not (tmp_path / "r.html").exists()
