"""`vst-predict`: the FPS an iPhone 11 Pro or 6s would reach with a model, from a latency model calibrated on
000's Table II (and on phone results you import), with its leave-one-out error and what lies outside the
calibration; a .tflite or .onnx is counted from its own graph, a vst architecture from its modules; `--loo`
prints that check."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from vst.common.cli import parse_size, run_cli
from vst.common.errors import VstError


def _parser() -> argparse.ArgumentParser:
    from vst.predict import device as dev
    from vst.predict.device import PHONES
    # the docstring's whole first paragraph, after the command's name
    about = " ".join(__doc__.split("\n\n")[0].split()).split(": ", 1)[1]
    p = argparse.ArgumentParser(prog="vst-predict", description=about)
    p.add_argument("model", nargs="?", metavar="MODEL_OR_ARTIFACT",
                   help="zoo name (kunster-t2-04, kunster:alpha=0.5), shipped tag (kunster.a025-s05-stage2), vst "
                        "checkpoint, TorchScript or .pt2 of a zoo layout, conversion report (*.report.json), any "
                        ".tflite or .onnx (counted from its graph), or a .pte or .mlpackage with its .report.json "
                        "beside it")
    p.add_argument("--device", help=f"phone: {', '.join(PHONES)} (with --loo: default both)")
    p.add_argument("--size", action="append", metavar="WxH",
                   help="input size, repeatable (default: the artifact's size, else 480x320 and 320x240)")
    p.add_argument("--results", metavar="DIR", help="vst-bench results folder: its rows measured on the phone "
                   "join the calibration")
    p.add_argument("--loo", action="store_true", help="print the leave-one-out check as CSV (id,device,"
                   "resolution,published_fps,predicted_fps); per-phone MAPE of both models on stderr")
    p.add_argument("--graph", choices=dev.GRAPH_KINDS, metavar="FORMAT", help="with --loo: the CSV of the graph "
                   "model of that format (tflite or onnx: artifacts' graphs) instead of the module model (vst "
                   "architectures' modules)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from vst.predict import device as dev
    args = _parser().parse_args(argv)
    if args.device is not None:
        dev.check_device(args.device)
    sizes = [parse_size(s) for s in args.size or ()]
    if args.results:
        from vst.bench.store import load_results
        results = load_results(args.results)  # read once; a bad folder is one line before any work
    else:
        results = None
    if args.loo:
        if args.model or sizes:
            raise VstError("--loo checks the calibration itself; give no MODEL and no --size with it")
        for i, phone in enumerate([args.device] if args.device else list(dev.PHONES)):
            loo = {kind: dev.leave_one_out(phone, results, kind) for kind in (dev.MODULE, *dev.GRAPH_KINDS)}
            shown = loo[args.graph or dev.MODULE]
            sys.stdout.write(shown.to_csv(index=False, header=i == 0, lineterminator="\n"))
            graphs = "; ".join(f"{dev.MODEL_NAMES[k]} {dev.mape(loo[k]):.2f}%" for k in dev.GRAPH_KINDS)
            print(f"{phone}: leave-one-out MAPE {dev.mape(loo[dev.MODULE]):.2f}% over {len(shown)} Table II "
                  f"points (module model); {graphs}", file=sys.stderr)
        return 0
    if args.graph:
        raise VstError("--graph selects the model --loo checks; a prediction takes the model its input needs "
                       "(an artifact's graph, a vst architecture's modules)")
    if not args.model:
        raise VstError("give MODEL_OR_ARTIFACT and --device (or --loo for the calibration check)")
    if args.device is None:
        raise VstError(f"--device is required: one of {', '.join(dev.PHONES)}")
    predictions = dev.predict(args.model, args.device, sizes or None, results)
    if results is not None:
        kind = predictions[0].model
        points, skipped = dev.measured_points(results, args.device, kind)
        why = "not a zoo configuration" if kind == dev.MODULE else \
            "no readable .tflite/.onnx, nor a float row of a Table II configuration"
        print(f"calibration: {len(points)} measured {args.device} row(s) from {args.results} join Table II"
              + (f"; skipped ({why}): {', '.join(skipped)}" if skipped else ""), file=sys.stderr)
    for note in dict.fromkeys(p.note for p in predictions if p.note):
        print(f"note: {note}", file=sys.stderr)
    print(f"calibration: {predictions[0].calibration}")
    for p in predictions:
        print(p.line())
        for note in p.extrapolation:
            print(f"  extrapolation: {note}")
    return 0


def entry() -> int:
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(entry())
