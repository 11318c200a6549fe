"""Host sweeps take turns repeat by repeat (round-robin), keep their repeats across an interruption, and record
it in the result; phone sweeps stay cell by cell."""
import json
from datetime import datetime
from types import SimpleNamespace

import pytest

from vst.bench import interleave
from vst.bench.host import HostCell
from vst.bench.store import load_result, load_results
from vst.bench.sweep import Protocol, run_host

PROTO = Protocol(1, 0.0, 3, None, 3, 0.0, 1)  # 3 frames x 3 repeats, no cooldown, 1 thread
SIZES = [(32, 32), (48, 32)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from vst.video.codec import make_clip
    return make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", (64, 48), seconds=0.2, fps=25)


def _starts(result):
    return [datetime.fromisoformat(t) for t in result["interleaving"]["repeat_started_at"]]


def test_cells_take_turns_and_say_so(tmp_path, clip):
    df = run_host(["kunster-t2-05"], SIZES, tmp_path / "o", protocol=PROTO, video=clip, progress=False,
                  log=lambda *_: None)
    assert len(df) == 2 and list(df["interleaved_cells"]) == [2, 2]
    results = [load_result(tmp_path / "o", row) for _, row in df.iterrows()]
    ids = {r["plan"]["cell_id"] for r in results}
    for r in results:
        il = r["interleaving"]
        assert il["mode"] == "round-robin" and il["sessions"] == 1
        assert {c["cell_id"] for c in il["cells"]} == ids
        assert len(il["repeat_started_at"]) == len(il["reference_ms"]) == 3
        assert r["host_reference"]["before_ms"] == il["reference_ms"][0]
    a, b = (_starts(r) for r in results)
    # repeat k of both cells ran before repeat k+1 of either
    for k in range(2):
        assert max(a[k], b[k]) < min(a[k + 1], b[k + 1])
    assert not (tmp_path / "o" / "partial").exists() or not any((tmp_path / "o" / "partial").iterdir())


def test_sequential_runs_each_cell_back_to_back(tmp_path, clip):
    df = run_host(["kunster-t2-05"], SIZES, tmp_path / "o", protocol=PROTO, video=clip, progress=False,
                  log=lambda *_: None, interleave=False)
    assert list(df["interleaved_cells"]) == [1, 1]
    first, second = sorted((load_result(tmp_path / "o", row) for _, row in df.iterrows()),
                           key=lambda r: r["started_at"])
    assert "interleaving" not in first and first["finished_at"] <= second["started_at"]


def test_interrupted_interleaved_sweep_keeps_its_repeats(tmp_path, clip, monkeypatch):
    out, said = tmp_path / "o", []
    real = HostCell.repeat
    calls = []

    def dies_at_the_fourth(self, index):
        calls.append((self.plan["cell_id"], index))
        if len(calls) == 4:
            raise KeyboardInterrupt  # Ctrl-C in round 1
        return real(self, index)

    monkeypatch.setattr(HostCell, "repeat", dies_at_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        run_host(["kunster-t2-05"], SIZES, out, protocol=PROTO, video=clip, progress=False, log=said.append)
    partial = {p.stem: json.loads(p.read_text()) for p in (out / "partial").glob("*.json")}
    assert sorted(len(d["repeats"]) for d in partial.values()) == [1, 2]  # 3 repeats done, none lost
    assert not list(out.glob("results/*.json"))  # no cell had all its repeats yet

    calls.clear()
    monkeypatch.setattr(HostCell, "repeat", lambda self, index: (calls.append(index), real(self, index))[1])
    df = run_host(["kunster-t2-05"], SIZES, out, protocol=PROTO, video=clip, progress=False, log=said.append)
    assert sorted(calls) == [1, 2, 2]  # only the missing repeats were measured
    assert any("3 repeat(s) of 2 unfinished cell(s) kept" in s for s in said)
    assert len(df) == 2 and not list((out / "partial").glob("*.json"))
    for _, row in df.iterrows():
        r = load_result(out, row)
        kept = partial[r["plan"]["cell_id"]]
        assert r["repeats"][:len(kept["repeats"])] == kept["repeats"]  # the kept samples, not new ones
        assert r["interleaving"]["sessions"] == 2 and r["started_at"] == kept["started_at"]
        assert r["interleaving"]["repeat_started_at"][:len(kept["repeats"])] == \
            kept["interleaving"]["repeat_started_at"]


def test_damaged_partial_file_starts_the_cell_over(tmp_path, clip):
    out = tmp_path / "o"
    run_host(["kunster-t2-05"], SIZES[:1], out, protocol=PROTO, video=clip, progress=False, log=lambda *_: None)
    (cell,) = load_results(out)["cell_id"]
    plan = load_result(out, {"cell_id": cell})["plan"]
    path = interleave.partial_path(out, cell)
    path.parent.mkdir(exist_ok=True)
    said = []
    for junk in ("{", "{}", json.dumps({**load_result(out, {"cell_id": cell}), "repeats": []})):
        path.write_text(junk)
        assert interleave.load_partial(out, plan, said.append) is None
    assert len(said) == 3 and all("from its first repeat" in s for s in said)


def test_phone_sweeps_stay_cell_by_cell(tmp_path, monkeypatch):
    """A phone app runs a whole plan per launch: the sweep hands the driver one cell at a time, all repeats."""
    from test_bench_schema import plan, result_for
    from vst.bench import sweep
    from vst.bench.devices import Device

    class Recorder:
        launched = []

        def prepare(self):
            pass

        def run_cell(self, p, artifact_path, clip, work):
            self.launched.append(p["cell_id"])
            return result_for(p, frames=(4,) * p["repeats"])

    monkeypatch.setattr(sweep, "_driver", lambda dev: Recorder())
    art = SimpleNamespace(label="k.tflite", path=tmp_path / "k.tflite")
    cells = [(plan(repeats=3), art), (plan(repeats=3, delegate="xnnpack"), art)]
    sweep._measure([Device("pixel7", "android", "Tensor G2", serial="X")], cells, tmp_path / "c.mp4",
                   tmp_path / "o", False, lambda *_: None)
    assert Recorder.launched == [p["cell_id"] for p, _ in cells]
    df = load_results(tmp_path / "o")
    assert list(df["interleaved_cells"]) == [1, 1] and list(df["repeats"]) == [3, 3]


def test_one_cell_left_still_uses_its_kept_repeats(tmp_path, clip, monkeypatch):
    """Resumed with a shorter command (one of the cells): its kept repeats are not thrown away."""
    out, real, calls = tmp_path / "o", HostCell.repeat, []

    def dies_at_the_third(self, index):
        calls.append((self.plan["input"]["width"], index))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, index)

    monkeypatch.setattr(HostCell, "repeat", dies_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        run_host(["kunster-t2-05"], SIZES, out, protocol=PROTO, video=clip, progress=False, log=lambda *_: None)
    calls.clear()
    monkeypatch.setattr(HostCell, "repeat", lambda self, index: (calls.append(index), real(self, index))[1])
    df = run_host(["kunster-t2-05"], SIZES[:1], out, protocol=PROTO, video=clip, progress=False,
                  log=lambda *_: None)
    assert calls == [1, 2] and list(df["resolution"]) == ["32x32"]
    assert load_result(out, df.iloc[0])["interleaving"]["sessions"] == 2
