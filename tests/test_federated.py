"""vst-train --federated on Flower's simulation engine: disjoint shards, and the cloud model after each round is
the mean of the clients' weights (002 Alg. 2 with the mean, not its sum)."""
import numpy as np
import pytest

from vst.models import load_model, read_metadata
from vst.training.federated import shards, train_federated
from vst.training.loop import Recipe

pytest.importorskip("flwr")


def test_shards_are_disjoint_and_equal():
    parts = shards(10, 3, seed=0)
    assert [len(p) for p in parts] == [3, 3, 3]
    assert len(set(np.concatenate(parts))) == 9


def test_two_clients_two_rounds_average_is_the_mean(tmp_path):
    recipe = Recipe(model="kunster-t2-15", teacher="multistyle26:3", size=32, crops=8, batch=2, steps=2, seed=0)
    out = tmp_path / "fed.safetensors"
    hist = train_federated(recipe, clients=2, rounds=2, out=out, eval_crops=2, keep_weights=True,
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
        np.testing.assert_allclose(final[k].numpy(), v, rtol=0, atol=0)  # the written model is round 2's mean
    meta = read_metadata(out)["extra"]["federated"]
    assert [r["images_per_edge"] for r in meta["history"]] == [0, 4, 8]
    assert all(np.isfinite(r["heldout_loss"]) for r in meta["history"])
