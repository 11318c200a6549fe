"""Edge-cloud federated training (002 section 3.4, Alg. 2) on Flower's simulation engine.

N edge clients each hold a disjoint, equal-sized shard of the stage-1 training crops. Every round the cloud
sends its weights to all clients, each trains `--steps` steps of the ordinary vst-train step (training.loop.
train_step, same loss, same batch size) on its shard from those weights with a fresh Adam, and the cloud
replaces its weights by the MEAN of the clients' (Flower's FedAvg, weighted by shard size, which is equal here).
002's Alg. 2 line 11 and its text write the cloud update as the SUM of the edge weights; that is a typo: summing
N copies of similar weights multiplies them by about N and would blow the network up, and FedAvg (the scheme
they cite) averages.

After each round the cloud model's loss on crops of held-out photos (not in any shard) is measured, so the
history answers 002 Fig. 7's question: loss against images trained per edge, for N = 1, 2, 4.
"""
from __future__ import annotations

import json
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vst.common.errors import InternalError, VstError, first_line
from vst.common.fsutil import atomic_path
from vst.models import create_model, load_model, read_metadata, save_model
from vst.training.fedclient import Setup, arrays_of, held_out_loss, shards
from vst.training.loop import Recipe, _check_settings, _initial_model, diverged, tensors_problem

@dataclass
class FedHistory:
    """Per round: images each edge has trained on so far, the clients' mean training loss and the cloud model's
    held-out loss; `clients` and `averaged` keep the weights of the last round when asked (for checking FedAvg)."""
    clients: int
    rounds: list[dict] = field(default_factory=list)
    client_weights: list[list[dict[str, np.ndarray]]] = field(default_factory=list)
    averaged: list[dict[str, np.ndarray]] = field(default_factory=list)


def state_path(out: Path) -> Path:
    """The resumable state of a federated run, beside its output (removed once the output is written)."""
    return out.with_name(out.name + ".fedstate.pt")


def _run_key(recipe: Recipe, clients: int, eval_crops: int) -> dict:
    # --rounds is not part of it: rounds 1..k come out the same whatever the total, so a larger --rounds extends
    return {"recipe": recipe.to_json(), "clients": clients, "eval_crops": eval_crops}


def _load_fed_state(path: Path, log) -> dict | None:
    """The saved state, or None (start over) when there is none or it is damaged: a broken file must not stop
    every rerun."""
    if not path.is_file():
        return None
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        why = _state_problem(state)
        if why is None:
            return state
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
        why = first_line(exc, 120)
    _damaged(path, why, log)
    return None


def _damaged(path: Path, why: str, log) -> None:
    log(f"warning: {path} is damaged ({why}); starting from round 0")


def _state_problem(state) -> str | None:
    """Why a loaded state is not one this module wrote, or None; its weights are checked against the model
    later (loop.tensors_problem). torch loads any dict of tensors and strings, so every field is checked before use:
    a malformed one was a traceback on every rerun, or Ray's errors from the clients."""
    if not isinstance(state, dict) or not {"key", "rounds_done", "weights", "history"} <= set(state):
        return "missing entries"
    try:
        key, history = json.loads(state["key"]), json.loads(state["history"])
    except (TypeError, ValueError, RecursionError):
        return "its settings or history are not JSON"
    done = state["rounds_done"]
    if not isinstance(key, dict) or not {"recipe", "clients", "eval_crops"} <= set(key) \
            or not isinstance(key["recipe"], dict):
        return "its settings are malformed"
    if not isinstance(done, int) or isinstance(done, bool) or done < 1:
        return "its round count is malformed"
    if not (isinstance(history, list) and len(history) == done + 1
            and all(isinstance(r, dict) and isinstance(r.get("heldout_loss"), (int, float)) for r in history)):
        return "its history does not match its round count"
    if not isinstance(state["weights"], dict):
        return "its weights are not a dict of tensors"
    return None


def _finished_run(out: Path, key: dict) -> dict | None:
    """`out` as a resumable state when it is the result of a federated run with these settings, else None."""
    if not out.is_file():
        return None
    try:
        meta = read_metadata(out)["extra"]
    except VstError:
        return None
    fed = meta.get("federated", {})
    if not isinstance(fed, dict) or {"recipe": meta.get("recipe"), "clients": fed.get("clients"),
                                     "eval_crops": fed.get("eval_crops")} != key:
        return None
    try:
        state = {"key": json.dumps(key), "rounds_done": fed.get("rounds"), "history": json.dumps(fed.get("history")),
                 "weights": load_model(out).state_dict()}
    except VstError:
        return None  # not whole: trained again from the state beside it, or from round 0
    return state if _state_problem(state) is None else None


