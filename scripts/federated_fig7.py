"""002 Fig. 7's question on this CPU: held-out loss of the averaged model against images trained per edge, for
N = 1, 2, 4 edges (vst-train --federated N). Writes fig7.json and fig7.png into --out and prints the held-out
loss of every N at equal images per edge.

    python scripts/federated_fig7.py --out fed-fig7 [--rounds 40 --steps 15 --size 64 --crops 512 --eval-crops 64]

Resumable: each N's run checkpoints after every round and a finished N is skipped, so a rerun of the same
command continues where it stopped (and --clients 1 / 2 / 4 may run in separate invocations). The study is
vst.training.fedstudy.fig7_study; this script only spells its settings as flags.
"""
import argparse
from pathlib import Path

from vst.common.cli import positive_int, run_cli
from vst.training import Recipe
from vst.training.fedstudy import fig7_study


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--clients", type=lambda s: [positive_int(c) for c in s.split(",")], default=[1, 2, 4],
                   help="edge counts N, comma-separated")
    p.add_argument("--rounds", type=positive_int, default=40)
    p.add_argument("--steps", type=positive_int, default=15)
    p.add_argument("--batch", type=positive_int, default=4)
    p.add_argument("--size", type=positive_int, default=64)
    p.add_argument("--crops", type=positive_int, default=512)
    p.add_argument("--eval-crops", type=positive_int, default=64, help="held-out crops the loss is measured on")
    p.add_argument("--model", default="kunster-t2-15")
    p.add_argument("--teacher", default="multistyle26:3")
    args = p.parse_args(argv)
    recipe = Recipe(model=args.model, teacher=args.teacher, size=args.size, crops=args.crops, batch=args.batch,
                    steps=args.steps, seed=0)
    study = fig7_study(recipe, args.clients, args.rounds, args.out, eval_crops=args.eval_crops, settings=vars(args))
    print(study["table"])
    print("\n".join(study["claim"]))
    print(f"wrote {Path(args.out) / 'fig7.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
