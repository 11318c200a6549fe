"""`vst-zoo`: list the zoo's named configurations with parameters, MACs and size; describe a checkpoint."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from vst.common.cli import run_cli
from vst.models.checkpoint import load_model
from vst.models.profile import count_params, fp32_size_mb, zoo_table

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vst-zoo", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_list = sub.add_parser("list", help="every named configuration with params, MACs and fp32 size")
    p_list.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p_info = sub.add_parser("info", help="architecture, config and size of a checkpoint")
    p_info.add_argument("checkpoint")
    p_info.add_argument("--trust-pickle", action="store_true",
                        help="allow a full unpickle of a torch file (runs its code: only for files you trust)")
    args = parser.parse_args(argv)

    if args.cmd == "list":
        table = zoo_table()
        if args.format == "csv":
            sys.stdout.write(table.to_csv(index=False))
        elif args.format == "json":
            sys.stdout.write(table.to_json(orient="records", indent=1) + "\n")
        else:
            print(table.to_string(index=False))
    else:
        model = load_model(args.checkpoint, allow_pickle=args.trust_pickle)
        info = {**model.describe(), "params": count_params(model), "size_mb": round(fp32_size_mb(model), 3),
                "metadata": getattr(model, "checkpoint_extra", {})}
        print(json.dumps(info, indent=1))
    return 0


def entry() -> int:
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(entry())
