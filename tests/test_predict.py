"""The Table II study (Fig. 6 fits, rank correlation) and vst-predict (calibration, leave-one-out, extrapolation,
imported phone results, CLI errors). Counting runs on meta tensors: no model is executed."""
import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
from pathlib import Path

import pytest

from generators import conversion_report
from vst.bench.store import COLUMNS
from vst.common.cli import run_cli
from vst.models import create_model, save_model, table2
from vst.predict import device as dev
from vst.predict.cli import main
from vst.predict.fits import table2_study
from vst.reports.context import table2_report as report_section

# FPS = a + b ln(params_k) over Table II's 15 rows, computed independently with numpy.polyfit on the CSV
# (1 - SS_res / SS_tot): iPhone 11 Pro 480x320, 320x240, iPhone 6s 480x320, 320x240.
HAND_FITS = {"fps_iphone11pro_480x320": (59.611, -8.142, 0.9360), "fps_iphone11pro_320x240": (76.035, -9.972, 0.9471),
             "fps_iphone6s_480x320": (41.457, -6.036, 0.9424), "fps_iphone6s_320x240": (58.090, -8.093, 0.9521)}


def bench_frame(entries):
    """vst-bench results rows (the store's columns), as load_results returns them."""
    rows = [{**{c: None for c in COLUMNS}, "runtime": "litert", "delegate": "xnnpack", "precision": "fp32",
             **e, "cell_id": f"c{i:03d}", "finished_at": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z"}
            for i, e in enumerate(entries)]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_fig6_fits_on_published_columns_match_hand_computed_values(shared_table2):
    study = table2_study()
    assert len(study["fits"]) == 4 and study["spearman"] == []
    by_col = {f"fps_{'iphone11pro' if '11 Pro' in f.label else 'iphone6s'}_{f.resolution}": f for f in study["fits"]}
    for col, (a, b, r2) in HAND_FITS.items():
        f = by_col[col]
        assert f.a == pytest.approx(a, abs=1e-3) and f.b == pytest.approx(b, abs=1e-3)
        assert f.r2 == pytest.approx(r2, abs=1e-4)
    # the fits ran on the table the paper published (the shipped copy equals the reference beside the repo)
    if shared_table2.exists():
        ref = pd.read_csv(shared_table2)
        assert np.allclose(ref["fps_iphone6s_320x240"], [r["fps_iphone6s_320x240"] for r in table2()])


def test_measured_series_get_a_fit_and_rank_correlations_in_the_report():
    rows = table2()
    col = "fps_iphone11pro_480x320"
    entries = [{"device": "host", "model_name": f"kunster-t2-{int(r['id']):02d}", "arch": "kunster",
                "resolution": "480x320", "width": 480, "height": 320, "fps_e2e": 3 * r[col]} for r in rows]
    # a checkpoint of row 4's layout is recognised by architecture and parameter count, and its median is used
    entries[3] = {**entries[3], "model_name": "my-stylizer", "params": 32763}
    entries.append({**entries[3], "fps_e2e": 1e6})
    entries.append({**entries[3], "fps_e2e": -1e6})
    study = table2_study(bench_frame(entries))
    host = [f for f in study["fits"] if not f.published]
    assert len(host) == 1 and len(host[0].ids) == 15
    assert host[0].r2 == pytest.approx(HAND_FITS[col][2], abs=1e-4)  # FPS scaled by 3: same R^2
    assert host[0].b == pytest.approx(3 * HAND_FITS[col][1], abs=3e-3)
    rho = {c["column"]: c["rho"] for c in study["spearman"]}
    assert rho["iPhone 11 Pro 480x320 (published)"] == pytest.approx(1.0)
    assert 0.8 < rho["iPhone 6s 320x240 (published)"] < 1.0  # the phones disagree on a few neighbours
    section = report_section(bench_frame(entries))
    assert section["uri"].startswith("data:image/png;base64,") and len(section["spearman"]) == 4
    assert report_section(bench_frame([])) is None


def test_report_shows_the_study_escaped(tmp_path):
    from vst.reports.collect import Inputs
    from vst.reports.context import build_context
    from vst.reports.render import render_html
    numbers = {"fps_inference": 50.0, "inference_ms_median": 20.0, "inference_ms_p90": 21.0, "e2e_over_inference": 1.1,
               "inference_ms_cv": 0.01, "repeat_spread": 0.01, "spread_flag": False, "repeats": 3}
    entries = [{**numbers, "device": "host", "runtime": "<b>rt</b>", "model_name": f"kunster-t2-{i:02d}",
                "arch": "kunster", "resolution": "320x240", "width": 320, "height": 240, "fps_e2e": 100.0 / i}
               for i in (1, 4, 9, 15)]
    html = render_html(build_context(Inputs(bench=bench_frame(entries)), "t"))
    assert 'id="table2-study"' in html and "&lt;b&gt;rt&lt;/b&gt;" in html and "<b>rt</b>" not in html
    assert "Table II study" not in render_html(build_context(Inputs(bench=bench_frame(entries[:2])), "t"))


def _loo_csv(capsys, *argv):
    assert main(["--loo", *argv]) == 0
    out, err = capsys.readouterr()
    return pd.read_csv(io.StringIO(out)), out, err


def test_loo_csv_format_and_error_per_phone(capsys):
    df, out, err = _loo_csv(capsys)
    assert out.splitlines()[0] == "id,device,resolution,published_fps,predicted_fps"
    assert len(df) == 60 and set(df["device"]) == set(dev.PHONES)
    assert sorted(df.groupby("device")["id"].nunique()) == [15, 15]
    assert set(df["resolution"]) == {"480x320", "320x240"}
    pub = {(int(r["id"]), d): r for r in table2() for d in dev.PHONES}
    for _, row in df.iterrows():
        assert row["published_fps"] == pub[(row["id"], row["device"])][f"fps_{row['device']}_{row['resolution']}"]
    for phone, g in df.groupby("device"):
        mape = 100 * np.mean(np.abs(g["predicted_fps"] - g["published_fps"]) / g["published_fps"])
        assert mape <= 10.0, f"{phone}: leave-one-out MAPE {mape:.2f}% over the 10% target"
        assert f"{phone}: leave-one-out MAPE {mape:.2f}%" in err
    one, _, _ = _loo_csv(capsys, "--device", "iphone6s")
    assert set(one["device"]) == {"iphone6s"}


@pytest.mark.parametrize("kind", [dev.MODULE, *dev.GRAPH_KINDS])
def test_loo_prediction_never_sees_the_held_out_row(monkeypatch, kind):
    base = dev.leave_one_out("iphone11pro", kind=kind).set_index(["id", "resolution"])["predicted_fps"]
    real = dev.table2_points

    def doctored(device, kind):  # row 3 published at twice its FPS
        return [dev.Point(p.key, p.device, p.features, p.fps * (2 if p.key == "kunster-t2-03" else 1), p.origin)
                for p in real(device, kind)]
    monkeypatch.setattr(dev, "table2_points", doctored)
    moved = dev.leave_one_out("iphone11pro", kind=kind).set_index(["id", "resolution"])["predicted_fps"]
    assert (moved.loc[3] == base.loc[3]).all()  # its own prediction is unchanged...
    assert (moved.drop(index=3) != base.drop(index=3)).any()  # ...while it moves the other rows' calibration


def test_extrapolation_is_flagged_and_table2_configs_are_recognised(tmp_path):
    inside = dev.predict("kunster-t2-04", "iphone11pro")
    assert [p.extrapolation for p in inside] == [[], []]
    assert [p.published_fps for p in inside] == [27.72, 40.91]
    assert all(p.loo_mape <= 10 and p.n_points == 30 for p in inside)
    big = dev.predict("reconet", "iphone6s", [(480, 320)])[0]
    assert any("MACs" in n and "above" in n for n in big.extrapolation)
    assert any("architecture reconet" in n for n in big.extrapolation)
    deconv = dev.predict("huang-353-res48", "iphone6s", [(320, 240)])[0]
    assert any("layer types ConvTranspose2d" in n for n in deconv.extrapolation)
    assert big.fps < min(r["fps_iphone6s_480x320"] for r in table2())
    # a checkpoint of a Table II layout and an artifact whose report names it predict what the zoo name does
    # (a .pte: no graph vst-predict reads, so its report's source is counted; a .tflite is counted from its graph)
    ckpt = save_model(create_model("kunster", alpha=0.25, beta=1.0), tmp_path / "mine.safetensors")
    art = tmp_path / "mine.pte"
    art.write_bytes(b"")
    rep = conversion_report(str(ckpt), "kunster", {"alpha": 0.25, "beta": 1.0, "variant": "table2"}, 320, 240)
    rep["source"]["kind"] = "checkpoint"
    art.with_name(art.name + ".report.json").write_text(json.dumps(rep))
    from_ckpt = dev.predict(str(ckpt), "iphone11pro")
    from_art = dev.predict(str(art), "iphone11pro")
    assert [p.fps for p in from_ckpt] == [p.fps for p in inside]
    assert [(p.width, p.height, p.fps, p.published_fps) for p in from_art] == [(320, 240, inside[1].fps, 40.91)]


def test_imported_phone_results_join_the_calibration(tmp_path, capsys):
    entries = [{"device": "iphone11pro", "model_name": "kunster-t2-04", "arch": "kunster", "resolution": "480x320",
                "width": 480, "height": 320, "fps_e2e": 60.0},
               {"device": "iphone6s", "model_name": "kunster-t2-04", "arch": "kunster", "resolution": "480x320",
                "width": 480, "height": 320, "fps_e2e": 1.0},
               {"device": "iphone11pro", "model_name": "not-a-zoo-model", "arch": None, "resolution": "480x320",
                "width": 480, "height": 320, "fps_e2e": 50.0}]
    # measured rows as vst-bench loads them (a DataFrame); the CLI reads a real store below
    folder = bench_frame(entries)
    points, skipped = dev.measured_points(folder, "iphone11pro")
    assert [(p.key, p.resolution, p.fps, p.origin) for p in points] == [("kunster-t2-04", "480x320", 60.0, dev.MEASURED)]
    assert skipped == ["not-a-zoo-model 480x320"]
    assert dev.calibrate("iphone11pro", folder).n_points == 31
    assert dev.calibrate("iphone6s", folder).n_points == 31
    before = dev.predict("kunster-t2-04", "iphone11pro", [(480, 320)])[0].fps
    after = dev.predict("kunster-t2-04", "iphone11pro", [(480, 320)], folder)[0].fps
    assert after > before + 1  # pulled toward the phone's 60 FPS
    # leave-one-out holds an imported configuration out together with its Table II rows
    loo = dev.leave_one_out("iphone11pro", folder).set_index(["id", "resolution"])["predicted_fps"]
    assert (loo.loc[4] == dev.leave_one_out("iphone11pro").set_index(["id", "resolution"])["predicted_fps"].loc[4]).all()
    # a result file in the phone harness's format, imported into a store, joins from the command line
    from vst.bench.store import import_results
    store = tmp_path / "phone"
    import_results([Path(__file__).parent / "vectors" / "result-coreml.json"], store)
    assert main(["kunster-t2-04", "--device", "iphone11pro", "--size", "480x320", "--results", str(store)]) == 0
    out, err = capsys.readouterr()
    assert "1 measured iphone11pro row(s)" in err and "31 calibration points" in out


@pytest.mark.parametrize("argv, message", [
    (["kunster-t2-04", "--device", "pixel7"], "unknown device 'pixel7'"),
    (["kunster-t2-04", "--device", "iphone6s", "--size", "480by320"], "not WIDTHxHEIGHT"),
    (["kunster-t2-04", "--device", "iphone6s", "--size", "482x320"], "nearest valid sizes"),
    (["kunster-t2-04"], "--device is required"),
    (["no-such-model", "--device", "iphone6s"], "neither a file nor a zoo model name"),
    (["--loo", "kunster-t2-04"], "give no MODEL"),
])
def test_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_console_entry_exits_2_with_one_line():
    proc = subprocess.run([sys.executable, "-m", "vst.predict.cli", "kunster-t2-04", "--device", "iphone12"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "unknown device" in proc.stderr
