"""002 Fig. 7's question on this CPU: held-out loss of the averaged model against images trained per edge, for
N = 1, 2, 4 edges (vst-train --federated N). Writes fig7.json and fig7.png into --out and prints the held-out
loss of every N at equal images per edge.

    python scripts/federated_fig7.py --out fed-fig7 [--rounds 40 --steps 15 --size 64 --crops 512 --eval-crops 64]

Resumable: each N's run checkpoints after every round and a finished N is skipped, so a rerun of the same
command continues where it stopped (and --clients 1 / 2 / 4 may run in separate invocations).
"""
import argparse
import json
from pathlib import Path

from vst.common.cli import run_cli
from vst.common.fsutil import atomic_write_text
from vst.training.federated import train_federated
from vst.training.loop import Recipe


def loss_table(curves: dict[int, list[dict]]) -> str:
    """Held-out loss per N at each images-per-edge count (the rounds line up: same steps x batch for every N)."""
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


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--clients", default="1,2,4")
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--crops", type=int, default=512)
    p.add_argument("--eval-crops", type=int, default=64, help="held-out crops the loss is measured on")
    p.add_argument("--model", default="kunster-t2-15")
    p.add_argument("--teacher", default="multistyle26:3")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = {}
    for n in (int(c) for c in args.clients.split(",")):
        recipe = Recipe(model=args.model, teacher=args.teacher, size=args.size, crops=args.crops, batch=args.batch,
                        steps=args.steps, seed=0)
        hist = train_federated(recipe, n, args.rounds, out / f"fed{n}.safetensors", eval_crops=args.eval_crops)
        curves[n] = hist.rounds
    print(loss_table(curves))
    print("\n".join(claim_lines(curves)))
    atomic_write_text(out / "fig7.json", json.dumps({"args": vars(args), "curves": curves,
                                                     "claim": claim_lines(curves)}, indent=1))
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
    fig.savefig(out / "fig7.png", dpi=110)
    print(f"wrote {out / 'fig7.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
