"""Time a vst-run job's conversion phase (vst.pipeline.job.convert_job) in-process or on an embedded Ray with N
workers, into a fresh folder: the figures of docs/cluster.md.

    .venv/bin/python scripts/time_conversions.py --job table2 --workers 0 --out /tmp/t2-w0   # no Ray
    .venv/bin/python scripts/time_conversions.py --job table2 --workers 2 --out /tmp/t2-w2

Prints one JSON line: Ray's start-up, the phase's wall time, the artifacts, the per-artifact conversion times
their reports record, and the load average around the run (the machine is shared: say so with the figure)."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--job", default="table2")
    p.add_argument("--workers", type=int, default=0, help="0: in-process, as vst-run without --ray-address")
    p.add_argument("--out", required=True, help="a folder that does not exist yet (nothing is resumed)")
    args = p.parse_args()
    from vst.common.records import read_conversion_report
    from vst.pipeline.job import convert_job, load_job
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists; give a new folder, so that every artifact is converted")
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    if args.workers:
        from vst.bench.cluster import connect
        connect("local", args.workers)
    t1 = time.perf_counter()
    arts = convert_job(load_job(args.job), out / "artifacts", [], progress=False,
                       ray_address="local" if args.workers else None)
    t2 = time.perf_counter()
    per = [read_conversion_report(a)["timing"]["conversion_s"] for a in arts]
    print(json.dumps({"job": args.job, "workers": args.workers, "cpus": os.cpu_count(),
                      "ray_start_s": round(t1 - t0, 1), "convert_s": round(t2 - t1, 1), "artifacts": len(arts),
                      "per_artifact_s": {"median": round(statistics.median(per), 2), "mean": round(statistics.mean(per), 2),
                                         "max": round(max(per), 2)},
                      "load_average_start": [round(x, 2) for x in load0],
                      "load_average_end": [round(x, 2) for x in os.getloadavg()]}))


if __name__ == "__main__":
    main()
