"""Hostile and careless inputs to training's resumes: truncated study weights, malformed resume states that
torch loads without complaint, a learning rate that diverges. Finished results count only when they are whole,
a damaged state restarts the run saying so in one line, and no checkpoint with non-finite weights is written."""
import json

import pytest
import torch

from test_federated import in_process_flower
from vst.common.errors import VstError
from vst.models import load_model
from vst.training.loop import Recipe, train


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VST_CACHE", str(tmp_path / "cache"))


def _recipe(**kw):
    base = dict(model="kunster-t2-15", teacher="multistyle26:3", size=32, crops=8, batch=2, steps=2, seed=0)
    return Recipe(**{**base, **kw})


# --- vst-train --study: what counts as done --------------------------------------------------------------------

STUDY = ["--study", "table2", "--teacher", "multistyle26:5", "--configs", "15", "--size", "32", "--steps", "2",
         "--crops", "8", "--eval-size", "32", "--eval-frames", "2"]


def test_study_rerun_redoes_a_configuration_whose_weights_were_truncated(tmp_path, capsys):
    from vst.training import cli
    from vst.training.study import load_study
    out = tmp_path / "study"
    assert cli.main([*STUDY, "--out", str(out)]) == 0
    weights = out / "kunster-t2-15.safetensors"
    whole = weights.read_bytes()
    weights.write_bytes(whole[:len(whole) // 2])  # the header survives: only the tensors are cut
    capsys.readouterr()
    assert cli.main([*STUDY, "--out", str(out)]) == 0
    log = capsys.readouterr().out
    assert "done before" not in log and "kunster-t2-15.safetensors" in log and "changed" in log
    load_model(weights)  # whole again
    assert [r["config"] for r in load_study(out)["configs"]] == ["kunster-t2-15"]
    capsys.readouterr()
    assert cli.main([*STUDY, "--out", str(out)]) == 0  # and now it is done
    assert "kunster-t2-15: done before, kept" in capsys.readouterr().out


def test_train_does_not_take_a_truncated_output_for_its_result(tmp_path):
    out = tmp_path / "m.safetensors"
    recipe = _recipe(model="kunster", config={"alpha": 0.25, "beta": 0.5})
    train(recipe, out, log=lambda s: None)
    whole = out.read_bytes()
    out.write_bytes(whole[:len(whole) - 100])
    lines = []
    train(recipe, out, log=lines.append)
    assert any("training again" in s for s in lines) and not any("nothing to do" in s for s in lines)
    load_model(out)


# --- resume states that load but are malformed -----------------------------------------------------------------

def _fed_key(recipe, clients=1, eval_crops=2):
    from vst.training.federated import _run_key
    return json.dumps(_run_key(recipe, clients, eval_crops))


@pytest.mark.parametrize("make", [
    lambda key: {"key": 5, "rounds_done": "x", "weights": [], "history": None},
    lambda key: {"key": "[[[", "rounds_done": 1, "weights": {}, "history": "[]"},
    lambda key: {"key": key, "rounds_done": True, "weights": {}, "history": "[]"},
    lambda key: {"key": key, "rounds_done": 1, "history": json.dumps([{"round": 0}, {"round": 1}]), "weights": {}},
    lambda key: {"key": key, "rounds_done": 1, "weights": {"not.a.layer": torch.zeros(3)},
                 "history": json.dumps([{"round": 0, "heldout_loss": 0.5}, {"round": 1, "heldout_loss": 0.4}])},
    lambda key: {"key": key, "rounds_done": 1, "history": "{}", "weights": {}},
    lambda key: ["a", "list"],
])
def test_a_malformed_federated_state_restarts_the_run_in_one_line(tmp_path, monkeypatch, make):
    from vst.training import flower
    from vst.training.federated import state_path, train_federated
    recipe = _recipe(steps=1)
    out = tmp_path / "fed.safetensors"
    torch.save(make(_fed_key(recipe)), str(state_path(out)))
    calls, lines = [], []
    monkeypatch.setattr(flower, "run_flower", in_process_flower(calls=calls))
    train_federated(recipe, clients=1, rounds=1, out=out, eval_crops=2, log=lines.append)
    assert [c[0] for c in calls] == [1]  # from round 1 again
    damaged = [s for s in lines if "damaged" in s]
    assert len(damaged) == 1 and "starting from round 0" in damaged[0] and "\n" not in damaged[0]
    load_model(out)


def test_a_malformed_training_state_restarts_the_run(tmp_path):
    recipe = _recipe(model="kunster", config={"alpha": 0.25, "beta": 0.5}, steps=3)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    torch.save({"recipe": json.dumps(recipe.to_json()), "model": {"x": torch.zeros(1)}, "opt": {"a": 1},
                "rng": torch.zeros(3), "step": 2, "history": "xy"}, str(run_dir / "state.pt"))
    lines = []
    train(recipe, tmp_path / "m.safetensors", run_dir=run_dir, log=lines.append)
    damaged = [s for s in lines if "damaged" in s]
    assert len(damaged) == 1 and "training from step 0" in damaged[0]
    load_model(tmp_path / "m.safetensors")


# --- divergence: no checkpoint of non-finite weights ---------------------------------------------------------------

def test_a_diverging_run_stops_in_one_line_and_writes_no_checkpoint(tmp_path):
    recipe = _recipe(model="kunster", config={"alpha": 0.25, "beta": 0.5}, lr=1e308, steps=6)
    out, run_dir = tmp_path / "m.safetensors", tmp_path / "run"
    with pytest.raises(VstError, match="not finite") as err:
        train(recipe, out, run_dir=run_dir, checkpoint_every=1, log=lambda s: None)
    assert "\n" not in str(err.value) and "--lr" in str(err.value)
    assert not out.exists()
    if (run_dir / "state.pt").exists():  # a checkpoint kept for resuming holds finite weights only
        state = torch.load(str(run_dir / "state.pt"), weights_only=True)
        assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_a_diverging_federated_run_stops_in_one_line_and_writes_no_state(tmp_path, monkeypatch):
    from vst.training import flower
    from vst.training.federated import state_path, train_federated
    monkeypatch.setattr(flower, "run_flower", in_process_flower())
    out = tmp_path / "fed.safetensors"
    with pytest.raises(VstError, match="not finite") as err:
        train_federated(_recipe(lr=1e308, steps=3), clients=1, rounds=3, out=out, eval_crops=2,
                        log=lambda s: None)
    assert "\n" not in str(err.value)
    assert not out.exists()
    if state_path(out).exists():
        state = torch.load(str(state_path(out)), weights_only=True)
        assert all(torch.isfinite(v).all() for v in state["weights"].values() if v.is_floating_point())
