"""002 Fig. 7's question on this CPU: held-out loss of the averaged model against images trained per edge, for
N = 1, 2, 4 edges (vst-train --federated N). Writes fig7.json and fig7.png into --out and prints the held-out
loss of every N at equal images per edge.

    python scripts/federated_fig7.py --out fed-fig7 [--rounds 8 --steps 15 --size 64 --crops 128]

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


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--clients", default="1,2,4")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--crops", type=int, default=128)
    p.add_argument("--model", default="kunster-t2-15")
    p.add_argument("--teacher", default="multistyle26:3")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = {}
    for n in (int(c) for c in args.clients.split(",")):
        recipe = Recipe(model=args.model, teacher=args.teacher, size=args.size, crops=args.crops, batch=args.batch,
                        steps=args.steps, seed=0)
        hist = train_federated(recipe, n, args.rounds, out / f"fed{n}.safetensors")
        curves[n] = hist.rounds
    print(loss_table(curves))
    atomic_write_text(out / "fig7.json", json.dumps({"args": vars(args), "curves": curves}, indent=1))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for n, rows in curves.items():
        ax.plot([r["images_per_edge"] for r in rows], [r["heldout_loss"] for r in rows], "o-", label=f"N = {n}")
    ax.set_xlabel("images trained per edge")
    ax.set_ylabel("held-out distillation loss")
    ax.set_title("002 Fig. 7 question, tiny CPU run")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "fig7.png", dpi=110)
    print(f"wrote {out / 'fig7.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
