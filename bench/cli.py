"""`vst-bench`: measure converted stylizers on the host or a phone, import results, draw the figures."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from vst.common.cli import nonneg_int, positive_int, positive_seconds, run_cli, seconds, size_arg, threads
from vst.bench.plan import default_frames
from vst.common.errors import VstError
from vst.common.fsutil import check_creatable_dir, check_not_input, prune_on_failure


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vst-bench", description=(
        "Benchmark stylizers as 000 did (FPS over a 1080p H.264 25 fps clip, decode and resize included) and as "
        "benchmark_model/MLPerf Mobile do (warmup, repeats, cooldown, raw samples, percentiles). Results are "
        "appended to OUT/results.csv (one row per cell) with raw samples in OUT/results/<cell>.json; rerunning "
        "the same command resumes an interrupted sweep."))
    p.add_argument("--device", default="host", help="host, swift-linux or kotlin-jvm (the iOS and Android harnesses' "
                   "runners on this machine; a comma list measures them turn by turn and says whether they agree), "
                   "a registry name (iphone11pro, pixel7, ...) or an adb "
                   "serial / iOS device identifier (default: host)")
    p.add_argument("--model", nargs="+", metavar="ARTIFACT", help="a zoo name (kunster-t2-04), shipped tag "
                   "(kunster.a025-s05-stage2) or file: .tflite, .onnx, .pte, .mlpackage, checkpoint, TorchScript, .pt2")
    p.add_argument("--resolutions", default="480x320,320x240",
                   help="WxH list for artifacts whose input size is free (fixed-size artifacts run at their size)")
    p.add_argument("--out", default="bench_results", help="results folder (default: bench_results)")
    p.add_argument("--video", help="H.264 clip to use instead of the generated 1920x1080 21 s 25 fps one")
    p.add_argument("--delegate", help="comma list: host LiteRT xnnpack,none,gpu; Android and iOS LiteRT xnnpack,gpu; "
                   "iOS Core ML all,cpuAndGPU,cpuOnly,cpuAndNeuralEngine")
    p.add_argument("--accelerator", choices=("cpu", "gpu"),
                   help="host: gpu runs .tflite artifacts on LiteRT's GPU accelerator (the same as --delegate gpu; "
                        "without a GPU a software one, labelled so: its speed is not a phone's)")
    p.add_argument("--threads", type=threads, help="inference threads (default: the runtime's own choice)")
    p.add_argument("--warmup-frames", type=nonneg_int, default=10)
    p.add_argument("--warmup-seconds", type=seconds, default=1.0)
    p.add_argument("--frames", help="measured frames per repeat, or 'all' for the whole clip as 000 "
                   "did (default 100: a cell takes about a minute at 50 ms a frame; see docs/bench.md for the "
                   "precision a budget buys)")
    p.add_argument("--seconds", type=positive_seconds,
                   help="measured seconds per repeat (stops at the first limit)")
    p.add_argument("--repeats", type=positive_int, default=5, help="repeats per cell (default 5: MLPerf's "
                   "replicability rule needs 5 runs within 5%%)")
    p.add_argument("--cooldown", type=seconds, default=2.0, help="idle seconds before each repeat")
    p.add_argument("--sequential", action="store_true",
                   help="host: run each cell's repeats back to back; by default the cells of a sweep take turns, "
                        "repeat r of every cell before repeat r+1, so that a busy minute falls on all of them")
    p.add_argument("--bind", action="append", default=[], metavar="NAME=VALUE",
                   help="value of a multi-input ONNX model's extra input, e.g. style_weights=3 (an index: one-hot) "
                        "or a JSON list; repeatable")
    p.add_argument("--compare", nargs="+", metavar="ARTIFACT",
                   help="time these artifacts (any host runtime) interleaved on the same frames and print each "
                        "one's speed ratio to the first with a 95%% interval; --seconds is the budget (default 30)")
    p.add_argument("--gemm-peak", action="store_true",
                   help="with --compare: also time a 1024x1024 torch matmul on the same threads in the same rounds "
                        "and give each artifact's effective GFLOP/s against it")
    p.add_argument("--size", type=size_arg,
                   help="WxH for --compare when no artifact fixes its size (default 480x320)")
    p.add_argument("--json", help="with --compare or --profile: also write the figures to this JSON file")
    p.add_argument("--devices-file", help="extra device registry JSON (also $VST_DEVICES)")
    p.add_argument("--import", dest="imports", nargs="+", metavar="RESULT_JSON",
                   help="validate results measured elsewhere and add them to --out instead of measuring")
    p.add_argument("--plots", action="store_true", help="write OUT/fps_vs_params.png and OUT/latency.png")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="measure the cells as tasks of a Ray cluster: HOST:PORT of `ray start --head`, or 'local' "
                        "for an embedded one (default: $RAY_ADDRESS, else no Ray); one cell at a time per node, "
                        "each phone's on the node it is plugged into; results land in --out here (docs/cluster.md)")
    p.add_argument("--node-resources", action="store_true",
                   help="print this machine's resources for `ray start --resources` (its bench node and each "
                        "attached phone) and exit")
    p.add_argument("--profile", metavar="ARTIFACT", help="per-op time of a .tflite on this machine (each op cut out "
                   "and timed alone through LiteRT + XNNPACK; --threads, default 2)")
    p.add_argument("--profile-runs", type=positive_int, default=10,
                   help="timed runs per op with --profile (best is kept)")
    p.add_argument("--top", type=positive_int, default=15, help="ops listed with --profile (largest first)")
    return p


def _frames(text: str) -> int | None:
    if text.strip().lower() == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        raise VstError(f"--frames takes a whole number or 'all', got {text!r}") from None
    if n < 1:
        raise VstError("--frames must be at least 1 (or 'all' for the whole clip)")
    return n


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.node_resources:
        import json
        from vst.bench.cluster import node_resources
        print(json.dumps(node_resources()))
        return 0
    if args.ray_address and not args.model:
        raise VstError("--ray-address goes with --model: it spreads a sweep's cells over a cluster")
    out = Path(args.out)
    inputs = [*(args.model or ()), *(args.compare or ()), *(args.imports or ()), args.profile, args.video,
              args.devices_file]
    check_not_input(out, inputs, "--out")
    if args.json:
        check_not_input(args.json, inputs, "--json")
        check_not_input(args.json, [out / "results.csv"], "--json")
        check_creatable_dir(Path(args.json).parent)
    if args.model or args.imports:
        check_creatable_dir(out)
    if args.profile:
        return _profile(args)
    from vst.runtimes.onnxfile import parse_bind
    bind = parse_bind(args.bind)
    if args.gemm_peak and not args.compare:
        raise VstError("--gemm-peak goes with --compare: it times the GEMM peak in the comparison's rounds")
    if args.compare:
        from vst.bench.compare import compare, format_comparison
        res = compare(args.compare, args.size,
                      args.seconds if args.seconds is not None else 30.0, args.video, args.threads, bind,
                      progress=not args.no_progress, gemm_peak=args.gemm_peak)
        print(format_comparison(res))
        if args.json:
            import json
            from vst.common.fsutil import atomic_write_text
            atomic_write_text(Path(args.json), json.dumps(res, indent=1))
            print(f"wrote {args.json}")
        return 0
    if args.imports or args.model:
        from vst.bench.store import LOCK
        # a store folder made for a sweep that failed is removed, lock and all: nothing measured, nothing kept
        with prune_on_failure(out, ignorable=(LOCK,)):
            _measure_or_import(args, out, bind)
    elif not args.plots:
        raise VstError("nothing to do: give --model ARTIFACT... to measure, --import FILE... or --plots")
    if args.plots:
        from vst.bench.plots import save_plots
        for path in save_plots(out):
            print(f"wrote {path}")
    return 0


def _measure_or_import(args, out: Path, bind: dict) -> None:
    """Add --import results to the store in --out, or measure --model artifacts into it."""
    if args.imports:
        from vst.bench.store import import_results
        rows = import_results(args.imports, out)
        print(f"imported {len(rows)} result(s) into {out / 'results.csv'}")
    elif args.model:
        from vst.bench.sweep import Protocol, parse_resolutions, run_sweep
        frames = _frames(args.frames) if args.frames else default_frames(args.video)
        proto = Protocol(args.warmup_frames, args.warmup_seconds, frames, args.seconds, args.repeats,
                         args.cooldown, args.threads)
        delegates = [d.strip() for d in args.delegate.split(",") if d.strip()] if args.delegate else None
        if args.accelerator:
            from vst.bench.devices import load_registry
            local = {n for n, e in load_registry(args.devices_file).items() if e["platform"] == "host"}
            if any(n.strip() not in local for n in args.device.split(",")):
                raise VstError(f"--accelerator is for the host; on {args.device} give --delegate (gpu, ...)")
            if delegates and delegates != [args.accelerator]:
                raise VstError("give --accelerator or --delegate, not both")
            delegates = ["gpu"] if args.accelerator == "gpu" else None
        from vst.common.cluster import address
        ray_address = address(args.ray_address)
        df = run_sweep(args.device, args.model, parse_resolutions(args.resolutions), out, proto, args.video,
                       delegates, args.devices_file, progress=not args.no_progress, bind=bind,
                       interleave=not args.sequential, ray_address=ray_address)
        cols = ["device", "artifact", "resolution", "delegate_used", "fps_e2e", "fps_inference",
                "fps_inference_ci_low", "fps_inference_ci_high", "inference_ms_median", "e2e_over_inference",
                "replicability", "drift", "load_ms", "first_inference_ms", "memory_peak_mb"]
        if ray_address:
            from vst.bench.cluster import nodes_caveat, with_nodes
            df, cols = with_nodes(out, df), [*cols, "node"]
        print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        if ray_address and nodes_caveat(df):
            print(nodes_caveat(df))
        from vst.bench.agreement import agreement, format_agreement
        names = [n.strip() for n in args.device.split(",") if n.strip()]
        if len(names) > 1:
            print(format_agreement(agreement(df, names)))


def _profile(args) -> int:
    import json
    from vst.common.fsutil import atomic_write_text
    from vst.runtimes.profile import format_table, profile
    path = Path(args.profile)
    if path.suffix not in (".tflite", ".pte") or not path.is_file():
        raise VstError(f"--profile takes a .tflite or .pte file; {path} is not one (convert with vst-convert --to "
                       "tflite or --to executorch)")
    if path.suffix == ".pte":       # ExecuTorch traces its delegate's ops itself (ETDump)
        from vst.runtimes.executorch import profile
    prof = profile(path, threads=args.threads or 2, runs=args.profile_runs)
    print(format_table(prof, args.top))
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(prof, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def entry() -> int:
    raise SystemExit(run_cli(main, resumable=True))


if __name__ == "__main__":
    entry()