def _differences(saved: dict, key: dict) -> str:
    diff = [f"--{k.replace('_', '-')} {saved[k]} here {key[k]}" for k in ("clients", "eval_crops")
            if saved.get(k) != key[k]]
    a, b = saved.get("recipe", {}), key["recipe"]
    diff += [f"{k} {a.get(k)!r} here {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return ", ".join(diff[:4]) + (", ..." if len(diff) > 4 else "")


def train_federated(recipe: Recipe, clients: int, rounds: int, out: str | Path, eval_crops: int = 16,
                    threads: int = 1, keep_weights: bool = False,
                    log: Callable[[str], None] = lambda s: print(s, flush=True)) -> FedHistory:
    """Run `rounds` FedAvg rounds over `clients` simulated edges (recipe.steps local steps each per round) on
    Flower's simulation engine; write the cloud model to `out` with the history in its metadata.

    After every round the cloud weights and the history are saved atomically beside `out` (state_path); the
    same call again continues after the last finished round, and refuses if its settings differ."""
    out = Path(out)
    _check_settings(recipe, out, threads, 1)
    if recipe.stage != 1:
        raise VstError("--federated trains stage 1 (per-image distillation); run stage 2 on its result")
    if not recipe.teacher:
        raise VstError("--federated distills a teacher: add --teacher multistyle26:N")
    if rounds < 1 or eval_crops < 1:
        raise VstError(f"--rounds and --eval-crops must be at least 1, got {rounds} and {eval_crops}")
    shards(recipe.crops, clients, recipe.seed)  # bad --federated / --crops fail here, before any data is built
    key = _run_key(recipe, clients, eval_crops)
    history = FedHistory(clients)
    torch.set_num_threads(threads)
    spath = state_path(out)
    state = _load_fed_state(spath, log)
    finished = _finished_run(out, key)
    if finished is not None and finished["rounds_done"] == rounds:
        log(f"{out} already holds this federated run's result; nothing to do")
        history.rounds = json.loads(finished["history"])
        return history
    if state is None and finished is not None and finished["rounds_done"] < rounds:
        state = finished  # a larger --rounds extends the finished run
    if state is not None:
        saved = json.loads(state["key"])
        if saved != key:
            raise VstError(f"{spath} holds a federated run with other settings ({_differences(saved, key)}); "
                           "rerun with those or delete that file to start over")
        if state["rounds_done"] > rounds:
            raise VstError(f"{spath} already has {state['rounds_done']} rounds; --rounds {rounds} is fewer: "
                           f"pass --rounds {state['rounds_done']} or more, or delete that file")
    setup = Setup.get(recipe, clients, eval_crops)
    with torch.random.fork_rng():
        torch.manual_seed(recipe.seed)
        model = _initial_model(recipe)
    if state is not None:
        why = tensors_problem(state["weights"], model.state_dict())
        if why:
            _damaged(spath, why, log)
            state = None
    per_round = recipe.steps * recipe.batch
    if state is None:
        done, weights = 0, arrays_of(model)
        history.rounds.append({"round": 0, "images_per_edge": 0, "train_loss": None,
                               "heldout_loss": held_out_loss(setup, model)})
    else:
        done = int(state["rounds_done"])
        weights = {k: v.numpy() for k, v in state["weights"].items()}
        history.rounds = json.loads(state["history"])
        log(f"resuming after round {done} from {spath}")
    log(f"federated: {clients} clients x {len(setup.shards[0])} crops, rounds {done + 1}..{rounds} of "
        f"{recipe.steps} steps (batch {recipe.batch}), held-out loss on {eval_crops} crops; round {done} loss "
        f"{history.rounds[-1]['heldout_loss']:.5f}")
    t0 = time.time()

    def finished_round(row: dict, arrays: dict[str, np.ndarray]) -> None:
        for name in ("train_loss", "heldout_loss"):
            if not np.isfinite(row[name]):
                raise diverged(recipe, f"in round {row['round']}", f"the {name.replace('_', ' ')} ({row[name]})")
        bad = [k for k, v in arrays.items() if np.asarray(v).dtype.kind == "f" and not np.isfinite(v).all()]
        if bad:
            raise diverged(recipe, f"in round {row['round']}", f"the averaged weight {bad[0]!r}")
        history.rounds.append(row)
        with atomic_path(spath, suffix=".pt.tmp") as tmp:
            torch.save({"key": json.dumps(key), "rounds_done": row["round"], "history": json.dumps(history.rounds),
                        "weights": {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}}, str(tmp))
        log(f"round {row['round']}/{rounds}: images per edge {row['images_per_edge']}, client train loss "
            f"{row['train_loss']:.5f}, held-out loss {row['heldout_loss']:.5f} ({time.time() - t0:.0f}s)")

    if done < rounds:
        from vst.training import flower
        weights = flower.run_flower(recipe, setup_args=(clients, eval_crops), clients=clients, first_round=done + 1,
                                    rounds=rounds, initial=weights, history=history, keep_weights=keep_weights,
                                    evaluate=lambda arrays: _evaluate(setup, recipe, arrays),
                                    on_round=finished_round, per_round=per_round)
    if len(history.rounds) != rounds + 1:
        raise InternalError(f"federated history has {len(history.rounds)} rows after {rounds} rounds")
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
    model.eval()
    save_model(model, out, metadata={"recipe": recipe.to_json(), "stage": 1, "teacher": recipe.teacher,
                                     "federated": {"clients": clients, "rounds": rounds, "eval_crops": eval_crops,
                                                   "steps_per_round": recipe.steps, "history": history.rounds}})
    spath.unlink(missing_ok=True)  # the output holds the result now; a rerun sees it and skips
    log(f"wrote {out}")
    return history


def _evaluate(setup: Setup, recipe: Recipe, arrays: dict[str, np.ndarray]) -> float:
    model = create_model(recipe.model, **recipe.config)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()})
    return held_out_loss(setup, model)
