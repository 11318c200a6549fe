"""Damaged results stores are detected and repaired, never trusted: cut rows, broken cell files, paths that
lead out of the store, two writers, a disk that fills, truncated videos."""
import csv
import io
import os
from pathlib import Path

import pandas as pd
import pytest

from vst.bench.store import INDEX, load_result, load_results, reconcile, result_path, scan_results, store_lock
from vst.bench.sweep import Protocol, run_host
from vst.video.codec import make_clip
from vst.common.errors import VstError

FAST = Protocol(1, 0.0, None, None, 1, 0.0, 1)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", (64, 32), seconds=0.12, fps=25)


def sweep(out, clip, log=None):
    lines = []
    df = run_host(["kunster-t2-05"], [(32, 32), (16, 16)], out, protocol=FAST, video=clip, progress=False,
                  log=lines.append)
    return df, lines


@pytest.fixture
def store(tmp_path, clip):
    out = tmp_path / "out"
    sweep(out, clip)
    return out


def mtimes(out):
    return {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")}


def test_row_cut_short_by_a_full_disk_is_rewritten_not_glued_to(store, clip, capsys):
    index = store / INDEX
    text = index.read_text()
    index.write_text(text[:-25])  # the last row lost its end and its newline
    assert len(load_results(store)) == 2  # read from the cell files, with a warning
    assert "damaged index row" in capsys.readouterr().err
    before = mtimes(store)
    df, log = sweep(store, clip)
    assert any("repaired the index" in m for m in log)
    assert mtimes(store) == before  # nothing re-measured: the cell files were sound
    rows = pd.read_csv(index)  # parses again, one row per cell, no glued rows
    assert len(rows) == 2 and rows["cell_id"].is_unique and index.read_text().endswith("\n")


def test_short_write_is_an_error_and_the_next_run_repairs(store, clip, monkeypatch):
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, bytes(data[:10])) if len(data) > 10 else 0)
    index = store / INDEX
    first = next(iter(scan_results(store)[0].values()))
    with pytest.raises(VstError, match="free space"):
        from vst.bench.store import _append_row, row_of
        _append_row(store, row_of(first, result_path(store, first["plan"]["cell_id"]).relative_to(store), "measured"))
    monkeypatch.setattr(os, "write", real)
    assert not index.read_text().endswith("\n")
    sweep(store, clip)
    assert len(pd.read_csv(index)) == 2


@pytest.mark.parametrize("damage", ["truncated", "empty object", "other cell"])
def test_damaged_cell_file_is_measured_again(store, clip, capsys, damage):
    files = sorted((store / "results").glob("*.json"))
    bad, other = files[0], files[1]
    bad.write_text({"truncated": bad.read_text()[:200], "empty object": "{}", "other cell": other.read_text()}[damage])
    good, damaged = scan_results(store)
    assert bad.stem in damaged and bad.stem not in good
    df = load_results(store)  # the report's reader leaves it out rather than crashing on it
    assert bad.stem not in set(df["cell_id"]) and "damaged result file" in capsys.readouterr().err
    df, log = sweep(store, clip)
    assert any(f"measuring cell {bad.stem} again" in m for m in log)
    assert bad.stem in scan_results(store)[0] and len(df) == 2
    for _, row in df.iterrows():
        assert load_result(store, row)["plan"]["cell_id"] == row["cell_id"]


def test_paths_in_the_index_never_leave_the_store(store, capsys):
    index = store / INDEX
    rows = pd.read_csv(index, dtype=str)
    rows.loc[0, "result_path"] = "/etc/passwd"
    rows.loc[1, "cell_id"] = "../../../etc/passwd"
    rows.to_csv(index, index=False)
    df = load_results(store)
    assert len(df) == 2 and all(p.startswith("results/") for p in df["result_path"])
    assert "damaged index row" in capsys.readouterr().err
    with pytest.raises(VstError, match="not a vst-bench cell id"):
        load_result(store, {"cell_id": "../../../etc/passwd", "result_path": "/etc/passwd"})
    assert reconcile(store) == 4  # two rows dropped, two rebuilt from the cell files
    assert len(pd.read_csv(index)) == 2


def test_second_writer_is_told_another_run_holds_the_folder(store, clip):
    with store_lock(store):
        with pytest.raises(VstError, match="another vst-bench run is writing"):
            sweep(store, clip)
    sweep(store, clip)  # free again once the first run ends


def test_failed_sweep_creates_no_output_folder(tmp_path, write_video):
    import numpy as np
    one = write_video(tmp_path / "one.avi", [np.zeros((32, 64, 3), np.uint8)])
    out = tmp_path / "never"
    with pytest.raises(VstError, match="1 frame"):
        run_host(["kunster-t2-05"], [(32, 32)], out, protocol=FAST, video=one, progress=False)
    with pytest.raises(VstError):
        run_host(["no-such-model"], [(32, 32)], out, protocol=FAST, video=one, progress=False)
    assert not out.exists()


def test_truncated_video_is_not_measured_as_complete(tmp_path, write_video):
    import numpy as np
    from vst.video.codec import probe
    rng = np.random.default_rng(0)
    full = write_video(tmp_path / "full.avi", [rng.integers(0, 255, (32, 64, 3), np.uint8) for _ in range(20)])
    cut = tmp_path / "cut.avi"
    data = full.read_bytes()
    cut.write_bytes(data[:len(data) // 2])  # an interrupted copy: the header still announces 20 frames
    assert probe(cut).frames == 20
    with pytest.raises(VstError, match="truncated"):
        run_host(["kunster-t2-05"], [(32, 32)], tmp_path / "o", protocol=FAST, video=cut, progress=False)


def test_index_of_another_vst_version_is_rebuilt_from_the_result_files(tmp_path):
    """An index whose columns differ (written before a column was added) is not an error: rows come back from the
    cell JSONs, and the next reconcile rewrites the file with today's columns."""
    from vst.bench.store import COLUMNS, import_results
    store = tmp_path / "s"
    import_results([Path(__file__).parent / "vectors" / "result-litert.json"], store)
    index = store / INDEX
    lines = index.read_text().splitlines()
    old_cols = [c for c in COLUMNS if c != "named_config"]
    rows = [dict(zip(COLUMNS, next(csv.reader([line])))) for line in lines[1:]]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=old_cols, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    index.write_text(buf.getvalue())
    df = load_results(store, log=lambda *_: None)
    assert len(df) == 1 and set(COLUMNS) <= set(df.columns)
    assert reconcile(store) >= 1 and index.read_text().splitlines()[0].split(",") == COLUMNS
