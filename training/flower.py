"""The Flower side of vst-train --federated: a ClientApp that runs vst's local training, a ServerApp that runs
Flower's FedAvg, both driven by Flower's simulation engine (virtual SuperNodes on this machine, Ray workers).

Kept apart from federated.py so that Flower (and Ray) are imported only when a federated run starts.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from vst.common.errors import VstError


def _records(arrays: dict[str, np.ndarray]):
    from flwr.app import ArrayRecord
    return ArrayRecord({k: _array(v) for k, v in arrays.items()})


def _array(v: np.ndarray):
    from flwr.app import Array
    return Array(np.ascontiguousarray(v))


def _dict(record) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in record.items()}


def run_flower(recipe, setup_args, clients: int, first_round: int, rounds: int, initial: dict[str, np.ndarray],
               history, keep_weights: bool, evaluate: Callable, on_round: Callable,
               per_round: int) -> dict[str, np.ndarray]:
    """Rounds first_round..rounds from the cloud weights `initial`; evaluate(arrays) -> held-out loss and
    on_round(row, arrays) are called in this process after each round. Returns the last round's weights."""
    try:
        from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
        from flwr.clientapp import ClientApp
        from flwr.serverapp import Grid, ServerApp
        from flwr.serverapp.strategy import FedAvg
        from flwr.simulation import run_simulation
    except ImportError as exc:
        raise VstError(f"federated training needs Flower with its simulation engine ({exc}); "
                       "install it: pip install 'flwr[simulation]'") from None

    steps = recipe.steps
    # Flower numbers the rounds of this run from 1; the clients add the offset so that a resumed run draws the
    # same batches in round k as an uninterrupted one
    offset = first_round - 1
    recipe_json = recipe.to_json()

    client_app = ClientApp()

    @client_app.train()
    def train(msg: Message, context: Context) -> Message:
        # runs in a Flower worker: rebuilds the shared setup from the on-disk cache once per process
        from vst.training.fedclient import Setup, local_round
        from vst.training.loop import Recipe
        r = Recipe.from_json(recipe_json)
        setup = Setup.get(r, *setup_args)
        client = int(context.node_config["partition-id"])
        config = msg.content["config"]
        weights, loss = local_round(r, setup, _dict(msg.content["arrays"]), client,
                                    int(config["server-round"]) + int(config["round-offset"]), steps)
        metrics = MetricRecord({"train_loss": loss, "num-examples": len(setup.shards[client]),
                                "client": client})
        return Message(RecordDict({"arrays": _records(weights), "metrics": metrics}), reply_to=msg)

    class RecordingFedAvg(FedAvg):
        """Flower's FedAvg, keeping what each round received and produced for the history (and the tests)."""

        def aggregate_train(self, server_round, replies):
            replies = list(replies)
            for m in replies:
                if m.has_error():
                    raise VstError(f"a federated client failed in round {server_round}: {m.error.reason}")
            arrays, metrics = super().aggregate_train(server_round, replies)
            if keep_weights:
                order = sorted(replies, key=lambda m: int(m.content["metrics"]["client"]))
                history.client_weights.append([_dict(m.content["arrays"]) for m in order])
                history.averaged.append(_dict(arrays))
            self.last_train_loss = float(metrics["train_loss"]) if metrics else float("nan")
            return arrays, metrics

    strategy = RecordingFedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=clients,
                               min_available_nodes=clients)
    final: dict = {}
    failed: list[VstError] = []

    def central_eval(server_round: int, arrays: ArrayRecord):
        if server_round == 0:
            return None  # the caller measured the initial model already
        weights = _dict(arrays)
        loss = evaluate(weights)
        row = {"round": server_round + offset, "images_per_edge": (server_round + offset) * per_round,
               "train_loss": strategy.last_train_loss, "heldout_loss": loss}
        try:
            on_round(row, weights)
        except VstError as exc:  # raised again below, after Flower has stopped: its own report would bury it
            failed.append(exc)
            raise
        return MetricRecord({"heldout_loss": loss})

    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        result = strategy.start(grid=grid, initial_arrays=_records(initial), num_rounds=rounds - offset,
                                train_config=ConfigRecord({"round-offset": offset}), evaluate_fn=central_eval)
        final.update(_dict(result.arrays))

    # one CPU per client actor: a 2-core machine still runs N clients, in turns
    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=clients,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                   "init_args": {"num_cpus": 1, "logging_level": "error",
                                                 "log_to_driver": False}})
    if failed:
        raise failed[0]
    if not history.rounds or history.rounds[-1]["round"] != rounds or not final:
        raise VstError("Flower's simulation ended before all rounds finished; run with -v to see its log")
    return final
