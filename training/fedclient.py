"""The edge side of vst-train --federated: each client's shard of the crops, what every client and the cloud's
evaluation share (Setup), and one client's local round. Flower's ClientApp (flower.py) and the in-process rounds
(federated.py) both run it."""
from __future__ import annotations

import json

import numpy as np
import torch

from vst.common.errors import VstError
from vst.models import create_model
from vst.runtimes.stylizer import load_runner
from vst.training.data import photo_crops
from vst.training.loop import Objective, Recipe, _teacher_outputs, build_dataset, train_step
from vst.video.clips import cached_arrays, held_out_photos

MAX_CLIENTS = 64


def shards(n_items: int, clients: int, seed: int) -> list[np.ndarray]:
    """Disjoint, equal-sized index sets (a remainder of n_items % clients is left out so the mean is FedAvg's)."""
    if clients < 1 or clients > MAX_CLIENTS:
        raise VstError(f"--federated takes 1 to {MAX_CLIENTS} clients, got {clients}")
    if n_items < clients:
        raise VstError(f"{n_items} training crops cannot be split over {clients} clients; raise --crops")
    perm = np.random.default_rng(seed).permutation(n_items)
    per = n_items // clients
    return [np.sort(perm[k * per:(k + 1) * per]) for k in range(clients)]


class Setup:
    """What every client and the cloud evaluation share: data, objective, held-out set. Built once per process
    (Flower's simulation may run clients in worker processes; data come from the on-disk cache there)."""
    _cache: dict[str, "Setup"] = {}

    def __init__(self, recipe: Recipe, clients: int, eval_crops: int):
        self.recipe = recipe
        teacher = load_runner(recipe.teacher)
        self.objective = Objective(recipe, teacher)
        self.data = build_dataset(recipe, teacher)
        self.n_items = len(self.data["x"])
        self.shards = shards(self.n_items, clients, recipe.seed)
        key = {"kind": "heldout-crops", "size": recipe.size, "count": eval_crops, "seed": recipe.seed,
               "teacher": teacher.identity}
        self.held = cached_arrays("fed-eval", key, lambda: _held_out(recipe, teacher, eval_crops))

    @classmethod
    def get(cls, recipe: Recipe, clients: int, eval_crops: int) -> "Setup":
        key = json.dumps([recipe.to_json(), clients, eval_crops], sort_keys=True)
        if key not in cls._cache:
            cls._cache[key] = cls(recipe, clients, eval_crops)
        return cls._cache[key]


def _held_out(recipe: Recipe, teacher, count: int) -> dict[str, np.ndarray]:
    x = photo_crops(list(held_out_photos().values()), recipe.size, count, recipe.seed + 1)
    return {"x": x, "target": _teacher_outputs(teacher, x)}


def held_out_loss(setup: Setup, model) -> float:
    model.eval()
    x = torch.from_numpy(setup.held["x"]).permute(0, 3, 1, 2).float() / 255
    target = torch.from_numpy(setup.held["target"].astype(np.float32))
    with torch.no_grad():
        loss, _ = setup.objective(model(x), x, target)
    return float(loss)


def arrays_of(model) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def local_round(recipe: Recipe, setup: Setup, weights: dict[str, np.ndarray], client: int, server_round: int,
                steps: int) -> tuple[dict[str, np.ndarray], float]:
    """One edge's work in one round: `steps` vst-train steps on its shard, starting from the cloud's weights."""
    torch.manual_seed(recipe.seed)
    model = create_model(recipe.model, **recipe.config)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    gen = torch.Generator().manual_seed(recipe.seed * 1_000_003 + server_round * 1009 + client)
    losses = []
    for _ in range(steps):
        loss, _ = train_step(recipe, model, setup.objective, setup.data, opt, gen, setup.n_items,
                             pool=setup.shards[client])
        losses.append(loss.item())
    return arrays_of(model), float(np.mean(losses))
