"""vst-train --federated on Flower's simulation engine: disjoint shards, the cloud model after each round is
the mean of the clients' weights (002 Alg. 2 with the mean, not its sum), and a killed run resumes after its last round."""
import numpy as np
import pytest

from vst.models import load_model, read_metadata
from vst.training.federated import shards, train_federated
from vst.training.loop import Recipe


def test_shards_are_disjoint_and_equal():
    parts = shards(10, 3, seed=0)
    assert [len(p) for p in parts] == [3, 3, 3]
    assert len(set(np.concatenate(parts))) == 9


def test_two_clients_two_rounds_average_is_the_mean(tmp_path, monkeypatch):
    """Two rounds on Flower, resumed after a round 1 left behind by a killed run, so that the one slow Ray start
    also covers resuming through Flower (the round offset the clients get, the checkpoint weights as start)."""
    pytest.importorskip("flwr")
    from vst.training import flower
    recipe = Recipe(model="kunster-t2-15", teacher="multistyle26:3", size=32, crops=8, batch=2, steps=2, seed=0)
    out = tmp_path / "fed.safetensors"
    real = flower.run_flower
    monkeypatch.setattr(flower, "run_flower", in_process_flower(kill_after=1))
    with pytest.raises(Killed):
        train_federated(recipe, clients=2, rounds=3, out=out, eval_crops=2, log=lambda s: None)
    monkeypatch.setattr(flower, "run_flower", real)
    hist = train_federated(recipe, clients=2, rounds=3, out=out, eval_crops=2, keep_weights=True,
                           log=lambda s: None)
    assert len(hist.client_weights) == 2 and all(len(c) == 2 for c in hist.client_weights)
    for clients, averaged in zip(hist.client_weights, hist.averaged):
        a, b = clients
        assert any(not np.array_equal(a[k], b[k]) for k in a)      # the two edges trained differently
        for k in averaged:
            if averaged[k].dtype.kind == "f":
                np.testing.assert_allclose(averaged[k], (a[k] + b[k]) / 2, rtol=1e-6, atol=1e-7)
    final = load_model(out).state_dict()
    for k, v in hist.averaged[-1].items():
        np.testing.assert_allclose(final[k].numpy(), v, rtol=0, atol=0)  # the written model is round 3's mean
    meta = read_metadata(out)["extra"]["federated"]
    assert [r["images_per_edge"] for r in meta["history"]] == [0, 4, 8, 12]
    assert all(np.isfinite(r["heldout_loss"]) for r in meta["history"])


class Killed(Exception):
    """Stands in for a kill: raised by the in-process FedAvg after a given round."""


def in_process_flower(kill_after=None, calls=None):
    """run_flower without Flower: the same clients (local_round) and the mean, in this process, so that the
    checkpoint/resume logic above Flower is tested in seconds. `kill_after` stops the run after that round."""
    from vst.training.fedclient import Setup, local_round

    def run(recipe, setup_args, clients, first_round, rounds, initial, history, keep_weights, evaluate, on_round,
            per_round):
        if calls is not None:
            calls.append((first_round, {k: v.copy() for k, v in initial.items()}))
        setup = Setup.get(recipe, *setup_args)
        weights = initial
        for rnd in range(first_round, rounds + 1):
            results = [local_round(recipe, setup, weights, c, rnd, recipe.steps) for c in range(clients)]
            weights = {k: np.mean([w[k] for w, _ in results], axis=0).astype(weights[k].dtype) for k in weights}
            on_round({"round": rnd, "images_per_edge": rnd * per_round,
                      "train_loss": float(np.mean([loss for _, loss in results])),
                      "heldout_loss": evaluate(weights)}, weights)
            if rnd == kill_after:
                raise Killed()
        return weights
    return run


def test_resume_continues_after_the_last_finished_round(tmp_path, monkeypatch):
    from vst.common.errors import VstError
    from vst.training import flower
    from vst.training.federated import state_path
    recipe = Recipe(model="kunster-t2-15", teacher="multistyle26:3", size=32, crops=8, batch=2, steps=2, seed=0)
    quiet = {"eval_crops": 2, "log": lambda s: None}

    whole = tmp_path / "whole.safetensors"  # the uninterrupted run, for comparison
    monkeypatch.setattr(flower, "run_flower", in_process_flower())
    train_federated(recipe, clients=2, rounds=3, out=whole, **quiet)
    assert not state_path(whole).exists()  # the output holds the result; no state is left behind

    out = tmp_path / "fed.safetensors"
    monkeypatch.setattr(flower, "run_flower", in_process_flower(kill_after=1))
    with pytest.raises(Killed):
        train_federated(recipe, clients=2, rounds=3, out=out, **quiet)
    assert not out.exists() and state_path(out).is_file()

    # other settings than the checkpoint's: one line naming the difference, the checkpoint untouched
    with pytest.raises(VstError, match="--clients 2 here 4"):
        train_federated(recipe, clients=4, rounds=3, out=out, **quiet)
    other = Recipe(**{**recipe.__dict__, "lr": recipe.lr * 2})
    with pytest.raises(VstError, match="lr"):
        train_federated(other, clients=2, rounds=3, out=out, **quiet)

    calls = []
    monkeypatch.setattr(flower, "run_flower", in_process_flower(calls=calls))
    train_federated(recipe, clients=2, rounds=3, out=out, **quiet)
    assert [c[0] for c in calls] == [2]  # only rounds 2..3 ran again
    # the rerun ends exactly where the uninterrupted run did: same weights, same history
    a, b = load_model(out).state_dict(), load_model(whole).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k].numpy(), b[k].numpy())
    assert read_metadata(out)["extra"]["federated"]["history"] == read_metadata(whole)["extra"]["federated"]["history"]
    assert not state_path(out).exists()

    calls.clear()
    hist = train_federated(recipe, clients=2, rounds=3, out=out, **quiet)  # done already: nothing runs
    assert calls == [] and [r["round"] for r in hist.rounds] == [0, 1, 2, 3]
    hist = train_federated(recipe, clients=2, rounds=4, out=out, **quiet)  # a larger --rounds extends it
    assert [c[0] for c in calls] == [4] and [r["round"] for r in hist.rounds] == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(calls[0][1][next(iter(a))], a[next(iter(a))].numpy())  # from round 3's weights


def test_damaged_state_starts_over(tmp_path, monkeypatch):
    from vst.training import flower
    from vst.training.federated import state_path
    recipe = Recipe(model="kunster-t2-15", teacher="multistyle26:3", size=32, crops=8, batch=2, steps=1, seed=0)
    out = tmp_path / "fed.safetensors"
    state_path(out).write_bytes(b"not a torch file")
    calls, lines = [], []
    monkeypatch.setattr(flower, "run_flower", in_process_flower(calls=calls))
    train_federated(recipe, clients=1, rounds=1, out=out, eval_crops=2, log=lines.append)
    assert [c[0] for c in calls] == [1] and any("damaged" in s for s in lines)
