"""002 Fig. 7's question as a study: held-out loss of the averaged model against images trained per edge, for
several edge counts N (train_federated once per N), with the loss table and 002's claim in its own terms.

    from vst.training.fedstudy import fig7_study
    study = fig7_study(Recipe(model="kunster-t2-15", teacher="multistyle26:3", size=64, crops=512, batch=4,
                              steps=15, seed=0), clients=(1, 2, 4), rounds=40, out="fed-fig7", eval_crops=64)

Resumable as train_federated is: each N checkpoints after every round and a finished N is skipped.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

from vst.common.errors import VstError
from vst.common.fsutil import atomic_path, atomic_write_text
from vst.training.federated import train_federated
from vst.training.loop import Recipe


def loss_table(curves: dict[int, list[dict]]) -> str:
    """Held-out loss per N at each images-per-edge count, as a Markdown table (the rounds line up: same steps x
    batch for every N)."""
    ns = sorted(curves)
    lines = ["| images per edge | " + " | ".join(f"N = {n}" for n in ns) + " |", "|---" * (len(ns) + 1) + "|"]
    for i, row in enumerate(curves[ns[0]]):
        cells = [f"{curves[n][i]['heldout_loss']:.4f}" if i < len(curves[n]) else "" for n in ns]
        lines.append(f"| {row['images_per_edge']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def images_to_reach(rows: list[dict], loss: float) -> float | None:
    """Images per edge at which a curve first gets down to `loss` (linear between rounds); None if it never does."""
    for a, b in zip(rows, rows[1:]):
        if b["heldout_loss"] <= loss:
            if a["heldout_loss"] <= loss:
                return float(a["images_per_edge"])
            f = (a["heldout_loss"] - loss) / (a["heldout_loss"] - b["heldout_loss"])
            return a["images_per_edge"] + f * (b["images_per_edge"] - a["images_per_edge"])
    return None


def claim_lines(curves: dict[int, list[dict]]) -> list[str]:
    """002's claim in its own terms: images per edge the smallest N needs for the loss a larger N has at the end."""
    base = min(curves)
    out = []
    for n in sorted(curves):
        if n == base:
            continue
        last = curves[n][-1]
        need = images_to_reach(curves[base], last["heldout_loss"])
        out.append(f"N = {n} reaches {last['heldout_loss']:.4f} after {last['images_per_edge']} images per edge; "
                   f"N = {base} " + (f"needs {need:.0f}" if need is not None else
                                     f"does not get there within {curves[base][-1]['images_per_edge']}"))
    return out


def plot_curves(curves: dict[int, list[dict]], path: str | Path) -> None:
    """fig7.png: log held-out loss against images trained per edge, one line per N."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for n, rows in curves.items():
        ax.plot([r["images_per_edge"] for r in rows], [r["heldout_loss"] for r in rows], "o-", label=f"N = {n}")
    ax.set_xlabel("images trained per edge")
    ax.set_yscale("log")  # the curves differ by percent after the first rounds
    ax.set_ylabel("held-out distillation loss")
    ax.set_title("002 Fig. 7 question, tiny CPU run")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def fig7_study(recipe: Recipe, clients: Sequence[int], rounds: int, out: str | Path, eval_crops: int = 64,
               settings: dict | None = None, log: Callable[[str], None] = lambda s: print(s, flush=True)) -> dict:
    """Run train_federated for each N in `clients` (output out/fed<N>.safetensors), then write out/fig7.json
    (settings, curves, claim) and out/fig7.png. Returns {"curves": {N: rounds}, "table": str, "claim": [str]}.
    `settings`: what to record as the run's arguments in fig7.json (the caller's flags); `log` gets the runs'
    progress lines."""
    ns = list(dict.fromkeys(int(n) for n in clients))
    if not ns or min(ns) < 1:
        raise VstError(f"--clients needs edge counts of at least 1, got {','.join(map(str, clients)) or 'none'}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    curves = {n: train_federated(recipe, n, rounds, out / f"fed{n}.safetensors", eval_crops=eval_crops,
                                 log=log).rounds
              for n in ns}
    claim = claim_lines(curves)
    atomic_write_text(out / "fig7.json", json.dumps({"args": settings or {}, "curves": curves, "claim": claim},
                                                    indent=1))
    plot_curves(curves, out / "fig7.png")
    return {"curves": curves, "table": loss_table(curves), "claim": claim}
