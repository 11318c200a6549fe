"""002 Fig. 7's question on this CPU: held-out loss of the averaged model against images trained per edge, for
N = 1, 2, 4 edges (vst-train --federated N). Writes fig7.json and fig7.png into --out.

    python scripts/federated_fig7.py --out fed-fig7 [--rounds 4 --steps 10 --size 64 --crops 64]
"""
import argparse
import json
from pathlib import Path

from vst.common.cli import run_cli
from vst.common.fsutil import atomic_write_text
from vst.training.federated import train_federated
from vst.training.loop import Recipe


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--clients", default="1,2,4")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--crops", type=int, default=64)
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
